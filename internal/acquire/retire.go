package acquire

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/errdef"

	"github.com/cssc-project/cssc/internal/attest"
	"github.com/cssc-project/cssc/internal/audit"
	"github.com/cssc-project/cssc/internal/store"
)

// RetireStore keeps retirements and removes manifests (*store.Store).
type RetireStore interface {
	PutRetirement(ctx context.Context, r store.Retirement) error
	ListRetirements(ctx context.Context, due time.Time) ([]store.Retirement, error)
	MarkRetirementRemoved(ctx context.Context, repo, ref string, at time.Time) error
	DeleteManifest(ctx context.Context, repo, digest string) error
}

// Retirement is a golden image's retirement as the API shows it.
type Retirement struct {
	Image       string    `json:"image"`
	Digest      string    `json:"digest"`
	EndOfLife   time.Time `json:"end_of_life"`
	RemoveAfter time.Time `json:"remove_after"`
	RetiredBy   string    `json:"retired_by"`
	RemovedAt   time.Time `json:"removed_at,omitzero"`
	// Lifecycle is the new lifecycle artifact attached to the image.
	Lifecycle string `json:"lifecycle,omitempty"`
}

// Retire sets (or moves) the end of life of a golden image: its earlier
// lifecycle artifacts are replaced by one with eol (signed with the
// enterprise key), so admission and the run inventory see the new date;
// the image leaves golden/ grace after eol. ref is golden/<name>:<tag>
// (or @digest), with or without this server's host.
func (p *Pipeline) Retire(ctx context.Context, ref string, eol time.Time, grace time.Duration, by string) (*Retirement, error) {
	if p.cfg.Retire == nil {
		return nil, errors.New("retirement is not available on this server")
	}
	ref = strings.TrimPrefix(ref, p.cfg.Host+"/")
	repo, reference, ok := strings.Cut(ref, "@")
	if !ok {
		i := strings.LastIndexByte(ref, ':')
		if i < 0 || strings.Contains(ref[i:], "/") {
			return nil, permanent(fmt.Errorf("%s: give golden/<name>:<tag> or golden/<name>@<digest>", ref))
		}
		repo, reference = ref[:i], ref[i+1:]
	}
	if !strings.HasPrefix(repo, "golden/") {
		return nil, permanent(fmt.Errorf("%s: only images in golden/ are retired", ref))
	}
	if eol.IsZero() {
		eol = p.cfg.Now()
	}
	if grace < 0 {
		return nil, permanent(errors.New("the grace period cannot be negative"))
	}
	eol = eol.UTC().Truncate(time.Second)
	r := &run{p: p, rec: &Record{Name: strings.TrimPrefix(repo, "golden/")}}
	t, err := r.localTarget(ctx, repo, reference)
	if err != nil {
		if errors.Is(err, errdef.ErrNotFound) {
			return nil, permanent(fmt.Errorf("%s is not in golden/", ref))
		}
		return nil, err
	}
	// Replace the lifecycle artifacts (ReadLifecycle takes the latest
	// date, so an earlier end of life must not sit beside a later one).
	var old []ocispec.Descriptor
	if err := t.Repo.Referrers(ctx, t.Desc, attest.ArtifactTypeLifecycle, func(refs []ocispec.Descriptor) error {
		old = append(old, refs...)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("list lifecycle of %s: %w", ref, err)
	}
	desc, err := attest.AttachLifecycleAnnotated(ctx, t, eol, map[string]string{AnnotationKind: KindLifecycle, "dev.cssc.retired-by": by})
	if err != nil {
		return nil, err
	}
	lt, err := r.localTarget(ctx, repo, desc.Digest.String())
	if err != nil {
		return nil, err
	}
	if _, err := r.signOne(ctx, lt, leafThumbprint(p.cfg.Signer.CertificateChain())); err != nil {
		return nil, fmt.Errorf("sign the lifecycle of %s: %w", ref, err)
	}
	for _, d := range old {
		if d.Digest == desc.Digest {
			continue
		}
		if err := p.removeWithSignatures(ctx, repo, d); err != nil {
			return nil, err
		}
	}
	ret := store.Retirement{Repository: repo, Reference: reference, Digest: t.Desc.Digest.String(), EndOfLife: eol, RemoveAfter: eol.Add(grace), RetiredBy: by}
	if err := p.cfg.Retire.PutRetirement(ctx, ret); err != nil {
		return nil, err
	}
	p.audit(ctx, audit.Event{Actor: by, ActorKind: "user", Action: "golden.retire", Repo: repo, Digest: ret.Digest, Tag: reference,
		Reason: fmt.Sprintf("end of life %s, leaves golden/ after %s", eol.Format(time.RFC3339), ret.RemoveAfter.Format(time.RFC3339))})
	return &Retirement{Image: p.cfg.Host + "/" + ref, Digest: ret.Digest, EndOfLife: eol, RemoveAfter: ret.RemoveAfter, RetiredBy: by, Lifecycle: desc.Digest.String()}, nil
}

// removeWithSignatures deletes a referrer and the signatures on it.
func (p *Pipeline) removeWithSignatures(ctx context.Context, repo string, d ocispec.Descriptor) error {
	rr, err := p.local(repo)
	if err != nil {
		return err
	}
	var sigs []ocispec.Descriptor
	if err := rr.Referrers(ctx, d, "", func(refs []ocispec.Descriptor) error {
		sigs = append(sigs, refs...)
		return nil
	}); err != nil {
		return fmt.Errorf("list what is attached to %s: %w", d.Digest, err)
	}
	for _, s := range append(sigs, d) {
		if err := p.cfg.Retire.DeleteManifest(ctx, repo, s.Digest.String()); err != nil && !errors.Is(err, store.ErrManifestUnknown) {
			return fmt.Errorf("remove %s from %s: %w", s.Digest, repo, err)
		}
	}
	return nil
}

// Retirements lists the retirements.
func (p *Pipeline) Retirements(ctx context.Context) ([]Retirement, error) {
	if p.cfg.Retire == nil {
		return nil, nil
	}
	rows, err := p.cfg.Retire.ListRetirements(ctx, time.Time{})
	if err != nil {
		return nil, err
	}
	out := make([]Retirement, 0, len(rows))
	for _, r := range rows {
		out = append(out, Retirement{Image: p.cfg.Host + "/" + r.Repository + refSuffix(tagOf(r.Reference), r.Reference), Digest: r.Digest,
			EndOfLife: r.EndOfLife, RemoveAfter: r.RemoveAfter, RetiredBy: r.RetiredBy, RemovedAt: r.RemovedAt})
	}
	return out, nil
}

func tagOf(ref string) string {
	if strings.Contains(ref, ":") {
		return ""
	}
	return ref
}

// removeRetired takes the images whose grace period has ended out of
// golden/ (they stay in quarantine/).
func (p *Pipeline) removeRetired(ctx context.Context) {
	due, err := p.cfg.Retire.ListRetirements(ctx, p.cfg.Now())
	if err != nil {
		p.log.ErrorContext(ctx, "list due retirements", "err", err)
		return
	}
	for _, r := range due {
		// The tag goes only if it still names the retired digest (a newer
		// acquisition may have moved it); the retired image goes unless
		// another tag still names it.
		tag := tagOf(r.Reference)
		if tag == "" {
			tag = "*" // a digest retired: every tag naming it goes
		}
		kept, err := p.cfg.Promoter.Withdraw(ctx, r.Repository, r.Digest, tag)
		if err != nil {
			p.log.ErrorContext(ctx, "remove a retired image", "repo", r.Repository, "ref", r.Reference, "err", err)
			continue
		}
		if kept {
			// Another tag (or index) still names the digest: the retired tag
			// is gone, the image stays for it.
			p.log.InfoContext(ctx, "retired tag removed; the image stays in golden/ for another tag that names it", "repo", r.Repository, "ref", r.Reference)
		}
		if err := p.cfg.Retire.MarkRetirementRemoved(ctx, r.Repository, r.Reference, p.cfg.Now()); err != nil {
			p.log.ErrorContext(ctx, "record a retired image's removal", "err", err)
			continue
		}
		p.audit(ctx, audit.Event{Action: "golden.remove", Repo: r.Repository, Digest: r.Digest, Tag: r.Reference,
			Reason: fmt.Sprintf("retired: end of life %s, grace period ended %s", r.EndOfLife.Format(time.RFC3339), r.RemoveAfter.Format(time.RFC3339))})
		p.log.InfoContext(ctx, "retired image removed from golden/", "repo", r.Repository, "ref", r.Reference)
	}
}
