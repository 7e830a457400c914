// Command scan-bench measures image analysis: the wall time and peak memory
// of `cssc scan` (SBOM and vulnerability matching in one command) and
// `cssc sbom` beside osv-scanner (v2.5.0, offline, with the same OSV data)
// and syft (v1.20.0, SBOM only), in the same run on the same machine, and
// the rate at which stored SBOMs are scanned again (decoded and matched)
// against the database, as a server does when new vulnerability data
// arrives.
//
// The inputs are made from a Debian root file system that bench/scan/run.sh
// makes with debootstrap (--rootfs):
//
//   - the bench image: the root file system as one layer, written as a
//     docker save archive (about 110 MB uncompressed);
//   - the 1 GB image: the same plus three layers of random (incompressible)
//     files, one of which deletes a file of an earlier one;
//   - a Debian OSV database (--records records, the size of Debian's real
//     export): 1–6 records for each source package of the image, of kinds
//     whose correct verdict is known (fixed above or below the installed
//     version, unfixed, withdrawn, other releases only, last_affected,
//     explicit versions, a binary package's name…), and records for other
//     packages; one all.zip that `cssc db import` reads and osv-scanner
//     finds in its local database directory.
//
// Before timing, it checks that cssc and osv-scanner report the same
// (source package, vulnerability) pairs, and compares both with what the
// generator expects. Each round then runs every tool once per image, in
// an order that rotates and reverses between rounds (the machine is
// shared and noisy); the tables give medians over rounds and the median of
// the per-round ratios. Wall time, CPU time and peak RSS come from the
// child's wait4 rusage.
//
// The rescan measure (in process: internal/sbom.Decode, internal/match.Run,
// internal/vulndb) stores --sboms variants of the bench image's SBOM (a
// quarter of the packages at other versions) as SPDX and as CycloneDX
// files, and decodes and matches all of them with --workers goroutines
// against a freshly opened database, per round; it checks every result
// against matching the variant's inventory directly.
//
//	go run ./bench/scan --cssc bin/cssc --osv-scanner OSV --syft SYFT --rootfs DIR --rounds 3
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/cssc-project/cssc/bench/internal/benchutil"
	"github.com/cssc-project/cssc/internal/analysis"
	"github.com/cssc-project/cssc/internal/extract"
	"github.com/cssc-project/cssc/internal/imagefs"
	"github.com/cssc-project/cssc/internal/inventory"
	"github.com/cssc-project/cssc/internal/match"
	"github.com/cssc-project/cssc/internal/sbom"
	"github.com/cssc-project/cssc/internal/vulndb"
)

type settings struct {
	csscBin, osvScanner, syft string
	rootfs, cache             string
	rounds                    int
	records                   int
	sboms, workers            int
	seed                      uint64
	noBig, keep               bool
	profileDir                string
	prepareOnly               bool
}

