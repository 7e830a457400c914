package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// apiResp is a response as these tests read it.
type apiResp struct {
	status int
	header http.Header
	body   []byte
}

func (r apiResp) code() string { return response{Body: r.body}.errCode() }

func (r apiResp) String() string { return fmt.Sprintf("%d %s", r.status, r.body) }

// chunkedReader hides a body's length, so the client sends it chunked.
type chunkedReader struct{ r io.Reader }

func (c chunkedReader) Read(p []byte) (int, error) { return c.r.Read(p) }

func newAPIEnv(tb testing.TB, opts Options) *testServer {
	tb.Helper()
	return startServer(tb, tb.TempDir(), opts)
}

// call sends a request; body nil sends none. hdr is name, value pairs.
func (s *testServer) call(tb testing.TB, method, path string, body io.Reader, hdr ...string) apiResp {
	tb.Helper()
	r := s.do(tb, method, path, body, hdr...)
	return apiResp{status: r.StatusCode, header: r.Header, body: r.Body}
}

// blob pushes data into repo and describes it with mediaType.
func (s *testServer) blob(tb testing.TB, repo, mediaType string, data []byte) v1.Descriptor {
	tb.Helper()
	d := s.pushBlob(tb, repo, data)
	d.MediaType = mediaType
	return d
}

func (s *testServer) manifest(tb testing.TB, repo, ref, contentType string, body []byte) apiResp {
	tb.Helper()
	r := s.putManifest(tb, repo, ref, contentType, body)
	return apiResp{status: r.StatusCode, header: r.Header, body: r.Body}
}

// ociManifest is imageManifest with annotations.
func ociManifest(config v1.Descriptor, layers []v1.Descriptor, subject *v1.Descriptor, artifactType string, annotations map[string]string) v1.Manifest {
	m := imageManifest(config, layers, subject, artifactType)
	m.Annotations = annotations
	return m
}

// pushedImage pushes a config and a layer into repo and returns the bytes
// of a manifest using them (not pushed).
func (e *testServer) pushedImage(tb testing.TB, repo, seed string) []byte {
	tb.Helper()
	cfg := e.blob(tb, repo, v1.MediaTypeImageConfig, []byte(`{"seed":"`+seed+`"}`))
	layer := e.blob(tb, repo, v1.MediaTypeImageLayerGzip, []byte("layer of "+seed))
	return mustJSON(tb, ociManifest(cfg, []v1.Descriptor{layer}, nil, "", nil))
}

