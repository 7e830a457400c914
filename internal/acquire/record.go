// Package acquire is the Acquire pipeline: it brings an image from an
// allow-listed upstream registry into quarantine/, verifies, analyses,
// scores and decides on it, and only when policy passes enriches, signs
// and promotes it to golden/. Every step is persisted: a crash or restart
// resumes each acquisition at its last finished step.
//
// The package orchestrates; the work is elsewhere (internal/upstream,
// sign, analysis, risk, policy, attest, notify) and the state is in the
// metadata store (internal/store), reached through interfaces.
package acquire

import (
	"encoding/json"
	"fmt"
	"time"
)

// State is where an acquisition stands.
type State string

// The states. Promoted, Blocked and Failed are final.
const (
	StateQueued   State = "queued"
	StateRunning  State = "running"
	StatePromoted State = "promoted"
	StateBlocked  State = "blocked"
	StateFailed   State = "failed"
	// StateDemoted: promoted, then taken out of golden/ by a rescan the
	// policy failed (data.cssc.decision.demote).
	StateDemoted State = "demoted"
)

// Final reports whether s is an end state.
func (s State) Final() bool {
	return s == StatePromoted || s == StateBlocked || s == StateFailed || s == StateDemoted
}

// Step names a pipeline step.
type Step string

// The steps, in order. A blocked image skips enrich, sign and promote;
// notify runs for every outcome.
const (
	StepImport           Step = "import"
	StepVerifySignatures Step = "verify-signatures"
	StepVerifyMetadata   Step = "verify-metadata"
	StepAnalyse          Step = "analyse"
	StepScore            Step = "score"
	StepDecide           Step = "decide"
	StepEnrich           Step = "enrich"
	StepSign             Step = "sign"
	StepPromote          Step = "promote"
	StepNotify           Step = "notify"
)

// Steps lists the steps in order.
var Steps = []Step{StepImport, StepVerifySignatures, StepVerifyMetadata, StepAnalyse, StepScore, StepDecide, StepEnrich, StepSign, StepPromote, StepNotify}

