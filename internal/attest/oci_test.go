package attest_test

import (
	"context"
	"encoding/json"
	"github.com/cssc-project/cssc/internal/attest"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"github.com/cssc-project/cssc/internal/keys"
	"github.com/cssc-project/cssc/internal/server/servertest"
	"github.com/cssc-project/cssc/internal/sign"
	"github.com/cssc-project/cssc/internal/sign/signtest"
)

func startRegistry(t *testing.T) *servertest.Server {
	t.Helper()
	return servertest.Start(t, servertest.Config(t.TempDir()))
}

// referrers asks the registry's referrers API directly, with an
// artifactType filter, and returns the digests listed.
func referrers(t *testing.T, srv *servertest.Server, repo string, target *sign.Target, artifactType string) []ocispec.Descriptor {
	t.Helper()
	u := srv.URL + "/v2/" + repo + "/referrers/" + target.Desc.Digest.String() + "?artifactType=" + url.QueryEscape(artifactType)
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", u, resp.Status)
	}
	var idx ocispec.Index
	if err := json.NewDecoder(resp.Body).Decode(&idx); err != nil {
		t.Fatal(err)
	}
	return idx.Manifests
}

func fetchManifest(t *testing.T, target *sign.Target, d ocispec.Descriptor) ocispec.Manifest {
	t.Helper()
	b, err := content.FetchAll(context.Background(), target.Repo, d)
	if err != nil {
		t.Fatal(err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestAttachAttestations(t *testing.T) {
	ctx := context.Background()
	srv := startRegistry(t)
	img := signtest.PushImage(t, srv.Host, "golden/nginx", "1.27")
	key := signtest.NewCA(t, "attest CA", keys.ECDSAP256).Issue(t, signtest.LeafOptions{})

	vo := vsaOptions()
	vo.Subject = attest.Subject{Name: img.Name, Digest: img.Desc.Digest}
	vo.ResourceURI = img.DigestRef()
	po := provenanceOptions()
	po.Subject = attest.Subject{Name: img.Name, Digest: img.Desc.Digest}
	po.UpstreamDigest = img.Desc.Digest
	vsaStmt, err := attest.VerificationSummary(vo)
	if err != nil {
		t.Fatal(err)
	}
	provStmt, err := attest.AcquisitionProvenance(po)
	if err != nil {
		t.Fatal(err)
	}
	attached := map[string]ocispec.Descriptor{}
	for _, s := range []*attest.Statement{vsaStmt, provStmt} {
		env, err := attest.Sign(ctx, s, key)
		if err != nil {
			t.Fatal(err)
		}
		d, err := attest.Attach(ctx, img, env, s.PredicateType)
		if err != nil {
			t.Fatal(err)
		}
		attached[s.PredicateType] = d
	}
	// A lifecycle referrer must not show up as an attestation.
	if _, err := attest.AttachLifecycle(ctx, img, t0); err != nil {
		t.Fatal(err)
	}

	listed := referrers(t, srv, "golden/nginx", img, attest.ArtifactTypeInToto)
	var digests []string
	for _, d := range listed {
		digests = append(digests, d.Digest.String())
	}
	want := []string{attached[attest.PredicateVSA].Digest.String(), attached[attest.PredicateProvenance].Digest.String()}
	slices.Sort(digests)
	slices.Sort(want)
	if !slices.Equal(digests, want) {
		t.Fatalf("referrers API lists %v, want %v", digests, want)
	}
	for pt, d := range attached {
		m := fetchManifest(t, img, d)
		switch {
		case m.MediaType != ocispec.MediaTypeImageManifest || m.ArtifactType != attest.ArtifactTypeInToto:
			t.Errorf("%s: manifest %s, artifactType %s", pt, m.MediaType, m.ArtifactType)
		case m.Config.MediaType != ocispec.MediaTypeEmptyJSON || m.Config.Digest != ocispec.DescriptorEmptyJSON.Digest:
			t.Errorf("%s: config %+v, want the empty config", pt, m.Config)
		case len(m.Layers) != 1 || m.Layers[0].MediaType != attest.MediaTypeDSSE || m.Layers[0].Annotations[attest.AnnotationPredicateType] != pt:
			t.Errorf("%s: layers %+v", pt, m.Layers)
		case m.Annotations[attest.AnnotationPredicateType] != pt:
			t.Errorf("%s: annotations %v", pt, m.Annotations)
		case m.Subject == nil || m.Subject.Digest != img.Desc.Digest || m.Subject.MediaType != img.Desc.MediaType || m.Subject.Size != img.Desc.Size:
			t.Errorf("%s: subject %+v, want %+v", pt, m.Subject, img.Desc)
		}
	}

	tests := []struct {
		predicateType string
		want          []string
	}{
		{attest.PredicateVSA, []string{attest.PredicateVSA}},
		{attest.PredicateProvenance, []string{attest.PredicateProvenance}},
		{"", []string{attest.PredicateProvenance, attest.PredicateVSA}},
		{"https://example.com/other/v1", nil},
	}
	for _, tt := range tests {
		t.Run("list "+tt.predicateType, func(t *testing.T) {
			as, err := attest.Attestations(ctx, img, tt.predicateType)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, a := range as {
				got = append(got, a.PredicateType)
				if a.Desc.Digest != attached[a.PredicateType].Digest {
					t.Errorf("%s listed as %s, attached as %s", a.PredicateType, a.Desc.Digest, attached[a.PredicateType].Digest)
				}
				s, err := attest.Verify(ctx, a.Envelope, key.Public())
				if err != nil {
					t.Fatalf("verify %s: %v", a.PredicateType, err)
				}
				checkParsed(t, s, img, po)
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("attest.Attestations(%q) = %v, want %v", tt.predicateType, got, tt.want)
			}
		})
	}
}

// checkParsed checks a verified statement field by field, as a consumer
// reads it.
func checkParsed(t *testing.T, s *attest.Statement, img *sign.Target, po attest.ProvenanceOptions) {
	t.Helper()
	if len(s.Subject) != 1 || s.Subject[0].Name != img.Name || s.Subject[0].Digest["sha256"] != img.Desc.Digest.Encoded() {
		t.Errorf("subject %v, want %s@%s", s.Subject, img.Name, img.Desc.Digest)
	}
	switch s.PredicateType {
	case attest.PredicateVSA:
		v, err := attest.ParseVSA(s)
		if err != nil {
			t.Fatal(err)
		}
		if v.GetVerifier().GetId() != attest.ToolID || !v.GetTimeVerified().AsTime().Equal(t0) ||
			v.GetResourceUri() != img.DigestRef() || v.GetPolicy().GetUri() != "https://cssc.dev/policy/default" ||
			v.GetPolicy().GetDigest()["sha256"] != policyDigest.Encoded() || v.GetVerificationResult() != attest.ResultPassed ||
			!slices.Equal(v.GetVerifiedLevels(), []string{"SLSA_BUILD_LEVEL_0"}) {
			t.Errorf("VSA %v", v)
		}
		if got := s.Predicate.Fields["verifier"].GetStructValue().Fields["version"].GetStructValue().Fields["cssc"].GetStringValue(); got != "1.2.3" {
			t.Errorf("verifier.version.cssc = %q, want 1.2.3", got)
		}
	case attest.PredicateProvenance:
		p, err := attest.ParseProvenance(s)
		if err != nil {
			t.Fatal(err)
		}
		bd, rd := p.GetBuildDefinition(), p.GetRunDetails()
		ext := bd.GetExternalParameters().GetFields()
		deps := bd.GetResolvedDependencies()
		if bd.GetBuildType() != attest.BuildTypeAcquire || ext["upstreamRef"].GetStringValue() != po.Upstream ||
			ext["upstreamDigest"].GetStringValue() != po.UpstreamDigest.String() || len(deps) != 1 ||
			deps[0].GetName() != po.Upstream || deps[0].GetDigest()["sha256"] != po.UpstreamDigest.Encoded() {
			t.Errorf("buildDefinition %v", bd)
		}
		if rd.GetBuilder().GetId() != attest.ToolID || rd.GetBuilder().GetVersion()["cssc"] != "1.2.3" ||
			!rd.GetMetadata().GetStartedOn().AsTime().Equal(po.StartedOn) || !rd.GetMetadata().GetFinishedOn().AsTime().Equal(po.FinishedOn) ||
			rd.GetMetadata().GetInvocationId() != "acq-1" {
			t.Errorf("runDetails %v", rd)
		}
	default:
		t.Errorf("predicate type %s", s.PredicateType)
	}
}

func TestAttachRefuses(t *testing.T) {
	ctx := context.Background()
	srv := startRegistry(t)
	img := signtest.PushImage(t, srv.Host, "golden/app", "1")
	other := signtest.PushImage(t, srv.Host, "golden/app", "2")
	key := signtest.NewCA(t, "attest CA", keys.ECDSAP256).Issue(t, signtest.LeafOptions{})
	vo := vsaOptions()
	vo.Subject = attest.Subject{Name: img.Name, Digest: img.Desc.Digest}
	stmt, err := attest.VerificationSummary(vo)
	if err != nil {
		t.Fatal(err)
	}
	env, err := attest.Sign(ctx, stmt, key)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name          string
		target        *sign.Target
		envelope      []byte
		predicateType string
		want          string
	}{
		{"statement about another image", other, env, attest.PredicateVSA, "the statement is not about"},
		{"predicate type differs", img, env, attest.PredicateProvenance, "not \"https://slsa.dev/provenance/v1\""},
		{"not an envelope", img, []byte(`{"payloadType":"text/plain","payload":"","signatures":[{"sig":""}]}`), attest.PredicateVSA, "payload type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := attest.Attach(ctx, tt.target, tt.envelope, tt.predicateType)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("attest.Attach error %v, want one containing %q", err, tt.want)
			}
			if got := referrers(t, srv, "golden/app", tt.target, attest.ArtifactTypeInToto); len(got) != 0 {
				t.Errorf("refused attach left referrers %v", got)
			}
		})
	}
}

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	srv := startRegistry(t)
	early := time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC)
	late := time.Date(2027, 6, 30, 12, 0, 0, 0, time.FixedZone("CEST", 2*3600))

	tests := []struct {
		name   string
		attach []time.Time
		raw    []string // annotation values pushed as they are
		want   *time.Time
		err    string
	}{
		{name: "none", want: nil},
		{name: "one", attach: []time.Time{early}, want: &early},
		{name: "latest wins", attach: []time.Time{late, early}, want: ptr(late.UTC())},
		{name: "date only", raw: []string{"2028-02-29"}, want: ptr(time.Date(2028, 2, 29, 0, 0, 0, 0, time.UTC))},
		{name: "unparsable date", attach: []time.Time{early}, raw: []string{"next year"}, err: "neither RFC 3339 nor YYYY-MM-DD"},
		{name: "annotation missing", raw: []string{""}, err: "has no " + attest.AnnotationEndOfLife},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := signtest.PushImage(t, srv.Host, "golden/lc", "v"+string(rune('a'+i)))
			// Another image's lifecycle is not this one's.
			neighbour := signtest.PushImage(t, srv.Host, "golden/lc", "n"+string(rune('a'+i)))
			if _, err := attest.AttachLifecycle(ctx, neighbour, time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
				t.Fatal(err)
			}
			for _, eol := range tt.attach {
				d, err := attest.AttachLifecycle(ctx, img, eol)
				if err != nil {
					t.Fatal(err)
				}
				m := fetchManifest(t, img, d)
				if m.ArtifactType != attest.ArtifactTypeLifecycle || m.Config.MediaType != ocispec.MediaTypeEmptyJSON ||
					len(m.Layers) != 1 || m.Layers[0].Digest != ocispec.DescriptorEmptyJSON.Digest ||
					m.Annotations[attest.AnnotationEndOfLife] != eol.UTC().Format(time.RFC3339) ||
					m.Subject == nil || m.Subject.Digest != img.Desc.Digest {
					t.Errorf("lifecycle manifest %+v", m)
				}
			}
			for _, v := range tt.raw {
				ann := map[string]string{}
				if v != "" {
					ann[attest.AnnotationEndOfLife] = v
				}
				if _, err := attest.AttachArtifact(ctx, img, attest.ArtifactTypeLifecycle, "application/vnd.oci.empty.v1+json", []byte("{}"), ann); err != nil {
					t.Fatal(err)
				}
			}
			got, err := attest.ReadLifecycle(ctx, img)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("attest.ReadLifecycle = %v, %v; want an error containing %q", got, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tt.want == nil && got != nil:
				t.Errorf("attest.ReadLifecycle = %v, want nil", got)
			case tt.want != nil && (got == nil || !got.Equal(*tt.want)):
				t.Errorf("attest.ReadLifecycle = %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("zero date refused", func(t *testing.T) {
		img := signtest.PushImage(t, srv.Host, "golden/lc", "zero")
		if _, err := attest.AttachLifecycle(ctx, img, time.Time{}); err == nil {
			t.Error("attest.AttachLifecycle with a zero date succeeded")
		}
	})
}

func ptr(t time.Time) *time.Time { return &t }
