package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
)

// FS stores blobs in a directory tree:
//
//	blobs/<algorithm>/<first two hex>/<hex>   complete, verified blobs
//	uploads/<id>                              uploads in progress
//
// Uploads and blobs are on the same file system, so promotion is a rename:
// a reader either sees the whole blob or none.
type FS struct {
	root string
	bufs sync.Pool // copy buffers for uploads
}

// copyBufferSize is large enough that a fast client's upload costs few
// system calls.
const copyBufferSize = 1 << 20

// writebackEvery starts disk writes of an upload in steps this large.
const writebackEvery = 16 << 20

var uploadIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// NewFS opens (creating if needed) a filesystem blob store at root.
func NewFS(root string) (*FS, error) {
	for _, d := range []string{"blobs", "uploads"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o750); err != nil {
			return nil, fmt.Errorf("create blob store %s: %w", root, err)
		}
	}
	s := &FS{root: root}
	s.bufs.New = func() any { b := make([]byte, copyBufferSize); return &b }
	return s, nil
}

func (s *FS) blobPath(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", fmt.Errorf("blob path for %q: %w", d, err)
	}
	enc := d.Encoded()
	return filepath.Join(s.root, "blobs", string(d.Algorithm()), enc[:2], enc), nil
}

func (s *FS) uploadPath(id string) (string, error) {
	if !uploadIDPattern.MatchString(id) {
		return "", fmt.Errorf("upload id %q: %w", id, ErrUploadUnknown)
	}
	return filepath.Join(s.root, "uploads", id), nil
}

// Stat implements Store.
func (s *FS) Stat(_ context.Context, d digest.Digest) (Info, error) {
	p, err := s.blobPath(d)
	if err != nil {
		return Info{}, err
	}
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return Info{}, fmt.Errorf("stat %s: %w", d, ErrNotFound)
	}
	if err != nil {
		return Info{}, fmt.Errorf("stat %s: %w", d, err)
	}
	return Info{Digest: d, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// Open implements Store.
func (s *FS) Open(_ context.Context, d digest.Digest) (Blob, error) {
	p, err := s.blobPath(d)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("open %s: %w", d, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", d, err)
	}
	return f, nil
}

// promote renames a complete, synced file to its blob path. When the blob
// is there already (same digest, so same bytes) the existing one is kept
// and its time refreshed, which protects it from a concurrent collection.
func (s *FS) promote(from, final string) error {
	if err := os.MkdirAll(filepath.Dir(final), 0o750); err != nil {
		return err
	}
	now := time.Now()
	if _, err := os.Stat(final); err == nil {
		_ = os.Remove(from)
		return os.Chtimes(final, now, now)
	}
	if err := os.Rename(from, final); err != nil {
		return err
	}
	return syncDir(filepath.Dir(final))
}

// Delete implements Store. Deleting a missing blob is not an error.
func (s *FS) Delete(_ context.Context, d digest.Digest) error {
	p, err := s.blobPath(d)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", d, err)
	}
	return nil
}

// Walk implements Store.
func (s *FS) Walk(ctx context.Context, fn func(Info) error) error {
	base := filepath.Join(s.root, "blobs")
	return filepath.WalkDir(base, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if de.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(base, p)
		parts := strings.Split(rel, string(filepath.Separator))
		if len(parts) != 3 {
			return nil
		}
		d := digest.NewDigestFromEncoded(digest.Algorithm(parts[0]), parts[2])
		if d.Validate() != nil {
			return nil
		}
		fi, err := de.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		return fn(Info{Digest: d, Size: fi.Size(), ModTime: fi.ModTime()})
	})
}

// AppendUpload implements Store.
func (s *FS) AppendUpload(ctx context.Context, id string, offset int64, r io.Reader) (int64, error) {
	p, err := s.uploadPath(id)
	if err != nil {
		return 0, err
	}
	flags := os.O_WRONLY
	if offset == 0 {
		flags |= os.O_CREATE
	}
	f, err := os.OpenFile(p, flags, 0o640)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("append to upload %s: %w", id, ErrUploadCorrupt)
	}
	if err != nil {
		return 0, fmt.Errorf("append to upload %s: %w", id, err)
	}
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("append to upload %s: %w", id, err)
	}
	if fi.Size() < offset {
		return 0, fmt.Errorf("append to upload %s at %d (have %d): %w", id, offset, fi.Size(), ErrUploadCorrupt)
	}
	if fi.Size() > offset {
		if err := f.Truncate(offset); err != nil {
			return 0, fmt.Errorf("append to upload %s: %w", id, err)
		}
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return 0, fmt.Errorf("append to upload %s: %w", id, err)
	}
	buf := s.bufs.Get().(*[]byte)
	defer s.bufs.Put(buf)
	w := &writebackWriter{f: f, start: offset, synced: offset}
	n, err := io.CopyBuffer(w, contextReader{ctx, r}, *buf)
	if err != nil {
		return n, fmt.Errorf("append to upload %s: %w", id, err)
	}
	return n, nil
}

