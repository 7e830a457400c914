package sigstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cssc-project/cssc/internal/keys"
	"github.com/cssc-project/cssc/internal/sign"
	"github.com/cssc-project/cssc/internal/sign/signtest"
	"github.com/cssc-project/cssc/internal/sign/sigstore"
)

// proxy stands between the checker and a registry and changes some of the
// registry's answers: descriptors appended to every referrers listing, and
// fixed responses for some paths.
type proxy struct {
	Host string // 127.0.0.1:PORT

	mu    sync.Mutex
	seen  []string                // "METHOD path" of every request
	extra []ocispec.Descriptor    // appended to referrers listings
	fake  map[string]fakeResponse // by path, answered instead of the registry
}

type fakeResponse struct {
	status      int
	contentType string
	body        []byte
	digest      string // Docker-Content-Digest, if any
}

func startProxy(t *testing.T, upstreamHost string) *proxy {
	t.Helper()
	p := &proxy{fake: map[string]fakeResponse{}}
	upstream := &url.URL{Scheme: "http", Host: upstreamHost}
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(upstream)
		r.Out.Host = upstreamHost
		r.Out.Header.Del("Accept-Encoding") // listings are rewritten: keep them uncompressed
	}}
	rp.ModifyResponse = func(resp *http.Response) error {
		p.mu.Lock()
		extra := slices.Clone(p.extra)
		p.mu.Unlock()
		if !strings.Contains(resp.Request.URL.Path, "/referrers/") || resp.StatusCode != http.StatusOK || len(extra) == 0 {
			return nil
		}
		var idx ocispec.Index
		if err := json.NewDecoder(resp.Body).Decode(&idx); err != nil {
			return err
		}
		_ = resp.Body.Close()
		idx.Manifests = append(idx.Manifests, extra...)
		b, err := json.Marshal(idx)
		if err != nil {
			return err
		}
		resp.Body = io.NopCloser(bytes.NewReader(b))
		resp.ContentLength = int64(len(b))
		resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
		return nil
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.seen = append(p.seen, r.Method+" "+r.URL.Path)
		f, ok := p.fake[r.URL.Path]
		p.mu.Unlock()
		if !ok {
			rp.ServeHTTP(w, r)
			return
		}
		if f.contentType != "" {
			w.Header().Set("Content-Type", f.contentType)
		}
		if f.digest != "" {
			w.Header().Set("Docker-Content-Digest", f.digest)
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(f.body)))
		w.WriteHeader(f.status)
		if r.Method != http.MethodHead {
			_, _ = w.Write(f.body)
		}
	}))
	t.Cleanup(srv.Close)
	p.Host = strings.TrimPrefix(srv.URL, "http://")
	return p
}

func (p *proxy) append(d ...ocispec.Descriptor) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.extra = append(p.extra, d...)
}

func (p *proxy) answer(path string, f fakeResponse) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fake[path] = f
}

// requested reports whether anything asked for a path ending in suffix.
func (p *proxy) requested(suffix string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.ContainsFunc(p.seen, func(s string) bool { return strings.HasSuffix(s, suffix) })
}

// resolveVia resolves repo:v1 through host with a client that does not
// retry (a 5xx answer is final).
func resolveVia(t *testing.T, host, repo string) *sign.Target {
	t.Helper()
	opts := signtest.Anonymous()
	opts.HTTPClient = &http.Client{}
	target, err := sign.Resolve(context.Background(), host+"/"+repo+":v1", opts)
	if err != nil {
		t.Fatal(err)
	}
	return target
}

