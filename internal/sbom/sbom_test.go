package sbom

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/github/go-spdx/v2/spdxexp"
	"github.com/santhosh-tekuri/jsonschema/v6"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx"
	"github.com/spdx/tools-golang/spdx/v2/common"
	"github.com/spdx/tools-golang/spdxlib"

	"github.com/cssc-project/cssc/internal/inventory"
)

var (
	imageDigest = "sha256:" + strings.Repeat("ab", 32)
	indexDigest = "sha256:" + strings.Repeat("cd", 32)
	layer1      = "sha256:" + strings.Repeat("11", 32)
	diff1       = "sha256:" + strings.Repeat("12", 32)
	layer2      = "sha256:" + strings.Repeat("21", 32)
	diff2       = "sha256:" + strings.Repeat("22", 32)
	testTime    = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)
	testOpts    = Options{ToolVersion: "1.2.3", Time: testTime}
)

// fixture is an image with Debian packages (with source packages), a Go
// module and the Go standard library, PyPI and npm packages, SPDX and
// non-SPDX licences, locations and layers. Its packages are in the order
// Encode writes them (by name), so that reading a document back gives it
// exactly.
func fixture() inventory.Inventory {
	return inventory.Inventory{
		Subject: inventory.Subject{
			Name:     "registry.example.com/team/app:1.2",
			Digest:   imageDigest,
			Index:    indexDigest,
			Platform: "linux/amd64",
		},
		OS: &inventory.OS{ID: "debian", VersionID: "12", Codename: "bookworm", PrettyName: "Debian GNU/Linux 12 (bookworm)"},
		Layers: []inventory.Layer{
			{Digest: layer1, DiffID: diff1, Size: 29_123_456},
			{Digest: layer2, DiffID: diff2, Size: 1_234},
		},
		Packages: []inventory.Package{
			{
				Name: "@babel/core", Version: "7.23.0", Ecosystem: "npm",
				PURL:      "pkg:npm/%40babel/core@7.23.0",
				Licenses:  []string{"MIT"},
				Locations: []string{"/app/node_modules/@babel/core/package.json"},
				Layer:     layer2,
			},
			{
				Name: "base-files", Version: "12.4+deb12u5", Ecosystem: "Debian:12",
				PURL:      "pkg:deb/debian/base-files@12.4%2Bdeb12u5?arch=amd64&distro=debian-12",
				Licenses:  []string{"GPL-2.0-or-later", "GPL-2+"},
				Locations: []string{"/var/lib/dpkg/status"},
				Layer:     layer1,
			},
			{
				Name: "github.com/gorilla/mux", Version: "v1.8.0", Ecosystem: "Go",
				PURL:      "pkg:golang/github.com/gorilla/mux@v1.8.0",
				Locations: []string{"/usr/local/bin/app"},
				Layer:     layer2,
			},
			{
				Name: "left-pad", Version: "1.3.0", Ecosystem: "npm",
				PURL:      "pkg:npm/left-pad@1.3.0",
				Licenses:  []string{"MIT OR Apache-2.0", "BSD-3-Clause AND ISC"},
				Locations: []string{"/app/node_modules/left-pad/package.json", "/app/package-lock.json"},
				Layer:     layer2,
			},
			{
				Name: "libexample1", Version: "1.0-1+b1", Ecosystem: "Debian:12",
				PURL:       "pkg:deb/debian/libexample1@1.0-1%2Bb1?arch=amd64&distro=debian-12&upstream=example%401.0-1",
				SourceName: "example", SourceVersion: "1.0-1",
				Licenses:  []string{"BSD-like (see /usr/share/doc/libexample1/copyright)"},
				Locations: []string{"/var/lib/dpkg/status"},
				Layer:     layer1,
			},
			{
				Name: "libssl3", Version: "3.0.11-1~deb12u2", Ecosystem: "Debian:12",
				PURL:       "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12&upstream=openssl",
				SourceName: "openssl",
				Licenses:   []string{"Apache-2.0"},
				Locations:  []string{"/var/lib/dpkg/status"},
				Layer:      layer1,
			},
			{
				Name: "requests", Version: "2.31.0", Ecosystem: "PyPI",
				PURL:      "pkg:pypi/requests@2.31.0",
				Licenses:  []string{"Apache-2.0"},
				Locations: []string{"/usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA"},
				Layer:     layer2,
			},
			{
				Name: "stdlib", Version: "1.21.5", Ecosystem: "Go",
				PURL:      "pkg:golang/stdlib@1.21.5",
				Locations: []string{"/usr/local/bin/app"},
				Layer:     layer2,
			},
		},
	}
}

