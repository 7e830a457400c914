package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/cssc-project/cssc/internal/store"
)

func TestAcquisitionQueueLeases(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	now := time.Now()
	for i, id := range []string{"a1", "a2"} {
		if err := s.CreateAcquisition(ctx, store.Acquisition{ID: id, Source: "up/" + id, Name: id, State: "queued", Step: "import",
			Record: []byte(`{}`), RunAfter: now.Add(time.Duration(i) * time.Millisecond)}); err != nil {
			t.Fatal(err)
		}
	}
	a, ok, err := s.ClaimAcquisition(ctx, "w1", now.Add(time.Second), time.Minute, "queued", "running")
	if err != nil || !ok || a.ID != "a1" || a.Owner != "w1" {
		t.Fatalf("claim = %+v %v %v, want a1 for w1", a, ok, err)
	}
	b, ok, err := s.ClaimAcquisition(ctx, "w2", now.Add(time.Second), time.Minute, "queued", "running")
	if err != nil || !ok || b.ID != "a2" {
		t.Fatalf("second claim = %+v %v %v, want a2 (a1 is leased)", b, ok, err)
	}
	if _, ok, _ := s.ClaimAcquisition(ctx, "w3", now.Add(time.Second), time.Minute, "queued", "running"); ok {
		t.Fatal("a third claim got a leased acquisition")
	}

	// The lease holder saves; another worker cannot.
	a.State, a.Step, a.Record = "running", "analyse", []byte(`{"x":1}`)
	if err := s.SaveAcquisition(ctx, "w1", a, time.Now().Add(time.Minute), map[string][]byte{"analysis": []byte("A")}); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveAcquisition(ctx, "w2", a, time.Now().Add(time.Minute), nil); !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("save by a worker without the lease: %v, want ErrLeaseLost", err)
	}
	if out, err := s.AcquisitionOutput(ctx, "a1", "analysis"); err != nil || string(out) != "A" {
		t.Fatalf("output = %q %v", out, err)
	}

	// A crash leaves leases behind; the sole worker releases them and the
	// acquisition resumes at its saved step.
	if n, err := s.ReleaseAcquisitionLeases(ctx); err != nil || n != 2 {
		t.Fatalf("release = %d %v, want 2", n, err)
	}
	if err := s.SaveAcquisition(ctx, "w1", a, time.Now().Add(time.Minute), nil); !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("save after the lease was released: %v, want ErrLeaseLost", err)
	}
	got, ok, err := s.ClaimAcquisition(ctx, "w4", time.Now(), time.Minute, "running", "queued")
	if err != nil || !ok || got.Step != "analyse" || string(got.Record) != `{"x":1}` {
		t.Fatalf("resume = %+v %v %v, want a1 at analyse", got, ok, err)
	}

	// An expired lease can be taken over.
	got.Attempts = 1
	if err := s.SaveAcquisition(ctx, "w4", got, time.Now().Add(-time.Second), nil); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.ClaimAcquisition(ctx, "w5", time.Now(), time.Minute, "running"); !ok {
		t.Fatal("an expired lease was not taken over")
	}

	// Released (zero lease) and finished: a2 lost its lease in the
	// release above, so it is claimed again first.
	b, ok, err = s.ClaimAcquisition(ctx, "w2", time.Now(), time.Minute, "queued")
	if err != nil || !ok || b.ID != "a2" {
		t.Fatalf("claim a2 again = %+v %v %v", b, ok, err)
	}
	b.State = "promoted"
	if err := s.SaveAcquisition(ctx, "w2", b, time.Time{}, nil); err != nil {
		t.Fatal(err)
	}
	b2, err := s.GetAcquisition(ctx, "a2")
	if err != nil || b2.State != "promoted" || b2.Owner != "" {
		t.Fatalf("a2 = %+v %v", b2, err)
	}
	list, err := s.ListAcquisitions(ctx, store.AcquisitionFilter{State: "promoted"})
	if err != nil || len(list) != 1 || list[0].ID != "a2" {
		t.Fatalf("list promoted = %v %v", list, err)
	}
	if _, err := s.GetAcquisition(ctx, "nope"); !errors.Is(err, store.ErrAcquisitionUnknown) {
		t.Fatalf("unknown: %v", err)
	}
}

