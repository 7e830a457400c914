package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cssc-project/cssc/internal/policy"
	"github.com/cssc-project/cssc/internal/risk"
)

// runPolicy runs `cssc policy ARGS…` as Execute does (root.go registers
// the command; this calls it directly).
func runPolicy(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	g := &globals{stdout: &out, stderr: &errb, log: slog.New(slog.DiscardHandler)}
	cmd := newPolicyCmd(g)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		fmt.Fprintln(&errb, "cssc:", err)
		return exitCode(err), out.String(), errb.String()
	}
	return 0, out.String(), errb.String()
}

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// A policy with per-checkpoint risk limits from its data file.
const (
	limitsRego = `package cssc.decision

deny contains sprintf("risk score %d is above %d", [input.risk.total, limit]) if {
	limit := data.cssc.limits[input.checkpoint]
	input.risk.total > limit
}

warn contains "no SBOM" if not input.sbom.present
`
	limitsData     = `{"cssc": {"limits": {"promote": 50, "deploy": 20}}}`
	limitsTestRego = `package cssc.decision_test

import data.cssc.decision

test_high_risk_denied if {
	decision.deny == {"risk score 60 is above 50"} with input as {"checkpoint": "promote", "risk": {"total": 60}}
}

test_low_risk_allowed if {
	count(decision.deny) == 0 with input as {"checkpoint": "promote", "risk": {"total": 10}}
}
`
	wrongTestRego = `package cssc.decision_test

import data.cssc.decision

test_wrong if {
	count(decision.deny) == 0 with input as {"checkpoint": "deploy", "risk": {"total": 60}}
}
`
)

var policyNow = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

// cleanInput is an input document the default policy allows.
func cleanInput() policy.Input {
	return policy.Input{
		Checkpoint: policy.CheckpointPromote,
		Now:        policyNow,
		Image: policy.Image{Reference: "r.example/quarantine/app:1", Digest: "sha256:aa", Repository: "quarantine/app",
			Created: policyNow.AddDate(0, -1, 0)},
		Upstream: policy.Upstream{Registry: "docker.io", Repository: "library/app", Reference: "1", SignaturePolicy: policy.SignatureIfPresent},
		Findings: policy.Findings{
			VulnerabilityData: policy.VulnerabilityData{Complete: true},
			Malware:           policy.Malware{Status: "clean"},
			Secrets:           policy.Secrets{Status: "clean"},
		},
		Risk:       risk.Result{Version: "1", Total: 30, Level: risk.LevelLow},
		SBOM:       policy.Attachment{Present: true},
		Provenance: policy.Attachment{Present: true},
		BaseOS:     policy.BaseOS{Name: "Debian", Version: "12", EOL: time.Date(2028, 6, 30, 0, 0, 0, 0, time.UTC), State: "supported"},
	}
}

