package policy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"gopkg.in/yaml.v3"
)

//go:embed default/*.rego
var defaultPolicy embed.FS

// DefaultTimeout bounds one evaluation when Engine.Timeout is zero.
const DefaultTimeout = 5 * time.Second

// Package is the Rego package a policy defines its decision in:
// data.cssc.decision.deny (a set of strings) and, optionally,
// data.cssc.decision.warn (a set of strings).
const Package = "cssc.decision"

// query reads deny and warn and whether they are sets, so that a deny
// written as an array or a boolean is refused rather than misread. warn is
// optional: the comprehensions are empty when it is undefined.
const query = `deny := data.cssc.decision.deny
deny_is_set := is_set(deny)
warn := [w | w := data.cssc.decision.warn]
warn_is_set := [is_set(w) | w := data.cssc.decision.warn]
demote := [d | d := data.cssc.decision.demote]`

// Decision is the outcome of one evaluation.
type Decision struct {
	// Allowed is true when the policy denied nothing.
	Allowed bool `json:"allowed"`
	// Reasons are the deny messages, sorted; empty when allowed.
	Reasons []string `json:"reasons"`
	// Warnings are the warn messages, sorted; they never block.
	Warnings []string `json:"warnings"`
	// PolicyDigest identifies the policy that decided (Engine.Digest).
	PolicyDigest string `json:"policy_digest"`
	// Checkpoint is the input's checkpoint.
	Checkpoint Checkpoint `json:"checkpoint"`
	// Demote asks, when an image already in golden/ no longer passes (a
	// rescan with new vulnerability data), to take it out of golden/
	// rather than only flag it: data.cssc.decision.demote, optional,
	// false when undefined.
	Demote bool `json:"demote,omitempty"`
}

// Engine is a loaded, prepared policy. It is safe for concurrent use.
type Engine struct {
	prepared rego.PreparedEvalQuery
	digest   string
	source   string
	settings Settings
	// Timeout bounds each Decide; zero means DefaultTimeout. An
	// evaluation that runs out of time is an error.
	Timeout time.Duration
}

// file is one policy file: its path relative to the policy root and its
// contents.
type file struct {
	name string
	data []byte
}

// Load prepares the policy of dir: every .rego file under it (except
// *_test.rego, which are policy tests) and, at its top, an optional
// data.json or data.yaml holding the data document (e.g.
// {"cssc": {"thresholds": {"deploy": 50}}}). An empty dir loads the
// embedded default policy. A directory without .rego files, a parse or
// compile error is an error.
func Load(ctx context.Context, dir string) (*Engine, error) {
	var (
		fsys   fs.FS
		source string
	)
	if dir == "" {
		sub, err := fs.Sub(defaultPolicy, "default")
		if err != nil {
			return nil, fmt.Errorf("load default policy: %w", err)
		}
		fsys, source = sub, "default"
	} else {
		fsys, source = os.DirFS(dir), dir
	}
	modules, data, err := readPolicy(fsys, false)
	if err != nil {
		return nil, fmt.Errorf("load policy %s: %w", source, err)
	}
	if len(modules) == 0 {
		return nil, fmt.Errorf("load policy %s: no .rego files", source)
	}
	e, err := prepare(ctx, modules, data)
	if err != nil {
		return nil, fmt.Errorf("load policy %s: %w", source, err)
	}
	e.source = source
	return e, nil
}

// readPolicy reads the .rego files under fsys (with the *_test.rego ones
// when tests is set) and the top-level data file. Both come back sorted by
// name so the digest does not depend on the file system's order.
func readPolicy(fsys fs.FS, tests bool) (modules []file, data []file, err error) {
	err = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != "." && strings.HasPrefix(d.Name(), ".") {
				return fs.SkipDir
			}
			return nil
		}
		isRego := strings.HasSuffix(p, ".rego")
		isData := p == "data.json" || p == "data.yaml" || p == "data.yml"
		if !isRego && !isData || isRego && !tests && strings.HasSuffix(p, "_test.rego") {
			return nil
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		if isRego {
			modules = append(modules, file{p, b})
		} else {
			data = append(data, file{p, b})
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if len(data) > 1 {
		return nil, nil, fmt.Errorf("more than one data file (%s, %s)", data[0].name, data[1].name)
	}
	sort.Slice(modules, func(i, j int) bool { return modules[i].name < modules[j].name })
	return modules, data, nil
}

// parseData decodes the data document; its top must be an object.
func parseData(files []file) (map[string]any, error) {
	if len(files) == 0 {
		return map[string]any{}, nil
	}
	f := files[0]
	var v any
	if strings.HasSuffix(f.name, ".json") {
		dec := json.NewDecoder(bytes.NewReader(f.data))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("parse %s: %w", f.name, err)
		}
	} else if err := yaml.Unmarshal(f.data, &v); err != nil {
		return nil, fmt.Errorf("parse %s: %w", f.name, err)
	}
	// Round-trip through JSON so YAML values become JSON types.
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", f.name, err)
	}
	var obj map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return nil, fmt.Errorf("parse %s: the data document must be an object", f.name)
	}
	return obj, nil
}

