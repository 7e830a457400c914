package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cssc-project/cssc/internal/version"
)

// request is what a receiver got.
type request struct {
	path, query string
	header      http.Header
	body        []byte
}

// receiver is a webhook that answers with the statuses in turn (the last
// one from then on) and records every request.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	statuses []int
	got      []request
	onReq    func()
}

func newReceiver(t *testing.T, statuses ...int) *receiver {
	t.Helper()
	r := &receiver{statuses: statuses}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, request{req.URL.Path, req.URL.RawQuery, req.Header.Clone(), b})
		n := len(r.got)
		code := http.StatusOK
		if len(r.statuses) > 0 {
			code = r.statuses[min(n, len(r.statuses))-1]
		}
		on := r.onReq
		r.mu.Unlock()
		if on != nil {
			on()
		}
		if code == http.StatusTemporaryRedirect {
			w.Header().Set("Location", "/elsewhere")
		}
		if code == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "0")
		}
		w.WriteHeader(code)
		if code == http.StatusBadRequest {
			_, _ = io.WriteString(w, "invalid_payload\n\x1b[31m")
		}
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) requests() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]request(nil), r.got...)
}

func fast(o Options) Options {
	if o.Backoff == 0 {
		o.Backoff = time.Millisecond
	}
	return o
}

func notifier(t *testing.T, urls []string, o Options) *Notifier {
	t.Helper()
	n, err := New(urls, fast(o))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return n
}

var promoted = Event{
	Kind:          KindPromoted,
	Time:          time.Date(2026, 6, 1, 12, 30, 0, 0, time.FixedZone("CEST", 2*3600)),
	AcquisitionID: "acq-42",
	Source:        "docker.io/library/nginx:1.27",
	Image:         "golden/library/nginx:1.27",
	Digest:        "sha256:abcd",
	RiskScore:     12,
	URL:           "https://cssc.example/api/v1/acquisitions/acq-42",
}

func TestNotifyGenericBody(t *testing.T) {
	r := newReceiver(t)
	n := notifier(t, []string{r.URL + "/hook/T0KEN?team=a"}, Options{})
	if err := n.Notify(context.Background(), promoted); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	got := r.requests()
	if len(got) != 1 {
		t.Fatalf("%d requests, want 1", len(got))
	}
	req := got[0]
	if req.path != "/hook/T0KEN" || req.query != "team=a" {
		t.Errorf("sent to %s?%s", req.path, req.query)
	}
	if ct := req.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if ua := req.header.Get("User-Agent"); ua != "cssc/"+version.Version {
		t.Errorf("User-Agent %q", ua)
	}
	if s := req.header.Get(SignatureHeader); s != "" {
		t.Errorf("signature %q without a secret", s)
	}
	var body map[string]any
	if err := json.Unmarshal(req.body, &body); err != nil {
		t.Fatalf("body: %v\n%s", err, req.body)
	}
	want := map[string]any{
		"kind":           "acquisition.promoted",
		"time":           "2026-06-01T10:30:00Z",
		"acquisition_id": "acq-42",
		"source":         "docker.io/library/nginx:1.27",
		"image":          "golden/library/nginx:1.27",
		"digest":         "sha256:abcd",
		"risk_score":     float64(12),
		"reasons":        []any{},
		"url":            "https://cssc.example/api/v1/acquisitions/acq-42",
		"text":           ":white_check_mark: promoted docker.io/library/nginx:1.27 → golden/library/nginx:1.27 (risk 12) <https://cssc.example/api/v1/acquisitions/acq-42|details>",
	}
	for k, v := range want {
		if gb, _ := json.Marshal(body[k]); string(gb) != mustJSON(t, v) {
			t.Errorf("%s = %s, want %s", k, gb, mustJSON(t, v))
		}
	}
	if len(body) != len(want) {
		t.Errorf("body has %d fields, want %d: %s", len(body), len(want), req.body)
	}
}

