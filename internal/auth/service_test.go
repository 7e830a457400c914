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

	secret, err := s.CreateIdentity(ctx, "admin", NewIdentity{Name: "ci", Kind: KindRobot, Grants: []Grant{{Role: RolePull, Pattern: "app/**"}}})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.CreateToken(ctx, "ci", NewToken{Name: "t"})
	if err != nil {
		t.Fatal(err)
	}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("ci:"+secret))
	wrong := "Basic " + base64.StdEncoding.EncodeToString([]byte("ci:not-the-secret"))
	bearer := "Bearer " + tok.Secret

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

	for _, tc := range []struct {
		name  string
		authz string
		want  error
	}{
		{"basic", basic, nil},
		{"api token", bearer, nil},
		{"wrong secret", wrong, ErrBadCredentials},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for pass := range 2 { // the second pass runs after the cache expired
				before := checks.Load()
				for i, err := range burst(tc.authz) {
					if !errors.Is(err, tc.want) {
						t.Fatalf("pass %d, request %d: %v, want %v", pass, i, err, tc.want)
					}
				}
				// One check per burst; a late goroutine that found the
				// first check finished reads the cache, never the store.
				if got := checks.Load() - before; got != 1 {
					t.Errorf("pass %d: %d secret checks for %d concurrent requests, want 1", pass, got, n)
				}
				mu.Lock()
				clock = clock.Add(11 * time.Second) // past the 10 s cache
				mu.Unlock()
			}
		})
	}
}

// TestCachedSecretRefreshedAhead: a client that keeps sending the same
// credentials gets them checked again in the background before the cache
// entry expires, so it never waits for argon2 after its first request; a
// secret changed behind this server's back (another replica) is still
// refused once the entry's original lifetime has passed.
func TestCachedSecretRefreshedAhead(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	t0 := time.Now()
	clock := t0
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	set := func(d time.Duration) { mu.Lock(); clock = t0.Add(d); mu.Unlock() }
	s, st, checks := newTestService(t, now)
	secret, err := s.CreateIdentity(ctx, "admin", NewIdentity{Name: "ci", Kind: KindRobot, Grants: []Grant{{Role: RolePull, Pattern: "app/**"}}})
	if err != nil {
		t.Fatal(err)
	}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("ci:"+secret))
	login := func() error {
		_, err := s.Authenticate(ctx, Request{Authorization: basic, Source: "192.0.2.1:1234"})
		return err
	}
	waitChecks := func(want int64) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); checks.Load() < want; {
			if time.Now().After(deadline) {
				t.Fatalf("%d secret checks, want %d", checks.Load(), want)
			}
			time.Sleep(time.Millisecond)
		}
	}

	if err := login(); err != nil { // the first check, in the foreground
		t.Fatal(err)
	}
	if got := checks.Load(); got != 1 {
		t.Fatalf("%d checks after the first request, want 1", got)
	}
	set(5 * time.Second) // mid-life: served from the cache, no check
	if err := login(); err != nil {
		t.Fatal(err)
	}
	set(9 * time.Second) // last fifth: served at once, checked again in the background (once)
	for range 5 {
		if err := login(); err != nil {
			t.Fatal(err)
		}
	}
	waitChecks(2)
	waitEntry := func(what string, ok func(cachedSecret) bool) { // the background check stored its result
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; {
			s.mu.Lock()
			var found bool
			for _, c := range s.secrets {
				found = found || (ok(c) && !c.refreshing)
			}
			s.mu.Unlock()
			if found {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the background check stored no %s entry", what)
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitEntry("renewed", func(c cachedSecret) bool { return !c.bad && !c.until.Before(t0.Add(19*time.Second)) })
	set(15 * time.Second) // past the first entry's life, within the renewed one: no check
	if err := login(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if got := checks.Load(); got != 2 {
		t.Fatalf("%d checks, want 2 (the renewal should have covered this request)", got)
	}

	// Another replica changes the secret: this server does not know until
	// it checks again, which it does in the background at 17 s; from then
	// on the old secret is refused, and never later than the entry's end.
	hash, err := HashSecret("a-brand-new-secret-value")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetSecret(ctx, "ci", hash); err != nil {
		t.Fatal(err)
	}
	set(17 * time.Second)
	if err := login(); err != nil {
		t.Fatalf("still cached at 17 s: %v", err)
	}
	waitChecks(3)
	waitEntry("refused", func(c cachedSecret) bool { return c.bad })
	if err := login(); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("after the background check found the new secret: %v, want %v", err, ErrBadCredentials)
	}
}
