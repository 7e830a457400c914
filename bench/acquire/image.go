package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// osRelease is Debian 12's /usr/lib/os-release.
const osRelease = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
`

// dpkgStatus lists a few Debian 12 packages; openssl is at the fixed
// version of the one OSV record the bench imports, so the image is
// compared against it and found not affected.
const dpkgStatus = `Package: bash
Status: install ok installed
Architecture: amd64
Version: 5.2.15-2+b2
Description: GNU Bourne Again SHell

Package: coreutils
Status: install ok installed
Architecture: amd64
Version: 9.1-1
Description: GNU core utilities

Package: libc6
Status: install ok installed
Architecture: amd64
Source: glibc
Version: 2.36-9+deb12u4
Description: GNU C Library: Shared libraries

Package: libssl3
Status: install ok installed
Architecture: amd64
Source: openssl
Version: 3.0.13-1~deb12u1
Description: Secure Sockets Layer toolkit - shared libraries
`

// imageSpec is the shape of a generated image: a Debian base layer
// (os-release and a dpkg database, the same in every image) and Layers
// layers of random, incompressible files of FileSize bytes each, LayerSize
// bytes per layer. Seed makes the random content (distinct seeds,
// distinct images).
type imageSpec struct {
	Layers    int
	LayerSize int64
	FileSize  int64
	Seed      string
}

// file is one regular file or symbolic link of a layer.
type file struct {
	name, link string
	body       io.Reader
	size       int64
}

// baseLayer is the Debian layer every generated image starts with.
func baseLayer() (v1.Layer, error) {
	return gzipLayer([]file{
		{name: "usr/lib/os-release", body: stringsReader(osRelease), size: int64(len(osRelease))},
		{name: "etc/os-release", link: "../usr/lib/os-release"},
		{name: "var/lib/dpkg/status", body: stringsReader(dpkgStatus), size: int64(len(dpkgStatus))},
	})
}

func stringsReader(s string) io.Reader { return bytes.NewReader([]byte(s)) }

// makeImage builds the image spec describes, in memory.
func makeImage(spec imageSpec) (v1.Image, error) {
	if spec.FileSize <= 0 || spec.LayerSize < spec.FileSize {
		return nil, fmt.Errorf("image %s: file size %d, layer size %d: want 0 < file size <= layer size", spec.Seed, spec.FileSize, spec.LayerSize)
	}
	base, err := baseLayer()
	if err != nil {
		return nil, err
	}
	layers := []v1.Layer{base}
	for l := range spec.Layers {
		rng := newRand(fmt.Sprintf("%s/layer%d", spec.Seed, l))
		var files []file
		for off, i := int64(0), 0; off < spec.LayerSize; i++ {
			n := min(spec.FileSize, spec.LayerSize-off)
			files = append(files, file{name: fmt.Sprintf("opt/bench/layer%d/file%03d.dat", l, i), body: io.LimitReader(rng, n), size: n})
			off += n
		}
		layer, err := gzipLayer(files)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", spec.Seed, err)
		}
		layers = append(layers, layer)
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.AppendLayers(img, layers...)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", spec.Seed, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Created = v1.Time{Time: time.Now().UTC().Truncate(time.Second)}
	cf.Config.Cmd = []string{"/bin/bash"}
	return mutate.ConfigFile(img, cf)
}

// newRand is a fast deterministic source of random bytes for seed.
func newRand(seed string) io.Reader {
	sum := sha256.Sum256([]byte(seed))
	return rand.NewChaCha8(sum)
}

// gzipLayer writes files as a tar archive, compresses it (gzip, fastest
// level: random data does not compress at any level) and makes a layer
// of the result.
func gzipLayer(files []file) (v1.Layer, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(zw)
	mtime := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: 0o644, ModTime: mtime, Typeflag: tar.TypeReg, Size: f.size}
		if f.link != "" {
			h = &tar.Header{Name: f.name, Mode: 0o777, ModTime: mtime, Typeflag: tar.TypeSymlink, Linkname: f.link}
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("layer file %s: %w", f.name, err)
		}
		if f.link == "" {
			if n, err := io.Copy(tw, f.body); err != nil || n != f.size {
				return nil, fmt.Errorf("layer file %s: wrote %d of %d bytes: %v", f.name, n, f.size, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}, tarball.WithMediaType(types.OCILayer))
}

// pushImage makes the image spec describes and pushes it to ref; it
// returns the image's digest and its compressed size (manifest, config
// and layers).
func pushImage(ctx context.Context, ref string, spec imageSpec) (string, int64, error) {
	img, err := makeImage(spec)
	if err != nil {
		return "", 0, err
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", 0, err
	}
	if err := remote.Write(r, img, remote.WithContext(ctx)); err != nil {
		return "", 0, fmt.Errorf("push %s: %w", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		return "", 0, err
	}
	size, err := imageSize(img)
	if err != nil {
		return "", 0, err
	}
	return d.String(), size, nil
}

// imageSize is what a copy of img moves: manifest, config and layers.
func imageSize(img v1.Image) (int64, error) {
	m, err := img.RawManifest()
	if err != nil {
		return 0, err
	}
	c, err := img.RawConfigFile()
	if err != nil {
		return 0, err
	}
	total := int64(len(m) + len(c))
	layers, err := img.Layers()
	if err != nil {
		return 0, err
	}
	for _, l := range layers {
		n, err := l.Size()
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}
