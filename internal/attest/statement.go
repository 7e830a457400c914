// Package attest builds, signs, verifies and attaches the attestations cssc
// leaves on an acquired image: in-toto Statements v1 in DSSE envelopes (a
// SLSA Verification Summary of the policy decision and a SLSA provenance of
// the acquisition) and lifecycle (end-of-life) metadata, all as OCI 1.1
// referrers of the image.
//
// The Statement, ResourceDescriptor and predicate types are those of
// github.com/in-toto/attestation; envelopes are those of
// github.com/secure-systems-lab/go-securesystemslib/dsse.
package attest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	provenance "github.com/in-toto/attestation/go/predicates/provenance/v1"
	vsa "github.com/in-toto/attestation/go/predicates/vsa/v1"
	intoto "github.com/in-toto/attestation/go/v1"
	"github.com/opencontainers/go-digest"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Statement is an in-toto Statement v1.
type Statement = intoto.Statement

// Predicate types and identifiers cssc writes.
const (
	// PredicateVSA is the SLSA Verification Summary Attestation v1.
	PredicateVSA = "https://slsa.dev/verification_summary/v1"
	// PredicateProvenance is SLSA provenance v1.
	PredicateProvenance = "https://slsa.dev/provenance/v1"
	// BuildTypeAcquire is the buildType of an acquisition provenance: an
	// image copied from an upstream registry into cssc (quarantine, checks,
	// golden), unchanged or with the debug-only content named by policy
	// stripped. externalParameters are "upstreamRef" (the reference as
	// acquired) and "upstreamDigest" (its manifest digest); when content
	// was stripped, internalParameters "stripped" lists what was removed.
	// resolvedDependencies holds the upstream image (name = reference,
	// digest = its manifest digest).
	BuildTypeAcquire = "https://cssc.dev/acquire/v1"
	// ToolID is the id of cssc as a SLSA verifier (VSA verifier.id) and as
	// builder (provenance runDetails.builder.id); its version is in the
	// "version" map under the key "cssc".
	ToolID = "https://cssc.dev/cssc"

	// ResultPassed and ResultFailed are the VSA verificationResult values.
	ResultPassed = "PASSED"
	ResultFailed = "FAILED"
)

// Subject is the image a statement is about.
type Subject struct {
	// Name is the repository, "host/repository".
	Name string
	// Digest is the manifest digest.
	Digest digest.Digest
}

func (s Subject) descriptor() (*intoto.ResourceDescriptor, error) {
	if s.Name == "" {
		return nil, errors.New("subject has no name")
	}
	set, err := digestSet(s.Digest)
	if err != nil {
		return nil, fmt.Errorf("subject %s: %w", s.Name, err)
	}
	return &intoto.ResourceDescriptor{Name: s.Name, Digest: set}, nil
}

// digestSet turns an OCI digest into an in-toto DigestSet: the algorithm
// names of OCI (sha256, sha384, sha512) are those of in-toto.
func digestSet(d digest.Digest) (map[string]string, error) {
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("digest %q: %w", d, err)
	}
	return map[string]string{d.Algorithm().String(): d.Encoded()}, nil
}

// VSAOptions describe a policy decision.
type VSAOptions struct {
	// Subject is the image decided on.
	Subject Subject
	// Version is the cssc version (verifier.version["cssc"]).
	Version string
	// TimeVerified is when the decision was made.
	TimeVerified time.Time
	// ResourceURI is the image as verified, e.g. its reference by digest.
	ResourceURI string
	// PolicyURI names the policy; PolicyDigest is the digest of its
	// content (policy.digest).
	PolicyURI    string
	PolicyDigest digest.Digest
	// Passed is the verification result: PASSED when true, else FAILED.
	Passed bool
	// VerifiedLevels are the SLSA levels (and other properties) verified.
	VerifiedLevels []string
	// DependencyLevels counts dependencies per highest verified level;
	// optional.
	DependencyLevels map[string]uint64
}

