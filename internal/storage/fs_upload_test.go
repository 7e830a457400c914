package storage_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/cssc-project/cssc/internal/storage"
)

func fsUnderTest(t *testing.T) (*storage.FS, string) {
	t.Helper()
	root := t.TempDir()
	s, err := storage.NewFS(root)
	if err != nil {
		t.Fatalf("NewFS: %v", err)
	}
	return s, root
}

func fsAppend(t *testing.T, s *storage.FS, id string, off int64, data string) {
	t.Helper()
	n, err := s.AppendUpload(context.Background(), id, off, strings.NewReader(data))
	if err != nil {
		t.Fatalf("AppendUpload(%s, %d, %q): %v", id, off, data, err)
	}
	if n != int64(len(data)) {
		t.Fatalf("AppendUpload(%s, %d, %q) wrote %d bytes", id, off, data, n)
	}
}

func fsRead(t *testing.T, s *storage.FS, d digest.Digest) string {
	t.Helper()
	b, err := s.Open(context.Background(), d)
	if err != nil {
		t.Fatalf("Open(%s): %v", d, err)
	}
	defer func() { _ = b.Close() }()
	data, err := io.ReadAll(b)
	if err != nil {
		t.Fatalf("read %s: %v", d, err)
	}
	return string(data)
}

// files lists the regular files under dir, relative to it.
func fsFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !de.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", dir, err)
	}
	sort.Strings(out)
	return out
}

func TestFSUploadRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		chunks []string // appended in order, each at the running offset
		commit int64    // size to commit; -1: all bytes
		want   string
	}{
		{"one chunk", []string{"hello world"}, -1, "hello world"},
		{"several chunks", []string{"hel", "lo ", "wor", "ld"}, -1, "hello world"},
		{"empty chunk between", []string{"abc", "", "def"}, -1, "abcdef"},
		{"empty blob, no bytes ever written", nil, 0, ""},
		{"commit drops bytes beyond size", []string{"abcdef", "ghij"}, 6, "abcdef"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, root := fsUnderTest(t)
			ctx := context.Background()
			id := storage.NewUploadID()
			var off int64
			for _, c := range tc.chunks {
				fsAppend(t, s, id, off, c)
				off += int64(len(c))
			}
			size := tc.commit
			if size < 0 {
				size = off
			}
			d := digest.FromString(tc.want)
			info, err := s.CommitUpload(ctx, id, size, d)
			if err != nil {
				t.Fatalf("CommitUpload: %v", err)
			}
			if info.Digest != d || info.Size != int64(len(tc.want)) {
				t.Errorf("CommitUpload info = %+v, want digest %s size %d", info, d, len(tc.want))
			}
			if got := fsRead(t, s, d); got != tc.want {
				t.Errorf("blob = %q, want %q", got, tc.want)
			}
			st, err := s.Stat(ctx, d)
			if err != nil || st.Size != int64(len(tc.want)) {
				t.Errorf("Stat = %+v, %v", st, err)
			}
			if left := fsFiles(t, filepath.Join(root, "uploads")); len(left) != 0 {
				t.Errorf("uploads left after commit: %v", left)
			}
			enc := d.Encoded()
			if _, err := os.Stat(filepath.Join(root, "blobs", "sha256", enc[:2], enc)); err != nil {
				t.Errorf("blob not at its documented path: %v", err)
			}
		})
	}
}

func TestFSAppendTruncatesBytesBeyondOffset(t *testing.T) {
	s, _ := fsUnderTest(t)
	ctx := context.Background()
	id := storage.NewUploadID()
	// A first write stored 8 bytes, but only 4 were recorded (say the
	// metadata update failed): the next chunk goes at 4 and replaces the rest.
	fsAppend(t, s, id, 0, "abcdefgh")
	fsAppend(t, s, id, 4, "XY")

	rc, err := s.OpenUpload(ctx, id, 100)
	if err != nil {
		t.Fatalf("OpenUpload: %v", err)
	}
	got, _ := io.ReadAll(rc)
	_ = rc.Close()
	if string(got) != "abcdXY" {
		t.Fatalf("upload bytes = %q, want %q (bytes beyond the offset must be dropped)", got, "abcdXY")
	}

	// Restarting at 0 drops everything.
	fsAppend(t, s, id, 0, "z")
	d := digest.FromString("z")
	if _, err := s.CommitUpload(ctx, id, 1, d); err != nil {
		t.Fatalf("CommitUpload: %v", err)
	}
	if got := fsRead(t, s, d); got != "z" {
		t.Fatalf("blob = %q, want %q", got, "z")
	}
}

