// Package secrets finds credentials in image files and configuration with
// gitleaks' rules (github.com/zricethezav/gitleaks/v8, used as a library).
//
// A Detector scans one file's bytes or an image configuration and returns
// findings that never hold the secret: rule, place, line and a fingerprint
// (a truncated SHA-256 of the secret). Walking the layers is the caller's
// job (internal/layerscan).
//
// gitleaks logs through a zerolog logger held in a package variable
// (logging.Logger) that writes to stderr and, at trace level, the secrets.
// New sets that logger's level to disabled, once per process: it is the one
// global of another package this package changes. gitleaks' configuration
// loader also keeps process-wide state (viper's global instance, an extend
// depth counter that is never reset); rules.go reads configurations without
// either, and fails if gitleaks' state was changed by someone else.
//
// Detection calls gitleaks' Detector.DetectContext, which only reads the
// detector (gitleaks' own file scan calls it from many goroutines), so a
// Detector is safe for concurrent use. Nothing needs git or the network.
package secrets

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/rs/zerolog"
	"github.com/zricethezav/gitleaks/v8/detect"
	"github.com/zricethezav/gitleaks/v8/logging"
	"github.com/zricethezav/gitleaks/v8/report"
)

// DefaultMaxFileSize is the size over which files are not scanned when
// Options.MaxFileSize is 0.
const DefaultMaxFileSize = 1 << 20

const (
	// EngineName is Engine.Name.
	EngineName = "gitleaks"
	// gitleaksModule is the module the rules come from.
	gitleaksModule = "github.com/zricethezav/gitleaks/v8"
	// gitleaksVersion is the version in go.mod, reported when the
	// binary carries no module information.
	gitleaksVersion = "v8.30.1"
	// maxDecodeDepth is how many rounds of decoding (base64, hex,
	// percent, unicode escapes) gitleaks applies to find encoded secrets:
	// gitleaks' own command-line default.
	maxDecodeDepth = 5
)

// quietGitleaks silences gitleaks' logger (see the package comment).
var quietGitleaks sync.Once

// Options configure a Detector.
type Options struct {
	// ConfigFile is a gitleaks configuration (TOML, gitleaks' own format)
	// to use instead of gitleaks' default rules; with `[extend]
	// useDefault = true` it adds to them. Empty: the default rules.
	ConfigFile string
	// AllowlistFile is cssc's allowlist (YAML, see docs/secrets.md).
	// Empty: none.
	AllowlistFile string
	// MaxFileSize: files larger than this are not scanned (counted as
	// SkippedLarge by the caller). 0 means DefaultMaxFileSize.
	MaxFileSize int64
}

// Detector finds secrets with gitleaks' rules. It is safe for concurrent
// use.
type Detector struct {
	gl      *detect.Detector
	allow   *allowlist
	engine  Engine
	maxSize int64
}

// New loads the gitleaks rules and the allowlist that opts name.
func New(opts Options) (*Detector, error) {
	quietGitleaks.Do(func() {
		logging.Logger = logging.Logger.Level(zerolog.Disabled)
	})
	if opts.MaxFileSize < 0 {
		return nil, fmt.Errorf("secrets: max file size %d is negative", opts.MaxFileSize)
	}
	maxSize := opts.MaxFileSize
	if maxSize == 0 {
		maxSize = DefaultMaxFileSize
	}
	cfg, err := loadRules(opts.ConfigFile)
	if err != nil {
		return nil, err
	}
	var allow *allowlist
	if opts.AllowlistFile != "" {
		ids := make(map[string]bool, len(cfg.Rules))
		for id := range cfg.Rules {
			ids[id] = true
		}
		if allow, err = loadAllowlist(opts.AllowlistFile, ids); err != nil {
			return nil, err
		}
	}
	gl := detect.NewDetector(cfg)
	gl.MaxDecodeDepth = maxDecodeDepth
	// An image's author does not get to hide a shipped secret with a
	// "gitleaks:allow" comment: exceptions belong in the allowlist file,
	// with a reason.
	gl.IgnoreGitleaksAllow = true
	return &Detector{
		gl:      gl,
		allow:   allow,
		maxSize: maxSize,
		engine: Engine{
			Name:      EngineName,
			Version:   moduleVersion(),
			Rules:     len(cfg.Rules),
			Config:    opts.ConfigFile,
			Allowlist: opts.AllowlistFile,
		},
	}, nil
}

// moduleVersion is the gitleaks version linked into the binary.
func moduleVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == gitleaksModule {
				if m.Replace != nil && m.Replace.Version != "" {
					return m.Replace.Version
				}
				if m.Version != "" {
					return m.Version
				}
			}
		}
	}
	return gitleaksVersion
}

// Engine identifies gitleaks, its version and the files the rules and
// allowlist came from.
func (d *Detector) Engine() Engine { return d.engine }

// MaxFileSize is the size over which the caller does not scan a file.
func (d *Detector) MaxFileSize() int64 { return d.maxSize }

// File scans one text file's content. loc gives Source (SourceLayer),
// Path, Layer and LayerDigest, which every finding copies. It returns the
// findings kept, ordered by line, and how many the allowlist removed.
//
// gitleaks' own allowlists apply first: they skip paths such as
// node_modules, vendored Go modules and Python site-packages, lock files,
// images and fonts, and drop secrets known to be placeholders (AWS's
// "…EXAMPLE" keys). Those are not counted as allowlisted.
//
// The caller checks IsText and MaxFileSize first; for files that are not
// text, see BinaryFile.
func (d *Detector) File(loc Finding, data []byte) (kept []Finding, allowlisted int) {
	found := d.detect(string(data), loc.Path)
	return d.keep(loc, found, data)
}

