package attest_test

import (
	"github.com/cssc-project/cssc/internal/attest"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

var (
	imageDigest    = digest.Digest("sha256:" + strings.Repeat("a", 64))
	upstreamDigest = digest.Digest("sha256:" + strings.Repeat("b", 64))
	policyDigest   = digest.Digest("sha256:" + strings.Repeat("c", 64))
	t0             = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
)

func vsaOptions() attest.VSAOptions {
	return attest.VSAOptions{
		Subject:        attest.Subject{Name: "reg.example/golden/nginx", Digest: imageDigest},
		Version:        "1.2.3",
		TimeVerified:   t0,
		ResourceURI:    "reg.example/golden/nginx@" + imageDigest.String(),
		PolicyURI:      "https://cssc.dev/policy/default",
		PolicyDigest:   policyDigest,
		Passed:         true,
		VerifiedLevels: []string{"SLSA_BUILD_LEVEL_0"},
	}
}

func provenanceOptions() attest.ProvenanceOptions {
	return attest.ProvenanceOptions{
		Subject:        attest.Subject{Name: "reg.example/golden/nginx", Digest: upstreamDigest},
		Version:        "1.2.3",
		Upstream:       "docker.io/library/nginx:1.27",
		UpstreamDigest: upstreamDigest,
		InvocationID:   "acq-1",
		StartedOn:      t0,
		FinishedOn:     t0.Add(90 * time.Second),
	}
}

func TestStatementGolden(t *testing.T) {
	a, b, c := strings.Repeat("a", 64), strings.Repeat("b", 64), strings.Repeat("c", 64)
	failed := vsaOptions()
	failed.Passed = false
	failed.VerifiedLevels = nil
	failed.DependencyLevels = map[string]uint64{"SLSA_BUILD_LEVEL_0": 3, "SLSA_BUILD_LEVEL_2": 1}
	// A +01:00 time is written in UTC.
	failed.TimeVerified = t0.In(time.FixedZone("CET", 3600))
	stripped := provenanceOptions()
	stripped.Subject.Digest = imageDigest
	stripped.Stripped = []string{"label:com.example.debug", "env:DEBUG"}
	stripped.InvocationID = ""

	tests := []struct {
		name  string
		build func() (*attest.Statement, error)
		want  string
	}{
		{
			name:  "vsa passed",
			build: func() (*attest.Statement, error) { return attest.VerificationSummary(vsaOptions()) },
			want: `{"_type":"https://in-toto.io/Statement/v1",` +
				`"subject":[{"name":"reg.example/golden/nginx","digest":{"sha256":"` + a + `"}}],` +
				`"predicateType":"https://slsa.dev/verification_summary/v1",` +
				`"predicate":{"policy":{"digest":{"sha256":"` + c + `"},"uri":"https://cssc.dev/policy/default"},` +
				`"resourceUri":"reg.example/golden/nginx@sha256:` + a + `",` +
				`"timeVerified":"2025-03-01T10:00:00Z",` +
				`"verificationResult":"PASSED",` +
				`"verifiedLevels":["SLSA_BUILD_LEVEL_0"],` +
				`"verifier":{"id":"https://cssc.dev/cssc","version":{"cssc":"1.2.3"}}}}`,
		},
		{
			name:  "vsa failed with dependency levels",
			build: func() (*attest.Statement, error) { return attest.VerificationSummary(failed) },
			want: `{"_type":"https://in-toto.io/Statement/v1",` +
				`"subject":[{"name":"reg.example/golden/nginx","digest":{"sha256":"` + a + `"}}],` +
				`"predicateType":"https://slsa.dev/verification_summary/v1",` +
				`"predicate":{"dependencyLevels":{"SLSA_BUILD_LEVEL_0":3,"SLSA_BUILD_LEVEL_2":1},` +
				`"policy":{"digest":{"sha256":"` + c + `"},"uri":"https://cssc.dev/policy/default"},` +
				`"resourceUri":"reg.example/golden/nginx@sha256:` + a + `",` +
				`"timeVerified":"2025-03-01T10:00:00Z",` +
				`"verificationResult":"FAILED",` +
				`"verifier":{"id":"https://cssc.dev/cssc","version":{"cssc":"1.2.3"}}}}`,
		},
		{
			name:  "provenance, digest kept",
			build: func() (*attest.Statement, error) { return attest.AcquisitionProvenance(provenanceOptions()) },
			want: `{"_type":"https://in-toto.io/Statement/v1",` +
				`"subject":[{"name":"reg.example/golden/nginx","digest":{"sha256":"` + b + `"}}],` +
				`"predicateType":"https://slsa.dev/provenance/v1",` +
				`"predicate":{"buildDefinition":{"buildType":"https://cssc.dev/acquire/v1",` +
				`"externalParameters":{"upstreamDigest":"sha256:` + b + `","upstreamRef":"docker.io/library/nginx:1.27"},` +
				`"resolvedDependencies":[{"digest":{"sha256":"` + b + `"},"name":"docker.io/library/nginx:1.27"}]},` +
				`"runDetails":{"builder":{"id":"https://cssc.dev/cssc","version":{"cssc":"1.2.3"}},` +
				`"metadata":{"finishedOn":"2025-03-01T10:01:30Z","invocationId":"acq-1","startedOn":"2025-03-01T10:00:00Z"}}}}`,
		},
		{
			name:  "provenance, stripped",
			build: func() (*attest.Statement, error) { return attest.AcquisitionProvenance(stripped) },
			want: `{"_type":"https://in-toto.io/Statement/v1",` +
				`"subject":[{"name":"reg.example/golden/nginx","digest":{"sha256":"` + a + `"}}],` +
				`"predicateType":"https://slsa.dev/provenance/v1",` +
				`"predicate":{"buildDefinition":{"buildType":"https://cssc.dev/acquire/v1",` +
				`"externalParameters":{"upstreamDigest":"sha256:` + b + `","upstreamRef":"docker.io/library/nginx:1.27"},` +
				`"internalParameters":{"stripped":["label:com.example.debug","env:DEBUG"]},` +
				`"resolvedDependencies":[{"digest":{"sha256":"` + b + `"},"name":"docker.io/library/nginx:1.27"}]},` +
				`"runDetails":{"builder":{"id":"https://cssc.dev/cssc","version":{"cssc":"1.2.3"}},` +
				`"metadata":{"finishedOn":"2025-03-01T10:01:30Z","startedOn":"2025-03-01T10:00:00Z"}}}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := tt.build()
			if err != nil {
				t.Fatal(err)
			}
			got, err := attest.MarshalStatement(s)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("statement\n got %s\nwant %s", got, tt.want)
			}
			back, err := attest.ParseStatement(got)
			if err != nil {
				t.Fatalf("parse back: %v", err)
			}
			again, err := attest.MarshalStatement(back)
			if err != nil {
				t.Fatal(err)
			}
			if string(again) != tt.want {
				t.Errorf("parsed and encoded again\n got %s\nwant %s", again, tt.want)
			}
		})
	}
}

func TestStatementOptionErrors(t *testing.T) {
	vsaWith := func(f func(*attest.VSAOptions)) func() error {
		return func() error {
			o := vsaOptions()
			f(&o)
			_, err := attest.VerificationSummary(o)
			return err
		}
	}
	provWith := func(f func(*attest.ProvenanceOptions)) func() error {
		return func() error {
			o := provenanceOptions()
			f(&o)
			_, err := attest.AcquisitionProvenance(o)
			return err
		}
	}
	tests := []struct {
		name string
		run  func() error
		want string
	}{
		{"vsa no subject name", vsaWith(func(o *attest.VSAOptions) { o.Subject.Name = "" }), "subject has no name"},
		{"vsa bad subject digest", vsaWith(func(o *attest.VSAOptions) { o.Subject.Digest = "sha256:abc" }), "invalid checksum digest length"},
		{"vsa no version", vsaWith(func(o *attest.VSAOptions) { o.Version = "" }), "no cssc version"},
		{"vsa no time", vsaWith(func(o *attest.VSAOptions) { o.TimeVerified = time.Time{} }), "no verification time"},
		{"vsa no resource", vsaWith(func(o *attest.VSAOptions) { o.ResourceURI = "" }), "no resource URI"},
		{"vsa no policy uri", vsaWith(func(o *attest.VSAOptions) { o.PolicyURI = "" }), "no policy URI"},
		{"vsa no policy digest", vsaWith(func(o *attest.VSAOptions) { o.PolicyDigest = "" }), "policy digest"},
		{"prov no upstream", provWith(func(o *attest.ProvenanceOptions) { o.Upstream = "" }), "no upstream reference"},
		{"prov bad upstream digest", provWith(func(o *attest.ProvenanceOptions) { o.UpstreamDigest = "md5:x" }), "upstream digest"},
		{"prov no start", provWith(func(o *attest.ProvenanceOptions) { o.StartedOn = time.Time{} }), "start and finish times"},
		{"prov finish before start", provWith(func(o *attest.ProvenanceOptions) { o.FinishedOn = t0.Add(-time.Second) }), "before it started"},
		{"prov digest changed silently", provWith(func(o *attest.ProvenanceOptions) { o.Subject.Digest = imageDigest }), "nothing was stripped"},
		{"prov stripped but same digest", provWith(func(o *attest.ProvenanceOptions) { o.Stripped = []string{"env:X"} }), "is the upstream's"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestParseStatementRejects(t *testing.T) {
	a := strings.Repeat("a", 64)
	tests := []struct {
		name, in, want string
	}{
		{"not json", `{`, "parse in-toto statement"},
		{"old statement type", `{"_type":"https://in-toto.io/Statement/v0.1","subject":[{"name":"x","digest":{"sha256":"` + a + `"}}],"predicateType":"p","predicate":{}}`, "_type"},
		{"no subject", `{"_type":"https://in-toto.io/Statement/v1","predicateType":"p","predicate":{}}`, "subject"},
		{"short digest", `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"x","digest":{"sha256":"abcd"}}],"predicateType":"p","predicate":{}}`, "incorrect length"},
		{"no predicate", `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"x","digest":{"sha256":"` + a + `"}}],"predicateType":"p"}`, "predicate object required"},
		{"unknown field", `{"_type":"https://in-toto.io/Statement/v1","extra":1,"subject":[{"name":"x","digest":{"sha256":"` + a + `"}}],"predicateType":"p","predicate":{}}`, "unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := attest.ParseStatement([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}