func main() {
	var s settings
	flag.StringVar(&s.csscBin, "cssc", "bin/cssc", "cssc binary")
	flag.StringVar(&s.osvScanner, "osv-scanner", "", "osv-scanner binary (scripts/tools.sh --path osv-scanner)")
	flag.StringVar(&s.syft, "syft", "", "syft binary (scripts/tools.sh --path syft)")
	flag.StringVar(&s.rootfs, "rootfs", ".bench-cache/scan/rootfs", "Debian root file system (debootstrap) the images are made of")
	flag.StringVar(&s.cache, "cache", ".bench-cache/scan", "where the images and OSV data are kept between runs")
	flag.IntVar(&s.rounds, "rounds", 3, "repetitions; medians are reported")
	flag.IntVar(&s.records, "records", 50_000, "OSV records in the generated Debian database")
	flag.IntVar(&s.sboms, "sboms", 2_000, "stored SBOMs per format in the rescan measure")
	flag.IntVar(&s.workers, "workers", 2, "goroutines of the rescan measure")
	flag.Uint64Var(&s.seed, "seed", 1, "seed of the generated data")
	flag.BoolVar(&s.noBig, "no-big", false, "skip the 1 GB image")
	flag.BoolVar(&s.keep, "keep", false, "keep the run directory (reports, SBOMs, database) and print it")
	flag.StringVar(&s.profileDir, "profile-dir", "", "write CPU profiles of cssc's stages, run in process, here")
	flag.BoolVar(&s.prepareOnly, "prepare-only", false, "only make the cached inputs (for bench/malware: with --no-big, the bench image) and exit")
	flag.Parse()
	if s.prepareOnly {
		if _, err := prepare(s); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if s.osvScanner == "" || s.syft == "" {
		fmt.Fprintln(os.Stderr, "bench: --osv-scanner and --syft are required (bench/scan/run.sh passes them)")
		os.Exit(2)
	}
	if err := run(context.Background(), s); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// logf reports progress on stderr.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// inputs are the images and data a run measures with.
type inputs struct {
	base, big         string // docker save archives
	baseBytes         int64  // uncompressed layer bytes
	bigBytes          int64
	packages, sources int
	osvZip, osvDir    string // the zip; osv-scanner's --local-db-path
	data              *osvData
}

func run(ctx context.Context, s settings) error {
	for _, p := range []*string{&s.csscBin, &s.osvScanner, &s.syft, &s.rootfs, &s.cache} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return err
		}
		*p = abs
	}
	in, err := prepare(s)
	if err != nil {
		return err
	}
	runDir, err := os.MkdirTemp(s.cache, "run-")
	if err != nil {
		return err
	}
	if s.keep {
		logf("run directory: %s", runDir)
	} else {
		defer func() { _ = os.RemoveAll(runDir) }()
	}
	tmpDir := filepath.Join(runDir, "tmp")
	dbDir := filepath.Join(runDir, "cssc-db")
	if err := os.MkdirAll(tmpDir, 0o755); err != nil {
		return err
	}

	// The database: cssc imports the zip osv-scanner reads.
	start := time.Now()
	if out, err := exec.CommandContext(ctx, s.csscBin, "db", "import", in.osvZip, "--db-dir", dbDir).CombinedOutput(); err != nil {
		return fmt.Errorf("cssc db import: %w\n%s", err, out)
	}
	importTime := time.Since(start)
	logf("cssc db import of %d records: %.1f s", len(in.data.Records), importTime.Seconds())

	tools := []tool{
		{Name: "cssc scan", Args: []string{s.csscBin, "scan", "docker-archive:{IMAGE}", "--db-dir", dbDir, "--format", "json", "-o", "{OUT}", "--log-level", "warn"}, OK: []int{0, 1}},
		{Name: "cssc sbom", Args: []string{s.csscBin, "sbom", "docker-archive:{IMAGE}", "--format", "spdx-json", "-o", "{OUT}", "--log-level", "warn"}, OK: []int{0}},
		{Name: "osv-scanner", Args: []string{s.osvScanner, "scan", "image", "--archive", "--offline", "--offline-vulnerabilities",
			"--local-db-path", in.osvDir, "--format", "json", "--output-file", "{OUT}", "--verbosity", "error", "{IMAGE}"}, OK: []int{0, 1}},
		{Name: "syft", Args: []string{s.syft, "docker-archive:{IMAGE}", "-o", "spdx-json={OUT}", "-q"},
			Env: []string{"SYFT_CHECK_FOR_APP_UPDATE=false"}, OK: []int{0}},
	}
	outPath := func(t tool, img string) string {
		return filepath.Join(runDir, strings.ReplaceAll(t.Name, " ", "-")+"-"+img+".json")
	}

	// Agreement (and warm-up: the first run of each tool is not timed).
	logf("agreement check on the bench image")
	for _, t := range tools {
		if _, err := t.run(ctx, in.base, outPath(t, "base"), tmpDir); err != nil {
			return err
		}
	}
	csscP, err := csscPairs(outPath(tools[0], "base"))
	if err != nil {
		return err
	}
	osvP, err := osvScannerPairs(outPath(tools[2], "base"))
	if err != nil {
		return err
	}
	agree := compare(in.data.Expected, csscP, osvP)
	csscSBOM, err := spdxDebian(outPath(tools[1], "base"))
	if err != nil {
		return err
	}
	syftSBOM, err := spdxDebian(outPath(tools[3], "base"))
	if err != nil {
		return err
	}

	images := []struct{ key, path string }{{"base", in.base}, {"big", in.big}}
	if s.noBig {
		images = images[:1]
	} else if err := readAll(in.big); err != nil { // into the page cache, as the base image already is
		return err
	}
	res := map[string]map[string][]measurement{}
	for _, im := range images {
		res[im.key] = map[string][]measurement{}
	}
	for r := range s.rounds {
		order := rotate(tools, r)
		for _, im := range images {
			for _, t := range order {
				m, err := t.run(ctx, im.path, outPath(t, im.key), tmpDir)
				if err != nil {
					return err
				}
				res[im.key][t.Name] = append(res[im.key][t.Name], m)
				logf("round %d %s %-12s %6.2f s  cpu %6.2f s  rss %5d MiB", r+1, im.key, t.Name, m.Wall.Seconds(), m.CPU.Seconds(), m.MaxRSS>>20)
			}
		}
	}

	// Rescan of stored SBOMs, in process.
	inv, err := inventoryOf(ctx, in.base, tmpDir)
	if err != nil {
		return err
	}
	var rescans []rescanResult
	for _, f := range []sbom.Format{sbom.FormatSPDXJSON, sbom.FormatCycloneDXJSON} {
		rr, err := measureRescan(ctx, s, dbDir, inv, f, filepath.Join(runDir, "sboms", string(f)))
		if err != nil {
			return fmt.Errorf("rescan %s: %w", f, err)
		}
		rescans = append(rescans, rr)
	}
	if s.profileDir != "" {
		if err := profileStages(ctx, s, in, dbDir, tmpDir); err != nil {
			return err
		}
	}

	report(os.Stdout, s, in, importTime, agree, [2]sbomSummary{csscSBOM, syftSBOM}, images, res, rescans)
	return nil
}

