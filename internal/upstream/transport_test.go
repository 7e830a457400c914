package upstream

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock records the waits asked for instead of sleeping.
type fakeClock struct {
	mu    sync.Mutex
	t     time.Time
	waits []time.Duration
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waits = append(c.waits, d)
	c.t = c.t.Add(d)
	return nil
}

func (c *fakeClock) policy() retryPolicy {
	return retryPolicy{attempts: 5, maxWait: 60 * time.Second, baseDelay: 500 * time.Millisecond, now: c.now, sleep: c.sleep}
}

// flaky answers each request with the next status of script (the last
// one repeated), with Retry-After set to the matching entry of after.
func flaky(t *testing.T, script []int, after []string) (*httptest.Server, *atomic.Int32, *[]string) {
	t.Helper()
	var n atomic.Int32
	var mu sync.Mutex
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		if i < len(after) && after[i] != "" {
			w.Header().Set("Retry-After", after[i])
		}
		code := script[min(i, len(script)-1)]
		w.WriteHeader(code)
		_, _ = io.WriteString(w, http.StatusText(code))
	}))
	t.Cleanup(srv.Close)
	return srv, &n, &bodies
}

func TestTransportRetries(t *testing.T) {
	start := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		script    []int
		after     []string
		wantCalls int
		wantWaits []time.Duration // exact waits; nil: check backoffWaits
		backoff   bool
		wantErr   string
	}{
		{name: "429 then 200, seconds", script: []int{429, 200}, after: []string{"3"}, wantCalls: 2, wantWaits: []time.Duration{3 * time.Second}},
		{name: "503 then 200, HTTP date", script: []int{503, 200},
			after: []string{start.Add(7 * time.Second).Format(http.TimeFormat)}, wantCalls: 2, wantWaits: []time.Duration{7 * time.Second}},
		{name: "date in the past", script: []int{429, 200}, after: []string{start.Add(-time.Hour).Format(http.TimeFormat)}, wantCalls: 2, wantWaits: []time.Duration{0}},
		{name: "capped", script: []int{429, 429, 200}, after: []string{"3600", "61"}, wantCalls: 3, wantWaits: []time.Duration{time.Minute, time.Minute}},
		{name: "backoff without Retry-After", script: []int{503, 503, 503, 200}, wantCalls: 4, backoff: true},
		{name: "429 forever", script: []int{429}, after: []string{"1", "1", "1", "1", "1"}, wantCalls: 5,
			wantWaits: []time.Duration{time.Second, time.Second, time.Second, time.Second}, wantErr: "429 Too Many Requests after 5 attempts"},
		{name: "500 not retried", script: []int{500, 200}, wantCalls: 1},
		{name: "404 not retried", script: []int{404}, wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, calls, _ := flaky(t, tt.script, tt.after)
			clock := &fakeClock{t: start}
			rt, err := Upstream{Name: "test"}.transport(nil, clock.policy())
			if err != nil {
				t.Fatal(err)
			}
			resp, err := (&http.Client{Transport: rt}).Get(srv.URL + "/v2/")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Get = %v, want error containing %q", err, tt.wantErr)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				_ = resp.Body.Close()
				if want := tt.script[min(tt.wantCalls, len(tt.script))-1]; resp.StatusCode != want {
					t.Fatalf("status %d, want %d", resp.StatusCode, want)
				}
			}
			if int(calls.Load()) != tt.wantCalls {
				t.Fatalf("%d requests, want %d", calls.Load(), tt.wantCalls)
			}
			if tt.backoff {
				if len(clock.waits) != tt.wantCalls-1 {
					t.Fatalf("waits %v", clock.waits)
				}
				for i, w := range clock.waits {
					full := 500 * time.Millisecond << i
					if w < full/2 || w > full {
						t.Errorf("wait %d = %v, want between %v and %v", i, w, full/2, full)
					}
				}
				return
			}
			if len(clock.waits) != len(tt.wantWaits) {
				t.Fatalf("waits %v, want %v", clock.waits, tt.wantWaits)
			}
			for i := range tt.wantWaits {
				if clock.waits[i] != tt.wantWaits[i] {
					t.Fatalf("waits %v, want %v", clock.waits, tt.wantWaits)
				}
			}
		})
	}
}

func TestTransportReplaysBody(t *testing.T) {
	srv, calls, bodies := flaky(t, []int{429, 201}, []string{"0"})
	clock := &fakeClock{}
	rt, _ := Upstream{Name: "test"}.transport(nil, clock.policy())
	// http.NewRequest sets GetBody for a bytes.Reader.
	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/v2/x/blobs/uploads/1", bytes.NewReader([]byte("layer")))
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 201 || calls.Load() != 2 || strings.Join(*bodies, ",") != "layer,layer" {
		t.Fatalf("status %d after %d calls with bodies %q", resp.StatusCode, calls.Load(), *bodies)
	}

	// A body that cannot be replayed: the 429 comes back as it is.
	srv, calls, _ = flaky(t, []int{429, 201}, []string{"0"})
	req, _ = http.NewRequest(http.MethodPost, srv.URL+"/v2/x/blobs/uploads/", io.NopCloser(strings.NewReader("once")))
	req.GetBody = nil
	resp, err = rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 429 || calls.Load() != 1 {
		t.Fatalf("status %d after %d calls, want one 429", resp.StatusCode, calls.Load())
	}
}