func TestNotifyZeroTimeIsNow(t *testing.T) {
	r := newReceiver(t)
	n := notifier(t, []string{r.URL}, Options{})
	before := time.Now().Add(-time.Second)
	if err := n.Notify(context.Background(), Event{Kind: KindFailed, RiskScore: -1, Reasons: []string{"registry unreachable"}}); err != nil {
		t.Fatal(err)
	}
	var body struct {
		Time      time.Time `json:"time"`
		RiskScore int       `json:"risk_score"`
		Text      string    `json:"text"`
	}
	if err := json.Unmarshal(r.requests()[0].body, &body); err != nil {
		t.Fatal(err)
	}
	if body.Time.Before(before) || body.Time.After(time.Now().Add(time.Second)) {
		t.Errorf("time %s, want about now", body.Time)
	}
	if body.RiskScore != -1 || body.Text != ":x: failed: registry unreachable" {
		t.Errorf("risk %d, text %q", body.RiskScore, body.Text)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// hostRewriter sends every request to one test server, whatever its host,
// so that a hooks.slack.com URL can be tested without the internet.
type hostRewriter struct{ to *url.URL }

func (h hostRewriter) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("X-Original-Host", req.URL.Host)
	req.URL.Scheme, req.URL.Host = h.to.Scheme, h.to.Host
	return http.DefaultTransport.RoundTrip(req)
}

func TestNotifySlackForm(t *testing.T) {
	r := newReceiver(t)
	to, _ := url.Parse(r.URL)
	client := &http.Client{Transport: hostRewriter{to}}
	n := notifier(t, []string{
		"https://hooks.slack.com/services/T00/B00/XXXX",
		r.URL + "/mattermost?format=slack&channel=ops",
	}, Options{Client: client})
	blocked := Event{Kind: KindBlocked, Source: "docker.io/library/nginx:1.27", Image: "quarantine/library/nginx:1.27",
		RiskScore: 85, Reasons: []string{"malware found", "risk score 85 is above the promote threshold 70"}}
	if err := n.Notify(context.Background(), blocked); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	got := r.requests()
	if len(got) != 2 {
		t.Fatalf("%d requests, want 2", len(got))
	}
	want := `{"text":":no_entry: blocked docker.io/library/nginx:1.27 → quarantine/library/nginx:1.27 (risk 85): malware found; risk score 85 is above the promote threshold 70"}`
	seen := map[string]bool{}
	for _, req := range got {
		if string(req.body) != want {
			t.Errorf("%s: body %s, want %s", req.path, req.body, want)
		}
		seen[req.path] = true
		switch req.path {
		case "/services/T00/B00/XXXX":
			if h := req.header.Get("X-Original-Host"); h != "hooks.slack.com" {
				t.Errorf("slack request went to %q", h)
			}
		case "/mattermost":
			if req.query != "channel=ops" {
				t.Errorf("query %q: format=slack should be removed, the rest kept", req.query)
			}
		}
	}
	if !seen["/services/T00/B00/XXXX"] || !seen["/mattermost"] {
		t.Errorf("requests to %v", seen)
	}
}

func TestNotifyRetries(t *testing.T) {
	tests := []struct {
		name     string
		statuses []int
		retries  int
		requests int
		wantErr  []string // substrings; none means success
	}{
		{"503 then success", []int{503, 200}, 0, 2, nil},
		{"429 then 502 then success", []int{429, 502, 204}, 0, 3, nil},
		{"408 then success", []int{408, 200}, 0, 2, nil},
		{"400 is not retried", []int{400}, 0, 1, []string{"HTTP 400 Bad Request: invalid_payload [31m"}},
		{"404 is not retried", []int{404}, 0, 1, []string{"HTTP 404 Not Found"}},
		{"redirects are not followed", []int{307}, 0, 1, []string{"HTTP 307 Temporary Redirect"}},
		{"gives up after the retries", []int{503}, 2, 3, []string{"3 attempts", "HTTP 503"}},
		{"no retries", []int{500}, -1, 1, []string{"1 attempts", "HTTP 500"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newReceiver(t, tc.statuses...)
			n := notifier(t, []string{r.URL + "/secret-token"}, Options{Retries: tc.retries})
			err := n.Notify(context.Background(), promoted)
			if got := len(r.requests()); got != tc.requests {
				t.Errorf("%d requests, want %d", got, tc.requests)
			}
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("Notify: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Notify succeeded")
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q, want it to contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "secret-token") {
				t.Errorf("error %q shows the webhook's path", err)
			}
		})
	}
}

func TestNotifyNetworkErrorRetried(t *testing.T) {
	r := newReceiver(t)
	addr := r.URL
	r.Close() // nothing listens any more
	n := notifier(t, []string{addr + "/tok"}, Options{Retries: 2})
	err := n.Notify(context.Background(), promoted)
	if err == nil || !strings.Contains(err.Error(), "3 attempts") {
		t.Fatalf("Notify to a closed port: %v", err)
	}
	if strings.Contains(err.Error(), "/tok") {
		t.Errorf("error %q shows the webhook's path", err)
	}
}

func TestNotifyTimeoutPerAttempt(t *testing.T) {
	release := make(chan struct{})
	r := newReceiver(t)
	r.onReq = func() { <-release }
	defer close(release) // before r.Close, which waits for the handlers
	n := notifier(t, []string{r.URL}, Options{Timeout: 50 * time.Millisecond, Retries: 1})
	start := time.Now()
	err := n.Notify(context.Background(), promoted)
	if err == nil || !strings.Contains(err.Error(), "no answer within 50ms") {
		t.Fatalf("Notify to a hanging receiver: %v", err)
	}
	if got := len(r.requests()); got != 2 {
		t.Errorf("%d requests, want 2 (a timeout is retried)", got)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s", d)
	}
}