// rotate is the order of the tools in round r: rotated by r, reversed in
// odd rounds.
func rotate(ts []tool, r int) []tool {
	out := make([]tool, 0, len(ts))
	for i := range ts {
		out = append(out, ts[(i+r)%len(ts)])
	}
	if r%2 == 1 {
		slices.Reverse(out)
	}
	return out
}

func readAll(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(io.Discard, f)
	return err
}

// prepare makes (or finds in the cache) the images and the OSV data.
func prepare(s settings) (*inputs, error) {
	stamp, err := os.Stat(filepath.Join(s.rootfs, ".complete"))
	if err != nil {
		return nil, fmt.Errorf("root file system %s not ready (bench/scan/run.sh makes it): %w", s.rootfs, err)
	}
	fresh := func(p string) bool {
		st, err := os.Stat(p)
		return err == nil && st.ModTime().After(stamp.ModTime())
	}
	layers := filepath.Join(s.cache, "layers")
	images := filepath.Join(s.cache, "images")
	for _, d := range []string{layers, images} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	in := &inputs{base: filepath.Join(images, "debian-12.tar")}

	baseLayer := filepath.Join(layers, "rootfs.tar")
	if !fresh(baseLayer) {
		logf("writing the root file system layer")
		if err := writeRootfsLayer(s.rootfs, baseLayer); err != nil {
			return nil, err
		}
	}
	const mib = 1 << 20
	var assets []randomFile
	for i := range 256 {
		assets = append(assets, randomFile{fmt.Sprintf("/opt/app/assets/part-%03d.bin", i), mib})
	}
	bigLayers := []struct {
		files  []randomFile
		remove []string
	}{
		{[]randomFile{{"/opt/data/blob-0.bin", 128 * mib}, {"/opt/data/blob-1.bin", 128 * mib}, {"/opt/data/blob-2.bin", 128 * mib}}, nil},
		{assets, nil},
		{[]randomFile{{"/srv/cache/chunk-0.bin", 128 * mib}, {"/srv/cache/chunk-1.bin", 128 * mib}}, []string{"/opt/data/blob-1.bin"}},
	}
	// Generated files are named by what they hold, so a change here
	// makes new ones instead of reusing stale ones.
	bigTars := []string{baseLayer}
	for i, l := range bigLayers {
		seed := s.seed*100 + uint64(i)
		p := filepath.Join(layers, fmt.Sprintf("random-%d-%s.tar", i+1, shortHash(l.files, l.remove, seed)))
		bigTars = append(bigTars, p)
		if s.noBig || fresh(p) {
			continue
		}
		logf("writing %s", filepath.Base(p))
		if err := writeRandomLayer(p, l.files, l.remove, seed); err != nil {
			return nil, err
		}
	}
	in.big = filepath.Join(images, "debian-12-1g-"+shortHash(bigTars)+".tar")
	if !fresh(in.base) {
		logf("writing the bench image")
		if err := writeArchive(in.base, "bench.local/debian:12", []string{baseLayer}); err != nil {
			return nil, err
		}
	}
	if !s.noBig && !fresh(in.big) {
		logf("writing the 1 GB image")
		if err := writeArchive(in.big, "bench.local/debian-1g:12", bigTars); err != nil {
			return nil, err
		}
	}
	for i, p := range bigTars {
		st, err := os.Stat(p)
		if err != nil {
			if s.noBig {
				continue
			}
			return nil, err
		}
		in.bigBytes += st.Size()
		if i == 0 {
			in.baseBytes = st.Size()
		}
	}

	// OSV data for the image's packages.
	f, err := os.Open(filepath.Join(s.rootfs, "var/lib/dpkg/status"))
	if err != nil {
		return nil, err
	}
	pkgs, err := parseDpkgStatus(f)
	_ = f.Close()
	if err != nil {
		return nil, err
	}
	srcs, err := sourcesOf(pkgs)
	if err != nil {
		return nil, err
	}
	in.packages, in.sources = len(pkgs), len(srcs)
	if in.data, err = generateOSV(srcs, s.records, s.seed); err != nil {
		return nil, err
	}
	in.osvDir = filepath.Join(s.cache, fmt.Sprintf("osv-%d-%d", s.records, s.seed))
	// osv-scanner v2.5.0 (osv-scalibr's osvlocal) reads
	// <local-db-path>/osv-scalibr/<ecosystem>/all.zip.
	in.osvZip = filepath.Join(in.osvDir, "osv-scalibr", "Debian", "all.zip")
	logf("writing %d OSV records", len(in.data.Records))
	if err := writeZip(in.osvZip, in.data.Records); err != nil {
		return nil, err
	}
	exp, err := json.MarshalIndent(in.data.Expected, "", "  ")
	if err != nil {
		return nil, err
	}
	return in, os.WriteFile(filepath.Join(in.osvDir, "expected.json"), exp, 0o644)
}