// BinaryFile applies to a file that is not text the rules that match on
// the file's name alone, such as gitleaks' pkcs12-file (.p12/.pfx
// keystores). Such findings have Line 0 and the fingerprint of the whole
// file's content.
func (d *Detector) BinaryFile(loc Finding, data []byte) (kept []Finding, allowlisted int) {
	if loc.Path == "" {
		return nil, 0
	}
	found := d.detect("", loc.Path)
	return d.keep(loc, found, data)
}

// detect runs gitleaks on text (its lines numbered from 1) at path, which
// gitleaks' path rules and allowlists match. An empty path (configuration
// fields) matches no path rule. DetectContext only reads the detector,
// so concurrent calls are safe; gitleaks' own file scan makes them too.
func (d *Detector) detect(text, path string) []report.Finding {
	//lint:ignore SA1019 detect.Fragment is the type DetectContext, the entry point that takes a path and keeps no findings, takes in v8.
	return d.gl.DetectContext(context.Background(), detect.Fragment{Raw: text, FilePath: path, StartLine: 1})
}

// keep turns gitleaks findings into Findings at loc, drops duplicates and
// applies the allowlist. whole is the content a path-only rule matched.
func (d *Detector) keep(loc Finding, found []report.Finding, whole []byte) (kept []Finding, allowlisted int) {
	type key struct {
		rule, fp string
		line     int
	}
	seen := make(map[key]bool, len(found))
	for _, gf := range found {
		f := loc
		f.RuleID = gf.RuleID
		f.Description = gf.Description
		// A rule on the file's name matches no line (StartLine 0): the
		// file is the secret.
		f.Line = gf.StartLine
		if gf.Secret == "" {
			f.Fingerprint = Fingerprint(whole)
		} else {
			f.Fingerprint = Fingerprint([]byte(gf.Secret))
		}
		k := key{f.RuleID, f.Fingerprint, f.Line}
		if seen[k] {
			continue
		}
		seen[k] = true
		if d.allow.allows(f) {
			allowlisted++
			continue
		}
		kept = append(kept, f)
	}
	slices.SortFunc(kept, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), strings.Compare(a.RuleID, b.RuleID), strings.Compare(a.Fingerprint, b.Fingerprint))
	})
	return kept, allowlisted
}

// Fingerprint returns the fingerprint of a secret: "sha256:" and the first
// 16 hex digits of its SHA-256, enough to recognise the same secret
// elsewhere and too little to recover it.
func Fingerprint(secret []byte) string {
	sum := sha256.Sum256(secret)
	return "sha256:" + hex.EncodeToString(sum[:8])
}

// plainName matches the names a finding's path may show: variable and
// label names, nothing that could be a value.
var plainName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_./-]{0,127}$`)

// fieldName is how a finding's path names an Env entry's or a label's
// key: the key itself when it is a plain name in which no rule finds a
// secret, else "#" and its index (Env: in order; labels: in key order),
// since the key is then part of what must not be shown (an Env entry
// without "=", a token used as a label key).
func (d *Detector) fieldName(key string, index int) string {
	if plainName.MatchString(key) && len(d.detect(key, "")) == 0 {
		return key
	}
	return fmt.Sprintf("#%d", index)
}

// Config scans the image configuration cf: each Env entry ("KEY=value",
// path "Env[KEY]"), each label (path "Labels[key]", text "key=value"),
// Entrypoint and Cmd (joined by spaces), OnBuild triggers
// ("OnBuild[i]"), the healthcheck command ("Healthcheck"), and each
// history entry's created_by ("history[i].created_by"). A history entry
// that made a layer (empty_layer false; they map to layers in order)
// gives that layer's index and digest, from layers (blob digests, bottom
// first); other fields have Layer -1. Findings come in that field order.
func (d *Detector) Config(cf *v1.ConfigFile, layers []string) (kept []Finding, allowlisted int) {
	if cf == nil {
		return nil, 0
	}
	scan := func(path string, layer int, text string) {
		if text == "" {
			return
		}
		loc := Finding{Source: SourceConfig, Path: path, Layer: -1}
		if layer >= 0 && layer < len(layers) {
			loc.Layer, loc.LayerDigest = layer, layers[layer]
		}
		found := d.detect(text, "")
		k, a := d.keep(loc, found, []byte(text))
		kept = append(kept, k...)
		allowlisted += a
	}

	c := cf.Config
	for i, e := range c.Env {
		key, _, _ := strings.Cut(e, "=")
		scan("Env["+d.fieldName(key, i)+"]", -1, e)
	}
	labels := make([]string, 0, len(c.Labels))
	for k := range c.Labels {
		labels = append(labels, k)
	}
	sort.Strings(labels)
	for i, k := range labels {
		scan("Labels["+d.fieldName(k, i)+"]", -1, k+"="+c.Labels[k])
	}
	scan("Entrypoint", -1, strings.Join(c.Entrypoint, " "))
	scan("Cmd", -1, strings.Join(c.Cmd, " "))
	for i, o := range c.OnBuild {
		scan(fmt.Sprintf("OnBuild[%d]", i), -1, o)
	}
	if c.Healthcheck != nil {
		scan("Healthcheck", -1, strings.Join(c.Healthcheck.Test, " "))
	}
	layer := 0
	for i, h := range cf.History {
		l := -1
		if !h.EmptyLayer {
			l = layer
			layer++
		}
		scan(fmt.Sprintf("history[%d].created_by", i), l, h.CreatedBy)
	}
	return kept, allowlisted
}
