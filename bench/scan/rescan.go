package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	packageurl "github.com/package-url/packageurl-go"

	"github.com/cssc-project/cssc/bench/internal/benchutil"
	"github.com/cssc-project/cssc/internal/analysis"
	"github.com/cssc-project/cssc/internal/inventory"
	"github.com/cssc-project/cssc/internal/match"
	"github.com/cssc-project/cssc/internal/sbom"
	"github.com/cssc-project/cssc/internal/vulndb"
)

// variant is the inventory of a variation of the bench image: a quarter
// of its packages at other versions (above or below, as a fleet of images
// built at different times has), its own name and digest.
func variant(inv inventory.Inventory, i int, seed uint64) (inventory.Inventory, error) {
	rng := rand.New(rand.NewPCG(seed, uint64(i)))
	out := inv
	sum := sha256.Sum256(fmt.Appendf(nil, "bench-image-%d", i))
	out.Subject = inventory.Subject{
		Name:     fmt.Sprintf("registry.example/team%02d/app%d:1.%d", i%40, i%250, i),
		Digest:   "sha256:" + hex.EncodeToString(sum[:]),
		Platform: inv.Subject.Platform,
	}
	out.Packages = slices.Clone(inv.Packages)
	for j := range out.Packages {
		p := &out.Packages[j]
		if rng.IntN(4) != 0 || !strings.HasPrefix(p.Ecosystem, "Debian:") {
			continue
		}
		shift := aboveDebian
		if rng.IntN(2) == 0 {
			shift = belowDebian
		}
		v, err := shift(rng, p.Version)
		if err != nil {
			return inventory.Inventory{}, err
		}
		if p.SourceVersion != "" {
			if p.SourceVersion, err = shift(rng, p.SourceVersion); err != nil {
				return inventory.Inventory{}, err
			}
		}
		p.Version = v
		if p.PURL != "" {
			u, err := packageurl.FromString(p.PURL)
			if err != nil {
				return inventory.Inventory{}, fmt.Errorf("package %s: %w", p.Name, err)
			}
			u.Version = v
			p.PURL = u.ToString()
		}
	}
	return out, nil
}

// storedSBOMs writes n variants of inv as SBOM documents of format f into
// dir (one file each, as a server stores them) and returns their paths.
func storedSBOMs(inv inventory.Inventory, f sbom.Format, n int, seed uint64, dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	paths := make([]string, n)
	for i := range n {
		v, err := variant(inv, i, seed)
		if err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		if err := sbom.Encode(&buf, v, f, sbom.Options{Time: layerTime}); err != nil {
			return nil, err
		}
		paths[i] = filepath.Join(dir, fmt.Sprintf("%05d.json", i))
		if err := os.WriteFile(paths[i], buf.Bytes(), 0o644); err != nil {
			return nil, err
		}
	}
	return paths, nil
}

// rescanRound decodes and matches every stored SBOM with workers
// goroutines against a freshly opened database (cold caches, as after an
// update), and returns the time taken and each SBOM's findings as
// "package id" lines (for the consistency check).
func rescanRound(ctx context.Context, dbDir string, paths []string, workers int, profile string) (time.Duration, [][]string, error) {
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			return 0, nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return 0, nil, err
		}
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	db, err := vulndb.Open(ctx, dbDir)
	if err != nil {
		return 0, nil, err
	}
	defer func() { _ = db.Close() }()
	src := analysis.DBSource(db)
	found := make([][]string, len(paths))
	var next atomic.Int64
	err = benchutil.Parallel(workers, func() error {
		for {
			i := int(next.Add(1)) - 1
			if i >= len(paths) {
				return nil
			}
			f, err := os.Open(paths[i])
			if err != nil {
				return err
			}
			inv, _, err := sbom.Decode(f)
			_ = f.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", paths[i], err)
			}
			rep, err := match.Run(ctx, src, inv, match.Options{})
			if err != nil {
				return fmt.Errorf("%s: %w", paths[i], err)
			}
			if rep.Incomplete() {
				return fmt.Errorf("%s: %d packages could not be judged", paths[i], len(rep.Unknown))
			}
			found[i] = findingLines(rep)
		}
	})
	return time.Since(start), found, err
}

// findingLines are a report's findings as sorted "package version id" lines.
func findingLines(rep *match.Report) []string {
	out := make([]string, 0, len(rep.Findings))
	for _, f := range rep.Findings {
		out = append(out, f.Package.Name+" "+f.Installed+" "+f.ID)
	}
	slices.Sort(out)
	return out
}

// referenceFindings matches each variant's inventory directly (no SBOM
// in between): what every rescan must find.
func referenceFindings(ctx context.Context, dbDir string, inv inventory.Inventory, n int, seed uint64) ([][]string, error) {
	db, err := vulndb.Open(ctx, dbDir)
	if err != nil {
		return nil, err
	}
	defer func() { _ = db.Close() }()
	out := make([][]string, n)
	for i := range n {
		v, err := variant(inv, i, seed)
		if err != nil {
			return nil, err
		}
		rep, err := match.Run(ctx, analysis.DBSource(db), v, match.Options{})
		if err != nil {
			return nil, err
		}
		out[i] = findingLines(rep)
	}
	return out, nil
}
