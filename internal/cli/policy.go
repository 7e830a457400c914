package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cssc-project/cssc/internal/policy"
)

func newPolicyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Test, evaluate and inspect decision policies (Rego)",
		Long: `Policies are code, with tests. A policy directory holds .rego files defining
data.cssc.decision.deny (and optionally warn), their tests (*_test.rego, rules
named test_…) and an optional data.json or data.yaml; the input document is
described in docs/POLICY.md. An empty --policy means the default policy built
into cssc; show-default writes it out to start from.`,
	}
	cmd.AddCommand(newPolicyTestCmd(g), newPolicyEvalCmd(g), newPolicyShowDefaultCmd(g))
	return cmd
}

// decisionFlags are the flags of the commands that decide on an input.
type decisionFlags struct {
	input      string
	checkpoint string
	output     string
}

func (f *decisionFlags) check(cmd *cobra.Command) error {
	if f.output != "text" && f.output != "json" {
		return fmt.Errorf("--output %q: want text or json", f.output)
	}
	if cmd.Flags().Changed("checkpoint") {
		if f.input == "" {
			return errors.New("--checkpoint needs --input")
		}
		switch policy.Checkpoint(f.checkpoint) {
		case policy.CheckpointImport, policy.CheckpointPromote, policy.CheckpointDeploy, policy.CheckpointRun:
		default:
			return fmt.Errorf("--checkpoint %q: want import, promote, deploy or run", f.checkpoint)
		}
	}
	return nil
}

func newPolicyTestCmd(g *globals) *cobra.Command {
	var (
		df      decisionFlags
		verbose bool
	)
	cmd := &cobra.Command{
		Use:   "test POLICY-DIR",
		Short: "Run a policy's Rego tests and, with --input, decide on an input document",
		Long: `test runs the Rego tests of the policy in POLICY-DIR (every rule named test_…,
usually in *_test.rego files, with the directory's data file), as opa test
does, and prints each test's outcome. A directory without tests fails: a
policy nobody tested is not known to do what it should.

With --input, it also evaluates the directory's policy (its .rego files but
not the tests) on that input document (JSON, as docs/POLICY.md describes; a
decision's input can be saved and replayed) and prints the decision: allowed
or denied, the reasons, the warnings and the policy digest. --checkpoint
overrides the input's checkpoint.

Exit codes: 0 every test passed (and, with --input, the policy allows), 1 a
test failed or errored, or the policy denies, 2 the policy or the input could
not be read (a Rego syntax or compile error, an unreadable or malformed input,
a deny that is not a set of strings).`,
		Example: `  cssc policy show-default --output ./policy
  cssc policy test ./policy
  cssc policy test ./policy --input denied-image.json --checkpoint deploy -v
  cssc policy test ./policy --output json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := df.check(cmd); err != nil {
				return &exitError{code: 2, err: err}
			}
			dir := args[0]
			if err := isDir(dir); err != nil {
				return &exitError{code: 2, err: fmt.Errorf("policy test: %w", err)}
			}
			ctx := cmd.Context()
			results, err := policy.RunTests(ctx, dir)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			var decision *policy.Decision
			if df.input != "" {
				d, err := decideOnFile(ctx, dir, df.input, df.checkpoint)
				if err != nil {
					return &exitError{code: 2, err: err}
				}
				decision = &d
			}
			if df.output == "json" {
				err = writeJSON(g.stdout, policyTestReport{Policy: dir, Tests: nonNil(results), Passed: results.Passed(), Decision: decision})
			} else {
				err = writeTestResults(g.stdout, results, verbose)
				if err == nil && decision != nil {
					_, _ = fmt.Fprintln(g.stdout)
					err = writeDecision(g.stdout, *decision, dir, df.input)
				}
			}
			if err != nil {
				return &exitError{code: 2, err: fmt.Errorf("write results: %w", err)}
			}
			return policyVerdict(results, decision)
		},
	}
	f := cmd.Flags()
	f.StringVar(&df.input, "input", "", "also decide on this input document (JSON)")
	f.StringVar(&df.checkpoint, "checkpoint", "", "with --input: decide at this checkpoint (import, promote, deploy or run) instead of the input's")
	f.StringVarP(&df.output, "output", "o", "text", "text or json")
	f.BoolVarP(&verbose, "verbose", "v", false, "show each test's location")
	return cmd
}

func newPolicyEvalCmd(g *globals) *cobra.Command {
	var (
		df  decisionFlags
		dir string
	)
	cmd := &cobra.Command{
		Use:   "eval --input FILE",
		Short: "Decide on an input document with a policy (the default one without --policy)",
		Long: `eval evaluates a policy on an input document (JSON, as docs/POLICY.md
describes) and prints the decision: allowed or denied, the reasons, the
warnings and the policy digest. Without --policy it is the default policy
built into cssc. Tests (*_test.rego) are not run; see cssc policy test.

Exit codes: 0 the policy allows, 1 it denies, 2 the policy or the input could
not be read or evaluated.`,
		Example: `  cssc policy eval --input input.json
  cssc policy eval --input input.json --policy ./policy --checkpoint deploy --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if df.input == "" {
				return &exitError{code: 2, err: errors.New("policy eval needs --input FILE")}
			}
			if err := df.check(cmd); err != nil {
				return &exitError{code: 2, err: err}
			}
			if dir != "" {
				if err := isDir(dir); err != nil {
					return &exitError{code: 2, err: fmt.Errorf("policy eval: %w", err)}
				}
			}
			d, err := decideOnFile(cmd.Context(), dir, df.input, df.checkpoint)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			if df.output == "json" {
				err = writeJSON(g.stdout, d)
			} else {
				err = writeDecision(g.stdout, d, dir, df.input)
			}
			if err != nil {
				return &exitError{code: 2, err: fmt.Errorf("write decision: %w", err)}
			}
			return policyVerdict(nil, &d)
		},
	}
	f := cmd.Flags()
	f.StringVar(&df.input, "input", "", "the input document (JSON)")
	f.StringVar(&dir, "policy", "", "policy directory (default: the policy built into cssc)")
	f.StringVar(&df.checkpoint, "checkpoint", "", "decide at this checkpoint (import, promote, deploy or run) instead of the input's")
	f.StringVarP(&df.output, "output", "o", "text", "text or json")
	return cmd
}