func TestFSUploadCorruptWhenDataShorterThanOffset(t *testing.T) {
	tests := []struct {
		name string
		run  func(s *storage.FS, id string) error
	}{
		{"append past the end", func(s *storage.FS, id string) error {
			_, err := s.AppendUpload(context.Background(), id, 10, strings.NewReader("x"))
			return err
		}},
		{"commit more than stored", func(s *storage.FS, id string) error {
			_, err := s.CommitUpload(context.Background(), id, 4, digest.FromString("abcd"))
			return err
		}},
		{"open a vanished upload", func(s *storage.FS, _ string) error {
			_, err := s.OpenUpload(context.Background(), storage.NewUploadID(), 3)
			return err
		}},
		{"append to a vanished upload", func(s *storage.FS, _ string) error {
			_, err := s.AppendUpload(context.Background(), storage.NewUploadID(), 3, strings.NewReader("x"))
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, root := fsUnderTest(t)
			id := storage.NewUploadID()
			fsAppend(t, s, id, 0, "abc")
			err := tc.run(s, id)
			if !errors.Is(err, storage.ErrUploadCorrupt) {
				t.Fatalf("err = %v, want ErrUploadCorrupt", err)
			}
			if blobs := fsFiles(t, filepath.Join(root, "blobs")); len(blobs) != 0 {
				t.Errorf("a failed upload made blobs: %v", blobs)
			}
		})
	}
}

func TestFSCommitOfPresentBlobKeepsOneCopyAndRefreshesTime(t *testing.T) {
	s, root := fsUnderTest(t)
	ctx := context.Background()
	d := digest.FromString("same bytes")
	first := storage.NewUploadID()
	fsAppend(t, s, first, 0, "same bytes")
	if _, err := s.CommitUpload(ctx, first, 10, d); err != nil {
		t.Fatal(err)
	}
	enc := d.Encoded()
	p := filepath.Join(root, "blobs", "sha256", enc[:2], enc)
	old := time.Now().Add(-48 * time.Hour)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}

	second := storage.NewUploadID()
	fsAppend(t, s, second, 0, "same bytes")
	if _, err := s.CommitUpload(ctx, second, 10, d); err != nil {
		t.Fatalf("second commit: %v", err)
	}
	st, err := s.Stat(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if !st.ModTime.After(old.Add(24 * time.Hour)) {
		t.Errorf("ModTime = %v, want it refreshed (was %v)", st.ModTime, old)
	}
	if got := fsFiles(t, filepath.Join(root, "blobs")); len(got) != 1 {
		t.Errorf("blob files = %v, want exactly one", got)
	}
	if got := fsFiles(t, filepath.Join(root, "uploads")); len(got) != 0 {
		t.Errorf("upload files left = %v", got)
	}
	if got := fsRead(t, s, d); got != "same bytes" {
		t.Errorf("blob = %q", got)
	}
}

