package match

import (
	"errors"
	"testing"

	"github.com/ossf/osv-schema/bindings/go/osvschema"
)

func TestVersionOrdering(t *testing.T) {
	// Each case: a < b, or a == b when equal is set, under the ecosystem's
	// own rules.
	tests := []struct {
		eco, a, b string
		equal     bool
	}{
		// Debian: epochs, "~" before everything, "+" after, revisions.
		{eco: "Debian:12", a: "2.0-1", b: "1:1.0-1"},
		{eco: "Debian:12", a: "1.0", b: "0:1.0", equal: true},
		{eco: "Debian:12", a: "1.0~rc1", b: "1.0"},
		{eco: "Debian:12", a: "1.0~rc1-1", b: "1.0-1"},
		{eco: "Debian:12", a: "1.0~~a", b: "1.0~a"},
		{eco: "Debian:12", a: "1.0", b: "1.0+b1"},
		{eco: "Debian:12", a: "1.0-1", b: "1.0-1+deb12u1"},
		{eco: "Debian:12", a: "3.0.11-1~deb12u2", b: "3.0.11-1"},
		{eco: "Debian:12", a: "3.0.11-1~deb12u2", b: "3.0.11-1~deb12u3"},
		{eco: "Debian:12", a: "2.36-9+deb12u3", b: "2.36-9+deb12u10"},
		{eco: "Debian:12", a: "1.2.9", b: "1.2.10"},
		{eco: "Ubuntu:22.04:LTS", a: "1.1.1f-1ubuntu2.19", b: "1.1.1f-1ubuntu2.20"},
		// Alpine: -rN revisions, _rc/_p suffixes, letters.
		{eco: "Alpine:v3.20", a: "1.36.1-r0", b: "1.36.1-r1"},
		{eco: "Alpine:v3.20", a: "1.36.1-r9", b: "1.36.1-r10"},
		{eco: "Alpine:v3.20", a: "1.9-r5", b: "1.10-r0"},
		{eco: "Alpine:v3.20", a: "3.1.4_rc1-r0", b: "3.1.4-r0"},
		{eco: "Alpine:v3.20", a: "3.1.4-r0", b: "3.1.4_p1-r0"},
		{eco: "Alpine:v3.20", a: "1.2.3", b: "1.2.3a"},
		// RPM / Red Hat: epochs, release, "~" and "^".
		{eco: "Red Hat:enterprise_linux:9::baseos", a: "2.0-1.el9", b: "1:1.0-1.el9"},
		{eco: "Red Hat:enterprise_linux:9::baseos", a: "1.0-1.el9", b: "1.0-2.el9"},
		{eco: "Red Hat:enterprise_linux:9::baseos", a: "1.0~rc1-1.el9", b: "1.0-1.el9"},
		{eco: "Rocky Linux:9", a: "3.0.7-24.el9", b: "3.0.7-25.el9_3"},
		{eco: "AlmaLinux:9", a: "1.0", b: "1.0^git1"},
		// SemVer: pre-releases below the release, numeric identifiers
		// numerically, build metadata ignored.
		{eco: "npm", a: "1.0.0-alpha", b: "1.0.0-alpha.1"},
		{eco: "npm", a: "1.0.0-alpha.1", b: "1.0.0-beta"},
		{eco: "npm", a: "1.0.0-beta.2", b: "1.0.0-beta.11"},
		{eco: "npm", a: "1.0.0-rc.1", b: "1.0.0"},
		{eco: "npm", a: "1.0.0", b: "1.0.0+build.5", equal: true},
		{eco: "crates.io", a: "0.9.9", b: "0.10.0"},
		// Go: leading v, pseudo-versions sort as pre-releases.
		{eco: "Go", a: "v1.2.3", b: "1.2.3", equal: true},
		{eco: "Go", a: "v0.0.0-20210101000000-abcdef123456", b: "v0.0.0-20220101000000-abcdef123456"},
		{eco: "Go", a: "v0.0.0-20220101000000-abcdef123456", b: "v0.1.0"},
		{eco: "Go", a: "v1.2.3", b: "v1.2.4-0.20210101000000-abcdef123456"},
		{eco: "Go", a: "v1.2.4-0.20210101000000-abcdef123456", b: "v1.2.4"},
		{eco: "Go", a: "v2.0.0+incompatible", b: "v2.0.1"},
		// PEP 440: dev < alpha < beta < rc < release < post; epochs.
		{eco: "PyPI", a: "1.0.dev1", b: "1.0a1"},
		{eco: "PyPI", a: "1.0a1", b: "1.0b1"},
		{eco: "PyPI", a: "1.0b2", b: "1.0rc1"},
		{eco: "PyPI", a: "1.0rc1", b: "1.0"},
		{eco: "PyPI", a: "1.0", b: "1.0.post1"},
		{eco: "PyPI", a: "1.0.post1.dev1", b: "1.0.post1"},
		{eco: "PyPI", a: "2.0", b: "1!0.1"},
		{eco: "PyPI", a: "1.0", b: "1.0.0", equal: true},
		{eco: "PyPI", a: "1.0", b: "1.0+local.1"},
		{eco: "PyPI", a: "1.0-RC1", b: "1.0rc1", equal: true},
		// Maven: qualifiers.
		{eco: "Maven", a: "1.0-SNAPSHOT", b: "1.0"},
		{eco: "Maven", a: "1.0-alpha-1", b: "1.0-beta-1"},
		{eco: "Maven", a: "1.0-beta-1", b: "1.0-RC1"},
		{eco: "Maven", a: "1.0-RC1", b: "1.0"},
		{eco: "Maven", a: "1.0", b: "1.0-sp1"},
		{eco: "Maven", a: "1.0", b: "1.0.0", equal: true},
		{eco: "Maven", a: "2.9.10", b: "2.9.10.1"},
		// RubyGems and Packagist.
		{eco: "RubyGems", a: "1.0.0.pre", b: "1.0.0"},
		{eco: "RubyGems", a: "1.0.a", b: "1.0"},
		{eco: "RubyGems", a: "1.9", b: "1.10"},
		{eco: "Packagist", a: "1.0.0-beta", b: "1.0.0"},
		{eco: "Packagist", a: "1.0.0-alpha", b: "1.0.0-beta"},
		{eco: "Packagist", a: "v1.0.0", b: "1.0.0", equal: true},
	}
	c := newVersionCache()
	for _, tt := range tests {
		t.Run(tt.eco+" "+tt.a+" "+tt.b, func(t *testing.T) {
			order := baseEcosystem(tt.eco)
			a, err := c.parse(order, tt.a)
			if err != nil {
				t.Fatal(err)
			}
			b, err := c.parse(order, tt.b)
			if err != nil {
				t.Fatal(err)
			}
			want := -1
			if tt.equal {
				want = 0
			}
			if n, err := a.Compare(b); err != nil || n != want {
				t.Errorf("compare(%s, %s) = %d, %v; want %d", tt.a, tt.b, n, err, want)
			}
			if n, err := b.Compare(a); err != nil || n != -want {
				t.Errorf("compare(%s, %s) = %d, %v; want %d", tt.b, tt.a, n, err, -want)
			}
		})
	}
}

