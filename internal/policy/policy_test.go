package policy

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cssc-project/cssc/internal/risk"
)

var now = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

// clean is an input the default policy allows.
func clean() Input {
	return Input{
		Checkpoint: CheckpointPromote,
		Now:        now,
		Image:      Image{Reference: "r.example/quarantine/app:1", Digest: "sha256:aa", Repository: "quarantine/app", Created: now.AddDate(0, -1, 0)},
		Upstream:   Upstream{Registry: "docker.io", Repository: "library/app", Reference: "1", SignaturePolicy: SignatureIfPresent},
		Findings: Findings{
			VulnerabilityData: VulnerabilityData{Complete: true},
			Malware:           Malware{Status: "clean"},
			Secrets:           Secrets{Status: "clean"},
		},
		Risk:   risk.Result{Version: "1", Total: 10, Level: risk.LevelLow},
		BaseOS: BaseOS{Name: "Debian", Version: "12", EOL: time.Date(2028, 6, 30, 0, 0, 0, 0, time.UTC), State: "supported"},
	}
}

func critical() Vulnerability {
	return Vulnerability{ID: "CVE-2024-1234", Aliases: []string{"GHSA-xxxx"}, Package: "openssl", Version: "3.0.1", Ecosystem: "Debian:12", Severity: "critical", Fixed: []string{"3.0.2"}, FixAvailable: true}
}

func loadDefault(t *testing.T) *Engine {
	t.Helper()
	e, err := Load(context.Background(), "")
	if err != nil {
		t.Fatalf("Load default: %v", err)
	}
	return e
}