func writeInput(t *testing.T, in policy.Input) string {
	t.Helper()
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "input.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPolicyTest(t *testing.T) {
	good := writeTree(t, map[string]string{"p.rego": limitsRego, "p_test.rego": limitsTestRego, "data.json": limitsData})
	failing := writeTree(t, map[string]string{"p.rego": limitsRego, "p_test.rego": limitsTestRego, "wrong_test.rego": wrongTestRego, "data.json": limitsData})
	untested := writeTree(t, map[string]string{"p.rego": limitsRego, "data.json": limitsData})
	broken := writeTree(t, map[string]string{"p.rego": "package cssc.decision\ndeny contains \"x\" if {\n", "p_test.rego": limitsTestRego})

	allow := writeInput(t, cleanInput())
	risky := cleanInput()
	risky.Risk.Total, risky.SBOM.Present = 60, false
	deny := writeInput(t, risky)
	malformed := writeTree(t, map[string]string{"in.json": `{"checkpoint": "promote",`})
	notObject := writeTree(t, map[string]string{"in.json": `["promote"]`})

	tests := []struct {
		name   string
		args   []string
		code   int
		out    []string // in stdout
		notOut []string // not in stdout
		errOut string   // in stderr
	}{
		{name: "tests pass", args: []string{good}, code: 0, out: []string{
			"data.cssc.decision_test.test_high_risk_denied: PASS\n",
			"data.cssc.decision_test.test_low_risk_allowed: PASS\n",
			"PASS: 2/2\n",
		}, notOut: []string{"decision:", "p_test.rego:"}},
		{name: "verbose shows locations", args: []string{good, "-v"}, code: 0, out: []string{
			"data.cssc.decision_test.test_high_risk_denied: PASS (p_test.rego:5)",
		}},
		{name: "a test fails", args: []string{failing}, code: 1, out: []string{
			"data.cssc.decision_test.test_wrong: FAIL\n", "PASS: 2/3\nFAIL: 1/3\n",
		}, errOut: "1 of 3 policy tests failed"},
		{name: "no tests", args: []string{untested}, code: 1, out: []string{"no tests found"}, errOut: "no policy tests found"},
		{name: "input allowed", args: []string{good, "--input", allow}, code: 0, out: []string{
			"PASS: 2/2\n", "decision: allowed\n", "checkpoint: promote\n", "policy: " + good + " (sha256:",
		}, notOut: []string{"deny:", "warn:"}},
		{name: "input denied", args: []string{good, "--input", deny}, code: 1, out: []string{
			"decision: denied\n", "deny: risk score 60 is above 50\n", "warn: no SBOM\n",
		}, errOut: "the policy denies: risk score 60 is above 50"},
		{name: "checkpoint overrides the input's", args: []string{good, "--input", allow, "--checkpoint", "deploy"}, code: 1, out: []string{
			"decision: denied\n", "checkpoint: deploy\n", "deny: risk score 30 is above 20\n",
		}},
		{name: "tests fail, input allowed", args: []string{failing, "--input", allow}, code: 1, out: []string{
			"FAIL: 1/3", "decision: allowed",
		}, errOut: "1 of 3 policy tests failed"},
		{name: "bad Rego", args: []string{broken}, code: 2, errOut: "p.rego"},
		{name: "bad Rego with input", args: []string{broken, "--input", allow}, code: 2, errOut: "p.rego"},
		{name: "missing input", args: []string{good, "--input", filepath.Join(good, "nope.json")}, code: 2, errOut: "nope.json"},
		{name: "malformed input", args: []string{good, "--input", filepath.Join(malformed, "in.json")}, code: 2, errOut: "parse"},
		{name: "malformed input with checkpoint", args: []string{good, "--input", filepath.Join(malformed, "in.json"), "--checkpoint", "run"}, code: 2, errOut: "parse"},
		{name: "input not an object", args: []string{good, "--input", filepath.Join(notObject, "in.json")}, code: 2, errOut: "object"},
		{name: "unknown checkpoint", args: []string{good, "--input", allow, "--checkpoint", "build"}, code: 2, errOut: `--checkpoint "build"`},
		{name: "checkpoint without input", args: []string{good, "--checkpoint", "run"}, code: 2, errOut: "--checkpoint needs --input"},
		{name: "bad output", args: []string{good, "--output", "xml"}, code: 2, errOut: `--output "xml"`},
		{name: "not a directory", args: []string{allow}, code: 2, errOut: "not a directory"},
		{name: "no directory", args: []string{filepath.Join(good, "missing")}, code: 2, errOut: "missing"},
		{name: "no argument", args: nil, code: 2, errOut: "accepts 1 arg"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runPolicy(t, append([]string{"test"}, tc.args...)...)
			if code != tc.code {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errOut)
			}
			for _, w := range tc.out {
				if !strings.Contains(out, w) {
					t.Errorf("stdout does not contain %q:\n%s", w, out)
				}
			}
			for _, w := range tc.notOut {
				if strings.Contains(out, w) {
					t.Errorf("stdout contains %q:\n%s", w, out)
				}
			}
			if !strings.Contains(errOut, tc.errOut) {
				t.Errorf("stderr does not contain %q:\n%s", tc.errOut, errOut)
			}
			if tc.code == 2 && out != "" {
				t.Errorf("stdout on an error:\n%s", out)
			}
		})
	}
}

