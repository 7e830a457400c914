package registry

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestSpecErrors checks the spec's answers to wrong or unusual requests.
func TestSpecErrors(t *testing.T) {
	s := newServer(t)
	const repo = "team/app"
	m, _ := s.image(t, repo, "base")
	cfg, layer := m.Config, m.Layers[0]
	missing := v1.Descriptor{MediaType: v1.MediaTypeImageLayerGzip, Digest: digest.FromString("not pushed"), Size: 10}
	badBlob := []byte("some bytes")

	withLayers := func(layers ...v1.Descriptor) []byte {
		return mustJSON(t, imageManifest(cfg, layers, nil, ""))
	}
	nonDist := missing
	nonDist.MediaType = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
	withURLs := missing
	withURLs.URLs = []string{"https://example.com/layer"}
	subject := v1.Descriptor{MediaType: v1.MediaTypeImageManifest, Digest: digest.FromString("absent subject"), Size: 123}
	withSubject := mustJSON(t, imageManifest(cfg, []v1.Descriptor{layer}, &subject, "application/vnd.example.sbom"))
	big := imageManifest(cfg, []v1.Descriptor{layer}, nil, "")
	big.Annotations = map[string]string{"pad": strings.Repeat("x", 5000)}
	bigBody := mustJSON(t, big)
	docker := map[string]any{
		"schemaVersion": 2,
		"mediaType":     MediaTypeDockerManifest,
		"config":        map[string]any{"mediaType": "application/vnd.docker.container.image.v1+json", "digest": cfg.Digest, "size": cfg.Size},
		"layers":        []any{map[string]any{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": layer.Digest, "size": layer.Size}},
	}
	wrongSize := layer
	wrongSize.Size++

	type check func(t *testing.T, r response)
	noBlobStored := func(t *testing.T, _ response) {
		if r := s.do(t, http.MethodHead, "/v2/"+repo+"/blobs/"+digest.FromBytes(badBlob).String(), nil); r.StatusCode != http.StatusNotFound {
			t.Errorf("blob stored anyway: HEAD %d", r.StatusCode)
		}
		if n := countFiles(t, s.Dir, "uploads"); n != 0 {
			t.Errorf("%d upload files left", n)
		}
	}
	header := func(name, want string) check {
		return func(t *testing.T, r response) {
			if got := r.Header.Get(name); got != want {
				t.Errorf("%s = %q, want %q", name, got, want)
			}
		}
	}

	tests := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        []byte
		status      int
		code        string // "" for success answers
		checks      []check
	}{
		{"invalid name uppercase", "GET", "/v2/Team/App/tags/list", "", nil, 400, codeNameInvalid, nil},
		{"invalid name double dot", "GET", "/v2/a..b/manifests/latest", "", nil, 400, codeNameInvalid, nil},
		{"invalid name trailing slash", "GET", "/v2/team//app/blobs/" + cfg.Digest.String(), "", nil, 400, codeNameInvalid, nil},
		{"invalid name too long", "GET", "/v2/" + strings.Repeat("a", 256) + "/tags/list", "", nil, 400, codeNameInvalid, nil},
		{"unknown endpoint", "GET", "/v2/team/app/nothing", "", nil, 404, codeNameUnknown, nil},
		{"unknown blob", "GET", "/v2/" + repo + "/blobs/" + missing.Digest.String(), "", nil, 404, codeBlobUnknown, nil},
		{"blob of another repository", "GET", "/v2/other/repo/blobs/" + cfg.Digest.String(), "", nil, 404, codeBlobUnknown, nil},
		{"invalid blob digest", "GET", "/v2/" + repo + "/blobs/sha256:xyz", "", nil, 400, codeDigestInvalid, nil},
		{"monolithic POST wrong digest", "POST", "/v2/" + repo + "/blobs/uploads/?digest=" + digest.FromString("other").String(),
			"application/octet-stream", badBlob, 400, codeDigestInvalid, []check{noBlobStored}},
		{"monolithic POST malformed digest", "POST", "/v2/" + repo + "/blobs/uploads/?digest=sha256:1234",
			"application/octet-stream", badBlob, 400, codeDigestInvalid, []check{noBlobStored}},
		{"monolithic POST unsupported algorithm", "POST", "/v2/" + repo + "/blobs/uploads/?digest=md5:d41d8cd98f00b204e9800998ecf8427e",
			"application/octet-stream", badBlob, 400, codeDigestInvalid, []check{noBlobStored}},
		{"manifest too large", "PUT", "/v2/" + repo + "/manifests/big", v1.MediaTypeImageManifest, bigBody, 413, codeManifestInvalid, nil},
		{"manifest invalid JSON", "PUT", "/v2/" + repo + "/manifests/bad", v1.MediaTypeImageManifest, []byte(`{"schemaVersion": 2,`), 400, codeManifestInvalid, nil},
		{"manifest trailing data", "PUT", "/v2/" + repo + "/manifests/bad", v1.MediaTypeImageManifest, append(withLayers(layer), []byte(`{}`)...), 400, codeManifestInvalid, nil},
		{"manifest schema version 1", "PUT", "/v2/" + repo + "/manifests/bad", v1.MediaTypeImageManifest, []byte(`{"schemaVersion":1}`), 400, codeManifestInvalid, nil},
		{"content type mismatch", "PUT", "/v2/" + repo + "/manifests/bad", MediaTypeDockerManifest, withLayers(layer), 400, codeManifestInvalid, nil},
		{"unsupported media type", "PUT", "/v2/" + repo + "/manifests/bad", "application/x-whatever", []byte(`{"schemaVersion":2}`), 400, codeManifestInvalid, nil},
		{"invalid tag", "PUT", "/v2/" + repo + "/manifests/-bad", v1.MediaTypeImageManifest, withLayers(layer), 400, codeManifestInvalid, nil},
		{"digest does not match body", "PUT", "/v2/" + repo + "/manifests/" + digest.FromString("x").String(), v1.MediaTypeImageManifest, withLayers(layer), 400, codeDigestInvalid, nil},
		{"missing layer", "PUT", "/v2/" + repo + "/manifests/missing", v1.MediaTypeImageManifest, withLayers(layer, missing), 400, codeManifestBlobUnknown, nil},
		{"layer with wrong size", "PUT", "/v2/" + repo + "/manifests/wrongsize", v1.MediaTypeImageManifest, withLayers(wrongSize), 400, codeManifestInvalid, nil},
		{"missing non-distributable layer", "PUT", "/v2/" + repo + "/manifests/nondist", v1.MediaTypeImageManifest, withLayers(layer, nonDist), 201, "", nil},
		{"missing layer with urls", "PUT", "/v2/" + repo + "/manifests/urls", v1.MediaTypeImageManifest, withLayers(layer, withURLs), 201, "", nil},
		{"docker manifest", "PUT", "/v2/" + repo + "/manifests/docker", MediaTypeDockerManifest, mustJSON(t, docker), 201, "",
			[]check{header("Docker-Content-Digest", digest.FromBytes(mustJSON(t, docker)).String())}},
		{"missing subject", "PUT", "/v2/" + repo + "/manifests/sbom", v1.MediaTypeImageManifest, withSubject, 201, "",
			[]check{header("OCI-Subject", subject.Digest.String()), header("Location", "/v2/"+repo+"/manifests/"+digest.FromBytes(withSubject).String())}},
		{"unknown manifest", "GET", "/v2/" + repo + "/manifests/nosuchtag", "", nil, 404, codeManifestUnknown, nil},
		{"unknown upload", "GET", "/v2/" + repo + "/blobs/uploads/abcdef", "", nil, 404, codeBlobUploadUnknown, nil},
		{"path traversal upload id", "PATCH", "/v2/" + repo + "/blobs/uploads/..%2F..%2Fx", "application/octet-stream", []byte("x"), 404, "", nil},
		{"tags of unknown repository", "GET", "/v2/no/such/repo/tags/list", "", nil, 404, codeNameUnknown, nil},
		{"invalid n", "GET", "/v2/" + repo + "/tags/list?n=-1", "", nil, 400, codeUnsupported, nil},
		{"method not allowed", "POST", "/v2/" + repo + "/tags/list", "", nil, 405, codeUnsupported, nil},
		{"finish upload without digest", "PUT", "/v2/" + repo + "/blobs/uploads/abcdef", "", nil, 400, codeDigestInvalid, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			if tc.body != nil {
				body = bytes.NewReader(tc.body)
			}
			var hdr []string
			if tc.contentType != "" {
				hdr = []string{"Content-Type", tc.contentType}
			}
			r := s.do(t, tc.method, tc.path, body, hdr...)
			if r.StatusCode != tc.status {
				t.Fatalf("status %d, want %d; body %s", r.StatusCode, tc.status, r.Body)
			}
			if tc.code != "" {
				if got := r.errCode(); got != tc.code {
					t.Errorf("code %q, want %q; body %s", got, tc.code, r.Body)
				}
				if ct := r.Header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("error Content-Type %q", ct)
				}
			}
			for _, c := range tc.checks {
				c(t, r)
			}
		})
	}
}

