// Package interop drives a real cssc server (started in-process on
// 127.0.0.1) with the libraries real clients are built on:
// go-containerregistry (crane, ko, ...) and oras-go (oras, notation, ...),
// plus plain net/http for what those do not exercise (sha512 digests).
package interop

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	gv1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	orasremote "oras.land/oras-go/v2/registry/remote"

	"github.com/cssc-project/cssc/internal/server/servertest"
)

// Make sure sha512 is linked into the test binary whatever the server
// imports (go-digest only offers algorithms whose hash is linked).
var _ = sha512.New

func start(t *testing.T) *servertest.Server {
	t.Helper()
	srv := servertest.Start(t, servertest.Config(t.TempDir()))
	// Runs before the server stops: a connection a client dialed but never
	// used holds a graceful shutdown for seconds (net/http treats it as
	// active until it has been idle 5 s).
	t.Cleanup(func() {
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
		remote.DefaultTransport.(*http.Transport).CloseIdleConnections()
	})
	return srv
}

func parseRef(t *testing.T, srv *servertest.Server, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(srv.Host+"/"+s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// compareImages checks that got has want's digest and, layer by layer,
// the same compressed bytes (read through the registry).
func compareImages(t *testing.T, want, got gv1.Image) {
	t.Helper()
	wd, err := want.Digest()
	if err != nil {
		t.Fatal(err)
	}
	gd, err := got.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if wd != gd {
		t.Fatalf("image digest %s, want %s", gd, wd)
	}
	wantCfg, err := want.RawConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	gotCfg, err := got.RawConfigFile()
	if err != nil {
		t.Fatalf("pull config: %v", err)
	}
	if !bytes.Equal(wantCfg, gotCfg) {
		t.Fatalf("config differs")
	}
	wl, err := want.Layers()
	if err != nil {
		t.Fatal(err)
	}
	gl, err := got.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(wl) != len(gl) {
		t.Fatalf("%d layers, want %d", len(gl), len(wl))
	}
	for i := range wl {
		wb := layerBytes(t, wl[i])
		gb := layerBytes(t, gl[i])
		if !bytes.Equal(wb, gb) {
			t.Fatalf("layer %d: pulled %d bytes that differ from the %d pushed", i, len(gb), len(wb))
		}
		if d := digest.FromBytes(gb).String(); d != mustDigest(t, wl[i]).String() {
			t.Fatalf("layer %d: pulled bytes hash to %s, want %s", i, d, mustDigest(t, wl[i]))
		}
	}
}

func mustDigest(t *testing.T, l gv1.Layer) gv1.Hash {
	t.Helper()
	d, err := l.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func layerBytes(t *testing.T, l gv1.Layer) []byte {
	t.Helper()
	rc, err := l.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read layer: %v", err)
	}
	if err := rc.Close(); err != nil {
		t.Fatalf("layer verification: %v", err)
	}
	return b
}

func TestGGCRImagePushPull(t *testing.T) {
	srv := start(t)
	img, err := random.Image(64<<10, 3)
	if err != nil {
		t.Fatal(err)
	}
	ref := parseRef(t, srv, "team/app:v1")
	if err := remote.Write(ref, img); err != nil {
		t.Fatalf("push: %v", err)
	}
	pulled, err := remote.Image(ref)
	if err != nil {
		t.Fatalf("pull: %v", err)
	}
	compareImages(t, img, pulled)

	// The tag resolves to the pushed digest, and the manifest is the same.
	want, _ := img.Digest()
	desc, err := remote.Get(ref)
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest != want || desc.MediaType != types.DockerManifestSchema2 && desc.MediaType != types.OCIManifestSchema1 {
		t.Fatalf("GET v1: %s %s, want %s", desc.Digest, desc.MediaType, want)
	}
	raw, _ := img.RawManifest()
	if !bytes.Equal(desc.Manifest, raw) {
		t.Fatalf("manifest bytes differ")
	}
	// By digest too.
	byDigest, err := remote.Image(parseRef(t, srv, "team/app@"+want.String()))
	if err != nil {
		t.Fatal(err)
	}
	compareImages(t, img, byDigest)
}

func TestGGCRMultiPlatformIndex(t *testing.T) {
	srv := start(t)
	platforms := []gv1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}
	images := map[string]gv1.Image{}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range platforms {
		img, err := random.Image(8<<10, 2)
		if err != nil {
			t.Fatal(err)
		}
		img = mutate.MediaType(img, types.OCIManifestSchema1)
		img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
		d, _ := img.Digest()
		images[d.String()] = img
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: gv1.Descriptor{Platform: &p},
		})
	}
	ref := parseRef(t, srv, "team/multi:latest")
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatalf("push index: %v", err)
	}
	pulled, err := remote.Index(ref)
	if err != nil {
		t.Fatalf("pull index: %v", err)
	}
	wantD, _ := idx.Digest()
	if gotD, _ := pulled.Digest(); gotD != wantD {
		t.Fatalf("index digest %s, want %s", gotD, wantD)
	}
	if mt, _ := pulled.MediaType(); mt != types.OCIImageIndex {
		t.Fatalf("index media type %s", mt)
	}
	im, err := pulled.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 2 {
		t.Fatalf("%d children, want 2", len(im.Manifests))
	}
	for i, m := range im.Manifests {
		if m.Platform == nil || m.Platform.Architecture != platforms[i].Architecture {
			t.Fatalf("child %d platform %+v, want %s", i, m.Platform, platforms[i].Architecture)
		}
		want, ok := images[m.Digest.String()]
		if !ok {
			t.Fatalf("child %s was not pushed", m.Digest)
		}
		child, err := pulled.Image(m.Digest)
		if err != nil {
			t.Fatalf("resolve child %s: %v", m.Digest, err)
		}
		compareImages(t, want, child)
		// The child also resolves by digest on its own.
		if _, err := remote.Get(parseRef(t, srv, "team/multi@"+m.Digest.String())); err != nil {
			t.Fatalf("child by digest: %v", err)
		}
	}
	// Platform resolution from the tag picks the arm64 child.
	arm, err := remote.Image(ref, remote.WithPlatform(platforms[1]))
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := arm.Digest(); d != im.Manifests[1].Digest {
		t.Fatalf("arm64 image %s, want %s", d, im.Manifests[1].Digest)
	}
}

