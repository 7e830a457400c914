package vulndb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// ImportOptions tune Import.
type ImportOptions struct {
	// SkipInvalid counts records that are not valid OSV JSON (in
	// ImportResult.Invalid) instead of failing the import.
	SkipInvalid bool
	// Log receives warnings and progress; nil discards them.
	Log *slog.Logger
	// Now is the clock (imported-at times); nil means time.Now.
	Now func() time.Time
}

// ImportResult says what an import stored.
type ImportResult struct {
	// Families are the families replaced, with their record counts.
	Families []FamilyCount
	// Withdrawn records were left out.
	Withdrawn int
	// NoPackage counts records without an affected package to index
	// (e.g. only git ranges); they cannot match and are left out.
	NoPackage int
	// Invalid counts records skipped because they did not parse (only
	// with SkipInvalid); InvalidNames lists the first of them.
	Invalid      int
	InvalidNames []string
}

// FamilyCount is a family and its number of (non-withdrawn) records.
type FamilyCount struct {
	Family  string
	Records int
}

// Import reads osv.dev exports (per-ecosystem all.zip files) or
// directories of OSV JSON files (searched recursively) into the database
// in dir, creating it if needed.
//
// The families the paths hold replace those families' current data as a
// whole; other families are kept. A family is held by the paths when a
// record names it alone (a record naming two families, say Maven and npm,
// does not make the Maven export the source of all npm data); only when
// no record names a single family are all the families named taken.
//
// Nothing changes unless the whole import succeeds: a record that does
// not parse fails it with an *InvalidRecordError naming the file, unless
// opts.SkipInvalid.
func Import(ctx context.Context, dir string, opts ImportOptions, paths ...string) (ImportResult, error) {
	var res ImportResult
	if len(paths) == 0 {
		return res, errors.New("import: no export given")
	}
	log, now := opts.Log, opts.Now
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	lock, err := lockDir(ctx, dir)
	if err != nil {
		return res, fmt.Errorf("import: %w", err)
	}
	defer func() { _ = lock.Close() }()
	removeStale(dir, log)

	b, err := newBuilder(ctx, dir, log)
	if err != nil {
		return res, fmt.Errorf("import: %w", err)
	}
	defer b.abort()

	single, all := map[string]bool{}, map[string]bool{}
	origins := map[string][]string{}
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return res, fmt.Errorf("import %s: %w", p, err)
		}
		log.Info("importing", "path", abs)
		st, err := b.addSource(ctx, source{path: abs, origin: abs}, opts.SkipInvalid)
		if err != nil {
			return res, fmt.Errorf("import %s: %w", p, err)
		}
		res.Withdrawn += st.withdrawn
		res.NoPackage += st.noPackage
		res.Invalid += st.invalid
		for _, n := range st.invalidNames {
			if len(res.InvalidNames) < maxInvalidNames {
				res.InvalidNames = append(res.InvalidNames, n)
			}
		}
		for f := range st.all {
			all[f] = true
			origins[f] = append(origins[f], abs)
		}
		for f := range st.single {
			single[f] = true
		}
	}
	held := single
	if len(held) == 0 {
		held = all
	}
	if len(held) == 0 {
		return res, fmt.Errorf("import %s: no OSV records with an affected package", strings.Join(paths, ", "))
	}
	for f := range all {
		if !held[f] {
			log.Warn("records also name a family these exports do not hold as a whole; its data is left as it was",
				"family", f)
		}
	}
	covered := map[string]familyMeta{}
	for f := range held {
		covered[f] = familyMeta{source: strings.Join(origins[f], ", ")}
	}
	counts, err := b.finish(ctx, covered, now())
	if err != nil {
		return res, fmt.Errorf("import: %w", err)
	}
	res.Families = sortedCounts(counts)
	return res, nil
}

func sortedCounts(counts map[string]int) []FamilyCount {
	out := make([]FamilyCount, 0, len(counts))
	for f, n := range counts {
		out = append(out, FamilyCount{Family: f, Records: n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Family < out[j].Family })
	return out
}