func newPolicyShowDefaultCmd(g *globals) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "show-default",
		Short: "Print the default policy, or write it to a directory to start a policy from",
		Long: `show-default prints the default decision policy built into cssc (its .rego
files and their tests), or with --output writes them into a directory (created
if needed; existing files are not overwritten). The written directory is a
policy directory: cssc policy test passes on it, and loaded as it is, it has
the default policy's digest.`,
		Example: `  cssc policy show-default | less
  cssc policy show-default --output ./policy && cssc policy test ./policy`,
		Args: cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			fsys, err := policy.DefaultFS()
			if err != nil {
				return err
			}
			files, err := defaultPolicyFiles(fsys)
			if err != nil {
				return err
			}
			if out == "" {
				for i, f := range files {
					if i > 0 {
						_, _ = fmt.Fprintln(g.stdout)
					}
					if _, err := fmt.Fprintf(g.stdout, "# ==> %s <==\n%s", f.name, f.data); err != nil {
						return fmt.Errorf("print default policy: %w", err)
					}
				}
				return nil
			}
			if err := writePolicyDir(out, files); err != nil {
				return err
			}
			_, err = fmt.Fprintf(g.stdout, "wrote the default policy (%d files) to %s\n", len(files), out)
			return err
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "write the files into this directory instead of printing them")
	return cmd
}

// policyTestReport is the JSON output of policy test.
type policyTestReport struct {
	Policy   string             `json:"policy"`
	Tests    policy.TestResults `json:"tests"`
	Passed   bool               `json:"passed"`
	Decision *policy.Decision   `json:"decision,omitempty"`
}

func nonNil(rs policy.TestResults) policy.TestResults {
	if rs == nil {
		return policy.TestResults{}
	}
	return rs
}

// policyVerdict is the exit status: 1 when a test failed (or there were
// none to run, with results given) or the decision denies.
func policyVerdict(results policy.TestResults, d *policy.Decision) error {
	var problems []string
	if results != nil || d == nil {
		switch failed := countFailed(results); {
		case len(results) == 0:
			problems = append(problems, "no policy tests found (rules named test_…)")
		case failed > 0:
			problems = append(problems, fmt.Sprintf("%d of %d policy tests failed", failed, len(results)))
		}
	}
	if d != nil && !d.Allowed {
		problems = append(problems, fmt.Sprintf("the policy denies: %s", strings.Join(d.Reasons, "; ")))
	}
	if len(problems) > 0 {
		return &exitError{code: 1, err: errors.New(strings.Join(problems, "; "))}
	}
	return nil
}

func countFailed(rs policy.TestResults) int {
	n := 0
	for _, r := range rs {
		if !r.Pass {
			n++
		}
	}
	return n
}

