package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cssc-project/cssc/internal/store"
)

// newTestService returns a service on a new data directory, initialised
// with an admin, and a counter of its argon2 secret checks.
func newTestService(t *testing.T, now func() time.Time) (*Service, *store.Store, *atomic.Int64) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "meta.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	keyDir := filepath.Join(dir, "keys")
	if _, err := Init(ctx, st, keyDir, "admin-password-123"); err != nil {
		t.Fatal(err)
	}
	s, err := New(ctx, st, Options{KeyDir: keyDir, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	var checks atomic.Int64
	s.checkSecret = func(hash, secret string) (bool, error) {
		checks.Add(1)
		return CheckSecret(hash, secret)
	}
	return s, st, &checks
}

// robotCredentials creates the robot "ci" (pull on app/**) and an API token
// of it, and returns the Authorization headers of both and the token.
func robotCredentials(t *testing.T, s *Service) (basic, bearer string, tok Token) {
	t.Helper()
	ctx := context.Background()
	secret, err := s.CreateIdentity(ctx, "admin", NewIdentity{Name: "ci", Kind: KindRobot, Grants: []Grant{{Role: RolePull, Pattern: "app/**"}}})
	if err != nil {
		t.Fatal(err)
	}
	if tok, err = s.CreateToken(ctx, "ci", NewToken{Name: "t"}); err != nil {
		t.Fatal(err)
	}
	basic = "Basic " + base64.StdEncoding.EncodeToString([]byte("ci:"+secret))
	return basic, "Bearer " + tok.Secret, tok
}

// TestConcurrentChecksShareOneHash: many requests with the same credentials
// arriving when nothing is cached (a client's parallel pulls, or a busy
// client when the cache entry expires) must cost one argon2 check, not one
// each; a wrong secret sent concurrently must still be refused for all.
func TestConcurrentChecksShareOneHash(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	clock := time.Now()
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	s, _, checks := newTestService(t, now)

	basic, bearer, _ := robotCredentials(t, s)
	wrong := "Basic " + base64.StdEncoding.EncodeToString([]byte("ci:not-the-secret"))

	const n = 16
	burst := func(authz string) []error {
		var wg sync.WaitGroup
		errs := make([]error, n)
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				p, err := s.Authenticate(ctx, Request{Authorization: authz, Source: "192.0.2.1:1234"})
				if err == nil && p.Name != "ci" {
					err = errors.New("authenticated as " + p.Name)
				}
				errs[i] = err
			}()
		}
		close(start)
		wg.Wait()
		return errs
	}

	// Checks per burst: the first pass finds nothing cached; the second
	// runs after the cache expired, when an accepted secret whose stored
	// hash is unchanged needs no argon2 at all, and a refused one does.
	for _, tc := range []struct {
		name   string
		authz  string
		want   error
		checks [2]int64
	}{
		{"basic", basic, nil, [2]int64{1, 0}},
		{"api token", bearer, nil, [2]int64{1, 0}},
		{"wrong secret", wrong, ErrBadCredentials, [2]int64{1, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for pass := range 2 { // the second pass runs after the cache expired
				before := checks.Load()
				for i, err := range burst(tc.authz) {
					if !errors.Is(err, tc.want) {
						t.Fatalf("pass %d, request %d: %v, want %v", pass, i, err, tc.want)
					}
				}
				// At most one check per burst; a late goroutine that found
				// the first check finished reads the cache.
				if got := checks.Load() - before; got != tc.checks[pass] {
					t.Errorf("pass %d: %d argon2 checks for %d concurrent requests, want %d", pass, got, n, tc.checks[pass])
				}
				mu.Lock()
				clock = clock.Add(11 * time.Second) // past the 10 s cache
				mu.Unlock()
			}
		})
	}
}

// TestExpiredSecretRevalidatedCheaply: when a cached secret's 10 s are
// over, the same secret is accepted again without argon2 as long as the
// stored hash it was checked against has not changed; a secret changed
// behind this server's back (another replica) is checked in full and
// refused, at the latest when the entry expires. The same holds for API
// tokens, and for a revoked token.
func TestExpiredSecretRevalidatedCheaply(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	t0 := time.Now()
	clock := t0
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	set := func(d time.Duration) { mu.Lock(); clock = t0.Add(d); mu.Unlock() }
	s, st, checks := newTestService(t, now)
	basic, bearer, tok := robotCredentials(t, s)
	call := func(authz string) error {
		_, err := s.Authenticate(ctx, Request{Authorization: authz, Source: "192.0.2.1:1234"})
		return err
	}
	step := func(at time.Duration, authz string, wantErr error, wantChecks int64) {
		t.Helper()
		set(at)
		if err := call(authz); !errors.Is(err, wantErr) {
			t.Fatalf("at %s: %v, want %v", at, err, wantErr)
		}
		if got := checks.Load(); got != wantChecks {
			t.Fatalf("at %s: %d argon2 checks so far, want %d", at, got, wantChecks)
		}
	}
	step(0, basic, nil, 1) // first use: checked in full
	step(0, bearer, nil, 2)
	step(5*time.Second, basic, nil, 2)  // cached
	step(11*time.Second, basic, nil, 2) // expired, same stored hash: no argon2
	step(11*time.Second, bearer, nil, 2)
	step(25*time.Second, basic, nil, 2) // and again

	// Another replica changes the secret and revokes the token: this
	// server still has them cached until 35 s, then checks in full.
	hash, err := HashSecret("a-brand-new-secret-value")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetSecret(ctx, "ci", hash); err != nil {
		t.Fatal(err)
	}
	if err := st.RevokeAPIToken(ctx, tokenID(t, tok.Secret)); err != nil {
		t.Fatal(err)
	}
	step(30*time.Second, basic, nil, 2) // still cached (no check)
	step(36*time.Second, basic, ErrBadCredentials, 3)
	step(36*time.Second, bearer, ErrBadCredentials, 3) // revoked: refused without argon2 (the hash is unchanged)
}

