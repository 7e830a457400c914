package imagefs

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/cache"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Image is one image to read: a single-platform manifest, possibly
// selected from an index.
type Image struct {
	v1.Image
	// Name is the reference as the user gave it.
	Name string
	// Digest is the image manifest's digest.
	Digest string
	// Index is the digest of the index it was selected from ("" if none).
	Index string
	// Platform is "os/arch[/variant]" from the index or the image config.
	Platform string
	// uncompressedLayers: the source holds layers as plain tars (a docker
	// save archive); they are read and verified by diff ID, and compressing
	// them only to name them is avoided.
	uncompressedLayers bool
	// archive and archiveLayers are a docker save archive's path and its
	// layer files (manifest.json order): read straight from the archive,
	// so that naming a compressed layer does not cost a pass over it.
	archive       string
	archiveLayers []string
	// repo and remote are set for images read from a registry: where
	// artifacts attached to them (referrers) are looked up.
	repo   name.Repository
	remote []remote.Option
}

// OpenOptions say how to reach an image.
type OpenOptions struct {
	// Platform selects one platform of an index ("linux/amd64",
	// "linux/arm64/v8"); empty means every platform.
	Platform string
	// Insecure allows plain HTTP (and unverified TLS) to any registry; a
	// registry on localhost or 127.0.0.1 is spoken to over HTTP anyway.
	Insecure bool
	// Keychain finds registry credentials; nil means the docker config
	// ($DOCKER_CONFIG/config.json, credential helpers).
	Keychain authn.Keychain
	// UserAgent is sent to registries.
	UserAgent string
	// Transport carries the requests to registries; nil means
	// go-containerregistry's default (http.DefaultTransport).
	Transport http.RoundTripper
}

// Open resolves ref to the images it names: one, or one per platform of
// an index. ref is a registry reference ("host/repo:tag",
// "host/repo@sha256:…"), an OCI layout ("oci:DIR" or "oci:DIR:TAG") or a
// docker save archive ("docker-archive:FILE").
func Open(ctx context.Context, ref string, opts OpenOptions) ([]*Image, error) {
	switch {
	case strings.HasPrefix(ref, "oci:"):
		return openLayout(ref, opts)
	case strings.HasPrefix(ref, "docker-archive:"):
		return openArchive(ref, opts)
	}
	return openRemote(ctx, ref, opts)
}

func openRemote(ctx context.Context, ref string, opts OpenOptions) ([]*Image, error) {
	var nameOpts []name.Option
	if opts.Insecure {
		nameOpts = append(nameOpts, name.Insecure)
	}
	r, err := name.ParseReference(ref, nameOpts...)
	if err != nil {
		return nil, fmt.Errorf("parse image reference %q: %w (want host/repo:tag, host/repo@sha256:…, oci:DIR[:TAG] or docker-archive:FILE)", ref, err)
	}
	kc := opts.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	ropts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(kc)}
	if opts.UserAgent != "" {
		ropts = append(ropts, remote.WithUserAgent(opts.UserAgent))
	}
	if opts.Transport != nil {
		ropts = append(ropts, remote.WithTransport(opts.Transport))
	}
	desc, err := remote.Get(r, ropts...)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", ref, err)
	}
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, fmt.Errorf("read index %s: %w", ref, err)
		}
		imgs, err := fromIndex(ref, idx, desc.Digest.String(), opts)
		return fromRegistry(imgs, r.Context(), ropts), err
	}
	img, err := desc.Image()
	if err != nil {
		return nil, fmt.Errorf("read image %s: %w", ref, err)
	}
	imgs, err := single(ref, img, desc.Digest.String(), opts, false)
	return fromRegistry(imgs, r.Context(), ropts), err
}

// FromRegistry reports whether img is read from a registry (each read of a
// layer is a download).
func (img *Image) FromRegistry() bool { return img.remote != nil }