func TestManifestTooLargeChunked(t *testing.T) {
	s := startServer(t, t.TempDir(), Options{MaxManifestBytes: 100})
	body := `{"schemaVersion":2,"pad":"` + strings.Repeat("x", 200) + `"}`
	// A reader of unknown length is sent chunked: the limit applies while reading.
	r := s.do(t, http.MethodPut, "/v2/r/manifests/t", io.MultiReader(strings.NewReader(body)), "Content-Type", v1.MediaTypeImageManifest)
	if r.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413; %s", r.StatusCode, r.Body)
	}
}

func TestManifestRoundTripAndTags(t *testing.T) {
	s := newServer(t)
	const repo = "team/app"
	_, body := s.image(t, repo, "one")
	d := digest.FromBytes(body)
	r := s.putManifest(t, repo, d.String()+"?tag=a&tag=b", v1.MediaTypeImageManifest, body)
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("put: %d %s", r.StatusCode, r.Body)
	}
	if got := r.Header.Values("OCI-Tag"); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Fatalf("OCI-Tag = %v, want [a b]", got)
	}
	if got := r.Header.Get("Docker-Content-Digest"); got != d.String() {
		t.Fatalf("Docker-Content-Digest = %q", got)
	}
	for _, ref := range []string{"a", "b", d.String()} {
		g := s.do(t, http.MethodGet, "/v2/"+repo+"/manifests/"+ref, nil)
		if g.StatusCode != http.StatusOK || !bytes.Equal(g.Body, body) {
			t.Fatalf("GET %s: %d %s", ref, g.StatusCode, g.Body)
		}
		if g.Header.Get("Content-Type") != v1.MediaTypeImageManifest || g.Header.Get("Docker-Content-Digest") != d.String() {
			t.Fatalf("GET %s headers: %v", ref, g.Header)
		}
	}
	// If-None-Match with the digest answers 304.
	if g := s.do(t, http.MethodGet, "/v2/"+repo+"/manifests/a", nil, "If-None-Match", `"`+d.String()+`"`); g.StatusCode != http.StatusNotModified {
		t.Fatalf("If-None-Match: %d", g.StatusCode)
	}
	// An invalid ?tag refuses the whole push.
	_, body2 := s.image(t, repo, "two")
	d2 := digest.FromBytes(body2)
	if r := s.putManifest(t, repo, d2.String()+"?tag=ok&tag=-bad", v1.MediaTypeImageManifest, body2); r.StatusCode != 400 {
		t.Fatalf("bad ?tag: %d", r.StatusCode)
	}
	if g := s.do(t, http.MethodGet, "/v2/"+repo+"/manifests/ok", nil); g.StatusCode != 404 {
		t.Fatalf("tag ok set by a refused push: %d", g.StatusCode)
	}
	// Tags move; deleting a tag keeps the manifest; deleting the manifest drops its tags.
	if r := s.putManifest(t, repo, "a", v1.MediaTypeImageManifest, body2); r.StatusCode != 201 {
		t.Fatalf("retag: %d %s", r.StatusCode, r.Body)
	}
	if g := s.do(t, http.MethodGet, "/v2/"+repo+"/manifests/a", nil); g.Header.Get("Docker-Content-Digest") != d2.String() {
		t.Fatal("tag a did not move")
	}
	if r := s.do(t, http.MethodDelete, "/v2/"+repo+"/manifests/b", nil); r.StatusCode != http.StatusAccepted {
		t.Fatalf("delete tag: %d", r.StatusCode)
	}
	if g := s.do(t, http.MethodGet, "/v2/"+repo+"/manifests/"+d.String(), nil); g.StatusCode != 200 {
		t.Fatalf("manifest gone with its tag: %d", g.StatusCode)
	}
	if r := s.do(t, http.MethodDelete, "/v2/"+repo+"/manifests/"+d2.String(), nil); r.StatusCode != http.StatusAccepted {
		t.Fatalf("delete manifest: %d", r.StatusCode)
	}
	if g := s.do(t, http.MethodGet, "/v2/"+repo+"/manifests/a", nil); g.StatusCode != 404 {
		t.Fatalf("tag a survived its manifest: %d", g.StatusCode)
	}
	if r := s.do(t, http.MethodDelete, "/v2/"+repo+"/manifests/"+d2.String(), nil); r.StatusCode != 404 || r.errCode() != codeManifestUnknown {
		t.Fatalf("second delete: %d %s", r.StatusCode, r.Body)
	}
}

