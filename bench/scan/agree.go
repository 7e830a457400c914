package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
)

// pair is a (source package, vulnerability id) a scanner reported.
type pair struct{ Source, ID string }

func (p pair) String() string { return p.Source + " " + p.ID }

// csscPairs reads a `cssc scan --format json` report: the (source
// package, id) pairs of its findings (a finding's id, not its aliases:
// the generated records have none). A report that is not complete (some
// packages unknown) is an error: it would not be comparable.
func csscPairs(path string) ([]pair, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rep struct {
		Complete *bool `json:"complete"`
		Findings []struct {
			ID      string   `json:"id"`
			Aliases []string `json:"aliases"`
			Package struct {
				Name       string `json:"name"`
				SourceName string `json:"source_name"`
			} `json:"package"`
		} `json:"findings"`
		Unknown []json.RawMessage `json:"unknown"`
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		return nil, fmt.Errorf("read cssc report %s: %w", path, err)
	}
	if rep.Complete == nil {
		return nil, fmt.Errorf("read cssc report %s: not a cssc JSON report (no \"complete\")", path)
	}
	if !*rep.Complete || len(rep.Unknown) > 0 {
		return nil, fmt.Errorf("cssc report %s is incomplete: %d unknown packages", path, len(rep.Unknown))
	}
	var out []pair
	for _, f := range rep.Findings {
		src := f.Package.SourceName
		if src == "" {
			src = f.Package.Name
		}
		out = append(out, pair{src, f.ID})
	}
	return uniquePairs(out), nil
}

// osvScannerPairs reads an `osv-scanner --format json` report: the
// (package, id) pairs of every vulnerability of every package (for
// Debian packages osv-scanner names the source package).
func osvScannerPairs(path string) ([]pair, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rep struct {
		Results *[]struct {
			Packages []struct {
				Package struct {
					Name      string `json:"name"`
					Ecosystem string `json:"ecosystem"`
				} `json:"package"`
				Vulnerabilities []struct {
					ID string `json:"id"`
				} `json:"vulnerabilities"`
			} `json:"packages"`
		} `json:"results"`
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		return nil, fmt.Errorf("read osv-scanner report %s: %w", path, err)
	}
	if rep.Results == nil {
		return nil, fmt.Errorf("read osv-scanner report %s: no \"results\"", path)
	}
	var out []pair
	for _, r := range *rep.Results {
		for _, p := range r.Packages {
			for _, v := range p.Vulnerabilities {
				out = append(out, pair{p.Package.Name, v.ID})
			}
		}
	}
	return uniquePairs(out), nil
}

func uniquePairs(ps []pair) []pair {
	slices.SortFunc(ps, func(a, b pair) int {
		if c := strings.Compare(a.Source, b.Source); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return slices.Compact(ps)
}

// diff returns the pairs of a not in b and of b not in a (both sorted).
func diff(a, b []pair) (onlyA, onlyB []pair) {
	in := func(s []pair, p pair) bool {
		_, ok := slices.BinarySearchFunc(s, p, func(x, y pair) int {
			if c := strings.Compare(x.Source, y.Source); c != 0 {
				return c
			}
			return strings.Compare(x.ID, y.ID)
		})
		return ok
	}
	for _, p := range a {
		if !in(b, p) {
			onlyA = append(onlyA, p)
		}
	}
	for _, p := range b {
		if !in(a, p) {
			onlyB = append(onlyB, p)
		}
	}
	return onlyA, onlyB
}

// agreement compares the two scanners with each other and with the
// generator's expectations.
type agreement struct {
	Expected, Cssc, OSV            []pair
	CsscMissing, CsscExtra         []pair // against Expected
	OSVMissing, OSVExtra           []pair // against Expected
	OnlyCssc, OnlyOSV              []pair // cssc against osv-scanner
	ExpectedKinds                  map[pair]string
	SameIDs, SamePairs, CsscIsTrue bool
}

func compare(exp []expected, cssc, osv []pair) agreement {
	a := agreement{Cssc: cssc, OSV: osv, ExpectedKinds: map[pair]string{}}
	for _, e := range exp {
		p := pair{e.Source, e.ID}
		a.Expected = append(a.Expected, p)
		a.ExpectedKinds[p] = e.Kind
	}
	a.Expected = uniquePairs(a.Expected)
	a.CsscExtra, a.CsscMissing = diff(cssc, a.Expected)
	a.OSVExtra, a.OSVMissing = diff(osv, a.Expected)
	a.OnlyCssc, a.OnlyOSV = diff(cssc, osv)
	a.SamePairs = len(a.OnlyCssc) == 0 && len(a.OnlyOSV) == 0
	a.SameIDs = slices.Equal(ids(cssc), ids(osv))
	a.CsscIsTrue = len(a.CsscExtra) == 0 && len(a.CsscMissing) == 0
	return a
}

func ids(ps []pair) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.ID)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// sbomSummary is what an SPDX document says about the image's Debian
// packages.
type sbomSummary struct {
	Packages []string // "name version", sorted
	Licensed int      // of them, with a declared or concluded licence
}

// spdxDebian reads an SPDX JSON document's Debian packages (PURL type deb).
func spdxDebian(path string) (sbomSummary, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return sbomSummary{}, err
	}
	type ref struct {
		Type    string `json:"referenceType"`
		Locator string `json:"referenceLocator"`
	}
	var doc struct {
		Packages []struct {
			Name             string `json:"name"`
			Version          string `json:"versionInfo"`
			LicenseDeclared  string `json:"licenseDeclared"`
			LicenseConcluded string `json:"licenseConcluded"`
			ExternalRefs     []ref  `json:"externalRefs"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return sbomSummary{}, fmt.Errorf("read SPDX %s: %w", path, err)
	}
	known := func(l string) bool { return l != "" && l != "NOASSERTION" && l != "NONE" }
	var s sbomSummary
	for _, p := range doc.Packages {
		if !slices.ContainsFunc(p.ExternalRefs, func(r ref) bool { return r.Type == "purl" && strings.HasPrefix(r.Locator, "pkg:deb/") }) {
			continue
		}
		s.Packages = append(s.Packages, p.Name+" "+p.Version)
		if known(p.LicenseDeclared) || known(p.LicenseConcluded) {
			s.Licensed++
		}
	}
	slices.Sort(s.Packages)
	s.Packages = slices.Compact(s.Packages)
	return s, nil
}
