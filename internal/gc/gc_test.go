package gc_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/cssc-project/cssc/internal/gc"
	"github.com/cssc-project/cssc/internal/storage"
	"github.com/cssc-project/cssc/internal/store"
)

// env is a data directory: real SQLite metadata and real blob files, plus
// a raw connection to the database to backdate rows (instead of sleeping).
type env struct {
	dir   string
	meta  *store.Store
	blobs *storage.FS
	raw   *sql.DB
	c     *gc.Collector
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "meta.db")
	meta, err := store.OpenSQLite(ctx, path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := storage.NewFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = raw.Close()
		_ = meta.Close()
	})
	return &env{dir: dir, meta: meta, blobs: blobs, raw: raw, c: gc.New(meta, blobs, nil, nil)}
}

var old = time.Now().Add(-2 * time.Hour)

// blob stores data and links it into repos; aged backdates link and bytes.
func (e *env) blob(t *testing.T, data string, aged bool, repos ...string) digest.Digest {
	t.Helper()
	ctx := context.Background()
	d := digest.FromString(data)
	id := storage.NewUploadID()
	if _, err := e.blobs.AppendUpload(ctx, id, 0, strings.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.blobs.CommitUpload(ctx, id, int64(len(data)), d); err != nil {
		t.Fatal(err)
	}
	for _, r := range repos {
		if err := e.meta.LinkBlob(ctx, r, d.String(), int64(len(data))); err != nil {
			t.Fatal(err)
		}
	}
	if aged {
		e.age(t, d)
	}
	return d
}

func (e *env) age(t *testing.T, d digest.Digest) {
	t.Helper()
	if _, err := e.raw.Exec(`UPDATE repository_blobs SET created_at = $1 WHERE digest = $2`, old.UnixNano(), d.String()); err != nil {
		t.Fatal(err)
	}
	enc := d.Encoded()
	if err := os.Chtimes(filepath.Join(e.dir, "blobs", string(d.Algorithm()), enc[:2], enc), old, old); err != nil {
		t.Fatal(err)
	}
}

func (e *env) exists(t *testing.T, d digest.Digest) bool {
	t.Helper()
	_, err := e.blobs.Stat(context.Background(), d)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

func (e *env) links(t *testing.T, d digest.Digest) int {
	t.Helper()
	n, err := e.meta.LinkCount(context.Background(), d.String())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (e *env) useIn(t *testing.T, repo string, ds ...digest.Digest) {
	t.Helper()
	var refs []store.Reference
	for _, d := range ds {
		size, err := e.meta.BlobSize(context.Background(), repo, d.String())
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, store.Reference{Digest: d.String(), Size: size})
	}
	content := []byte("manifest of " + repo + string(ds[0]))
	err := e.meta.PutManifest(context.Background(), store.Manifest{
		Repository: repo, Digest: digest.FromBytes(content).String(), MediaType: "application/vnd.oci.image.manifest.v1+json",
		Content: content, Blobs: refs,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
}

func TestCollectLinksAndBytes(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	orphan := e.blob(t, "old orphan", true, "r")
	young := e.blob(t, "young orphan", false, "r")
	used := e.blob(t, "used", true, "r")
	e.useIn(t, "r", used)
	shared := e.blob(t, "shared", true, "a", "b")
	e.useIn(t, "a", shared)
	unlinked := e.blob(t, "bytes only", true) // no repository holds it

	rep, err := e.c.Run(ctx, gc.Options{Grace: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if rep.DryRun {
		t.Fatal("report says dry run")
	}
	gotLinks := map[string]bool{}
	for _, l := range rep.LinksRemoved {
		gotLinks[l.Repository+"@"+l.Digest] = true
	}
	wantLinks := map[string]bool{"r@" + orphan.String(): true, "b@" + shared.String(): true}
	if len(gotLinks) != len(wantLinks) {
		t.Fatalf("links removed %v, want %v", rep.LinksRemoved, wantLinks)
	}
	for k := range wantLinks {
		if !gotLinks[k] {
			t.Fatalf("links removed %v, missing %s", rep.LinksRemoved, k)
		}
	}
	if rep.BlobsDeleted != 2 || rep.BytesFreed != int64(len("old orphan")+len("bytes only")) {
		t.Fatalf("report %+v", rep)
	}
	tests := []struct {
		name  string
		d     digest.Digest
		bytes bool
		links int
	}{
		{"old unreferenced", orphan, false, 0},
		{"bytes nobody links", unlinked, false, 0},
		{"young unreferenced", young, true, 1},
		{"referenced", used, true, 1},
		{"shared, dropped from one repository", shared, true, 1},
	}
	for _, tc := range tests {
		if got := e.exists(t, tc.d); got != tc.bytes {
			t.Errorf("%s: bytes exist = %v, want %v", tc.name, got, tc.bytes)
		}
		if got := e.links(t, tc.d); got != tc.links {
			t.Errorf("%s: %d links, want %d", tc.name, got, tc.links)
		}
	}
	// A second run has nothing left to do.
	rep, err = e.c.Run(ctx, gc.Options{Grace: time.Hour})
	if err != nil || len(rep.LinksRemoved) != 0 || rep.BlobsDeleted != 0 {
		t.Fatalf("second run %+v, %v", rep, err)
	}
}

func TestDryRunDeletesNothing(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	orphan := e.blob(t, "old orphan", true, "r")
	twice := e.blob(t, "in two repos, used by none", true, "a", "b")
	half := e.blob(t, "in two repos, used by one", true, "a", "b")
	e.useIn(t, "a", half)
	leftover := storage.NewUploadID()
	if _, err := e.blobs.AppendUpload(ctx, leftover, 0, strings.NewReader("partial")); err != nil {
		t.Fatal(err)
	}

	rep, err := e.c.Run(ctx, gc.Options{DryRun: true, Grace: time.Hour, Exclusive: false})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.DryRun || len(rep.LinksRemoved) != 4 {
		t.Fatalf("dry run report %+v", rep)
	}
	if rep.BlobsDeleted != 2 || rep.BytesFreed != int64(len("old orphan")+len("in two repos, used by none")) {
		t.Fatalf("dry run would delete %d blobs, %d bytes: %+v", rep.BlobsDeleted, rep.BytesFreed, rep)
	}
	for _, d := range []digest.Digest{orphan, twice, half} {
		if !e.exists(t, d) {
			t.Errorf("dry run deleted bytes of %s", d)
		}
	}
	if e.links(t, orphan) != 1 || e.links(t, twice) != 2 || e.links(t, half) != 2 {
		t.Error("dry run removed links")
	}
	// The same collection for real does what the dry run said.
	real, err := e.c.Run(ctx, gc.Options{Grace: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if real.BlobsDeleted != rep.BlobsDeleted || real.BytesFreed != rep.BytesFreed || len(real.LinksRemoved) != len(rep.LinksRemoved) {
		t.Fatalf("real run %+v differs from dry run %+v", real, rep)
	}
	if !e.exists(t, half) || e.exists(t, twice) || e.exists(t, orphan) {
		t.Fatal("real run deleted the wrong bytes")
	}
}

func TestUploads(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	write := func(id, data string) {
		t.Helper()
		if _, err := e.blobs.AppendUpload(ctx, id, 0, strings.NewReader(data)); err != nil {
			t.Fatal(err)
		}
	}
	uploadFile := func(id string) bool {
		_, err := os.Stat(filepath.Join(e.dir, "uploads", id))
		return err == nil
	}
	stale, fresh, orphan := "stale", "fresh", "orphan"
	for _, id := range []string{stale, fresh} {
		if err := e.meta.CreateUpload(ctx, "r", id); err != nil {
			t.Fatal(err)
		}
		write(id, "bytes of "+id)
	}
	write(orphan, "no session")
	if _, err := e.raw.Exec(`UPDATE uploads SET updated_at = $1 WHERE id = $2`, time.Now().Add(-48*time.Hour).UnixNano(), stale); err != nil {
		t.Fatal(err)
	}

	// Not exclusive: a fresh orphan may be a monolithic push in flight.
	rep, err := e.c.Run(ctx, gc.Options{Grace: time.Hour, UploadMaxAge: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if rep.UploadsRemoved != 1 || rep.LeftoversPurged != 0 {
		t.Fatalf("report %+v", rep)
	}
	if ok, _ := e.meta.UploadExists(ctx, stale); ok || uploadFile(stale) {
		t.Fatal("stale upload kept")
	}
	if ok, _ := e.meta.UploadExists(ctx, fresh); !ok || !uploadFile(fresh) {
		t.Fatal("fresh upload removed")
	}
	if !uploadFile(orphan) {
		t.Fatal("young orphan removed while not exclusive")
	}

	// Dry, exclusive: reported, kept.
	rep, err = e.c.Run(ctx, gc.Options{Exclusive: true, DryRun: true, LeftoversOnly: true})
	if err != nil || rep.LeftoversPurged != 1 || !uploadFile(orphan) {
		t.Fatalf("dry exclusive: %+v, %v, file kept %v", rep, err, uploadFile(orphan))
	}
	// Exclusive: the orphan goes at once; the session's file stays.
	rep, err = e.c.Run(ctx, gc.Options{Exclusive: true, LeftoversOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.LeftoversPurged != 1 || uploadFile(orphan) {
		t.Fatalf("exclusive: %+v, orphan file kept %v", rep, uploadFile(orphan))
	}
	if !uploadFile(fresh) {
		t.Fatal("upload with a session removed as a leftover")
	}
}

func TestLeftoversOnlyKeepsLinks(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	orphan := e.blob(t, "old orphan", true, "r")
	rep, err := e.c.Run(ctx, gc.Options{Exclusive: true, LeftoversOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.LinksRemoved) != 0 || rep.BlobsDeleted != 0 || e.links(t, orphan) != 1 || !e.exists(t, orphan) {
		t.Fatalf("leftovers-only touched links or blobs: %+v", rep)
	}
	// Exclusive without grace collects even young links.
	young := e.blob(t, "young", false, "r")
	rep, err = e.c.Run(ctx, gc.Options{Exclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	if e.exists(t, young) || e.exists(t, orphan) || rep.BlobsDeleted != 2 {
		t.Fatalf("exclusive run: %+v", rep)
	}
}
