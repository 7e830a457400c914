package sign

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// fixedChecker answers with a fixed outcome and counts its calls.
type fixedChecker struct {
	name       string
	configured bool
	fp         string
	sigs       []Signature
	verdict    Verdict
	err        error
	calls      int
}

func (c *fixedChecker) Name() string        { return c.name }
func (c *fixedChecker) Configured() bool    { return c.configured }
func (c *fixedChecker) Fingerprint() string { return c.fp }
func (c *fixedChecker) Check(context.Context, *Target) ([]Signature, Verdict, error) {
	c.calls++
	return c.sigs, c.verdict, c.err
}

func target(content string) *Target {
	return &Target{Ref: "example.com/app:v1", Name: "example.com/app", Desc: ocispec.Descriptor{
		MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString(content), Size: int64(len(content)),
	}}
}

func TestVerifierCombinesVerdicts(t *testing.T) {
	pass := func(name string) *fixedChecker {
		return &fixedChecker{name: name, configured: true, verdict: Verdict{Checker: name, Passed: true},
			sigs: []Signature{{Format: FormatNotationJWS, Verified: true}}}
	}
	fail := func(name string) *fixedChecker {
		return &fixedChecker{name: name, configured: true, verdict: Verdict{Checker: name, Reason: "no signature verified"},
			sigs: []Signature{{Format: FormatCosign, Reason: ReasonWrongKey}}}
	}
	unconfigured := &fixedChecker{name: "sigstore", sigs: []Signature{{Format: FormatCosign, Reason: ReasonNotChecked}}}
	tests := []struct {
		name      string
		checkers  []Checker
		passed    bool
		verdicts  int
		signature int
	}{
		{"one passes", []Checker{pass("notary")}, true, 1, 1},
		{"one fails", []Checker{fail("sigstore")}, false, 1, 1},
		{"both must pass", []Checker{pass("notary"), fail("sigstore")}, false, 2, 2},
		{"both pass", []Checker{pass("notary"), pass("sigstore")}, true, 2, 2},
		{"unconfigured lists but does not decide", []Checker{pass("notary"), unconfigured}, true, 1, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := &Verifier{Checkers: tc.checkers}
			r, err := v.Verify(context.Background(), target("x"))
			if err != nil {
				t.Fatal(err)
			}
			if r.Passed != tc.passed || len(r.Verdicts) != tc.verdicts || len(r.Signatures) != tc.signature {
				t.Fatalf("passed %v, %d verdicts, %d signatures; want %v, %d, %d", r.Passed, len(r.Verdicts), len(r.Signatures), tc.passed, tc.verdicts, tc.signature)
			}
		})
	}
}

func TestVerifierNeedsConfiguration(t *testing.T) {
	v := &Verifier{Checkers: []Checker{&fixedChecker{name: "notary"}}}
	_, err := v.Verify(context.Background(), target("x"))
	if err == nil || !strings.Contains(err.Error(), "nothing to verify against") {
		t.Fatalf("error %v, want 'nothing to verify against'", err)
	}
}

func TestVerifierCheckerError(t *testing.T) {
	c := &fixedChecker{name: "notary", configured: true, err: errors.New("registry unreachable")}
	_, err := (&Verifier{Checkers: []Checker{c}}).Verify(context.Background(), target("x"))
	if err == nil || !strings.Contains(err.Error(), "registry unreachable") {
		t.Fatalf("error %v, want the checker's", err)
	}
}