func encode(t *testing.T, inv inventory.Inventory, f Format) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Encode(&buf, inv, f, testOpts); err != nil {
		t.Fatalf("Encode %s: %v", f, err)
	}
	return buf.Bytes()
}

// wantPURL is the image's PURL in both formats.
const wantImagePURL = "pkg:oci/app@sha256:abababababababababababababababababababababababababababababababab" +
	"?arch=amd64&repository_url=registry.example.com%2Fteam%2Fapp&tag=1.2"

func TestSPDXRoundTrip(t *testing.T) {
	in := fixture()
	data := encode(t, in, FormatSPDXJSON)

	// The official library reads it, and finds it consistent.
	doc, err := spdxjson.Read(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("tools-golang cannot read our SPDX: %v\n%s", err, data)
	}
	if err := spdxlib.ValidateDocument(doc); err != nil {
		t.Fatalf("tools-golang validation: %v", err)
	}
	if doc.SPDXVersion != "SPDX-2.3" || doc.DataLicense != "CC0-1.0" {
		t.Errorf("version %q, data licence %q", doc.SPDXVersion, doc.DataLicense)
	}
	if got, want := doc.CreationInfo.Created, "2026-03-14T15:09:26Z"; got != want {
		t.Errorf("created %q, want %q", got, want)
	}
	if got := doc.CreationInfo.Creators; len(got) != 1 || got[0].CreatorType != "Tool" || got[0].Creator != "cssc-1.2.3" {
		t.Errorf("creators %+v, want Tool: cssc-1.2.3", got)
	}
	if !regexp.MustCompile(`^https://github\.com/cssc-project/cssc/spdx/registry\.example\.com-team-app-1\.2-[0-9a-f-]{36}$`).MatchString(doc.DocumentNamespace) {
		t.Errorf("namespace %q", doc.DocumentNamespace)
	}
	described, err := spdxlib.GetDescribedPackageIDs(doc)
	if err != nil || !reflect.DeepEqual(described, []common.ElementID{"Image"}) {
		t.Fatalf("described %v, %v; want [Image]", described, err)
	}

	byID := map[common.ElementID]*spdx.Package{}
	for _, p := range doc.Packages {
		byID[p.PackageSPDXIdentifier] = p
	}
	image := byID["Image"]
	if image.PackageName != in.Subject.Name || image.PackageVersion != imageDigest || image.PrimaryPackagePurpose != "CONTAINER" {
		t.Errorf("image package %+v", image)
	}
	if !reflect.DeepEqual(image.PackageChecksums, []common.Checksum{{Algorithm: common.SHA256, Value: strings.Repeat("ab", 32)}}) {
		t.Errorf("image checksums %+v", image.PackageChecksums)
	}
	if got := spdxPURL(image); got != wantImagePURL {
		t.Errorf("image purl\n got %s\nwant %s", got, wantImagePURL)
	}
	osPkg := byID["OperatingSystem"]
	if osPkg == nil || osPkg.PackageName != "debian" || osPkg.PackageVersion != "12" || osPkg.PrimaryPackagePurpose != "OPERATING-SYSTEM" {
		t.Errorf("OS package %+v", osPkg)
	}

	// Every package, with its PURL and its licences as a valid expression.
	contained := map[common.ElementID]bool{}
	for _, r := range doc.Relationships {
		if r.Relationship == "CONTAINS" && r.RefA.ElementRefID == "Image" {
			contained[r.RefB.ElementRefID] = true
		}
	}
	refs := map[string]string{}
	for _, ol := range doc.OtherLicenses {
		refs[ol.LicenseIdentifier] = ol.ExtractedText
	}
	wantLicense := map[string]*regexp.Regexp{
		"@babel/core":            regexp.MustCompile(`^MIT$`),
		"base-files":             regexp.MustCompile(`^GPL-2\.0-or-later AND LicenseRef-GPL-2-[0-9a-f]{8}$`),
		"github.com/gorilla/mux": regexp.MustCompile(`^NOASSERTION$`),
		"left-pad":               regexp.MustCompile(`^\(MIT OR Apache-2\.0\) AND \(BSD-3-Clause AND ISC\)$`),
		"libexample1":            regexp.MustCompile(`^LicenseRef-BSD-like-see-usr-share-doc-libexample1-copyright-[0-9a-f]{8}$`),
		"libssl3":                regexp.MustCompile(`^Apache-2\.0$`),
		"requests":               regexp.MustCompile(`^Apache-2\.0$`),
		"stdlib":                 regexp.MustCompile(`^NOASSERTION$`),
	}
	if len(doc.Packages) != len(in.Packages)+2 {
		t.Errorf("%d SPDX packages, want %d (+ image and OS)", len(doc.Packages), len(in.Packages))
	}
	for _, want := range in.Packages {
		var got *spdx.Package
		for _, p := range doc.Packages {
			if p.PackageName == want.Name && p.PackageVersion == want.Version {
				got = p
			}
		}
		if got == nil {
			t.Errorf("package %s %s missing", want.Name, want.Version)
			continue
		}
		if !contained[got.PackageSPDXIdentifier] {
			t.Errorf("%s: no CONTAINS relationship from the image", want.Name)
		}
		wantSourceInfo := ""
		if want.SourceName != "" {
			wantSourceInfo = strings.TrimSpace("built package from: " + want.SourceName + " " + want.SourceVersion)
		}
		if got.PackageSourceInfo != wantSourceInfo {
			t.Errorf("%s: sourceInfo %q, want %q", want.Name, got.PackageSourceInfo, wantSourceInfo)
		}
		if p := spdxPURL(got); p != want.PURL {
			t.Errorf("%s: purl %q, want %q", want.Name, p, want.PURL)
		}
		lic := got.PackageLicenseDeclared
		if !wantLicense[want.Name].MatchString(lic) {
			t.Errorf("%s: licenseDeclared %q, want %v", want.Name, lic, wantLicense[want.Name])
		}
		if lic != "NOASSERTION" {
			if ok, bad := spdxexp.ValidateLicenses([]string{lic}); !ok {
				t.Errorf("%s: licenseDeclared %q is not a valid SPDX expression: %v", want.Name, lic, bad)
			}
		}
		for _, ref := range licenseRefToken.FindAllString(lic, -1) {
			if _, ok := refs[ref]; !ok {
				t.Errorf("%s: %s not defined in hasExtractedLicensingInfos", want.Name, ref)
			}
		}
	}
	wantRefs := map[string]bool{"GPL-2+": true, "BSD-like (see /usr/share/doc/libexample1/copyright)": true}
	if len(refs) != len(wantRefs) {
		t.Errorf("extracted licences %v, want the texts %v", refs, wantRefs)
	}
	for _, text := range refs {
		if !wantRefs[text] {
			t.Errorf("unexpected extracted licence text %q", text)
		}
	}

	// And our reader gives the inventory back.
	got, f, err := Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if f != FormatSPDXJSON {
		t.Errorf("format %q", f)
	}
	if !reflect.DeepEqual(got, in) {
		t.Errorf("round trip differs:\n got %s\nwant %s", dump(got), dump(in))
	}
}