// shortHash names generated files by their parameters.
func shortHash(v ...any) string {
	sum := sha256.Sum256(fmt.Append(nil, v...))
	return hex.EncodeToString(sum[:6])
}

// inventoryOf reads an image's inventory with the library, as cssc does.
func inventoryOf(ctx context.Context, archive, tmpDir string) (inventory.Inventory, error) {
	imgs, err := imagefs.Open(ctx, "docker-archive:"+archive, imagefs.OpenOptions{})
	if err != nil {
		return inventory.Inventory{}, err
	}
	if len(imgs) != 1 {
		return inventory.Inventory{}, fmt.Errorf("%s: %d images, want 1", archive, len(imgs))
	}
	return extract.Image(ctx, imgs[0], extract.Options{TempDir: tmpDir})
}

// rescanResult is the rescan measure of one SBOM format.
type rescanResult struct {
	Format     sbom.Format
	N          int
	Bytes      int64 // of all stored documents
	Rates      []float64
	CPU        []time.Duration // this process's CPU time per round (both workers, GC included)
	Findings   int             // over all SBOMs
	Mismatched int             // SBOMs whose findings differ from matching the inventory directly
}

func measureRescan(ctx context.Context, s settings, dbDir string, inv inventory.Inventory, f sbom.Format, dir string) (rescanResult, error) {
	logf("rescan: writing %d %s SBOMs", s.sboms, f)
	paths, err := storedSBOMs(inv, f, s.sboms, s.seed, dir)
	if err != nil {
		return rescanResult{}, err
	}
	rr := rescanResult{Format: f, N: len(paths)}
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return rr, err
		}
		rr.Bytes += st.Size()
	}
	ref, err := referenceFindings(ctx, dbDir, inv, s.sboms, s.seed)
	if err != nil {
		return rr, err
	}
	for r := range s.rounds {
		runtime.GC()
		prof := ""
		if s.profileDir != "" && r == 0 {
			prof = filepath.Join(s.profileDir, "rescan-"+string(f)+".cpu.pprof")
		}
		cpu0 := processCPU()
		d, found, err := rescanRound(ctx, dbDir, paths, s.workers, prof)
		if err != nil {
			return rr, err
		}
		cpu := processCPU() - cpu0
		rr.CPU = append(rr.CPU, cpu)
		rate := float64(len(paths)) / d.Minutes()
		rr.Rates = append(rr.Rates, rate)
		mismatched, total := 0, 0
		for i := range found {
			total += len(found[i])
			if !slices.Equal(found[i], ref[i]) {
				mismatched++
			}
		}
		if r == 0 {
			rr.Findings, rr.Mismatched = total, mismatched
		} else if total != rr.Findings || mismatched != rr.Mismatched {
			return rr, fmt.Errorf("round %d found %d findings (%d SBOMs mismatched), round 1 %d (%d)", r+1, total, mismatched, rr.Findings, rr.Mismatched)
		}
		logf("rescan %s round %d: %d SBOMs in %.2f s = %.0f /min, CPU %.2f ms per SBOM, %d findings, %d SBOMs differ from direct matching",
			f, r+1, len(paths), d.Seconds(), rate, float64(cpu.Microseconds())/1000/float64(len(paths)), total, mismatched)
	}
	return rr, nil
}

