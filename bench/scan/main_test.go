package main

import (
	"archive/tar"
	"archive/zip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/ossf/osv-schema/bindings/go/osvschema"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/cssc-project/cssc/internal/analysis"
	"github.com/cssc-project/cssc/internal/inventory"
	"github.com/cssc-project/cssc/internal/match"
	"github.com/cssc-project/cssc/internal/sbom"
	"github.com/cssc-project/cssc/internal/vulndb"
)

const testStatus = `Package: bash
Status: install ok installed
Version: 5.2.15-2+b13
Source: bash (5.2.15-2)
Description: GNU Bourne Again SHell
 Bash is an sh-compatible command language interpreter.
 .
 It has more lines.

Package: bsdutils
Status: install ok installed
Version: 1:2.38.1-5+deb12u3
Source: util-linux (2.38.1-5+deb12u3)

Package: libblkid1
Status: install ok installed
Version: 2.38.1-5+deb12u3
Source: util-linux

Package: removed
Status: deinstall ok config-files
Version: 1.0-1

Package: dash
Status: install ok installed
Version: 0.5.12-2
`

func TestParseDpkgStatus(t *testing.T) {
	got, err := parseDpkgStatus(strings.NewReader(testStatus))
	if err != nil {
		t.Fatal(err)
	}
	want := []dpkgPackage{
		{"bash", "5.2.15-2+b13", "bash", "5.2.15-2"},
		{"bsdutils", "1:2.38.1-5+deb12u3", "util-linux", "2.38.1-5+deb12u3"},
		{"libblkid1", "2.38.1-5+deb12u3", "util-linux", "2.38.1-5+deb12u3"},
		{"dash", "0.5.12-2", "dash", "0.5.12-2"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	for _, bad := range []string{
		"Package: x\nStatus: install ok installed\n",                            // no version
		"Package: x\nStatus: install ok installed\nVersion: 1\nSource: y 1.0\n", // version not in parentheses
		" continuation first\n",
		"no colon here\n",
	} {
		if _, err := parseDpkgStatus(strings.NewReader(bad)); err == nil {
			t.Errorf("parseDpkgStatus(%q) succeeded, want an error", bad)
		}
	}
}

func TestSourcesOf(t *testing.T) {
	pkgs, err := parseDpkgStatus(strings.NewReader(testStatus))
	if err != nil {
		t.Fatal(err)
	}
	got, err := sourcesOf(pkgs)
	if err != nil {
		t.Fatal(err)
	}
	want := []sourcePackage{
		{"bash", "5.2.15-2", []string{"bash"}},
		{"dash", "0.5.12-2", []string{"dash"}},
		{"util-linux", "2.38.1-5+deb12u3", []string{"bsdutils", "libblkid1"}},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	pkgs = append(pkgs, dpkgPackage{"mount", "2.38.1-4", "util-linux", "2.38.1-4"})
	if _, err := sourcesOf(pkgs); err == nil {
		t.Error("a source at two versions was accepted")
	}
}

func TestAddToLastNumber(t *testing.T) {
	for _, tc := range []struct {
		in   string
		d    int
		want string
		ok   bool
	}{
		{"1.2.3-1", 1, "1.2.4-1", true},
		{"1:2.66-4+deb12u3", -1, "1:2.65-4+deb12u3", true},
		{"2.4+20151223.gitfa8646d.1-2", 2, "2.4+20151223.gitfa8646d.3-2", true},
		{"20230311+deb12u1", -1, "20230311+deb12u0", true}, // native: no revision
		{"0.8.0", -1, "", false},
		{"abc-1", 1, "", false},
	} {
		got, ok := addToLastNumber(tc.in, tc.d)
		if got != tc.want || ok != tc.ok {
			t.Errorf("addToLastNumber(%q, %d) = %q, %v; want %q, %v", tc.in, tc.d, got, ok, tc.want, tc.ok)
		}
	}
}

func TestAboveBelowDebian(t *testing.T) {
	versions := []string{"1.2.3-1", "5.2.15-2", "1:2.66-4+deb12u3", "2.38.1-5+deb12u3", "0.5.12-2",
		"20230311+deb12u1", "0.8.0", "3.0.0~rc1-1", "2.4+20151223.gitfa8646d.1-2", "1:4.13+dfsg1-1+b1"}
	rng := rand.New(rand.NewPCG(7, 7))
	shapes := map[bool]bool{}
	for _, v := range versions {
		for range 30 {
			up, err := aboveDebian(rng, v)
			if err != nil {
				t.Fatal(err)
			}
			down, err := belowDebian(rng, v)
			if err != nil {
				t.Fatal(err)
			}
			if c, _ := debianCompare(up, v); c <= 0 {
				t.Errorf("aboveDebian(%q) = %q, not above", v, up)
			}
			if c, _ := debianCompare(down, v); c >= 0 {
				t.Errorf("belowDebian(%q) = %q, not below", v, down)
			}
			shapes[strings.HasPrefix(up, v+"+deb12u")] = true
		}
	}
	// The shapes vary: "+deb12uN" appended, and others.
	if len(shapes) != 2 {
		t.Errorf("only one shape of higher version: %v", shapes)
	}
	if err := checkOrder("1.0-2", "1.0-1"); err == nil {
		t.Error("checkOrder accepted 1.0-2 < 1.0-1")
	}
}

// verdict is an independent evaluation of a generated record for a
// Debian 12 package at version v (ECOSYSTEM ranges and versions lists, as
// the OSV schema defines them), to check the generator's labels.
func verdict(t *testing.T, rec osvRecord, name, v string) bool {
	t.Helper()
	if rec.Withdrawn != "" {
		return false
	}
	cmp := func(a, b string) int {
		c, err := debianCompare(a, b)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, a := range rec.Affected {
		if a.Package.Ecosystem != "Debian:12" || a.Package.Name != name {
			continue
		}
		if slices.Contains(a.Versions, v) {
			return true
		}
		for _, r := range a.Ranges {
			affected := false
			for _, e := range r.Events {
				switch {
				case e.Introduced != "" && (e.Introduced == "0" || cmp(v, e.Introduced) >= 0):
					affected = true
				case e.Fixed != "" && cmp(v, e.Fixed) >= 0:
					affected = false
				case e.LastAffected != "" && cmp(v, e.LastAffected) > 0:
					affected = false
				}
			}
			if affected {
				return true
			}
		}
	}
	return false
}

func TestGenerateOSV(t *testing.T) {
	srcs := []sourcePackage{
		{"bash", "5.2.15-2", []string{"bash"}},
		{"shadow", "1:4.13+dfsg1-1", []string{"login", "passwd"}},
		{"util-linux", "2.38.1-5+deb12u3", []string{"bsdutils", "libblkid1", "mount"}},
		{"zlib", "1:1.2.13.dfsg-1", []string{"zlib1g"}},
	}
	d, err := generateOSV(srcs, 400, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Records) != 400 {
		t.Fatalf("%d records, want 400", len(d.Records))
	}
	ids := map[string]bool{}
	imageRecords := 0
	var wantExp []expected
	bySrc := map[string]sourcePackage{}
	for _, s := range srcs {
		bySrc[s.Name] = s
	}
	for _, r := range d.Records {
		if ids[r.ID] {
			t.Fatalf("duplicate id %s", r.ID)
		}
		ids[r.ID] = true
		// Strict parsing, as osv-scanner does (it drops records that fail).
		data, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var v osvschema.Vulnerability
		if err := protojson.Unmarshal(data, &v); err != nil {
			t.Fatalf("record %s does not parse strictly: %v\n%s", r.ID, err, data)
		}
		// Which image package does it name (the source, or for the
		// binary-name kind one of its binaries)?
		for _, s := range srcs {
			names := append([]string{s.Name}, s.Binaries...)
			if slices.ContainsFunc(r.Affected, func(a osvAffected) bool { return slices.Contains(names, a.Package.Name) }) {
				imageRecords++
				if verdict(t, r, s.Name, s.Version) {
					wantExp = append(wantExp, expected{Source: s.Name, ID: r.ID})
				}
				break
			}
		}
	}
	if imageRecords != sum(d.ImageRecords) {
		t.Errorf("%d records name image packages, the generator counts %d", imageRecords, sum(d.ImageRecords))
	}
	var got []expected
	for _, e := range d.Expected {
		got = append(got, expected{Source: e.Source, ID: e.ID})
	}
	slices.SortFunc(wantExp, func(a, b expected) int { return strings.Compare(a.Source+" "+a.ID, b.Source+" "+b.ID) })
	if !slices.Equal(got, wantExp) {
		t.Errorf("generator expects %v\nindependent evaluation: %v", got, wantExp)
	}
	if len(got) == 0 || len(got) == imageRecords {
		t.Errorf("%d of %d image records affect: want some of each", len(got), imageRecords)
	}
	again, err := generateOSV(srcs, 400, 3)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(d.Records)
	b, _ := json.Marshal(again.Records)
	if string(a) != string(b) {
		t.Error("the same seed gave different records")
	}
}

func TestWriteZip(t *testing.T) {
	recs := []osvRecord{{ID: "DSA-1-1", Details: "x"}, {ID: "DEBIAN-CVE-2024-1", Details: "y"}}
	p := filepath.Join(t.TempDir(), "Debian", "all.zip")
	if err := writeZip(p, recs); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.OpenReader(p)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var got []string
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		var r osvRecord
		err = json.NewDecoder(rc).Decode(&r)
		_ = rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, f.Name+"="+r.ID+"/"+r.Details)
	}
	want := []string{"DSA-1-1.json=DSA-1-1/x", "DEBIAN-CVE-2024-1.json=DEBIAN-CVE-2024-1/y"}
	if !slices.Equal(got, want) {
		t.Errorf("zip holds %v, want %v", got, want)
	}
}

func tarEntries(t *testing.T, p string) []string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, tr)
		out = append(out, fmt.Sprintf("%c %s %s %d", h.Typeflag, h.Name, h.Linkname, n))
	}
}

