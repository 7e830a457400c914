// Package match finds the known vulnerabilities of an image's packages: it
// evaluates OSV records against an inventory with each ecosystem's own
// version ordering, groups a vulnerability's records under one finding,
// applies OpenVEX exceptions and says which packages it could not judge.
//
// It never reports "clean" for what it could not check: a package whose
// ecosystem the database does not cover, whose version cannot be ordered,
// or whose records cannot be evaluated is listed as unknown, with the
// reason, and the report is incomplete.
package match

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/openvex/go-vex/pkg/vex"
	"github.com/ossf/osv-schema/bindings/go/osvschema"

	"github.com/cssc-project/cssc/internal/inventory"
)

// Source is the vulnerability database as matching needs it.
type Source interface {
	// Vulnerabilities returns the OSV records that name the package in
	// the ecosystem (e.g. "Debian:12", "openssl"). No records is an empty
	// list; an error means the answer is not known. For PyPI, Run asks for
	// the name as installed and, when different, its PEP 503 normalised
	// form.
	Vulnerabilities(ctx context.Context, ecosystem, name string) ([]*osvschema.Vulnerability, error)
	// Coverage says whether the database holds data for the ecosystem.
	Coverage(ecosystem string) Coverage
}

// Coverage is what the database holds for one ecosystem.
type Coverage struct {
	Covered bool
	// Reason explains a lack of coverage ("no Debian:12 records in the
	// database"); empty when covered.
	Reason string
	// ImportedAt is when the ecosystem's data was last imported, Newest
	// the most recent record modification time in it.
	ImportedAt, Newest time.Time
}

// Options changes how Run matches.
type Options struct {
	// VEX are OpenVEX documents (see ParseVEX) whose not_affected and
	// fixed statements suppress findings.
	VEX []*vex.VEX
	// AllowMissing records that the caller accepts an incomplete report
	// (--allow-missing-data); it does not change what is matched, and the
	// report still lists every unknown package.
	AllowMissing bool
}

// Report is the result of matching one inventory.
type Report struct {
	// Findings are the vulnerabilities found, most severe first, then by
	// id and package.
	Findings []Finding
	// Suppressed are findings an OpenVEX statement declared not_affected
	// or fixed.
	Suppressed []Suppressed
	// Unknown are packages, or package × record pairs, that could not be
	// judged; any makes the report incomplete.
	Unknown []Unknown
	// NotMatchable are packages no OSV ecosystem covers (no Ecosystem in
	// the inventory): listed so the report shows them, but no database
	// could have data for them, so they do not make it incomplete.
	NotMatchable []Unknown
	// Coverage is the database's coverage of each ecosystem in the
	// inventory, sorted by ecosystem.
	Coverage []EcosystemCoverage
	// AllowMissing is Options.AllowMissing.
	AllowMissing bool
}

// PackageRef identifies the package a finding is about.
type PackageRef struct {
	Name          string
	Version       string
	Ecosystem     string
	PURL          string
	SourceName    string
	SourceVersion string
}

// Finding is one vulnerability in one package.
type Finding struct {
	// ID is the vulnerability's primary id (see Run for how it is chosen);
	// Aliases are its other ids, sorted.
	ID      string
	Aliases []string
	// Upstream and Related are ids the records point to but that name
	// other vulnerabilities (or their upstream origin); never merged.
	Upstream []string
	Related  []string
	Summary  string
	Package  PackageRef
	// Installed is the version that was compared: the source package's
	// version for OS packages with one.
	Installed string
	// Fixed is the lowest version that fixes it, "" if none is known.
	Fixed string
	// Severity, and the CVSS base score and vector it came from (Score 0
	// and Vector "" when it came from a database's severity text).
	Severity Severity
	Score    float64
	Vector   string
	// Locations are the files the package was found in; Layer the digest
	// of the layer that introduced it.
	Locations []string
	Layer     string
}

// Suppressed is a finding an OpenVEX statement excepted.
type Suppressed struct {
	Finding
	Status          string // "not_affected" or "fixed"
	Justification   string // e.g. "vulnerable_code_not_in_execute_path"
	ImpactStatement string
	StatusNotes     string
	Document        string // the VEX document's @id
	Statement       string // the statement's @id, if any
}

// Unknown is a package that could not be judged.
type Unknown struct {
	Package PackageRef
	// Vulnerability is set when only one record could not be evaluated.
	Vulnerability string
	Reason        string
	Locations     []string
	Layer         string
}

