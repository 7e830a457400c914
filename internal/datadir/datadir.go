// Package datadir opens cssc's data directory: the metadata database, the
// blob store, and the lock that lets one writer own them.
//
//	<dir>/lock       held (flock) by the process that writes; says its pid and address
//	<dir>/meta.db    metadata (SQLite)
//	<dir>/blobs/     blob bytes
//	<dir>/uploads/   uploads in progress
//	<dir>/keys/      token-signing and audit keys (0700)
package datadir

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/cssc-project/cssc/internal/storage"
	"github.com/cssc-project/cssc/internal/store"
)

// ErrInUse means another process owns the data directory.
var ErrInUse = errors.New("data directory is in use")

// InUseError says who holds the directory.
type InUseError struct {
	Dir   string
	Owner string // "pid 123 serving 127.0.0.1:5000", as the owner wrote it
	Addr  string // the owner's listen address, when it serves
}

func (e *InUseError) Error() string {
	return fmt.Sprintf("data directory %s is in use by another cssc (%s); stop it first, or talk to it with --server", e.Dir, e.Owner)
}

func (e *InUseError) Unwrap() error { return ErrInUse }

// Dir is an opened data directory.
type Dir struct {
	Path  string
	Meta  *store.Store
	Blobs *storage.FS
	lock  *os.File
}

// Open opens dir for writing, creating it if needed, and locks it. addr is
// recorded in the lock so other commands (e.g. `cssc gc`) can find the
// server. A second writer gets an *InUseError.
func Open(ctx context.Context, dir, addr string) (*Dir, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	lock, err := acquire(dir, addr)
	if err != nil {
		return nil, err
	}
	d := &Dir{Path: dir, lock: lock}
	if d.Blobs, err = storage.NewFS(dir); err != nil {
		_ = d.Close()
		return nil, err
	}
	if d.Meta, err = store.OpenSQLite(ctx, filepath.Join(dir, "meta.db"), store.Options{}); err != nil {
		_ = d.Close()
		return nil, err
	}
	return d, nil
}

// KeyDir is where the data directory's keys live (token signing, audit).
func (d *Dir) KeyDir() string { return KeyDir(d.Path) }

// KeyDir is the key directory of data directory dir.
func KeyDir(dir string) string { return filepath.Join(dir, "keys") }

// Close releases the stores and the lock.
func (d *Dir) Close() error {
	var errs []error
	if d.Meta != nil {
		errs = append(errs, d.Meta.Close())
	}
	if d.lock != nil {
		errs = append(errs, d.lock.Close()) // closing drops the flock
	}
	return errors.Join(errs...)
}

func acquire(dir, addr string) (*os.File, error) {
	p := filepath.Join(dir, "lock")
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", p, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		owner, _ := os.ReadFile(p)
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			o := strings.TrimSpace(string(owner))
			e := &InUseError{Dir: dir, Owner: o}
			if _, a, ok := strings.Cut(o, " serving "); ok {
				e.Addr = a
			}
			return nil, e
		}
		return nil, fmt.Errorf("lock %s: %w", p, err)
	}
	owner := fmt.Sprintf("pid %d", os.Getpid())
	if addr != "" {
		owner += " serving " + addr
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(owner+"\n"), 0)
	}
	return f, nil
}

// Owner reports who holds dir's lock, or an empty *InUseError-free result
// (nil) when nobody does. It takes and releases the lock to find out.
func Owner(dir string) (*InUseError, error) {
	if _, err := os.Stat(filepath.Join(dir, "meta.db")); err != nil {
		return nil, fmt.Errorf("%s is not a cssc data directory: %w", dir, err)
	}
	f, err := acquire(dir, "")
	var inUse *InUseError
	if errors.As(err, &inUse) {
		return inUse, nil
	}
	if err != nil {
		return nil, err
	}
	return nil, f.Close()
}
