package acquire

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/cssc-project/cssc/internal/sign"
	"github.com/cssc-project/cssc/internal/upstream"
)

// maxManifestBytes bounds a manifest read from an upstream.
const maxManifestBytes = 4 << 20

// copyConcurrency is how many blobs are copied at once.
const copyConcurrency = 6

type source struct {
	upstream.Ref
	repository string // the internal name by default
	tag        string
}

func parseSource(ref string) (source, error) {
	if strings.TrimSpace(ref) == "" {
		return source{}, permanent(errors.New("no upstream reference (want e.g. docker.io/library/nginx:1.27)"))
	}
	if strings.Contains(ref, "://") {
		return source{}, permanent(fmt.Errorf("upstream reference %q: give host/repository:tag, without a scheme", ref))
	}
	r, err := upstream.ParseRef(ref)
	if err != nil {
		return source{}, permanent(err)
	}
	return source{Ref: r, repository: r.Repository, tag: r.Tag}, nil
}

var namePattern = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$`)

func validName(n string) error {
	if len(n) > 200 || !namePattern.MatchString(n) {
		return errors.New("not a valid repository name (lower-case path components of letters, digits and . _ -)")
	}
	return nil
}

var platformPattern = regexp.MustCompile(`^[a-z0-9]+/[a-z0-9]+(/[a-z0-9]+)?$`)

func validPlatform(p string) error {
	if !platformPattern.MatchString(p) {
		return fmt.Errorf("platform %q: want all or os/arch[/variant], e.g. linux/amd64", p)
	}
	return nil
}

// quarantineRepo and goldenRepo are the internal repositories.
func (r *run) quarantineRepo() string { return "quarantine/" + r.rec.Name }
func (r *run) goldenRepo() string     { return "golden/" + r.rec.Name }

// local reaches a repository of this server.
func (p *Pipeline) local(repo string) (*remote.Repository, error) {
	return sign.Repository(p.cfg.Host+"/"+repo, sign.RemoteOptions{
		Insecure:   true,
		Credential: func(context.Context, string) (auth.Credential, error) { return auth.EmptyCredential, nil },
		HTTPClient: &http.Client{Transport: p.cfg.Transport},
		UserAgent:  "cssc-pipeline/" + p.cfg.Version,
	})
}

// localTarget is the quarantined image (or one of its manifests).
func (r *run) localTarget(ctx context.Context, repo, dgst string) (*sign.Target, error) {
	rr, err := r.p.local(repo)
	if err != nil {
		return nil, err
	}
	desc, err := rr.Resolve(ctx, dgst)
	if err != nil {
		return nil, fmt.Errorf("resolve %s@%s: %w", repo, dgst, err)
	}
	return &sign.Target{Ref: r.p.cfg.Host + "/" + repo + "@" + dgst, Name: r.p.cfg.Host + "/" + repo, Repo: rr, Desc: desc}, nil
}

// upstreamRepo reaches the upstream repository of r with the allow-list
// entry's credentials, CA, proxy and rate limits.
func (p *Pipeline) upstreamRepo(ctx context.Context, src source) (upstream.Upstream, *remote.Repository, error) {
	up, err := p.cfg.Upstreams.Match(ctx, src.String())
	if err != nil {
		return up, nil, err
	}
	rt, err := p.upstreamTransport(up)
	if err != nil {
		return up, nil, permanent(fmt.Errorf("upstream %s: %w", up.Name, err))
	}
	user, pass := up.Credential()
	repo, err := sign.Repository(src.Name()+":latest", sign.RemoteOptions{
		Insecure: up.Insecure,
		Credential: func(context.Context, string) (auth.Credential, error) {
			if user == "" && pass == "" {
				return auth.EmptyCredential, nil
			}
			return auth.Credential{Username: user, Password: pass}, nil
		},
		HTTPClient: &http.Client{Transport: rt},
		UserAgent:  "cssc/" + p.cfg.Version,
	})
	if err != nil {
		return up, nil, permanent(err)
	}
	return up, repo, nil
}

// upstreamTransport is the transport of an upstream entry, made once per
// entry and configuration, so its rate limit holds across acquisitions.
func (p *Pipeline) upstreamTransport(up upstream.Upstream) (http.RoundTripper, error) {
	b, err := json.Marshal(up)
	if err != nil {
		return nil, err
	}
	key := up.Name + "\x00" + string(b)
	p.mu.Lock()
	defer p.mu.Unlock()
	if rt, ok := p.transports[key]; ok {
		return rt, nil
	}
	rt, err := up.Transport(p.cfg.UpstreamTransport)
	if err != nil {
		return nil, err
	}
	if len(p.transports) > 1000 {
		clear(p.transports) // entries changed that often: start over
	}
	p.transports[key] = rt
	return rt, nil
}

// importImage copies the upstream image, every platform of an index and
// everything attached to it (referrers, cosign's tag-schema artifacts)
// into quarantine/<name>, keeping digests and the tag.
func (r *run) importImage(ctx context.Context) (stepResult, error) {
	p, rec := r.p, r.rec
	src, err := parseSource(rec.Source)
	if err != nil {
		return stepResult{}, err
	}
	_, up, err := p.upstreamRepo(ctx, src)
	if err != nil {
		return stepResult{}, err
	}
	ref := src.Digest
	if ref == "" {
		ref = src.Tag
	}
	root, err := up.Resolve(ctx, ref)
	if err != nil {
		if errors.Is(err, errdef.ErrNotFound) {
			return stepResult{}, permanent(fmt.Errorf("%s: no such image upstream", src))
		}
		return stepResult{}, fmt.Errorf("resolve %s: %w", src, err)
	}
	if src.Digest != "" && root.Digest.String() != src.Digest {
		return stepResult{}, permanent(fmt.Errorf("upstream answered %s for %s", root.Digest, src))
	}
	if rec.Platform != "" {
		if root, err = selectPlatform(ctx, up, root, rec.Platform); err != nil {
			return stepResult{}, err
		}
	}
	rec.UpstreamDigest, rec.Digest = root.Digest.String(), root.Digest.String()
	rec.QuarantineRef = p.cfg.Host + "/" + r.quarantineRepo() + refSuffix(rec.Tag, rec.Digest)

	// The same digest decided before under the same policy and data: the
	// answer would be the same.
	if same, ok, err := r.sameAs(ctx); err != nil {
		return stepResult{}, err
	} else if ok {
		return stepResult{outcome: "ok", detail: "same digest, policy and vulnerability data as acquisition " + same.ID + ": nothing to do again", next: StepNotify}, nil
	}

	dst, err := p.local(r.quarantineRepo())
	if err != nil {
		return stepResult{}, err
	}
	total, err := graphSize(ctx, up, root)
	if err != nil {
		return stepResult{}, err
	}
	// Blobs are copied concurrently: the progress is counted atomically
	// and published at most every 200 ms (and at the end).
	var done atomic.Int64
	var reportMu sync.Mutex
	last := time.Now()
	report := func(desc ocispec.Descriptor) {
		n := done.Add(desc.Size)
		reportMu.Lock()
		defer reportMu.Unlock()
		if time.Since(last) > 200*time.Millisecond || n >= total {
			last = time.Now()
			p.setProgress(rec.ID, Progress{BytesDone: min(n, total), BytesTotal: total})
		}
	}
	opts := oras.ExtendedCopyOptions{ExtendedCopyGraphOptions: oras.ExtendedCopyGraphOptions{
		CopyGraphOptions: oras.CopyGraphOptions{
			Concurrency:      copyConcurrency,
			MaxMetadataBytes: maxManifestBytes,
			PostCopy:         func(_ context.Context, d ocispec.Descriptor) error { report(d); return nil },
			OnCopySkipped:    func(_ context.Context, d ocispec.Descriptor) error { report(d); return nil },
		},
	}}
	dstRef := rec.Tag
	if dstRef == "" {
		dstRef = root.Digest.String()
	}
	if _, err := oras.ExtendedCopy(ctx, up, root.Digest.String(), dst, dstRef, opts); err != nil {
		return stepResult{}, fmt.Errorf("copy %s to %s: %w", src, r.quarantineRepo(), err)
	}
	// Referrers of an index's platform manifests are not predecessors of
	// the index: copy each platform's too.
	children, err := childManifestsOf(ctx, up, root)
	if err != nil {
		return stepResult{}, err
	}
	for _, c := range children {
		if _, err := oras.ExtendedCopy(ctx, up, c.Digest.String(), dst, c.Digest.String(), opts); err != nil {
			return stepResult{}, fmt.Errorf("copy %s@%s to %s: %w", src.Name(), c.Digest, r.quarantineRepo(), err)
		}
	}
	cosign, err := copyCosignTags(ctx, up, dst, root)
	if err != nil {
		return stepResult{}, err
	}
	p.setProgress(rec.ID, Progress{BytesDone: total, BytesTotal: total})
	rec.Progress = Progress{BytesDone: total, BytesTotal: total}
	detail := fmt.Sprintf("%s (%s) → %s", src, root.Digest, rec.QuarantineRef)
	if len(children) > 0 {
		detail += fmt.Sprintf(", %d platforms", len(children))
	}
	if cosign > 0 {
		detail += fmt.Sprintf(", %d cosign artifacts", cosign)
	}
	return stepResult{outcome: "ok", detail: detail, next: StepVerifySignatures}, nil
}

func refSuffix(tag, dgst string) string {
	if tag != "" {
		return ":" + tag
	}
	return "@" + dgst
}

// sameAs finds an earlier acquisition of the same digest under the same
// name that was decided under the same policy and data, and adopts its
// outcome.
func (r *run) sameAs(ctx context.Context) (*Record, bool, error) {
	p, rec := r.p, r.rec
	// Only a promotion is repeated: a block may come from a scanner that
	// was down, and is decided afresh.
	row, ok, err := p.cfg.Queue.FindFinishedAcquisition(ctx, rec.Name, rec.UpstreamDigest, string(StatePromoted))
	if err != nil || !ok || row.ID == rec.ID {
		return nil, false, err
	}
	prev, err := ParseRecord(row.Record)
	if err != nil {
		return nil, false, err
	}
	if prev.PolicyDigest != p.cfg.Policy.Digest() || prev.DataVersion != p.cfg.DataVersion() || prev.Tag != rec.Tag || prev.Platform != rec.Platform {
		return nil, false, nil
	}
	// Only while golden/ still serves it (not demoted or retired since).
	if in, err := p.inGolden(ctx, r.goldenRepo(), prev.Digest); err != nil || !in {
		return nil, false, err
	}
	if prev.GoldenRef != "" && rec.Tag != "" && !strings.Contains(prev.GoldenRef, "@") {
		rr, err := p.local(r.goldenRepo())
		if err != nil {
			return nil, false, err
		}
		if d, err := rr.Resolve(ctx, rec.Tag); err != nil || d.Digest.String() != prev.Digest {
			return nil, false, nil // the tag names something else now: acquire it properly
		}
	}
	rec.SameAs, rec.Verdict = prev.ID, prev.State
	rec.Reasons, rec.Warnings = prev.Reasons, prev.Warnings
	rec.RiskScore, rec.Risk, rec.PolicyDigest, rec.DataVersion = prev.RiskScore, prev.Risk, prev.PolicyDigest, prev.DataVersion
	rec.Signatures, rec.Referrers, rec.GoldenRef, rec.Digest = prev.Signatures, prev.Referrers, prev.GoldenRef, prev.Digest
	return prev, true, nil
}

// selectPlatform picks one platform's manifest of an index.
func selectPlatform(ctx context.Context, src content.Fetcher, root ocispec.Descriptor, platform string) (ocispec.Descriptor, error) {
	children, err := childManifestsOf(ctx, src, root)
	if err != nil {
		return root, err
	}
	if children == nil {
		return root, nil // a single image: its platform is checked by policy
	}
	var have []string
	for _, c := range children {
		if c.Platform == nil {
			continue
		}
		pl := c.Platform.OS + "/" + c.Platform.Architecture
		if c.Platform.Variant != "" {
			pl += "/" + c.Platform.Variant
		}
		if pl == platform || (c.Platform.Variant != "" && c.Platform.OS+"/"+c.Platform.Architecture == platform) {
			return c, nil
		}
		have = append(have, pl)
	}
	return root, permanent(fmt.Errorf("the image has no %s platform (it has %s)", platform, strings.Join(have, ", ")))
}

// childManifestsOf lists an index's manifests, BuildKit's attestation
// manifests left out (nil for an image).
func childManifestsOf(ctx context.Context, src content.Fetcher, root ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	if !isIndex(root.MediaType) {
		return nil, nil
	}
	b, err := fetchBounded(ctx, src, root)
	if err != nil {
		return nil, err
	}
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, permanent(fmt.Errorf("index %s: %w", root.Digest, err))
	}
	out := []ocispec.Descriptor{}
	for _, m := range idx.Manifests {
		if m.Annotations["vnd.docker.reference.type"] == "attestation-manifest" {
			continue // BuildKit's attestations ride along, are not platforms
		}
		out = append(out, m)
	}
	return out, nil
}

func isIndex(mt string) bool {
	return mt == ocispec.MediaTypeImageIndex || mt == "application/vnd.docker.distribution.manifest.list.v2+json"
}

func fetchBounded(ctx context.Context, src content.Fetcher, d ocispec.Descriptor) ([]byte, error) {
	if d.Size > maxManifestBytes {
		return nil, permanent(fmt.Errorf("manifest %s is %d bytes, more than %d", d.Digest, d.Size, maxManifestBytes))
	}
	b, err := content.FetchAll(ctx, src, d)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", d.Digest, err)
	}
	return b, nil
}

// graphSize is the bytes of the image (manifests, configs, layers; every
// platform), for the progress bar.
func graphSize(ctx context.Context, src content.Fetcher, root ocispec.Descriptor) (int64, error) {
	total := root.Size
	children, err := childManifestsOf(ctx, src, root)
	if err != nil {
		return 0, err
	}
	if children == nil {
		children = []ocispec.Descriptor{root}
		total = 0
	}
	for _, c := range children {
		total += c.Size
		if isIndex(c.MediaType) {
			continue
		}
		b, err := fetchBounded(ctx, src, c)
		if err != nil {
			return 0, err
		}
		var m ocispec.Manifest
		if err := json.Unmarshal(b, &m); err != nil {
			return 0, permanent(fmt.Errorf("manifest %s: %w", c.Digest, err))
		}
		total += m.Config.Size
		for _, l := range m.Layers {
			total += l.Size
		}
	}
	return total, nil
}

// matchingTags lists the tags of repo that re matches, leaving out the
// sha256-<hex> tags of cosign's artifacts and the referrers tag schema,
// and up to 100 of those it does not match. More than maxTags matching
// tags is an error.
func matchingTags(ctx context.Context, repo *remote.Repository, re *regexp.Regexp) (tags, skipped []string, err error) {
	err = repo.Tags(ctx, "", func(page []string) error {
		for _, t := range page {
			switch {
			case strings.HasPrefix(t, "sha256-"):
			case re.MatchString(t):
				tags = append(tags, t)
			case len(skipped) < 100:
				skipped = append(skipped, t)
			}
		}
		if len(tags) > maxTags {
			return fmt.Errorf("more than %d matching tags", maxTags)
		}
		return nil
	})
	return tags, skipped, err
}

// copyCosignTags copies cosign's tag-schema artifacts of root
// (sha256-<hex>.sig, .att, .sbom), which are not referrers.
func copyCosignTags(ctx context.Context, src *remote.Repository, dst oras.Target, root ocispec.Descriptor) (int, error) {
	n := 0
	for _, suffix := range []string{".sig", ".att", ".sbom"} {
		tag := root.Digest.Algorithm().String() + "-" + root.Digest.Encoded() + suffix
		if _, err := src.Resolve(ctx, tag); err != nil {
			if errors.Is(err, errdef.ErrNotFound) {
				continue
			}
			return n, fmt.Errorf("look for %s upstream: %w", tag, err)
		}
		if _, err := oras.Copy(ctx, src, tag, dst, tag, oras.CopyOptions{CopyGraphOptions: oras.CopyGraphOptions{MaxMetadataBytes: maxManifestBytes}}); err != nil {
			return n, fmt.Errorf("copy %s: %w", tag, err)
		}
		n++
	}
	return n, nil
}
