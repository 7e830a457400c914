package match

import (
	"errors"
	"fmt"
	"strings"

	"github.com/google/osv-scalibr/semantic"
	"github.com/ossf/osv-schema/bindings/go/osvschema"
)

// semverOrder names the ordering of OSV ranges of type SEMVER: SemVer 2.0
// whatever the package's ecosystem.
const semverOrder = "SEMVER"

// errNoOrdering says versions of an ecosystem cannot be compared here.
var errNoOrdering = errors.New("no version ordering")

// semverEcosystems are the ecosystems whose versions semantic compares as
// SemVer. Its SemVer parser accepts any string, so for these a version
// must at least start like one ("1…" or "v1…"), or "(devel)" would sort
// as 0.0.0 and match every "introduced: 0" range.
var semverEcosystems = map[string]bool{
	"Go": true, "npm": true, "crates.io": true, "Hex": true, "Bitnami": true,
	"Bioconductor": true, "ConanCenter": true, "GHC": true, "Julia": true,
	"SwiftURL": true, "Docker Hardened Images": true,
}

// baseEcosystem is the ecosystem without its release suffix:
// "Debian:12" → "Debian", "Ubuntu:22.04:LTS" → "Ubuntu".
func baseEcosystem(eco string) string {
	base, _, _ := strings.Cut(eco, ":")
	return base
}

// versionCache parses versions, and compares them, once per Run: the same
// package versions and range events recur across packages that share a
// source package and across records (one advisory fixes many CVEs in the
// same version), and comparing Debian versions is not cheap.
type versionCache struct {
	parsed   map[versionKey]parsedVersion
	compared map[compareKey]int
}

type versionKey struct {
	order, s string
}

type compareKey struct {
	order, a, b string
}

type parsedVersion struct {
	v   semantic.Version
	err error
}

func newVersionCache() *versionCache {
	return &versionCache{
		parsed:   make(map[versionKey]parsedVersion, 256),
		compared: make(map[compareKey]int, 512),
	}
}

// parse parses s under order (a base ecosystem name or semverOrder).
func (c *versionCache) parse(order, s string) (semantic.Version, error) {
	k := versionKey{order, s}
	if p, ok := c.parsed[k]; ok {
		return p.v, p.err
	}
	v, err := parseVersion(order, s)
	c.parsed[k] = parsedVersion{v, err}
	return v, err
}

// compare compares a and b under order: -1, 0 or 1.
func (c *versionCache) compare(order, a, b string) (int, error) {
	k := compareKey{order, a, b}
	if n, ok := c.compared[k]; ok {
		return n, nil
	}
	va, err := c.parse(order, a)
	if err != nil {
		return 0, err
	}
	vb, err := c.parse(order, b)
	if err != nil {
		return 0, err
	}
	n, err := va.Compare(vb)
	if err != nil {
		return 0, fmt.Errorf("compare %q with %q: %w", a, b, err)
	}
	c.compared[k] = n
	return n, nil
}

func parseVersion(order, s string) (semantic.Version, error) {
	if order == semverOrder || semverEcosystems[order] {
		if !semverLike(s) {
			return nil, fmt.Errorf("%q is not a SemVer version", s)
		}
		return semantic.ParseSemverVersion(s), nil
	}
	if !strings.ContainsAny(s, "0123456789") {
		// Every ecosystem's versions have a number; the lenient parsers
		// would order "latest" or "unknown" somewhere anyway.
		return nil, fmt.Errorf("%q is not a %s version", s, order)
	}
	v, err := semantic.Parse(s, order)
	if errors.Is(err, semantic.ErrUnsupportedEcosystem) {
		return nil, fmt.Errorf("%w for ecosystem %s", errNoOrdering, order)
	}
	if err != nil {
		return nil, fmt.Errorf("%q is not a valid %s version: %w", s, order, err)
	}
	return v, nil
}

// semverLike reports whether s starts like a SemVer version: a digit,
// after an optional "v".
func semverLike(s string) bool {
	s = strings.TrimPrefix(s, "v")
	return s != "" && s[0] >= '0' && s[0] <= '9'
}