func TestIndexChildren(t *testing.T) {
	s := newServer(t)
	const repo = "multi"
	_, child := s.image(t, repo, "child")
	cd := digest.FromBytes(child)
	idx := v1.Index{MediaType: v1.MediaTypeImageIndex, Manifests: []v1.Descriptor{{MediaType: v1.MediaTypeImageManifest, Digest: cd, Size: int64(len(child))}}}
	idx.SchemaVersion = 2
	ib := mustJSON(t, idx)
	if r := s.putManifest(t, repo, "idx", v1.MediaTypeImageIndex, ib); r.StatusCode != 400 || r.errCode() != codeManifestBlobUnknown {
		t.Fatalf("index before child: %d %s", r.StatusCode, r.Body)
	}
	if r := s.putManifest(t, repo, cd.String(), v1.MediaTypeImageManifest, child); r.StatusCode != 201 {
		t.Fatalf("child: %d %s", r.StatusCode, r.Body)
	}
	if r := s.putManifest(t, repo, "idx", v1.MediaTypeImageIndex, ib); r.StatusCode != 201 {
		t.Fatalf("index: %d %s", r.StatusCode, r.Body)
	}
	if r := s.do(t, http.MethodDelete, "/v2/"+repo+"/manifests/"+cd.String(), nil); r.StatusCode != http.StatusMethodNotAllowed || r.errCode() != codeDenied {
		t.Fatalf("delete child of an index: %d %s", r.StatusCode, r.Body)
	}
}