func TestFSWalkListsOnlyCompleteBlobs(t *testing.T) {
	s, root := fsUnderTest(t)
	ctx := context.Background()
	var want []string
	for _, data := range []string{"one", "two", "three"} {
		id := storage.NewUploadID()
		fsAppend(t, s, id, 0, data)
		d := digest.FromString(data)
		if _, err := s.CommitUpload(ctx, id, int64(len(data)), d); err != nil {
			t.Fatal(err)
		}
		want = append(want, d.String())
	}
	// An upload in progress, and junk that is no blob.
	fsAppend(t, s, storage.NewUploadID(), 0, "in progress")
	junk := map[string]string{
		"blobs/sha256/ab/not-a-digest":                  "x",
		"blobs/sha256/stray":                            "x",
		"blobs/sha256/ab/cd/" + strings.Repeat("a", 64): "x",
		"blobs/md5/ab/" + strings.Repeat("a", 32):       "x",
	}
	for rel, data := range junk {
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o640); err != nil {
			t.Fatal(err)
		}
	}

	var got []string
	err := s.Walk(ctx, func(i storage.Info) error {
		got = append(got, i.Digest.String())
		if i.Size <= 0 {
			t.Errorf("%s: size %d", i.Digest, i.Size)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Walk: %v", err)
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("Walk = %v, want %v", got, want)
	}

	// An error from fn stops the walk and is returned.
	stop := errors.New("stop")
	if err := s.Walk(ctx, func(storage.Info) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("Walk returned %v, want the callback's error", err)
	}
}

func TestFSWalkUploads(t *testing.T) {
	s, _ := fsUnderTest(t)
	ids := map[string]int64{storage.NewUploadID(): 3, storage.NewUploadID(): 0}
	for id, n := range ids {
		fsAppend(t, s, id, 0, strings.Repeat("x", int(n)))
	}
	got := map[string]int64{}
	if err := s.WalkUploads(context.Background(), func(u storage.UploadInfo) error {
		got[u.ID] = u.Size
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(ids) {
		t.Fatalf("WalkUploads = %v, want %v", got, ids)
	}
	for id, n := range ids {
		if got[id] != n {
			t.Errorf("upload %s: size %d, want %d", id, got[id], n)
		}
	}
}

func TestFSInvalidUploadIDsAreRejected(t *testing.T) {
	ids := []string{"", "../x", "..", ".", "a/b", "a\\b", "x\x00y", "../../blobs/sha256", strings.Repeat("a", 129), "ünïcode"}
	ctx := context.Background()
	for _, id := range ids {
		t.Run(id, func(t *testing.T) {
			s, root := fsUnderTest(t)
			// A file the traversal would reach.
			victim := filepath.Join(root, "x")
			if err := os.WriteFile(victim, []byte("keep"), 0o640); err != nil {
				t.Fatal(err)
			}
			ops := map[string]error{}
			_, ops["AppendUpload"] = s.AppendUpload(ctx, id, 0, strings.NewReader("evil"))
			_, ops["OpenUpload"] = s.OpenUpload(ctx, id, 0)
			_, ops["CommitUpload"] = s.CommitUpload(ctx, id, 0, digest.FromString(""))
			ops["RemoveUpload"] = s.RemoveUpload(ctx, id)
			for op, err := range ops {
				if !errors.Is(err, storage.ErrUploadUnknown) {
					t.Errorf("%s(%q) = %v, want ErrUploadUnknown", op, id, err)
				}
			}
			if b, err := os.ReadFile(victim); err != nil || string(b) != "keep" {
				t.Errorf("file outside uploads/ touched: %q, %v", b, err)
			}
			if got := fsFiles(t, filepath.Join(root, "blobs")); len(got) != 0 {
				t.Errorf("blobs created: %v", got)
			}
			if got := fsFiles(t, filepath.Join(root, "uploads")); len(got) != 0 {
				t.Errorf("uploads created: %v", got)
			}
		})
	}
}

func TestFSInvalidDigestsAreRejected(t *testing.T) {
	digests := []digest.Digest{
		"",
		"sha256:../x",
		"sha256:../../uploads/abc",
		"sha256:abc",
		"sha256:" + digest.Digest(strings.ToUpper(strings.Repeat("a", 64))),
		"sha256:" + digest.Digest(strings.Repeat("a", 65)),
		"../x",
		"sha256/" + digest.Digest(strings.Repeat("a", 64)),
		"SHA256:" + digest.Digest(strings.Repeat("a", 64)),
	}
	ctx := context.Background()
	for _, d := range digests {
		t.Run(string(d), func(t *testing.T) {
			s, root := fsUnderTest(t)
			id := storage.NewUploadID()
			fsAppend(t, s, id, 0, "data")
			if _, err := s.Stat(ctx, d); err == nil || errors.Is(err, storage.ErrNotFound) {
				t.Errorf("Stat(%q) = %v, want a validation error", d, err)
			}
			if _, err := s.Open(ctx, d); err == nil || errors.Is(err, storage.ErrNotFound) {
				t.Errorf("Open(%q) = %v, want a validation error", d, err)
			}
			if err := s.Delete(ctx, d); err == nil {
				t.Errorf("Delete(%q) succeeded", d)
			}
			if _, err := s.CommitUpload(ctx, id, 4, d); err == nil {
				t.Errorf("CommitUpload(%q) succeeded", d)
			}
			if got := fsFiles(t, filepath.Join(root, "blobs")); len(got) != 0 {
				t.Errorf("blobs created: %v", got)
			}
			if got := fsFiles(t, filepath.Join(root, "uploads")); len(got) != 1 {
				t.Errorf("the upload should be left alone: %v", got)
			}
			if got := fsFiles(t, root); len(got) != 1 {
				t.Errorf("files under the root: %v", got)
			}
		})
	}
}

func TestFSMissingBlob(t *testing.T) {
	s, _ := fsUnderTest(t)
	ctx := context.Background()
	d := digest.FromString("absent")
	if _, err := s.Stat(ctx, d); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Stat = %v, want ErrNotFound", err)
	}
	if _, err := s.Open(ctx, d); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Open = %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, d); err != nil {
		t.Errorf("Delete of a missing blob = %v, want nil", err)
	}
	if err := s.RemoveUpload(ctx, storage.NewUploadID()); err != nil {
		t.Errorf("RemoveUpload of a missing upload = %v, want nil", err)
	}
}
