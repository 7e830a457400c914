package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"path/filepath"
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