func tokenID(t *testing.T, tok string) string {
	t.Helper()
	id, _, ok := parseAPIToken(tok)
	if !ok {
		t.Fatalf("not an API token: %q", tok)
	}
	return id
}

// TestCachedCredentialsDoNotAllocate: once a credential was accepted,
// authenticating the next request with it (every registry request does) is
// map lookups, with no allocation for Basic, registry and API tokens, and
// still answers with the right identity and scopes.
func TestCachedCredentialsDoNotAllocate(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newTestService(t, time.Now)
	basic, bearer, _ := robotCredentials(t, s)
	p, err := s.Login(ctx, "ci", mustDecodeSecret(t, basic), "127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.Issue(p, s.Grant(p, []Scope{{Type: "repository", Name: "app/x", Actions: []string{"pull", "push"}}}), false)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, authorization string
		limited             bool
	}{
		{"basic", basic, false},
		{"registry token", "Bearer " + resp.Token, true},
		{"api token", bearer, false},
	} {
		req := Request{Authorization: tt.authorization, Source: "127.0.0.1:1"}
		if _, err := s.Authenticate(ctx, req); err != nil { // fills the caches
			t.Fatalf("%s: %v", tt.name, err)
		}
		var got *Principal
		allocs := testing.AllocsPerRun(200, func() { got, err = s.Authenticate(ctx, req) })
		if err != nil || got.Name != "ci" {
			t.Fatalf("%s: Authenticate = %v, %v; want ci", tt.name, got, err)
		}
		if (got.Limit != nil) != tt.limited {
			t.Errorf("%s: limit %v, want limited=%v", tt.name, got.Limit, tt.limited)
		}
		if tt.limited && got.Decide(ActionPush, "app/x").Allowed {
			t.Errorf("%s: the token was issued for pull only (ci may not push) but allows push", tt.name)
		}
		if !got.Decide(ActionPull, "app/x").Allowed {
			t.Errorf("%s: pull on app/x refused", tt.name)
		}
		if allocs != 0 {
			t.Errorf("%s: authenticating a cached credential allocates %.0f times, want 0", tt.name, allocs)
		}
	}
}

func mustDecodeSecret(t *testing.T, basic string) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(basic, "Basic "))
	if err != nil {
		t.Fatal(err)
	}
	_, secret, _ := strings.Cut(string(b), ":")
	return secret
}

// An API token presented as the password of a Basic login (with any name,
// "token" included) is not the token: it must not authenticate, and in
// particular must not give the owner's full rights instead of the token's
// narrower scope.
func TestAPITokenIsNotABasicPassword(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newTestService(t, time.Now)
	if _, err := s.CreateIdentity(ctx, "admin", NewIdentity{Name: "ci", Kind: KindRobot, Grants: []Grant{{Role: RolePush, Pattern: "app/**"}}}); err != nil {
		t.Fatal(err)
	}
	tok, err := s.CreateToken(ctx, "ci", NewToken{Name: "narrow", Role: RolePull, Scope: "app/x"})
	if err != nil {
		t.Fatal(err)
	}
	bearer := Request{Authorization: "Bearer " + tok.Secret, Source: "127.0.0.1:1"}
	p, err := s.Authenticate(ctx, bearer) // caches the token
	if err != nil || p.Decide(ActionPush, "app/y").Allowed {
		t.Fatalf("the token itself: %v, push on app/y allowed=%v", err, err == nil && p.Decide(ActionPush, "app/y").Allowed)
	}
	for _, name := range []string{"token", "ci"} {
		basic := Request{Authorization: "Basic " + base64.StdEncoding.EncodeToString([]byte(name+":"+tok.Secret)), Source: "127.0.0.1:2"}
		for range 2 { // the second time through the cached path
			if p, err := s.Authenticate(ctx, basic); err == nil {
				t.Fatalf("Basic %s:<token> authenticated as %s (push on app/y allowed=%v)", name, p.Name, p.Decide(ActionPush, "app/y").Allowed)
			}
		}
	}
	if _, err := s.Authenticate(ctx, bearer); err != nil {
		t.Errorf("the token after the failed Basic attempts: %v", err)
	}
}
