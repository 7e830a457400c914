package policy

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

const vexDoc = `{
  "@context": "https://openvex.dev/ns/v0.2.0",
  "@id": "https://cssc.example/vex/1",
  "author": "security@example.com",
  "timestamp": "2026-05-01T00:00:00Z",
  "version": 1,
  "statements": [
    {
      "vulnerability": {"name": "CVE-2024-1234", "aliases": ["GHSA-xxxx"]},
      "products": [{"@id": "sha256:aa"}],
      "status": "not_affected",
      "justification": "vulnerable_code_not_in_execute_path",
      "impact_statement": "the TLS code is never called",
      "cssc": {"approver": "alice@example.com", "expires": "2026-07-01T00:00:00Z"}
    },
    {
      "vulnerability": {"name": "CVE-2024-9999"},
      "products": [{"@id": "pkg:oci/app?repository_url=registry.example/golden/app", "subcomponents": [{"@id": "pkg:deb/debian/zlib@1.2"}]}],
      "status": "not_affected",
      "justification": "inline_mitigations_already_exist",
      "cssc": {"approver": "bob", "expires": "2026-05-15T00:00:00Z"}
    },
    {
      "vulnerability": {"name": "CVE-2024-5555"},
      "products": [{"@id": "golden/other"}],
      "status": "fixed",
      "status_notes": "patched in our build",
      "cssc": {"approver": "carol", "expires": "2027-01-01T00:00:00Z"}
    },
    {
      "vulnerability": {"name": "CVE-2024-7777"},
      "products": [{"@id": "sha256:aa"}],
      "status": "affected",
      "action_statement": "upgrade"
    }
  ]
}`

func TestParseExceptions(t *testing.T) {
	got, err := ParseExceptions([]byte(vexDoc))
	if err != nil {
		t.Fatalf("ParseExceptions: %v", err)
	}
	want := []Exception{
		{Vulnerability: "CVE-2024-1234", Aliases: []string{"GHSA-xxxx"}, Products: []string{"sha256:aa"}, Status: "not_affected", Reason: "the TLS code is never called", Approver: "alice@example.com", Expires: time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC), Document: "https://cssc.example/vex/1"},
		{Vulnerability: "CVE-2024-9999", Products: []string{"pkg:oci/app?repository_url=registry.example/golden/app"}, Packages: []string{"zlib"}, Status: "not_affected", Reason: "inline_mitigations_already_exist", Approver: "bob", Expires: time.Date(2026, 5, 15, 0, 0, 0, 0, time.UTC), Document: "https://cssc.example/vex/1"},
		{Vulnerability: "CVE-2024-5555", Products: []string{"golden/other"}, Status: "fixed", Reason: "patched in our build", Approver: "carol", Expires: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), Document: "https://cssc.example/vex/1"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseExceptions:\n got %+v\nwant %+v", got, want)
	}
}

func TestParseExceptionsRejects(t *testing.T) {
	stmt := func(s string) string {
		return `{"@context":"https://openvex.dev/ns/v0.2.0","@id":"d","author":"a","timestamp":"2026-05-01T00:00:00Z","version":1,"statements":[` + s + `]}`
	}
	tests := []struct{ name, doc, err string }{
		{"not JSON", "{", "parse OpenVEX"},
		{"no approver", stmt(`{"vulnerability":{"name":"CVE-1"},"products":[{"@id":"sha256:aa"}],"status":"not_affected","justification":"component_not_present","cssc":{"expires":"2026-07-01T00:00:00Z"}}`), "no approver"},
		{"no extension", stmt(`{"vulnerability":{"name":"CVE-1"},"products":[{"@id":"sha256:aa"}],"status":"not_affected","justification":"component_not_present"}`), "no approver"},
		{"bad expiry", stmt(`{"vulnerability":{"name":"CVE-1"},"products":[{"@id":"sha256:aa"}],"status":"not_affected","justification":"component_not_present","cssc":{"approver":"a","expires":"30d"}}`), "expiry"},
		{"no products", stmt(`{"vulnerability":{"name":"CVE-1"},"status":"not_affected","justification":"component_not_present","cssc":{"approver":"a","expires":"2026-07-01T00:00:00Z"}}`), "no products"},
		{"no reason", stmt(`{"vulnerability":{"name":"CVE-1"},"products":[{"@id":"sha256:aa"}],"status":"fixed","cssc":{"approver":"a","expires":"2026-07-01T00:00:00Z"}}`), "no reason"},
		{"not_affected without justification", stmt(`{"vulnerability":{"name":"CVE-1"},"products":[{"@id":"sha256:aa"}],"status":"not_affected","cssc":{"approver":"a","expires":"2026-07-01T00:00:00Z"}}`), "CVE-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseExceptions([]byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("ParseExceptions = %+v, %v; want an error containing %q", got, err, tt.err)
			}
		})
	}
}

func TestActiveExceptions(t *testing.T) {
	all, err := ParseExceptions([]byte(vexDoc))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		digest string
		repos  []string
		now    time.Time
		want   []string
	}{
		{"by digest, active", "sha256:aa", []string{"quarantine/app"}, at, []string{"CVE-2024-1234"}},
		{"by purl repository, before expiry", "sha256:bb", []string{"quarantine/app", "golden/app"}, time.Date(2026, 5, 14, 0, 0, 0, 0, time.UTC), []string{"CVE-2024-9999"}},
		{"by purl repository, expired", "sha256:bb", []string{"golden/app"}, at, nil},
		{"at the expiry instant", "sha256:aa", nil, time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC), nil},
		{"by plain repository", "sha256:cc", []string{"golden/other"}, at, []string{"CVE-2024-5555"}},
		{"other image", "sha256:dd", []string{"golden/unrelated"}, at, nil},
		{"no digest, no repositories", "", nil, at, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, e := range ActiveExceptions(all, tt.digest, tt.repos, tt.now) {
				got = append(got, e.Vulnerability)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ActiveExceptions = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestProductMatches(t *testing.T) {
	tests := []struct {
		id, digest string
		repos      []string
		want       bool
	}{
		{"sha256:aa", "sha256:aa", nil, true},
		{"registry.example/golden/app@sha256:aa", "sha256:aa", nil, true},
		{"pkg:oci/app@sha256%3Aaa?repository_url=registry.example/golden/app", "sha256:aa", nil, true},
		{"pkg:oci/app@sha256%3Aaa?repository_url=registry.example/golden/app", "sha256:bb", []string{"golden/app"}, false},
		{"pkg:oci/app?repository_url=registry.example/golden/app", "sha256:bb", []string{"golden/app"}, true},
		{"pkg:oci/app?repository_url=registry.example/xgolden/app", "", []string{"golden/app"}, false},
		{"pkg:deb/debian/app", "", []string{"app"}, false},
		{"golden/app", "", []string{"golden/app"}, true},
		{"golden/app", "", []string{"golden/app2"}, false},
		{"", "", []string{""}, false},
	}
	for _, tt := range tests {
		if got := productMatches(tt.id, tt.digest, tt.repos); got != tt.want {
			t.Errorf("productMatches(%q, %q, %q) = %v, want %v", tt.id, tt.digest, tt.repos, got, tt.want)
		}
	}
}