func TestNotifySignature(t *testing.T) {
	secret := []byte("shared webhook secret")
	r := newReceiver(t)
	slack := r.URL + "/s?format=slack"
	n := notifier(t, []string{r.URL + "/g", slack}, Options{Secret: secret})
	if err := n.Notify(context.Background(), promoted); err != nil {
		t.Fatal(err)
	}
	got := r.requests()
	if len(got) != 2 {
		t.Fatalf("%d requests, want 2", len(got))
	}
	for _, req := range got {
		mac := hmac.New(sha256.New, secret)
		mac.Write(req.body)
		want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
		if h := req.header.Get(SignatureHeader); !hmac.Equal([]byte(h), []byte(want)) {
			t.Errorf("%s: signature %q, want %q", req.path, h, want)
		}
		wrong := hmac.New(sha256.New, []byte("another secret"))
		wrong.Write(req.body)
		if req.header.Get(SignatureHeader) == "sha256="+hex.EncodeToString(wrong.Sum(nil)) {
			t.Errorf("%s: signature verifies under the wrong secret", req.path)
		}
	}
}

func TestNotifyContextCancelStopsRetries(t *testing.T) {
	r := newReceiver(t, 503)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r.onReq = cancel // cancel once the first attempt arrived
	n := notifier(t, []string{r.URL}, Options{Backoff: time.Hour, Retries: 5})
	start := time.Now()
	err := n.Notify(ctx, promoted)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Notify: %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %s after cancel", d)
	}
	if got := len(r.requests()); got != 1 {
		t.Errorf("%d requests, want 1", got)
	}
}

func TestNotifyAllWebhooks(t *testing.T) {
	ok, bad := newReceiver(t), newReceiver(t, 400)
	n := notifier(t, []string{ok.URL, bad.URL}, Options{})
	err := n.Notify(context.Background(), promoted)
	if err == nil || !strings.Contains(err.Error(), bad.URL) || strings.Contains(err.Error(), ok.URL+":") {
		t.Fatalf("Notify: %v, want an error for %s only", err, bad.URL)
	}
	if len(ok.requests()) != 1 || len(bad.requests()) != 1 {
		t.Errorf("requests: %d and %d, want 1 each", len(ok.requests()), len(bad.requests()))
	}

	none, err := New(nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := none.Notify(context.Background(), promoted); err != nil {
		t.Errorf("Notify without webhooks: %v", err)
	}
}

func TestNewRefusesBadURLs(t *testing.T) {
	tests := []struct {
		url  string
		want string
	}{
		{"ftp://example.com/hook", `scheme "ftp"`},
		{"javascript:alert(1)", `scheme "javascript"`},
		{"example.com/hook", `scheme ""`},
		{"http://", "no host"},
		{"https:///path", "no host"},
		{"http://[::1/x", "not a URL"},
		{"http://exa mple.com/", "not a URL"},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			_, err := New([]string{"https://ok.example/hook", tc.url}, Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "webhook 2") {
				t.Errorf("New(%q): %v, want an error about webhook 2 mentioning %q", tc.url, err, tc.want)
			}
		})
	}
	if _, err := New([]string{"https://ok.example/hook"}, Options{Timeout: -time.Second}); err == nil {
		t.Error("New accepted a negative timeout")
	}
	if _, err := New([]string{"http://127.0.0.1:8080/x", "HTTPS://Hooks.Slack.com/services/x"}, Options{}); err != nil {
		t.Errorf("New refused good URLs: %v", err)
	}
}

func TestText(t *testing.T) {
	tests := []struct {
		name string
		e    Event
		want string
	}{
		{"promoted", Event{Kind: KindPromoted, Source: "docker.io/library/nginx:1.27", Image: "golden/library/nginx:1.27", RiskScore: 12},
			":white_check_mark: promoted docker.io/library/nginx:1.27 → golden/library/nginx:1.27 (risk 12)"},
		{"blocked", Event{Kind: KindBlocked, Source: "docker.io/x:1", RiskScore: 80, Reasons: []string{"a", "", "b"}},
			":no_entry: blocked docker.io/x:1 (risk 80): a; b"},
		{"demoted without risk", Event{Kind: KindDemoted, Image: "golden/x:1", RiskScore: -1, Reasons: []string{"new critical CVE"}},
			":arrow_down: demoted golden/x:1: new critical CVE"},
		{"flagged", Event{Kind: KindFlagged, Image: "golden/x:1", RiskScore: 0},
			":warning: flagged golden/x:1 (risk 0)"},
		{"unknown kind", Event{Kind: "image.deleted", Image: "golden/x:1", RiskScore: -1}, ":bell: image.deleted golden/x:1"},
		{"escaped, one line", Event{Kind: KindFailed, Source: "r/x:1", RiskScore: -1, Reasons: []string{"pull <r/x:1>: a & b\nline 2"}},
			":x: failed r/x:1: pull &lt;r/x:1&gt;: a &amp; b line 2"},
		{"link", Event{Kind: KindFailed, Source: "r/x:1", RiskScore: -1, URL: "https://c.example/a?x=1&y=2"},
			":x: failed r/x:1 <https://c.example/a?x=1&amp;y=2|details>"},
		{"no link for a URL that would break the markup", Event{Kind: KindFailed, Source: "r/x:1", RiskScore: -1, URL: "https://c.example/a|b"},
			":x: failed r/x:1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Text(tc.e); got != tc.want {
				t.Errorf("Text = %q, want %q", got, tc.want)
			}
		})
	}
}
