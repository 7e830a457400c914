package acquire_test

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/cssc-project/cssc/internal/acquire"
	"github.com/cssc-project/cssc/internal/acquire/acquiretest"
	"github.com/cssc-project/cssc/internal/imagefs/imagetest"
	"github.com/cssc-project/cssc/internal/server"
	"github.com/cssc-project/cssc/internal/sign"
)

// A multi-platform index, as real upstream images are (with a BuildKit
// attestation manifest among its children): every platform is imported,
// analysed and decided on; the SBOMs and reports go on each platform
// manifest, the attestations on the index and on each platform; golden
// gets the whole index; --platform takes one platform only.
func TestAcquireIndex(t *testing.T) {
	ctx := context.Background()
	e := acquiretest.Start(t, func(c *server.Config) { c.Pipeline.Workers = 1 })
	e.AllowUpstream(t)
	amd := withPlatform(t, acquiretest.DebianImage(t, acquiretest.CleanStatus, imagetest.Entry{Name: "arch", Body: "amd64"}), "amd64", "")
	arm := withPlatform(t, acquiretest.DebianImage(t, acquiretest.CleanStatus, imagetest.Entry{Name: "arch", Body: "arm64"}), "arm64", "v8")
	att := imagetest.Image(t, imagetest.Layer(t, imagetest.Entry{Name: "provenance.json", Body: "{}"}))
	amdDigest, _ := amd.Digest()
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, "application/vnd.oci.image.index.v1+json"),
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}},
		mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"},
			Annotations: map[string]string{"vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": amdDigest.String()}}},
	)
	ref, err := name.ParseReference(e.Upstream.Host + "/demo/multi:1.0")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	idxDigest, _ := idx.Digest()
	armDigest, _ := arm.Digest()

	rec := e.Wait(t, e.Submit(t, e.Upstream.Host+"/demo/multi:1.0"))
	if rec.State != acquire.StatePromoted || rec.Digest != idxDigest.String() {
		t.Fatalf("%s %s %q, want promoted %s", rec.State, rec.Digest, rec.Reasons, idxDigest)
	}
	if len(rec.Risk) != 2 {
		t.Errorf("risk for %d platforms, want 2 (the attestation manifest is no platform): %+v", len(rec.Risk), rec.Risk)
	}
	all := []string{"lifecycle", "provenance", "sarif", "sbom-cyclonedx", "sbom-spdx", "scan-report", "signature", "vsa"}
	for _, d := range []string{amdDigest.String(), armDigest.String()} {
		if got := kinds(rec, d); !slices.Equal(got, all) {
			t.Errorf("platform %s: attached %v, want %v", d, got, all)
		}
	}
	if got := kinds(rec, idxDigest.String()); !slices.Equal(got, []string{"lifecycle", "provenance", "signature", "vsa"}) {
		t.Errorf("index: attached %v", got)
	}
	// golden serves the index, every platform and the attestation manifest.
	admin := sign.RemoteOptions{Credential: acquiretest.AdminCredential, HTTPClient: http.DefaultClient}
	for _, d := range []string{idxDigest.String(), amdDigest.String(), armDigest.String()} {
		if _, err := sign.Resolve(ctx, e.Server.Host+"/golden/demo/multi@"+d, admin); err != nil {
			t.Errorf("%s not in golden: %v", d, err)
		}
	}
	attDigest, _ := att.Digest()
	if _, err := sign.Resolve(ctx, e.Server.Host+"/golden/demo/multi@"+attDigest.String(), admin); err != nil {
		t.Errorf("the attestation manifest is not in golden (the index would be broken): %v", err)
	}

	// One platform only: that platform's manifest, under the tag.
	one := e.Wait(t, submitPlatform(t, e, e.Upstream.Host+"/demo/multi:1.0", "multi-arm", "linux/arm64"))
	if one.State != acquire.StatePromoted || one.Digest != armDigest.String() {
		t.Errorf("--platform linux/arm64: %s %s, want promoted %s", one.State, one.Digest, armDigest)
	}
	if got := goldenDigest(t, e, "golden/multi-arm:1.0"); got != armDigest.String() {
		t.Errorf("golden multi-arm:1.0 = %s, want %s", got, armDigest)
	}
}

func withPlatform(t *testing.T, img v1.Image, arch, variant string) v1.Image {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = "linux", arch, variant
	out, err := mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func submitPlatform(t *testing.T, e *acquiretest.Env, src, as, platform string) string {
	t.Helper()
	var rec acquire.Record
	if code := e.API(t, "POST", "/api/v1/acquisitions", map[string]any{"source": src, "as": as, "platform": platform}, &rec); code != http.StatusAccepted {
		t.Fatalf("submit %s --platform %s: HTTP %d", src, platform, code)
	}
	return rec.ID
}

// Docker's own media types (a schema 2 manifest list of schema 2
// manifests), as many images on Docker Hub still are.
func TestAcquireDockerMediaTypes(t *testing.T) {
	e := acquiretest.Start(t, nil)
	e.AllowUpstream(t)
	img := mutate.MediaType(withPlatform(t, acquiretest.DebianImage(t, acquiretest.CleanStatus), "amd64", ""), types.DockerManifestSchema2)
	img = mutate.ConfigMediaType(img, types.DockerConfigJSON)
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.DockerManifestList),
		mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{MediaType: types.DockerManifestSchema2, Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}})
	ref, err := name.ParseReference(e.Upstream.Host + "/demo/docker:1.0")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	want, _ := idx.Digest()
	rec := e.Wait(t, e.Submit(t, e.Upstream.Host+"/demo/docker:1.0"))
	if rec.State != acquire.StatePromoted || rec.Digest != want.String() {
		t.Fatalf("%s %s %q, want promoted %s", rec.State, rec.Digest, rec.Reasons, want)
	}
	if got := goldenDigest(t, e, "golden/demo/docker:1.0"); got != want.String() {
		t.Errorf("golden = %s, want %s", got, want)
	}
}