// normalizeVersion turns an installed version into the form the ecosystem's
// OSV records use. The Go toolchain reports itself as "go1.21.3" (or
// "go1.21rc2", "go1.22.0 X:boringcrypto"), while the Go vulnerability
// database writes "1.21.3" and "1.21.0-rc.2" for the "stdlib" and
// "toolchain" packages.
func normalizeVersion(eco, name, v string) string {
	if baseEcosystem(eco) != "Go" || (name != "stdlib" && name != "toolchain") {
		return v
	}
	v, _, _ = strings.Cut(strings.TrimSpace(v), " ")
	v = strings.TrimPrefix(v, "go")
	pre := ""
	for _, tag := range []string{"rc", "beta", "alpha"} {
		if i := strings.Index(v, tag); i > 0 {
			pre = "-" + tag + "." + v[i+len(tag):]
			v = v[:i]
			break
		}
	}
	if strings.Count(v, ".") == 1 {
		v += ".0"
	}
	return v + pre
}

// eventKind orders events at the same version: a range that introduces and
// fixes at one version is empty, so "introduced" must be applied first.
type eventKind int

const (
	evIntroduced eventKind = iota
	evLastAffected
	evFixed
	evLimit
)

type event struct {
	kind eventKind
	raw  string
	zero bool // introduced "0": before every version
	inf  bool // limit "*": after every version
	cmpV int  // the installed version compared with this event
}

// rangeResult is what one OSV range says about one version.
type rangeResult struct {
	affected bool
	fixed    string // lowest fixed event above the version, if affected
}

// evalRange evaluates an ECOSYSTEM or SEMVER range for the installed
// version v (which must parse under order) as the OSV schema's
// IncludedInRanges and BeforeLimits define it.
func evalRange(c *versionCache, order, v string, r *osvschema.Range) (rangeResult, error) {
	var buf [4]event
	evs := buf[:0]
	for _, e := range r.GetEvents() {
		var ev event
		switch {
		case e.GetIntroduced() != "":
			ev = event{kind: evIntroduced, raw: e.GetIntroduced(), zero: e.GetIntroduced() == "0"}
		case e.GetFixed() != "":
			ev = event{kind: evFixed, raw: e.GetFixed()}
		case e.GetLastAffected() != "":
			ev = event{kind: evLastAffected, raw: e.GetLastAffected()}
		case e.GetLimit() != "":
			ev = event{kind: evLimit, raw: e.GetLimit(), inf: strings.Contains(e.GetLimit(), "*")}
		default:
			continue
		}
		switch {
		case ev.zero:
			ev.cmpV = 1
		case ev.inf:
			ev.cmpV = -1
		default:
			n, err := c.compare(order, v, ev.raw)
			if err != nil {
				return rangeResult{}, fmt.Errorf("range event: %w", err)
			}
			ev.cmpV = n
		}
		evs = append(evs, ev)
	}
	if !beforeLimits(evs) {
		return rangeResult{}, nil
	}
	if err := sortEvents(c, order, evs); err != nil {
		return rangeResult{}, fmt.Errorf("range event: %w", err)
	}
	vulnerable := false
	for _, e := range evs {
		switch e.kind {
		case evIntroduced:
			if e.cmpV >= 0 {
				vulnerable = true
			}
		case evFixed:
			if e.cmpV >= 0 {
				vulnerable = false
			}
		case evLastAffected:
			if e.cmpV > 0 {
				vulnerable = false
			}
		}
	}
	if !vulnerable {
		return rangeResult{}, nil
	}
	res := rangeResult{affected: true}
	for _, e := range evs { // sorted: the first fixed above v is the lowest
		if e.kind == evFixed && e.cmpV < 0 {
			res.fixed = e.raw
			break
		}
	}
	return res, nil
}

// sortEvents sorts events by version ("0" first, "*" last; at one version
// introduced, last_affected, fixed, limit).
func sortEvents(c *versionCache, order string, evs []event) error {
	var cmpErr error
	less := func(a, b event) bool {
		var n int
		switch {
		case a.zero && b.zero, a.inf && b.inf:
		case a.zero, b.inf:
			n = -1
		case b.zero, a.inf:
			n = 1
		default:
			var err error
			if n, err = c.compare(order, a.raw, b.raw); err != nil && cmpErr == nil {
				cmpErr = err
			}
		}
		if n != 0 {
			return n < 0
		}
		return a.kind < b.kind
	}
	// Insertion sort: stable, no allocation, and one comparison per event
	// for the usual range that is already in order.
	for i := 1; i < len(evs); i++ {
		for j := i; j > 0 && less(evs[j], evs[j-1]); j-- {
			evs[j], evs[j-1] = evs[j-1], evs[j]
		}
	}
	return cmpErr
}

// beforeLimits: with no limit events the implicit limit is "*"; otherwise
// the version must be below one of them.
func beforeLimits(evs []event) bool {
	limited := false
	for _, e := range evs {
		if e.kind != evLimit {
			continue
		}
		limited = true
		if e.cmpV < 0 {
			return true
		}
	}
	return !limited
}
