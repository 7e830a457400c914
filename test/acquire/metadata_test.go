package acquire_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/cssc-project/cssc/internal/acquire"
	"github.com/cssc-project/cssc/internal/acquire/acquiretest"
	"github.com/cssc-project/cssc/internal/attest"
	"github.com/cssc-project/cssc/internal/server"
	"github.com/cssc-project/cssc/internal/sign"
	"github.com/cssc-project/cssc/internal/sign/signtest"
)

func withConfig(t *testing.T, img v1.Image, fn func(*v1.Config)) v1.Image {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	fn(&cf.Config)
	out, err := mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Debug-only content the policy names is stripped from what is promoted:
// golden gets a new digest under the same tag, the provenance names both
// digests, and the upstream's own signature stays with the original.
func TestStripDebugContent(t *testing.T) {
	ctx := context.Background()
	e := acquiretest.Start(t, func(c *server.Config) {
		c.Pipeline.PolicyDir = writePolicy(t, `{"cssc": {"settings": {"strip": {"labels": ["com.example.debug*"], "env": ["DEBUG"]}}}}`)
	})
	publisher := e.CA.Issue(t, signtest.LeafOptions{})
	e.AllowUpstream(t, acquiretest.PublicKeyFile(t, publisher.Public()))
	img := withConfig(t, acquiretest.DebianImage(t, acquiretest.CleanStatus), func(c *v1.Config) {
		c.Labels = map[string]string{"com.example.debug.build-host": "ci-17", "org.opencontainers.image.title": "app"}
		c.Env = []string{"PATH=/usr/bin", "DEBUG=1"}
	})
	upstreamDigest := acquiretest.Push(t, e.Upstream.Host+"/demo/app:1.0", img)
	cosignSign(t, e.Upstream.Host, "demo/app", upstreamDigest, publisher)

	rec := e.Wait(t, e.Submit(t, e.Upstream.Host+"/demo/app:1.0"))
	if rec.State != acquire.StatePromoted {
		t.Fatalf("%s %q", rec.State, rec.Reasons)
	}
	if rec.Digest == upstreamDigest || rec.UpstreamDigest != upstreamDigest {
		t.Fatalf("digest %s, upstream %s: want a new digest", rec.Digest, rec.UpstreamDigest)
	}
	if want := []string{"env:DEBUG", "label:com.example.debug.build-host"}; !slices.Equal(slices.Sorted(slices.Values(rec.Stripped)), want) {
		t.Errorf("stripped %v, want %v", rec.Stripped, want)
	}
	if got := goldenDigest(t, e, "golden/demo/app:1.0"); got != rec.Digest {
		t.Fatalf("golden tag = %s, want the stripped %s", got, rec.Digest)
	}
	admin := sign.RemoteOptions{Credential: acquiretest.AdminCredential, HTTPClient: http.DefaultClient}
	tg, err := sign.Resolve(ctx, e.Server.Host+"/golden/demo/app:1.0", admin)
	if err != nil {
		t.Fatal(err)
	}
	atts, err := attest.Attestations(ctx, tg, attest.PredicateProvenance)
	if err != nil || len(atts) != 1 {
		t.Fatalf("provenance on golden: %v %v", atts, err)
	}
	st, err := attest.Verify(ctx, atts[0].Envelope, e.Signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	pv, err := attest.ParseProvenance(st)
	if err != nil {
		t.Fatal(err)
	}
	deps := pv.GetBuildDefinition().GetResolvedDependencies()
	if len(deps) != 1 || "sha256:"+deps[0].GetDigest()["sha256"] != upstreamDigest {
		t.Errorf("provenance dependencies %v, want the upstream digest %s", deps, upstreamDigest)
	}
	if !strings.Contains(pv.GetBuildDefinition().GetInternalParameters().String(), "label:com.example.debug.build-host") {
		t.Errorf("provenance does not list what was stripped: %v", pv.GetBuildDefinition().GetInternalParameters())
	}
	// The golden config has the debug content removed, the rest kept.
	cfg := fetchConfig(t, e, "golden/demo/app@"+rec.Digest)
	if _, ok := cfg.Config.Labels["com.example.debug.build-host"]; ok || cfg.Config.Labels["org.opencontainers.image.title"] != "app" {
		t.Errorf("golden labels %v", cfg.Config.Labels)
	}
	if slices.Contains(cfg.Config.Env, "DEBUG=1") || !slices.Contains(cfg.Config.Env, "PATH=/usr/bin") {
		t.Errorf("golden env %v", cfg.Config.Env)
	}
	// The upstream's cosign signature signs the original digest: it is not
	// in golden (it would not verify there).
	var tags struct{ Tags []string }
	getJSON(t, e, "/v2/golden/demo/app/tags/list", &tags)
	for _, tag := range tags.Tags {
		if strings.HasSuffix(tag, ".sig") {
			t.Errorf("golden has the upstream's signature tag %s", tag)
		}
	}
}

// An attached SBOM's licences and a provenance's builder are checked by
// policy.
func TestAttachedMetadataPolicy(t *testing.T) {
	e := acquiretest.Start(t, func(c *server.Config) {
		c.Pipeline.PolicyDir = writePolicy(t, `{"cssc": {"denied_licenses": ["GPL-3.0-only"]}}`)
	})
	e.AllowUpstream(t)
	dgst := acquiretest.Push(t, e.Upstream.Host+"/demo/app:1.0", acquiretest.DebianImage(t, acquiretest.CleanStatus))
	sbom := `{"bomFormat":"CycloneDX","specVersion":"1.6","version":1,"components":[{"type":"library","name":"bash","version":"5.2.15-2+b2",
	  "purl":"pkg:deb/debian/bash@5.2.15-2%2Bb2?distro=debian-12","licenses":[{"license":{"id":"GPL-3.0-only"}}]}]}`
	attachArtifact(t, e.Upstream.Host, "demo/app", dgst, "application/vnd.cyclonedx+json", []byte(sbom))
	rec := e.Wait(t, e.Submit(t, e.Upstream.Host+"/demo/app:1.0"))
	if rec.State != acquire.StateBlocked || !slices.Contains(rec.Reasons, "the attached SBOM lists the denied licence GPL-3.0-only") {
		t.Fatalf("%s %q, want blocked for the licence", rec.State, rec.Reasons)
	}
}
