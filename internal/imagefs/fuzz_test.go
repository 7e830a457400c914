package imagefs_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path"
	"strings"
	"testing"

	"github.com/cssc-project/cssc/internal/imagefs"
	"github.com/cssc-project/cssc/internal/imagefs/imagetest"
)

// checker is a visitor that fails the fuzz run on an entry that breaks
// the reader's promises.
type checker struct{ t *testing.T }

func (checker) StartLayer(imagefs.LayerInfo) error { return nil }

func (c checker) Entry(e imagefs.Entry, r io.Reader) error {
	if !strings.HasPrefix(e.Path, "/") || path.Clean(e.Path) != e.Path || strings.Contains(e.Path, "/../") {
		c.t.Fatalf("entry path %q is not absolute and clean", e.Path)
	}
	if e.Kind == imagefs.Hardlink && (!strings.HasPrefix(e.Target, "/") || path.Clean(e.Target) != e.Target) {
		c.t.Fatalf("hard link target %q is not absolute and clean", e.Target)
	}
	_, err := io.Copy(io.Discard, r)
	return err
}

// FuzzWalkLayer feeds arbitrary layer blobs (gzip, zstd or plain tar) to
// the reader: it must never panic, never report a path outside the root,
// and stop within its limits.
func FuzzWalkLayer(f *testing.F) {
	f.Add(imagetest.Tar(f, imagetest.Entry{Name: "etc/os-release", Body: "ID=debian\n"}))
	f.Add(imagetest.Gzip(f, imagetest.Tar(f, imagetest.Entry{Name: "a/b/.wh.c"}, imagetest.Entry{Name: "a/.wh..wh..opq"})))
	f.Add(imagetest.Tar(f, imagetest.Entry{Name: "x", Type: '1', Linkname: "../y"}))
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0})
	lim := imagefs.Limits{MaxBytes: 8 << 20, MaxFiles: 1000, MaxRatio: 50, RatioFloor: 1 << 20}
	f.Fuzz(func(t *testing.T, blob []byte) {
		err := imagefs.WalkLayer(context.Background(), imagefs.LayerInfo{}, bytes.NewReader(blob), lim, checker{t})
		if err != nil && errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
	})
}
