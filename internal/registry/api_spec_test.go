package registry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cssc-project/cssc/internal/registry"
	"github.com/cssc-project/cssc/internal/storage"
	"github.com/cssc-project/cssc/internal/store"
)

// apiEnv is a registry over real SQLite and a real blob directory, served
// over real HTTP.
type apiEnv struct {
	url       string
	reg       *registry.Registry
	meta      *store.Store
	blobsRoot string
	client    *http.Client
}

func newAPIEnv(tb testing.TB, opts registry.Options) *apiEnv {
	tb.Helper()
	dir := tb.TempDir()
	meta, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "meta.db"), store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	blobsRoot := filepath.Join(dir, "data")
	blobs, err := storage.NewFS(blobsRoot)
	if err != nil {
		tb.Fatal(err)
	}
	reg := registry.New(meta, blobs, opts)
	srv := httptest.NewServer(reg)
	tb.Cleanup(func() {
		srv.Close()
		_ = meta.Close()
	})
	return &apiEnv{url: srv.URL, reg: reg, meta: meta, blobsRoot: blobsRoot, client: srv.Client()}
}

type apiResp struct {
	status int
	header http.Header
	body   []byte
}

func (r apiResp) code() string {
	var e struct {
		Errors []struct {
			Code string `json:"code"`
		} `json:"errors"`
	}
	if json.Unmarshal(r.body, &e) != nil || len(e.Errors) == 0 {
		return ""
	}
	return e.Errors[0].Code
}

func (r apiResp) String() string { return fmt.Sprintf("%d %s", r.status, r.body) }

// chunkedReader hides a body's length, so the client sends it chunked.
type chunkedReader struct{ r io.Reader }

func (c chunkedReader) Read(p []byte) (int, error) { return c.r.Read(p) }

// call sends a request; body nil sends none. hdr is name, value pairs.
func (e *apiEnv) call(tb testing.TB, method, path string, body io.Reader, hdr ...string) apiResp {
	tb.Helper()
	u := path
	if strings.HasPrefix(path, "/") {
		u = e.url + path
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		tb.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.client.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return apiResp{status: resp.StatusCode, header: resp.Header, body: b}
}

func (e *apiEnv) blob(tb testing.TB, repo, mediaType string, data []byte) v1.Descriptor {
	tb.Helper()
	d := digest.FromBytes(data)
	r := e.call(tb, http.MethodPost, "/v2/"+repo+"/blobs/uploads/?digest="+d.String(), bytes.NewReader(data))
	if r.status != http.StatusCreated {
		tb.Fatalf("push blob to %s: %v", repo, r)
	}
	return v1.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(data))}
}

func (e *apiEnv) manifest(tb testing.TB, repo, ref, contentType string, body []byte) apiResp {
	tb.Helper()
	return e.call(tb, http.MethodPut, "/v2/"+repo+"/manifests/"+ref, bytes.NewReader(body), "Content-Type", contentType)
}

