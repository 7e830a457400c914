package acquire_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/cssc-project/cssc/internal/acquire"
	"github.com/cssc-project/cssc/internal/acquire/acquiretest"
	"github.com/cssc-project/cssc/internal/server/servertest"
)

// A private upstream: the pipeline pulls with the credentials stored
// (sealed) on its allow-list entry; wrong ones fail the acquisition with
// the registry's refusal, and are never shown by the API.
func TestPrivateUpstream(t *testing.T) {
	e := acquiretest.Start(t, nil)
	dir := filepath.Join(t.TempDir(), "private")
	servertest.Init(t, dir)
	private := servertest.Start(t, servertest.Config(dir))
	ref, err := name.ParseReference(private.Host + "/team/app:1.0")
	if err != nil {
		t.Fatal(err)
	}
	img := acquiretest.DebianImage(t, acquiretest.CleanStatus)
	if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: "admin", Password: servertest.AdminPassword})); err != nil {
		t.Fatal(err)
	}
	add := func(name, password string) {
		t.Helper()
		if code := e.API(t, "POST", "/api/v1/upstreams", map[string]any{
			"name": name, "registry": private.Host, "repositories": []string{"team/*"}, "insecure": true,
			"username": "admin", "password": password,
		}, nil); code != http.StatusCreated {
			t.Fatalf("add upstream: HTTP %d", code)
		}
	}
	add("private", "wrong-password-123")
	rec := e.Wait(t, e.Submit(t, private.Host+"/team/app:1.0"))
	if rec.State != acquire.StateFailed || !strings.Contains(strings.Join(rec.Reasons, " "), "401") {
		t.Fatalf("wrong credentials: %s %q, want failed with the registry's 401", rec.State, rec.Reasons)
	}
	add("private", servertest.AdminPassword) // replaces the entry
	rec = e.Wait(t, e.Submit(t, private.Host+"/team/app:1.0"))
	if rec.State != acquire.StatePromoted {
		t.Fatalf("with the right credentials: %s %q", rec.State, rec.Reasons)
	}
	var list map[string]any
	e.API(t, "GET", "/api/v1/upstreams", nil, &list)
	if s := strings.ToLower(jsonString(t, list)); strings.Contains(s, strings.ToLower(servertest.AdminPassword)) || !strings.Contains(s, `"username":"admin"`) {
		t.Errorf("the upstream listing shows the password, or no user name: %s", s)
	}
}

func jsonString(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// An upstream that fails for a while (a 502 on its manifests): the import
// is retried with backoff, and the acquisition completes.
func TestTransientUpstreamErrorsAreRetried(t *testing.T) {
	e := acquiretest.Start(t, nil)
	target, err := url.Parse(e.Upstream.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	var failures atomic.Int32
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/manifests/") && failures.Add(1) <= 2 {
			http.Error(w, "upstream hiccup", http.StatusBadGateway)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(flaky.Close)
	host := strings.TrimPrefix(flaky.URL, "http://")
	acquiretest.Push(t, e.Upstream.Host+"/demo/app:1.0", acquiretest.DebianImage(t, acquiretest.CleanStatus))
	if code := e.API(t, "POST", "/api/v1/upstreams", map[string]any{
		"name": "flaky", "registry": host, "repositories": []string{"demo/*"}, "insecure": true,
	}, nil); code != http.StatusCreated {
		t.Fatalf("add upstream: HTTP %d", code)
	}
	rec := e.Wait(t, e.Submit(t, host+"/demo/app:1.0"))
	if rec.State != acquire.StatePromoted {
		t.Fatalf("%s %q, want promoted after the upstream recovered", rec.State, rec.Reasons)
	}
	if n := failures.Load(); n < 3 {
		t.Errorf("the upstream was asked %d times for manifests, want the 2 failures and more", n)
	}
}
