package registry_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	gv1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	orasremote "oras.land/oras-go/v2/registry/remote"

	"github.com/cssc-project/cssc/internal/server/servertest"
)

// readAll reads every blob of img through the registry; go-containerregistry
// verifies each against its digest.
func readAllBlobs(t *testing.T, img gv1.Image) {
	t.Helper()
	if _, err := img.RawConfigFile(); err != nil {
		t.Fatalf("config: %v", err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			t.Fatalf("layer: %v", err)
		}
		if err := rc.Close(); err != nil {
			t.Fatalf("layer digest: %v", err)
		}
	}
}

// TestClientGoContainerRegistry pushes and pulls with go-containerregistry
// (streamed PATCH uploads, mounts, indexes, referrers) against a real server.
func TestClientGoContainerRegistry(t *testing.T) {
	srv := servertest.Start(t, servertest.Config(t.TempDir()))
	opts := []remote.Option{remote.WithContext(context.Background())}
	ref := func(s string) name.Reference {
		r, err := name.ParseReference(srv.Host+"/"+s, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	img, err := random.Image(4096, 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref("team/app:v1"), img, opts...); err != nil {
		t.Fatalf("push image: %v", err)
	}
	want, _ := img.Digest()
	pulled, err := remote.Image(ref("team/app:v1"), opts...)
	if err != nil {
		t.Fatalf("pull image: %v", err)
	}
	if got, _ := pulled.Digest(); got != want {
		t.Fatalf("pulled %s, pushed %s", got, want)
	}
	readAllBlobs(t, pulled)

	// The same image into another repository: its blobs are mounted.
	if err := remote.Write(ref("team/copy:v1"), pulled, opts...); err != nil {
		t.Fatalf("push copy: %v", err)
	}
	copied, err := remote.Image(ref("team/copy@"+want.String()), opts...)
	if err != nil {
		t.Fatal(err)
	}
	readAllBlobs(t, copied)

	idx, err := random.Index(1024, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref("team/app:multi"), idx, opts...); err != nil {
		t.Fatalf("push index: %v", err)
	}
	pulledIdx, err := remote.Index(ref("team/app:multi"), opts...)
	if err != nil {
		t.Fatal(err)
	}
	im, err := pulledIdx.IndexManifest()
	if err != nil || len(im.Manifests) != 2 {
		t.Fatalf("index manifest: %+v, %v", im, err)
	}
	for _, m := range im.Manifests {
		child, err := pulledIdx.Image(m.Digest)
		if err != nil {
			t.Fatal(err)
		}
		readAllBlobs(t, child)
	}

	tags, err := remote.List(ref("team/app:v1").Context(), opts...)
	if err != nil || !slices.Equal(tags, []string{"multi", "v1"}) {
		t.Fatalf("tags = %v, %v", tags, err)
	}
	repos, err := remote.Catalog(context.Background(), ref("team/app:v1").Context().Registry, opts...)
	if err != nil || !slices.Equal(repos, []string{"team/app", "team/copy"}) {
		t.Fatalf("catalog = %v, %v", repos, err)
	}

	// Referrers: an SBOM and a signature about v1.
	subjectDesc, err := remote.Head(ref("team/app:v1"), opts...)
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []string{"application/vnd.example.sbom", "application/vnd.example.sig"} {
		a := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
		a = mutate.ConfigMediaType(a, types.MediaType(at))
		a = mutate.Subject(a, *subjectDesc).(gv1.Image)
		d, _ := a.Digest()
		if err := remote.Write(ref("team/app@"+d.String()), a, opts...); err != nil {
			t.Fatalf("push %s: %v", at, err)
		}
	}
	subject := ref("team/app@" + want.String()).(name.Digest)
	all, err := remote.Referrers(subject, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := all.IndexManifest(); len(m.Manifests) != 2 {
		t.Fatalf("referrers: %+v", m.Manifests)
	}
	sboms, err := remote.Referrers(subject, append(opts, remote.WithFilter("artifactType", "application/vnd.example.sbom"))...)
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := sboms.IndexManifest(); len(m.Manifests) != 1 || m.Manifests[0].ArtifactType != "application/vnd.example.sbom" {
		t.Fatalf("sbom referrers: %+v", m.Manifests)
	}

	// Delete by digest: its tags go with it.
	if err := remote.Delete(ref("team/copy@"+want.String()), opts...); err != nil {
		t.Fatalf("delete: %v", err)
	}
	_, err = remote.Image(ref("team/copy:v1"), opts...)
	var terr *transport.Error
	if !errors.As(err, &terr) || terr.StatusCode != http.StatusNotFound {
		t.Fatalf("pull after delete: %v", err)
	}
}

// TestClientORAS pushes an artifact that refers to an image with oras-go.
func TestClientORAS(t *testing.T) {
	ctx := context.Background()
	srv := servertest.Start(t, servertest.Config(t.TempDir()))
	repo, err := orasremote.NewRepository(srv.Host + "/team/oras")
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true

	layerData := []byte("plain file for oras")
	layer := content.NewDescriptorFromBytes("application/vnd.example.file", layerData)
	if err := repo.Push(ctx, layer, bytes.NewReader(layerData)); err != nil {
		t.Fatalf("push blob: %v", err)
	}
	base, err := oras.PackManifest(ctx, repo, oras.PackManifestVersion1_1, "application/vnd.example.thing",
		oras.PackManifestOptions{Layers: []ocispec.Descriptor{layer}})
	if err != nil {
		t.Fatalf("pack base: %v", err)
	}
	if err := repo.Tag(ctx, base, "v1"); err != nil {
		t.Fatal(err)
	}
	sbom, err := oras.PackManifest(ctx, repo, oras.PackManifestVersion1_1, "application/spdx+json",
		oras.PackManifestOptions{Subject: &base})
	if err != nil {
		t.Fatalf("pack sbom: %v", err)
	}
	var found []ocispec.Descriptor
	if err := repo.Referrers(ctx, base, "application/spdx+json", func(refs []ocispec.Descriptor) error {
		found = append(found, refs...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 || found[0].Digest != sbom.Digest {
		t.Fatalf("referrers = %+v, want %s", found, sbom.Digest)
	}
	got, rc, err := repo.FetchReference(ctx, "v1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := content.ReadAll(rc, got); err != nil || got.Digest != base.Digest {
		t.Fatalf("fetch v1: %s, %v", got.Digest, err)
	}
	_ = rc.Close()
	if ok, err := repo.Exists(ctx, layer); !ok || err != nil {
		t.Fatalf("layer exists = %v, %v", ok, err)
	}
}