func TestWriteRootfsLayer(t *testing.T) {
	root := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "etc"), 0o755))
	must(os.MkdirAll(filepath.Join(root, "usr/bin"), 0o755))
	must(os.WriteFile(filepath.Join(root, "etc/hostname"), []byte("bench\n"), 0o644))
	must(os.WriteFile(filepath.Join(root, "usr/bin/a"), []byte("binary"), 0o755))
	must(os.Link(filepath.Join(root, "usr/bin/a"), filepath.Join(root, "usr/bin/b")))
	must(os.Symlink("../usr/bin/a", filepath.Join(root, "etc/link")))
	must(syscall.Mkfifo(filepath.Join(root, "etc/fifo"), 0o644))
	must(os.WriteFile(filepath.Join(root, ".complete"), nil, 0o644))
	out := filepath.Join(t.TempDir(), "layer.tar")
	must(writeRootfsLayer(root, out))
	want := []string{
		"5 etc/  0", "0 etc/hostname  6", "2 etc/link ../usr/bin/a 0",
		"5 usr/  0", "5 usr/bin/  0", "0 usr/bin/a  6", "1 usr/bin/b usr/bin/a 0",
	}
	if got := tarEntries(t, out); !slices.Equal(got, want) {
		t.Errorf("layer holds\n%q\nwant\n%q", got, want)
	}
}