// digestOf hashes the sorted files' names and contents: for each file,
// its name, a NUL, its length in decimal, a NUL and its bytes.
func digestOf(files []file) string {
	sorted := append([]file(nil), files...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].name < sorted[j].name })
	h := sha256.New()
	for _, f := range sorted {
		fmt.Fprintf(h, "%s\x00%d\x00", f.name, len(f.data))
		h.Write(f.data)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

func prepare(ctx context.Context, modules, data []file) (*Engine, error) {
	doc, err := parseData(data)
	if err != nil {
		return nil, err
	}
	opts := []func(*rego.Rego){
		rego.Query(query),
		rego.SetRegoVersion(ast.RegoV1),
		rego.Store(inmem.NewFromObject(doc)),
	}
	for _, m := range modules {
		opts = append(opts, rego.Module(m.name, string(m.data)))
	}
	pq, err := rego.New(opts...).PrepareForEval(ctx)
	if err != nil {
		return nil, err
	}
	settings, err := settingsFrom(doc)
	if err != nil {
		return nil, err
	}
	return &Engine{prepared: pq, settings: settings, digest: digestOf(append(append([]file(nil), modules...), data...))}, nil
}

// Digest is "sha256:" and the hex SHA-256 over the policy's files (the
// .rego modules and the data file, not the tests), sorted by name; it
// identifies the policy in decisions and verification summaries.
func (e *Engine) Digest() string { return e.digest }

// Source is the policy directory, or "default" for the embedded policy.
func (e *Engine) Source() string { return e.source }

// Decide evaluates the policy over in. It fails closed: an evaluation
// error (including running out of time), an undefined deny, a deny or warn
// that is not a set of strings is an error, never an allow.
func (e *Engine) Decide(ctx context.Context, in Input) (Decision, error) {
	if in.Exceptions == nil {
		in.Exceptions = []Exception{}
	}
	b, err := json.Marshal(in)
	if err != nil {
		return Decision{}, fmt.Errorf("decide %s: encode input: %w", in.Image.Reference, err)
	}
	var doc any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return Decision{}, fmt.Errorf("decide %s: encode input: %w", in.Image.Reference, err)
	}
	d, err := e.decide(ctx, doc)
	if err != nil {
		return Decision{}, fmt.Errorf("decide %s: %w", in.Image.Reference, err)
	}
	d.Checkpoint = in.Checkpoint
	return d, nil
}

// decide evaluates over an input already in JSON form.
func (e *Engine) decide(ctx context.Context, input any) (Decision, error) {
	timeout := e.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	rs, err := e.prepared.Eval(ctx, rego.EvalInput(input))
	if err != nil {
		if ctx.Err() != nil {
			return Decision{}, fmt.Errorf("evaluate policy (limit %s): %w", timeout, errors.Join(ctx.Err(), err))
		}
		return Decision{}, fmt.Errorf("evaluate policy: %w", err)
	}
	if len(rs) == 0 {
		return Decision{}, fmt.Errorf("evaluate policy: data.%s.deny is undefined", Package)
	}
	if len(rs) > 1 {
		return Decision{}, fmt.Errorf("evaluate policy: %d results, want 1", len(rs))
	}
	b := rs[0].Bindings
	if b["deny_is_set"] != true {
		return Decision{}, fmt.Errorf("evaluate policy: data.%s.deny is not a set", Package)
	}
	reasons, err := stringSet(b["deny"])
	if err != nil {
		return Decision{}, fmt.Errorf("evaluate policy: data.%s.deny: %w", Package, err)
	}
	warnings := []string{}
	if w, _ := b["warn"].([]any); len(w) == 1 {
		if isSet, _ := b["warn_is_set"].([]any); len(isSet) != 1 || isSet[0] != true {
			return Decision{}, fmt.Errorf("evaluate policy: data.%s.warn is not a set", Package)
		}
		if warnings, err = stringSet(w[0]); err != nil {
			return Decision{}, fmt.Errorf("evaluate policy: data.%s.warn: %w", Package, err)
		}
	} else if len(w) > 1 {
		return Decision{}, fmt.Errorf("evaluate policy: data.%s.warn has %d values", Package, len(w))
	}
	demote := false
	if d, _ := b["demote"].([]any); len(d) == 1 {
		v, ok := d[0].(bool)
		if !ok {
			return Decision{}, fmt.Errorf("evaluate policy: data.%s.demote is a %T, not a boolean", Package, d[0])
		}
		demote = v
	} else if len(d) > 1 {
		return Decision{}, fmt.Errorf("evaluate policy: data.%s.demote has %d values", Package, len(d))
	}
	return Decision{
		Demote:       demote,
		Allowed:      len(reasons) == 0,
		Reasons:      reasons,
		Warnings:     warnings,
		PolicyDigest: e.digest,
	}, nil
}

// stringSet converts a Rego set (a Go slice) to sorted strings.
func stringSet(v any) ([]string, error) {
	items, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("a %T, not a set", v)
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		s, ok := it.(string)
		if !ok {
			return nil, fmt.Errorf("an element is %T, not a string", it)
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out, nil
}

// DecideFile decides on an input document read from a JSON file, as
// `cssc policy test <dir> --input file.json` does. The file is passed to
// the policy as it is (it need not come from an Input), so operators can
// test their policy on hand-written inputs.
func (e *Engine) DecideFile(ctx context.Context, name string) (Decision, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return Decision{}, fmt.Errorf("decide on %s: %w", name, err)
	}
	var doc any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return Decision{}, fmt.Errorf("decide on %s: parse: %w", name, err)
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		return Decision{}, fmt.Errorf("decide on %s: the input must be a JSON object", name)
	}
	d, err := e.decide(ctx, obj)
	if err != nil {
		return Decision{}, fmt.Errorf("decide on %s: %w", name, err)
	}
	if c, ok := obj["checkpoint"].(string); ok {
		d.Checkpoint = Checkpoint(c)
	}
	return d, nil
}
