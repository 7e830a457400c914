// Package policy decides, with policy as code (Rego), whether an image may
// pass a checkpoint (import, promote, deploy, run). The decision is made
// over a documented input document (Input; docs/POLICY.md) by a default
// policy embedded in the binary or by the operator's policy directory, and
// fails closed: an evaluation error, an undefined result or a malformed
// deny is an error, never an allow.
package policy

import (
	"time"

	"github.com/cssc-project/cssc/internal/risk"
)

// Checkpoint is where in the supply chain a decision is made.
type Checkpoint string

// The checkpoints.
const (
	CheckpointImport  Checkpoint = "import"
	CheckpointPromote Checkpoint = "promote"
	CheckpointDeploy  Checkpoint = "deploy"
	CheckpointRun     Checkpoint = "run"
)

// Upstream signature policies.
const (
	SignatureRequired  = "required"
	SignatureIfPresent = "if-present"
	SignatureSkip      = "skip"
)

// Input is the document a policy decides over (input in Rego). Every
// field is documented in docs/POLICY.md; the JSON names are the contract
// with operators' policies and must not change within a major version.
type Input struct {
	// Checkpoint is where the decision is made.
	Checkpoint Checkpoint `json:"checkpoint"`
	// Now is the decision time (RFC 3339); exceptions and end-of-life
	// dates are compared with it, never with the evaluator's clock.
	Now time.Time `json:"now"`
	// Image is the image decided on.
	Image Image `json:"image"`
	// Upstream is where the image was acquired from.
	Upstream Upstream `json:"upstream"`
	// Findings are the analysis results.
	Findings Findings `json:"findings"`
	// Risk is the risk score with its breakdown (docs/RISK.md).
	Risk risk.Result `json:"risk"`
	// Signatures are the signature verification results.
	Signatures Signatures `json:"signatures"`
	// SBOM and Provenance say whether the image has them attached.
	SBOM       Attachment `json:"sbom"`
	Provenance Attachment `json:"provenance"`
	// BaseOS is the image's base operating system and its lifecycle.
	BaseOS BaseOS `json:"base_os"`
	// Exceptions are the active exceptions for this image
	// (ActiveExceptions); nil is written as an empty list.
	Exceptions []Exception `json:"exceptions"`
}

// Image identifies the image decided on.
type Image struct {
	// Reference is the full reference, e.g.
	// "registry.example/quarantine/library/nginx:1.27".
	Reference string `json:"reference"`
	// Digest is the manifest (or index) digest, "sha256:…".
	Digest string `json:"digest"`
	// Repository is the repository path without host, e.g.
	// "quarantine/library/nginx".
	Repository string `json:"repository"`
	// Platform is "os/arch[/variant]"; empty for an index decided as a
	// whole.
	Platform string `json:"platform,omitempty"`
	// Created is the image configuration's creation time; left out when
	// unset or zero (unknown age).
	Created time.Time `json:"created,omitzero"`
	// Labels are the image configuration's labels.
	Labels map[string]string `json:"labels,omitempty"`
}

// Upstream is the registry the image was acquired from.
type Upstream struct {
	// Registry is the upstream host, e.g. "docker.io".
	Registry string `json:"registry"`
	// Repository is the upstream repository, e.g. "library/nginx".
	Repository string `json:"repository"`
	// Reference is the tag or digest asked for.
	Reference string `json:"reference"`
	// SignaturePolicy is the allow-list entry's policy: "required",
	// "if-present" or "skip"; empty means "if-present".
	SignaturePolicy string `json:"signature_policy"`
}

// Findings are the analysis results.
type Findings struct {
	// Vulnerabilities are the matched vulnerabilities.
	Vulnerabilities []Vulnerability `json:"vulnerabilities"`
	// VulnerabilityData says whether the vulnerability data covered
	// every package.
	VulnerabilityData VulnerabilityData `json:"vulnerability_data"`
	// Malware is the malware scan.
	Malware Malware `json:"malware"`
	// Secrets is the secret scan.
	Secrets Secrets `json:"secrets"`
}

