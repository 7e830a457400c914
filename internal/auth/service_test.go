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

// countingStore counts the lookups that precede each argon2 check.
type countingStore struct {
	*store.Store
	principalReads atomic.Int64
	tokenReads     atomic.Int64
}

func (c *countingStore) GetPrincipal(ctx context.Context, name string) (store.Principal, error) {
	c.principalReads.Add(1)
	return c.Store.GetPrincipal(ctx, name)
}

func (c *countingStore) GetAPIToken(ctx context.Context, id string) (store.APIToken, error) {
	c.tokenReads.Add(1)
	return c.Store.GetAPIToken(ctx, id)
}

func newTestService(t *testing.T, now func() time.Time) (*Service, *countingStore) {
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
	cs := &countingStore{Store: st}
	s, err := New(ctx, cs, Options{KeyDir: keyDir, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return s, cs
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
	s, cs := newTestService(t, now)

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
		reads *atomic.Int64
		want  error
	}{
		{"basic", basic, &cs.principalReads, nil},
		{"api token", bearer, &cs.tokenReads, nil},
		{"wrong secret", wrong, &cs.principalReads, ErrBadCredentials},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for pass := range 2 { // the second pass runs after the cache expired
				before := tc.reads.Load()
				for i, err := range burst(tc.authz) {
					if !errors.Is(err, tc.want) {
						t.Fatalf("pass %d, request %d: %v, want %v", pass, i, err, tc.want)
					}
				}
				// One check per burst; a late goroutine that found the
				// first check finished reads the cache, never the store.
				if got := tc.reads.Load() - before; got != 1 {
					t.Errorf("pass %d: %d secret checks for %d concurrent requests, want 1", pass, got, n)
				}
				mu.Lock()
				clock = clock.Add(11 * time.Second) // past the 10 s cache
				mu.Unlock()
			}
		})
	}
}