// blobFiles lists the files of the blob store under sub ("blobs", "uploads").
func (e *apiEnv) blobFiles(tb testing.TB, sub string) []string {
	tb.Helper()
	var out []string
	err := filepath.WalkDir(filepath.Join(e.blobsRoot, sub), func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !de.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func toJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func ociManifest(config v1.Descriptor, layers []v1.Descriptor, subject *v1.Descriptor, artifactType string, annotations map[string]string) v1.Manifest {
	m := v1.Manifest{
		MediaType:    v1.MediaTypeImageManifest,
		ArtifactType: artifactType,
		Config:       config,
		Layers:       layers,
		Subject:      subject,
		Annotations:  annotations,
	}
	m.SchemaVersion = 2
	if m.Layers == nil {
		m.Layers = []v1.Descriptor{}
	}
	return m
}

// pushedImage pushes a config and a layer into repo and returns the bytes
// of a manifest using them (not pushed).
func (e *apiEnv) pushedImage(tb testing.TB, repo, seed string) []byte {
	tb.Helper()
	cfg := e.blob(tb, repo, v1.MediaTypeImageConfig, []byte(`{"seed":"`+seed+`"}`))
	layer := e.blob(tb, repo, v1.MediaTypeImageLayerGzip, []byte("layer of "+seed))
	return toJSON(tb, ociManifest(cfg, []v1.Descriptor{layer}, nil, "", nil))
}

func TestAPIErrorCodes(t *testing.T) {
	unknown := digest.FromString("never pushed")
	tests := []struct {
		name   string
		setup  func(t *testing.T, e *apiEnv) (method, path string, body []byte, hdr []string)
		status int
		code   string
	}{
		{"invalid repository name (upper case)", func(*testing.T, *apiEnv) (string, string, []byte, []string) {
			return http.MethodGet, "/v2/Team/App/tags/list", nil, nil
		}, 400, "NAME_INVALID"},
		{"invalid repository name (double separator)", func(*testing.T, *apiEnv) (string, string, []byte, []string) {
			return http.MethodGet, "/v2/a..b/manifests/latest", nil, nil
		}, 400, "NAME_INVALID"},
		{"invalid repository name (empty component)", func(*testing.T, *apiEnv) (string, string, []byte, []string) {
			return http.MethodPost, "/v2/a//b/blobs/uploads/", nil, nil
		}, 400, "NAME_INVALID"},
		{"repository name too long", func(*testing.T, *apiEnv) (string, string, []byte, []string) {
			return http.MethodGet, "/v2/" + strings.Repeat("a", 256) + "/tags/list", nil, nil
		}, 400, "NAME_INVALID"},
		{"unknown blob", func(*testing.T, *apiEnv) (string, string, []byte, []string) {
			return http.MethodGet, "/v2/r/blobs/" + unknown.String(), nil, nil
		}, 404, "BLOB_UNKNOWN"},
		{"blob of another repository", func(t *testing.T, e *apiEnv) (string, string, []byte, []string) {
			d := e.blob(t, "other", "x", []byte("elsewhere"))
			return http.MethodGet, "/v2/r/blobs/" + d.Digest.String(), nil, nil
		}, 404, "BLOB_UNKNOWN"},
		{"invalid blob digest", func(*testing.T, *apiEnv) (string, string, []byte, []string) {
			return http.MethodGet, "/v2/r/blobs/sha256:xyz", nil, nil
		}, 400, "DIGEST_INVALID"},
		{"monolithic upload with invalid digest", func(*testing.T, *apiEnv) (string, string, []byte, []string) {
			return http.MethodPost, "/v2/r/blobs/uploads/?digest=sha256:nothex", []byte("data"), nil
		}, 400, "DIGEST_INVALID"},
		{"unknown manifest", func(*testing.T, *apiEnv) (string, string, []byte, []string) {
			return http.MethodGet, "/v2/r/manifests/latest", nil, nil
		}, 404, "MANIFEST_UNKNOWN"},
		{"tags of unknown repository", func(*testing.T, *apiEnv) (string, string, []byte, []string) {
			return http.MethodGet, "/v2/nobody/tags/list", nil, nil
		}, 404, "NAME_UNKNOWN"},
		{"tags with a bad n", func(t *testing.T, e *apiEnv) (string, string, []byte, []string) {
			return http.MethodGet, "/v2/r/tags/list?n=-1", nil, nil
		}, 400, ""},
		{"unknown upload", func(*testing.T, *apiEnv) (string, string, []byte, []string) {
			return http.MethodGet, "/v2/r/blobs/uploads/0123456789abcdef", nil, nil
		}, 404, "BLOB_UPLOAD_UNKNOWN"},
		{"upload of another repository", func(t *testing.T, e *apiEnv) (string, string, []byte, []string) {
			r := e.call(t, http.MethodPost, "/v2/other/blobs/uploads/", nil)
			return http.MethodPatch, "/v2/r/blobs/uploads/" + r.header.Get("Docker-Upload-UUID"), []byte("x"), nil
		}, 404, "BLOB_UPLOAD_UNKNOWN"},
		{"finish upload without digest", func(t *testing.T, e *apiEnv) (string, string, []byte, []string) {
			r := e.call(t, http.MethodPost, "/v2/r/blobs/uploads/", nil)
			return http.MethodPut, r.header.Get("Location"), nil, nil
		}, 400, "DIGEST_INVALID"},
		{"method not allowed", func(*testing.T, *apiEnv) (string, string, []byte, []string) {
			return http.MethodPut, "/v2/r/blobs/" + unknown.String(), []byte("x"), nil
		}, 405, "UNSUPPORTED"},
		{"unknown endpoint", func(*testing.T, *apiEnv) (string, string, []byte, []string) {
			return http.MethodGet, "/v2/r/whatever", nil, nil
		}, 404, "NAME_UNKNOWN"},
		{"manifest is not JSON", func(*testing.T, *apiEnv) (string, string, []byte, []string) {
			return http.MethodPut, "/v2/r/manifests/v1", []byte("{not json"), []string{"Content-Type", v1.MediaTypeImageManifest}
		}, 400, "MANIFEST_INVALID"},
		{"manifest with trailing data", func(t *testing.T, e *apiEnv) (string, string, []byte, []string) {
			return http.MethodPut, "/v2/r/manifests/v1", append(e.pushedImage(t, "r", "trail"), []byte("{}")...), []string{"Content-Type", v1.MediaTypeImageManifest}
		}, 400, "MANIFEST_INVALID"},
		{"Content-Type differs from mediaType", func(t *testing.T, e *apiEnv) (string, string, []byte, []string) {
			return http.MethodPut, "/v2/r/manifests/v1", e.pushedImage(t, "r", "ct"), []string{"Content-Type", v1.MediaTypeImageIndex}
		}, 400, "MANIFEST_INVALID"},
		{"schema 1 manifest", func(*testing.T, *apiEnv) (string, string, []byte, []string) {
			return http.MethodPut, "/v2/r/manifests/v1", []byte(`{"schemaVersion":1,"name":"r","tag":"v1"}`), []string{"Content-Type", "application/vnd.docker.distribution.manifest.v1+prettyjws"}
		}, 400, "MANIFEST_INVALID"},
		{"manifest with a missing layer", func(t *testing.T, e *apiEnv) (string, string, []byte, []string) {
			cfg := e.blob(t, "r", v1.MediaTypeImageConfig, []byte("{}"))
			layer := v1.Descriptor{MediaType: v1.MediaTypeImageLayerGzip, Digest: unknown, Size: 12}
			return http.MethodPut, "/v2/r/manifests/v1", toJSON(t, ociManifest(cfg, []v1.Descriptor{layer}, nil, "", nil)), []string{"Content-Type", v1.MediaTypeImageManifest}
		}, 400, "MANIFEST_BLOB_UNKNOWN"},
		{"manifest with a missing config", func(t *testing.T, e *apiEnv) (string, string, []byte, []string) {
			cfg := v1.Descriptor{MediaType: v1.MediaTypeImageConfig, Digest: unknown, Size: 2}
			return http.MethodPut, "/v2/r/manifests/v1", toJSON(t, ociManifest(cfg, nil, nil, "", nil)), []string{"Content-Type", v1.MediaTypeImageManifest}
		}, 400, "MANIFEST_BLOB_UNKNOWN"},
		{"manifest with a layer of the wrong size", func(t *testing.T, e *apiEnv) (string, string, []byte, []string) {
			cfg := e.blob(t, "r", v1.MediaTypeImageConfig, []byte("{}"))
			layer := e.blob(t, "r", v1.MediaTypeImageLayerGzip, []byte("twelve bytes"))
			layer.Size++
			return http.MethodPut, "/v2/r/manifests/v1", toJSON(t, ociManifest(cfg, []v1.Descriptor{layer}, nil, "", nil)), []string{"Content-Type", v1.MediaTypeImageManifest}
		}, 400, "MANIFEST_INVALID"},
		{"manifest using a blob of another repository", func(t *testing.T, e *apiEnv) (string, string, []byte, []string) {
			return http.MethodPut, "/v2/r/manifests/v1", e.pushedImage(t, "other", "x"), []string{"Content-Type", v1.MediaTypeImageManifest}
		}, 400, "MANIFEST_BLOB_UNKNOWN"},
		{"index with a missing child", func(t *testing.T, e *apiEnv) (string, string, []byte, []string) {
			idx := v1.Index{MediaType: v1.MediaTypeImageIndex, Manifests: []v1.Descriptor{{MediaType: v1.MediaTypeImageManifest, Digest: unknown, Size: 100}}}
			idx.SchemaVersion = 2
			return http.MethodPut, "/v2/r/manifests/v1", toJSON(t, idx), []string{"Content-Type", v1.MediaTypeImageIndex}
		}, 400, "MANIFEST_BLOB_UNKNOWN"},
		{"manifest PUT by a digest it does not have", func(t *testing.T, e *apiEnv) (string, string, []byte, []string) {
			return http.MethodPut, "/v2/r/manifests/" + unknown.String(), e.pushedImage(t, "r", "dg"), []string{"Content-Type", v1.MediaTypeImageManifest}
		}, 400, "DIGEST_INVALID"},
		{"manifest with an invalid ?tag=", func(t *testing.T, e *apiEnv) (string, string, []byte, []string) {
			return http.MethodPut, "/v2/r/manifests/v1?tag=-bad", e.pushedImage(t, "r", "tag"), []string{"Content-Type", v1.MediaTypeImageManifest}
		}, 400, "MANIFEST_INVALID"},
		{"referrers of an invalid digest", func(*testing.T, *apiEnv) (string, string, []byte, []string) {
			return http.MethodGet, "/v2/r/referrers/latest", nil, nil
		}, 400, "DIGEST_INVALID"},
		{"delete unknown manifest", func(*testing.T, *apiEnv) (string, string, []byte, []string) {
			return http.MethodDelete, "/v2/r/manifests/" + unknown.String(), nil, nil
		}, 404, "MANIFEST_UNKNOWN"},
		{"delete unknown blob", func(*testing.T, *apiEnv) (string, string, []byte, []string) {
			return http.MethodDelete, "/v2/r/blobs/" + unknown.String(), nil, nil
		}, 404, "BLOB_UNKNOWN"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newAPIEnv(t, registry.Options{})
			method, path, body, hdr := tc.setup(t, e)
			var rd io.Reader
			if body != nil {
				rd = bytes.NewReader(body)
			}
			r := e.call(t, method, path, rd, hdr...)
			if r.status != tc.status {
				t.Fatalf("%s %s: %v, want status %d", method, path, r, tc.status)
			}
			if tc.code != "" && r.code() != tc.code {
				t.Fatalf("%s %s: %v, want code %s", method, path, r, tc.code)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("error Content-Type = %q", ct)
			}
		})
	}
}

func TestAPIMonolithicUploadWithWrongDigestStoresNothing(t *testing.T) {
	e := newAPIEnv(t, registry.Options{})
	claimed := digest.FromString("what the client says")
	for _, body := range []io.Reader{strings.NewReader("what it sends"), chunkedReader{strings.NewReader("what it sends")}} {
		r := e.call(t, http.MethodPost, "/v2/r/blobs/uploads/?digest="+claimed.String(), body)
		if r.status != http.StatusBadRequest || r.code() != "DIGEST_INVALID" {
			t.Fatalf("wrong digest: %v, want 400 DIGEST_INVALID", r)
		}
	}
	if got := e.blobFiles(t, "blobs"); len(got) != 0 {
		t.Errorf("blob files after a refused upload: %v", got)
	}
	if got := e.blobFiles(t, "uploads"); len(got) != 0 {
		t.Errorf("upload files after a refused upload: %v", got)
	}
	for _, d := range []digest.Digest{claimed, digest.FromString("what it sends")} {
		if r := e.call(t, http.MethodHead, "/v2/r/blobs/"+d.String(), nil); r.status != http.StatusNotFound {
			t.Errorf("HEAD %s after refused upload: %v", d, r)
		}
	}
}

func TestAPIManifestTooLarge(t *testing.T) {
	e := newAPIEnv(t, registry.Options{MaxManifestBytes: 512})
	cfg := e.blob(t, "r", v1.MediaTypeImageConfig, []byte("{}"))
	big := toJSON(t, ociManifest(cfg, nil, nil, "", map[string]string{"pad": strings.Repeat("x", 600)}))
	small := toJSON(t, ociManifest(cfg, nil, nil, "", map[string]string{"pad": "x"}))
	if len(small) > 512 {
		t.Fatalf("test manifest too large: %d", len(small))
	}
	for name, body := range map[string]io.Reader{
		"with Content-Length": bytes.NewReader(big),
		"chunked":             chunkedReader{bytes.NewReader(big)},
	} {
		t.Run(name, func(t *testing.T) {
			r := e.call(t, http.MethodPut, "/v2/r/manifests/big", body, "Content-Type", v1.MediaTypeImageManifest)
			if r.status != http.StatusRequestEntityTooLarge {
				t.Fatalf("large manifest: %v, want 413", r)
			}
			if r := e.call(t, http.MethodGet, "/v2/r/manifests/big", nil); r.status != http.StatusNotFound {
				t.Fatalf("large manifest stored: %v", r)
			}
		})
	}
	if r := e.manifest(t, "r", "small", v1.MediaTypeImageManifest, small); r.status != http.StatusCreated {
		t.Fatalf("manifest under the limit: %v", r)
	}
}

func TestAPIManifestsAcceptedWithoutTheirBlobs(t *testing.T) {
	tests := []struct {
		name  string
		layer v1.Descriptor
	}{
		{"OCI non-distributable layer", v1.Descriptor{MediaType: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", Digest: digest.FromString("nd"), Size: 1000}},
		{"Docker foreign layer", v1.Descriptor{MediaType: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", Digest: digest.FromString("foreign"), Size: 1000,
			URLs: []string{"https://example.com/layer"}}},
		{"layer with urls", v1.Descriptor{MediaType: v1.MediaTypeImageLayerGzip, Digest: digest.FromString("urls"), Size: 1000,
			URLs: []string{"https://example.com/layer"}}},
		{"layer with embedded data", v1.Descriptor{MediaType: v1.MediaTypeImageLayer, Digest: digest.FromString("inline"), Size: 6,
			Data: []byte("inline")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newAPIEnv(t, registry.Options{})
			mt := v1.MediaTypeImageManifest
			cfg := e.blob(t, "r", v1.MediaTypeImageConfig, []byte("{}"))
			var body []byte
			if strings.Contains(tc.layer.MediaType, "docker") {
				mt = "application/vnd.docker.distribution.manifest.v2+json"
				cfg.MediaType = "application/vnd.docker.container.image.v1+json"
				m := ociManifest(cfg, []v1.Descriptor{tc.layer}, nil, "", nil)
				m.MediaType = mt
				body = toJSON(t, m)
			} else {
				body = toJSON(t, ociManifest(cfg, []v1.Descriptor{tc.layer}, nil, "", nil))
			}
			r := e.manifest(t, "r", "v1", mt, body)
			if r.status != http.StatusCreated {
				t.Fatalf("PUT: %v, want 201", r)
			}
			g := e.call(t, http.MethodGet, "/v2/r/manifests/v1", nil)
			if g.status != 200 || !bytes.Equal(g.body, body) || g.header.Get("Content-Type") != mt {
				t.Fatalf("GET: %v (Content-Type %q)", g, g.header.Get("Content-Type"))
			}
		})
	}
}

func TestAPISubjectMissingAccepted(t *testing.T) {
	e := newAPIEnv(t, registry.Options{})
	cfg := e.blob(t, "r", "application/vnd.example.sbom", []byte(`{"sbom":true}`))
	subject := v1.Descriptor{MediaType: v1.MediaTypeImageManifest, Digest: digest.FromString("a subject not pushed yet"), Size: 321}
	body := toJSON(t, ociManifest(cfg, nil, &subject, "application/vnd.example.sbom", nil))
	r := e.manifest(t, "r", digest.FromBytes(body).String(), v1.MediaTypeImageManifest, body)
	if r.status != http.StatusCreated {
		t.Fatalf("PUT: %v, want 201", r)
	}
	if got := r.header.Get("OCI-Subject"); got != subject.Digest.String() {
		t.Fatalf("OCI-Subject = %q, want %s", got, subject.Digest)
	}
	if got := r.header.Get("Docker-Content-Digest"); got != digest.FromBytes(body).String() {
		t.Fatalf("Docker-Content-Digest = %q", got)
	}
	// The referrer is listed although its subject is absent.
	ref := e.call(t, http.MethodGet, "/v2/r/referrers/"+subject.Digest.String(), nil)
	var idx v1.Index
	if ref.status != 200 || json.Unmarshal(ref.body, &idx) != nil || len(idx.Manifests) != 1 || idx.Manifests[0].Digest != digest.FromBytes(body) {
		t.Fatalf("referrers: %v", ref)
	}
	// A manifest without subject has no OCI-Subject.
	plain := e.manifest(t, "r", "plain", v1.MediaTypeImageManifest, e.pushedImage(t, "r", "plain"))
	if plain.status != 201 || plain.header.Get("OCI-Subject") != "" {
		t.Fatalf("plain manifest: %v, OCI-Subject %q", plain, plain.header.Get("OCI-Subject"))
	}
}

func TestAPIPutByDigestWithTags(t *testing.T) {
	e := newAPIEnv(t, registry.Options{})
	body := e.pushedImage(t, "r", "tagged")
	d := digest.FromBytes(body)
	r := e.manifest(t, "r", d.String()+"?tag=a&tag=b", v1.MediaTypeImageManifest, body)
	if r.status != http.StatusCreated {
		t.Fatalf("PUT: %v", r)
	}
	if got := r.header.Values("OCI-Tag"); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Fatalf("OCI-Tag = %v, want [a b]", got)
	}
	if got := r.header.Get("Location"); got != "/v2/r/manifests/"+d.String() {
		t.Errorf("Location = %q", got)
	}
	for _, ref := range []string{"a", "b", d.String()} {
		g := e.call(t, http.MethodGet, "/v2/r/manifests/"+ref, nil)
		if g.status != 200 || g.header.Get("Docker-Content-Digest") != d.String() || !bytes.Equal(g.body, body) {
			t.Fatalf("GET %s: %v, digest %q", ref, g, g.header.Get("Docker-Content-Digest"))
		}
	}
	tags := e.call(t, http.MethodGet, "/v2/r/tags/list", nil)
	if !strings.Contains(string(tags.body), `"tags":["a","b"]`) {
		t.Fatalf("tags: %v", tags)
	}
	// PUT by tag answers no OCI-Tag.
	r = e.manifest(t, "r", "c", v1.MediaTypeImageManifest, body)
	if r.status != 201 || len(r.header.Values("OCI-Tag")) != 0 {
		t.Fatalf("PUT by tag: %v, OCI-Tag %v", r, r.header.Values("OCI-Tag"))
	}
}

func rangeOf(size int) string {
	if size == 0 {
		return "0-0"
	}
	return fmt.Sprintf("0-%d", size-1)
}

func TestAPIChunkOutOfOrder(t *testing.T) {
	e := newAPIEnv(t, registry.Options{})
	data := []byte("0123456789abcdefghij")
	start := e.call(t, http.MethodPost, "/v2/r/blobs/uploads/", nil)
	if start.status != http.StatusAccepted || start.header.Get("Range") != "0-0" {
		t.Fatalf("POST: %v, Range %q", start, start.header.Get("Range"))
	}
	loc := start.header.Get("Location")
	patch := func(from, to int, cr string) apiResp {
		return e.call(t, http.MethodPatch, loc, bytes.NewReader(data[from:to]),
			"Content-Type", "application/octet-stream", "Content-Range", cr)
	}
	if r := patch(0, 5, "0-4"); r.status != http.StatusAccepted || r.header.Get("Range") != "0-4" {
		t.Fatalf("first chunk: %v, Range %q", r, r.header.Get("Range"))
	}
	for _, bad := range []struct {
		from, to int
		cr       string
	}{
		{10, 15, "10-14"},        // a gap
		{0, 5, "0-4"},            // a repeat
		{3, 8, "3-7"},            // an overlap
		{5, 10, "bytes 7-11/20"}, // wrong start, the other syntax
		{5, 10, "garbage"},       // unparsable
	} {
		r := patch(bad.from, bad.to, bad.cr)
		if r.status != http.StatusRequestedRangeNotSatisfiable {
			t.Fatalf("chunk %q: %v, want 416", bad.cr, r)
		}
		if r.header.Get("Range") != "0-4" || r.header.Get("Location") == "" {
			t.Fatalf("chunk %q: 416 must say where the upload stands: Range %q Location %q", bad.cr, r.header.Get("Range"), r.header.Get("Location"))
		}
		loc = r.header.Get("Location")
	}
	status := e.call(t, http.MethodGet, loc, nil)
	if status.status != http.StatusNoContent || status.header.Get("Range") != "0-4" {
		t.Fatalf("status after 416: %v, Range %q", status, status.header.Get("Range"))
	}
	if r := patch(5, 15, "5-14"); r.status != http.StatusAccepted || r.header.Get("Range") != "0-14" {
		t.Fatalf("resumed chunk: %v, Range %q", r, r.header.Get("Range"))
	}
	d := digest.FromBytes(data)
	fin := e.call(t, http.MethodPut, loc+"?digest="+d.String(), bytes.NewReader(data[15:]),
		"Content-Type", "application/octet-stream", "Content-Range", "15-19")
	if fin.status != http.StatusCreated || fin.header.Get("Docker-Content-Digest") != d.String() {
		t.Fatalf("finish: %v", fin)
	}
	g := e.call(t, http.MethodGet, "/v2/r/blobs/"+d.String(), nil)
	if g.status != 200 || !bytes.Equal(g.body, data) {
		t.Fatalf("GET blob: %v", g)
	}
	if r := e.call(t, http.MethodGet, loc, nil); r.status != http.StatusNotFound {
		t.Fatalf("upload still open after finish: %v", r)
	}
}

func TestAPIChunkedUploadVariants(t *testing.T) {
	data := []byte(strings.Repeat("chunked upload data ", 50))
	d := digest.FromBytes(data)
	tests := []struct {
		name string
		run  func(t *testing.T, e *apiEnv, loc string) apiResp // returns the final PUT
	}{
		{"PATCH without Content-Range (streamed), empty PUT", func(t *testing.T, e *apiEnv, loc string) apiResp {
			r := e.call(t, http.MethodPatch, loc, chunkedReader{bytes.NewReader(data)})
			if r.status != 202 || r.header.Get("Range") != rangeOf(len(data)) {
				t.Fatalf("PATCH: %v, Range %q", r, r.header.Get("Range"))
			}
			return e.call(t, http.MethodPut, r.header.Get("Location")+"?digest="+d.String(), nil)
		}},
		{"whole blob in the PUT", func(t *testing.T, e *apiEnv, loc string) apiResp {
			return e.call(t, http.MethodPut, loc+"?digest="+d.String(), bytes.NewReader(data))
		}},
		{"two PATCHes, then PUT", func(t *testing.T, e *apiEnv, loc string) apiResp {
			e.call(t, http.MethodPatch, loc, bytes.NewReader(data[:100]), "Content-Range", "0-99")
			e.call(t, http.MethodPatch, loc, bytes.NewReader(data[100:]), "Content-Range", fmt.Sprintf("100-%d", len(data)-1))
			return e.call(t, http.MethodPut, loc+"?digest="+d.String(), nil)
		}},
		{"sha512", func(t *testing.T, e *apiEnv, loc string) apiResp {
			d512 := digest.SHA512.FromBytes(data)
			e.call(t, http.MethodPatch, loc, bytes.NewReader(data[:7]), "Content-Range", "0-6")
			r := e.call(t, http.MethodPut, loc+"?digest="+d512.String(), bytes.NewReader(data[7:]))
			if r.status == 201 && r.header.Get("Docker-Content-Digest") != d512.String() {
				t.Fatalf("sha512 digest: %v", r.header)
			}
			g := e.call(t, http.MethodGet, "/v2/r/blobs/"+d512.String(), nil)
			if g.status != 200 || !bytes.Equal(g.body, data) {
				t.Fatalf("GET sha512 blob: %v", g)
			}
			return e.call(t, http.MethodPost, "/v2/r/blobs/uploads/?digest="+d.String(), bytes.NewReader(data))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newAPIEnv(t, registry.Options{})
			start := e.call(t, http.MethodPost, "/v2/r/blobs/uploads/", nil)
			fin := tc.run(t, e, start.header.Get("Location"))
			if fin.status != http.StatusCreated {
				t.Fatalf("finish: %v", fin)
			}
			g := e.call(t, http.MethodGet, "/v2/r/blobs/"+d.String(), nil)
			if g.status != 200 || !bytes.Equal(g.body, data) {
				t.Fatalf("GET blob: %v", g)
			}
		})
	}
}

func TestAPIUploadWithWrongDigestIsRefused(t *testing.T) {
	e := newAPIEnv(t, registry.Options{})
	start := e.call(t, http.MethodPost, "/v2/r/blobs/uploads/", nil)
	loc := start.header.Get("Location")
	e.call(t, http.MethodPatch, loc, strings.NewReader("abc"), "Content-Range", "0-2")
	wrong := digest.FromString("abd")
	r := e.call(t, http.MethodPut, loc+"?digest="+wrong.String(), nil)
	if r.status != http.StatusBadRequest || r.code() != "DIGEST_INVALID" {
		t.Fatalf("wrong digest: %v", r)
	}
	if got := e.blobFiles(t, "blobs"); len(got) != 0 {
		t.Fatalf("blob stored under a wrong digest: %v", got)
	}
	if g := e.call(t, http.MethodGet, "/v2/r/blobs/"+wrong.String(), nil); g.status != 404 {
		t.Fatalf("GET wrong digest: %v", g)
	}
}

func TestAPICancelUpload(t *testing.T) {
	e := newAPIEnv(t, registry.Options{})
	start := e.call(t, http.MethodPost, "/v2/r/blobs/uploads/", nil)
	loc := start.header.Get("Location")
	e.call(t, http.MethodPatch, loc, strings.NewReader("abc"), "Content-Range", "0-2")
	if r := e.call(t, http.MethodDelete, loc, nil); r.status != http.StatusNoContent {
		t.Fatalf("DELETE upload: %v", r)
	}
	if r := e.call(t, http.MethodGet, loc, nil); r.status != http.StatusNotFound || r.code() != "BLOB_UPLOAD_UNKNOWN" {
		t.Fatalf("status after cancel: %v", r)
	}
	if got := e.blobFiles(t, "uploads"); len(got) != 0 {
		t.Fatalf("upload files after cancel: %v", got)
	}
}

func TestAPIBlobRangeGet(t *testing.T) {
	e := newAPIEnv(t, registry.Options{})
	data := []byte("0123456789")
	d := e.blob(t, "r", "x", data).Digest
	tests := []struct {
		rng          string
		status       int
		body         string
		contentRange string
	}{
		{"", 200, "0123456789", ""},
		{"bytes=0-3", 206, "0123", "bytes 0-3/10"},
		{"bytes=5-", 206, "56789", "bytes 5-9/10"},
		{"bytes=-3", 206, "789", "bytes 7-9/10"},
		{"bytes=8-100", 206, "89", "bytes 8-9/10"},
		{"bytes=10-20", 416, "", "bytes */10"},
		{"bytes=100-", 416, "", "bytes */10"},
	}
	for _, tc := range tests {
		t.Run(tc.rng, func(t *testing.T) {
			var hdr []string
			if tc.rng != "" {
				hdr = []string{"Range", tc.rng}
			}
			r := e.call(t, http.MethodGet, "/v2/r/blobs/"+d.String(), nil, hdr...)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d (%s)", r.status, tc.status, r.body)
			}
			if r.status != 416 && string(r.body) != tc.body {
				t.Fatalf("body %q, want %q", r.body, tc.body)
			}
			if got := r.header.Get("Content-Range"); got != tc.contentRange {
				t.Fatalf("Content-Range %q, want %q", got, tc.contentRange)
			}
			if r.status != 416 && r.header.Get("Docker-Content-Digest") != d.String() {
				t.Fatalf("Docker-Content-Digest %q", r.header.Get("Docker-Content-Digest"))
			}
		})
	}
}

func nextLink(t *testing.T, h http.Header) string {
	t.Helper()
	l := h.Get("Link")
	if l == "" {
		return ""
	}
	target, rel, ok := strings.Cut(l, ">;")
	if !ok || !strings.HasPrefix(target, "<") || !strings.Contains(rel, `rel="next"`) {
		t.Fatalf("malformed Link %q", l)
	}
	return strings.TrimPrefix(target, "<")
}

func TestAPITagsListPagination(t *testing.T) {
	e := newAPIEnv(t, registry.Options{})
	body := e.pushedImage(t, "team/app", "tags")
	for _, tag := range []string{"v3", "v1", "latest", "v2", "alpha"} {
		if r := e.manifest(t, "team/app", tag, v1.MediaTypeImageManifest, body); r.status != 201 {
			t.Fatalf("tag %s: %v", tag, r)
		}
	}
	type page struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}
	get := func(path string) (page, http.Header) {
		r := e.call(t, http.MethodGet, path, nil)
		var p page
		if r.status != 200 || json.Unmarshal(r.body, &p) != nil {
			t.Fatalf("GET %s: %v", path, r)
		}
		if p.Name != "team/app" {
			t.Fatalf("name %q", p.Name)
		}
		return p, r.header
	}
	all, h := get("/v2/team/app/tags/list")
	if want := []string{"alpha", "latest", "v1", "v2", "v3"}; !reflect.DeepEqual(all.Tags, want) || h.Get("Link") != "" {
		t.Fatalf("all tags = %v (Link %q), want %v", all.Tags, h.Get("Link"), want)
	}
	var pages [][]string
	path := "/v2/team/app/tags/list?n=2"
	for path != "" && len(pages) < 10 {
		p, h := get(path)
		pages = append(pages, p.Tags)
		path = nextLink(t, h)
		if path != "" {
			u, err := url.Parse(path)
			if err != nil || u.Path != "/v2/team/app/tags/list" || u.Query().Get("n") != "2" || u.Query().Get("last") != p.Tags[len(p.Tags)-1] {
				t.Fatalf("Link %q", path)
			}
		}
	}
	if want := [][]string{{"alpha", "latest"}, {"v1", "v2"}, {"v3"}}; !reflect.DeepEqual(pages, want) {
		t.Fatalf("pages = %v, want %v", pages, want)
	}
	p, _ := get("/v2/team/app/tags/list?last=v1")
	if !reflect.DeepEqual(p.Tags, []string{"v2", "v3"}) {
		t.Fatalf("after v1: %v", p.Tags)
	}
	p, h = get("/v2/team/app/tags/list?n=0")
	if len(p.Tags) != 0 || h.Get("Link") != "" {
		t.Fatalf("n=0: %v, Link %q", p.Tags, h.Get("Link"))
	}
}