// TestCheckBadReferrers: referrers that cannot be read — a manifest larger
// than allowed, one that is not JSON, one whose content does not match its
// digest, one the registry does not have, a layer whose content does not
// match its digest — and a .sig tag too large to read are each that
// signature's "malformed"; the valid signature beside them is still
// verified and the verdict passes. A registry that fails (500) on one of
// them is an error: the verification could not be done.
func TestCheckBadReferrers(t *testing.T) {
	srv := startRegistry(t)
	px := startProxy(t, srv.Host)
	const repo = "bad/app"
	target := signtest.PushImage(t, srv.Host, repo, "v1")
	signer := newSigner(t, keys.ECDSAP256)
	good := mustSign(t, target, signer, sigstore.SignOptions{Referrers: true, NoTag: true})[0]
	corrupt := mustSign(t, target, signer, sigstore.SignOptions{Referrers: true, NoTag: true, Annotations: map[string]string{"n": "2"}})[0]
	corruptLayer := fetchManifest(t, target, corrupt).Layers[0]

	manifestPath := func(d digest.Digest) string { return "/v2/" + repo + "/manifests/" + d.String() }
	cosignRef := func(d digest.Digest, size int64) ocispec.Descriptor {
		return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, ArtifactType: sign.ArtifactTypeCosign, Digest: d, Size: size}
	}
	garbage := []byte("this is not a manifest")
	mismatched := []byte(`{"schemaVersion":2}`)
	oversized := cosignRef(digest.FromString("oversized"), 5<<20)
	notJSON := cosignRef(digest.FromBytes(garbage), int64(len(garbage)))
	wrongContent := cosignRef(digest.FromString(strings.Repeat("x", len(mismatched))), int64(len(mismatched)))
	failing := cosignRef(digest.FromString("fails"), 100)
	missing := cosignRef(digest.FromString("missing"), 100)
	px.append(oversized, notJSON, wrongContent, missing)
	px.answer(manifestPath(notJSON.Digest), fakeResponse{status: http.StatusOK, contentType: ocispec.MediaTypeImageManifest, body: garbage, digest: notJSON.Digest.String()})
	px.answer(manifestPath(wrongContent.Digest), fakeResponse{status: http.StatusOK, contentType: ocispec.MediaTypeImageManifest, body: mismatched})
	px.answer(manifestPath(failing.Digest), fakeResponse{status: http.StatusInternalServerError, contentType: "application/json", body: []byte(`{"errors":[{"code":"UNKNOWN","message":"boom"}]}`)})
	px.answer("/v2/"+repo+"/blobs/"+corruptLayer.Digest.String(), fakeResponse{status: http.StatusOK, contentType: "application/octet-stream", body: bytes.Repeat([]byte("x"), int(corruptLayer.Size))})
	big := bytes.Repeat([]byte(" "), 4<<20+1)
	px.answer("/v2/"+repo+"/manifests/"+sigstore.SignatureTag(target.Desc.Digest), fakeResponse{status: http.StatusOK, contentType: ocispec.MediaTypeImageManifest, body: big, digest: digest.FromBytes(big).String()})

	c := newChecker(t, sigstore.Options{CosignKey: writePublicKey(t, signer.Public())})
	sigs, v, err := c.Check(context.Background(), resolveVia(t, px.Host, repo))
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	t.Logf("found:%s", show(sigs))
	ref := func(d digest.Digest, reason sign.Reason) sign.Signature {
		return sign.Signature{Format: sign.FormatCosign, Location: sigstore.LocationReferrer, Digest: d.String(), Verified: reason == "", Reason: reason}
	}
	verified := ref(good.Digest, "")
	verified.Identity = keyID(t, signer.Public())
	want := map[string]sign.Signature{
		"tag " + sigstore.SignatureTag(target.Desc.Digest): {Format: sign.FormatCosign, Location: "tag " + sigstore.SignatureTag(target.Desc.Digest),
			Digest: digest.FromBytes(big).String(), Reason: sign.ReasonMalformed},
		good.Digest.String():         verified,
		corrupt.Digest.String():      ref(corrupt.Digest, sign.ReasonMalformed),
		oversized.Digest.String():    ref(oversized.Digest, sign.ReasonMalformed),
		notJSON.Digest.String():      ref(notJSON.Digest, sign.ReasonMalformed),
		wrongContent.Digest.String(): ref(wrongContent.Digest, sign.ReasonMalformed),
		missing.Digest.String():      ref(missing.Digest, sign.ReasonMalformed),
	}
	got := map[string]sign.Signature{}
	for _, s := range withoutDetail(t, sigs) {
		key := s.Digest
		if strings.HasPrefix(s.Location, "tag ") {
			key = s.Location
		}
		got[key] = s
	}
	if !reflect.DeepEqual(got, want) || len(sigs) != len(want) {
		t.Fatalf("signatures:%s\nwant %+v", show(sigs), want)
	}
	if !v.Passed {
		t.Fatalf("verdict %+v, want passed", v)
	}
	if px.requested(manifestPath(oversized.Digest)) {
		t.Fatal("the oversized referrer manifest was fetched")
	}
	px.append(failing)
	if _, _, err := c.Check(context.Background(), resolveVia(t, px.Host, repo)); err == nil || !strings.Contains(err.Error(), "500") {
		t.Fatalf("a referrer the registry fails to serve: error %v, want the 500", err)
	}
}