// processCPU is the user and system time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// profileStages runs cssc's stages in process under the CPU profiler:
// reading the bench image into an inventory (imagefs + extract), matching
// it (vulndb + match), and reading the 1 GB image.
func profileStages(ctx context.Context, s settings, in *inputs, dbDir, tmpDir string) error {
	if err := os.MkdirAll(s.profileDir, 0o755); err != nil {
		return err
	}
	prof := func(name string, fn func() error) error {
		f, err := os.Create(filepath.Join(s.profileDir, name))
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
		return fn()
	}
	var inv inventory.Inventory
	if err := prof("inventory.cpu.pprof", func() (err error) {
		for range 5 {
			if inv, err = inventoryOf(ctx, in.base, tmpDir); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	if err := prof("match.cpu.pprof", func() error {
		for range 20 {
			db, err := vulndb.Open(ctx, dbDir)
			if err != nil {
				return err
			}
			_, err = match.Run(ctx, analysis.DBSource(db), inv, match.Options{})
			_ = db.Close()
			if err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	if s.noBig {
		return nil
	}
	return prof("inventory-1g.cpu.pprof", func() error {
		_, err := inventoryOf(ctx, in.big, tmpDir)
		return err
	})
}

// report prints the results as markdown.
func report(w io.Writer, s settings, in *inputs, importTime time.Duration, a agreement, sboms [2]sbomSummary,
	images []struct{ key, path string }, res map[string]map[string][]measurement, rescans []rescanResult) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	mb := func(b int64) float64 { return float64(b) / 1e6 }
	st := func(path string) int64 {
		fi, err := os.Stat(path)
		if err != nil {
			return 0
		}
		return fi.Size()
	}
	p("## Image analysis: %d rounds, %s", s.rounds, time.Now().Format(time.DateOnly))
	p("")
	p("Inputs: bench image %.0f MB uncompressed (%.0f MB archive), %d Debian 12 packages from %d source packages;", mb(in.baseBytes), mb(st(in.base)), in.packages, in.sources)
	if len(images) > 1 {
		p("1 GB image %.0f MB uncompressed in 4 layers (%.0f MB archive);", mb(in.bigBytes), mb(st(in.big)))
	}
	p("OSV data: %d Debian records (all.zip %.1f MB), %d of them for the image's source packages; `cssc db import`: %.1f s.",
		len(in.data.Records), mb(st(in.osvZip)), sum(in.data.ImageRecords), importTime.Seconds())
	p("")
	names := map[string]string{"base": "bench image", "big": "1 GB image"}
	for _, im := range images {
		r := res[im.key]
		p("| %s (median of %d) | wall | / osv-scanner (per-round median) | CPU | peak RSS |", names[im.key], s.rounds)
		p("|---|---:|---:|---:|---:|")
		for _, t := range []string{"cssc scan", "osv-scanner", "cssc sbom", "syft"} {
			ms := r[t]
			ratio := ""
			if t != "osv-scanner" {
				ratio = fmt.Sprintf("%.2f×", perRoundRatio(ms, r["osv-scanner"]))
			}
			p("| %s | %.2f s | %s | %.2f s | %.0f MiB |", t, medianOf(ms, func(m measurement) float64 { return m.Wall.Seconds() }),
				ratio, medianOf(ms, func(m measurement) float64 { return m.CPU.Seconds() }),
				medianOf(ms, func(m measurement) float64 { return float64(m.MaxRSS) })/(1<<20))
		}
		p("")
		p("cssc sbom / syft (per-round median): %.2f×; spread of cssc scan / osv-scanner over rounds: %s",
			perRoundRatio(r["cssc sbom"], r["syft"]), spread(r["cssc scan"], r["osv-scanner"]))
		p("")
	}
	p("| rescan of stored SBOMs (%d workers, cold database per round) | SBOMs | stored size | SBOMs/min (median) | per round | CPU per SBOM (median) | SBOMs per minute of one core | findings | differ from direct matching |", s.workers)
	p("|---|---:|---:|---:|---|---:|---:|---:|---:|")
	for _, rr := range rescans {
		var rs []string
		for _, x := range rr.Rates {
			rs = append(rs, fmt.Sprintf("%.0f", x))
		}
		var cpu []float64
		for _, c := range rr.CPU {
			cpu = append(cpu, c.Seconds()*1000/float64(rr.N))
		}
		ms := benchutil.Median(cpu)
		p("| %s | %d | %.0f MB | %.0f | %s | %.2f ms | %.0f | %d | %d |", rr.Format, rr.N, mb(rr.Bytes), benchutil.Median(rr.Rates),
			strings.Join(rs, ", "), ms, 60000/ms, rr.Findings, rr.Mismatched)
	}
	p("")
	base := res["base"]
	ratio := perRoundRatio(base["cssc scan"], base["osv-scanner"])
	p("Goals:")
	p("- wall time, cssc scan ≤ 0.5× osv-scanner on the bench image: %.2f× — %s", ratio, met(ratio <= 0.5))
	if big, ok := res["big"]; ok {
		rss := medianOf(big["cssc scan"], func(m measurement) float64 { return float64(m.MaxRSS) }) / (1 << 20)
		rssSBOM := medianOf(big["cssc sbom"], func(m measurement) float64 { return float64(m.MaxRSS) }) / (1 << 20)
		p("- peak memory ≤ 300 MB on the 1 GB image: cssc scan %.0f MiB, cssc sbom %.0f MiB — %s", rss, rssSBOM, met(rss*1.048576 <= 300 && rssSBOM*1.048576 <= 300))
	}
	for _, rr := range rescans {
		m := benchutil.Median(rr.Rates)
		p("- rescan ≥ 10,000 SBOMs/min (%s): %.0f — %s", rr.Format, m, met(m >= 10000 && rr.Mismatched == 0))
	}
	p("")
	p("Agreement on the bench image, (source package, vulnerability id) pairs:")
	p("- expected (generator): %d; cssc: %d; osv-scanner: %d", len(a.Expected), len(a.Cssc), len(a.OSV))
	p("- same pairs: %v; same ids: %v; cssc equals expected: %v", a.SamePairs, a.SameIDs, a.CsscIsTrue)
	kind := func(ps []pair) string {
		var out []string
		for _, x := range ps {
			k := a.ExpectedKinds[x]
			if k == "" {
				k = "not expected"
			}
			out = append(out, x.String()+" ("+k+")")
		}
		if len(out) == 0 {
			return "none"
		}
		return strings.Join(out, ", ")
	}
	p("- only cssc: %s", kind(a.OnlyCssc))
	p("- only osv-scanner: %s", kind(a.OnlyOSV))
	p("- cssc missing (expected, not reported): %s", kind(a.CsscMissing))
	p("- cssc extra (reported, not expected): %s", kind(a.CsscExtra))
	p("- osv-scanner missing: %s", kind(a.OSVMissing))
	p("- osv-scanner extra: %s", kind(a.OSVExtra))
	var kinds []string
	for k, n := range in.data.ImageRecords {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
	}
	slices.Sort(kinds)
	p("- the image's records by kind: %s", strings.Join(kinds, ", "))
	onlyCssc, onlySyft := diffStrings(sboms[0].Packages, sboms[1].Packages)
	p("")
	p("SBOMs of the bench image (SPDX, Debian packages): cssc %d (%d with a licence), syft %d (%d with a licence); only cssc: %s; only syft: %s",
		len(sboms[0].Packages), sboms[0].Licensed, len(sboms[1].Packages), sboms[1].Licensed, orNone(onlyCssc), orNone(onlySyft))
}

func diffStrings(a, b []string) (onlyA, onlyB []string) {
	for _, x := range a {
		if !slices.Contains(b, x) {
			onlyA = append(onlyA, x)
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			onlyB = append(onlyB, x)
		}
	}
	return onlyA, onlyB
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

func medianOf(ms []measurement, f func(measurement) float64) float64 {
	var v []float64
	for _, m := range ms {
		v = append(v, f(m))
	}
	return benchutil.Median(v)
}

// perRoundRatio is the median over rounds of a's wall time over b's.
func perRoundRatio(a, b []measurement) float64 {
	var v []float64
	for i := range min(len(a), len(b)) {
		v = append(v, a[i].Wall.Seconds()/b[i].Wall.Seconds())
	}
	return benchutil.Median(v)
}

func spread(a, b []measurement) string {
	var v []float64
	for i := range min(len(a), len(b)) {
		v = append(v, a[i].Wall.Seconds()/b[i].Wall.Seconds())
	}
	if len(v) == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f–%.2f", slices.Min(v), slices.Max(v))
}