func TestAPICatalog(t *testing.T) {
	e := newAPIEnv(t, registry.Options{})
	for _, repo := range []string{"zeta", "alpha/one", "mid", "alpha/two"} {
		if r := e.manifest(t, repo, "v1", v1.MediaTypeImageManifest, e.pushedImage(t, repo, repo)); r.status != 201 {
			t.Fatalf("push %s: %v", repo, r)
		}
	}
	e.blob(t, "blobs-only", "x", []byte("no manifest here"))
	type cat struct {
		Repositories []string `json:"repositories"`
	}
	var pages [][]string
	path := "/v2/_catalog?n=3"
	for path != "" && len(pages) < 10 {
		r := e.call(t, http.MethodGet, path, nil)
		var c cat
		if r.status != 200 || json.Unmarshal(r.body, &c) != nil {
			t.Fatalf("GET %s: %v", path, r)
		}
		pages = append(pages, c.Repositories)
		path = nextLink(t, r.header)
	}
	if want := [][]string{{"alpha/one", "alpha/two", "mid"}, {"zeta"}}; !reflect.DeepEqual(pages, want) {
		t.Fatalf("catalog pages = %v, want %v", pages, want)
	}
	r := e.call(t, http.MethodGet, "/v2/_catalog", nil)
	if !strings.Contains(string(r.body), `["alpha/one","alpha/two","mid","zeta"]`) || r.header.Get("Link") != "" {
		t.Fatalf("whole catalog: %v", r)
	}
}