func TestWriteRandomLayer(t *testing.T) {
	out := filepath.Join(t.TempDir(), "layer.tar")
	files := []randomFile{{"/opt/data/a.bin", 1000}, {"/opt/data/b.bin", 10}, {"/srv/c.bin", 5}}
	if err := writeRandomLayer(out, files, []string{"/opt/old/x.bin"}, 9); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"5 opt/  0", "5 opt/data/  0", "0 opt/data/a.bin  1000", "0 opt/data/b.bin  10",
		"5 srv/  0", "0 srv/c.bin  5", "5 opt/old/  0", "0 opt/old/.wh.x.bin  0",
	}
	if got := tarEntries(t, out); !slices.Equal(got, want) {
		t.Errorf("layer holds\n%q\nwant\n%q", got, want)
	}
}

func TestRotate(t *testing.T) {
	ts := []tool{{Name: "a"}, {Name: "b"}, {Name: "c"}}
	for r, want := range []string{"abc", "acb", "cab", "cba"} {
		var got string
		for _, x := range rotate(ts, r) {
			got += x.Name
		}
		if got != want {
			t.Errorf("round %d: %s, want %s", r, got, want)
		}
	}
}

func TestCompareReports(t *testing.T) {
	dir := t.TempDir()
	cssc := `{"complete": true, "unknown": [], "findings": [
		{"id": "DSA-1-1", "package": {"name": "bsdutils", "source_name": "util-linux"}},
		{"id": "DSA-1-1", "package": {"name": "libblkid1", "source_name": "util-linux"}},
		{"id": "DEBIAN-CVE-2024-2", "package": {"name": "bash", "source_name": ""}},
		{"id": "DEBIAN-CVE-2024-3", "package": {"name": "dash"}}]}`
	osv := `{"results": [{"packages": [
		{"package": {"name": "util-linux", "ecosystem": "Debian:12"}, "vulnerabilities": [{"id": "DSA-1-1"}]},
		{"package": {"name": "bash", "ecosystem": "Debian:12"}, "vulnerabilities": [{"id": "DEBIAN-CVE-2024-2"}, {"id": "DEBIAN-CVE-2024-9"}]}]}]}`
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cp, err := csscPairs(write("cssc.json", cssc))
	if err != nil {
		t.Fatal(err)
	}
	op, err := osvScannerPairs(write("osv.json", osv))
	if err != nil {
		t.Fatal(err)
	}
	exp := []expected{{"bash", "DEBIAN-CVE-2024-2", "unfixed"}, {"dash", "DEBIAN-CVE-2024-3", "fixed-above"}, {"util-linux", "DSA-1-1", "unfixed"}}
	a := compare(exp, cp, op)
	str := func(ps []pair) string { return fmt.Sprint(ps) }
	for _, c := range []struct{ name, got, want string }{
		{"cssc", str(a.Cssc), "[bash DEBIAN-CVE-2024-2 dash DEBIAN-CVE-2024-3 util-linux DSA-1-1]"},
		{"osv", str(a.OSV), "[bash DEBIAN-CVE-2024-2 bash DEBIAN-CVE-2024-9 util-linux DSA-1-1]"},
		{"only cssc", str(a.OnlyCssc), "[dash DEBIAN-CVE-2024-3]"},
		{"only osv", str(a.OnlyOSV), "[bash DEBIAN-CVE-2024-9]"},
		{"osv missing", str(a.OSVMissing), "[dash DEBIAN-CVE-2024-3]"},
		{"osv extra", str(a.OSVExtra), "[bash DEBIAN-CVE-2024-9]"},
		{"cssc missing", str(a.CsscMissing), "[]"},
		{"flags", fmt.Sprint(a.SamePairs, a.SameIDs, a.CsscIsTrue), "false false true"},
	} {
		if c.got != c.want {
			t.Errorf("%s: %s, want %s", c.name, c.got, c.want)
		}
	}
	if _, err := csscPairs(write("inc.json", `{"complete": false, "unknown": [{}], "findings": []}`)); err == nil {
		t.Error("an incomplete cssc report was accepted")
	}
	if _, err := csscPairs(write("other.json", `{"results": []}`)); err == nil {
		t.Error("an osv-scanner report was read as cssc's")
	}
	if _, err := osvScannerPairs(write("other2.json", `{"complete": true}`)); err == nil {
		t.Error("a cssc report was read as osv-scanner's")
	}
}

