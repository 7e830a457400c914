package acquire

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/cssc-project/cssc/internal/policy"
)

// strip removes the debug-only content the policy names (requirement D4)
// from the quarantined image and pushes the result beside it, by digest.
// It returns the new root digest and, per manifest, old digest → new
// digest; nothing is pushed (and the digests are kept) when nothing
// matches. The result is deterministic, so running it again after a
// crash pushes nothing new.
func (r *run) strip(ctx context.Context, s policy.Strip) (root string, moved map[string]string, removed []string, err error) {
	p, rec := r.p, r.rec
	moved = map[string]string{}
	if s.Empty() {
		return rec.UpstreamDigest, moved, nil, nil
	}
	ref, err := name.NewDigest(p.cfg.Host+"/"+r.quarantineRepo()+"@"+rec.UpstreamDigest, name.Insecure)
	if err != nil {
		return "", nil, nil, permanent(err)
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithTransport(p.cfg.Transport)}
	desc, err := remote.Get(ref, opts...)
	if err != nil {
		return "", nil, nil, fmt.Errorf("read %s: %w", ref, err)
	}
	seen := map[string]bool{}
	note := func(what string) {
		if !seen[what] {
			seen[what] = true
			removed = append(removed, what)
		}
	}
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return "", nil, nil, err
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return "", nil, nil, err
		}
		var adds []mutate.IndexAddendum
		for _, d := range im.Manifests {
			if !d.MediaType.IsImage() {
				return "", nil, nil, permanent(fmt.Errorf("strip: index %s holds a %s; only indexes of images are stripped", rec.UpstreamDigest, d.MediaType))
			}
			img, err := idx.Image(d.Digest)
			if err != nil {
				return "", nil, nil, err
			}
			out, err := stripImage(img, s, note)
			if err != nil {
				return "", nil, nil, err
			}
			nd, err := out.Digest()
			if err != nil {
				return "", nil, nil, err
			}
			moved[d.Digest.String()] = nd.String()
			desc := d
			desc.Digest, desc.Size, desc.Annotations = nd, 0, stripAnnotations(d.Annotations, s.Annotations, note)
			if size, err := out.Size(); err == nil {
				desc.Size = size
			}
			adds = append(adds, mutate.IndexAddendum{Add: out, Descriptor: desc})
		}
		out := mutate.AppendManifests(emptyIndexLike(im), adds...)
		if len(im.Annotations) > 0 {
			out = mutate.Annotations(out, stripAnnotations(im.Annotations, s.Annotations, note)).(v1.ImageIndex)
		}
		nd, err := out.Digest()
		if err != nil {
			return "", nil, nil, err
		}
		if len(removed) == 0 {
			return rec.UpstreamDigest, map[string]string{}, nil, nil
		}
		if err := remote.WriteIndex(ref.Context().Digest(nd.String()), out, opts...); err != nil {
			return "", nil, nil, fmt.Errorf("push the stripped index: %w", err)
		}
		moved[rec.UpstreamDigest] = nd.String()
		return nd.String(), moved, removed, nil
	}
	img, err := desc.Image()
	if err != nil {
		return "", nil, nil, err
	}
	out, err := stripImage(img, s, note)
	if err != nil {
		return "", nil, nil, err
	}
	if len(removed) == 0 {
		return rec.UpstreamDigest, moved, nil, nil
	}
	nd, err := out.Digest()
	if err != nil {
		return "", nil, nil, err
	}
	if err := remote.Write(ref.Context().Digest(nd.String()), out, opts...); err != nil {
		return "", nil, nil, fmt.Errorf("push the stripped image: %w", err)
	}
	moved[rec.UpstreamDigest] = nd.String()
	return nd.String(), moved, removed, nil
}

// emptyIndexLike is an empty index of im's media type (the children are
// added back).
func emptyIndexLike(im *v1.IndexManifest) v1.ImageIndex {
	return mutate.IndexMediaType(empty.Index, im.MediaType)
}

// stripImage removes labels, environment variables and manifest
// annotations; the layers are untouched.
func stripImage(img v1.Image, s policy.Strip, note func(string)) (v1.Image, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	changed := false
	for k := range cf.Config.Labels {
		if policy.Matches(s.Labels, k) {
			delete(cf.Config.Labels, k)
			note("label:" + k)
			changed = true
		}
	}
	env := cf.Config.Env[:0:0]
	for _, kv := range cf.Config.Env {
		k, _, _ := strings.Cut(kv, "=")
		if policy.Matches(s.Env, k) {
			note("env:" + k)
			changed = true
			continue
		}
		env = append(env, kv)
	}
	cf.Config.Env = env
	out := img
	if changed {
		if out, err = mutate.ConfigFile(img, cf); err != nil {
			return nil, err
		}
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	kept := stripAnnotations(m.Annotations, s.Annotations, note)
	if len(kept) != len(m.Annotations) {
		out = mutate.Annotations(out, kept).(v1.Image)
	}
	return out, nil
}

func stripAnnotations(a map[string]string, names []string, note func(string)) map[string]string {
	if a == nil {
		return nil
	}
	out := map[string]string{}
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if policy.Matches(names, k) {
			note("annotation:" + k)
			continue
		}
		out[k] = a[k]
	}
	return out
}
