package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/cssc-project/cssc/internal/store"
)

func TestUpstreamsCRUD(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	if rows, err := s.ListUpstreams(ctx); err != nil || len(rows) != 0 {
		t.Fatalf("ListUpstreams on a new store = %v, %v", rows, err)
	}
	if err := s.PutUpstream(ctx, "ghcr", []byte(`{"registry":"ghcr.io"}`), ""); err != nil {
		t.Fatal(err)
	}
	if err := s.PutUpstream(ctx, "dockerhub", []byte(`{"registry":"docker.io"}`), "v1:abc"); err != nil {
		t.Fatal(err)
	}
	cfg, secret, err := s.GetUpstream(ctx, "dockerhub")
	if err != nil || string(cfg) != `{"registry":"docker.io"}` || secret != "v1:abc" {
		t.Fatalf("GetUpstream = %s, %q, %v", cfg, secret, err)
	}
	rows, err := s.ListUpstreams(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Name != "dockerhub" || rows[1].Name != "ghcr" || rows[1].Secret != "" || rows[0].CreatedAt.IsZero() {
		t.Fatalf("ListUpstreams = %+v", rows)
	}
	created := rows[0].CreatedAt

	// Put replaces config and secret, keeping the creation time.
	if err := s.PutUpstream(ctx, "dockerhub", []byte(`{"registry":"docker.io","rateLimit":2}`), ""); err != nil {
		t.Fatal(err)
	}
	cfg, secret, err = s.GetUpstream(ctx, "dockerhub")
	if err != nil || string(cfg) != `{"registry":"docker.io","rateLimit":2}` || secret != "" {
		t.Fatalf("after replace: %s, %q, %v", cfg, secret, err)
	}
	rows, _ = s.ListUpstreams(ctx)
	if len(rows) != 2 || !rows[0].CreatedAt.Equal(created) {
		t.Fatalf("after replace: %+v (created %v)", rows, created)
	}

	if err := s.DeleteUpstream(ctx, "dockerhub"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.GetUpstream(ctx, "dockerhub"); !errors.Is(err, store.ErrUpstreamUnknown) {
		t.Fatalf("GetUpstream after delete = %v", err)
	}
	if err := s.DeleteUpstream(ctx, "dockerhub"); !errors.Is(err, store.ErrUpstreamUnknown) {
		t.Fatalf("second DeleteUpstream = %v", err)
	}
	if rows, _ := s.ListUpstreams(ctx); len(rows) != 1 || rows[0].Name != "ghcr" {
		t.Fatalf("ListUpstreams after delete = %+v", rows)
	}
}