// writeTestResults prints one line per test, as opa test -v does, and a
// summary line.
func writeTestResults(w io.Writer, rs policy.TestResults, verbose bool) error {
	ew := &errWriter{w: w}
	for _, r := range rs {
		status := "PASS"
		switch {
		case r.Error != "":
			status = "ERROR"
		case !r.Pass:
			status = "FAIL"
		}
		line := fmt.Sprintf("%s.%s: %s", r.Package, r.Name, status)
		if verbose && r.Location != "" {
			line += " (" + r.Location + ")"
		}
		ew.printf("%s\n", line)
		if r.Error != "" {
			ew.printf("  %s\n", strings.ReplaceAll(strings.TrimSpace(r.Error), "\n", "\n  "))
		}
	}
	ew.printf("%s\n", strings.Repeat("-", 80))
	failed := countFailed(rs)
	switch {
	case len(rs) == 0:
		ew.printf("no tests found (rules named test_…)\n")
	case failed == 0:
		ew.printf("PASS: %d/%d\n", len(rs), len(rs))
	default:
		ew.printf("PASS: %d/%d\nFAIL: %d/%d\n", len(rs)-failed, len(rs), failed, len(rs))
	}
	return ew.err
}

// writeDecision prints a decision for people.
func writeDecision(w io.Writer, d policy.Decision, dir, input string) error {
	ew := &errWriter{w: w}
	verdict := "allowed"
	if !d.Allowed {
		verdict = "denied"
	}
	source := dir
	if source == "" {
		source = "default"
	}
	ew.printf("decision: %s\n", verdict)
	ew.printf("input: %s\n", input)
	ew.printf("checkpoint: %s\n", orDash(string(d.Checkpoint)))
	ew.printf("policy: %s (%s)\n", source, d.PolicyDigest)
	for _, r := range d.Reasons {
		ew.printf("deny: %s\n", r)
	}
	for _, r := range d.Warnings {
		ew.printf("warn: %s\n", r)
	}
	return ew.err
}

// errWriter keeps the first write error.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func isDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	return nil
}

// decideOnFile loads the policy of dir (the default one when dir is empty)
// and decides on the input file, at checkpoint when it is not empty.
func decideOnFile(ctx context.Context, dir, input, checkpoint string) (policy.Decision, error) {
	e, err := policy.Load(ctx, dir)
	if err != nil {
		return policy.Decision{}, err
	}
	if checkpoint == "" {
		return e.DecideFile(ctx, input)
	}
	// The engine reads the input from a file, as it is; give it a copy
	// with the checkpoint replaced.
	b, err := os.ReadFile(input)
	if err != nil {
		return policy.Decision{}, fmt.Errorf("read input: %w", err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil || doc == nil {
		if err == nil {
			err = errors.New("not an object")
		}
		return policy.Decision{}, fmt.Errorf("decide on %s: parse: %w", input, err)
	}
	if doc["checkpoint"], err = json.Marshal(checkpoint); err != nil {
		return policy.Decision{}, fmt.Errorf("decide on %s: %w", input, err)
	}
	tmp, err := os.CreateTemp("", "cssc-policy-input-*.json")
	if err != nil {
		return policy.Decision{}, fmt.Errorf("decide on %s: %w", input, err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	if err := json.NewEncoder(tmp).Encode(doc); err != nil {
		_ = tmp.Close()
		return policy.Decision{}, fmt.Errorf("decide on %s: %w", input, err)
	}
	if err := tmp.Close(); err != nil {
		return policy.Decision{}, fmt.Errorf("decide on %s: %w", input, err)
	}
	d, err := e.DecideFile(ctx, tmp.Name())
	if err != nil {
		return policy.Decision{}, fmt.Errorf("decide on %s at checkpoint %s: %w", input, checkpoint, err)
	}
	return d, nil
}

// policyFile is one file of the default policy.
type policyFile struct {
	name string
	data []byte
}

func defaultPolicyFiles(fsys fs.FS) ([]policyFile, error) {
	var files []policyFile
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		files = append(files, policyFile{p, b})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read default policy: %w", err)
	}
	if len(files) == 0 {
		return nil, errors.New("read default policy: no files")
	}
	return files, nil
}

// writePolicyDir writes files under dir; it refuses before writing
// anything when one of them exists.
func writePolicyDir(dir string, files []policyFile) error {
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.name))
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("write default policy: %s exists; not overwritten", p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("write default policy: %w", err)
		}
	}
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("write default policy: %w", err)
		}
		fh, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return fmt.Errorf("write default policy: %w", err)
		}
		_, werr := fh.Write(f.data)
		if cerr := fh.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return fmt.Errorf("write default policy: %s: %w", p, werr)
		}
	}
	return nil
}