func TestVersionParseErrors(t *testing.T) {
	tests := []struct {
		order, v   string
		noOrdering bool
	}{
		{order: "Debian", v: "x:1.0"},
		{order: "Alpine", v: "not a version"},
		{order: "PyPI", v: "unknown"},
		{order: "Maven", v: "LATEST"},
		{order: "Go", v: "(devel)"},
		{order: "npm", v: "latest"},
		{order: semverOrder, v: "devel"},
		{order: "Photon OS", v: "1.0", noOrdering: true},
		{order: "Linux", v: "6.1", noOrdering: true},
	}
	for _, tt := range tests {
		t.Run(tt.order+" "+tt.v, func(t *testing.T) {
			_, err := newVersionCache().parse(tt.order, tt.v)
			if err == nil {
				t.Fatal("parsed; want an error")
			}
			if got := errors.Is(err, errNoOrdering); got != tt.noOrdering {
				t.Errorf("errors.Is(%v, errNoOrdering) = %v, want %v", err, got, tt.noOrdering)
			}
		})
	}
}

func TestNormalizeVersion(t *testing.T) {
	tests := []struct{ eco, name, in, want string }{
		{"Go", "stdlib", "go1.21.3", "1.21.3"},
		{"Go", "stdlib", "go1.21", "1.21.0"},
		{"Go", "stdlib", "go1.21rc2", "1.21.0-rc.2"},
		{"Go", "stdlib", "go1.22.1 X:boringcrypto", "1.22.1"},
		{"Go", "stdlib", "1.20.14", "1.20.14"},
		{"Go", "toolchain", "go1.21.0", "1.21.0"},
		{"Go", "golang.org/x/net", "v0.17.0", "v0.17.0"},
		{"Debian:12", "golang-1.19", "1.19.8-2", "1.19.8-2"},
	}
	for _, tt := range tests {
		if got := normalizeVersion(tt.eco, tt.name, tt.in); got != tt.want {
			t.Errorf("normalizeVersion(%s, %s, %q) = %q, want %q", tt.eco, tt.name, tt.in, got, tt.want)
		}
	}
}

// ev builds range events: "i:x" introduced, "f:x" fixed, "l:x"
// last_affected, "m:x" limit.
func ev(specs ...string) []*osvschema.Event {
	var out []*osvschema.Event
	for _, s := range specs {
		v := s[2:]
		switch s[0] {
		case 'i':
			out = append(out, &osvschema.Event{Introduced: v})
		case 'f':
			out = append(out, &osvschema.Event{Fixed: v})
		case 'l':
			out = append(out, &osvschema.Event{LastAffected: v})
		case 'm':
			out = append(out, &osvschema.Event{Limit: v})
		}
	}
	return out
}