func TestAPIReferrers(t *testing.T) {
	e := newAPIEnv(t, registry.Options{})
	subjectBody := e.pushedImage(t, "r", "subject")
	if r := e.manifest(t, "r", "v1", v1.MediaTypeImageManifest, subjectBody); r.status != 201 {
		t.Fatal(r)
	}
	subject := v1.Descriptor{MediaType: v1.MediaTypeImageManifest, Digest: digest.FromBytes(subjectBody), Size: int64(len(subjectBody))}
	empty := e.blob(t, "r", v1.MediaTypeEmptyJSON, []byte("{}"))
	want := map[string][]digest.Digest{}
	for i, at := range []string{"application/vnd.example.sbom", "application/vnd.example.sig", "application/vnd.example.sbom"} {
		body := toJSON(t, ociManifest(empty, nil, &subject, at, map[string]string{"n": fmt.Sprint(i)}))
		r := e.manifest(t, "r", digest.FromBytes(body).String(), v1.MediaTypeImageManifest, body)
		if r.status != 201 || r.header.Get("OCI-Subject") != subject.Digest.String() {
			t.Fatalf("push referrer: %v", r)
		}
		want[at] = append(want[at], digest.FromBytes(body))
	}
	// An artifact whose type comes from its config media type.
	cfg := e.blob(t, "r", "application/vnd.example.config", []byte("cfg"))
	body := toJSON(t, ociManifest(cfg, nil, &subject, "", nil))
	if r := e.manifest(t, "r", digest.FromBytes(body).String(), v1.MediaTypeImageManifest, body); r.status != 201 {
		t.Fatal(r)
	}
	want["application/vnd.example.config"] = []digest.Digest{digest.FromBytes(body)}

	list := func(query string) (v1.Index, http.Header) {
		r := e.call(t, http.MethodGet, "/v2/r/referrers/"+subject.Digest.String()+query, nil)
		var idx v1.Index
		if r.status != 200 || json.Unmarshal(r.body, &idx) != nil {
			t.Fatalf("referrers%s: %v", query, r)
		}
		if ct := r.header.Get("Content-Type"); ct != v1.MediaTypeImageIndex {
			t.Fatalf("Content-Type %q", ct)
		}
		if idx.SchemaVersion != 2 || idx.MediaType != v1.MediaTypeImageIndex {
			t.Fatalf("not an index: %s", r.body)
		}
		return idx, r.header
	}
	all, h := list("")
	if len(all.Manifests) != 4 || h.Get("OCI-Filters-Applied") != "" {
		t.Fatalf("unfiltered: %+v, OCI-Filters-Applied %q", all.Manifests, h.Get("OCI-Filters-Applied"))
	}
	for _, m := range all.Manifests {
		if m.ArtifactType == "" || m.Size <= 0 || m.MediaType != v1.MediaTypeImageManifest {
			t.Errorf("descriptor %+v incomplete", m)
		}
	}
	for at, digests := range want {
		idx, h := list("?artifactType=" + url.QueryEscape(at))
		if h.Get("OCI-Filters-Applied") != "artifactType" {
			t.Errorf("%s: OCI-Filters-Applied %q", at, h.Get("OCI-Filters-Applied"))
		}
		var got []digest.Digest
		for _, m := range idx.Manifests {
			if m.ArtifactType != at {
				t.Errorf("%s: filter let %+v through", at, m)
			}
			got = append(got, m.Digest)
		}
		if !reflect.DeepEqual(got, digests) {
			t.Errorf("%s: referrers %v, want %v (oldest first)", at, got, digests)
		}
	}
	if idx, _ := list("?artifactType=application/none"); len(idx.Manifests) != 0 {
		t.Fatalf("filter to nothing: %+v", idx.Manifests)
	}
	r := e.call(t, http.MethodGet, "/v2/r/referrers/"+digest.FromString("nothing").String(), nil)
	if r.status != 200 || !strings.Contains(string(r.body), `"manifests":[]`) {
		t.Fatalf("referrers of an unknown subject: %v", r)
	}
}