func TestCycloneDXRoundTrip(t *testing.T) {
	in := fixture()
	data := encode(t, in, FormatCycloneDXJSON)

	if err := cycloneDXSchemaCheck(t, data); err != nil {
		t.Fatalf("BOM does not follow the CycloneDX 1.6 schema: %v", err)
	}

	var bom cdx.BOM
	if err := cdx.NewBOMDecoder(bytes.NewReader(data), cdx.BOMFileFormatJSON).Decode(&bom); err != nil {
		t.Fatalf("cyclonedx-go cannot read our BOM: %v", err)
	}
	if bom.SpecVersion != cdx.SpecVersion1_6 || bom.BOMFormat != "CycloneDX" {
		t.Errorf("spec %v, format %q", bom.SpecVersion, bom.BOMFormat)
	}
	if !regexp.MustCompile(`^urn:uuid:[0-9a-f-]{36}$`).MatchString(bom.SerialNumber) {
		t.Errorf("serial number %q", bom.SerialNumber)
	}
	md := bom.Metadata
	if md.Timestamp != "2026-03-14T15:09:26Z" {
		t.Errorf("timestamp %q", md.Timestamp)
	}
	if tools := *md.Tools.Components; len(tools) != 1 || tools[0].Name != "cssc" || tools[0].Version != "1.2.3" {
		t.Errorf("tools %+v", tools)
	}
	img := md.Component
	if img.Type != cdx.ComponentTypeContainer || img.Name != in.Subject.Name || img.Version != imageDigest || img.PackageURL != wantImagePURL {
		t.Errorf("image component %+v", img)
	}
	if img.Hashes == nil || !reflect.DeepEqual(*img.Hashes, []cdx.Hash{{Algorithm: cdx.HashAlgoSHA256, Value: strings.Repeat("ab", 32)}}) {
		t.Errorf("image hashes %+v", img.Hashes)
	}

	comps := *bom.Components
	if len(comps) != len(in.Packages)+1 {
		t.Fatalf("%d components, want %d (+ OS)", len(comps), len(in.Packages))
	}
	osc := comps[0]
	if osc.Type != cdx.ComponentTypeOS || osc.Name != "debian" || osc.Version != "12" || osc.Description != "Debian GNU/Linux 12 (bookworm)" {
		t.Errorf("OS component %+v", osc)
	}
	id := func(s string) cdx.LicenseChoice { return cdx.LicenseChoice{License: &cdx.License{ID: s}} }
	name := func(s string) cdx.LicenseChoice { return cdx.LicenseChoice{License: &cdx.License{Name: s}} }
	wantLicenses := map[string]cdx.Licenses{
		"@babel/core": {id("MIT")},
		"base-files":  {id("GPL-2.0-or-later"), name("GPL-2+")},
		"left-pad":    {{Expression: "(MIT OR Apache-2.0) AND (BSD-3-Clause AND ISC)"}},
		"libexample1": {name("BSD-like (see /usr/share/doc/libexample1/copyright)")},
		"libssl3":     {id("Apache-2.0")},
		"requests":    {id("Apache-2.0")},
	}
	for i, want := range in.Packages {
		c := comps[i+1]
		if c.Name != want.Name || c.Version != want.Version || c.PackageURL != want.PURL || c.Type != cdx.ComponentTypeLibrary {
			t.Errorf("component %d: %s %s %s, want %s %s %s", i, c.Name, c.Version, c.PackageURL, want.Name, want.Version, want.PURL)
		}
		var gotLic cdx.Licenses
		if c.Licenses != nil {
			gotLic = *c.Licenses
		}
		if !reflect.DeepEqual(gotLic, wantLicenses[want.Name]) {
			t.Errorf("%s: licenses %s, want %s", want.Name, dump(gotLic), dump(wantLicenses[want.Name]))
		}
		wantProps := []cdx.Property{{Name: "cssc:ecosystem", Value: want.Ecosystem}}
		if want.SourceName != "" {
			wantProps = append(wantProps, cdx.Property{Name: "cssc:source-name", Value: want.SourceName})
		}
		if want.SourceVersion != "" {
			wantProps = append(wantProps, cdx.Property{Name: "cssc:source-version", Value: want.SourceVersion})
		}
		for _, l := range want.Locations {
			wantProps = append(wantProps, cdx.Property{Name: "cssc:location", Value: l})
		}
		wantProps = append(wantProps, cdx.Property{Name: "cssc:layer", Value: want.Layer})
		if c.Properties == nil || !reflect.DeepEqual(*c.Properties, wantProps) {
			t.Errorf("%s: properties %s, want %s", want.Name, dump(c.Properties), dump(wantProps))
		}
	}

	got, f, err := Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if f != FormatCycloneDXJSON {
		t.Errorf("format %q", f)
	}
	if !reflect.DeepEqual(got, in) {
		t.Errorf("round trip differs:\n got %s\nwant %s", dump(got), dump(in))
	}
}