func TestEvalRange(t *testing.T) {
	tests := []struct {
		name      string
		order     string
		events    []*osvschema.Event
		version   string
		affected  bool
		fixed     string
		wantError bool
	}{
		{name: "introduced 0, fixed: below", order: semverOrder, events: ev("i:0", "f:1.0.2"), version: "1.0.1", affected: true, fixed: "1.0.2"},
		{name: "introduced 0, fixed: at fix", order: semverOrder, events: ev("i:0", "f:1.0.2"), version: "1.0.2"},
		{name: "introduced 0, fixed: above", order: semverOrder, events: ev("i:0", "f:1.0.2"), version: "2.0.0"},
		{name: "unbounded", order: semverOrder, events: ev("i:0"), version: "99.0.0", affected: true},
		{name: "introduced later: below", order: semverOrder, events: ev("i:1.5.0", "f:1.6.0"), version: "1.4.9"},
		{name: "introduced later: at introduced", order: semverOrder, events: ev("i:1.5.0", "f:1.6.0"), version: "1.5.0", affected: true, fixed: "1.6.0"},
		{name: "two ranges: in first", order: semverOrder, events: ev("i:1.0.0", "f:1.0.2", "i:3.0.0", "f:3.2.5"), version: "1.0.1", affected: true, fixed: "1.0.2"},
		{name: "two ranges: between", order: semverOrder, events: ev("i:1.0.0", "f:1.0.2", "i:3.0.0", "f:3.2.5"), version: "2.0.0"},
		{name: "two ranges: in second", order: semverOrder, events: ev("i:1.0.0", "f:1.0.2", "i:3.0.0", "f:3.2.5"), version: "3.1.0", affected: true, fixed: "3.2.5"},
		{name: "two ranges: after", order: semverOrder, events: ev("i:1.0.0", "f:1.0.2", "i:3.0.0", "f:3.2.5"), version: "3.2.5"},
		{name: "unsorted events", order: semverOrder, events: ev("f:3.2.5", "i:3.0.0", "f:1.0.2", "i:1.0.0"), version: "3.1.0", affected: true, fixed: "3.2.5"},
		{name: "last_affected: at", order: semverOrder, events: ev("i:0", "l:1.4.0"), version: "1.4.0", affected: true},
		{name: "last_affected: above", order: semverOrder, events: ev("i:0", "l:1.4.0"), version: "1.4.1"},
		{name: "limit: below", order: semverOrder, events: ev("i:0", "m:2.0.0"), version: "1.9.0", affected: true},
		{name: "limit: at", order: semverOrder, events: ev("i:0", "m:2.0.0"), version: "2.0.0"},
		{name: "limit star", order: semverOrder, events: ev("i:1.0.0", "m:*"), version: "5.0.0", affected: true},
		{name: "pre-release before fix", order: semverOrder, events: ev("i:0", "f:2.0.0"), version: "2.0.0-rc.1", affected: true, fixed: "2.0.0"},
		{name: "Go pseudo-version before fix", order: "Go", events: ev("i:0", "f:0.17.0"), version: "v0.0.0-20230101000000-abcdef123456", affected: true, fixed: "0.17.0"},
		{name: "Debian epoch beats fix", order: "Debian", events: ev("i:0", "f:2.0-1"), version: "1:1.0-1"},
		{name: "Debian tilde before fix", order: "Debian", events: ev("i:0", "f:3.0.11-1~deb12u2"), version: "3.0.11-1~deb12u1", affected: true, fixed: "3.0.11-1~deb12u2"},
		{name: "Debian fixed installed", order: "Debian", events: ev("i:0", "f:3.0.11-1~deb12u2"), version: "3.0.11-1~deb12u2"},
		{name: "Alpine revision", order: "Alpine", events: ev("i:0", "f:1.36.1-r1"), version: "1.36.1-r0", affected: true, fixed: "1.36.1-r1"},
		{name: "PyPI post release is fixed", order: "PyPI", events: ev("i:0", "f:2.31.0"), version: "2.31.0.post1"},
		{name: "PyPI rc is affected", order: "PyPI", events: ev("i:2.0", "f:2.31.0"), version: "2.31.0rc1", affected: true, fixed: "2.31.0"},
		{name: "introduced and fixed at same version", order: semverOrder, events: ev("i:1.0.0", "f:1.0.0"), version: "1.0.0"},
		{name: "bad event version", order: "Debian", events: ev("i:0", "f:x:1"), version: "1.0", wantError: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newVersionCache()
			if _, err := c.parse(tt.order, tt.version); err != nil {
				t.Fatal(err)
			}
			got, err := evalRange(c, tt.order, tt.version, &osvschema.Range{Type: osvschema.Range_SEMVER, Events: tt.events})
			if (err != nil) != tt.wantError {
				t.Fatalf("error = %v, want error %v", err, tt.wantError)
			}
			if got.affected != tt.affected || got.fixed != tt.fixed {
				t.Errorf("got affected=%v fixed=%q, want affected=%v fixed=%q", got.affected, got.fixed, tt.affected, tt.fixed)
			}
		})
	}
}