func TestChunkedUploadOutOfOrder(t *testing.T) {
	s := newServer(t)
	const repo = "team/chunks"
	data := []byte("0123456789abcdefghij")
	d := digest.FromBytes(data)

	r := s.do(t, http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil)
	if r.StatusCode != http.StatusAccepted || r.Header.Get("Range") != "0-0" {
		t.Fatalf("start: %d Range %q", r.StatusCode, r.Header.Get("Range"))
	}
	loc := r.Header.Get("Location")
	id := r.Header.Get("Docker-Upload-UUID")
	if loc != "/v2/"+repo+"/blobs/uploads/"+id || id == "" {
		t.Fatalf("Location %q, id %q", loc, id)
	}
	patch := func(start, end int, extra ...string) response {
		hdr := append([]string{"Content-Type", "application/octet-stream", "Content-Range", strings.Join([]string{itoa(start), itoa(end)}, "-")}, extra...)
		return s.do(t, http.MethodPatch, loc, bytes.NewReader(data[start:end+1]), hdr...)
	}
	if r := patch(0, 4); r.StatusCode != http.StatusAccepted || r.Header.Get("Range") != "0-4" {
		t.Fatalf("chunk 0-4: %d Range %q %s", r.StatusCode, r.Header.Get("Range"), r.Body)
	}
	// Skipping ahead: 416, and the answer says where the upload stands.
	r = patch(10, 14)
	if r.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		t.Fatalf("out-of-order chunk: %d %s", r.StatusCode, r.Body)
	}
	if r.Header.Get("Range") != "0-4" || r.Header.Get("Location") != loc {
		t.Fatalf("416 headers: Range %q Location %q", r.Header.Get("Range"), r.Header.Get("Location"))
	}
	// Re-sending an earlier chunk is out of order too.
	if r := patch(0, 4); r.StatusCode != http.StatusRequestedRangeNotSatisfiable || r.Header.Get("Range") != "0-4" {
		t.Fatalf("repeated chunk: %d Range %q", r.StatusCode, r.Header.Get("Range"))
	}
	// Content-Length disagreeing with Content-Range is refused without damage.
	if r := s.do(t, http.MethodPatch, loc, bytes.NewReader(data[5:8]), "Content-Range", "5-9"); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("short chunk: %d %s", r.StatusCode, r.Body)
	}
	if r := s.do(t, http.MethodGet, loc, nil); r.StatusCode != http.StatusNoContent || r.Header.Get("Range") != "0-4" {
		t.Fatalf("status: %d Range %q", r.StatusCode, r.Header.Get("Range"))
	}
	if r := patch(5, 9); r.StatusCode != http.StatusAccepted || r.Header.Get("Range") != "0-9" {
		t.Fatalf("chunk 5-9: %d Range %q", r.StatusCode, r.Header.Get("Range"))
	}
	// A chunk without Content-Range (streamed) is appended.
	if r := s.do(t, http.MethodPatch, loc, bytes.NewReader(data[10:15])); r.StatusCode != http.StatusAccepted || r.Header.Get("Range") != "0-14" {
		t.Fatalf("streamed chunk: %d Range %q", r.StatusCode, r.Header.Get("Range"))
	}
	// The last chunk comes with the PUT.
	r = s.do(t, http.MethodPut, loc+"?digest="+url.QueryEscape(d.String()), bytes.NewReader(data[15:]),
		"Content-Range", "15-19", "Content-Type", "application/octet-stream")
	if r.StatusCode != http.StatusCreated || r.Header.Get("Docker-Content-Digest") != d.String() {
		t.Fatalf("finish: %d %s", r.StatusCode, r.Body)
	}
	if g := s.do(t, http.MethodGet, "/v2/"+repo+"/blobs/"+d.String(), nil); g.StatusCode != 200 || !bytes.Equal(g.Body, data) {
		t.Fatalf("blob: %d %q", g.StatusCode, g.Body)
	}
	if r := s.do(t, http.MethodGet, loc, nil); r.StatusCode != http.StatusNotFound {
		t.Fatalf("upload still open after finish: %d", r.StatusCode)
	}
	if n := countFiles(t, s.Dir, "uploads"); n != 0 {
		t.Fatalf("%d upload files left", n)
	}
}