func TestAPIDeleteBlobInUseIsRefused(t *testing.T) {
	e := newAPIEnv(t, registry.Options{})
	cfg := e.blob(t, "r", v1.MediaTypeImageConfig, []byte("{}"))
	layer := e.blob(t, "r", v1.MediaTypeImageLayerGzip, []byte("a layer"))
	loose := e.blob(t, "r", "x", []byte("loose"))
	body := toJSON(t, ociManifest(cfg, []v1.Descriptor{layer}, nil, "", nil))
	if r := e.manifest(t, "r", "v1", v1.MediaTypeImageManifest, body); r.status != 201 {
		t.Fatal(r)
	}
	for _, d := range []digest.Digest{cfg.Digest, layer.Digest} {
		r := e.call(t, http.MethodDelete, "/v2/r/blobs/"+d.String(), nil)
		if r.status != http.StatusMethodNotAllowed || r.code() != "DENIED" {
			t.Fatalf("DELETE used blob: %v", r)
		}
		if g := e.call(t, http.MethodGet, "/v2/r/blobs/"+d.String(), nil); g.status != 200 {
			t.Fatalf("used blob gone after refused delete: %v", g)
		}
	}
	if r := e.call(t, http.MethodDelete, "/v2/r/blobs/"+loose.Digest.String(), nil); r.status != http.StatusAccepted {
		t.Fatalf("DELETE unused blob: %v", r)
	}
	if g := e.call(t, http.MethodGet, "/v2/r/blobs/"+loose.Digest.String(), nil); g.status != 404 {
		t.Fatalf("deleted blob still served: %v", g)
	}
	// Once the manifest is gone, so is the refusal.
	if r := e.call(t, http.MethodDelete, "/v2/r/manifests/"+digest.FromBytes(body).String(), nil); r.status != http.StatusAccepted {
		t.Fatalf("DELETE manifest: %v", r)
	}
	if r := e.call(t, http.MethodGet, "/v2/r/manifests/v1", nil); r.status != 404 {
		t.Fatalf("tag survived its manifest: %v", r)
	}
	if r := e.call(t, http.MethodDelete, "/v2/r/blobs/"+layer.Digest.String(), nil); r.status != http.StatusAccepted {
		t.Fatalf("DELETE formerly used blob: %v", r)
	}
}

