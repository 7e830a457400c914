package imagefs_test

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/cssc-project/cssc/internal/imagefs"
	"github.com/cssc-project/cssc/internal/imagefs/imagetest"
)

// redirect is a transport that carries every request to one server,
// whatever host the request names, and records the paths asked for.
type redirect struct {
	to    *url.URL
	mu    sync.Mutex
	paths []string
}

func (r *redirect) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.paths = append(r.paths, req.URL.Path)
	r.mu.Unlock()
	req = req.Clone(req.Context())
	req.URL.Scheme, req.URL.Host = r.to.Scheme, r.to.Host
	return http.DefaultTransport.RoundTrip(req)
}

func (r *redirect) asked(prefix string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.paths {
		if strings.HasPrefix(p, prefix) {
			return true
		}
	}
	return false
}

// OpenOptions.Transport carries all of Open's and the reads' registry
// traffic: the reference names a host that does not exist, and only the
// transport knows where the registry is.
func TestOpenWithTransport(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	to, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	img := imagetest.Image(t, imagetest.Layer(t, imagetest.Entry{Name: "etc/hello", Body: "through the transport"}))
	pushed, err := name.ParseReference(to.Host + "/team/app:1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(pushed, img); err != nil {
		t.Fatal(err)
	}
	const ref = "registry.invalid/team/app:1"

	tests := []struct {
		name      string
		transport http.RoundTripper
		ok        bool
	}{
		{"no transport: the host does not resolve", nil, false},
		{"the transport reaches the registry", &redirect{to: to}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			imgs, err := imagefs.Open(ctx, ref, imagefs.OpenOptions{Transport: tc.transport, Keychain: anonymous{}})
			if !tc.ok {
				if err == nil {
					t.Fatal("Open succeeded without a way to the registry")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(imgs) != 1 || !imgs[0].FromRegistry() {
				t.Fatalf("%d images", len(imgs))
			}
			tree, err := imagefs.Extract(ctx, imgs[0], imagefs.Limits{}, t.TempDir(), func(imagefs.Entry, func() []byte) bool { return true })
			if err != nil {
				t.Fatal(err)
			}
			if got := content(t, tree, "/etc/hello"); got != "through the transport" {
				t.Errorf("content %q", got)
			}
			// Attached artifacts are looked up through it as well.
			if _, err := imgs[0].Attached(ctx); err != nil {
				t.Fatal(err)
			}
			rt := tc.transport.(*redirect)
			for _, p := range []string{"/v2/team/app/manifests/", "/v2/team/app/blobs/", "/v2/team/app/referrers/"} {
				if !rt.asked(p) {
					t.Errorf("no request for %s… went through the transport", p)
				}
			}
		})
	}
}

// anonymous is a keychain without credentials (not the docker config's).
type anonymous struct{}

func (anonymous) Resolve(authn.Resource) (authn.Authenticator, error) { return authn.Anonymous, nil }
