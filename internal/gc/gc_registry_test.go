package gc_test

import (
	"bytes"
	"context"
	"database/sql"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/cssc-project/cssc/internal/gc"
	"github.com/cssc-project/cssc/internal/registry"
	"github.com/cssc-project/cssc/internal/storage"
	"github.com/cssc-project/cssc/internal/store"
)

// regGC is a registry and a collector over one data directory, sharing the
// commit lock as `cssc serve` wires them.
type regGC struct {
	url   string
	dir   string
	raw   *sql.DB
	blobs *storage.FS
	c     *gc.Collector
}

func newRegGC(t *testing.T) *regGC {
	t.Helper()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "meta.db")
	meta, err := store.OpenSQLite(context.Background(), dbPath, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := storage.NewFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", "file:"+dbPath+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	lock := &sync.RWMutex{}
	srv := httptest.NewServer(registry.New(meta, blobs, registry.Options{CommitLock: lock}))
	t.Cleanup(func() {
		srv.Close()
		_ = raw.Close()
		_ = meta.Close()
	})
	return &regGC{url: srv.URL, dir: dir, raw: raw, blobs: blobs, c: gc.New(meta, blobs, lock, nil)}
}

func (e *regGC) req(t *testing.T, method, path string, body []byte, hdr ...string) int {
	t.Helper()
	req, err := http.NewRequest(method, e.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

func (e *regGC) push(t *testing.T, repo string, data []byte) digest.Digest {
	t.Helper()
	d := digest.FromBytes(data)
	if st := e.req(t, http.MethodPost, "/v2/"+repo+"/blobs/uploads/?digest="+d.String(), data); st != http.StatusCreated {
		t.Fatalf("push %s: %d", d, st)
	}
	return d
}

// backdate makes d's links and bytes look pushed two hours ago.
func (e *regGC) backdate(t *testing.T, d digest.Digest) {
	t.Helper()
	old := time.Now().Add(-2 * time.Hour)
	if _, err := e.raw.Exec(`UPDATE repository_blobs SET created_at = $1 WHERE digest = $2`, old.UnixNano(), d.String()); err != nil {
		t.Fatal(err)
	}
	enc := d.Encoded()
	if err := os.Chtimes(filepath.Join(e.dir, "blobs", "sha256", enc[:2], enc), old, old); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
}

func (e *regGC) bytesExist(t *testing.T, d digest.Digest) bool {
	t.Helper()
	_, err := e.blobs.Stat(context.Background(), d)
	return err == nil
}

func TestCollectBehindTheRegistry(t *testing.T) {
	ctx := context.Background()
	e := newRegGC(t)
	grace := gc.Options{Grace: time.Hour}

	// A blob a manifest uses survives however old.
	cfg := e.push(t, "r", []byte("{}"))
	layer := e.push(t, "r", []byte("a layer"))
	manifest := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + cfg.String() + `","size":2},` +
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"` + layer.String() + `","size":7}]}`)
	if st := e.req(t, http.MethodPut, "/v2/r/manifests/v1", manifest, "Content-Type", "application/vnd.oci.image.manifest.v1+json"); st != 201 {
		t.Fatalf("manifest: %d", st)
	}
	// A blob pushed before its manifest (within the grace) survives.
	pending := e.push(t, "r", []byte("manifest comes later"))
	// A blob deleted through the API and old goes.
	deleted := e.push(t, "r", []byte("deleted through the API"))
	if st := e.req(t, http.MethodDelete, "/v2/r/blobs/"+deleted.String(), nil); st != http.StatusAccepted {
		t.Fatalf("DELETE blob: %d", st)
	}
	// Old bytes that are pushed again are protected by the refreshed time.
	repushed := e.push(t, "r", []byte("pushed again"))
	if st := e.req(t, http.MethodDelete, "/v2/r/blobs/"+repushed.String(), nil); st != http.StatusAccepted {
		t.Fatalf("DELETE blob: %d", st)
	}
	for _, d := range []digest.Digest{cfg, layer, deleted, repushed} {
		e.backdate(t, d)
	}
	e.push(t, "other", []byte("pushed again"))
	// Even with its new link old too, the refreshed bytes stay this round.
	if _, err := e.raw.Exec(`UPDATE repository_blobs SET created_at = $1 WHERE digest = $2`,
		time.Now().Add(-2*time.Hour).UnixNano(), repushed.String()); err != nil {
		t.Fatal(err)
	}

	rep, err := e.c.Run(ctx, grace)
	if err != nil {
		t.Fatal(err)
	}
	if rep.BlobsDeleted != 1 || rep.BytesFreed != int64(len("deleted through the API")) {
		t.Fatalf("report %+v, want only the deleted blob collected", rep)
	}
	for _, tc := range []struct {
		name string
		d    digest.Digest
		keep bool
	}{
		{"config in use", cfg, true},
		{"layer in use", layer, true},
		{"pending push", pending, true},
		{"deleted and old", deleted, false},
		{"pushed again", repushed, true},
	} {
		if got := e.bytesExist(t, tc.d); got != tc.keep {
			t.Errorf("%s: bytes exist = %v, want %v", tc.name, got, tc.keep)
		}
	}
	if st := e.req(t, http.MethodGet, "/v2/r/manifests/v1", nil); st != 200 {
		t.Fatalf("manifest after gc: %d", st)
	}
	for _, d := range []digest.Digest{cfg, layer} {
		if st := e.req(t, http.MethodGet, "/v2/r/blobs/"+d.String(), nil); st != 200 {
			t.Fatalf("blob %s after gc: %d", d, st)
		}
	}
	if len(rep.LinksRemoved) != 1 || rep.LinksRemoved[0].Repository != "other" || rep.LinksRemoved[0].Digest != repushed.String() {
		t.Fatalf("links removed %+v, want other@%s", rep.LinksRemoved, repushed)
	}

	// A collected blob can be pushed again.
	if st := e.req(t, http.MethodHead, "/v2/r/blobs/"+deleted.String(), nil); st != 404 {
		t.Fatalf("collected blob: %d", st)
	}
	e.push(t, "r", []byte("deleted through the API"))
	if st := e.req(t, http.MethodGet, "/v2/r/blobs/"+deleted.String(), nil); st != 200 {
		t.Fatalf("blob pushed after collection: %d", st)
	}

	// The manifest deleted, its old blobs go on the next collection.
	if st := e.req(t, http.MethodDelete, "/v2/r/manifests/"+digest.FromBytes(manifest).String(), nil); st != 202 {
		t.Fatalf("DELETE manifest: %d", st)
	}
	rep, err = e.c.Run(ctx, grace)
	if err != nil {
		t.Fatal(err)
	}
	if e.bytesExist(t, cfg) || e.bytesExist(t, layer) || !e.bytesExist(t, pending) {
		t.Fatalf("after the manifest went: %+v", rep)
	}
}