// CacheLayers makes an image read from a registry keep each layer it
// downloads in dir, so that a second pass over the layers (a package
// inventory, then a malware scan) reads them from disk instead of
// downloading them again. Every read is still verified against the
// layer's digest. It does nothing for images read from local files.
func (img *Image) CacheLayers(dir string) {
	if img.FromRegistry() {
		img.Image = cache.Image(img.Image, cache.NewFilesystemCache(dir))
	}
}

// fromRegistry records where the images came from, for Attached.
func fromRegistry(imgs []*Image, repo name.Repository, ropts []remote.Option) []*Image {
	for _, img := range imgs {
		img.repo, img.remote = repo, ropts
	}
	return imgs
}

func openLayout(ref string, opts OpenOptions) ([]*Image, error) {
	dir, tag := strings.TrimPrefix(ref, "oci:"), ""
	if i := strings.LastIndexByte(dir, ':'); i >= 0 && !strings.ContainsAny(dir[i+1:], `/\`) {
		dir, tag = dir[:i], dir[i+1:]
	}
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("open OCI layout %s: %w", dir, err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("read OCI layout %s: %w", dir, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Join(dir, "index.json"), err)
	}
	var chosen []v1.Descriptor
	var names []string
	for _, d := range im.Manifests {
		n := d.Annotations["org.opencontainers.image.ref.name"]
		names = append(names, n)
		if tag == "" || n == tag || strings.HasSuffix(n, ":"+tag) {
			chosen = append(chosen, d)
		}
	}
	switch {
	case len(chosen) == 0:
		return nil, fmt.Errorf("OCI layout %s has no image tagged %q (it has: %s)", dir, tag, strings.Join(names, ", "))
	case len(chosen) > 1:
		return nil, fmt.Errorf("OCI layout %s holds %d images: name one as oci:%s:TAG (tags: %s)", dir, len(chosen), dir, strings.Join(names, ", "))
	}
	d := chosen[0]
	if d.MediaType.IsIndex() {
		child, err := idx.ImageIndex(d.Digest)
		if err != nil {
			return nil, fmt.Errorf("read index %s in %s: %w", d.Digest, dir, err)
		}
		return fromIndex(ref, child, d.Digest.String(), opts)
	}
	img, err := idx.Image(d.Digest)
	if err != nil {
		return nil, fmt.Errorf("read image %s in %s: %w", d.Digest, dir, err)
	}
	return single(ref, img, d.Digest.String(), opts, false)
}

func openArchive(ref string, opts OpenOptions) ([]*Image, error) {
	file := strings.TrimPrefix(ref, "docker-archive:")
	if _, err := os.Stat(file); err != nil {
		return nil, fmt.Errorf("open docker archive: %w", err)
	}
	img, err := tarball.ImageFromPath(file, nil)
	if err != nil {
		return nil, fmt.Errorf("read docker archive %s: %w", file, err)
	}
	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(file) })
	if err != nil {
		return nil, fmt.Errorf("read docker archive %s: %w", file, err)
	}
	if len(m) != 1 {
		return nil, fmt.Errorf("docker archive %s holds %d images; cssc reads archives of one", file, len(m))
	}
	// The manifest of a docker save archive is not a registry manifest:
	// the image is named by its config digest, as docker names it.
	cfg, err := img.ConfigName()
	if err != nil {
		return nil, fmt.Errorf("read docker archive %s: %w", file, err)
	}
	imgs, err := single(ref, img, cfg.String(), opts, true)
	if err != nil {
		return nil, err
	}
	imgs[0].archive, imgs[0].archiveLayers = file, m[0].Layers
	return imgs, nil
}

// openInArchive opens the file name inside the tar archive at path,
// following symbolic and hard links inside the archive (docker save
// writes repeated layers as links).
func openInArchive(archive, name string) (io.ReadCloser, error) {
	seen := map[string]bool{}
	for {
		name = path.Clean(name)
		if seen[name] {
			return nil, fmt.Errorf("%s: link cycle at %s", archive, name)
		}
		seen[name] = true
		f, err := os.Open(archive)
		if err != nil {
			return nil, err
		}
		tr := tar.NewReader(f) // an *os.File: file data is skipped by seeking
		var hdr *tar.Header
		for {
			if hdr, err = tr.Next(); err != nil {
				break
			}
			if path.Clean(hdr.Name) == name {
				break
			}
		}
		if err != nil {
			_ = f.Close()
			if errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("%s has no %s", archive, name)
			}
			return nil, fmt.Errorf("read %s: %w", archive, err)
		}
		switch hdr.Typeflag {
		case tar.TypeSymlink:
			_ = f.Close()
			name = path.Join(path.Dir(name), hdr.Linkname)
		case tar.TypeLink:
			_ = f.Close()
			name = hdr.Linkname
		default:
			return struct {
				io.Reader
				io.Closer
			}{tr, f}, nil
		}
	}
}

func single(ref string, img v1.Image, digest string, opts OpenOptions, uncompressed bool) ([]*Image, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("read config of %s: %w", ref, err)
	}
	p := v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}
	if opts.Platform != "" {
		want, err := v1.ParsePlatform(opts.Platform)
		if err != nil {
			return nil, fmt.Errorf("--platform %q: %w", opts.Platform, err)
		}
		if !platformMatches(p, *want) {
			return nil, fmt.Errorf("%s is %s, not %s", ref, p.String(), opts.Platform)
		}
	}
	return []*Image{{Image: img, Name: ref, Digest: digest, Platform: p.String(), uncompressedLayers: uncompressed}}, nil
}

func fromIndex(ref string, idx v1.ImageIndex, indexDigest string, opts OpenOptions) ([]*Image, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("read index %s: %w", ref, err)
	}
	var want *v1.Platform
	if opts.Platform != "" {
		if want, err = v1.ParsePlatform(opts.Platform); err != nil {
			return nil, fmt.Errorf("--platform %q: %w", opts.Platform, err)
		}
	}
	var out []*Image
	var have []string
	for _, d := range im.Manifests {
		if !d.MediaType.IsImage() || isAttestation(d) {
			continue // nested indexes and build attestations are not platforms
		}
		var p v1.Platform
		if d.Platform != nil {
			p = *d.Platform
		}
		have = append(have, p.String())
		if want != nil && !platformMatches(p, *want) {
			continue
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			return nil, fmt.Errorf("read %s of %s: %w", p.String(), ref, err)
		}
		out = append(out, &Image{Image: img, Name: ref, Digest: d.Digest.String(), Index: indexDigest, Platform: p.String()})
	}
	if len(out) == 0 {
		if want != nil {
			return nil, fmt.Errorf("%s has no %s image (platforms: %s)", ref, opts.Platform, strings.Join(have, ", "))
		}
		return nil, fmt.Errorf("%s is an index without images", ref)
	}
	return out, nil
}

// isAttestation reports a BuildKit attestation manifest in an index
// (platform unknown/unknown, annotated as an attestation).
func isAttestation(d v1.Descriptor) bool {
	return d.Annotations["vnd.docker.reference.type"] == "attestation-manifest" ||
		(d.Platform != nil && d.Platform.OS == "unknown" && d.Platform.Architecture == "unknown")
}

// platformMatches compares os and architecture, and the variant when the
// wanted platform names one.
func platformMatches(have, want v1.Platform) bool {
	if have.OS != want.OS || have.Architecture != want.Architecture {
		return false
	}
	return want.Variant == "" || have.Variant == want.Variant ||
		(want.Architecture == "arm64" && slices.Contains([]string{"", "v8"}, have.Variant) && want.Variant == "v8")
}

// HostPlatform is the platform of this machine, e.g. "linux/amd64".
func HostPlatform() string { return "linux/" + runtime.GOARCH }

// FromV1 wraps an image already in hand (built in memory, read by other
// code) for reading with Walk or Extract.
func FromV1(name string, img v1.Image) (*Image, error) {
	d, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("digest of %s: %w", name, err)
	}
	imgs, err := single(name, img, d.String(), OpenOptions{}, false)
	if err != nil {
		return nil, err
	}
	return imgs[0], nil
}