func TestPolicyTestJSON(t *testing.T) {
	dir := writeTree(t, map[string]string{"p.rego": limitsRego, "p_test.rego": limitsTestRego, "wrong_test.rego": wrongTestRego, "data.json": limitsData})
	risky := cleanInput()
	risky.Risk.Total = 60
	code, out, _ := runPolicy(t, "test", dir, "--input", writeInput(t, risky), "--output", "json")
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	var rep struct {
		Policy   string             `json:"policy"`
		Tests    policy.TestResults `json:"tests"`
		Passed   bool               `json:"passed"`
		Decision *policy.Decision   `json:"decision"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if rep.Policy != dir || rep.Passed || len(rep.Tests) != 3 {
		t.Errorf("policy %q, passed %v, %d tests", rep.Policy, rep.Passed, len(rep.Tests))
	}
	failed := map[string]bool{}
	for _, r := range rep.Tests {
		failed[r.Name] = !r.Pass
	}
	if !failed["test_wrong"] || failed["test_high_risk_denied"] || failed["test_low_risk_allowed"] {
		t.Errorf("failed tests %v, want test_wrong only", failed)
	}
	e, err := policy.Load(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if d := rep.Decision; d == nil || d.Allowed || strings.Join(d.Reasons, "|") != "risk score 60 is above 50" ||
		d.Checkpoint != policy.CheckpointPromote || d.PolicyDigest != e.Digest() {
		t.Errorf("decision %+v, want a denial by %s", d, e.Digest())
	}

	// Without --input there is no decision in the report.
	_, out, _ = runPolicy(t, "test", dir, "-o", "json")
	if strings.Contains(out, `"decision"`) {
		t.Errorf("decision without --input:\n%s", out)
	}
}

func TestPolicyEval(t *testing.T) {
	def, err := policy.Load(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	limits := writeTree(t, map[string]string{"p.rego": limitsRego, "p_test.rego": wrongTestRego, "data.json": limitsData})
	clean := writeInput(t, cleanInput())
	infected := cleanInput()
	infected.Findings.Malware = policy.Malware{Status: "infected", Findings: []policy.MalwareFinding{{Path: "/tmp/eicar", Layer: 1, Signature: "Win.Test.EICAR_HDB-1"}}}
	malware := writeInput(t, infected)

	tests := []struct {
		name   string
		args   []string
		code   int
		out    []string
		errOut string
	}{
		{name: "default policy allows", args: []string{"--input", clean}, code: 0, out: []string{
			"decision: allowed\n", "policy: default (" + def.Digest() + ")\n", "checkpoint: promote\n",
		}},
		{name: "default policy denies malware", args: []string{"--input", malware}, code: 1, out: []string{
			"decision: denied\n", "deny: malware Win.Test.EICAR_HDB-1 found in /tmp/eicar (layer 1)\n",
		}, errOut: "the policy denies: malware"},
		{name: "a policy directory, its failing tests not run", args: []string{"--input", clean, "--policy", limits}, code: 0, out: []string{
			"decision: allowed\n", "policy: " + limits + " (sha256:",
		}},
		{name: "checkpoint", args: []string{"--input", clean, "--policy", limits, "--checkpoint", "deploy"}, code: 1, out: []string{
			"checkpoint: deploy\n", "deny: risk score 30 is above 20\n",
		}},
		{name: "no input", args: nil, code: 2, errOut: "needs --input"},
		{name: "bad policy directory", args: []string{"--input", clean, "--policy", clean}, code: 2, errOut: "not a directory"},
		{name: "extra argument", args: []string{"--input", clean, "x"}, code: 2, errOut: "unknown command"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runPolicy(t, append([]string{"eval"}, tc.args...)...)
			if code != tc.code {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errOut)
			}
			for _, w := range tc.out {
				if !strings.Contains(out, w) {
					t.Errorf("stdout does not contain %q:\n%s", w, out)
				}
			}
			if !strings.Contains(errOut, tc.errOut) {
				t.Errorf("stderr does not contain %q:\n%s", tc.errOut, errOut)
			}
		})
	}

	code, out, _ := runPolicy(t, "eval", "--input", clean, "--checkpoint", "run", "-o", "json")
	var d policy.Decision
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("eval -o json: %v\n%s", err, out)
	}
	if code != 0 || !d.Allowed || d.Checkpoint != policy.CheckpointRun || d.PolicyDigest != def.Digest() || len(d.Reasons) != 0 {
		t.Errorf("eval -o json: code %d, decision %+v", code, d)
	}
}

func TestPolicyShowDefault(t *testing.T) {
	code, out, errOut := runPolicy(t, "show-default")
	if code != 0 {
		t.Fatalf("show-default: code %d, %s", code, errOut)
	}
	for _, w := range []string{"# ==> decision.rego <==\n", "# ==> decision_test.rego <==\n", "package cssc.decision\n", "package cssc.decision_test"} {
		if !strings.Contains(out, w) {
			t.Errorf("show-default output does not contain %q", w)
		}
	}

	dir := filepath.Join(t.TempDir(), "policy")
	code, out, errOut = runPolicy(t, "show-default", "--output", dir)
	if code != 0 || !strings.Contains(out, "to "+dir) {
		t.Fatalf("show-default --output: code %d, out %q, err %q", code, out, errOut)
	}
	fsys, err := policy.DefaultFS()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"decision.rego", "decision_test.rego"} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		want, err := fs.ReadFile(fsys, name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the embedded one", name)
		}
	}

	// The written policy passes its own tests, and is the default policy.
	code, out, errOut = runPolicy(t, "test", dir)
	want, err := policy.RunTests(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if code != 0 || !strings.Contains(out, fmt.Sprintf("PASS: %d/%d\n", len(want), len(want))) {
		t.Errorf("policy test on the written default: code %d\n%s\n%s", code, out, errOut)
	}
	def, err := policy.Load(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	code, out, _ = runPolicy(t, "eval", "--policy", dir, "--input", writeInput(t, cleanInput()))
	if code != 0 || !strings.Contains(out, "("+def.Digest()+")") {
		t.Errorf("eval with the written default: code %d, want digest %s\n%s", code, def.Digest(), out)
	}

	// Existing files are not overwritten.
	if err := os.WriteFile(filepath.Join(dir, "decision.rego"), []byte("# mine\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runPolicy(t, "show-default", "-o", dir)
	if code != 2 || !strings.Contains(errOut, "exists; not overwritten") {
		t.Errorf("show-default over an existing policy: code %d, %q", code, errOut)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "decision.rego")); string(b) != "# mine\n" {
		t.Errorf("decision.rego overwritten: %q", b)
	}
}