// cycloneDXSchemaCheck checks a BOM against the official CycloneDX 1.6
// JSON schema (testdata/cyclonedx-schema, copied from cyclonedx-go's
// module, which ships the specification's schemas).
func cycloneDXSchemaCheck(t *testing.T, data []byte) error {
	t.Helper()
	c := jsonschema.NewCompiler()
	for file, id := range map[string]string{
		"bom-1.6.schema.json":   "http://cyclonedx.org/schema/bom-1.6.schema.json",
		"spdx.schema.json":      "http://cyclonedx.org/schema/spdx.schema.json",
		"jsf-0.82.schemax.json": "http://cyclonedx.org/schema/jsf-0.82.schema.json",
	} {
		f, err := os.Open(filepath.Join("testdata", "cyclonedx-schema", file))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(f)
		_ = f.Close()
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if err := c.AddResource(id, doc); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
	}
	sch, err := c.Compile("http://cyclonedx.org/schema/bom-1.6.schema.json")
	if err != nil {
		t.Fatalf("compile schema: %v", err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return sch.Validate(inst)
}

func TestSchemaValidationCatchesErrors(t *testing.T) {
	// The schema check above must be able to fail: a BOM whose licence id
	// is not an SPDX id, and one with an unknown component type.
	for name, mutate := range map[string]func(m map[string]any){
		"licence id": func(m map[string]any) {
			c := m["components"].([]any)[1].(map[string]any)
			c["licenses"] = []any{map[string]any{"license": map[string]any{"id": "GPL-2+"}}}
		},
		"component type": func(m map[string]any) {
			m["components"].([]any)[0].(map[string]any)["type"] = "distro"
		},
	} {
		t.Run(name, func(t *testing.T) {
			var m map[string]any
			if err := json.Unmarshal(encode(t, fixture(), FormatCycloneDXJSON), &m); err != nil {
				t.Fatal(err)
			}
			mutate(m)
			bad, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			if err := cycloneDXSchemaCheck(t, bad); err == nil {
				t.Errorf("schema accepted a BOM with a bad %s", name)
			}
		})
	}
}

func TestEncodeDeterministic(t *testing.T) {
	shuffled := fixture()
	slices.Reverse(shuffled.Packages)
	for _, f := range Formats() {
		t.Run(string(f), func(t *testing.T) {
			a := encode(t, fixture(), f)
			b := encode(t, fixture(), f)
			c := encode(t, shuffled, f)
			if !bytes.Equal(a, b) {
				t.Errorf("two encodings of the same inventory differ")
			}
			if !bytes.Equal(a, c) {
				t.Errorf("the order packages were found in changes the document")
			}
		})
	}
	// A different time is a different document.
	var later bytes.Buffer
	opts := testOpts
	opts.Time = testTime.Add(time.Hour)
	if err := Encode(&later, fixture(), FormatSPDXJSON, opts); err != nil {
		t.Fatal(err)
	}
	var d1, d2 spdx.Document
	if err := spdxjson.ReadInto(bytes.NewReader(encode(t, fixture(), FormatSPDXJSON)), &d1); err != nil {
		t.Fatal(err)
	}
	if err := spdxjson.ReadInto(&later, &d2); err != nil {
		t.Fatal(err)
	}
	if d1.DocumentNamespace == d2.DocumentNamespace {
		t.Errorf("documents created at different times share the namespace %s", d1.DocumentNamespace)
	}
}

func TestEncodeDoesNotReorderInput(t *testing.T) {
	in := fixture()
	slices.Reverse(in.Packages)
	first := in.Packages[0].Name
	encode(t, in, FormatSPDXJSON)
	if in.Packages[0].Name != first {
		t.Errorf("Encode sorted the caller's slice")
	}
}

func TestEncodeTable(t *testing.T) {
	inv := inventory.Inventory{
		Subject: inventory.Subject{Name: "debian:12", Digest: imageDigest, Platform: "linux/amd64"},
		OS:      &inventory.OS{ID: "debian", VersionID: "12", PrettyName: "Debian GNU/Linux 12 (bookworm)"},
		Packages: []inventory.Package{
			{Name: "zlib1g", Version: "1:1.2.13.dfsg-1", Ecosystem: "Debian:12", PURL: "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1",
				SourceName: "zlib", Locations: []string{"/var/lib/dpkg/status"}},
			{Name: "libssl3", Version: "3.0.11-1~deb12u2", Ecosystem: "Debian:12", PURL: "pkg:deb/debian/libssl3@3.0.11-1~deb12u2",
				SourceName: "openssl", SourceVersion: "3.0.11-1~deb12u2", Locations: []string{"/var/lib/dpkg/status"}},
			{Name: "bad\tname", Version: "1", PURL: "pkg:rpm/redhat/x@1"},
		},
	}
	want := "" +
		"IMAGE     debian:12 (" + imageDigest + ") linux/amd64\n" +
		"OS        Debian GNU/Linux 12 (bookworm)\n" +
		"PACKAGES  3\n" +
		"\n" +
		"NAME      VERSION           TYPE/ECOSYSTEM  SOURCE                    LOCATION\n" +
		"bad name  1                 rpm             -                         -\n" +
		"libssl3   3.0.11-1~deb12u2  Debian:12       openssl 3.0.11-1~deb12u2  /var/lib/dpkg/status\n" +
		"zlib1g    1:1.2.13.dfsg-1   Debian:12       zlib                      /var/lib/dpkg/status\n"
	if got := string(encode(t, inv, FormatTable)); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}

func TestEncodeUnknownFormat(t *testing.T) {
	if err := Encode(&bytes.Buffer{}, fixture(), "spdx-tag-value", testOpts); err == nil {
		t.Fatal("unknown format accepted")
	}
	if _, err := ParseFormat("xml"); err == nil {
		t.Fatal("ParseFormat accepted xml")
	}
	for _, f := range Formats() {
		if g, err := ParseFormat(string(f)); err != nil || g != f {
			t.Errorf("ParseFormat(%q) = %q, %v", f, g, err)
		}
	}
	if FormatSPDXJSON.MediaType() != MediaTypeSPDX || FormatCycloneDXJSON.MediaType() != MediaTypeCycloneDX || FormatTable.MediaType() != "" {
		t.Error("media types")
	}
}

func TestImagePURL(t *testing.T) {
	tests := []struct {
		subject inventory.Subject
		want    string
	}{
		{inventory.Subject{Name: "debian:12", Digest: imageDigest},
			"pkg:oci/debian@" + imageDigest + "?repository_url=docker.io%2Flibrary%2Fdebian&tag=12"},
		{inventory.Subject{Name: "localhost:5000/x/y@" + imageDigest, Digest: imageDigest, Platform: "linux/arm64/v8"},
			"pkg:oci/y@" + imageDigest + "?arch=arm64&repository_url=localhost:5000%2Fx%2Fy"},
		{inventory.Subject{Name: "oci:/tmp/layouts/MyApp:v1", Platform: "linux/amd64"},
			"pkg:oci/myapp?arch=amd64&tag=v1"},
		{inventory.Subject{Name: "oci:layout"}, "pkg:oci/layout"},
		{inventory.Subject{Name: "Not/A Valid/Ref:tag@sha256:x"}, "pkg:oci/ref"},
		{inventory.Subject{Name: "docker-archive:/tmp/app.tar", Digest: "sha256:short"}, "pkg:oci/app"},
		{inventory.Subject{}, "pkg:oci/image"},
	}
	for _, tt := range tests {
		if got := imagePURL(tt.subject); got != tt.want {
			t.Errorf("imagePURL(%+v)\n got %s\nwant %s", tt.subject, got, tt.want)
		}
	}
}

func dump(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}
