package policy

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"sort"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"
)

// TestResult is the outcome of one Rego test rule (test_…).
type TestResult struct {
	// Package is the Rego package, e.g. "data.cssc.decision_test".
	Package string `json:"package"`
	// Name is the rule's name, e.g. "test_malware_denies".
	Name string `json:"name"`
	// Location is file:line of the rule.
	Location string `json:"location"`
	// Pass is true when the rule held.
	Pass bool `json:"pass"`
	// Error says why the rule errored; empty when it did not.
	Error string `json:"error,omitempty"`
}

// TestResults are the results of a policy's tests, sorted by package and
// name.
type TestResults []TestResult

// Passed is true when there was at least one test and every test passed.
func (rs TestResults) Passed() bool {
	if len(rs) == 0 {
		return false
	}
	for _, r := range rs {
		if !r.Pass {
			return false
		}
	}
	return true
}

// RunTests runs the Rego tests (rules named test_…, usually in
// *_test.rego files) of the policy in dir, with its data file, as `opa
// test` does; an empty dir tests the embedded default policy. A failing
// test is a result, not an error; a policy that does not compile is an
// error.
func RunTests(ctx context.Context, dir string) (TestResults, error) {
	var (
		fsys   fs.FS
		source = dir
	)
	if dir == "" {
		sub, err := fs.Sub(defaultPolicy, "default")
		if err != nil {
			return nil, fmt.Errorf("test default policy: %w", err)
		}
		fsys, source = sub, "default"
	} else {
		fsys = os.DirFS(dir)
	}
	files, data, err := readPolicy(fsys, true)
	if err != nil {
		return nil, fmt.Errorf("test policy %s: %w", source, err)
	}
	doc, err := parseData(data)
	if err != nil {
		return nil, fmt.Errorf("test policy %s: %w", source, err)
	}
	modules := make(map[string]*ast.Module, len(files))
	for _, f := range files {
		m, err := ast.ParseModuleWithOpts(f.name, string(f.data), ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return nil, fmt.Errorf("test policy %s: %w", source, err)
		}
		modules[f.name] = m
	}
	ch, err := tester.NewRunner().
		SetDefaultRegoVersion(ast.RegoV1).
		SetStore(inmem.NewFromObject(doc)).
		SetTimeout(DefaultTimeout).
		SetModules(modules).
		RunTests(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("test policy %s: %w", source, err)
	}
	var out TestResults
	for r := range ch {
		tr := TestResult{Package: r.Package, Name: r.Name, Pass: r.Pass()}
		if r.Location != nil {
			tr.Location = fmt.Sprintf("%s:%d", r.Location.File, r.Location.Row)
		}
		if r.Error != nil {
			tr.Error = r.Error.Error()
		}
		out = append(out, tr)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("test policy %s: %w", source, err)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Package != out[j].Package {
			return out[i].Package < out[j].Package
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}
