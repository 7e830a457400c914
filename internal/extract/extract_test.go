package extract_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"context"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/cssc-project/cssc/internal/extract"
	"github.com/cssc-project/cssc/internal/imagefs"
	"github.com/cssc-project/cssc/internal/imagefs/imagetest"
	"github.com/cssc-project/cssc/internal/inventory"
)

type e = imagetest.Entry

func build(t *testing.T, layers ...[]e) *imagefs.Image {
	t.Helper()
	var ls []v1.Layer
	for _, l := range layers {
		ls = append(ls, imagetest.Layer(t, l...))
	}
	im, err := imagefs.FromV1("test/debian:12", imagetest.Image(t, ls...))
	if err != nil {
		t.Fatal(err)
	}
	return im
}

func byName(inv inventory.Inventory) map[string]inventory.Package {
	m := map[string]inventory.Package{}
	for _, p := range inv.Packages {
		m[p.Name] = p
	}
	return m
}

func TestDebianImage(t *testing.T) {
	goBin := imagetest.GoBinary(t, "../..")
	img := build(t,
		append(imagetest.DebianBase(),
			e{Name: "usr/bin/ignored", Body: "not a package file"},
			e{Name: "usr/share/doc/libssl3/copyright", Body: "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nLicense: Apache-2.0\n"},
			e{Name: "usr/share/doc/bash/copyright", Body: "On Debian systems, see /usr/share/common-licenses/GPL-3.\n"},
			e{Name: "usr/share/doc/util-linux/copyright", Body: "Files: *\nLicense: GPL-2+\n\nFiles: libuuid/*\nLicense: BSD-3-clause\n"},
			e{Name: "usr/share/doc/libuuid1", Type: tar.TypeSymlink, Linkname: "util-linux"}),
		[]e{
			{Name: "usr/local/lib/python3.11/site-packages/urllib3-1.26.5.dist-info/METADATA", Body: imagetest.Urllib3Metadata},
			{Name: "usr/local/bin/app", Body: goBin, Mode: 0o755},
		},
	)
	inv, err := extract.Image(context.Background(), img, extract.Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if inv.OS == nil || inv.OS.ID != "debian" || inv.OS.VersionID != "12" || inv.OS.Codename != "bookworm" {
		t.Fatalf("OS = %+v, want debian 12 bookworm", inv.OS)
	}
	if inv.Subject.Platform != "linux/amd64" || !strings.HasPrefix(inv.Subject.Digest, "sha256:") || len(inv.Layers) != 2 {
		t.Errorf("subject %+v, %d layers", inv.Subject, len(inv.Layers))
	}
	base, top := inv.Layers[0].Digest, inv.Layers[1].Digest
	pkgs := byName(inv)
	for _, want := range []inventory.Package{
		{Name: "libssl3", Version: "3.0.11-1~deb12u2", Ecosystem: "Debian:12", SourceName: "openssl", Locations: []string{"/var/lib/dpkg/status"}, Layer: base},
		{Name: "bash", Version: "5.2.15-2+b2", Ecosystem: "Debian:12", Locations: []string{"/var/lib/dpkg/status"}, Layer: base},
		{Name: "libuuid1", Version: "2.38.1-5+b1", Ecosystem: "Debian:12", SourceName: "util-linux", SourceVersion: "2.38.1-5", Locations: []string{"/var/lib/dpkg/status"}, Layer: base},
		{Name: "urllib3", Version: "1.26.5", Ecosystem: "PyPI", Locations: []string{"/usr/local/lib/python3.11/site-packages/urllib3-1.26.5.dist-info/METADATA"}, Layer: top},
		{Name: "github.com/google/uuid", Version: "1.6.0", Ecosystem: "Go", Locations: []string{"/usr/local/bin/app"}, Layer: top},
		{Name: "stdlib", Version: imagetest.GoVersion(), Ecosystem: "Go", Locations: []string{"/usr/local/bin/app"}, Layer: top},
	} {
		got, ok := pkgs[want.Name]
		if !ok {
			t.Errorf("%s not found (have %v)", want.Name, names(inv))
			continue
		}
		if got.Version != want.Version || got.Ecosystem != want.Ecosystem || got.SourceName != want.SourceName ||
			got.SourceVersion != want.SourceVersion || strings.Join(got.Locations, ",") != strings.Join(want.Locations, ",") || got.Layer != want.Layer {
			t.Errorf("%s = %+v\nwant %+v", want.Name, got, want)
		}
		if got.PURL == "" {
			t.Errorf("%s has no PURL", want.Name)
		}
	}
	for name, purl := range map[string]string{
		"libssl3":  "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=bookworm&source=openssl",
		"libuuid1": "pkg:deb/debian/libuuid1@2.38.1-5%2Bb1?arch=amd64&distro=bookworm&source=util-linux&sourceversion=2.38.1-5",
		"urllib3":  "pkg:pypi/urllib3@1.26.5",
		"stdlib":   "pkg:golang/stdlib@" + imagetest.GoVersion(),
	} {
		if got := pkgs[name].PURL; got != purl {
			t.Errorf("%s PURL = %q, want %q", name, got, purl)
		}
	}
	for name, want := range map[string]string{
		"libssl3":  "Apache-2.0",                    // machine-readable copyright
		"bash":     "GPL-3.0-only",                  // free text naming a common licence
		"libuuid1": "GPL-2.0-or-later,BSD-3-Clause", // its doc directory links to util-linux's
		"urllib3":  "MIT",                           // from the Python metadata
	} {
		if got := strings.Join(pkgs[name].Licenses, ","); got != want {
			t.Errorf("%s licences %q, want %q", name, got, want)
		}
	}
	if _, ok := pkgs["removed-pkg"]; ok {
		t.Error("a deinstalled package (config files only) is listed")
	}
	if p := pkgs["libssl3"]; p.MatchName() != "openssl" {
		t.Errorf("libssl3 matches as %q, want its source openssl", p.MatchName())
	}
}

func TestAlpineImage(t *testing.T) {
	img := build(t, []e{
		{Name: "usr/lib/os-release", Body: "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.20.3\nPRETTY_NAME=\"Alpine Linux v3.20\"\n"},
		{Name: "etc/os-release", Type: tar.TypeSymlink, Linkname: "../usr/lib/os-release"},
		{Name: "lib/apk/db/installed", Body: "P:musl\nV:1.2.5-r0\nA:x86_64\no:musl\nL:MIT\n\nP:libcrypto3\nV:3.3.2-r0\nA:x86_64\no:openssl\nL:Apache-2.0\n\n"},
	})
	inv, err := extract.Image(context.Background(), img, extract.Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if inv.OS == nil || inv.OS.ID != "alpine" || inv.OS.VersionID != "3.20.3" {
		t.Fatalf("OS = %+v", inv.OS)
	}
	pkgs := byName(inv)
	c, ok := pkgs["libcrypto3"]
	if !ok || c.Version != "3.3.2-r0" || c.SourceName != "openssl" || c.Ecosystem != "Alpine:v3.20" || strings.Join(c.Licenses, ",") != "Apache-2.0" {
		t.Errorf("libcrypto3 = %+v", c)
	}
	if m, ok := pkgs["musl"]; !ok || m.SourceName != "" || m.Ecosystem != "Alpine:v3.20" {
		t.Errorf("musl = %+v (its origin is itself: no separate source)", m)
	}
}

// A package database deleted in an upper layer is not in the inventory.
func TestWhiteouts(t *testing.T) {
	img := build(t,
		[]e{{Name: "etc/os-release", Body: imagetest.DebianOSRelease}, {Name: "var/lib/dpkg/status", Body: imagetest.DpkgStatus}},
		[]e{{Name: "var/lib/dpkg/.wh.status"}},
	)
	inv, err := extract.Image(context.Background(), img, extract.Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Packages) != 0 {
		t.Errorf("packages of a deleted database: %v", names(inv))
	}
}

func names(inv inventory.Inventory) []string {
	var out []string
	for _, p := range inv.Packages {
		out = append(out, p.Name+"@"+p.Version)
	}
	return out
}

// jar returns a jar holding pom.properties for group:artifact:version, and
// the given nested jars under lib/.
func jar(t *testing.T, group, artifact, version string, nested map[string][]byte) string {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	add := func(name string, b []byte) {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	add("META-INF/MANIFEST.MF", []byte("Manifest-Version: 1.0\r\n\r\n"))
	add("META-INF/maven/"+group+"/"+artifact+"/pom.properties",
		[]byte("groupId="+group+"\nartifactId="+artifact+"\nversion="+version+"\n"))
	for n, b := range nested {
		add("lib/"+n, b)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// The language ecosystems beyond Go and Python: Java (nested jars
// included), Node, Ruby and PHP.
func TestLanguageEcosystems(t *testing.T) {
	inner := jar(t, "org.apache.logging.log4j", "log4j-core", "2.14.1", nil)
	app := jar(t, "com.example", "app", "1.0.0", map[string][]byte{"log4j-core-2.14.1.jar": []byte(inner)})
	img := build(t, []e{
		{Name: "opt/app/app.jar", Body: app},
		{Name: "app/node_modules/lodash/package.json", Body: `{"name":"lodash","version":"4.17.20","license":"MIT"}`},
		{Name: "usr/local/bundle/specifications/rack-2.2.3.gemspec", Body: "Gem::Specification.new do |s|\n  s.name = \"rack\"\n  s.version = \"2.2.3\"\nend\n"},
		{Name: "srv/www/composer.lock", Body: `{"packages":[{"name":"guzzlehttp/guzzle","version":"7.4.0"}],"packages-dev":[]}`},
	})
	inv, err := extract.Image(context.Background(), img, extract.Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, p := range inv.Packages {
		got[p.Name] = p.Version + " " + p.Ecosystem + " " + p.Locations[0]
	}
	for n, want := range map[string]string{
		"org.apache.logging.log4j:log4j-core": "2.14.1 Maven /opt/app/app.jar", // found inside the nested jar; located by its outer file
		"com.example:app":                     "1.0.0 Maven /opt/app/app.jar",
		"lodash":                              "4.17.20 npm /app/node_modules/lodash/package.json",
		"rack":                                "2.2.3 RubyGems /usr/local/bundle/specifications/rack-2.2.3.gemspec",
		"guzzlehttp/guzzle":                   "7.4.0 Packagist /srv/www/composer.lock",
	} {
		if got[n] != want {
			t.Errorf("%s = %q, want %q", n, got[n], want)
		}
	}
	for _, p := range inv.Packages {
		if p.Layer != inv.Layers[0].Digest {
			t.Errorf("%s: layer %q", p.Name, p.Layer)
		}
	}
}

// Distroless images have no dpkg status file but one file per package in
// /var/lib/dpkg/status.d/.
func TestDistrolessStatusD(t *testing.T) {
	img := build(t, []e{
		{Name: "etc/os-release", Body: imagetest.DebianOSRelease},
		{Name: "var/lib/dpkg/status.d/libssl3", Body: "Package: libssl3\nStatus: install ok installed\nArchitecture: amd64\nSource: openssl\nVersion: 3.0.11-1~deb12u2\n"},
		{Name: "var/lib/dpkg/status.d/libssl3.md5sums", Body: "d41d8cd98f00b204e9800998ecf8427e  usr/lib/x86_64-linux-gnu/libssl.so.3\n"},
		{Name: "var/lib/dpkg/status.d/tzdata", Body: "Package: tzdata\nArchitecture: all\nVersion: 2024a-0+deb12u1\n"},
	})
	inv, err := extract.Image(context.Background(), img, extract.Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, p := range inv.Packages {
		got[p.Name] = p.Version + " " + p.Ecosystem + " " + p.SourceName + " " + p.Locations[0]
	}
	want := map[string]string{
		"libssl3": "3.0.11-1~deb12u2 Debian:12 openssl /var/lib/dpkg/status.d/libssl3",
		"tzdata":  "2024a-0+deb12u1 Debian:12  /var/lib/dpkg/status.d/tzdata",
	}
	if len(got) != len(want) {
		t.Errorf("packages %v, want %v", got, want)
	}
	for n, w := range want {
		if got[n] != w {
			t.Errorf("%s = %q, want %q", n, got[n], w)
		}
	}
}
