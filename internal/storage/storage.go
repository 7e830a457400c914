// Package storage keeps blob bytes, addressed by digest.
//
// It knows nothing of repositories, manifests or tags: those live in the
// metadata store. A blob becomes visible only once its bytes are complete,
// synced and verified; an upload in progress is a separate object that is
// promoted to a blob by Commit.
package storage

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/opencontainers/go-digest"
)

// Errors callers test with errors.Is.
var (
	ErrNotFound      = errors.New("blob not found")
	ErrUploadUnknown = errors.New("upload not found")
	// ErrUploadCorrupt means the bytes of an upload are shorter than the
	// recorded offset (storage lost data, e.g. after a power failure): the
	// client must restart the upload.
	ErrUploadCorrupt = errors.New("upload data shorter than recorded offset")
)

// Info describes a stored blob.
type Info struct {
	Digest  digest.Digest
	Size    int64
	ModTime time.Time
}

// Blob is an open, seekable blob for serving (ranges included).
type Blob interface {
	io.ReadSeekCloser
}

// UploadInfo describes an upload's bytes in storage.
type UploadInfo struct {
	ID      string
	Size    int64
	ModTime time.Time
}

// Store is what the registry needs from a blob backend.
type Store interface {
	// Stat returns ErrNotFound when the blob does not exist.
	Stat(ctx context.Context, d digest.Digest) (Info, error)
	Open(ctx context.Context, d digest.Digest) (Blob, error)
	Delete(ctx context.Context, d digest.Digest) error
	// Walk calls fn for every complete blob.
	Walk(ctx context.Context, fn func(Info) error) error

	// AppendUpload writes r at offset of upload id, creating it when offset
	// is 0. Bytes beyond offset left by an earlier failed write are dropped
	// first. It returns how many bytes were written, also on error, so a
	// caller can keep the progress of an interrupted stream.
	AppendUpload(ctx context.Context, id string, offset int64, r io.Reader) (int64, error)
	// OpenUpload reads the first size bytes of an upload (to hash them).
	OpenUpload(ctx context.Context, id string, size int64) (io.ReadCloser, error)
	// CommitUpload makes the first size bytes of upload id the blob d. The
	// caller has verified the digest. If the blob exists already the upload
	// is dropped and the blob's time refreshed.
	CommitUpload(ctx context.Context, id string, size int64, d digest.Digest) (Info, error)
	RemoveUpload(ctx context.Context, id string) error
	WalkUploads(ctx context.Context, fn func(UploadInfo) error) error
}