func TestAPIDeleteManifestListedByIndexIsRefused(t *testing.T) {
	e := newAPIEnv(t, registry.Options{})
	child := e.pushedImage(t, "r", "child")
	if r := e.manifest(t, "r", "child", v1.MediaTypeImageManifest, child); r.status != 201 {
		t.Fatal(r)
	}
	idx := v1.Index{MediaType: v1.MediaTypeImageIndex, Manifests: []v1.Descriptor{{MediaType: v1.MediaTypeImageManifest, Digest: digest.FromBytes(child), Size: int64(len(child))}}}
	idx.SchemaVersion = 2
	if r := e.manifest(t, "r", "multi", v1.MediaTypeImageIndex, toJSON(t, idx)); r.status != 201 {
		t.Fatal(r)
	}
	if r := e.call(t, http.MethodDelete, "/v2/r/manifests/"+digest.FromBytes(child).String(), nil); r.status != 405 || r.code() != "DENIED" {
		t.Fatalf("DELETE child: %v", r)
	}
	// Deleting a tag leaves the manifest.
	if r := e.call(t, http.MethodDelete, "/v2/r/manifests/child", nil); r.status != 202 {
		t.Fatalf("DELETE tag: %v", r)
	}
	if r := e.call(t, http.MethodGet, "/v2/r/manifests/"+digest.FromBytes(child).String(), nil); r.status != 200 {
		t.Fatalf("manifest gone with its tag: %v", r)
	}
}

