package signtest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/cssc-project/cssc/internal/sign"
)

// Anonymous is RemoteOptions for a test registry: no credentials (the
// docker configuration of the machine running the tests is not read).
func Anonymous() sign.RemoteOptions {
	return sign.RemoteOptions{Credential: func(context.Context, string) (auth.Credential, error) {
		return auth.EmptyCredential, nil
	}}
}

// PushImage pushes a small image (an OCI manifest with an image config and
// one random layer, so every call makes a new digest) to host/repo:tag and
// returns it resolved. host is a registry on 127.0.0.1 (plain HTTP), such
// as servertest's.
func PushImage(t testing.TB, host, repo, tag string) *sign.Target {
	t.Helper()
	ctx := context.Background()
	ref := host + "/" + repo + ":" + tag
	r, err := sign.Repository(ref, Anonymous())
	if err != nil {
		t.Fatalf("signtest: %v", err)
	}
	layer := make([]byte, 256)
	if _, err := rand.Read(layer); err != nil {
		t.Fatalf("signtest: %v", err)
	}
	layerDesc, err := oras.PushBytes(ctx, r, ocispec.MediaTypeImageLayer, layer)
	if err != nil {
		t.Fatalf("signtest: push layer to %s: %v", ref, err)
	}
	config, err := json.Marshal(ocispec.Image{
		Platform: ocispec.Platform{Architecture: "amd64", OS: "linux"},
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{layerDesc.Digest}},
	})
	if err != nil {
		t.Fatalf("signtest: %v", err)
	}
	configDesc, err := oras.PushBytes(ctx, r, ocispec.MediaTypeImageConfig, config)
	if err != nil {
		t.Fatalf("signtest: push config to %s: %v", ref, err)
	}
	desc, err := oras.PackManifest(ctx, r, oras.PackManifestVersion1_1, "", oras.PackManifestOptions{
		Layers:           []ocispec.Descriptor{layerDesc},
		ConfigDescriptor: &configDesc,
	})
	if err != nil {
		t.Fatalf("signtest: push manifest to %s: %v", ref, err)
	}
	if err := r.Tag(ctx, desc, tag); err != nil {
		t.Fatalf("signtest: tag %s: %v", ref, err)
	}
	target, err := sign.Resolve(ctx, ref, Anonymous())
	if err != nil {
		t.Fatalf("signtest: %v", err)
	}
	return target
}
