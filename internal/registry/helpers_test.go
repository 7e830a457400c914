package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cssc-project/cssc/internal/storage"
	"github.com/cssc-project/cssc/internal/store"
)

// testServer is a registry over real SQLite and a real blob directory,
// served over real HTTP.
type testServer struct {
	Handler http.Handler
	URL     string
	Dir     string
	Meta    *store.Store
	c       *http.Client
}

// startServer starts a registry in dir; cleanup registers the shutdown.
func startServer(tb testing.TB, dir string, opts Options) *testServer {
	tb.Helper()
	meta, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "meta.db"), store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	blobs, err := storage.NewFS(dir)
	if err != nil {
		tb.Fatal(err)
	}
	h := New(meta, blobs, opts)
	srv := httptest.NewServer(h)
	tb.Cleanup(func() {
		srv.Close()
		_ = meta.Close()
	})
	return &testServer{Handler: h, URL: srv.URL, Dir: dir, Meta: meta, c: srv.Client()}
}

func newServer(t *testing.T) *testServer {
	t.Helper()
	return startServer(t, t.TempDir(), Options{MaxManifestBytes: 4096})
}

type response struct {
	*http.Response
	Body []byte
}

// errCode is the first error code of an error body, "" if none.
func (r response) errCode() string {
	var e struct {
		Errors []struct {
			Code string `json:"code"`
		} `json:"errors"`
	}
	if json.Unmarshal(r.Body, &e) != nil || len(e.Errors) == 0 {
		return ""
	}
	return e.Errors[0].Code
}

// do sends a request; path may be absolute ("/v2/...") or a full URL.
// body nil sends none; an io.Reader that is not a *bytes.Reader is sent
// chunked (no Content-Length).
func (s *testServer) do(tb testing.TB, method, path string, body io.Reader, header ...string) response {
	tb.Helper()
	u := path
	if strings.HasPrefix(path, "/") {
		u = s.URL + path
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		tb.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := s.c.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return response{resp, b}
}

// pushBlob uploads data monolithically into repo.
func (s *testServer) pushBlob(tb testing.TB, repo string, data []byte) v1.Descriptor {
	tb.Helper()
	d := digest.FromBytes(data)
	r := s.do(tb, http.MethodPost, "/v2/"+repo+"/blobs/uploads/?digest="+d.String(), bytes.NewReader(data),
		"Content-Type", "application/octet-stream")
	if r.StatusCode != http.StatusCreated {
		tb.Fatalf("push blob: %d %s", r.StatusCode, r.Body)
	}
	return v1.Descriptor{MediaType: "application/octet-stream", Digest: d, Size: int64(len(data))}
}

// putManifest PUTs body (a struct is marshalled) with its mediaType.
func (s *testServer) putManifest(tb testing.TB, repo, ref, mediaType string, body []byte) response {
	tb.Helper()
	return s.do(tb, http.MethodPut, "/v2/"+repo+"/manifests/"+ref, bytes.NewReader(body), "Content-Type", mediaType)
}

func mustJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// imageManifest builds an OCI image manifest.
func imageManifest(config v1.Descriptor, layers []v1.Descriptor, subject *v1.Descriptor, artifactType string) v1.Manifest {
	m := v1.Manifest{
		MediaType:    v1.MediaTypeImageManifest,
		ArtifactType: artifactType,
		Config:       config,
		Layers:       layers,
		Subject:      subject,
	}
	m.SchemaVersion = 2
	if m.Layers == nil {
		m.Layers = []v1.Descriptor{}
	}
	return m
}

// image pushes a config and a layer into repo and returns a manifest
// using them (not yet pushed) and its bytes.
func (s *testServer) image(tb testing.TB, repo, seed string) (v1.Manifest, []byte) {
	tb.Helper()
	cfg := s.pushBlob(tb, repo, []byte(`{"seed":"`+seed+`"}`))
	cfg.MediaType = v1.MediaTypeImageConfig
	layer := s.pushBlob(tb, repo, []byte("layer of "+seed))
	layer.MediaType = v1.MediaTypeImageLayerGzip
	m := imageManifest(cfg, []v1.Descriptor{layer}, nil, "")
	return m, mustJSON(tb, m)
}

// countFiles counts regular files under dir/sub.
func countFiles(tb testing.TB, dir, sub string) int {
	tb.Helper()
	n := 0
	err := filepath.WalkDir(filepath.Join(dir, sub), func(_ string, de os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !de.IsDir() {
			n++
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}