func TestGGCRListDeleteCatalog(t *testing.T) {
	srv := start(t)
	img, err := random.Image(1024, 1)
	if err != nil {
		t.Fatal(err)
	}
	other, err := random.Image(1024, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"team/app:v1", "team/app:v2", "team/tools:latest"} {
		if err := remote.Write(parseRef(t, srv, r), img); err != nil {
			t.Fatal(err)
		}
	}
	if err := remote.Write(parseRef(t, srv, "team/app:gone"), other); err != nil {
		t.Fatal(err)
	}
	repo := parseRef(t, srv, "team/app:v1").Context()
	tags, err := remote.List(repo)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tags, []string{"gone", "v1", "v2"}) {
		t.Fatalf("tags = %v", tags)
	}

	// Delete by digest: the manifest and its tag are gone, the rest stays.
	od, _ := other.Digest()
	if err := remote.Delete(parseRef(t, srv, "team/app@"+od.String())); err != nil {
		t.Fatalf("delete: %v", err)
	}
	for _, r := range []string{"team/app@" + od.String(), "team/app:gone"} {
		_, err := remote.Get(parseRef(t, srv, r))
		var terr *transport.Error
		if err == nil || !errorsAs(err, &terr) || terr.StatusCode != http.StatusNotFound {
			t.Fatalf("GET %s after delete: %v, want 404", r, err)
		}
	}
	if tags, err := remote.List(repo); err != nil || !slices.Equal(tags, []string{"v1", "v2"}) {
		t.Fatalf("tags after delete = %v, %v", tags, err)
	}
	if _, err := remote.Get(parseRef(t, srv, "team/app:v1")); err != nil {
		t.Fatalf("v1 after deleting another manifest: %v", err)
	}

	repos, err := remote.Catalog(context.Background(), repo.Registry)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(repos, []string{"team/app", "team/tools"}) {
		t.Fatalf("catalog = %v", repos)
	}
}

