//lint:file-ignore SA1019 gitleaks' default rules still use the deprecated [allowlist] table, which must be read.

package secrets

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/viper"
	"github.com/zricethezav/gitleaks/v8/config"
)

// csscRules are the rules cssc adds to gitleaks' defaults (a file in
// gitleaks' format that extends them): together they are the default
// rules.
//
//go:embed cssc-rules.toml
var csscRules string

// loadRules returns gitleaks' configuration: the default rules (gitleaks'
// own and cssc's) when file is empty, else the rules of file (gitleaks'
// TOML format), merged into the default rules when file says `[extend]
// useDefault = true`.
//
// gitleaks' own loader is not used as is: it reads through viper's global
// instance and, for `extend`, through a package-level depth counter that is
// never reset, so a second load in the same process would silently skip
// the default rules. Each file is read here with a private viper instance
// and `extend` is resolved before gitleaks translates the configuration,
// so gitleaks never takes its extend path.
func loadRules(file string) (config.Config, error) {
	def, err := defaultRules()
	if err != nil {
		return config.Config{}, err
	}
	if file == "" {
		cfg, err := translate(def)
		if err != nil {
			return config.Config{}, fmt.Errorf("load gitleaks default rules: %w", err)
		}
		return cfg, nil
	}

	raw, err := os.ReadFile(file)
	if err != nil {
		return config.Config{}, fmt.Errorf("read gitleaks config: %w", err)
	}
	own, err := readViperConfig(bytes.NewReader(raw))
	if err != nil {
		return config.Config{}, fmt.Errorf("gitleaks config %s: %w", file, err)
	}
	merged, err := extend(def, own)
	if err != nil {
		return config.Config{}, fmt.Errorf("gitleaks config %s: %w", file, err)
	}
	cfg, err := translate(merged)
	if err != nil {
		return config.Config{}, fmt.Errorf("gitleaks config %s: %w", file, err)
	}
	if len(cfg.Rules) == 0 {
		return config.Config{}, fmt.Errorf("gitleaks config %s: no rules (add [[rules]] or `[extend] useDefault = true`)", file)
	}
	return cfg, nil
}

// defaultRules are gitleaks' default rules extended by cssc's.
func defaultRules() (config.ViperConfig, error) {
	gl, err := readViperConfig(strings.NewReader(config.DefaultConfig))
	if err != nil {
		return config.ViperConfig{}, fmt.Errorf("read gitleaks default rules: %w", err)
	}
	own, err := readViperConfig(strings.NewReader(csscRules))
	if err != nil {
		return config.ViperConfig{}, fmt.Errorf("read cssc's rules: %w", err)
	}
	def, err := extend(gl, own)
	if err != nil {
		return config.ViperConfig{}, fmt.Errorf("cssc's rules: %w", err)
	}
	return def, nil
}

// readViperConfig decodes a gitleaks TOML configuration with a private
// viper instance. Keys gitleaks does not know are errors: a misspelt
// `[extend]` would otherwise drop the default rules without a word.
func readViperConfig(r io.Reader) (config.ViperConfig, error) {
	v := viper.New()
	v.SetConfigType("toml")
	if err := v.ReadConfig(r); err != nil {
		return config.ViperConfig{}, fmt.Errorf("parse TOML: %w", err)
	}
	var vc config.ViperConfig
	if err := v.UnmarshalExact(&vc); err != nil {
		return config.ViperConfig{}, fmt.Errorf("decode: %w", err)
	}
	return vc, nil
}