func TestVariant(t *testing.T) {
	inv := inventory.Inventory{Subject: inventory.Subject{Name: "docker-archive:x", Platform: "linux/amd64"}}
	for i := range 40 {
		inv.Packages = append(inv.Packages, inventory.Package{
			Name: fmt.Sprintf("lib%d", i), Version: "1.2.3-1+b1", SourceName: fmt.Sprintf("src%d", i), SourceVersion: "1.2.3-1",
			Ecosystem: "Debian:12", PURL: fmt.Sprintf("pkg:deb/debian/lib%d@1.2.3-1%%2Bb1?arch=amd64&distro=debian-12", i),
		})
	}
	inv.Packages = append(inv.Packages, inventory.Package{Name: "requests", Version: "2.0.0", Ecosystem: "PyPI", PURL: "pkg:pypi/requests@2.0.0"})
	v1, err := variant(inv, 1, 5)
	if err != nil {
		t.Fatal(err)
	}
	v1again, _ := variant(inv, 1, 5)
	v2, _ := variant(inv, 2, 5)
	if fmt.Sprint(v1) != fmt.Sprint(v1again) {
		t.Error("variant is not deterministic")
	}
	if v1.Subject.Digest == v2.Subject.Digest || v1.Subject.Name == v2.Subject.Name || v1.Subject.Platform != "linux/amd64" {
		t.Errorf("subjects: %+v, %+v", v1.Subject, v2.Subject)
	}
	changed := 0
	for j, p := range v1.Packages {
		orig := inv.Packages[j]
		if p.Ecosystem == "PyPI" {
			if fmt.Sprint(p) != fmt.Sprint(orig) {
				t.Errorf("a PyPI package changed: %+v", p)
			}
			continue
		}
		if p.Version == orig.Version {
			if p.SourceVersion != orig.SourceVersion || p.PURL != orig.PURL {
				t.Errorf("package %s half changed: %+v", p.Name, p)
			}
			continue
		}
		changed++
		if p.SourceVersion == orig.SourceVersion {
			t.Errorf("package %s: version changed, source version not", p.Name)
		}
		if want := "@" + strings.ReplaceAll(p.Version, "+", "%2B") + "?"; !strings.Contains(p.PURL, want) {
			t.Errorf("package %s: PURL %s does not carry the version %s", p.Name, p.PURL, p.Version)
		}
		cv, _ := debianCompare(p.Version, orig.Version)
		cs, _ := debianCompare(p.SourceVersion, orig.SourceVersion)
		if cv != cs {
			t.Errorf("package %s: version moved %d, source version %d", p.Name, cv, cs)
		}
	}
	if changed < 4 || changed > 20 {
		t.Errorf("%d of 40 packages changed, want about a quarter", changed)
	}
	if inv.Packages[0].Version != "1.2.3-1+b1" {
		t.Error("variant changed its input")
	}
}

