package secrets

// Status is the verdict of a secret scan.
type Status string

// The verdicts.
const (
	// Clean: nothing was found in the files and configuration scanned.
	Clean Status = "clean"
	// Found: at least one secret was found.
	Found Status = "found"
	// Error: the scan did not complete (a layer unreadable): the image is
	// not known to be free of secrets.
	Error Status = "error"
)

// Sources of a finding.
const (
	// SourceLayer: a file in a layer.
	SourceLayer = "layer"
	// SourceConfig: the image configuration (Env, Labels, history).
	SourceConfig = "config"
)

// Finding is one secret found. It never holds the secret itself.
type Finding struct {
	// RuleID is the detection rule, e.g. "aws-access-token".
	RuleID string
	// Description is the rule's description, e.g. "AWS Access Key".
	Description string
	// Source is SourceLayer or SourceConfig.
	Source string
	// Path is, for a layer file, its path ("/app/.env"); for the
	// configuration, the field: "Env[AWS_SECRET_ACCESS_KEY]",
	// "Labels[com.example.token]", "history[3].created_by".
	Path string
	// Layer is the layer's index (bottom 0); -1 when the finding is in
	// the configuration and tied to no layer.
	Layer int
	// LayerDigest is the layer blob's digest; empty when Layer is -1.
	LayerDigest string
	// Line is the 1-based line of the secret in the file or field.
	Line int
	// Fingerprint identifies the secret without revealing it:
	// "sha256:" and the first 16 hex digits of the SHA-256 of the secret.
	// The same secret has the same fingerprint in every file and image.
	Fingerprint string
}

// Engine identifies the detector and its rules.
type Engine struct {
	// Name is "gitleaks".
	Name string
	// Version is the gitleaks module version the rules come from.
	Version string
	// Rules is how many rules were applied.
	Rules int
	// Config is the gitleaks configuration file given, empty for the
	// built-in rules.
	Config string
	// Allowlist is the allowlist file given, if any.
	Allowlist string
}

// Result is the secret scan of one image (one platform).
type Result struct {
	Status Status
	Engine Engine
	// Findings are the secrets found, in layer and tar order, the
	// configuration's last.
	Findings []Finding
	// Allowlisted counts findings the allowlist removed.
	Allowlisted int
	// MoreFindings counts findings beyond those listed (a scanner lists
	// a bounded number).
	MoreFindings int
	// Error says why the scan failed; empty when it did not.
	Error string
	// Files and Bytes count the files scanned; SkippedLarge the files
	// over the size limit and SkippedBinary the files that are not text
	// (both not scanned for secrets).
	Files         int64
	Bytes         int64
	SkippedLarge  int64
	SkippedBinary int64
}

// Verdict is the status r stands for, never better than what it holds
// (as malware.Result.Verdict): an error or a Status that is not a verdict
// make it Error; findings make it Found.
func (r *Result) Verdict() Status {
	switch {
	case r.Error != "":
		return Error
	case r.Status != Clean && r.Status != Found:
		return Error
	case len(r.Findings) > 0 || r.MoreFindings > 0:
		return Found
	}
	return r.Status
}

// Finish sets Status from what the result holds.
func (r *Result) Finish() {
	switch {
	case r.Error != "":
		r.Status = Error
	case len(r.Findings) > 0 || r.MoreFindings > 0:
		r.Status = Found
	default:
		r.Status = Clean
	}
}