func TestTransportCancelledWhileWaiting(t *testing.T) {
	srv, calls, _ := flaky(t, []int{429}, []string{"30"})
	rt, _ := Upstream{Name: "test"}.transport(nil, retryPolicy{attempts: 5, maxWait: time.Minute, baseDelay: time.Second, now: time.Now, sleep: sleepCtx})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v2/", nil)
	begin := time.Now()
	_, err := rt.RoundTrip(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the deadline", err)
	}
	if time.Since(begin) > 5*time.Second || calls.Load() != 1 {
		t.Fatalf("took %v and %d calls", time.Since(begin), calls.Load())
	}
}

func TestTransportRateLimit(t *testing.T) {
	srv, calls, _ := flaky(t, []int{200}, nil)
	clock := &fakeClock{t: time.Unix(1000, 0)}
	rt, err := Upstream{Name: "test", RateLimit: 2}.transport(nil, clock.policy())
	if err != nil {
		t.Fatal(err)
	}
	for range 6 {
		resp, err := (&http.Client{Transport: rt}).Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
	}
	// A burst of 2, then one request every half second.
	var total time.Duration
	for _, w := range clock.waits {
		total += w
	}
	if calls.Load() != 6 || len(clock.waits) != 4 || total != 2*time.Second {
		t.Fatalf("%d calls, waits %v (total %v); want 6 calls, 4 waits totalling 2s", calls.Load(), clock.waits, total)
	}
}

func TestTransportCABundleAndProxy(t *testing.T) {
	// A TLS server whose certificate only the CA bundle makes trusted.
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	caPEM := string(pemCert(srv.Certificate().Raw))

	base := &http.Transport{}
	if resp, err := (&http.Client{Transport: base}).Get(srv.URL); err == nil {
		_ = resp.Body.Close()
		t.Fatal("the test server is trusted without the CA bundle")
	}
	rt, err := Upstream{Name: "test", CABundle: caPEM}.Transport(base)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: rt}).Get(srv.URL)
	if err != nil {
		t.Fatalf("with the CA bundle: %v", err)
	}
	_ = resp.Body.Close()
	if base.TLSClientConfig != nil && base.TLSClientConfig.RootCAs != nil {
		t.Fatal("Transport changed its base transport's roots")
	}

	// A proxy sees the request.
	var proxied atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxied.Add(1)
		if r.URL.Host != "registry.invalid:5000" {
			t.Errorf("proxy got %s", r.URL)
		}
		_, _ = io.WriteString(w, "via proxy")
	}))
	t.Cleanup(proxy.Close)
	rt, err = Upstream{Name: "test", Proxy: proxy.URL}.Transport(&http.Transport{})
	if err != nil {
		t.Fatal(err)
	}
	resp, err = (&http.Client{Transport: rt}).Get("http://registry.invalid:5000/v2/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if string(b) != "via proxy" || proxied.Load() != 1 {
		t.Fatalf("got %q, %d proxied", b, proxied.Load())
	}

	// CA bundle and proxy need an *http.Transport to set them on.
	if _, err := (Upstream{Name: "test", Proxy: proxy.URL}).Transport(roundTripFunc(nil)); err == nil {
		t.Fatal("a proxy was accepted on a transport it cannot be set on")
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestRedact(t *testing.T) {
	u, _ := url.Parse("https://bob:pw@registry.example/v2/token?scope=x&password=y")
	if got := redact(u); strings.Contains(got, "pw") || strings.Contains(got, "password") {
		t.Fatalf("redact = %s", got)
	}
}

func TestTLSConfigKept(t *testing.T) {
	base := &http.Transport{TLSClientConfig: &tls.Config{ServerName: "keep.example", MinVersion: tls.VersionTLS13}}
	rt, err := Upstream{Name: "test", CABundle: testCAPEM(t)}.Transport(base)
	if err != nil {
		t.Fatal(err)
	}
	ht := rt.(*retryTransport).next.(*http.Transport)
	if ht.TLSClientConfig.ServerName != "keep.example" || ht.TLSClientConfig.MinVersion != tls.VersionTLS13 || ht.TLSClientConfig.RootCAs == nil {
		t.Fatalf("TLS config = %+v", ht.TLSClientConfig)
	}
	if base.TLSClientConfig.RootCAs != nil {
		t.Fatal("the base transport's TLS config was changed")
	}
}