// Record is an acquisition as the API shows it and the pipeline persists
// it. The JSON names are the API's contract.
type Record struct {
	ID    string `json:"id"`
	State State  `json:"state"`
	// Step is the step running or next to run; empty when final.
	Step Step `json:"step,omitempty"`
	// Source is the upstream reference asked for.
	Source string `json:"source"`
	// Upstream is the allow-list entry that admitted Source.
	Upstream string `json:"upstream,omitempty"`
	// UpstreamDigest is the digest Source resolved to.
	UpstreamDigest string `json:"upstream_digest,omitempty"`
	// Name is the internal repository path (without quarantine/ or
	// golden/); Tag the tag kept from upstream.
	Name     string `json:"name"`
	Tag      string `json:"tag,omitempty"`
	Platform string `json:"platform,omitempty"`
	// QuarantineRef and GoldenRef are full references on this server
	// (always in the JSON; "" until there is one: golden_ref stays "" for
	// an image that was not promoted).
	QuarantineRef string `json:"quarantine_ref"`
	GoldenRef     string `json:"golden_ref"`
	// Digest is the image's digest in cssc: the upstream's, or a new one
	// when the policy stripped debug-only content (Stripped lists what).
	Digest   string   `json:"digest,omitempty"`
	Stripped []string `json:"stripped,omitempty"`
	// Reasons say why the image was blocked or the acquisition failed;
	// Warnings are the policy's warnings.
	Reasons  []string `json:"reasons"`
	Warnings []string `json:"warnings,omitempty"`
	// RiskScore is the image's risk score (the highest of its platforms);
	// nil until scored.
	RiskScore *int           `json:"risk_score"`
	Risk      []PlatformRisk `json:"risk,omitempty"`
	// PolicyDigest identifies the policy that decided; DataVersion the
	// vulnerability data that was matched.
	PolicyDigest string `json:"policy_digest,omitempty"`
	DataVersion  string `json:"data_version,omitempty"`
	// Signatures is the upstream signature verification.
	Signatures *SignatureResult `json:"signatures,omitempty"`
	// Referrers are the artifacts cssc attached (and signed).
	Referrers []Referrer `json:"referrers"`
	// Steps are the finished steps, in order.
	Steps    []StepResult `json:"steps"`
	Progress Progress     `json:"progress"`
	// Attempts counts failed tries of the current step.
	Attempts int `json:"attempts,omitempty"`
	// Error is the last error (a step that will be retried, or the one
	// that failed the acquisition).
	Error string `json:"error,omitempty"`
	// Verdict is the end state decided (promoted, blocked, failed) while
	// the notify step still runs; FailedStep is where a failed
	// acquisition stopped (a retry resumes there).
	Verdict    State `json:"verdict,omitempty"`
	FailedStep Step  `json:"failed_step,omitempty"`
	// RescannedAt is the last rescan of a promoted image; Flags are the
	// reasons it no longer passes (empty while it does).
	RescannedAt time.Time `json:"rescanned_at,omitzero"`
	Flags       []string  `json:"flags,omitempty"`
	// SameAs names the earlier acquisition this one repeated exactly
	// (same digest, policy and data): nothing was done again.
	SameAs      string    `json:"same_as,omitempty"`
	SubmittedBy string    `json:"submitted_by,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	// DecidedAt is the decision time: every artifact made after the
	// decision carries it, so a step run again makes the same ones.
	DecidedAt time.Time `json:"decided_at,omitzero"`
}

// PlatformRisk is one platform's risk score and breakdown.
type PlatformRisk struct {
	Platform string          `json:"platform,omitempty"`
	Digest   string          `json:"digest"`
	Score    int             `json:"score"`
	Level    string          `json:"level"`
	Version  string          `json:"version"`
	Lines    []RiskComponent `json:"breakdown"`
}

// RiskComponent is one line of a breakdown.
type RiskComponent struct {
	Name   string `json:"name"`
	Points int    `json:"points"`
	Detail string `json:"detail,omitempty"`
}

// SignatureResult is the upstream signature verification's outcome.
type SignatureResult struct {
	Policy   string   `json:"policy"`
	Found    bool     `json:"found"`
	Verified bool     `json:"verified"`
	Signers  []string `json:"signers,omitempty"`
	// Format is the family of the signatures found: "notation" or
	// "cosign" (the verified one's when one verified).
	Format string `json:"format,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// Referrer is an artifact attached to the image.
type Referrer struct {
	// ArtifactType has the OCI descriptor field's name.
	ArtifactType string `json:"artifactType"`
	Digest       string `json:"digest"`
	Subject      string `json:"subject"`
	// Kind is cssc's name for it: sbom-spdx, sbom-cyclonedx, sarif,
	// scan-report, vsa, provenance, lifecycle, signature.
	Kind string `json:"kind"`
}

// StepResult is a finished step.
type StepResult struct {
	Step     Step      `json:"step"`
	Outcome  string    `json:"outcome"` // ok, pass, block, skipped, failed
	Detail   string    `json:"detail,omitempty"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
}

// Progress is the copy's progress in bytes.
type Progress struct {
	BytesDone  int64 `json:"bytes_done"`
	BytesTotal int64 `json:"bytes_total"`
}

// Request asks for an acquisition.
type Request struct {
	// Source is the upstream reference, e.g. docker.io/library/nginx:1.27.
	Source string `json:"source"`
	// As is the internal name (default: the upstream repository path).
	As string `json:"as,omitempty"`
	// Platform is "all" (default) or one platform ("linux/amd64").
	Platform string `json:"platform,omitempty"`
}

func (r *Record) marshal() ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode acquisition %s: %w", r.ID, err)
	}
	return b, nil
}

// ParseRecord decodes a stored record.
func ParseRecord(b []byte) (*Record, error) {
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decode acquisition record: %w", err)
	}
	if r.Reasons == nil {
		r.Reasons = []string{}
	}
	if r.Referrers == nil {
		r.Referrers = []Referrer{}
	}
	if r.Steps == nil {
		r.Steps = []StepResult{}
	}
	return &r, nil
}