func errorsAs(err error, target **transport.Error) bool {
	for err != nil {
		if e, ok := err.(*transport.Error); ok {
			*target = e
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

func TestTagPagination(t *testing.T) {
	srv := start(t)
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	base := parseRef(t, srv, "team/paged:t00")
	if err := remote.Write(base, img); err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(base)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range 25 {
		tag := fmt.Sprintf("t%02d", i)
		want = append(want, tag)
		if i == 0 {
			continue
		}
		if err := remote.Tag(base.Context().Tag(tag), desc); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	next := srv.URL + "/v2/team/paged/tags/list?n=10"
	pages := 0
	for next != "" {
		pages++
		if pages > 10 {
			t.Fatalf("pagination does not end")
		}
		resp, err := http.Get(next)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", next, resp.StatusCode, body)
		}
		var page struct {
			Name string   `json:"name"`
			Tags []string `json:"tags"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatal(err)
		}
		if page.Name != "team/paged" || len(page.Tags) > 10 {
			t.Fatalf("page %d: %+v", pages, page)
		}
		got = append(got, page.Tags...)
		next = ""
		if link := resp.Header.Get("Link"); link != "" {
			start, end := strings.Index(link, "<"), strings.Index(link, ">")
			if start < 0 || end < start || !strings.Contains(link, `rel="next"`) {
				t.Fatalf("bad Link %q", link)
			}
			u, err := url.Parse(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			nu, err := u.Parse(link[start+1 : end])
			if err != nil {
				t.Fatal(err)
			}
			q := nu.Query()
			if q.Get("n") != "10" || q.Get("last") != page.Tags[len(page.Tags)-1] {
				t.Fatalf("Link %q: want n=10 and last=%s", link, page.Tags[len(page.Tags)-1])
			}
			next = nu.String()
		}
	}
	if pages != 3 {
		t.Errorf("%d pages, want 3", pages)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("tags over pages = %v, want %v", got, want)
	}
	// The client library's own listing agrees.
	if all, err := remote.List(base.Context()); err != nil || !slices.Equal(all, want) {
		t.Fatalf("remote.List = %v, %v", all, err)
	}
}

// recorder is an http.RoundTripper that remembers every request it sends.
type recorder struct {
	mu   sync.Mutex
	base http.RoundTripper
	log  []exchange
}

type exchange struct {
	method string
	url    *url.URL
	status int
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.base.RoundTrip(req)
	e := exchange{method: req.Method, url: req.URL}
	if err == nil {
		e.status = resp.StatusCode
	}
	r.mu.Lock()
	r.log = append(r.log, e)
	r.mu.Unlock()
	return resp, err
}

func TestGGCRCrossRepoMount(t *testing.T) {
	srv := start(t)
	img, err := random.Image(32<<10, 3)
	if err != nil {
		t.Fatal(err)
	}
	src := parseRef(t, srv, "team/src:v1")
	if err := remote.Write(src, img); err != nil {
		t.Fatal(err)
	}
	pulled, err := remote.Image(src)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{base: http.DefaultTransport}
	dst := parseRef(t, srv, "team/dst:v1")
	if err := remote.Write(dst, pulled, remote.WithTransport(rec)); err != nil {
		t.Fatalf("push to second repository: %v", err)
	}
	layers, _ := img.Layers()
	wantMounted := map[string]bool{}
	for _, l := range layers {
		wantMounted[mustDigest(t, l).String()] = false
	}
	for _, e := range rec.log {
		isUpload := strings.Contains(e.url.Path, "/blobs/uploads/")
		if isUpload && (e.method == http.MethodPatch || e.method == http.MethodPut) {
			t.Errorf("blob bytes sent although they could be mounted: %s %s", e.method, e.url)
		}
		if e.method != http.MethodPost || !isUpload {
			continue
		}
		q := e.url.Query()
		if q.Get("mount") == "" {
			t.Errorf("upload without mount: %s", e.url)
			continue
		}
		if e.status != http.StatusCreated {
			t.Errorf("POST %s: %d, want 201", e.url, e.status)
		}
		if q.Get("from") == "team/src" {
			if _, ok := wantMounted[q.Get("mount")]; ok {
				wantMounted[q.Get("mount")] = true
			}
		}
	}
	for d, mounted := range wantMounted {
		if !mounted {
			t.Errorf("layer %s not mounted with from=team/src; requests: %v", d, rec.log)
		}
	}
	got, err := remote.Image(dst)
	if err != nil {
		t.Fatal(err)
	}
	compareImages(t, img, got)
}

// --- oras-go ---

func orasRepo(t *testing.T, srv *servertest.Server, name string) *orasremote.Repository {
	t.Helper()
	repo, err := orasremote.NewRepository(srv.Host + "/" + name)
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	return repo
}

func digests(descs []ocispec.Descriptor) []string {
	out := make([]string, 0, len(descs))
	for _, d := range descs {
		out = append(out, d.Digest.String())
	}
	sort.Strings(out)
	return out
}

func referrers(t *testing.T, repo *orasremote.Repository, subject ocispec.Descriptor, artifactType string) []ocispec.Descriptor {
	t.Helper()
	var all []ocispec.Descriptor
	err := repo.Referrers(context.Background(), subject, artifactType, func(refs []ocispec.Descriptor) error {
		all = append(all, refs...)
		return nil
	})
	if err != nil {
		t.Fatalf("referrers of %s (%q): %v", subject.Digest, artifactType, err)
	}
	return all
}

func attach(t *testing.T, repo *orasremote.Repository, subject ocispec.Descriptor, artifactType, layerType string, data []byte) ocispec.Descriptor {
	t.Helper()
	ctx := context.Background()
	layer, err := oras.PushBytes(ctx, repo, layerType, data)
	if err != nil {
		t.Fatalf("push layer: %v", err)
	}
	desc, err := oras.PackManifest(ctx, repo, oras.PackManifestVersion1_1, artifactType, oras.PackManifestOptions{
		Subject: &subject,
		Layers:  []ocispec.Descriptor{layer},
	})
	if err != nil {
		t.Fatalf("attach %s: %v", artifactType, err)
	}
	return desc
}

func TestORASReferrers(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	img, err := random.Image(4096, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(parseRef(t, srv, "team/app:v1"), img); err != nil {
		t.Fatal(err)
	}
	repo := orasRepo(t, srv, "team/app")
	subject, err := repo.Resolve(ctx, "v1")
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := img.Digest(); subject.Digest.String() != want.String() {
		t.Fatalf("resolve v1: %s, want %s", subject.Digest, want)
	}

	sbom := attach(t, repo, subject, "application/spdx+json", "application/spdx+json", []byte(`{"spdxVersion":"SPDX-2.3"}`))
	sig := attach(t, repo, subject, "application/vnd.example.signature", "application/octet-stream", []byte("signature bytes"))

	all := referrers(t, repo, subject, "")
	if got, want := digests(all), digests([]ocispec.Descriptor{sbom, sig}); !slices.Equal(got, want) {
		t.Fatalf("referrers = %v, want %v", got, want)
	}
	for _, d := range all {
		wantAT := map[string]string{sbom.Digest.String(): "application/spdx+json", sig.Digest.String(): "application/vnd.example.signature"}[d.Digest.String()]
		if d.ArtifactType != wantAT || d.MediaType != ocispec.MediaTypeImageManifest {
			t.Errorf("referrer %s: artifactType %q mediaType %q, want %q", d.Digest, d.ArtifactType, d.MediaType, wantAT)
		}
	}
	spdx := referrers(t, repo, subject, "application/spdx+json")
	if got := digests(spdx); !slices.Equal(got, []string{sbom.Digest.String()}) {
		t.Fatalf("spdx referrers = %v, want [%s]", got, sbom.Digest)
	}
	if none := referrers(t, repo, subject, "application/vnd.none"); len(none) != 0 {
		t.Fatalf("referrers of an unused type = %v", digests(none))
	}

	// The server announced referrers support (OCI-Subject), so oras did not
	// fall back to the tag schema.
	var tags []string
	if err := repo.Tags(ctx, "", func(ts []string) error { tags = append(tags, ts...); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tags, []string{"v1"}) {
		t.Fatalf("tags = %v: oras fell back to the referrers tag schema", tags)
	}

	// Raw filtered request: the server says it filtered.
	u := srv.URL + "/v2/team/app/referrers/" + subject.Digest.String() + "?artifactType=" + url.QueryEscape("application/spdx+json")
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("OCI-Filters-Applied") != "artifactType" {
		t.Fatalf("filtered referrers: %d, OCI-Filters-Applied %q", resp.StatusCode, resp.Header.Get("OCI-Filters-Applied"))
	}
	if ct := resp.Header.Get("Content-Type"); ct != ocispec.MediaTypeImageIndex {
		t.Fatalf("referrers Content-Type %q", ct)
	}
	var index ocispec.Index
	if err := json.Unmarshal(body, &index); err != nil {
		t.Fatal(err)
	}
	if got := digests(index.Manifests); !slices.Equal(got, []string{sbom.Digest.String()}) {
		t.Fatalf("raw filtered referrers = %v", got)
	}
	// Unfiltered: no such header.
	resp, err = http.Get(srv.URL + "/v2/team/app/referrers/" + subject.Digest.String())
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if h := resp.Header.Get("OCI-Filters-Applied"); h != "" {
		t.Fatalf("unfiltered referrers say OCI-Filters-Applied %q", h)
	}

	// The artifact is fetchable and holds its layer.
	got, rc, err := repo.FetchReference(ctx, sbom.Digest.String())
	if err != nil {
		t.Fatal(err)
	}
	mb, err := content.ReadAll(rc, got)
	_ = rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(mb, &m); err != nil {
		t.Fatal(err)
	}
	if m.Subject == nil || m.Subject.Digest != subject.Digest || len(m.Layers) != 1 || m.ArtifactType != "application/spdx+json" {
		t.Fatalf("sbom manifest: %s", mb)
	}
	lb, err := content.FetchAll(ctx, repo, m.Layers[0])
	if err != nil || string(lb) != `{"spdxVersion":"SPDX-2.3"}` {
		t.Fatalf("sbom layer: %q, %v", lb, err)
	}
}

func TestORASReferrerBeforeSubject(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	repo := orasRepo(t, srv, "team/early")
	img, err := random.Image(2048, 1)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := img.RawManifest()
	mt, _ := img.MediaType()
	d, _ := img.Digest()
	subject := ocispec.Descriptor{MediaType: string(mt), Digest: digest.Digest(d.String()), Size: int64(len(raw))}

	if ok, err := repo.Exists(ctx, subject); err != nil || ok {
		t.Fatalf("subject exists before push: %v, %v", ok, err)
	}
	early := attach(t, repo, subject, "application/spdx+json", "application/spdx+json", []byte(`{"early":true}`))
	if got := digests(referrers(t, repo, subject, "")); !slices.Equal(got, []string{early.Digest.String()}) {
		t.Fatalf("referrers of a missing subject = %v, want [%s]", got, early.Digest)
	}
	// Pushing the subject afterwards keeps the referrer.
	if err := remote.Write(parseRef(t, srv, "team/early:v1"), img); err != nil {
		t.Fatal(err)
	}
	if got := digests(referrers(t, repo, subject, "application/spdx+json")); !slices.Equal(got, []string{early.Digest.String()}) {
		t.Fatalf("referrers after subject push = %v", got)
	}
}

// --- sha512 with plain net/http ---

func do(t *testing.T, method, u string, body []byte, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	b, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func TestSHA512BlobAndManifest(t *testing.T) {
	srv := start(t)
	base := srv.URL + "/v2/team/s512"
	if !digest.SHA512.Available() {
		t.Fatal("sha512 not available")
	}

	// Config by monolithic POST ?digest=sha512:...
	cfg := []byte(`{"architecture":"amd64","os":"linux"}`)
	cfgD := digest.SHA512.FromBytes(cfg)
	if resp, b := do(t, http.MethodPost, base+"/blobs/uploads/?digest="+cfgD.String(), cfg); resp.StatusCode != http.StatusCreated {
		t.Fatalf("monolithic sha512 upload: %d %s", resp.StatusCode, b)
	} else if resp.Header.Get("Docker-Content-Digest") != cfgD.String() {
		t.Fatalf("Docker-Content-Digest %q", resp.Header.Get("Docker-Content-Digest"))
	}

	// Layer by session: POST, PATCH twice, PUT ?digest=sha512:...
	layer := bytes.Repeat([]byte("sha512 layer bytes "), 5000)
	layerD := digest.SHA512.FromBytes(layer)
	resp, b := do(t, http.MethodPost, base+"/blobs/uploads/", nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("start upload: %d %s", resp.StatusCode, b)
	}
	loc := resp.Header.Get("Location")
	half := len(layer) / 2
	resp, b = do(t, http.MethodPatch, srv.URL+loc, layer[:half], "Content-Range", fmt.Sprintf("0-%d", half-1), "Content-Type", "application/octet-stream")
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("PATCH: %d %s", resp.StatusCode, b)
	}
	loc = resp.Header.Get("Location")
	resp, b = do(t, http.MethodPut, srv.URL+loc+"?digest="+url.QueryEscape(layerD.String()), layer[half:],
		"Content-Range", fmt.Sprintf("%d-%d", half, len(layer)-1), "Content-Type", "application/octet-stream")
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Docker-Content-Digest") != layerD.String() {
		t.Fatalf("finish sha512 upload: %d %s, digest %q", resp.StatusCode, b, resp.Header.Get("Docker-Content-Digest"))
	}
	// A wrong sha512 is refused.
	resp, _ = do(t, http.MethodPost, base+"/blobs/uploads/?digest="+digest.SHA512.FromString("other").String(), []byte("not it"))
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("wrong sha512 digest: %d, want 400", resp.StatusCode)
	}

	for d, want := range map[digest.Digest][]byte{cfgD: cfg, layerD: layer} {
		resp, got := do(t, http.MethodGet, base+"/blobs/"+d.String(), nil)
		if resp.StatusCode != 200 || !bytes.Equal(got, want) {
			t.Fatalf("GET blob %s: %d, %d bytes (want %d)", d, resp.StatusCode, len(got), len(want))
		}
		if resp.Header.Get("Docker-Content-Digest") != d.String() {
			t.Fatalf("GET blob %s: Docker-Content-Digest %q", d, resp.Header.Get("Docker-Content-Digest"))
		}
		if resp, _ := do(t, http.MethodHead, base+"/blobs/"+d.String(), nil); resp.StatusCode != 200 || resp.ContentLength != int64(len(want)) {
			t.Fatalf("HEAD blob %s: %d, length %d", d, resp.StatusCode, resp.ContentLength)
		}
	}

	m := ocispec.Manifest{
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: cfgD, Size: int64(len(cfg))},
		Layers:    []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayer, Digest: layerD, Size: int64(len(layer))}},
	}
	m.SchemaVersion = 2
	mb, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	md := digest.SHA512.FromBytes(mb)
	resp, b = do(t, http.MethodPut, base+"/manifests/"+md.String(), mb, "Content-Type", ocispec.MediaTypeImageManifest)
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Docker-Content-Digest") != md.String() {
		t.Fatalf("PUT manifest by sha512: %d %s, digest %q", resp.StatusCode, b, resp.Header.Get("Docker-Content-Digest"))
	}
	resp, got := do(t, http.MethodGet, base+"/manifests/"+md.String(), nil, "Accept", ocispec.MediaTypeImageManifest)
	if resp.StatusCode != 200 || !bytes.Equal(got, mb) {
		t.Fatalf("GET manifest by sha512: %d %s", resp.StatusCode, got)
	}
	if resp.Header.Get("Docker-Content-Digest") != md.String() || resp.Header.Get("Content-Type") != ocispec.MediaTypeImageManifest {
		t.Fatalf("GET manifest headers: %v", resp.Header)
	}
	// A manifest body that does not match its sha512 is refused.
	resp, _ = do(t, http.MethodPut, base+"/manifests/"+digest.SHA512.FromString("x").String(), mb, "Content-Type", ocispec.MediaTypeImageManifest)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("PUT manifest with a wrong sha512: %d, want 400", resp.StatusCode)
	}
}
