package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/cssc-project/cssc/internal/store"
)

func auditRec(seq int64, actor, action, repo string) store.AuditRecord {
	return store.AuditRecord{
		Seq: seq, Time: seq * 1000, Actor: actor, ActorKind: "user", Action: action, Repo: repo,
		Decision: "allow", PrevHash: fmt.Sprintf("p%d", seq), Hash: fmt.Sprintf("h%d", seq),
	}
}

func TestAuditAppendAndRead(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	if _, ok, err := s.AuditHead(ctx); ok || err != nil {
		t.Fatalf("empty head: ok %v, err %v", ok, err)
	}
	if _, ok, err := s.LastAuditCheckpoint(ctx); ok || err != nil {
		t.Fatalf("empty checkpoint: ok %v, err %v", ok, err)
	}
	batch := []store.AuditRecord{
		auditRec(1, "alice", "manifest.push", "team/app"),
		auditRec(2, "bob", "pull", "team/app"),
		auditRec(3, "alice", "manifest.delete", "team/db"),
		auditRec(4, "robot$ci", "pull", "other/x_y"),
	}
	batch[3].Tag, batch[3].Digest, batch[3].Target = "v1", "sha256:abc", "token-7"
	cp := store.AuditCheckpoint{ID: 1, Kind: "periodic", Seq: 4, HeadHash: "h4", Time: 99, PrevHash: "g", KeyID: "k", Signature: "s"}
	if err := s.AppendAudit(ctx, batch, &cp); err != nil {
		t.Fatal(err)
	}
	head, ok, err := s.AuditHead(ctx)
	if err != nil || !ok || head != batch[3] {
		t.Fatalf("head = %+v, %v, %v; want %+v", head, ok, err, batch[3])
	}
	got, ok, err := s.LastAuditCheckpoint(ctx)
	if err != nil || !ok || got != cp {
		t.Fatalf("checkpoint = %+v, %v, %v", got, ok, err)
	}
	if cps, err := s.AuditCheckpoints(ctx, 0); err != nil || len(cps) != 1 || cps[0] != cp {
		t.Fatalf("checkpoints = %+v, %v", cps, err)
	}
	if cps, err := s.AuditCheckpoints(ctx, 1); err != nil || len(cps) != 0 {
		t.Fatalf("checkpoints after 1 = %+v, %v", cps, err)
	}

	tests := []struct {
		name string
		f    store.AuditFilter
		want []int64
	}{
		{"all", store.AuditFilter{}, []int64{1, 2, 3, 4}},
		{"actor", store.AuditFilter{Actor: "alice"}, []int64{1, 3}},
		{"action prefix", store.AuditFilter{Action: "manifest.*"}, []int64{1, 3}},
		{"prefix is case-sensitive", store.AuditFilter{Action: "Manifest.*"}, nil},
		{"target is the repo", store.AuditFilter{Target: "team/app"}, []int64{1, 2}},
		{"target repo prefix", store.AuditFilter{Target: "team/*"}, []int64{1, 2, 3}},
		{"target prefix with LIKE wildcards", store.AuditFilter{Target: "other/x_*"}, []int64{4}},
		{"wildcard is literal", store.AuditFilter{Target: "other/x%*"}, nil},
		{"target is the tag", store.AuditFilter{Target: "v1"}, []int64{4}},
		{"target is the digest", store.AuditFilter{Target: "sha256:abc"}, []int64{4}},
		{"target is the target", store.AuditFilter{Target: "token-7"}, []int64{4}},
		{"time window", store.AuditFilter{Since: 2000, Until: 4000}, []int64{2, 3}},
		{"after cursor and limit", store.AuditFilter{After: 1, Limit: 2}, []int64{2, 3}},
		{"combined", store.AuditFilter{Actor: "alice", Target: "team/db"}, []int64{3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			recs, err := s.ListAudit(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var seqs []int64
			for _, r := range recs {
				seqs = append(seqs, r.Seq)
			}
			if fmt.Sprint(seqs) != fmt.Sprint(tc.want) {
				t.Fatalf("seqs %v, want %v", seqs, tc.want)
			}
		})
	}
}

func TestAuditBatchIsOneTransaction(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	if err := s.AppendAudit(ctx, []store.AuditRecord{auditRec(1, "a", "x", "")}, nil); err != nil {
		t.Fatal(err)
	}
	// The second row repeats seq 1: nothing of the batch, nor its checkpoint, may stay.
	bad := []store.AuditRecord{auditRec(2, "a", "x", ""), auditRec(1, "a", "x", "")}
	cp := store.AuditCheckpoint{ID: 1, Kind: "periodic", Seq: 2}
	if err := s.AppendAudit(ctx, bad, &cp); err == nil {
		t.Fatal("a batch repeating a seq was accepted")
	}
	if head, _, _ := s.AuditHead(ctx); head.Seq != 1 {
		t.Fatalf("head after failed batch = %d, want 1", head.Seq)
	}
	if _, ok, _ := s.LastAuditCheckpoint(ctx); ok {
		t.Fatal("the checkpoint of a failed batch was stored")
	}
}

func TestScanAuditPages(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	const n = 2500 // more than one page
	batch := make([]store.AuditRecord, n)
	for i := range batch {
		batch[i] = auditRec(int64(i+1), "a", "pull", "r")
	}
	if err := s.AppendAudit(ctx, batch, nil); err != nil {
		t.Fatal(err)
	}
	var next int64 = 11
	err := s.ScanAudit(ctx, 10, func(r store.AuditRecord) error {
		if r.Seq != next {
			return fmt.Errorf("seq %d, want %d", r.Seq, next)
		}
		next++
		return nil
	})
	if err != nil || next != n+1 {
		t.Fatalf("scan: %v, ended before %d", err, next)
	}
	stop := errors.New("stop")
	if err := s.ScanAudit(ctx, 0, func(store.AuditRecord) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("scan did not return fn's error: %v", err)
	}
}

// BenchmarkAppendAudit stores batches of 256 pull events (the audit
// trail's batch size) and reports events per second.
func BenchmarkAppendAudit(b *testing.B) {
	s := open(b)
	ctx := context.Background()
	const batch = 256
	recs := make([]store.AuditRecord, batch)
	var seq int64
	b.ResetTimer()
	for b.Loop() {
		for i := range recs {
			seq++
			recs[i] = auditRec(seq, "robot-ci", "pull", "team/app")
			recs[i].Source, recs[i].RequestID = "10.0.0.7:51234", "c3a4b1d2e5f60718"
			recs[i].Digest = "sha256:45628d34fd02ca753522d2c9c2fd3a91f3de07afe85246da954fe1d7a7853844"
			recs[i].Tag, recs[i].ActorKind, recs[i].Decision = "1.0", "robot", "allow"
			recs[i].PrevHash = "b5d4045c3f466fa91fe2cc6abe79232a1a57cdf104f7a26e716e0a1e2789df78"
			recs[i].Hash = "a5d4045c3f466fa91fe2cc6abe79232a1a57cdf104f7a26e716e0a1e2789df78"
		}
		if err := s.AppendAudit(ctx, recs, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
}