// VerificationSummary returns the SLSA VSA v1 statement of a decision.
func VerificationSummary(o VSAOptions) (*Statement, error) {
	subj, err := o.Subject.descriptor()
	if err != nil {
		return nil, fmt.Errorf("build verification summary: %w", err)
	}
	switch {
	case o.Version == "":
		return nil, errors.New("build verification summary: no cssc version")
	case o.TimeVerified.IsZero():
		return nil, errors.New("build verification summary: no verification time")
	case o.ResourceURI == "":
		return nil, errors.New("build verification summary: no resource URI")
	case o.PolicyURI == "":
		return nil, errors.New("build verification summary: no policy URI")
	}
	policyDigest, err := digestSet(o.PolicyDigest)
	if err != nil {
		return nil, fmt.Errorf("build verification summary: policy %w", err)
	}
	result := ResultFailed
	if o.Passed {
		result = ResultPassed
	}
	pred, err := toStruct(&vsa.VerificationSummary{
		Verifier:           &vsa.VerificationSummary_Verifier{Id: ToolID},
		TimeVerified:       timestamppb.New(o.TimeVerified.UTC()),
		ResourceUri:        o.ResourceURI,
		Policy:             &vsa.VerificationSummary_Policy{Uri: o.PolicyURI, Digest: policyDigest},
		VerificationResult: result,
		VerifiedLevels:     o.VerifiedLevels,
	})
	if err != nil {
		return nil, fmt.Errorf("build verification summary: %w", err)
	}
	// The VSA spec has verifier.version, which the library's message lacks.
	verifier := pred.Fields["verifier"].GetStructValue()
	verifier.Fields["version"] = structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{
		"cssc": structpb.NewStringValue(o.Version),
	}})
	// protojson writes uint64 as a string; the VSA spec's dependencyLevels
	// values are numbers.
	if len(o.DependencyLevels) > 0 {
		levels := &structpb.Struct{Fields: map[string]*structpb.Value{}}
		for k, v := range o.DependencyLevels {
			levels.Fields[k] = structpb.NewNumberValue(float64(v))
		}
		pred.Fields["dependencyLevels"] = structpb.NewStructValue(levels)
	}
	return newStatement(subj, PredicateVSA, pred)
}

// ProvenanceOptions describe an acquisition.
type ProvenanceOptions struct {
	// Subject is the image as promoted: the upstream digest, or the new
	// digest when policy stripped content.
	Subject Subject
	// Version is the cssc version (runDetails.builder.version["cssc"]).
	Version string
	// Upstream is the reference acquired, e.g.
	// "docker.io/library/nginx:1.27"; UpstreamDigest is its manifest
	// digest.
	Upstream       string
	UpstreamDigest digest.Digest
	// Stripped names what policy removed (D4), e.g. "label:com.example.debug";
	// it must be set exactly when the subject digest differs from the
	// upstream's.
	Stripped []string
	// InvocationID identifies the acquisition (runDetails.metadata.invocationId);
	// optional.
	InvocationID string
	// StartedOn and FinishedOn bound the acquisition.
	StartedOn, FinishedOn time.Time
}

// AcquisitionProvenance returns the SLSA provenance v1 statement of an
// acquisition (buildType BuildTypeAcquire).
func AcquisitionProvenance(o ProvenanceOptions) (*Statement, error) {
	subj, err := o.Subject.descriptor()
	if err != nil {
		return nil, fmt.Errorf("build acquisition provenance: %w", err)
	}
	upstream, err := digestSet(o.UpstreamDigest)
	if err != nil {
		return nil, fmt.Errorf("build acquisition provenance: upstream %w", err)
	}
	switch {
	case o.Version == "":
		return nil, errors.New("build acquisition provenance: no cssc version")
	case o.Upstream == "":
		return nil, errors.New("build acquisition provenance: no upstream reference")
	case o.StartedOn.IsZero() || o.FinishedOn.IsZero():
		return nil, errors.New("build acquisition provenance: start and finish times are required")
	case o.FinishedOn.Before(o.StartedOn):
		return nil, fmt.Errorf("build acquisition provenance: finished %s before it started %s", o.FinishedOn, o.StartedOn)
	case o.Subject.Digest != o.UpstreamDigest && len(o.Stripped) == 0:
		return nil, fmt.Errorf("build acquisition provenance: subject digest %s differs from upstream %s but nothing was stripped", o.Subject.Digest, o.UpstreamDigest)
	case o.Subject.Digest == o.UpstreamDigest && len(o.Stripped) > 0:
		return nil, fmt.Errorf("build acquisition provenance: content was stripped but the digest %s is the upstream's", o.Subject.Digest)
	}
	external, err := structpb.NewStruct(map[string]any{
		"upstreamRef":    o.Upstream,
		"upstreamDigest": o.UpstreamDigest.String(),
	})
	if err != nil {
		return nil, fmt.Errorf("build acquisition provenance: %w", err)
	}
	var internal *structpb.Struct
	if len(o.Stripped) > 0 {
		list := make([]any, len(o.Stripped))
		for i, s := range o.Stripped {
			list[i] = s
		}
		if internal, err = structpb.NewStruct(map[string]any{"stripped": list}); err != nil {
			return nil, fmt.Errorf("build acquisition provenance: %w", err)
		}
	}
	p := &provenance.Provenance{
		BuildDefinition: &provenance.BuildDefinition{
			BuildType:            BuildTypeAcquire,
			ExternalParameters:   external,
			InternalParameters:   internal,
			ResolvedDependencies: []*intoto.ResourceDescriptor{{Name: o.Upstream, Digest: upstream}},
		},
		RunDetails: &provenance.RunDetails{
			Builder: &provenance.Builder{Id: ToolID, Version: map[string]string{"cssc": o.Version}},
			Metadata: &provenance.BuildMetadata{
				InvocationId: o.InvocationID,
				StartedOn:    timestamppb.New(o.StartedOn.UTC()),
				FinishedOn:   timestamppb.New(o.FinishedOn.UTC()),
			},
		},
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("build acquisition provenance: %w", err)
	}
	pred, err := toStruct(p)
	if err != nil {
		return nil, fmt.Errorf("build acquisition provenance: %w", err)
	}
	return newStatement(subj, PredicateProvenance, pred)
}

