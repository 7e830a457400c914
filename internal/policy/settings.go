package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// Settings are the pipeline settings a policy's data document holds under
// data.cssc.settings (docs/POLICY.md): what the policy wants done rather
// than decided.
type Settings struct {
	// UseAttachedSBOM takes an image's inventory from the SBOM attached
	// upstream, when it has one, instead of generating it.
	UseAttachedSBOM bool `json:"use_attached_sbom"`
	// Strip names debug-only content that earlier stages added and that
	// must not go further (requirement D4): it is removed from what is
	// promoted to golden/. Empty (the default) strips nothing, so digests
	// are kept.
	Strip Strip `json:"strip"`
}

// Strip names image configuration content to remove. Each entry is a
// name, or a prefix ending in "*".
type Strip struct {
	// Labels are image configuration labels (config.Labels).
	Labels []string `json:"labels,omitempty"`
	// Env are environment variable names (config.Env).
	Env []string `json:"env,omitempty"`
	// Annotations are manifest annotations.
	Annotations []string `json:"annotations,omitempty"`
}

// Empty reports whether s strips nothing.
func (s Strip) Empty() bool { return len(s.Labels)+len(s.Env)+len(s.Annotations) == 0 }

// Matches reports whether name is one of names (a trailing "*" matches a
// prefix).
func Matches(names []string, name string) bool {
	for _, n := range names {
		if p, ok := strings.CutSuffix(n, "*"); ok && strings.HasPrefix(name, p) || n == name {
			return true
		}
	}
	return false
}

// settingsFrom reads data.cssc.settings; unknown keys are an error, so a
// typo is not silently ignored.
func settingsFrom(doc map[string]any) (Settings, error) {
	var s Settings
	cssc, _ := doc["cssc"].(map[string]any)
	raw, ok := cssc["settings"]
	if !ok {
		return s, nil
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return s, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return s, fmt.Errorf("data.cssc.settings: %w", err)
	}
	for _, list := range [][]string{s.Strip.Labels, s.Strip.Env, s.Strip.Annotations} {
		for _, n := range list {
			if n == "" || n == "*" {
				return s, fmt.Errorf("data.cssc.settings.strip: %q would strip everything of its kind; name what to strip", n)
			}
		}
	}
	return s, nil
}

// Settings are the policy's pipeline settings (data.cssc.settings).
func (e *Engine) Settings() Settings { return e.settings }