// EcosystemCoverage is the database's coverage of one ecosystem found in
// the inventory.
type EcosystemCoverage struct {
	Ecosystem string
	Coverage
	// Packages is how many inventory packages are in the ecosystem.
	Packages int
}

// Incomplete reports whether some packages could not be judged (Unknown
// is not empty): a scan must not call such an image clean.
func (r *Report) Incomplete() bool { return len(r.Unknown) > 0 }

// Exceeds reports whether a finding is at or above the threshold
// (critical, high, medium or low). Findings of unknown (or "none")
// severity are below every threshold: OSV records without any severity
// are common (Debian's), and a threshold is about known severity; the
// unknown ones are still reported and counted. An invalid threshold fails
// closed: any finding exceeds it.
func (r *Report) Exceeds(threshold string) bool {
	t, err := ParseThreshold(threshold)
	if err != nil {
		return len(r.Findings) > 0
	}
	for _, f := range r.Findings {
		if f.Severity.Rank() >= t.Rank() {
			return true
		}
	}
	return false
}

// Counts returns how many findings have each severity.
func (r *Report) Counts() map[Severity]int {
	m := make(map[Severity]int, 6)
	for _, f := range r.Findings {
		m[f.Severity]++
	}
	return m
}

// Run matches every package of inv against src.
//
// A package is matched under its OSV ecosystem by MatchName and
// MatchVersion (the source package for OS packages) against each record's
// affected entries of exactly that ecosystem and name: the version is
// affected if an affected entry lists it in versions or one of its
// ECOSYSTEM or SEMVER ranges includes it (GIT ranges are ignored).
// Withdrawn records are ignored.
//
// Records of one package that are the same vulnerability (one lists the
// other's id, or both list the same id, in aliases) become one finding.
// Its primary id is, of all the ids, the first CVE id, else the first
// GHSA id, else the first id in string order: CVE ids are what VEX
// documents, deny lists and people use. Its fixed version is the highest
// of the records' fixed versions (upgrading to it satisfies all of them),
// its severity the highest of the records'.
//
// Run keeps nothing between calls (its caches live for one call), so
// calls may run concurrently when src allows it.
func Run(ctx context.Context, src Source, inv inventory.Inventory, opts Options) (*Report, error) {
	m := &matcher{
		src:      src,
		versions: newVersionCache(),
		coverage: map[string]Coverage{},
		records:  map[string][]*osvschema.Vulnerability{},
		results:  map[pkgKey]pkgResult{},
		scores:   scoreCache{},
	}
	rep := &Report{AllowMissing: opts.AllowMissing}
	counts := map[string]int{}
	// Results first, findings after: their number is then known, and
	// they are copied once.
	type matched struct {
		pkg *inventory.Package
		res pkgResult
	}
	var results []matched
	total := 0
	for i := range inv.Packages {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		p := &inv.Packages[i]
		if p.Ecosystem == "" {
			rep.NotMatchable = append(rep.NotMatchable, Unknown{
				Package: packageRef(p), Reason: "no OSV ecosystem for this kind of package",
				Locations: p.Locations, Layer: p.Layer,
			})
			continue
		}
		counts[p.Ecosystem]++
		if cov := m.cover(p.Ecosystem); !cov.Covered {
			rep.Unknown = append(rep.Unknown, Unknown{Package: packageRef(p), Reason: cov.Reason, Locations: p.Locations, Layer: p.Layer})
			continue
		}
		res, err := m.matchPackage(ctx, p)
		if err != nil {
			return nil, err
		}
		for _, u := range res.unknown {
			u.Package, u.Locations, u.Layer = packageRef(p), p.Locations, p.Layer
			rep.Unknown = append(rep.Unknown, u)
		}
		if len(res.findings) > 0 {
			results = append(results, matched{p, res})
			total += len(res.findings)
		}
	}
	if total > 0 {
		rep.Findings = make([]Finding, 0, total)
	}
	for _, r := range results {
		ref := packageRef(r.pkg)
		for _, f := range r.res.findings {
			f.Package, f.Locations, f.Layer = ref, r.pkg.Locations, r.pkg.Layer
			rep.Findings = append(rep.Findings, f)
		}
	}
	for eco, n := range counts {
		rep.Coverage = append(rep.Coverage, EcosystemCoverage{Ecosystem: eco, Coverage: m.coverage[eco], Packages: n})
	}
	sort.Slice(rep.Coverage, func(i, j int) bool { return rep.Coverage[i].Ecosystem < rep.Coverage[j].Ecosystem })

	if len(opts.VEX) > 0 {
		rep.Findings, rep.Suppressed = applyVEX(opts.VEX, inv.Subject, rep.Findings)
	}
	sortFindings(rep.Findings)
	slices.SortStableFunc(rep.Suppressed, func(a, b Suppressed) int { return findingCmp(&a.Finding, &b.Finding) })
	sortUnknown(rep.Unknown)
	sortUnknown(rep.NotMatchable)
	return rep, nil
}

