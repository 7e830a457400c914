package match_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cssc-project/cssc/internal/inventory"
	"github.com/cssc-project/cssc/internal/match"
)

// benchData is a Debian 12 image of 400 packages from 250 source packages
// and a database of 4,000 records for them, shaped like the Debian OSV
// export: each record covers three releases; one in five affects the
// installed version.
func benchData(b *testing.B) (*memSource, inventory.Inventory) {
	const sources, packages, records = 250, 400, 4000
	src := newMemSource(b, map[string]match.Coverage{"Debian:12": covered()})
	inv := inventory.Inventory{Subject: inventory.Subject{Name: "registry.example/bench:1", Digest: imageDigest}}
	version := func(s int) string { return fmt.Sprintf("%d.%d.%d-%d+deb12u%d", s%7, s%13, s%29, s%5+1, s%3+1) }
	for i := range packages {
		s := i % sources
		p := deb(fmt.Sprintf("bin%d", i), version(s), fmt.Sprintf("src%d", s))
		if i < sources {
			p.SourceName = "" // the source's own binary package
			p.Name = fmt.Sprintf("src%d", s)
		}
		inv.Packages = append(inv.Packages, p)
	}
	for r := range records {
		s := r % sources
		// Most records of a source package were fixed before the
		// installed version; a few are fixed later or not at all.
		fixed := fmt.Sprintf("%d.%d.%d-%d", s%7, s%13, s%29, s%5+1) // below: not affected
		switch r % 10 {
		case 0:
			fixed = "" // unfixed
		case 1:
			fixed = fmt.Sprintf("%d.%d.%d-%d+deb12u%d", s%7, s%13, s%29, s%5+1, s%3+2) // above
		case 2:
			fixed = fmt.Sprintf("%d.%d.%d-%d~deb12u1", s%7, s%13, s%29, s%5) // below, with "~"
		}
		events := []string{"i:0"}
		if fixed != "" {
			events = append(events, "f:"+fixed)
		}
		src.add(b, osv(fmt.Sprintf("DEBIAN-CVE-2024-%05d", r), map[string]any{
			"summary":  "a vulnerability in a source package of the benchmark",
			"upstream": []string{fmt.Sprintf("CVE-2024-%05d", r)},
			"affected": []any{
				affected("Debian:11", fmt.Sprintf("src%d", s), "ECOSYSTEM", "i:0", "f:0.1-1"),
				affected("Debian:12", fmt.Sprintf("src%d", s), "ECOSYSTEM", events...),
				affected("Debian:13", fmt.Sprintf("src%d", s), "ECOSYSTEM", "i:0"),
			},
			"severity": []any{map[string]string{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}},
		}))
	}
	return src, inv
}

// BenchmarkMatch rescans one stored inventory per iteration; the goal is
// 10,000 inventories a minute on two cores, i.e. 12 ms of one core each.
func BenchmarkMatch(b *testing.B) {
	src, inv := benchData(b)
	ctx := context.Background()
	rep, err := match.Run(ctx, src, inv, match.Options{})
	if err != nil {
		b.Fatal(err)
	}
	if len(rep.Findings) == 0 || rep.Incomplete() {
		b.Fatalf("%d findings, incomplete %v", len(rep.Findings), rep.Incomplete())
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		if _, err := match.Run(ctx, src, inv, match.Options{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Minutes(), "inventories/min/core")
	b.ReportMetric(float64(len(rep.Findings)), "findings")
}

// BenchmarkMatchParallel rescans on every core at once, as a rescan of
// stored SBOMs does: inventories/min is the machine's throughput.
func BenchmarkMatchParallel(b *testing.B) {
	src, inv := benchData(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := match.Run(ctx, src, inv, match.Options{}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Minutes(), "inventories/min")
}