func newStatement(subj *intoto.ResourceDescriptor, predicateType string, pred *structpb.Struct) (*Statement, error) {
	s := &Statement{
		Type:          intoto.StatementTypeUri,
		Subject:       []*intoto.ResourceDescriptor{subj},
		PredicateType: predicateType,
		Predicate:     pred,
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("statement %s: %w", predicateType, err)
	}
	return s, nil
}

// toStruct is m as the JSON object protojson writes (the field names of
// the SLSA specs), for a Statement's predicate.
func toStruct(m proto.Message) (*structpb.Struct, error) {
	b, err := protojson.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode predicate: %w", err)
	}
	s := &structpb.Struct{}
	if err := protojson.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("decode predicate: %w", err)
	}
	return s, nil
}

// MarshalStatement encodes s as compact JSON (protojson, with the field
// names of the in-toto spec: "_type", "predicateType"). protojson orders
// fields and map keys, so the same statement gives the same bytes.
func MarshalStatement(s *Statement) ([]byte, error) {
	b, err := protojson.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode statement: %w", err)
	}
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		return nil, fmt.Errorf("encode statement: %w", err)
	}
	return out.Bytes(), nil
}

// ParseStatement decodes an in-toto Statement v1, rejecting unknown fields,
// other statement versions and statements the in-toto library finds
// invalid (no subject, a digest of the wrong length, no predicate).
func ParseStatement(b []byte) (*Statement, error) {
	s := &Statement{}
	if err := protojson.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("parse in-toto statement: %w", err)
	}
	if s.GetType() != intoto.StatementTypeUri {
		return nil, fmt.Errorf("parse in-toto statement: _type %q, want %q", s.GetType(), intoto.StatementTypeUri)
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("parse in-toto statement: %w", err)
	}
	return s, nil
}

// ParseVSA returns the SLSA VSA v1 predicate of s. verifier.version, which
// the library's message lacks, is left out: read it from s.Predicate.
func ParseVSA(s *Statement) (*vsa.VerificationSummary, error) {
	if s.GetPredicateType() != PredicateVSA {
		return nil, fmt.Errorf("parse verification summary: predicate type %q, want %q", s.GetPredicateType(), PredicateVSA)
	}
	b, err := protojson.Marshal(s.GetPredicate())
	if err != nil {
		return nil, fmt.Errorf("parse verification summary: %w", err)
	}
	v := &vsa.VerificationSummary{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(b, v); err != nil {
		return nil, fmt.Errorf("parse verification summary: %w", err)
	}
	return v, nil
}

// ParseProvenance returns the SLSA provenance v1 predicate of s, checked
// as the in-toto library checks it (builder id, build type, external
// parameters required).
func ParseProvenance(s *Statement) (*provenance.Provenance, error) {
	if s.GetPredicateType() != PredicateProvenance {
		return nil, fmt.Errorf("parse provenance: predicate type %q, want %q", s.GetPredicateType(), PredicateProvenance)
	}
	b, err := protojson.Marshal(s.GetPredicate())
	if err != nil {
		return nil, fmt.Errorf("parse provenance: %w", err)
	}
	p := &provenance.Provenance{}
	if err := protojson.Unmarshal(b, p); err != nil {
		return nil, fmt.Errorf("parse provenance: %w", err)
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("parse provenance: %w", err)
	}
	return p, nil
}
