package acquire

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"

	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/cssc-project/cssc/internal/upstream"
)

func TestTransient(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"network", &url.Error{Op: "Get", URL: "https://r.example", Err: &net.OpError{Op: "dial", Err: errors.New("refused")}}, true},
		{"timeout", fmt.Errorf("copy: %w", context.DeadlineExceeded), true},
		{"503", &errcode.ErrorResponse{StatusCode: http.StatusServiceUnavailable}, true},
		{"429", &errcode.ErrorResponse{StatusCode: http.StatusTooManyRequests}, true},
		{"401", &errcode.ErrorResponse{StatusCode: http.StatusUnauthorized}, false},
		{"not found", fmt.Errorf("resolve: %w", errdef.ErrNotFound), false},
		{"not allowed", &upstream.NotAllowedError{Ref: "docker.io/library/ngnix"}, false},
		{"permanent", permanent(errors.New("bad manifest")), false},
		{"reset", errors.New("read: connection reset by peer"), true},
		{"other", errors.New("policy decision: undefined"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := transient(tc.err); got != tc.want {
				t.Errorf("transient(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

func TestParseSourceAndNames(t *testing.T) {
	for _, tc := range []struct {
		ref, repo, tag string
		err            bool
	}{
		{ref: "docker.io/library/nginx:1.27", repo: "library/nginx", tag: "1.27"},
		{ref: "nginx", repo: "library/nginx", tag: "latest"},
		{ref: "127.0.0.1:5001/demo/app@sha256:" + fmt.Sprintf("%064d", 1), repo: "demo/app"},
		{ref: "https://docker.io/library/nginx:1.27", err: true},
		{ref: " ", err: true},
	} {
		s, err := parseSource(tc.ref)
		if tc.err {
			if err == nil || !IsInvalid(err) {
				t.Errorf("parseSource(%q) = %v, want an invalid-request error", tc.ref, err)
			}
			continue
		}
		if err != nil || s.repository != tc.repo || s.tag != tc.tag {
			t.Errorf("parseSource(%q) = %+v %v, want %s:%s", tc.ref, s, err, tc.repo, tc.tag)
		}
	}
	for name, ok := range map[string]bool{"library/nginx": true, "web/nginx-1": true, "Web/Nginx": false, "a//b": false, "../x": false} {
		if got := validName(name) == nil; got != ok {
			t.Errorf("validName(%q) = %v, want %v", name, got, ok)
		}
	}
	for p, ok := range map[string]bool{"linux/amd64": true, "linux/arm64/v8": true, "linux": false, "linux/amd64;rm": false} {
		if got := validPlatform(p) == nil; got != ok {
			t.Errorf("validPlatform(%q) = %v, want %v", p, got, ok)
		}
	}
}

func TestDurationJSON(t *testing.T) {
	b, err := json.Marshal(SyncRule{Interval: Duration(6 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	var back SyncRule
	if err := json.Unmarshal(b, &back); err != nil || time.Duration(back.Interval) != 6*time.Hour {
		t.Fatalf("round trip of %s: %v %v", b, back.Interval, err)
	}
	if err := json.Unmarshal([]byte(`{"interval": "six hours"}`), &back); err == nil {
		t.Error("a malformed interval was accepted")
	}
}

func TestRecordDefaults(t *testing.T) {
	r, err := ParseRecord([]byte(`{"id": "x", "state": "queued"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(r)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	for _, k := range []string{"reasons", "referrers", "steps"} {
		if _, ok := m[k].([]any); !ok {
			t.Errorf("%s is %v, want a list (the API promises one)", k, m[k])
		}
	}
	if m["risk_score"] != nil {
		t.Errorf("risk_score = %v before scoring, want null", m["risk_score"])
	}
}