// writebackWriter writes to an upload file and starts the disk writes of
// every full writebackEvery bytes behind it.
type writebackWriter struct {
	f      *os.File
	start  int64 // offset of the first byte of this append
	n      int64 // bytes written by this append
	synced int64 // file offset up to which writeback was started
}

func (w *writebackWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.n += int64(n)
	if end := w.start + w.n; end-w.synced >= writebackEvery {
		startWriteback(w.f, w.synced, end-w.synced)
		w.synced = end
	}
	return n, err
}

// OpenUpload implements Store.
func (s *FS) OpenUpload(_ context.Context, id string, size int64) (io.ReadCloser, error) {
	p, err := s.uploadPath(id)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		if size == 0 {
			return io.NopCloser(strings.NewReader("")), nil
		}
		return nil, fmt.Errorf("open upload %s: %w", id, ErrUploadCorrupt)
	}
	if err != nil {
		return nil, fmt.Errorf("open upload %s: %w", id, err)
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(f, size), f}, nil
}

// CommitUpload implements Store.
func (s *FS) CommitUpload(_ context.Context, id string, size int64, d digest.Digest) (Info, error) {
	p, err := s.uploadPath(id)
	if err != nil {
		return Info{}, err
	}
	final, err := s.blobPath(d)
	if err != nil {
		return Info{}, err
	}
	if _, err := os.Stat(final); err == nil {
		// Same digest, same bytes: keep the stored copy, skip the sync.
		if err := s.promote(p, final); err != nil {
			return Info{}, fmt.Errorf("commit upload %s as %s: %w", id, d, err)
		}
		return Info{Digest: d, Size: size, ModTime: time.Now()}, nil
	}
	flags := os.O_WRONLY
	if size == 0 {
		flags |= os.O_CREATE // an empty upload may have no file
	}
	f, err := os.OpenFile(p, flags, 0o640)
	if errors.Is(err, fs.ErrNotExist) {
		return Info{}, fmt.Errorf("commit upload %s: %w", id, ErrUploadCorrupt)
	}
	if err != nil {
		return Info{}, fmt.Errorf("commit upload %s: %w", id, err)
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return Info{}, fmt.Errorf("commit upload %s: %w", id, err)
	}
	switch {
	case fi.Size() < size:
		_ = f.Close()
		return Info{}, fmt.Errorf("commit upload %s: %w", id, ErrUploadCorrupt)
	case fi.Size() > size:
		if err := f.Truncate(size); err != nil {
			_ = f.Close()
			return Info{}, fmt.Errorf("commit upload %s: %w", id, err)
		}
	}
	if err := syncClose(f); err != nil {
		return Info{}, fmt.Errorf("commit upload %s: %w", id, err)
	}
	if err := s.promote(p, final); err != nil {
		return Info{}, fmt.Errorf("commit upload %s as %s: %w", id, d, err)
	}
	return Info{Digest: d, Size: size, ModTime: time.Now()}, nil
}

// RemoveUpload implements Store.
func (s *FS) RemoveUpload(_ context.Context, id string) error {
	p, err := s.uploadPath(id)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove upload %s: %w", id, err)
	}
	return nil
}

// WalkUploads implements Store.
func (s *FS) WalkUploads(ctx context.Context, fn func(UploadInfo) error) error {
	entries, err := os.ReadDir(filepath.Join(s.root, "uploads"))
	if err != nil {
		return fmt.Errorf("list uploads: %w", err)
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		fi, err := e.Info()
		if err != nil || fi.IsDir() {
			continue
		}
		if err := fn(UploadInfo{ID: e.Name(), Size: fi.Size(), ModTime: fi.ModTime()}); err != nil {
			return err
		}
	}
	return nil
}

// NewUploadID returns a random upload identifier.
func NewUploadID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func syncClose(f *os.File) error {
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("sync %s: %w", f.Name(), err)
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer func() { _ = d.Close() }()
	return d.Sync()
}

// contextReader stops a long copy when the request is cancelled.
type contextReader struct {
	ctx context.Context
	r   io.Reader
}

func (c contextReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
