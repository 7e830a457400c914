package registry

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

// An upload whose bytes storage lost (e.g. a crash before sync) must be
// answered with a 4xx telling the client to restart, never a 5xx, and never
// commit a wrong blob.
func TestUploadDataLost(t *testing.T) {
	data := "bytes that storage will lose"
	d := digest.FromString(data)
	tests := []struct {
		name   string
		finish func(s *testServer, loc string) response
	}{
		{"next chunk", func(s *testServer, loc string) response {
			return s.do(t, http.MethodPatch, loc, strings.NewReader("more"), "Content-Range", "28-31")
		}},
		{"finish", func(s *testServer, loc string) response {
			return s.do(t, http.MethodPut, loc+"?digest="+d.String(), nil)
		}},
		{"finish with sha512", func(s *testServer, loc string) response {
			return s.do(t, http.MethodPut, loc+"?digest="+digest.SHA512.FromString(data).String(), nil)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t)
			r := s.do(t, http.MethodPost, "/v2/r/blobs/uploads/", nil)
			loc, id := r.Header.Get("Location"), r.Header.Get("Docker-Upload-UUID")
			if r := s.do(t, http.MethodPatch, loc, strings.NewReader(data)); r.StatusCode != http.StatusAccepted {
				t.Fatalf("patch: %d", r.StatusCode)
			}
			if err := os.Remove(filepath.Join(s.Dir, "uploads", id)); err != nil {
				t.Fatal(err)
			}
			r = tc.finish(s, loc)
			if r.StatusCode < 400 || r.StatusCode >= 500 {
				t.Fatalf("status %d, want 4xx; %s", r.StatusCode, r.Body)
			}
			if r.errCode() != codeBlobUploadInvalid {
				t.Fatalf("code %q, want %s", r.errCode(), codeBlobUploadInvalid)
			}
			if g := s.do(t, http.MethodHead, "/v2/r/blobs/"+d.String(), nil); g.StatusCode != http.StatusNotFound {
				t.Fatalf("blob committed from lost data: %d", g.StatusCode)
			}
			if n := countFiles(t, s.Dir, "blobs"); n != 0 {
				t.Fatalf("%d blob files", n)
			}
			if n := countFiles(t, s.Dir, "uploads"); n != 0 {
				t.Fatalf("%d upload files left", n)
			}
		})
	}
}
