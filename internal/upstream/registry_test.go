package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cssc-project/cssc/internal/store"
)

func openStore(t *testing.T) *store.Store {
	t.Helper()
	s, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "meta.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestRegistry(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	sealer, err := NewSealer(testKey(3))
	if err != nil {
		t.Fatal(err)
	}
	reg := NewRegistry(st, sealer)
	hub := Upstream{Name: "dockerhub", Registry: "index.docker.io", Repositories: []string{"library/*"},
		Username: "bob", Password: "s3cr3t-pw", CABundle: testCAPEM(t), RateLimit: 5}
	if err := reg.Add(ctx, hub); err != nil {
		t.Fatal(err)
	}
	if err := reg.Add(ctx, Upstream{Name: "local", Registry: "127.0.0.1:5001", Repositories: []string{"**"}, Insecure: true}); err != nil {
		t.Fatal(err)
	}
	if err := reg.Add(ctx, Upstream{Name: "bad", Registry: "docker.io"}); err == nil {
		t.Fatal("Add accepted an upstream without repositories")
	}

	// The store holds no plaintext credentials.
	config, secret, err := st.GetUpstream(ctx, "dockerhub")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(config)+secret, "s3cr3t-pw") || strings.Contains(string(config)+secret, "bob") || !strings.HasPrefix(secret, "v1:") {
		t.Fatalf("stored config %s, secret %q", config, secret)
	}

	got, err := reg.Get(ctx, "dockerhub")
	if err != nil {
		t.Fatal(err)
	}
	if got.Registry != "docker.io" || got.SignaturePolicy != SignatureIfPresent || got.Username != "bob" ||
		got.Password != "s3cr3t-pw" || got.CABundle != hub.CABundle || got.RateLimit != 5 || got.CreatedAt.IsZero() {
		t.Fatalf("Get = %+v", got)
	}

	list, err := reg.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "dockerhub" || list[1].Name != "local" || !list[1].Insecure {
		t.Fatalf("List = %v", list)
	}
	if list[0].Username != "bob" || list[0].Password != "" {
		t.Fatalf("List gives credentials %q / %q; want the username only", list[0].Username, list[0].Password)
	}
	if j, _ := json.Marshal(list); strings.Contains(string(j), "s3cr3t-pw") {
		t.Fatalf("List JSON shows the password: %s", j)
	}

	m, err := reg.Match(ctx, "nginx:1.27")
	if err != nil || m.Name != "dockerhub" || m.Password != "s3cr3t-pw" {
		t.Fatalf("Match = %+v, %v", m, err)
	}
	var na *NotAllowedError
	if _, err := reg.Match(ctx, "libary/nginx"); !errors.As(err, &na) || len(na.Suggestions) != 1 || na.Suggestions[0] != "docker.io/library/nginx" {
		t.Fatalf("Match(libary/nginx) = %v", err)
	}

	// Replacing keeps the creation time and can drop the credentials.
	hub.Username, hub.Password = "", ""
	if err := reg.Add(ctx, hub); err != nil {
		t.Fatal(err)
	}
	again, err := reg.Get(ctx, "dockerhub")
	if err != nil || !again.CreatedAt.Equal(got.CreatedAt) || again.Username != "" || again.Password != "" {
		t.Fatalf("after replace: %+v, %v", again, err)
	}

	if err := reg.Remove(ctx, "dockerhub"); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Get(ctx, "dockerhub"); !errors.Is(err, store.ErrUpstreamUnknown) {
		t.Fatalf("Get after Remove = %v", err)
	}
	if err := reg.Remove(ctx, "dockerhub"); !errors.Is(err, store.ErrUpstreamUnknown) {
		t.Fatalf("second Remove = %v", err)
	}
}

func TestRegistryKeys(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	withCreds := Upstream{Name: "hub", Registry: "docker.io", Repositories: []string{"**"}, Username: "bob", Password: "pw"}
	if err := NewRegistry(st, nil).Add(ctx, withCreds); err == nil {
		t.Fatal("Add stored credentials without a key")
	}
	a, _ := NewSealer(testKey(1))
	b, _ := NewSealer(testKey(2))
	if err := NewRegistry(st, a).Add(ctx, withCreds); err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]*Registry{"other key": NewRegistry(st, b), "no key": NewRegistry(st, nil)} {
		if _, err := r.Get(ctx, "hub"); err == nil {
			t.Errorf("%s: Get decrypted the credentials", name)
		}
		if _, err := r.List(ctx); err == nil {
			t.Errorf("%s: List decrypted the credentials", name)
		}
	}
	// A secret moved to another row does not open there.
	_, secret, _ := st.GetUpstream(ctx, "hub")
	cfg, _ := json.Marshal(Upstream{Name: "other", Registry: "ghcr.io", Repositories: []string{"**"}})
	if err := st.PutUpstream(ctx, "other", cfg, secret); err != nil {
		t.Fatal(err)
	}
	if _, err := NewRegistry(st, a).Get(ctx, "other"); err == nil {
		t.Fatal("a secret moved to another upstream opened")
	}
}
