package registry

import (
	"bytes"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestConcurrentManifestsToOneTag(t *testing.T) {
	s := newServer(t)
	const repo, n = "team/race", 8
	cfg := s.pushBlob(t, repo, []byte(`{"config":true}`))
	cfg.MediaType = v1.MediaTypeImageConfig
	bodies := make([][]byte, n)
	digests := map[string]bool{}
	for i := range n {
		layer := s.pushBlob(t, repo, []byte(fmt.Sprint("layer ", i)))
		layer.MediaType = v1.MediaTypeImageLayer
		bodies[i] = mustJSON(t, imageManifest(cfg, []v1.Descriptor{layer}, nil, ""))
		digests[digest.FromBytes(bodies[i]).String()] = true
	}
	inParallel(t, n, http.StatusCreated, func(i int) (*http.Request, error) {
		req, err := http.NewRequest(http.MethodPut, s.URL+"/v2/"+repo+"/manifests/latest", bytes.NewReader(bodies[i]))
		if err == nil {
			req.Header.Set("Content-Type", v1.MediaTypeImageManifest)
		}
		return req, err
	})
	r := s.do(t, http.MethodGet, "/v2/"+repo+"/manifests/latest", nil)
	if r.StatusCode != 200 || !digests[r.Header.Get("Docker-Content-Digest")] {
		t.Fatalf("latest: %d %q", r.StatusCode, r.Header.Get("Docker-Content-Digest"))
	}
	if got := digest.FromBytes(r.Body).String(); got != r.Header.Get("Docker-Content-Digest") {
		t.Fatalf("latest body does not match its digest")
	}
	// Every manifest is stored, by digest.
	for d := range digests {
		if r := s.do(t, http.MethodHead, "/v2/"+repo+"/manifests/"+d, nil); r.StatusCode != 200 {
			t.Errorf("manifest %s: %d", d, r.StatusCode)
		}
	}
}

func TestConcurrentSameBlobMonolithic(t *testing.T) {
	s := newServer(t)
	const repo, n = "team/blob", 8
	data := bytes.Repeat([]byte("concurrent blob "), 4096)
	d := digest.FromBytes(data)
	inParallel(t, n, http.StatusCreated, func(int) (*http.Request, error) {
		return http.NewRequest(http.MethodPost, s.URL+"/v2/"+repo+"/blobs/uploads/?digest="+d.String(), bytes.NewReader(data))
	})
	if got := countFiles(t, s.Dir, "blobs"); got != 1 {
		t.Fatalf("%d files under blobs/, want 1", got)
	}
	if got := countFiles(t, s.Dir, "uploads"); got != 0 {
		t.Fatalf("%d files under uploads/, want 0", got)
	}
	r := s.do(t, http.MethodGet, "/v2/"+repo+"/blobs/"+d.String(), nil)
	if r.StatusCode != 200 || !bytes.Equal(r.Body, data) {
		t.Fatalf("blob: %d, %d bytes", r.StatusCode, len(r.Body))
	}
}

// Two PATCHes racing on one session: the loser gets a 4xx, never a
// corrupt upload.
func TestConcurrentPatchesOneUpload(t *testing.T) {
	s := newServer(t)
	r := s.do(t, http.MethodPost, "/v2/r/blobs/uploads/", nil)
	loc := s.URL + r.Header.Get("Location")
	chunk := bytes.Repeat([]byte("x"), 1<<16)
	var wg sync.WaitGroup
	status := make([]int, 4)
	for i := range status {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPatch, loc, bytes.NewReader(chunk))
			req.Header.Set("Content-Range", fmt.Sprintf("0-%d", len(chunk)-1))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			_ = resp.Body.Close()
			status[i] = resp.StatusCode
		})
	}
	wg.Wait()
	ok := 0
	for _, st := range status {
		switch {
		case st == http.StatusAccepted:
			ok++
		case st >= 400 && st < 500:
		default:
			t.Errorf("status %d", st)
		}
	}
	if ok != 1 {
		t.Fatalf("%d PATCHes at offset 0 succeeded, want 1 (%v)", ok, status)
	}
	d := digest.FromBytes(chunk)
	if r := s.do(t, http.MethodPut, loc+"?digest="+d.String(), nil); r.StatusCode != 201 {
		t.Fatalf("finish: %d %s", r.StatusCode, r.Body)
	}
}

// inParallel sends n requests at once (request i built by mk) and expects
// each to answer want.
func inParallel(t *testing.T, n, want int, mk func(i int) (*http.Request, error)) {
	t.Helper()
	var wg sync.WaitGroup
	status := make([]int, n)
	for i := range n {
		wg.Go(func() {
			req, err := mk(i)
			if err != nil {
				t.Error(err)
				return
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			_ = resp.Body.Close()
			status[i] = resp.StatusCode
		})
	}
	wg.Wait()
	for i, st := range status {
		if st != want {
			t.Errorf("request %d: %d, want %d", i, st, want)
		}
	}
}