func TestAPICrossRepositoryMount(t *testing.T) {
	e := newAPIEnv(t, registry.Options{})
	d := e.blob(t, "src", "x", []byte("mount me")).Digest
	r := e.call(t, http.MethodPost, "/v2/dst/blobs/uploads/?mount="+d.String()+"&from=src", nil)
	if r.status != http.StatusCreated || r.header.Get("Docker-Content-Digest") != d.String() {
		t.Fatalf("mount: %v", r)
	}
	if g := e.call(t, http.MethodGet, "/v2/dst/blobs/"+d.String(), nil); g.status != 200 || string(g.body) != "mount me" {
		t.Fatalf("mounted blob: %v", g)
	}
	// Not in from: a new upload session instead.
	r = e.call(t, http.MethodPost, "/v2/dst2/blobs/uploads/?mount="+d.String()+"&from=nowhere", nil)
	if r.status != http.StatusAccepted || r.header.Get("Location") == "" {
		t.Fatalf("mount from a repository without the blob: %v", r)
	}
	if g := e.call(t, http.MethodGet, "/v2/dst2/blobs/"+d.String(), nil); g.status != 404 {
		t.Fatalf("blob linked without a mount: %v", g)
	}
}

// TestAPIHeadHasNoBody calls the handler directly: a real server would drop
// a HEAD body itself and hide the bug.
func TestAPIHeadHasNoBody(t *testing.T) {
	e := newAPIEnv(t, registry.Options{})
	body := e.pushedImage(t, "r", "head")
	if r := e.manifest(t, "r", "v1", v1.MediaTypeImageManifest, body); r.status != 201 {
		t.Fatal(r)
	}
	blob := e.blob(t, "r", "x", []byte("head of a blob"))
	paths := []string{
		"/v2/",
		"/v2/r/blobs/" + blob.Digest.String(),
		"/v2/r/blobs/" + digest.FromString("unknown").String(),
		"/v2/r/manifests/v1",
		"/v2/r/manifests/" + digest.FromBytes(body).String(),
		"/v2/r/manifests/unknown",
		"/v2/R/manifests/v1",
		"/v2/r/blobs/sha256:bad",
	}
	for _, p := range paths {
		t.Run(p, func(t *testing.T) {
			get := httptest.NewRecorder()
			e.reg.ServeHTTP(get, httptest.NewRequest(http.MethodGet, p, nil))
			head := httptest.NewRecorder()
			e.reg.ServeHTTP(head, httptest.NewRequest(http.MethodHead, p, nil))
			if head.Code != get.Code {
				t.Fatalf("HEAD %d, GET %d", head.Code, get.Code)
			}
			if head.Body.Len() != 0 {
				t.Fatalf("HEAD wrote a body: %q", head.Body.String())
			}
			if get.Body.Len() == 0 {
				t.Fatalf("GET has no body to compare")
			}
			if cl := head.Header().Get("Content-Length"); cl != fmt.Sprint(get.Body.Len()) {
				t.Fatalf("HEAD Content-Length %q, GET body %d bytes", cl, get.Body.Len())
			}
			for _, h := range []string{"Content-Type", "Docker-Content-Digest"} {
				if head.Header().Get(h) != get.Header().Get(h) {
					t.Errorf("%s: HEAD %q, GET %q", h, head.Header().Get(h), get.Header().Get(h))
				}
			}
		})
	}
}

func TestAPIConcurrentPushesToOneTag(t *testing.T) {
	e := newAPIEnv(t, registry.Options{})
	cfg := e.blob(t, "r", v1.MediaTypeImageConfig, []byte("{}"))
	const n = 8
	bodies := make([][]byte, n)
	digests := map[string]bool{}
	for i := range bodies {
		bodies[i] = toJSON(t, ociManifest(cfg, nil, nil, "", map[string]string{"i": fmt.Sprint(i)}))
		digests[digest.FromBytes(bodies[i]).String()] = true
	}
	var wg sync.WaitGroup
	statuses := make([]apiResp, n)
	for i := range n {
		wg.Go(func() {
			statuses[i] = e.manifest(t, "r", "latest", v1.MediaTypeImageManifest, bodies[i])
		})
	}
	wg.Wait()
	for i, r := range statuses {
		if r.status != http.StatusCreated {
			t.Errorf("push %d: %v", i, r)
		}
	}
	g := e.call(t, http.MethodGet, "/v2/r/manifests/latest", nil)
	if g.status != 200 || !digests[g.header.Get("Docker-Content-Digest")] || digest.FromBytes(g.body).String() != g.header.Get("Docker-Content-Digest") {
		t.Fatalf("latest: %v, digest %q", g, g.header.Get("Docker-Content-Digest"))
	}
	for d := range digests {
		if r := e.call(t, http.MethodHead, "/v2/r/manifests/"+d, nil); r.status != 200 {
			t.Errorf("manifest %s: %v", d, r)
		}
	}
	tags := e.call(t, http.MethodGet, "/v2/r/tags/list", nil)
	if !strings.Contains(string(tags.body), `"tags":["latest"]`) {
		t.Fatalf("tags: %v", tags)
	}
}