func TestDefaultPolicyDecisions(t *testing.T) {
	e := loadDefault(t)
	exception := Exception{Vulnerability: "CVE-2024-1234", Products: []string{"sha256:aa"}, Status: "not_affected", Reason: "not reachable", Approver: "alice", Expires: now.AddDate(0, 0, 30)}
	tests := []struct {
		name     string
		edit     func(*Input)
		reasons  []string
		warnings []string
	}{
		{name: "clean", edit: func(*Input) {}},
		{name: "zero input", edit: func(in *Input) { *in = Input{} }, reasons: []string{
			"the image has no risk score",
			"the input has no valid decision time (now)",
			"the malware scan did not complete (status missing): the image is not known to be clean",
			"the secret scan did not complete (status missing): the image is not known to be free of secrets",
			"unknown checkpoint missing",
			"vulnerability data is incomplete: the image is not known to be free of vulnerabilities",
		}, warnings: []string{"the base OS is unknown: its end of life cannot be checked"}},
		{name: "malware", edit: func(in *Input) {
			in.Findings.Malware = Malware{Status: "infected", Findings: []MalwareFinding{{Path: "/tmp/eicar", Layer: 1, Signature: "Win.Test.EICAR_HDB-1"}}}
		}, reasons: []string{"malware Win.Test.EICAR_HDB-1 found in /tmp/eicar (layer 1)"}},
		{name: "malware scan error", edit: func(in *Input) { in.Findings.Malware.Status = "error" },
			reasons: []string{"the malware scan did not complete (status error): the image is not known to be clean"}},
		{name: "secrets", edit: func(in *Input) {
			in.Findings.Secrets = Secrets{Status: "found", Count: 1, Rules: []string{"aws-access-token"}}
		},
			reasons: []string{"1 secret(s) found (rules: aws-access-token)"}},
		{name: "critical with fix", edit: func(in *Input) { in.Findings.Vulnerabilities = []Vulnerability{critical()} },
			reasons: []string{"critical CVE-2024-1234 in openssl 3.0.1 has a fix (3.0.2)"}},
		{name: "critical without fix", edit: func(in *Input) {
			v := critical()
			v.Fixed, v.FixAvailable = nil, false
			in.Findings.Vulnerabilities = []Vulnerability{v}
		}},
		{name: "critical with fix, excepted", edit: func(in *Input) {
			in.Findings.Vulnerabilities = []Vulnerability{critical()}
			in.Exceptions = []Exception{exception}
		}, warnings: []string{"critical CVE-2024-1234 in openssl 3.0.1 has a fix (3.0.2) but is excepted until 2026-07-01T00:00:00Z by alice: not reachable"}},
		{name: "critical with fix, expired exception carried", edit: func(in *Input) {
			in.Findings.Vulnerabilities = []Vulnerability{critical()}
			ex := exception
			ex.Expires = now.Add(-time.Second)
			in.Exceptions = []Exception{ex}
		}, reasons: []string{"critical CVE-2024-1234 in openssl 3.0.1 has a fix (3.0.2)"}},
		{name: "risk above threshold", edit: func(in *Input) { in.Risk.Total = 71 },
			reasons: []string{"risk score 71 is above the promote threshold 70"}},
		{name: "risk at threshold", edit: func(in *Input) { in.Risk.Total = 70 }},
		{name: "base OS past EOL", edit: func(in *Input) {
			in.BaseOS = BaseOS{Name: "Debian", Version: "10", EOL: time.Date(2024, 6, 30, 0, 0, 0, 0, time.UTC), State: "eol"}
		}, reasons: []string{"base OS Debian 10 is past the end of its free security support (2024-06-30)"}},
		{name: "missing vulnerability data", edit: func(in *Input) {
			in.Findings.VulnerabilityData = VulnerabilityData{Uncovered: []string{"npm"}}
		}, reasons: []string{"vulnerability data is missing for npm"}},
		{name: "unsigned upstream under if-present", edit: func(in *Input) { in.Signatures.Upstream = SignatureCheck{} }},
		{name: "signed and verified upstream under required", edit: func(in *Input) {
			in.Upstream.SignaturePolicy = SignatureRequired
			in.Signatures.Upstream = SignatureCheck{Found: true, Verified: true, Signers: []string{"CN=upstream"}}
		}},
		{name: "failed signature under if-present", edit: func(in *Input) {
			in.Signatures.Upstream = SignatureCheck{Found: true, Error: "bad signature"}
		}, reasons: []string{"the upstream signature did not verify: bad signature"}},
		{name: "missing signature under required", edit: func(in *Input) { in.Upstream.SignaturePolicy = SignatureRequired },
			reasons: []string{"the upstream signature policy is required but the image has no upstream signature"}},
		{name: "zero created is unknown age", edit: func(in *Input) { in.Image.Created = time.Time{} }},
		{name: "epoch created is unknown age", edit: func(in *Input) { in.Image.Created = time.Unix(0, 0) }},
		{name: "old image warns", edit: func(in *Input) { in.Image.Created = now.AddDate(-2, 0, 0) },
			warnings: []string{"the image is 730 days old (more than 365)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := clean()
			tt.edit(&in)
			d, err := e.Decide(context.Background(), in)
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			want := Decision{Allowed: len(tt.reasons) == 0, Reasons: orEmpty(tt.reasons), Warnings: orEmpty(tt.warnings), PolicyDigest: e.Digest(), Checkpoint: in.Checkpoint}
			if !reflect.DeepEqual(d, want) {
				t.Errorf("Decide:\n got %#v\nwant %#v", d, want)
			}
		})
	}
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const customPolicy = `package cssc.decision

deny contains sprintf("repository %s is not allowed", [input.image.repository]) if {
	not startswith(input.image.repository, data.cssc.allowed_prefix)
}
`

func TestCustomPolicyReplacesDefault(t *testing.T) {
	tests := []struct {
		name    string
		data    map[string]string
		in      func(*Input)
		reasons []string
	}{
		{name: "allowed: default rules no longer apply", data: map[string]string{"data.json": `{"cssc":{"allowed_prefix":"quarantine/"}}`},
			in: func(in *Input) { in.Findings.Malware.Status = "infected"; in.Risk.Total = 99 }},
		{name: "denied by custom rule", data: map[string]string{"data.yaml": "cssc:\n  allowed_prefix: golden/\n"},
			in: func(*Input) {}, reasons: []string{"repository quarantine/app is not allowed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{"policy/custom.rego": customPolicy}
			for k, v := range tt.data {
				files[k] = v
			}
			e, err := Load(context.Background(), writeFiles(t, files))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			in := clean()
			tt.in(&in)
			d, err := e.Decide(context.Background(), in)
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			if d.Allowed != (len(tt.reasons) == 0) || !reflect.DeepEqual(d.Reasons, orEmpty(tt.reasons)) {
				t.Errorf("Decide = %+v, want reasons %q", d, tt.reasons)
			}
		})
	}
}

func TestThresholdsFromDataFile(t *testing.T) {
	src, err := defaultPolicy.ReadFile("default/decision.rego")
	if err != nil {
		t.Fatal(err)
	}
	e, err := Load(context.Background(), writeFiles(t, map[string]string{
		"decision.rego": string(src),
		"data.json":     `{"cssc":{"thresholds":{"deploy":40}}}`,
	}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	tests := []struct {
		checkpoint Checkpoint
		reasons    []string
	}{
		{CheckpointDeploy, []string{"risk score 50 is above the deploy threshold 40"}},
		{CheckpointPromote, nil},
	}
	for _, tt := range tests {
		in := clean()
		in.Risk.Total = 50
		in.Checkpoint = tt.checkpoint
		d, err := e.Decide(context.Background(), in)
		if err != nil {
			t.Fatalf("Decide: %v", err)
		}
		if !reflect.DeepEqual(d.Reasons, orEmpty(tt.reasons)) || d.Checkpoint != tt.checkpoint {
			t.Errorf("%s: Decide = %+v, want reasons %q", tt.checkpoint, d, tt.reasons)
		}
	}
}

func TestBrokenPolicyFailsClosed(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		loadErr string
		evalErr string
	}{
		{name: "syntax error", files: map[string]string{"p.rego": "package cssc.decision\ndeny contains if {"}, loadErr: "p.rego"},
		{name: "no rego files", files: map[string]string{"data.json": "{}"}, loadErr: "no .rego files"},
		{name: "bad data file", files: map[string]string{"p.rego": "package cssc.decision\ndeny := set()", "data.json": "[1]"}, loadErr: "must be an object"},
		{name: "deny undefined", files: map[string]string{"p.rego": "package other\nallow := true"}, evalErr: "deny is undefined"},
		{name: "deny is an array", files: map[string]string{"p.rego": `package cssc.decision
deny := ["no"]`}, evalErr: "deny is not a set"},
		{name: "deny is a boolean", files: map[string]string{"p.rego": "package cssc.decision\ndeny := false"}, evalErr: "deny is not a set"},
		{name: "deny holds a number", files: map[string]string{"p.rego": "package cssc.decision\ndeny contains 1 if true"}, evalErr: "not a string"},
		{name: "warn is a string", files: map[string]string{"p.rego": "package cssc.decision\ndeny := set()\nwarn := \"w\""}, evalErr: "warn is not a set"},
		{name: "runtime error", files: map[string]string{"p.rego": `package cssc.decision
deny := {"a"} if input.checkpoint == "promote"
deny := {"b"} if true`}, evalErr: "conflict"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Load(context.Background(), writeFiles(t, tt.files))
			if tt.loadErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.loadErr) {
					t.Fatalf("Load error = %v, want one containing %q", err, tt.loadErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			d, err := e.Decide(context.Background(), clean())
			if err == nil || !strings.Contains(err.Error(), tt.evalErr) {
				t.Fatalf("Decide = %+v, %v; want an error containing %q", d, err, tt.evalErr)
			}
			if d.Allowed {
				t.Error("a failed decision is allowed")
			}
		})
	}
}

func TestDecideTimeout(t *testing.T) {
	// 10^10 iterations: never finishes within the limit.
	e, err := Load(context.Background(), writeFiles(t, map[string]string{"slow.rego": `package cssc.decision
deny contains "slow" if {
	some i in numbers.range(1, 100000)
	some j in numbers.range(1, 100000)
	i + j < 0
}`}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	e.Timeout = 50 * time.Millisecond
	d, err := e.Decide(context.Background(), clean())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Decide = %+v, %v; want a deadline error", d, err)
	}
}

func TestPolicyDigest(t *testing.T) {
	a := writeFiles(t, map[string]string{"a.rego": "package cssc.decision\ndeny := set()\n", "b/b.rego": "package cssc.b\nx := 1\n"})
	same := writeFiles(t, map[string]string{"b/b.rego": "package cssc.b\nx := 1\n", "a.rego": "package cssc.decision\ndeny := set()\n", "a_test.rego": "package t\ntest_x if true\n"})
	changed := writeFiles(t, map[string]string{"a.rego": "package cssc.decision\ndeny := set()\n", "b/b.rego": "package cssc.b\nx := 2\n"})
	withData := writeFiles(t, map[string]string{"a.rego": "package cssc.decision\ndeny := set()\n", "b/b.rego": "package cssc.b\nx := 1\n", "data.json": "{}"})
	digest := func(dir string) string {
		t.Helper()
		e, err := Load(context.Background(), dir)
		if err != nil {
			t.Fatalf("Load %s: %v", dir, err)
		}
		return e.Digest()
	}
	da := digest(a)
	if !strings.HasPrefix(da, "sha256:") || len(da) != len("sha256:")+64 {
		t.Fatalf("digest %q is not a sha256 digest", da)
	}
	if got := digest(a); got != da {
		t.Errorf("digest changed on reload: %s, %s", da, got)
	}
	if got := digest(same); got != da {
		t.Errorf("same policy (tests aside) has digest %s, want %s", got, da)
	}
	for name, dir := range map[string]string{"changed content": changed, "added data file": withData, "default": ""} {
		if got := digest(dir); got == da {
			t.Errorf("%s: digest unchanged", name)
		}
	}
	want := digestOf([]file{{"b/b.rego", []byte("package cssc.b\nx := 1\n")}, {"a.rego", []byte("package cssc.decision\ndeny := set()\n")}})
	if da != want {
		t.Errorf("digest %s, want %s", da, want)
	}
	e := loadDefault(t)
	d, err := e.Decide(context.Background(), clean())
	if err != nil || d.PolicyDigest != e.Digest() {
		t.Errorf("Decide PolicyDigest = %q, %v; want %q", d.PolicyDigest, err, e.Digest())
	}
}

func TestDecideFile(t *testing.T) {
	e := loadDefault(t)
	dir := writeFiles(t, map[string]string{
		"in.json": `{"checkpoint":"deploy","now":"2026-06-01T00:00:00Z","findings":{"vulnerability_data":{"complete":true},"malware":{"status":"clean"},"secrets":{"status":"clean","count":0}},
			"risk":{"version":"1","total":80},"base_os":{"state":"supported"},"upstream":{"signature_policy":"skip"}}`,
		"bad.json":   `{"checkpoint":`,
		"array.json": `[]`,
	})
	d, err := e.DecideFile(context.Background(), filepath.Join(dir, "in.json"))
	if err != nil {
		t.Fatalf("DecideFile: %v", err)
	}
	want := Decision{Reasons: []string{"risk score 80 is above the deploy threshold 70"}, Warnings: []string{}, PolicyDigest: e.Digest(), Checkpoint: CheckpointDeploy}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("DecideFile = %#v, want %#v", d, want)
	}
	for _, name := range []string{"bad.json", "array.json", "missing.json"} {
		if _, err := e.DecideFile(context.Background(), filepath.Join(dir, name)); err == nil {
			t.Errorf("DecideFile %s: no error", name)
		}
	}
}