func packageRef(p *inventory.Package) PackageRef {
	return PackageRef{
		Name: p.Name, Version: p.Version, Ecosystem: p.Ecosystem, PURL: p.PURL,
		SourceName: p.SourceName, SourceVersion: p.SourceVersion,
	}
}

// matcher holds one Run's caches: packages from one source package share
// their records and their result.
type matcher struct {
	src      Source
	versions *versionCache
	coverage map[string]Coverage
	records  map[string][]*osvschema.Vulnerability // by ecosystem + "\x00" + name
	results  map[pkgKey]pkgResult
	scores   scoreCache
}

type pkgKey struct{ eco, name, version string }

// pkgResult is the package-independent part of a package's result.
type pkgResult struct {
	findings []Finding
	unknown  []Unknown
}

func (m *matcher) cover(eco string) Coverage {
	c, ok := m.coverage[eco]
	if !ok {
		c = m.src.Coverage(eco)
		if !c.Covered && c.Reason == "" {
			c.Reason = fmt.Sprintf("no %s records in the database", eco)
		}
		m.coverage[eco] = c
	}
	return c
}

func (m *matcher) matchPackage(ctx context.Context, p *inventory.Package) (pkgResult, error) {
	eco, name := p.Ecosystem, p.MatchName()
	version := normalizeVersion(eco, name, p.MatchVersion())
	k := pkgKey{eco, name, version}
	if r, ok := m.results[k]; ok {
		return r, nil
	}
	recs, err := m.lookup(ctx, eco, name)
	if err != nil {
		return pkgResult{}, err
	}
	if baseEcosystem(eco) == "PyPI" {
		if norm := pep503(name); norm != name {
			more, err := m.lookup(ctx, eco, norm)
			if err != nil {
				return pkgResult{}, err
			}
			recs = mergeRecords(recs, more)
		}
	}
	var (
		res     pkgResult
		matches []recordMatch
	)
	for _, rec := range recs {
		if rec.GetWithdrawn() != nil {
			continue
		}
		rm, ok, err := m.evalRecord(rec, eco, name, version)
		if err != nil {
			res.unknown = append(res.unknown, Unknown{Vulnerability: rec.GetId(), Reason: err.Error()})
			continue
		}
		if ok {
			matches = append(matches, rm)
		}
	}
	res.findings = m.group(baseEcosystem(eco), version, matches)
	m.results[k] = res
	return res, nil
}

func (m *matcher) lookup(ctx context.Context, eco, name string) ([]*osvschema.Vulnerability, error) {
	k := eco + "\x00" + name
	if recs, ok := m.records[k]; ok {
		return recs, nil
	}
	recs, err := m.src.Vulnerabilities(ctx, eco, name)
	if err != nil {
		return nil, fmt.Errorf("look up %s package %s: %w", eco, name, err)
	}
	m.records[k] = recs
	return recs, nil
}

// mergeRecords appends the records of b that a does not have (by id).
func mergeRecords(a, b []*osvschema.Vulnerability) []*osvschema.Vulnerability {
	if len(b) == 0 {
		return a
	}
	seen := make(map[string]bool, len(a))
	for _, r := range a {
		seen[r.GetId()] = true
	}
	out := append([]*osvschema.Vulnerability(nil), a...)
	for _, r := range b {
		if !seen[r.GetId()] {
			out = append(out, r)
		}
	}
	return out
}

// recordMatch is one record that affects a package version.
type recordMatch struct {
	rec   *osvschema.Vulnerability
	fixed string
	sev   severityInfo
}