// extend resolves own's `[extend]` section against the default rules def
// and returns a configuration without one. Only `useDefault` (with
// `disabledRules`) is supported: `path` and `url` would read other files or
// the network.
//
// The merge follows gitleaks' documented semantics: a rule of own with the
// id of a default rule overrides its description, regex, path, entropy and
// secretGroup when it sets them, and adds its keywords, tags, allowlists
// and required rules; other rules of own are added; global allowlists of
// both apply.
func extend(def, own config.ViperConfig) (config.ViperConfig, error) {
	ext := own.Extend
	own.Extend = config.Extend{}
	if ext.URL != "" {
		return config.ViperConfig{}, errors.New("[extend] url is not supported (no network access): use useDefault = true or merge the files")
	}
	if ext.Path != "" {
		return config.ViperConfig{}, errors.New("[extend] path is not supported: use useDefault = true or merge the files")
	}
	if err := normalizeAllowlists(&own); err != nil {
		return config.ViperConfig{}, err
	}
	seen := make(map[string]bool, len(own.Rules))
	for _, r := range own.Rules {
		if seen[r.ID] {
			return config.ViperConfig{}, fmt.Errorf("rule %q is defined twice", r.ID)
		}
		seen[r.ID] = true
	}
	if !ext.UseDefault {
		if len(ext.DisabledRules) > 0 {
			return config.ViperConfig{}, errors.New("[extend] disabledRules needs useDefault = true")
		}
		return own, nil
	}
	if err := normalizeAllowlists(&def); err != nil {
		return config.ViperConfig{}, fmt.Errorf("default rules: %w", err)
	}

	defIDs := make(map[string]bool, len(def.Rules))
	for _, r := range def.Rules {
		defIDs[r.ID] = true
	}
	disabled := make(map[string]bool, len(ext.DisabledRules))
	for _, id := range ext.DisabledRules {
		if !defIDs[id] {
			return config.ViperConfig{}, fmt.Errorf("[extend] disabledRules: %q is not a default gitleaks rule", id)
		}
		disabled[id] = true
	}

	merged := own
	merged.Rules = merged.Rules[:0:0]
	index := make(map[string]int, len(def.Rules)+len(own.Rules))
	for _, r := range def.Rules {
		if disabled[r.ID] {
			continue
		}
		index[r.ID] = len(merged.Rules)
		merged.Rules = append(merged.Rules, r)
	}
	for _, r := range own.Rules {
		i, ok := index[r.ID]
		if !ok {
			index[r.ID] = len(merged.Rules)
			merged.Rules = append(merged.Rules, r)
			continue
		}
		base := &merged.Rules[i]
		if r.Description != "" {
			base.Description = r.Description
		}
		if r.Regex != "" {
			base.Regex = r.Regex
		}
		if r.Path != "" {
			base.Path = r.Path
		}
		if r.Entropy != 0 {
			base.Entropy = r.Entropy
		}
		if r.SecretGroup != 0 {
			base.SecretGroup = r.SecretGroup
		}
		base.SkipReport = base.SkipReport || r.SkipReport
		base.Keywords = append(slices.Clip(base.Keywords), r.Keywords...)
		base.Tags = append(slices.Clip(base.Tags), r.Tags...)
		base.Allowlists = append(slices.Clip(base.Allowlists), r.Allowlists...)
		base.Required = append(slices.Clip(base.Required), r.Required...)
	}
	merged.Allowlists = append(slices.Clip(own.Allowlists), def.Allowlists...)
	return merged, nil
}

// normalizeAllowlists moves gitleaks' deprecated single `[allowlist]` and
// `[rules.allowlist]` tables into the lists, as gitleaks does, so merged
// configurations never hold both forms.
func normalizeAllowlists(vc *config.ViperConfig) error {
	if vc.AllowList != nil {
		if len(vc.Allowlists) > 0 {
			return errors.New("[allowlist] is deprecated and cannot be used alongside [[allowlists]]")
		}
		vc.Allowlists = append(vc.Allowlists, vc.AllowList)
		vc.AllowList = nil
	}
	for i := range vc.Rules {
		r := &vc.Rules[i]
		if r.AllowList == nil {
			continue
		}
		if len(r.Allowlists) > 0 {
			return fmt.Errorf("rule %q: [rules.allowlist] is deprecated and cannot be used alongside [[rules.allowlists]]", r.ID)
		}
		r.Allowlists = append(r.Allowlists, r.AllowList)
		r.AllowList = nil
	}
	return nil
}

// translate compiles a configuration whose `extend` is resolved. gitleaks
// panics on a regular expression that does not compile: that is returned
// as an error.
func translate(vc config.ViperConfig) (cfg config.Config, err error) {
	if vc.Extend.UseDefault || vc.Extend.Path != "" || vc.Extend.URL != "" {
		return config.Config{}, errors.New("internal error: [extend] not resolved before translation")
	}
	defer func() {
		if p := recover(); p != nil {
			cfg, err = config.Config{}, fmt.Errorf("%v", p)
		}
	}()
	if err := normalizeAllowlists(&vc); err != nil {
		return config.Config{}, err
	}
	cfg, err = vc.Translate()
	if err != nil {
		return config.Config{}, err
	}
	// gitleaks validates rules and attaches `targetRules` allowlists only
	// while its package-level extend depth is 0; check both happened.
	wantAllowlists := make(map[string]int, len(vc.Rules))
	for _, r := range vc.Rules {
		wantAllowlists[r.ID] = len(r.Allowlists)
	}
	for _, a := range vc.Allowlists {
		for _, id := range a.TargetRules {
			wantAllowlists[id]++
		}
	}
	for id, n := range wantAllowlists {
		r, ok := cfg.Rules[id]
		if !ok || len(r.Allowlists) != n {
			return config.Config{}, fmt.Errorf("rule %q: gitleaks attached %d of its %d allowlists (its loader keeps process-wide state)", id, len(r.Allowlists), n)
		}
		if err := r.Validate(); err != nil {
			return config.Config{}, err
		}
	}
	// gitleaks skips a fragment whose path equals the configuration's
	// path (read from viper's global instance): no image file is that.
	cfg.Path = ""
	// Findings of decoded text get `append(rule.Tags, ...)`: with spare
	// capacity, concurrent scans would write the same array.
	for id, r := range cfg.Rules {
		r.Tags = slices.Clip(r.Tags)
		r.Keywords = slices.Clip(r.Keywords)
		cfg.Rules[id] = r
	}
	return cfg, nil
}