func TestUploadWrongDigestAndCancel(t *testing.T) {
	s := newServer(t)
	const repo = "r"
	start := func() string {
		r := s.do(t, http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil)
		if r.StatusCode != http.StatusAccepted {
			t.Fatalf("start: %d", r.StatusCode)
		}
		return r.Header.Get("Location")
	}
	loc := start()
	if r := s.do(t, http.MethodPatch, loc, strings.NewReader("hello")); r.StatusCode != 202 {
		t.Fatalf("patch: %d", r.StatusCode)
	}
	wrong := digest.FromString("bye")
	r := s.do(t, http.MethodPut, loc+"?digest="+wrong.String(), nil)
	if r.StatusCode != 400 || r.errCode() != codeDigestInvalid {
		t.Fatalf("wrong digest: %d %s", r.StatusCode, r.Body)
	}
	if r := s.do(t, http.MethodHead, "/v2/"+repo+"/blobs/"+wrong.String(), nil); r.StatusCode != 404 {
		t.Fatalf("wrong blob stored: %d", r.StatusCode)
	}
	if r := s.do(t, http.MethodHead, "/v2/"+repo+"/blobs/"+digest.FromString("hello").String(), nil); r.StatusCode != 404 {
		t.Fatalf("blob stored under its real digest: %d", r.StatusCode)
	}
	loc = start()
	if r := s.do(t, http.MethodPatch, loc, strings.NewReader("hello")); r.StatusCode != 202 {
		t.Fatalf("patch: %d", r.StatusCode)
	}
	if r := s.do(t, http.MethodDelete, loc, nil); r.StatusCode != http.StatusNoContent {
		t.Fatalf("cancel: %d", r.StatusCode)
	}
	if r := s.do(t, http.MethodGet, loc, nil); r.StatusCode != 404 || r.errCode() != codeBlobUploadUnknown {
		t.Fatalf("status after cancel: %d", r.StatusCode)
	}
	if n := countFiles(t, s.Dir, "uploads"); n != 0 {
		t.Fatalf("%d upload files left", n)
	}
	// Empty blob through a session.
	loc = start()
	empty := digest.FromBytes(nil)
	if r := s.do(t, http.MethodPut, loc+"?digest="+empty.String(), nil); r.StatusCode != 201 {
		t.Fatalf("empty blob: %d %s", r.StatusCode, r.Body)
	}
	if g := s.do(t, http.MethodGet, "/v2/"+repo+"/blobs/"+empty.String(), nil); g.StatusCode != 200 || len(g.Body) != 0 {
		t.Fatalf("empty blob GET: %d %q", g.StatusCode, g.Body)
	}
}