func TestVerifierCache(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	expires := now.Add(30 * time.Minute)
	for _, cache := range []Cache{&MemoryCache{}, FileCache{Dir: t.TempDir()}} {
		c := &fixedChecker{name: "notary", configured: true, fp: "policy-1", verdict: Verdict{Checker: "notary", Passed: true},
			sigs: []Signature{{Format: FormatNotationJWS, Verified: true, Expires: &expires}}}
		clock := now
		v := &Verifier{Checkers: []Checker{c}, Cache: cache, TTL: time.Hour, Now: func() time.Time { return clock }}
		verify := func(tg *Target) *Report {
			t.Helper()
			r, err := v.Verify(context.Background(), tg)
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		if r := verify(target("a")); r.Cached || c.calls != 1 {
			t.Fatalf("%T: first verification cached %v, %d calls", cache, r.Cached, c.calls)
		}
		if r := verify(target("a")); !r.Cached || !r.Passed || c.calls != 1 || r.VerifiedAt != now {
			t.Fatalf("%T: second verification: cached %v, %d calls, verified at %v", cache, r.Cached, c.calls, r.VerifiedAt)
		}
		if verify(target("b")); c.calls != 2 {
			t.Fatalf("%T: another digest was answered from the cache", cache)
		}
		c.fp = "policy-2"
		if verify(target("a")); c.calls != 3 {
			t.Fatalf("%T: another configuration was answered from the cache", cache)
		}
		// The entry lives until the signature's expiry, not the full TTL.
		clock = now.Add(31 * time.Minute)
		c.fp = "policy-1"
		if r := verify(target("a")); r.Cached || c.calls != 4 {
			t.Fatalf("%T: verdict used past the signature's expiry", cache)
		}
		// A failure is never cached.
		c.verdict.Passed = false
		verify(target("c"))
		verify(target("c"))
		if c.calls != 6 {
			t.Fatalf("%T: a failed verdict was cached (%d calls)", cache, c.calls)
		}
	}
}

func TestVerifierCacheShorterTTL(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	c := &fixedChecker{name: "notary", configured: true, verdict: Verdict{Checker: "notary", Passed: true},
		sigs: []Signature{{Format: FormatNotationJWS, Verified: true}}}
	clock := now
	v := &Verifier{Checkers: []Checker{c}, Cache: FileCache{Dir: t.TempDir()}, TTL: 24 * time.Hour, Now: func() time.Time { return clock }}
	for i, step := range []struct {
		ttl, at time.Duration
		calls   int
	}{
		{24 * time.Hour, 0, 1},                           // stored for a day
		{24 * time.Hour, time.Hour, 1},                   // used an hour later
		{10 * time.Minute, 2 * time.Hour, 2},             // a run with --cache-ttl 10m does not use it
		{10 * time.Minute, 2*time.Hour + time.Minute, 2}, // the fresh entry is used
	} {
		v.TTL, clock = step.ttl, now.Add(step.at)
		if _, err := v.Verify(context.Background(), target("a")); err != nil {
			t.Fatal(err)
		}
		if c.calls != step.calls {
			t.Fatalf("step %d: %d verifications, want %d", i, c.calls, step.calls)
		}
	}
}

func TestFileCacheIgnoresDamagedEntries(t *testing.T) {
	dir := t.TempDir()
	fc := FileCache{Dir: dir}
	key := strings.Repeat("ab", 32)
	now := time.Now()
	if err := fc.Put(key, &Report{Passed: true, Digest: "sha256:1"}, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, ok := fc.Get(key, now); !ok {
		t.Fatal("entry not found")
	}
	p := filepath.Join(dir, "ab", key+".json")
	info, err := os.Stat(p)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("cache entry mode %v (%v), want 0600", info.Mode().Perm(), err)
	}
	// Entries others could have written are not trusted.
	for _, c := range []struct {
		path string
		mode os.FileMode
	}{{p, 0o644}, {filepath.Dir(p), 0o777}, {dir, 0o757}} {
		if err := os.Chmod(c.path, c.mode); err != nil {
			t.Fatal(err)
		}
		if _, ok := fc.Get(key, now); ok {
			t.Fatalf("entry used with %s mode %v", c.path, c.mode)
		}
		restore := os.FileMode(0o700)
		if c.path == p {
			restore = 0o600
		}
		if err := os.Chmod(c.path, restore); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := fc.Get(key, now); !ok {
		t.Fatal("entry not found after the modes were restored")
	}
	if err := os.WriteFile(p, []byte(`{"until":"2099-01-01T00:00:00Z","report":{"pass`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, ok := fc.Get(key, now); ok {
		t.Fatal("a damaged entry was used")
	}
}

func TestMemoryCacheBound(t *testing.T) {
	c := &MemoryCache{Max: 3}
	now := time.Now()
	for i, key := range []string{"k1", "k2", "k3", "k4"} {
		if err := c.Put(key, &Report{Passed: true}, now.Add(time.Duration(i+1)*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if len(c.entries) != 3 {
		t.Fatalf("%d entries, want 3", len(c.entries))
	}
	if _, ok := c.Get("k1", now); ok {
		t.Fatal("the entry expiring soonest was kept")
	}
	if _, ok := c.Get("k4", now); !ok {
		t.Fatal("the newest entry was dropped")
	}
}

func TestWriteText(t *testing.T) {
	ts := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	r := &Report{Image: "example.com/app:v1", Digest: "sha256:abc", Passed: false,
		Signatures: []Signature{
			{Format: FormatNotationJWS, Location: "referrer", Digest: "sha256:1111111111111111111111", Verified: true, Identity: "CN=builder", Timestamp: &ts},
			{Format: FormatCosign, Location: "tag sha256-abc.sig", Digest: "sha256:2222", Index: 1, Reason: ReasonWrongKey, Detail: "signature does not verify with the key"},
			{Format: FormatCosign, Location: "tag sha256-" + strings.Repeat("ab", 32) + ".sig", Digest: "sha256:3333", Reason: ReasonNotChecked, Detail: "no key given"},
			{Format: FormatCosign, Location: "tag sha256-" + strings.Repeat("ab", 32), Digest: "sha256:4444", Reason: ReasonMalformed, Detail: "odd"},
		},
		Verdicts: []Verdict{{Checker: "notary", Passed: true}, {Checker: "sigstore", Reason: "no signature verified"}},
	}
	var b bytes.Buffer
	if err := WriteText(&b, r); err != nil {
		t.Fatal(err)
	}
	want := `example.com/app:v1 (sha256:abc)
  notation-jws    referrer sha256:111111111111: verified, signed by CN=builder, timestamped 2026-12-03T10:00:00Z
  cosign          tag sha256-abc.sig #1 sha256:2222: FAILED wrong-key: signature does not verify with the key
  cosign          tag sha256-abababababab….sig sha256:3333: not checked: no key given
  cosign          tag sha256-abababababababababababababababababababababababababababababababab sha256:4444: FAILED malformed: odd
  notary: passed
  sigstore: FAILED: no signature verified
verification FAILED for example.com/app@sha256:abc
`
	if b.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

// failingCache finds nothing and cannot store.
type failingCache struct{}

func (failingCache) Get(string, time.Time) (*Report, bool) { return nil, false }
func (failingCache) Put(string, *Report, time.Time) error {
	return errors.New("read-only file system")
}

func TestVerifierCacheWriteFailureKeepsVerdict(t *testing.T) {
	c := &fixedChecker{name: "notary", configured: true, verdict: Verdict{Checker: "notary", Passed: true},
		sigs: []Signature{{Format: FormatNotationJWS, Verified: true}}}
	var logs bytes.Buffer
	v := &Verifier{Checkers: []Checker{c}, Cache: failingCache{}, TTL: time.Hour, Log: slog.New(slog.NewTextHandler(&logs, nil))}
	r, err := v.Verify(context.Background(), target("a"))
	if err != nil || !r.Passed {
		t.Fatalf("verify with an unwritable cache: %v, %+v", err, r)
	}
	if !strings.Contains(logs.String(), "read-only file system") {
		t.Fatalf("the cache failure was not logged: %q", logs.String())
	}
}
