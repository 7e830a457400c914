package match

import (
	"slices"
	"sort"
	"strings"
)

// group turns the records that affect one package version into findings,
// one per vulnerability: records are the same vulnerability when their ids
// and aliases overlap (OSV aliases are symmetric and transitive). Upstream
// and related ids are listed, never merged.
func (m *matcher) group(order, installed string, matches []recordMatch) []Finding {
	if len(matches) == 0 {
		return nil
	}
	if len(matches) == 1 {
		return []Finding{m.finding(order, installed, matches, []int{0})}
	}
	// Union-find over the records, joined through any shared id.
	parent := make([]int, len(matches))
	for i := range parent {
		parent[i] = i
	}
	find := func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	owner := make(map[string]int, len(matches)*3)
	for i, rm := range matches {
		for _, id := range append([]string{rm.rec.GetId()}, rm.rec.GetAliases()...) {
			if j, ok := owner[id]; ok {
				parent[find(i)] = find(j)
			} else {
				owner[id] = i
			}
		}
	}
	groups := map[int][]int{}
	var roots []int
	for i := range matches {
		r := find(i)
		if _, ok := groups[r]; !ok {
			roots = append(roots, r)
		}
		groups[r] = append(groups[r], i)
	}

	findings := make([]Finding, 0, len(roots))
	for _, r := range roots {
		findings = append(findings, m.finding(order, installed, matches, groups[r]))
	}
	return findings
}

// finding merges a group of records into one finding.
func (m *matcher) finding(order, installed string, matches []recordMatch, idx []int) Finding {
	var all []string
	for _, i := range idx {
		all = append(all, matches[i].rec.GetId())
		all = append(all, matches[i].rec.GetAliases()...)
	}
	slices.SortFunc(all, func(a, b string) int {
		if ra, rb := idRank(a), idRank(b); ra != rb {
			return ra - rb
		}
		return strings.Compare(a, b)
	})
	all = slices.Compact(all)
	ids := func(id string) bool {
		for _, a := range all {
			if a == id {
				return true
			}
		}
		return false
	}

	f := Finding{ID: all[0], Aliases: all[1:], Installed: installed, Severity: SeverityUnknown}
	if len(f.Aliases) == 0 {
		f.Aliases = nil
	}
	// Records in id order, so the summary is chosen deterministically:
	// the primary id's own record first.
	recs := idx
	if len(idx) > 1 {
		recs = append([]int(nil), idx...)
		sort.Slice(recs, func(a, b int) bool {
			ra, rb := matches[recs[a]].rec.GetId(), matches[recs[b]].rec.GetId()
			if (ra == f.ID) != (rb == f.ID) {
				return ra == f.ID
			}
			return idLess(ra, rb)
		})
	}
	var upstream, related []string
	first := true
	for _, i := range recs {
		rm := matches[i]
		if f.Summary == "" {
			f.Summary = rm.rec.GetSummary()
		}
		if first || rm.sev.better(severityInfo{Severity: f.Severity, Score: f.Score}) {
			f.Severity, f.Score, f.Vector = rm.sev.Severity, rm.sev.Score, rm.sev.Vector
		}
		first = false
		if rm.fixed != "" && (f.Fixed == "" || m.less(order, f.Fixed, rm.fixed)) {
			f.Fixed = rm.fixed
		}
		for _, u := range rm.rec.GetUpstream() {
			if !ids(u) {
				upstream = append(upstream, u)
			}
		}
		for _, r := range rm.rec.GetRelated() {
			if !ids(r) {
				related = append(related, r)
			}
		}
	}
	f.Upstream = sortedSet(upstream)
	f.Related = slices.DeleteFunc(sortedSet(related), func(r string) bool {
		_, found := slices.BinarySearch(f.Upstream, r)
		return found
	})
	if len(f.Related) == 0 {
		f.Related = nil
	}
	return f
}

// idLess orders vulnerability ids for choosing the primary one: CVE ids
// first, then GHSA ids, then the rest, each in string order.
func idLess(a, b string) bool {
	if ra, rb := idRank(a), idRank(b); ra != rb {
		return ra < rb
	}
	return a < b
}

func idRank(id string) int {
	switch {
	case strings.HasPrefix(id, "CVE-"):
		return 0
	case strings.HasPrefix(id, "GHSA-"):
		return 1
	}
	return 2
}

// sortedSet sorts ids and drops duplicates; nil when empty.
func sortedSet(ids []string) []string {
	if len(ids) == 0 {
		return nil
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}