// TestEndToEnd builds a small Debian image, generates OSV data for it,
// imports the data with the library and checks what cssc's library finds
// (from the image and from stored SBOMs) against the generator's
// expectations: the bench's own agreement check, offline and small.
func TestEndToEnd(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	for p, content := range map[string]string{
		"var/lib/dpkg/status": testStatus,
		"etc/os-release":      "ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n",
	} {
		if err := os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, p), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	work := t.TempDir()
	layer, archive := filepath.Join(work, "layer.tar"), filepath.Join(work, "image.tar")
	if err := writeRootfsLayer(root, layer); err != nil {
		t.Fatal(err)
	}
	if err := writeArchive(archive, "bench.local/test:1", []string{layer}); err != nil {
		t.Fatal(err)
	}
	pkgs, err := parseDpkgStatus(strings.NewReader(testStatus))
	if err != nil {
		t.Fatal(err)
	}
	srcs, err := sourcesOf(pkgs)
	if err != nil {
		t.Fatal(err)
	}
	data, err := generateOSV(srcs, 300, 11)
	if err != nil {
		t.Fatal(err)
	}
	zipPath := filepath.Join(work, "osv", "osv-scalibr", "Debian", "all.zip")
	if err := writeZip(zipPath, data.Records); err != nil {
		t.Fatal(err)
	}
	dbDir := filepath.Join(work, "db")
	if _, err := vulndb.Import(ctx, dbDir, vulndb.ImportOptions{}, zipPath); err != nil {
		t.Fatal(err)
	}
	inv, err := inventoryOf(ctx, archive, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Packages) != 4 {
		t.Fatalf("inventory has %d packages, want 4: %+v", len(inv.Packages), inv.Packages)
	}
	db, err := vulndb.Open(ctx, dbDir)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := match.Run(ctx, analysis.DBSource(db), inv, match.Options{})
	_ = db.Close()
	if err != nil {
		t.Fatal(err)
	}
	var got []pair
	for _, f := range rep.Findings {
		src := f.Package.SourceName
		if src == "" {
			src = f.Package.Name
		}
		got = append(got, pair{src, f.ID})
	}
	got = uniquePairs(got)
	a := compare(data.Expected, got, got)
	if !a.CsscIsTrue || len(a.Expected) == 0 {
		t.Errorf("cssc's findings differ from the expected ones: missing %v, extra %v (expected %d)", a.CsscMissing, a.CsscExtra, len(a.Expected))
	}

	// Stored SBOMs, rescanned by two workers, find what direct matching does.
	ref, err := referenceFindings(ctx, dbDir, inv, 6, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []sbom.Format{sbom.FormatSPDXJSON, sbom.FormatCycloneDXJSON} {
		paths, err := storedSBOMs(inv, f, 6, 2, filepath.Join(work, string(f)))
		if err != nil {
			t.Fatal(err)
		}
		_, found, err := rescanRound(ctx, dbDir, paths, 2, "")
		if err != nil {
			t.Fatal(err)
		}
		for i := range found {
			if !slices.Equal(found[i], ref[i]) {
				t.Errorf("%s SBOM %d: rescan found %v, direct matching %v", f, i, found[i], ref[i])
			}
		}
	}
}

func TestSPDXDebian(t *testing.T) {
	doc := `{"spdxVersion": "SPDX-2.3", "packages": [
		{"name": "image", "versionInfo": "sha256:1", "externalRefs": [{"referenceType": "purl", "referenceLocator": "pkg:oci/image@sha256:1"}]},
		{"name": "bash", "versionInfo": "5.2.15-2+b13", "licenseDeclared": "GPL-3.0-or-later", "licenseConcluded": "NOASSERTION",
		 "externalRefs": [{"referenceType": "purl", "referenceLocator": "pkg:deb/debian/bash@5.2.15-2%2Bb13"}]},
		{"name": "dash", "versionInfo": "0.5.12-2", "licenseDeclared": "NOASSERTION", "licenseConcluded": "NOASSERTION",
		 "externalRefs": [{"referenceType": "cpe23Type", "referenceLocator": "cpe:2.3:a:dash:dash"}, {"referenceType": "purl", "referenceLocator": "pkg:deb/debian/dash@0.5.12-2"}]},
		{"name": "dash", "versionInfo": "0.5.12-2", "licenseConcluded": "BSD-3-Clause",
		 "externalRefs": [{"referenceType": "purl", "referenceLocator": "pkg:deb/debian/dash@0.5.12-2"}]},
		{"name": "requests", "versionInfo": "2.0", "licenseDeclared": "Apache-2.0", "externalRefs": [{"referenceType": "purl", "referenceLocator": "pkg:pypi/requests@2.0"}]}]}`
	p := filepath.Join(t.TempDir(), "sbom.json")
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := spdxDebian(p)
	if err != nil {
		t.Fatal(err)
	}
	if want := (sbomSummary{Packages: []string{"bash 5.2.15-2+b13", "dash 0.5.12-2"}, Licensed: 2}); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if err := os.WriteFile(p, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := spdxDebian(p); err == nil {
		t.Error("a broken document was read")
	}
}