func TestAPIConcurrentPushesOfOneBlob(t *testing.T) {
	e := newAPIEnv(t, registry.Options{})
	data := bytes.Repeat([]byte("same blob "), 10000)
	d := digest.FromBytes(data)
	const n = 8
	results := make([]apiResp, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			results[i] = e.call(t, http.MethodPost, "/v2/r/blobs/uploads/?digest="+d.String(), bytes.NewReader(data))
		})
	}
	wg.Wait()
	for i, r := range results {
		if r.status != http.StatusCreated || r.header.Get("Docker-Content-Digest") != d.String() {
			t.Errorf("push %d: %v", i, r)
		}
	}
	if got := e.blobFiles(t, "blobs"); len(got) != 1 || filepath.Base(got[0]) != d.Encoded() {
		t.Fatalf("blob files = %v, want exactly one for %s", got, d)
	}
	if got := e.blobFiles(t, "uploads"); len(got) != 0 {
		t.Fatalf("upload files left: %v", got)
	}
	g := e.call(t, http.MethodGet, "/v2/r/blobs/"+d.String(), nil)
	if g.status != 200 || !bytes.Equal(g.body, data) {
		t.Fatalf("GET: %d, %d bytes", g.status, len(g.body))
	}
}

func TestAPIBaseAndManifestNotModified(t *testing.T) {
	e := newAPIEnv(t, registry.Options{})
	r := e.call(t, http.MethodGet, "/v2/", nil)
	if r.status != 200 || r.header.Get("Docker-Distribution-API-Version") != "registry/2.0" {
		t.Fatalf("base: %v %v", r, r.header)
	}
	body := e.pushedImage(t, "r", "etag")
	e.manifest(t, "r", "v1", v1.MediaTypeImageManifest, body)
	etag := `"` + digest.FromBytes(body).String() + `"`
	if r := e.call(t, http.MethodGet, "/v2/r/manifests/v1", nil, "If-None-Match", etag); r.status != http.StatusNotModified || len(r.body) != 0 {
		t.Fatalf("If-None-Match: %v", r)
	}
}

// failingBody yields data, then fails as a client that went away.
type failingBody struct {
	data []byte
	done bool
}

func (f *failingBody) Read(p []byte) (int, error) {
	if f.done || len(f.data) == 0 {
		return 0, io.ErrUnexpectedEOF
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	if len(f.data) == 0 {
		f.done = true
	}
	return n, nil
}

func TestAPIInterruptedChunkKeepsWhatArrived(t *testing.T) {
	for _, withRange := range []bool{false, true} {
		t.Run(fmt.Sprint("Content-Range=", withRange), func(t *testing.T) {
			e := newAPIEnv(t, registry.Options{})
			loc := e.call(t, http.MethodPost, "/v2/r/blobs/uploads/", nil).header.Get("Location")
			req := httptest.NewRequest(http.MethodPatch, loc, &failingBody{data: []byte("hello")})
			if withRange {
				req.Header.Set("Content-Range", "0-9")
			}
			rec := httptest.NewRecorder()
			e.reg.ServeHTTP(rec, req)
			if rec.Code != http.StatusBadRequest || rec.Code >= 500 {
				t.Fatalf("interrupted PATCH: %d %s", rec.Code, rec.Body)
			}
			st := e.call(t, http.MethodGet, loc, nil)
			if st.status != http.StatusNoContent || st.header.Get("Range") != "0-4" {
				t.Fatalf("status after interruption: %v, Range %q (want the 5 bytes that arrived kept)", st, st.header.Get("Range"))
			}
			if r := e.call(t, http.MethodPatch, loc, strings.NewReader("world"), "Content-Range", "5-9"); r.status != 202 {
				t.Fatalf("resume: %v", r)
			}
			d := digest.FromString("helloworld")
			if r := e.call(t, http.MethodPut, loc+"?digest="+d.String(), nil); r.status != 201 {
				t.Fatalf("finish: %v", r)
			}
			if g := e.call(t, http.MethodGet, "/v2/r/blobs/"+d.String(), nil); string(g.body) != "helloworld" {
				t.Fatalf("blob: %v", g)
			}
		})
	}
}

// TestAPISecondRequestOnBusyUpload holds one PATCH mid-body (the handler
// has read from the body, so it holds the session) and sends another.
func TestAPISecondRequestOnBusyUpload(t *testing.T) {
	e := newAPIEnv(t, registry.Options{})
	loc := e.call(t, http.MethodPost, "/v2/r/blobs/uploads/", nil).header.Get("Location")
	if r := e.call(t, http.MethodPatch, loc, strings.NewReader("ab"), "Content-Range", "0-1"); r.status != 202 {
		t.Fatal(r)
	}
	pr, pw := io.Pipe()
	req := httptest.NewRequest(http.MethodPatch, loc, pr)
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.reg.ServeHTTP(rec, req)
	}()
	if _, err := pw.Write([]byte("cd")); err != nil { // returns once the handler read it
		t.Fatal(err)
	}
	r := e.call(t, http.MethodPatch, loc, strings.NewReader("xy"), "Content-Range", "2-3")
	if r.status != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("PATCH on a busy upload: %v, want 416", r)
	}
	if r.header.Get("Range") != "0-1" || r.header.Get("Location") == "" {
		t.Errorf("416 on a busy upload must say where the upload stands: Range %q, Location %q", r.header.Get("Range"), r.header.Get("Location"))
	}
	if _, err := pw.Write([]byte("ef")); err != nil {
		t.Fatal(err)
	}
	_ = pw.Close()
	<-done
	if rec.Code != http.StatusAccepted || rec.Header().Get("Range") != "0-5" {
		t.Fatalf("held PATCH: %d %s, Range %q", rec.Code, rec.Body, rec.Header().Get("Range"))
	}
	d := digest.FromString("abcdef")
	if r := e.call(t, http.MethodPut, loc+"?digest="+d.String(), nil); r.status != 201 {
		t.Fatalf("finish: %v", r)
	}
}

// A link whose bytes are gone (a blob store restored from an older backup,
// or bytes collected between a mount's look-up and its link) is served as
// unknown and is not mountable: the client gets an upload session instead.
func TestAPILinkedBlobWithoutBytes(t *testing.T) {
	e := newAPIEnv(t, registry.Options{})
	d := digest.FromString("bytes gone")
	if err := e.meta.LinkBlob(context.Background(), "src", d.String(), 10); err != nil {
		t.Fatal(err)
	}
	if r := e.call(t, http.MethodGet, "/v2/src/blobs/"+d.String(), nil); r.status != 404 || r.code() != "BLOB_UNKNOWN" {
		t.Fatalf("GET: %v", r)
	}
	for _, q := range []string{"&from=src", ""} {
		r := e.call(t, http.MethodPost, "/v2/dst/blobs/uploads/?mount="+d.String()+q, nil)
		if r.status != http.StatusAccepted || r.header.Get("Location") == "" {
			t.Fatalf("mount%s of a blob without bytes: %v, want 202 and an upload session", q, r)
		}
	}
	if r := e.call(t, http.MethodGet, "/v2/dst/blobs/"+d.String(), nil); r.status != 404 {
		t.Fatalf("GET after refused mount: %v", r)
	}
	// Pushing the bytes again repairs it.
	e.blob(t, "dst", "x", []byte("bytes gone"))
	if r := e.call(t, http.MethodGet, "/v2/src/blobs/"+d.String(), nil); r.status != 200 || string(r.body) != "bytes gone" {
		t.Fatalf("GET after re-push: %v", r)
	}
}