// TestCheckListingFailures: when the registry fails the referrers listing
// or the .sig tag read, Check is an error, never a result without those
// signatures.
func TestCheckListingFailures(t *testing.T) {
	srv := startRegistry(t)
	signer := newSigner(t, keys.ECDSAP256)
	keyFile := writePublicKey(t, signer.Public())
	fail := fakeResponse{status: http.StatusInternalServerError, contentType: "application/json", body: []byte(`{"errors":[{"code":"UNKNOWN","message":"boom"}]}`)}
	forbidden := fakeResponse{status: http.StatusForbidden, contentType: "application/json", body: []byte(`{"errors":[{"code":"DENIED","message":"no"}]}`)}
	tests := []struct {
		name   string
		path   func(repo string, target *sign.Target) string
		answer fakeResponse
	}{
		{"referrers listing 500", func(repo string, tg *sign.Target) string {
			return "/v2/" + repo + "/referrers/" + tg.Desc.Digest.String()
		}, fail},
		{".sig tag 500", func(repo string, tg *sign.Target) string {
			return "/v2/" + repo + "/manifests/" + sigstore.SignatureTag(tg.Desc.Digest)
		}, fail},
		{".sig tag 403", func(repo string, tg *sign.Target) string {
			return "/v2/" + repo + "/manifests/" + sigstore.SignatureTag(tg.Desc.Digest)
		}, forbidden},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			repo := fmt.Sprintf("listing/app%d", i)
			target := signtest.PushImage(t, srv.Host, repo, "v1")
			mustSign(t, target, signer, sigstore.SignOptions{Referrers: true})
			px := startProxy(t, srv.Host)
			px.answer(tc.path(repo, target), tc.answer)
			sigs, _, err := newChecker(t, sigstore.Options{CosignKey: keyFile}).Check(context.Background(), resolveVia(t, px.Host, repo))
			if err == nil {
				t.Fatalf("Check: no error, signatures%s", show(sigs))
			}
			if !strings.Contains(err.Error(), strconv.Itoa(tc.answer.status)) {
				t.Fatalf("Check: %v, want the registry's %d", err, tc.answer.status)
			}
		})
	}
}

// TestCheckCap: only the first 100 signatures (the .sig tag's layers, then
// the referrers) are fetched and verified; the others are listed as not
// checked and referrers past the cap are not even read. A good signature
// at index 99 verifies, one at index 100 does not count.
func TestCheckCap(t *testing.T) {
	srv := startRegistry(t)
	signer := newSigner(t, keys.ECDSAP256)
	keyFile := writePublicKey(t, signer.Public())
	for _, bad := range []int{99, 100} {
		t.Run(fmt.Sprintf("%d bad first", bad), func(t *testing.T) {
			repo := fmt.Sprintf("cap/app%d", bad)
			target := signtest.PushImage(t, srv.Host, repo, "v1")
			other := mustSign(t, target, newSigner(t, keys.ECDSAP256), sigstore.SignOptions{})[0]
			wrong := fetchManifest(t, target, other).Layers[0]
			ok := mustSign(t, target, signer, sigstore.SignOptions{Annotations: map[string]string{"good": "yes"}})[0]
			goodLayer := fetchManifest(t, target, ok).Layers[1]
			ref := mustSign(t, target, signer, sigstore.SignOptions{Referrers: true, NoTag: true})[0]
			layers := append(slices.Repeat([]ocispec.Descriptor{wrong}, bad), goodLayer)
			tagManifest := pushSigManifest(t, target, layers)

			px := startProxy(t, srv.Host)
			sigs, v := check(t, newChecker(t, sigstore.Options{CosignKey: keyFile}), resolveVia(t, px.Host, repo))
			var want []sign.Signature
			for i := range bad {
				want = append(want, tagSig(target, tagManifest, i, sign.ReasonWrongKey, ""))
			}
			refSig := sign.Signature{Format: sign.FormatCosign, Location: sigstore.LocationReferrer, Digest: ref.Digest.String()}
			wantVerdict := sign.Verdict{Checker: "sigstore"}
			if bad < 100 {
				// index 99 is the last verified: the good layer; the
				// referrer (index 100) is past the cap.
				want = append(want, tagSig(target, tagManifest, bad, "", keyID(t, signer.Public())))
				refSig.Reason = sign.ReasonNotChecked
				wantVerdict.Passed = true
			} else {
				want = append(want, tagSig(target, tagManifest, bad, sign.ReasonNotChecked, ""))
				refSig.Reason = sign.ReasonNotChecked
				wantVerdict.Reason = "none of the first 100 of 102 Sigstore signatures verified"
			}
			want = append(want, refSig)
			for i, s := range sigs {
				if i >= 100 && !strings.Contains(s.Detail, "beyond the first 100") {
					t.Errorf("signature %d: detail %q, want it to say it is beyond the first 100", i, s.Detail)
				}
			}
			if got := withoutDetail(t, sigs); !reflect.DeepEqual(got, want) {
				t.Fatalf("signatures:%s\nwant %d signatures ending %+v", show(sigs), len(want), want[len(want)-2:])
			}
			if v != wantVerdict {
				t.Fatalf("verdict %+v, want %+v", v, wantVerdict)
			}
			if px.requested("/manifests/" + ref.Digest.String()) {
				t.Fatal("the referrer past the cap was fetched")
			}
		})
	}
}