func TestBlobRangeAndHead(t *testing.T) {
	s := newServer(t)
	data := []byte("abcdefghijklmnopqrstuvwxyz")
	desc := s.pushBlob(t, "r", data)
	path := "/v2/r/blobs/" + desc.Digest.String()
	tests := []struct {
		rng    string
		status int
		body   string
	}{
		{"bytes=0-3", 206, "abcd"},
		{"bytes=10-", 206, "klmnopqrstuvwxyz"},
		{"bytes=-3", 206, "xyz"},
		{"bytes=25-100", 206, "z"},
		{"bytes=26-30", 416, ""},
		{"bytes=100-", 416, ""},
		{"", 200, string(data)},
	}
	for _, tc := range tests {
		t.Run(tc.rng, func(t *testing.T) {
			var hdr []string
			if tc.rng != "" {
				hdr = []string{"Range", tc.rng}
			}
			r := s.do(t, http.MethodGet, path, nil, hdr...)
			if r.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", r.StatusCode, tc.status)
			}
			if tc.status != 416 && string(r.Body) != tc.body {
				t.Fatalf("body %q, want %q", r.Body, tc.body)
			}
			if tc.status == 206 && !strings.HasPrefix(r.Header.Get("Content-Range"), "bytes ") {
				t.Fatalf("Content-Range %q", r.Header.Get("Content-Range"))
			}
			if tc.status == 416 && r.Header.Get("Content-Range") != "bytes */26" {
				t.Fatalf("416 Content-Range %q", r.Header.Get("Content-Range"))
			}
		})
	}
	// HEAD answers headers only.
	m, mb := s.image(t, "r", "head")
	_ = m
	if r := s.putManifest(t, "r", "h", v1.MediaTypeImageManifest, mb); r.StatusCode != 201 {
		t.Fatal(r.StatusCode)
	}
	heads := []struct {
		path   string
		status int
		length string
	}{
		{path, 200, "26"},
		{"/v2/r/manifests/h", 200, itoa(len(mb))},
		{"/v2/r/blobs/" + digest.FromString("none").String(), 404, ""},
		{"/v2/r/manifests/none", 404, ""},
		{"/v2/", 200, "2"},
	}
	for _, h := range heads {
		r := s.do(t, http.MethodHead, h.path, nil)
		if r.StatusCode != h.status {
			t.Errorf("HEAD %s: %d, want %d", h.path, r.StatusCode, h.status)
		}
		if len(r.Body) != 0 {
			t.Errorf("HEAD %s has a body: %q", h.path, r.Body)
		}
		if h.length != "" && r.Header.Get("Content-Length") != h.length {
			t.Errorf("HEAD %s Content-Length %q, want %s", h.path, r.Header.Get("Content-Length"), h.length)
		}
	}
}

func TestDeleteBlob(t *testing.T) {
	s := newServer(t)
	m, mb := s.image(t, "r", "del")
	if r := s.putManifest(t, "r", "t", v1.MediaTypeImageManifest, mb); r.StatusCode != 201 {
		t.Fatal(r.StatusCode)
	}
	r := s.do(t, http.MethodDelete, "/v2/r/blobs/"+m.Layers[0].Digest.String(), nil)
	if r.StatusCode != http.StatusMethodNotAllowed || r.errCode() != codeDenied {
		t.Fatalf("delete used blob: %d %s", r.StatusCode, r.Body)
	}
	if g := s.do(t, http.MethodGet, "/v2/r/blobs/"+m.Layers[0].Digest.String(), nil); g.StatusCode != 200 {
		t.Fatalf("used blob gone: %d", g.StatusCode)
	}
	free := s.pushBlob(t, "r", []byte("free"))
	if r := s.do(t, http.MethodDelete, "/v2/r/blobs/"+free.Digest.String(), nil); r.StatusCode != http.StatusAccepted {
		t.Fatalf("delete free blob: %d %s", r.StatusCode, r.Body)
	}
	if g := s.do(t, http.MethodGet, "/v2/r/blobs/"+free.Digest.String(), nil); g.StatusCode != 404 {
		t.Fatalf("deleted blob still served: %d", g.StatusCode)
	}
	if r := s.do(t, http.MethodDelete, "/v2/r/blobs/"+free.Digest.String(), nil); r.StatusCode != 404 || r.errCode() != codeBlobUnknown {
		t.Fatalf("delete again: %d", r.StatusCode)
	}
}