func TestAPIErrorCodes(t *testing.T) {
	unknown := digest.FromString("never pushed")
	tests := []struct {
		name   string
		setup  func(t *testing.T, e *testServer) (method, path string, body []byte, hdr []string)
		status int
		code   string
	}{
		{"invalid repository name (upper case)", func(*testing.T, *testServer) (string, string, []byte, []string) {
			return http.MethodGet, "/v2/Team/App/tags/list", nil, nil
		}, 400, "NAME_INVALID"},
		{"invalid repository name (double separator)", func(*testing.T, *testServer) (string, string, []byte, []string) {
			return http.MethodGet, "/v2/a..b/manifests/latest", nil, nil
		}, 400, "NAME_INVALID"},
		{"invalid repository name (empty component)", func(*testing.T, *testServer) (string, string, []byte, []string) {
			return http.MethodPost, "/v2/a//b/blobs/uploads/", nil, nil
		}, 400, "NAME_INVALID"},
		{"repository name too long", func(*testing.T, *testServer) (string, string, []byte, []string) {
			return http.MethodGet, "/v2/" + strings.Repeat("a", 256) + "/tags/list", nil, nil
		}, 400, "NAME_INVALID"},
		{"unknown blob", func(*testing.T, *testServer) (string, string, []byte, []string) {
			return http.MethodGet, "/v2/r/blobs/" + unknown.String(), nil, nil
		}, 404, "BLOB_UNKNOWN"},
		{"blob of another repository", func(t *testing.T, e *testServer) (string, string, []byte, []string) {
			d := e.blob(t, "other", "x", []byte("elsewhere"))
			return http.MethodGet, "/v2/r/blobs/" + d.Digest.String(), nil, nil
		}, 404, "BLOB_UNKNOWN"},
		{"invalid blob digest", func(*testing.T, *testServer) (string, string, []byte, []string) {
			return http.MethodGet, "/v2/r/blobs/sha256:xyz", nil, nil
		}, 400, "DIGEST_INVALID"},
		{"monolithic upload with invalid digest", func(*testing.T, *testServer) (string, string, []byte, []string) {
			return http.MethodPost, "/v2/r/blobs/uploads/?digest=sha256:nothex", []byte("data"), nil
		}, 400, "DIGEST_INVALID"},
		{"unknown manifest", func(*testing.T, *testServer) (string, string, []byte, []string) {
			return http.MethodGet, "/v2/r/manifests/latest", nil, nil
		}, 404, "MANIFEST_UNKNOWN"},
		{"tags of unknown repository", func(*testing.T, *testServer) (string, string, []byte, []string) {
			return http.MethodGet, "/v2/nobody/tags/list", nil, nil
		}, 404, "NAME_UNKNOWN"},
		{"tags with a bad n", func(t *testing.T, e *testServer) (string, string, []byte, []string) {
			return http.MethodGet, "/v2/r/tags/list?n=-1", nil, nil
		}, 400, ""},
		{"unknown upload", func(*testing.T, *testServer) (string, string, []byte, []string) {
			return http.MethodGet, "/v2/r/blobs/uploads/0123456789abcdef", nil, nil
		}, 404, "BLOB_UPLOAD_UNKNOWN"},
		{"upload of another repository", func(t *testing.T, e *testServer) (string, string, []byte, []string) {
			r := e.call(t, http.MethodPost, "/v2/other/blobs/uploads/", nil)
			return http.MethodPatch, "/v2/r/blobs/uploads/" + r.header.Get("Docker-Upload-UUID"), []byte("x"), nil
		}, 404, "BLOB_UPLOAD_UNKNOWN"},
		{"finish upload without digest", func(t *testing.T, e *testServer) (string, string, []byte, []string) {
			r := e.call(t, http.MethodPost, "/v2/r/blobs/uploads/", nil)
			return http.MethodPut, r.header.Get("Location"), nil, nil
		}, 400, "DIGEST_INVALID"},
		{"method not allowed", func(*testing.T, *testServer) (string, string, []byte, []string) {
			return http.MethodPut, "/v2/r/blobs/" + unknown.String(), []byte("x"), nil
		}, 405, "UNSUPPORTED"},
		{"unknown endpoint", func(*testing.T, *testServer) (string, string, []byte, []string) {
			return http.MethodGet, "/v2/r/whatever", nil, nil
		}, 404, "NAME_UNKNOWN"},
		{"manifest is not JSON", func(*testing.T, *testServer) (string, string, []byte, []string) {
			return http.MethodPut, "/v2/r/manifests/v1", []byte("{not json"), []string{"Content-Type", v1.MediaTypeImageManifest}
		}, 400, "MANIFEST_INVALID"},
		{"manifest with trailing data", func(t *testing.T, e *testServer) (string, string, []byte, []string) {
			return http.MethodPut, "/v2/r/manifests/v1", append(e.pushedImage(t, "r", "trail"), []byte("{}")...), []string{"Content-Type", v1.MediaTypeImageManifest}
		}, 400, "MANIFEST_INVALID"},
		{"Content-Type differs from mediaType", func(t *testing.T, e *testServer) (string, string, []byte, []string) {
			return http.MethodPut, "/v2/r/manifests/v1", e.pushedImage(t, "r", "ct"), []string{"Content-Type", v1.MediaTypeImageIndex}
		}, 400, "MANIFEST_INVALID"},
		{"schema 1 manifest", func(*testing.T, *testServer) (string, string, []byte, []string) {
			return http.MethodPut, "/v2/r/manifests/v1", []byte(`{"schemaVersion":1,"name":"r","tag":"v1"}`), []string{"Content-Type", "application/vnd.docker.distribution.manifest.v1+prettyjws"}
		}, 400, "MANIFEST_INVALID"},
		{"manifest with a missing layer", func(t *testing.T, e *testServer) (string, string, []byte, []string) {
			cfg := e.blob(t, "r", v1.MediaTypeImageConfig, []byte("{}"))
			layer := v1.Descriptor{MediaType: v1.MediaTypeImageLayerGzip, Digest: unknown, Size: 12}
			return http.MethodPut, "/v2/r/manifests/v1", mustJSON(t, ociManifest(cfg, []v1.Descriptor{layer}, nil, "", nil)), []string{"Content-Type", v1.MediaTypeImageManifest}
		}, 400, "MANIFEST_BLOB_UNKNOWN"},
		{"manifest with a missing config", func(t *testing.T, e *testServer) (string, string, []byte, []string) {
			cfg := v1.Descriptor{MediaType: v1.MediaTypeImageConfig, Digest: unknown, Size: 2}
			return http.MethodPut, "/v2/r/manifests/v1", mustJSON(t, ociManifest(cfg, nil, nil, "", nil)), []string{"Content-Type", v1.MediaTypeImageManifest}
		}, 400, "MANIFEST_BLOB_UNKNOWN"},
		{"manifest with a layer of the wrong size", func(t *testing.T, e *testServer) (string, string, []byte, []string) {
			cfg := e.blob(t, "r", v1.MediaTypeImageConfig, []byte("{}"))
			layer := e.blob(t, "r", v1.MediaTypeImageLayerGzip, []byte("twelve bytes"))
			layer.Size++
			return http.MethodPut, "/v2/r/manifests/v1", mustJSON(t, ociManifest(cfg, []v1.Descriptor{layer}, nil, "", nil)), []string{"Content-Type", v1.MediaTypeImageManifest}
		}, 400, "MANIFEST_INVALID"},
		{"manifest using a blob of another repository", func(t *testing.T, e *testServer) (string, string, []byte, []string) {
			return http.MethodPut, "/v2/r/manifests/v1", e.pushedImage(t, "other", "x"), []string{"Content-Type", v1.MediaTypeImageManifest}
		}, 400, "MANIFEST_BLOB_UNKNOWN"},
		{"index with a missing child", func(t *testing.T, e *testServer) (string, string, []byte, []string) {
			idx := v1.Index{MediaType: v1.MediaTypeImageIndex, Manifests: []v1.Descriptor{{MediaType: v1.MediaTypeImageManifest, Digest: unknown, Size: 100}}}
			idx.SchemaVersion = 2
			return http.MethodPut, "/v2/r/manifests/v1", mustJSON(t, idx), []string{"Content-Type", v1.MediaTypeImageIndex}
		}, 400, "MANIFEST_BLOB_UNKNOWN"},
		{"manifest PUT by a digest it does not have", func(t *testing.T, e *testServer) (string, string, []byte, []string) {
			return http.MethodPut, "/v2/r/manifests/" + unknown.String(), e.pushedImage(t, "r", "dg"), []string{"Content-Type", v1.MediaTypeImageManifest}
		}, 400, "DIGEST_INVALID"},
		{"manifest with an invalid ?tag=", func(t *testing.T, e *testServer) (string, string, []byte, []string) {
			return http.MethodPut, "/v2/r/manifests/v1?tag=-bad", e.pushedImage(t, "r", "tag"), []string{"Content-Type", v1.MediaTypeImageManifest}
		}, 400, "MANIFEST_INVALID"},
		{"referrers of an invalid digest", func(*testing.T, *testServer) (string, string, []byte, []string) {
			return http.MethodGet, "/v2/r/referrers/latest", nil, nil
		}, 400, "DIGEST_INVALID"},
		{"delete unknown manifest", func(*testing.T, *testServer) (string, string, []byte, []string) {
			return http.MethodDelete, "/v2/r/manifests/" + unknown.String(), nil, nil
		}, 404, "MANIFEST_UNKNOWN"},
		{"delete unknown blob", func(*testing.T, *testServer) (string, string, []byte, []string) {
			return http.MethodDelete, "/v2/r/blobs/" + unknown.String(), nil, nil
		}, 404, "BLOB_UNKNOWN"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newAPIEnv(t, Options{})
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
	e := newAPIEnv(t, Options{})
	claimed := digest.FromString("what the client says")
	for _, body := range []io.Reader{strings.NewReader("what it sends"), chunkedReader{strings.NewReader("what it sends")}} {
		r := e.call(t, http.MethodPost, "/v2/r/blobs/uploads/?digest="+claimed.String(), body)
		if r.status != http.StatusBadRequest || r.code() != "DIGEST_INVALID" {
			t.Fatalf("wrong digest: %v, want 400 DIGEST_INVALID", r)
		}
	}
	if got := countFiles(t, e.Dir, "blobs"); got != 0 {
		t.Errorf("blob files after a refused upload: %v", got)
	}
	if got := countFiles(t, e.Dir, "uploads"); got != 0 {
		t.Errorf("upload files after a refused upload: %v", got)
	}
	for _, d := range []digest.Digest{claimed, digest.FromString("what it sends")} {
		if r := e.call(t, http.MethodHead, "/v2/r/blobs/"+d.String(), nil); r.status != http.StatusNotFound {
			t.Errorf("HEAD %s after refused upload: %v", d, r)
		}
	}
}

func TestAPIManifestTooLarge(t *testing.T) {
	e := newAPIEnv(t, Options{MaxManifestBytes: 512})
	cfg := e.blob(t, "r", v1.MediaTypeImageConfig, []byte("{}"))
	big := mustJSON(t, ociManifest(cfg, nil, nil, "", map[string]string{"pad": strings.Repeat("x", 600)}))
	small := mustJSON(t, ociManifest(cfg, nil, nil, "", map[string]string{"pad": "x"}))
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
			e := newAPIEnv(t, Options{})
			mt := v1.MediaTypeImageManifest
			cfg := e.blob(t, "r", v1.MediaTypeImageConfig, []byte("{}"))
			var body []byte
			if strings.Contains(tc.layer.MediaType, "docker") {
				mt = "application/vnd.docker.distribution.manifest.v2+json"
				cfg.MediaType = "application/vnd.docker.container.image.v1+json"
				m := ociManifest(cfg, []v1.Descriptor{tc.layer}, nil, "", nil)
				m.MediaType = mt
				body = mustJSON(t, m)
			} else {
				body = mustJSON(t, ociManifest(cfg, []v1.Descriptor{tc.layer}, nil, "", nil))
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
	e := newAPIEnv(t, Options{})
	cfg := e.blob(t, "r", "application/vnd.example.sbom", []byte(`{"sbom":true}`))
	subject := v1.Descriptor{MediaType: v1.MediaTypeImageManifest, Digest: digest.FromString("a subject not pushed yet"), Size: 321}
	body := mustJSON(t, ociManifest(cfg, nil, &subject, "application/vnd.example.sbom", nil))
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
	e := newAPIEnv(t, Options{})
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

func TestAPIChunkedUploadVariants(t *testing.T) {
	data := []byte(strings.Repeat("chunked upload data ", 50))
	d := digest.FromBytes(data)
	tests := []struct {
		name string
		run  func(t *testing.T, e *testServer, loc string) apiResp // returns the final PUT
	}{
		{"PATCH without Content-Range (streamed), empty PUT", func(t *testing.T, e *testServer, loc string) apiResp {
			r := e.call(t, http.MethodPatch, loc, chunkedReader{bytes.NewReader(data)})
			if r.status != 202 || r.header.Get("Range") != rangeOf(len(data)) {
				t.Fatalf("PATCH: %v, Range %q", r, r.header.Get("Range"))
			}
			return e.call(t, http.MethodPut, r.header.Get("Location")+"?digest="+d.String(), nil)
		}},
		{"whole blob in the PUT", func(t *testing.T, e *testServer, loc string) apiResp {
			return e.call(t, http.MethodPut, loc+"?digest="+d.String(), bytes.NewReader(data))
		}},
		{"two PATCHes, then PUT", func(t *testing.T, e *testServer, loc string) apiResp {
			e.call(t, http.MethodPatch, loc, bytes.NewReader(data[:100]), "Content-Range", "0-99")
			e.call(t, http.MethodPatch, loc, bytes.NewReader(data[100:]), "Content-Range", fmt.Sprintf("100-%d", len(data)-1))
			return e.call(t, http.MethodPut, loc+"?digest="+d.String(), nil)
		}},
		{"sha512", func(t *testing.T, e *testServer, loc string) apiResp {
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
			e := newAPIEnv(t, Options{})
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

func TestAPIDeleteManifestListedByIndexIsRefused(t *testing.T) {
	e := newAPIEnv(t, Options{})
	child := e.pushedImage(t, "r", "child")
	if r := e.manifest(t, "r", "child", v1.MediaTypeImageManifest, child); r.status != 201 {
		t.Fatal(r)
	}
	idx := v1.Index{MediaType: v1.MediaTypeImageIndex, Manifests: []v1.Descriptor{{MediaType: v1.MediaTypeImageManifest, Digest: digest.FromBytes(child), Size: int64(len(child))}}}
	idx.SchemaVersion = 2
	if r := e.manifest(t, "r", "multi", v1.MediaTypeImageIndex, mustJSON(t, idx)); r.status != 201 {
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
	e := newAPIEnv(t, Options{})
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
	e := newAPIEnv(t, Options{})
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
			e.Handler.ServeHTTP(get, httptest.NewRequest(http.MethodGet, p, nil))
			head := httptest.NewRecorder()
			e.Handler.ServeHTTP(head, httptest.NewRequest(http.MethodHead, p, nil))
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

func TestAPIBaseAndManifestNotModified(t *testing.T) {
	e := newAPIEnv(t, Options{})
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
			e := newAPIEnv(t, Options{})
			loc := e.call(t, http.MethodPost, "/v2/r/blobs/uploads/", nil).header.Get("Location")
			req := httptest.NewRequest(http.MethodPatch, loc, &failingBody{data: []byte("hello")})
			if withRange {
				req.Header.Set("Content-Range", "0-9")
			}
			rec := httptest.NewRecorder()
			e.Handler.ServeHTTP(rec, req)
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
	e := newAPIEnv(t, Options{})
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
		e.Handler.ServeHTTP(rec, req)
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
	e := newAPIEnv(t, Options{})
	d := digest.FromString("bytes gone")
	if err := e.Meta.LinkBlob(context.Background(), "src", d.String(), 10); err != nil {
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
