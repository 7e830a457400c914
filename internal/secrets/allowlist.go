package secrets

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// allowlist is cssc's list of known false positives (Options.AllowlistFile).
type allowlist struct {
	entries []allowEntry
}

// allowEntry removes the findings that match every selector it gives.
type allowEntry struct {
	path        []string // glob segments; nil: any path
	rule        string   // empty: any rule
	fingerprint string   // empty: any secret
}

// allowFile is the YAML document of an allowlist file.
type allowFile struct {
	Allow []allowFileEntry `yaml:"allow"`
}

type allowFileEntry struct {
	Path        string `yaml:"path"`
	Rule        string `yaml:"rule"`
	Fingerprint string `yaml:"fingerprint"`
	Reason      string `yaml:"reason"`
}

var fingerprintPattern = regexp.MustCompile(`^sha256:[0-9a-f]{16}$`)

// loadAllowlist reads an allowlist file. Unknown keys, an entry without
// a reason or without any of path/rule/fingerprint, a malformed glob or
// fingerprint, and a rule the detector does not have are errors: a
// mistake in the file must not go unnoticed.
func loadAllowlist(file string, rules map[string]bool) (*allowlist, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read allowlist: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	var doc allowFile
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("allowlist %s: %w", file, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("allowlist %s: more than one YAML document", file)
	}

	al := &allowlist{}
	for i, e := range doc.Allow {
		where := fmt.Sprintf("allowlist %s: allow[%d]", file, i)
		if strings.TrimSpace(e.Reason) == "" {
			return nil, fmt.Errorf("%s: no reason given", where)
		}
		if e.Path == "" && e.Rule == "" && e.Fingerprint == "" {
			return nil, fmt.Errorf("%s: needs at least one of path, rule, fingerprint", where)
		}
		var entry allowEntry
		if e.Path != "" {
			segs, err := parseGlob(e.Path)
			if err != nil {
				return nil, fmt.Errorf("%s: path %q: %w", where, e.Path, err)
			}
			entry.path = segs
		}
		if e.Rule != "" {
			if !rules[e.Rule] {
				return nil, fmt.Errorf("%s: rule %q is not a rule of the gitleaks configuration", where, e.Rule)
			}
			entry.rule = e.Rule
		}
		if e.Fingerprint != "" {
			if !fingerprintPattern.MatchString(e.Fingerprint) {
				return nil, fmt.Errorf("%s: fingerprint %q: want sha256: and 16 lowercase hex digits", where, e.Fingerprint)
			}
			entry.fingerprint = e.Fingerprint
		}
		al.entries = append(al.entries, entry)
	}
	return al, nil
}

// allows reports whether an entry of the allowlist matches f.
func (al *allowlist) allows(f Finding) bool {
	if al == nil {
		return false
	}
	for _, e := range al.entries {
		if e.rule != "" && e.rule != f.RuleID {
			continue
		}
		if e.fingerprint != "" && e.fingerprint != f.Fingerprint {
			continue
		}
		if e.path != nil && !matchGlob(e.path, strings.Split(f.Path, "/")) {
			continue
		}
		return true
	}
	return false
}

// parseGlob splits a path pattern into segments. '*' matches any run of
// characters within a segment and a segment "**" any number of segments
// (zero included); every other character, '?' and '[' too, is literal, so
// "Env[TOKEN]" matches the configuration field of that name. A pattern
// with '/' names layer files, which are absolute: it must start with '/'.
func parseGlob(pattern string) ([]string, error) {
	if strings.Contains(pattern, "/") && !strings.HasPrefix(pattern, "/") {
		return nil, errors.New("a layer file pattern must be absolute (start with /)")
	}
	if strings.HasSuffix(pattern, "/") {
		return nil, errors.New("a pattern ending in / matches no file: use /dir/** for a directory")
	}
	segs := strings.Split(pattern, "/")
	for i, s := range segs {
		if strings.Contains(s, "**") && s != "**" {
			return nil, errors.New("** must be a whole path segment")
		}
		if s == "" && i > 0 {
			return nil, errors.New("empty path segment (//)")
		}
	}
	return segs, nil
}

// matchGlob matches path segments against pattern segments.
func matchGlob(pattern, path []string) bool {
	for len(pattern) > 0 {
		if pattern[0] == "**" {
			rest := pattern[1:]
			for i := 0; i <= len(path); i++ {
				if matchGlob(rest, path[i:]) {
					return true
				}
			}
			return false
		}
		if len(path) == 0 || !matchSegment(pattern[0], path[0]) {
			return false
		}
		pattern, path = pattern[1:], path[1:]
	}
	return len(path) == 0
}

// matchSegment matches one segment where '*' is any run of characters.
func matchSegment(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return len(s) >= len(last) && strings.HasSuffix(s, last)
}
