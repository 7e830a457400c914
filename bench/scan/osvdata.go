package main

import (
	"archive/zip"
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// dpkgPackage is one installed package of a dpkg status file.
type dpkgPackage struct {
	Name, Version, Source, SourceVersion string
}

// parseDpkgStatus reads the installed packages of a dpkg status file
// (Status "install ok installed"); Source and SourceVersion default to
// the package's own name and version, as dpkg says.
func parseDpkgStatus(r io.Reader) ([]dpkgPackage, error) {
	var out []dpkgPackage
	fields := map[string]string{}
	flush := func() error {
		defer clear(fields)
		if len(fields) == 0 || fields["Status"] != "install ok installed" {
			return nil
		}
		p := dpkgPackage{Name: fields["Package"], Version: fields["Version"]}
		if p.Name == "" || p.Version == "" {
			return fmt.Errorf("dpkg status: a package paragraph without Package or Version: %v", fields)
		}
		p.Source, p.SourceVersion = p.Name, p.Version
		if src := fields["Source"]; src != "" {
			name, ver, hasVer := strings.Cut(src, " ")
			p.Source = name
			if hasVer {
				ver = strings.TrimSpace(ver)
				if !strings.HasPrefix(ver, "(") || !strings.HasSuffix(ver, ")") {
					return fmt.Errorf("dpkg status: package %s: malformed Source %q", p.Name, src)
				}
				p.SourceVersion = ver[1 : len(ver)-1]
			}
		}
		out = append(out, p)
		return nil
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	last := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.TrimSpace(line) == "":
			if err := flush(); err != nil {
				return nil, err
			}
		case line[0] == ' ' || line[0] == '\t':
			if last == "" {
				return nil, fmt.Errorf("dpkg status: continuation line before any field: %q", line)
			}
		default:
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				return nil, fmt.Errorf("dpkg status: malformed line %q", line)
			}
			last = k
			fields[k] = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read dpkg status: %w", err)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}

// sourcePackage is a source package installed in the image, with the
// binary packages built from it that are installed.
type sourcePackage struct {
	Name, Version string
	Binaries      []string
}

// sourcesOf groups binary packages by source package, sorted by name. A
// source installed at two versions (binaries from different builds) is
// refused: the generated expectations assume one version per source.
func sourcesOf(pkgs []dpkgPackage) ([]sourcePackage, error) {
	bySrc := map[string]*sourcePackage{}
	for _, p := range pkgs {
		s := bySrc[p.Source]
		if s == nil {
			s = &sourcePackage{Name: p.Source, Version: p.SourceVersion}
			bySrc[p.Source] = s
		} else if s.Version != p.SourceVersion {
			return nil, fmt.Errorf("source package %s is installed at two versions (%s, %s)", p.Source, s.Version, p.SourceVersion)
		}
		s.Binaries = append(s.Binaries, p.Name)
	}
	out := make([]sourcePackage, 0, len(bySrc))
	for _, s := range bySrc {
		slices.Sort(s.Binaries)
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b sourcePackage) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// The OSV record shape written (a subset of the OSV schema 1.6, only
// fields the schema defines, so strict parsers such as osv-scanner's
// accept every record).
type (
	osvRecord struct {
		SchemaVersion    string         `json:"schema_version"`
		ID               string         `json:"id"`
		Modified         string         `json:"modified"`
		Published        string         `json:"published"`
		Withdrawn        string         `json:"withdrawn,omitempty"`
		Upstream         []string       `json:"upstream,omitempty"`
		Related          []string       `json:"related,omitempty"`
		Summary          string         `json:"summary,omitempty"`
		Details          string         `json:"details"`
		Severity         []osvSeverity  `json:"severity,omitempty"`
		Affected         []osvAffected  `json:"affected"`
		References       []osvReference `json:"references,omitempty"`
		DatabaseSpecific map[string]any `json:"database_specific,omitempty"`
	}
	osvSeverity struct {
		Type  string `json:"type"`
		Score string `json:"score"`
	}
	osvAffected struct {
		Package  osvPackage `json:"package"`
		Ranges   []osvRange `json:"ranges,omitempty"`
		Versions []string   `json:"versions,omitempty"`
	}
	osvPackage struct {
		Ecosystem string `json:"ecosystem"`
		Name      string `json:"name"`
		PURL      string `json:"purl"`
	}
	osvRange struct {
		Type   string     `json:"type"`
		Events []osvEvent `json:"events"`
	}
	osvEvent struct {
		Introduced   string `json:"introduced,omitempty"`
		Fixed        string `json:"fixed,omitempty"`
		LastAffected string `json:"last_affected,omitempty"`
	}
	osvReference struct {
		Type string `json:"type"`
		URL  string `json:"url"`
	}
)

// recordKind is how a generated record relates to the installed version
// of its package, and so whether a correct scanner reports it.
type recordKind int

const (
	kindFixedAbove      recordKind = iota // introduced 0, fixed above installed: affected
	kindFixedBelow                        // fixed below installed: not affected
	kindUnfixed                           // introduced 0, no fix: affected
	kindFixedEqual                        // fixed in exactly the installed version: not affected
	kindWithdrawn                         // would affect, but withdrawn: not reported
	kindIntroducedAbove                   // introduced (and fixed) above installed: not affected
	kindOtherRelease                      // affects only Debian 11 and 13: not affected on 12
	kindLastAffected                      // last_affected = installed: affected
	kindVersionsList                      // explicit versions list holding installed: affected
	kindBinaryName                        // names a binary package, not the source: not matched
)

var kindNames = [...]string{"fixed-above", "fixed-below", "unfixed", "fixed-equal", "withdrawn",
	"introduced-above", "other-release", "last-affected", "versions-list", "binary-name"}

func (k recordKind) String() string { return kindNames[k] }

// affects reports whether a correct scanner reports a record of this kind.
func (k recordKind) affects() bool {
	return k == kindFixedAbove || k == kindUnfixed || k == kindLastAffected || k == kindVersionsList
}

// kindWeights are the kinds' shares among the image's records.
var kindWeights = [...]int{25, 30, 12, 6, 5, 5, 7, 4, 3, 3}

// expected is a (source package, record id) pair a correct scanner reports.
type expected struct {
	Source string `json:"source"`
	ID     string `json:"id"`
	Kind   string `json:"kind"`
}

// osvData is a generated Debian OSV database.
type osvData struct {
	Records []osvRecord
	// Expected are the image's (source, id) pairs a correct scanner
	// reports, sorted; ImageRecords counts the records naming image
	// packages, by kind.
	Expected     []expected
	ImageRecords map[string]int
}

// osvGenerator writes records with unique ids.
type osvGenerator struct {
	rng   *rand.Rand
	seq   int
	epoch time.Time
}

// generateOSV makes the records for the image's source packages (1–6 each,
// of the kinds above) and for other packages until total records exist.
func generateOSV(sources []sourcePackage, total int, seed uint64) (*osvData, error) {
	g := &osvGenerator{rng: rand.New(rand.NewPCG(seed, 0x05f)), epoch: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	d := &osvData{ImageRecords: map[string]int{}}
	inImage := map[string]bool{}
	for _, s := range sources {
		inImage[s.Name] = true
	}
	for _, s := range sources {
		n := 1 + g.rng.IntN(6)
		for range n {
			k := g.kind()
			binary := ""
			if k == kindBinaryName {
				// A binary package whose name no source package in the
				// image has (else the record would rightly match that one).
				if i := slices.IndexFunc(s.Binaries, func(b string) bool { return b != s.Name && !inImage[b] }); i >= 0 {
					binary = s.Binaries[i]
				} else {
					k = kindFixedBelow
				}
			}
			rec, err := g.record(s, k, binary)
			if err != nil {
				return nil, fmt.Errorf("generate a record for %s %s: %w", s.Name, s.Version, err)
			}
			d.Records = append(d.Records, rec)
			d.ImageRecords[k.String()]++
			if k.affects() {
				d.Expected = append(d.Expected, expected{Source: s.Name, ID: rec.ID, Kind: k.String()})
			}
		}
	}
	for i := 0; len(d.Records) < total; i++ {
		name := g.otherName(i)
		if inImage[name] {
			continue
		}
		n := 1 + g.rng.IntN(6)
		ver := fmt.Sprintf("%d.%d.%d-%d", g.rng.IntN(12), g.rng.IntN(30), g.rng.IntN(20), 1+g.rng.IntN(5))
		for range n {
			if len(d.Records) >= total {
				break
			}
			rec, err := g.record(sourcePackage{Name: name, Version: ver}, recordKind(g.rng.IntN(4)), "")
			if err != nil {
				return nil, fmt.Errorf("generate a record for %s %s: %w", name, ver, err)
			}
			d.Records = append(d.Records, rec)
		}
	}
	slices.SortFunc(d.Expected, func(a, b expected) int {
		return strings.Compare(a.Source+"\x00"+a.ID, b.Source+"\x00"+b.ID)
	})
	return d, nil
}

func (g *osvGenerator) kind() recordKind {
	sum := 0
	for _, w := range kindWeights {
		sum += w
	}
	n := g.rng.IntN(sum)
	for k, w := range kindWeights {
		if n < w {
			return recordKind(k)
		}
		n -= w
	}
	panic("unreachable")
}

// otherName is the name of a source package not in the image.
func (g *osvGenerator) otherName(i int) string {
	stems := []string{"lib", "python-", "node-", "golang-", "ruby-", "php-", "perl-lib", "r-cran-", "", ""}
	words := []string{"xml", "json", "image", "crypt", "net", "sql", "http", "font", "audio", "video",
		"gtk", "qt", "tls", "zip", "yaml", "ssh", "mail", "dns", "ldap", "kernel"}
	return fmt.Sprintf("%s%s%s%d", stems[i%len(stems)], words[(i/len(stems))%len(words)], "pkg", i)
}

// record makes one record of kind k for source package s (naming the
// binary package binary instead for kindBinaryName).
func (g *osvGenerator) record(s sourcePackage, k recordKind, binary string) (osvRecord, error) {
	g.seq++
	year := 2016 + g.rng.IntN(11)
	cve := fmt.Sprintf("CVE-%d-%d", year, 1000+g.seq)
	rec := osvRecord{
		SchemaVersion: "1.6.0",
		Published:     g.epoch.Add(-time.Duration(g.rng.IntN(3000*24)) * time.Hour).Format(time.RFC3339),
		Modified:      g.epoch.Add(-time.Duration(g.rng.IntN(300*24)) * time.Hour).Format(time.RFC3339),
		Details:       g.details(s.Name, cve),
		References: []osvReference{
			{Type: "ADVISORY", URL: "https://security-tracker.debian.org/tracker/" + cve},
			{Type: "WEB", URL: "https://www.cve.org/CVERecord?id=" + cve},
		},
	}
	switch r := g.rng.IntN(10); {
	case r < 7:
		rec.ID = "DEBIAN-" + cve
		rec.Upstream = []string{cve}
	case r < 9:
		rec.ID = fmt.Sprintf("DLA-%d-1", 3000+g.seq)
		rec.Summary = s.Name + " security update"
		for j := range 1 + g.rng.IntN(4) {
			rec.Upstream = append(rec.Upstream, fmt.Sprintf("CVE-%d-%d", year, 500000+g.seq*4+j))
		}
	default:
		rec.ID = fmt.Sprintf("DSA-%d-1", 5000+g.seq)
		rec.Summary = s.Name + " security update"
		rec.Upstream = []string{cve}
		rec.Related = []string{fmt.Sprintf("DLA-%d-1", 90000+g.seq)}
	}
	if g.rng.IntN(3) == 0 {
		rec.Severity = []osvSeverity{{Type: "CVSS_V3", Score: cvssVectors[g.rng.IntN(len(cvssVectors))]}}
	}
	rec.DatabaseSpecific = map[string]any{"source": "https://security-tracker.debian.org/tracker/data/json"}

	name, v := s.Name, s.Version
	above := func(x string) (string, error) { return aboveDebian(g.rng, x) }
	below := func(x string) (string, error) { return belowDebian(g.rng, x) }
	ranges := func(evs ...osvEvent) []osvRange { return []osvRange{{Type: "ECOSYSTEM", Events: evs}} }
	var aff osvAffected
	var err error
	switch k {
	case kindFixedAbove, kindWithdrawn:
		var f string
		if f, err = above(v); err == nil {
			aff.Ranges = ranges(osvEvent{Introduced: "0"}, osvEvent{Fixed: f})
		}
		if k == kindWithdrawn {
			rec.Withdrawn = g.epoch.Add(-24 * time.Hour).Format(time.RFC3339)
		}
	case kindFixedBelow:
		var f string
		if f, err = below(v); err == nil {
			aff.Ranges = ranges(osvEvent{Introduced: "0"}, osvEvent{Fixed: f})
		}
	case kindUnfixed:
		aff.Ranges = ranges(osvEvent{Introduced: "0"})
	case kindFixedEqual:
		aff.Ranges = ranges(osvEvent{Introduced: "0"}, osvEvent{Fixed: v})
	case kindIntroducedAbove:
		var in, f string
		if in, err = above(v); err == nil {
			if f, err = above(in); err == nil {
				aff.Ranges = ranges(osvEvent{Introduced: in}, osvEvent{Fixed: f})
			}
		}
	case kindOtherRelease:
		rec.Affected = []osvAffected{
			debAffected("Debian:11", name, ranges(osvEvent{Introduced: "0"})),
			debAffected("Debian:13", name, ranges(osvEvent{Introduced: "0"})),
		}
		return rec, nil
	case kindLastAffected:
		aff.Ranges = ranges(osvEvent{Introduced: "0"}, osvEvent{LastAffected: v})
	case kindVersionsList:
		var lo string
		if lo, err = below(v); err == nil {
			aff.Versions = []string{lo, v}
		}
	case kindBinaryName:
		name = binary
		aff.Ranges = ranges(osvEvent{Introduced: "0"})
	}
	if err != nil {
		return osvRecord{}, err
	}
	aff.Package = debPackage("Debian:12", name)
	rec.Affected = []osvAffected{aff}
	// Most records also cover other releases, as Debian's do.
	if g.rng.IntN(2) == 0 {
		rec.Affected = append([]osvAffected{debAffected("Debian:11", name, ranges(osvEvent{Introduced: "0"}))}, rec.Affected...)
	}
	if g.rng.IntN(2) == 0 {
		rec.Affected = append(rec.Affected, debAffected("Debian:13", name, ranges(osvEvent{Introduced: "0"}, osvEvent{Fixed: "99:0"})))
	}
	return rec, nil
}

func debPackage(eco, name string) osvPackage {
	return osvPackage{Ecosystem: eco, Name: name, PURL: "pkg:deb/debian/" + name + "?arch=source"}
}

func debAffected(eco, name string, rs []osvRange) osvAffected {
	return osvAffected{Package: debPackage(eco, name), Ranges: rs}
}

// details is a paragraph of the length real records have.
func (g *osvGenerator) details(name, cve string) string {
	parts := []string{
		fmt.Sprintf("A flaw was found in %s (%s).", name, cve),
		"A remote attacker could send crafted input that triggers an out-of-bounds read",
		"in the parsing code, leading to a denial of service or possibly disclosure of memory.",
		"Applications that process untrusted data with the affected functions are at risk.",
		"The issue was fixed upstream by validating lengths before copying.",
		"Debian's security tracker lists the affected releases and the fixed versions.",
	}
	return strings.Join(parts[:2+g.rng.IntN(len(parts)-1)], " ")
}

var cvssVectors = []string{
	"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
	"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H",
	"CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N",
	"CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:L/A:N",
	"CVSS:3.1/AV:L/AC:H/PR:H/UI:N/S:U/C:N/I:N/A:L",
}

// writeZip writes the records as an osv.dev export: a zip of <ID>.json.
func writeZip(path string, recs []osvRecord) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(f)
	mod := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for _, r := range recs {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: r.ID + ".json", Method: zip.Deflate, Modified: mod})
		if err != nil {
			_ = f.Close()
			return fmt.Errorf("write %s: %w", path, err)
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			_ = f.Close()
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	if err := zw.Close(); err != nil {
		_ = f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}
