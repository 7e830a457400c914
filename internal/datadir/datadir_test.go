package datadir_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/cssc-project/cssc/internal/datadir"
)

func TestSecondOpenFails(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	tests := []struct {
		name, addr, wantOwner string
	}{
		{"serving", "127.0.0.1:5000", fmt.Sprintf("pid %d serving 127.0.0.1:5000", os.Getpid())},
		{"not serving", "", fmt.Sprintf("pid %d", os.Getpid())},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := datadir.Open(ctx, dir, tc.addr)
			if err != nil {
				t.Fatal(err)
			}
			if d.Meta == nil || d.Blobs == nil || d.Path != dir {
				t.Fatalf("opened dir %+v", d)
			}
			for _, f := range []string{"lock", "meta.db", "blobs", "uploads"} {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Fatalf("%s: %v", f, err)
				}
			}

			_, err = datadir.Open(ctx, dir, "127.0.0.1:6000")
			var inUse *datadir.InUseError
			if !errors.As(err, &inUse) {
				t.Fatalf("second open: %v, want *InUseError", err)
			}
			if !errors.Is(err, datadir.ErrInUse) {
				t.Fatal("InUseError does not match ErrInUse")
			}
			if inUse.Dir != dir || inUse.Addr != tc.addr || inUse.Owner != tc.wantOwner {
				t.Fatalf("InUseError %+v, want addr %q owner %q", inUse, tc.addr, tc.wantOwner)
			}
			if inUse.Error() == "" {
				t.Fatal("empty message")
			}

			owner, err := datadir.Owner(dir)
			if err != nil || owner == nil {
				t.Fatalf("Owner while held: %+v, %v", owner, err)
			}
			if owner.Addr != tc.addr || owner.Owner != tc.wantOwner {
				t.Fatalf("Owner = %+v", owner)
			}
			// A failed second open must not have taken or broken the lock.
			if _, err := datadir.Open(ctx, dir, ""); !errors.As(err, &inUse) {
				t.Fatalf("third open: %v", err)
			}

			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
			if owner, err := datadir.Owner(dir); err != nil || owner != nil {
				t.Fatalf("Owner after close: %+v, %v", owner, err)
			}
			// After Close (and an Owner probe) the directory opens again, with its data.
			d2, err := datadir.Open(ctx, dir, tc.addr)
			if err != nil {
				t.Fatalf("open after close: %v", err)
			}
			if err := d2.Meta.Ping(ctx); err != nil {
				t.Fatal(err)
			}
			if err := d2.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestOwnerOfNonDataDir(t *testing.T) {
	if owner, err := datadir.Owner(t.TempDir()); err == nil {
		t.Fatalf("Owner of an empty directory: %+v, want error", owner)
	}
}

func TestDataSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d, err := datadir.Open(ctx, dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Meta.LinkBlob(ctx, "r", "sha256:0000000000000000000000000000000000000000000000000000000000000000", 1); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d, err = datadir.Open(ctx, dir, "")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = d.Close() }()
	if n, err := d.Meta.LinkCount(ctx, "sha256:0000000000000000000000000000000000000000000000000000000000000000"); err != nil || n != 1 {
		t.Fatalf("link count after reopen = %d, %v", n, err)
	}
}
