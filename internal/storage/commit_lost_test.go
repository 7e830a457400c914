package storage_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/cssc-project/cssc/internal/storage"
)

// Committing an upload whose file is gone is ErrUploadCorrupt (the client
// must restart) and leaves nothing behind; an empty upload needs no file.
func TestCommitLostUpload(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	fs, err := storage.NewFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		size    int64
		d       digest.Digest
		wantErr error
	}{
		{"lost bytes", 5, digest.FromString("hello"), storage.ErrUploadCorrupt},
		{"empty upload without file", 0, digest.FromBytes(nil), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := storage.NewUploadID()
			_, err := fs.CommitUpload(ctx, id, tc.size, tc.d)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("commit: %v, want %v", err, tc.wantErr)
			}
			if _, err := os.Stat(filepath.Join(dir, "uploads", id)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("upload file left behind: %v", err)
			}
			_, err = fs.Stat(ctx, tc.d)
			if tc.wantErr != nil && !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("blob after failed commit: %v", err)
			}
			if tc.wantErr == nil && err != nil {
				t.Fatalf("empty blob: %v", err)
			}
		})
	}
}