// evalRecord evaluates a record's affected entries for the package, as the
// OSV schema's IsVulnerable does.
func (m *matcher) evalRecord(rec *osvschema.Vulnerability, eco, name, version string) (recordMatch, bool, error) {
	rm := recordMatch{rec: rec}
	matched := false
	order := baseEcosystem(eco)
	for _, aff := range rec.GetAffected() {
		pkg := aff.GetPackage()
		if pkg.GetEcosystem() != eco || !sameName(order, pkg.GetName(), name) {
			continue
		}
		affected := inVersions(version, aff.GetVersions())
		fixed := ""
		for _, r := range aff.GetRanges() {
			var ord string
			switch r.GetType() {
			case osvschema.Range_ECOSYSTEM:
				ord = order
			case osvschema.Range_SEMVER:
				ord = semverOrder
			default:
				continue // GIT ranges need the repository; versions[] stands for them
			}
			if _, err := m.versions.parse(ord, version); err != nil {
				if affected {
					continue // listed in versions: affected whatever the ranges say
				}
				return rm, false, fmt.Errorf("cannot compare installed version: %w", err)
			}
			rr, err := evalRange(m.versions, ord, version, r)
			if err != nil {
				return rm, false, err
			}
			if rr.affected {
				affected = true
				if rr.fixed != "" && (fixed == "" || m.less(ord, rr.fixed, fixed)) {
					fixed = rr.fixed
				}
			}
		}
		if !affected {
			continue
		}
		if !matched {
			rm.sev = recordSeverity(rec, aff, m.scores)
		}
		if fixed != "" && (rm.fixed == "" || m.less(order, fixed, rm.fixed)) {
			rm.fixed = fixed
		}
		matched = true
	}
	return rm, matched, nil
}

// less compares two versions under order, falling back to string order
// when either does not parse.
func (m *matcher) less(order, a, b string) bool {
	if n, err := m.versions.compare(order, a, b); err == nil {
		return n < 0
	}
	return a < b
}

// inVersions reports whether v is in an affected entry's versions list.
// The list is compared as strings, as the OSV schema's IncludedInVersions
// does (a leading "v" aside, which Go versions have and records do not).
func inVersions(v string, list []string) bool {
	tv := strings.TrimPrefix(v, "v")
	for _, l := range list {
		if l == v || strings.TrimPrefix(l, "v") == tv {
			return true
		}
	}
	return false
}

// sameName compares package names as the ecosystem does: PyPI names are
// case-insensitive and treat runs of "-", "_" and "." alike (PEP 503).
func sameName(order, a, b string) bool {
	if a == b {
		return true
	}
	if order == "PyPI" {
		return pep503(a) == pep503(b)
	}
	return false
}

func pep503(s string) string {
	var b strings.Builder
	sep := false
	for _, r := range strings.ToLower(s) {
		if r == '-' || r == '_' || r == '.' {
			sep = true
			continue
		}
		if sep && b.Len() > 0 {
			b.WriteByte('-')
		}
		sep = false
		b.WriteRune(r)
	}
	return b.String()
}

// sortFindings sorts through an index and then permutes in place:
// findings are large to swap.
func sortFindings(fs []Finding) {
	idx := make([]int, len(fs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return findingCmp(&fs[a], &fs[b]) })
	// Position i receives fs[idx[i]]; follow each cycle once.
	for i := range idx {
		if idx[i] < 0 {
			continue
		}
		tmp := fs[i]
		j := i
		for {
			k := idx[j]
			idx[j] = -1
			if k == i {
				fs[j] = tmp
				break
			}
			fs[j] = fs[k]
			j = k
		}
	}
}

// findingCmp orders by severity (most severe first), id, then package.
func findingCmp(a, b *Finding) int {
	if ra, rb := a.Severity.Rank(), b.Severity.Rank(); ra != rb {
		return rb - ra
	}
	if n := strings.Compare(a.ID, b.ID); n != 0 {
		return n
	}
	return pkgCmp(a.Package, b.Package, a.Locations, b.Locations)
}

func pkgCmp(a, b PackageRef, la, lb []string) int {
	if n := strings.Compare(a.Name, b.Name); n != 0 {
		return n
	}
	if n := strings.Compare(a.Version, b.Version); n != 0 {
		return n
	}
	if n := strings.Compare(a.Ecosystem, b.Ecosystem); n != 0 {
		return n
	}
	return slices.Compare(la, lb)
}

func sortUnknown(us []Unknown) {
	slices.SortStableFunc(us, func(a, b Unknown) int {
		if n := pkgCmp(a.Package, b.Package, a.Locations, b.Locations); n != 0 {
			return n
		}
		return strings.Compare(a.Vulnerability, b.Vulnerability)
	})
}