func TestMount(t *testing.T) {
	s := newServer(t)
	desc := s.pushBlob(t, "src", []byte("mount me"))
	r := s.do(t, http.MethodPost, "/v2/dst/blobs/uploads/?mount="+desc.Digest.String()+"&from=src", nil)
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("mount: %d %s", r.StatusCode, r.Body)
	}
	if g := s.do(t, http.MethodGet, "/v2/dst/blobs/"+desc.Digest.String(), nil); g.StatusCode != 200 || string(g.Body) != "mount me" {
		t.Fatalf("mounted blob: %d", g.StatusCode)
	}
	// Not mountable: a new session instead.
	r = s.do(t, http.MethodPost, "/v2/dst2/blobs/uploads/?mount="+digest.FromString("nope").String()+"&from=src", nil)
	if r.StatusCode != http.StatusAccepted || r.Header.Get("Location") == "" {
		t.Fatalf("unmountable: %d", r.StatusCode)
	}
}

func TestTagsListAndCatalog(t *testing.T) {
	s := newServer(t)
	_, mb := s.image(t, "team/app", "t")
	d := digest.FromBytes(mb)
	tags := []string{"v1", "v2", "v3", "latest", "beta"}
	q := ""
	for _, tag := range tags {
		q += "&tag=" + tag
	}
	if r := s.putManifest(t, "team/app", d.String()+"?"+q[1:], v1.MediaTypeImageManifest, mb); r.StatusCode != 201 {
		t.Fatalf("put: %d %s", r.StatusCode, r.Body)
	}
	type tagList struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}
	var all []string
	next := "/v2/team/app/tags/list?n=2"
	for pages := 0; next != ""; pages++ {
		if pages > 5 {
			t.Fatal("too many pages")
		}
		r := s.do(t, http.MethodGet, next, nil)
		if r.StatusCode != 200 {
			t.Fatalf("GET %s: %d", next, r.StatusCode)
		}
		var tl tagList
		if err := json.Unmarshal(r.Body, &tl); err != nil {
			t.Fatal(err)
		}
		if tl.Name != "team/app" || len(tl.Tags) > 2 {
			t.Fatalf("page %+v", tl)
		}
		all = append(all, tl.Tags...)
		next = ""
		if link := r.Header.Get("Link"); link != "" {
			if !strings.HasSuffix(link, `>; rel="next"`) || !strings.HasPrefix(link, "</v2/team/app/tags/list?") {
				t.Fatalf("Link %q", link)
			}
			next = strings.TrimSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`)
		}
	}
	want := []string{"beta", "latest", "v1", "v2", "v3"}
	if !reflect.DeepEqual(all, want) {
		t.Fatalf("paged tags %v, want %v", all, want)
	}
	r := s.do(t, http.MethodGet, "/v2/team/app/tags/list?last=v1", nil)
	var tl tagList
	_ = json.Unmarshal(r.Body, &tl)
	if !reflect.DeepEqual(tl.Tags, []string{"v2", "v3"}) || r.Header.Get("Link") != "" {
		t.Fatalf("last=v1: %+v Link %q", tl, r.Header.Get("Link"))
	}
	r = s.do(t, http.MethodGet, "/v2/team/app/tags/list?n=0", nil)
	_ = json.Unmarshal(r.Body, &tl)
	if r.StatusCode != 200 || len(tl.Tags) != 0 {
		t.Fatalf("n=0: %d %s", r.StatusCode, r.Body)
	}

	// Catalog: repositories with a manifest, paged.
	for _, repo := range []string{"b/one", "a/two"} {
		_, mb := s.image(t, repo, repo)
		if r := s.putManifest(t, repo, "x", v1.MediaTypeImageManifest, mb); r.StatusCode != 201 {
			t.Fatal(r.StatusCode)
		}
	}
	s.pushBlob(t, "blobs/only", []byte("x"))
	type catalog struct {
		Repositories []string `json:"repositories"`
	}
	var c catalog
	r = s.do(t, http.MethodGet, "/v2/_catalog", nil)
	if err := json.Unmarshal(r.Body, &c); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Repositories, []string{"a/two", "b/one", "team/app"}) {
		t.Fatalf("catalog %v", c.Repositories)
	}
	r = s.do(t, http.MethodGet, "/v2/_catalog?n=1&last=a/two", nil)
	c = catalog{}
	_ = json.Unmarshal(r.Body, &c)
	if !reflect.DeepEqual(c.Repositories, []string{"b/one"}) {
		t.Fatalf("catalog page %v", c.Repositories)
	}
	if link := r.Header.Get("Link"); !strings.Contains(link, "last=b%2Fone") || !strings.Contains(link, "n=1") {
		t.Fatalf("catalog Link %q", link)
	}
}

func TestReferrers(t *testing.T) {
	s := newServer(t)
	const repo = "team/app"
	_, subjectBody := s.image(t, repo, "subject")
	subject := v1.Descriptor{MediaType: v1.MediaTypeImageManifest, Digest: digest.FromBytes(subjectBody), Size: int64(len(subjectBody))}
	if r := s.putManifest(t, repo, "latest", v1.MediaTypeImageManifest, subjectBody); r.StatusCode != 201 {
		t.Fatal(r.StatusCode)
	}
	empty := s.pushBlob(t, repo, []byte("{}"))
	empty.MediaType = v1.MediaTypeEmptyJSON
	push := func(artifactType string, annotations map[string]string) digest.Digest {
		m := imageManifest(empty, nil, &subject, artifactType)
		m.Annotations = annotations
		b := mustJSON(t, m)
		d := digest.FromBytes(b)
		r := s.putManifest(t, repo, d.String(), v1.MediaTypeImageManifest, b)
		if r.StatusCode != 201 || r.Header.Get("OCI-Subject") != subject.Digest.String() {
			t.Fatalf("push referrer: %d OCI-Subject %q", r.StatusCode, r.Header.Get("OCI-Subject"))
		}
		return d
	}
	sbom := push("application/vnd.example.sbom", map[string]string{"k": "v"})
	sig := push("application/vnd.example.sig", nil)
	// Without artifactType the config media type stands in.
	_, plain := s.image(t, repo, "plain")
	var pm v1.Manifest
	_ = json.Unmarshal(plain, &pm)
	pm.Subject = &subject
	pb := mustJSON(t, pm)
	if r := s.putManifest(t, repo, digest.FromBytes(pb).String(), v1.MediaTypeImageManifest, pb); r.StatusCode != 201 {
		t.Fatal(r.StatusCode)
	}

	get := func(query string) (v1.Index, response) {
		r := s.do(t, http.MethodGet, "/v2/"+repo+"/referrers/"+subject.Digest.String()+query, nil)
		if r.StatusCode != 200 || r.Header.Get("Content-Type") != v1.MediaTypeImageIndex {
			t.Fatalf("referrers%s: %d %q", query, r.StatusCode, r.Header.Get("Content-Type"))
		}
		var idx v1.Index
		if err := json.Unmarshal(r.Body, &idx); err != nil {
			t.Fatal(err)
		}
		if idx.SchemaVersion != 2 || idx.MediaType != v1.MediaTypeImageIndex {
			t.Fatalf("index header %+v", idx)
		}
		return idx, r
	}
	idx, r := get("")
	if len(idx.Manifests) != 3 || r.Header.Get("OCI-Filters-Applied") != "" {
		t.Fatalf("all referrers: %+v filters %q", idx.Manifests, r.Header.Get("OCI-Filters-Applied"))
	}
	types := map[digest.Digest]string{}
	for _, m := range idx.Manifests {
		types[m.Digest] = m.ArtifactType
		if m.Size <= 0 || m.MediaType != v1.MediaTypeImageManifest {
			t.Errorf("descriptor %+v", m)
		}
	}
	if types[sbom] != "application/vnd.example.sbom" || types[sig] != "application/vnd.example.sig" ||
		types[digest.FromBytes(pb)] != v1.MediaTypeImageConfig {
		t.Fatalf("artifact types %v", types)
	}
	idx, r = get("?artifactType=application/vnd.example.sbom")
	if len(idx.Manifests) != 1 || idx.Manifests[0].Digest != sbom || idx.Manifests[0].Annotations["k"] != "v" {
		t.Fatalf("filtered: %+v", idx.Manifests)
	}
	if r.Header.Get("OCI-Filters-Applied") != "artifactType" {
		t.Fatalf("OCI-Filters-Applied %q", r.Header.Get("OCI-Filters-Applied"))
	}
	// Unknown subject: an empty index, not 404.
	r = s.do(t, http.MethodGet, "/v2/"+repo+"/referrers/"+digest.FromString("nothing").String(), nil)
	var none v1.Index
	_ = json.Unmarshal(r.Body, &none)
	if r.StatusCode != 200 || none.Manifests == nil || len(none.Manifests) != 0 {
		t.Fatalf("no referrers: %d %s", r.StatusCode, r.Body)
	}
	if r := s.do(t, http.MethodGet, "/v2/"+repo+"/referrers/notadigest", nil); r.StatusCode != 400 {
		t.Fatalf("bad digest: %d", r.StatusCode)
	}
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}