// Vulnerability is one vulnerability matched to one package.
type Vulnerability struct {
	// ID is the advisory's ID, e.g. "CVE-2024-1234" or "GHSA-…".
	ID string `json:"id"`
	// Aliases are other IDs of the same vulnerability.
	Aliases []string `json:"aliases,omitempty"`
	// Upstream are the IDs of the upstream vulnerability a distribution's
	// advisory is about (DEBIAN-CVE-2024-1234 → CVE-2024-1234); an
	// exception naming one covers the advisory.
	Upstream []string `json:"upstream,omitempty"`
	// Package, Version and Ecosystem name the affected package.
	Package   string `json:"package"`
	Version   string `json:"version"`
	Ecosystem string `json:"ecosystem"`
	// Severity is "critical", "high", "medium", "low", "none" or
	// "unknown".
	Severity string `json:"severity"`
	// Fixed lists the versions that fix it, when known.
	Fixed []string `json:"fixed,omitempty"`
	// FixAvailable is true when a fixed version exists.
	FixAvailable bool `json:"fix_available"`
}

// VulnerabilityData says how complete the vulnerability matching was.
type VulnerabilityData struct {
	// Complete is true only when matching ran and every package's
	// ecosystem had data; false (the zero value) is "not known to be free
	// of vulnerabilities".
	Complete bool `json:"complete"`
	// Uncovered lists the ecosystems without data.
	Uncovered []string `json:"uncovered,omitempty"`
}

// Malware is the malware scan's outcome.
type Malware struct {
	// Status is "clean", "infected" or "error" (internal/malware); empty
	// when no scan ran.
	Status string `json:"status"`
	// Findings are the malware found.
	Findings []MalwareFinding `json:"findings,omitempty"`
}

// MalwareFinding is malware found in one file.
type MalwareFinding struct {
	Path      string `json:"path"`
	Layer     int    `json:"layer"`
	Signature string `json:"signature"`
}

// Secrets is the secret scan's outcome.
type Secrets struct {
	// Status is "clean", "found" or "error" (internal/secrets); empty when
	// no scan ran.
	Status string `json:"status"`
	// Count is the number of secrets found.
	Count int `json:"count"`
	// Rules are the IDs of the rules that found them.
	Rules []string `json:"rules,omitempty"`
}

// Signatures are signature verification results.
type Signatures struct {
	// Upstream is the verification of the upstream's own signatures.
	Upstream SignatureCheck `json:"upstream"`
}

// SignatureCheck is the outcome of verifying one kind of signature.
type SignatureCheck struct {
	// Found is true when at least one signature was attached.
	Found bool `json:"found"`
	// Verified is true when one verified under the trust policy.
	Verified bool `json:"verified"`
	// Signers name who signed the verified signatures.
	Signers []string `json:"signers,omitempty"`
	// Format is "notation" or "cosign".
	Format string `json:"format,omitempty"`
	// Error says why verification failed.
	Error string `json:"error,omitempty"`
}

// Attachment says whether a kind of metadata is attached to the image,
// and what it says.
type Attachment struct {
	Present bool `json:"present"`
	// Format is the SBOM's format ("spdx-json", "cyclonedx-json").
	Format string `json:"format,omitempty"`
	// Licenses are the distinct licences (SPDX IDs or expressions) the
	// attached SBOM gives its packages.
	Licenses []string `json:"licenses,omitempty"`
	// BuilderID and BuildType are the provenance's builder.id and
	// buildType (read, not verified: it is the upstream's claim).
	BuilderID string `json:"builder_id,omitempty"`
	BuildType string `json:"build_type,omitempty"`
}

// BaseOS is the base operating system and its lifecycle (internal/eol).
type BaseOS struct {
	// Name and Version, e.g. "Debian" and "12".
	Name    string `json:"name"`
	Version string `json:"version"`
	// EOL is the end of free security support; left out when unknown.
	EOL time.Time `json:"eol,omitzero"`
	// State is "supported", "near-eol", "eol" or "unknown".
	State string `json:"state"`
}