func TestPromoteCopiesClosureAtomically(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	q, g := "quarantine/app", "golden/app"
	child := image(t, s, q, "child")
	put(t, s, child)
	idx := store.Manifest{Repository: q, MediaType: "application/vnd.oci.image.index.v1+json", Content: []byte(`{"index":1}`),
		Manifests: []store.Reference{{Digest: child.Digest, Size: int64(len(child.Content))}}}
	idx.Digest = digest.FromBytes(idx.Content).String()
	put(t, s, idx, "1.0")
	sbom := image(t, s, q, "sbom")
	sbom.Subject = child.Digest
	put(t, s, sbom)
	sig := image(t, s, q, "sig-of-sbom")
	sig.Subject = sbom.Digest
	put(t, s, sig)
	cosign := image(t, s, q, "cosign")
	put(t, s, cosign, "sha256-"+idx.Digest[len("sha256:"):]+".sig")
	other := image(t, s, q, "unrelated")
	put(t, s, other, "2.0")

	p, err := s.Promote(ctx, q, g, idx.Digest, "1.0")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{idx.Digest, child.Digest, cosign.Digest, sbom.Digest, sig.Digest}
	if got := slices.Sorted(slices.Values(p.Manifests)); !slices.Equal(got, slices.Sorted(slices.Values(want))) {
		t.Fatalf("promoted %v, want %v", got, want)
	}
	if m, err := s.GetTaggedManifest(ctx, g, "1.0"); err != nil || m.Digest != idx.Digest {
		t.Fatalf("golden tag: %+v %v", m, err)
	}
	refs, err := s.Referrers(ctx, g, sbom.Digest, "")
	if err != nil || len(refs) != 1 || refs[0].Digest != sig.Digest {
		t.Fatalf("referrers of the SBOM in golden = %v %v", refs, err)
	}
	if _, err := s.GetManifest(ctx, g, other.Digest); !errors.Is(err, store.ErrManifestUnknown) {
		t.Fatalf("an unrelated manifest was promoted: %v", err)
	}
	if n, err := s.BlobSize(ctx, g, dg("child-layer")); err != nil || n != 20 {
		t.Fatalf("child layer not linked in golden: %d %v", n, err)
	}
	// Again: nothing new, no error.
	if p2, err := s.Promote(ctx, q, g, idx.Digest, "1.0"); err != nil || p2.Blobs != 0 {
		t.Fatalf("second promotion = %+v %v", p2, err)
	}

	// Withdrawn: an alias tag keeps it; without one, the whole closure
	// goes, so it cannot be pulled by digest either.
	if _, err := s.Promote(ctx, q, g, idx.Digest, "1.0-alias"); err != nil {
		t.Fatal(err)
	}
	if kept, err := s.Withdraw(ctx, g, idx.Digest, "1.0"); err != nil || !kept {
		t.Fatalf("withdraw with an alias tag left: kept %v, %v", kept, err)
	}
	if _, err := s.GetManifest(ctx, g, sig.Digest); err != nil {
		t.Fatalf("an image another tag names lost its referrers: %v", err)
	}
	if kept, err := s.Withdraw(ctx, g, idx.Digest, "1.0-alias"); err != nil || kept {
		t.Fatalf("withdraw of the last tag: kept %v, %v", kept, err)
	}
	for _, d := range want {
		if _, err := s.GetManifest(ctx, g, d); !errors.Is(err, store.ErrManifestUnknown) {
			t.Errorf("%s is still in golden after the withdrawal: %v", d, err)
		}
		if _, err := s.GetManifest(ctx, q, d); err != nil {
			t.Errorf("%s left quarantine: %v", d, err)
		}
	}
	if _, err := s.GetTaggedManifest(ctx, g, "sha256-"+idx.Digest[len("sha256:"):]+".sig"); err == nil {
		t.Error("the cosign tag is still in golden")
	}

	// A platform manifest another index lists (and what is attached to
	// it) stays when one index is withdrawn.
	if _, err := s.Promote(ctx, q, g, idx.Digest, "1.0"); err != nil {
		t.Fatal(err)
	}
	second := store.Manifest{Repository: q, MediaType: "application/vnd.oci.image.index.v1+json", Content: []byte(`{"index":"other"}`),
		Manifests: []store.Reference{{Digest: child.Digest, Size: int64(len(child.Content))}}}
	second.Digest = digest.FromBytes(second.Content).String()
	put(t, s, second, "2.0")
	if _, err := s.Promote(ctx, q, g, second.Digest, "2.0"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Withdraw(ctx, g, idx.Digest, "1.0"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetManifest(ctx, g, idx.Digest); !errors.Is(err, store.ErrManifestUnknown) {
		t.Errorf("the withdrawn index is still there: %v", err)
	}
	for _, d := range []string{second.Digest, child.Digest, sbom.Digest, sig.Digest} {
		if _, err := s.GetManifest(ctx, g, d); err != nil {
			t.Errorf("%s, which golden 2.0 still needs, was withdrawn: %v", d, err)
		}
	}

	// A closure with a missing manifest copies nothing at all.
	if _, err := s.Promote(ctx, q, "golden/other", dg("absent"), "x"); err == nil {
		t.Fatal("promoting an absent manifest succeeded")
	}
	if _, err := s.GetManifest(ctx, "golden/other", dg("absent")); err == nil {
		t.Fatal("half a promotion is visible")
	}
}
