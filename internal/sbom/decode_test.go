package sbom

import (
	"bytes"
	"errors"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	packageurl "github.com/package-url/packageurl-go"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx"
	"github.com/spdx/tools-golang/spdx/v2/common"

	"github.com/cssc-project/cssc/internal/inventory"
)

// syftSPDX is an SPDX 2.3 document as syft writes one for an image: the
// root package is the image (primaryPackagePurpose CONTAINER, described
// with documentDescribes here rather than a relationship), packages carry
// the PURL with distro and upstream qualifiers, free-text licences are
// LicenseRefs, no OS package, a file entry.
const syftSPDX = `{
 "spdxVersion": "SPDX-2.3",
 "dataLicense": "CC0-1.0",
 "SPDXID": "SPDXRef-DOCUMENT",
 "name": "debian:12",
 "documentNamespace": "https://anchore.com/syft/image/debian-12-0e3a5e5e-4d8e-4a0f-9c55-2b7f1d1f3a61",
 "creationInfo": {
  "licenseListVersion": "3.23",
  "creators": ["Organization: Anchore, Inc", "Tool: syft-1.20.0"],
  "created": "2025-02-20T10:00:00Z"
 },
 "documentDescribes": ["SPDXRef-DocumentRoot-Image-debian-12"],
 "packages": [
  {
   "name": "openssl",
   "SPDXID": "SPDXRef-Package-deb-openssl-6a1ee3c2a1b0a6b5",
   "versionInfo": "3.0.11-1~deb12u2",
   "supplier": "Person: Debian OpenSSL Team (pkg-openssl-devel@alioth-lists.debian.net)",
   "downloadLocation": "NOASSERTION",
   "filesAnalyzed": false,
   "sourceInfo": "acquired package info from DPKG DB: /var/lib/dpkg/status, /usr/share/doc/openssl/copyright",
   "licenseConcluded": "NOASSERTION",
   "licenseDeclared": "Apache-2.0 AND LicenseRef-Artistic",
   "copyrightText": "NOASSERTION",
   "externalRefs": [
    {"referenceCategory": "SECURITY", "referenceType": "cpe23Type", "referenceLocator": "cpe:2.3:a:openssl:openssl:3.0.11-1\\~deb12u2:*:*:*:*:*:*:*"},
    {"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": "pkg:deb/debian/openssl@3.0.11-1~deb12u2?arch=amd64&upstream=openssl&distro=debian-12"}
   ]
  },
  {
   "name": "libssl3",
   "SPDXID": "SPDXRef-Package-deb-libssl3-0c7b3e3d8f2a1e44",
   "versionInfo": "3.0.11-1~deb12u2",
   "downloadLocation": "NOASSERTION",
   "filesAnalyzed": false,
   "licenseConcluded": "NOASSERTION",
   "licenseDeclared": "Apache-2.0",
   "externalRefs": [
    {"referenceCategory": "PACKAGE_MANAGER", "referenceType": "purl", "referenceLocator": "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&upstream=openssl%403.0.11-1~deb12u2&distro=debian-12"}
   ]
  },
  {
   "name": "tzdata",
   "SPDXID": "SPDXRef-Package-deb-tzdata-2c1f",
   "versionInfo": "2024a-0+deb12u1",
   "downloadLocation": "NOASSERTION",
   "filesAnalyzed": false,
   "licenseConcluded": "NOASSERTION",
   "licenseDeclared": "NOASSERTION",
   "externalRefs": [
    {"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": "pkg:deb/debian/tzdata@2024a-0%2Bdeb12u1?arch=all&distro=debian-12"}
   ]
  },
  {
   "name": "jackson-databind",
   "SPDXID": "SPDXRef-Package-java-archive-jackson-databind-5d2e",
   "versionInfo": "2.15.2",
   "downloadLocation": "NOASSERTION",
   "filesAnalyzed": false,
   "licenseConcluded": "NOASSERTION",
   "licenseDeclared": "NOASSERTION",
   "externalRefs": [
    {"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": "pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.15.2"}
   ]
  },
  {
   "name": "debian:12",
   "SPDXID": "SPDXRef-DocumentRoot-Image-debian-12",
   "versionInfo": "sha256:abababababababababababababababababababababababababababababababab",
   "supplier": "NOASSERTION",
   "downloadLocation": "NOASSERTION",
   "filesAnalyzed": false,
   "checksums": [{"algorithm": "SHA256", "checksumValue": "abababababababababababababababababababababababababababababababab"}],
   "externalRefs": [
    {"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": "pkg:oci/debian@sha256%3Aabababababababababababababababababababababababababababababababab?arch=amd64&tag=12"}
   ],
   "primaryPackagePurpose": "CONTAINER"
  }
 ],
 "files": [
  {
   "fileName": "/var/lib/dpkg/status",
   "SPDXID": "SPDXRef-File-var-lib-dpkg-status-5e1a",
   "checksums": [{"algorithm": "SHA1", "checksumValue": "0000000000000000000000000000000000000000"}],
   "licenseConcluded": "NOASSERTION",
   "copyrightText": ""
  }
 ],
 "hasExtractedLicensingInfos": [
  {"licenseId": "LicenseRef-Artistic", "extractedText": "Artistic"}
 ],
 "relationships": [
  {"spdxElementId": "SPDXRef-DocumentRoot-Image-debian-12", "relatedSpdxElement": "SPDXRef-Package-deb-openssl-6a1ee3c2a1b0a6b5", "relationshipType": "CONTAINS"},
  {"spdxElementId": "SPDXRef-Package-deb-openssl-6a1ee3c2a1b0a6b5", "relatedSpdxElement": "SPDXRef-File-var-lib-dpkg-status-5e1a", "relationshipType": "OTHER", "comment": "evident-by: indicates the package's existence is evident by the given file"}
 ]
}`

// syftCycloneDX is a CycloneDX 1.6 BOM as syft writes one for an image:
// metadata.component is the container, an operating-system component with
// syft's distro properties, packages with syft:location properties, a file
// component.
const syftCycloneDX = `{
  "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
  "bomFormat": "CycloneDX",
  "specVersion": "1.6",
  "serialNumber": "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79",
  "version": 1,
  "metadata": {
    "timestamp": "2025-02-20T10:00:00Z",
    "tools": {"components": [{"type": "application", "author": "anchore", "name": "syft", "version": "1.20.0"}]},
    "component": {
      "bom-ref": "0e3a5e5e4d8e4a0f",
      "type": "container",
      "name": "debian:12",
      "version": "sha256:abababababababababababababababababababababababababababababababab"
    }
  },
  "components": [
    {
      "bom-ref": "pkg:deb/debian/openssl@3.0.11-1~deb12u2?arch=amd64&upstream=openssl&distro=debian-12&package-id=6a1ee3c2a1b0a6b5",
      "type": "library",
      "publisher": "Debian OpenSSL Team <pkg-openssl-devel@alioth-lists.debian.net>",
      "name": "openssl",
      "version": "3.0.11-1~deb12u2",
      "licenses": [{"license": {"id": "Apache-2.0"}}, {"license": {"name": "Artistic"}}],
      "cpe": "cpe:2.3:a:openssl:openssl:3.0.11-1\\~deb12u2:*:*:*:*:*:*:*",
      "purl": "pkg:deb/debian/openssl@3.0.11-1~deb12u2?arch=amd64&upstream=openssl&distro=debian-12",
      "properties": [
        {"name": "syft:package:foundBy", "value": "dpkg-db-cataloger"},
        {"name": "syft:package:type", "value": "deb"},
        {"name": "syft:location:0:layerID", "value": "sha256:1111111111111111111111111111111111111111111111111111111111111111"},
        {"name": "syft:location:0:path", "value": "/var/lib/dpkg/status"},
        {"name": "syft:location:1:layerID", "value": "sha256:1111111111111111111111111111111111111111111111111111111111111111"},
        {"name": "syft:location:1:path", "value": "/usr/share/doc/openssl/copyright"},
        {"name": "syft:metadata:installedSize", "value": "2300"}
      ]
    },
    {
      "bom-ref": "pkg:deb/debian/libssl3@3.0.11-1~deb12u2%2Bb1?arch=amd64&upstream=openssl%403.0.11-1~deb12u2&distro=debian-12&package-id=0c7b",
      "type": "library",
      "name": "libssl3",
      "version": "3.0.11-1~deb12u2+b1",
      "licenses": [{"license": {"id": "Apache-2.0"}}],
      "purl": "pkg:deb/debian/libssl3@3.0.11-1~deb12u2%2Bb1?arch=amd64&upstream=openssl%403.0.11-1~deb12u2&distro=debian-12",
      "properties": [
        {"name": "syft:location:0:layerID", "value": "sha256:1111111111111111111111111111111111111111111111111111111111111111"},
        {"name": "syft:location:0:path", "value": "/var/lib/dpkg/status"}
      ]
    },
    {
      "bom-ref": "pkg:golang/github.com/gorilla/mux@v1.8.0?package-id=9f1c",
      "type": "library",
      "name": "github.com/gorilla/mux",
      "version": "v1.8.0",
      "purl": "pkg:golang/github.com/gorilla/mux@v1.8.0",
      "properties": [
        {"name": "syft:location:0:path", "value": "/usr/local/bin/app"}
      ]
    },
    {
      "bom-ref": "pkg:npm/left-pad@1.3.0?package-id=77aa",
      "type": "library",
      "name": "left-pad",
      "version": "1.3.0",
      "licenses": [{"expression": "MIT AND (BSD-3-Clause OR Apache-2.0)"}],
      "purl": "pkg:npm/left-pad@1.3.0",
      "evidence": {"occurrences": [{"location": "/app/node_modules/left-pad/package.json"}]}
    },
    {
      "bom-ref": "os-ref",
      "type": "operating-system",
      "name": "debian",
      "version": "12",
      "description": "Debian GNU/Linux 12 (bookworm)",
      "properties": [
        {"name": "syft:distro:id", "value": "debian"},
        {"name": "syft:distro:versionCodename", "value": "bookworm"},
        {"name": "syft:distro:versionID", "value": "12"}
      ]
    },
    {
      "bom-ref": "file-ref",
      "type": "file",
      "name": "/var/lib/dpkg/status",
      "hashes": [{"alg": "SHA-1", "content": "0000000000000000000000000000000000000000"}]
    }
  ]
}`

func TestDecodeSyftSPDX(t *testing.T) {
	got, f, err := Decode(strings.NewReader(syftSPDX))
	if err != nil {
		t.Fatal(err)
	}
	if f != FormatSPDXJSON {
		t.Errorf("format %q", f)
	}
	want := inventory.Inventory{
		Subject: inventory.Subject{Name: "debian:12", Digest: imageDigest},
		OS:      &inventory.OS{ID: "debian", VersionID: "12"},
		Packages: []inventory.Package{
			{
				Name: "openssl", Version: "3.0.11-1~deb12u2", Ecosystem: "Debian:12",
				PURL:     "pkg:deb/debian/openssl@3.0.11-1~deb12u2?arch=amd64&upstream=openssl&distro=debian-12",
				Licenses: []string{"Apache-2.0", "Artistic"},
			},
			{
				// The source version is the binary's: not recorded, as
				// the extractor does not.
				Name: "libssl3", Version: "3.0.11-1~deb12u2", Ecosystem: "Debian:12",
				PURL:       "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&upstream=openssl%403.0.11-1~deb12u2&distro=debian-12",
				SourceName: "openssl",
				Licenses:   []string{"Apache-2.0"},
			},
			{
				Name: "tzdata", Version: "2024a-0+deb12u1", Ecosystem: "Debian:12",
				PURL: "pkg:deb/debian/tzdata@2024a-0%2Bdeb12u1?arch=all&distro=debian-12",
			},
			{
				Name: "com.fasterxml.jackson.core:jackson-databind", Version: "2.15.2", Ecosystem: "Maven",
				PURL: "pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.15.2",
			},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %s\nwant %s", dump(got), dump(want))
	}
	// The matcher's view: Debian publishes advisories for the source
	// package, openssl.
	for _, p := range got.Packages[:2] {
		if n, v := p.MatchName(), p.MatchVersion(); n != "openssl" || v != "3.0.11-1~deb12u2" {
			t.Errorf("%s matches as %s %s", p.Name, n, v)
		}
	}
}

func TestDecodeSyftCycloneDX(t *testing.T) {
	got, f, err := Decode(strings.NewReader(syftCycloneDX))
	if err != nil {
		t.Fatal(err)
	}
	if f != FormatCycloneDXJSON {
		t.Errorf("format %q", f)
	}
	layer := "sha256:" + strings.Repeat("11", 32)
	want := inventory.Inventory{
		Subject: inventory.Subject{Name: "debian:12", Digest: imageDigest},
		OS:      &inventory.OS{ID: "debian", VersionID: "12", Codename: "bookworm", PrettyName: "Debian GNU/Linux 12 (bookworm)"},
		Packages: []inventory.Package{
			{
				Name: "openssl", Version: "3.0.11-1~deb12u2", Ecosystem: "Debian:12",
				PURL:      "pkg:deb/debian/openssl@3.0.11-1~deb12u2?arch=amd64&upstream=openssl&distro=debian-12",
				Licenses:  []string{"Apache-2.0", "Artistic"},
				Locations: []string{"/var/lib/dpkg/status", "/usr/share/doc/openssl/copyright"},
				Layer:     layer,
			},
			{
				Name: "libssl3", Version: "3.0.11-1~deb12u2+b1", Ecosystem: "Debian:12",
				PURL:       "pkg:deb/debian/libssl3@3.0.11-1~deb12u2%2Bb1?arch=amd64&upstream=openssl%403.0.11-1~deb12u2&distro=debian-12",
				SourceName: "openssl", SourceVersion: "3.0.11-1~deb12u2",
				Licenses:  []string{"Apache-2.0"},
				Locations: []string{"/var/lib/dpkg/status"},
				Layer:     layer,
			},
			{
				Name: "github.com/gorilla/mux", Version: "v1.8.0", Ecosystem: "Go",
				PURL:      "pkg:golang/github.com/gorilla/mux@v1.8.0",
				Locations: []string{"/usr/local/bin/app"},
			},
			{
				Name: "left-pad", Version: "1.3.0", Ecosystem: "npm",
				PURL:      "pkg:npm/left-pad@1.3.0",
				Licenses:  []string{"MIT", "BSD-3-Clause OR Apache-2.0"},
				Locations: []string{"/app/node_modules/left-pad/package.json"},
			},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %s\nwant %s", dump(got), dump(want))
	}
}

// A foreign SBOM whose OS packages' PURLs lack the distro qualifier takes
// the release from the OS component; without either the ecosystem stays
// unknown.
func TestDecodeEcosystemFromOSComponent(t *testing.T) {
	doc := func(withOS bool) string {
		os := ""
		if withOS {
			os = `{"type": "operating-system", "name": "alpine", "version": "3.20.3"},`
		}
		return `{"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1, "components": [` + os + `
			{"type": "library", "name": "musl", "version": "1.2.5-r0", "purl": "pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64&upstream=musl"}]}`
	}
	for _, tt := range []struct {
		withOS bool
		want   string
	}{{true, "Alpine:v3.20"}, {false, ""}} {
		inv, _, err := Decode(strings.NewReader(doc(tt.withOS)))
		if err != nil {
			t.Fatal(err)
		}
		if len(inv.Packages) != 1 || inv.Packages[0].Ecosystem != tt.want || inv.Packages[0].MatchName() != "musl" {
			t.Errorf("with OS %v: %s, want ecosystem %q", tt.withOS, dump(inv.Packages), tt.want)
		}
	}
}

// SPDX 2.2 documents are read too (tools-golang converts them).
func TestDecodeSPDX22(t *testing.T) {
	doc := strings.Replace(syftSPDX, `"SPDX-2.3"`, `"SPDX-2.2"`, 1)
	// 2.2 has no primaryPackagePurpose: the described package with an oci
	// PURL is the image.
	doc = strings.Replace(doc, `,
   "primaryPackagePurpose": "CONTAINER"`, "", 1)
	inv, f, err := Decode(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	if f != FormatSPDXJSON || inv.Subject.Name != "debian:12" || inv.Subject.Digest != imageDigest || len(inv.Packages) != 4 {
		t.Errorf("format %s, %s", f, dump(inv))
	}
}

func TestDecodeRejects(t *testing.T) {
	tests := []struct {
		name, doc string
		want      error  // errors.Is
		contains  string // in the message
	}{
		{"empty", "", ErrUnknownFormat, "empty input"},
		{"blank", " \n\t", ErrUnknownFormat, "empty input"},
		{"not JSON", "<?xml version='1.0'?><bom/>", ErrUnknownFormat, "not an SPDX or CycloneDX JSON document"},
		{"JSON array", "[1,2]", ErrUnknownFormat, ""},
		{"other JSON", `{"name": "x", "packages": []}`, ErrUnknownFormat, ""},
		{"truncated SPDX", syftSPDX[:len(syftSPDX)/2], nil, "decode spdx-json SBOM: unexpected end of JSON input"},
		{"truncated CycloneDX", syftCycloneDX[:len(syftCycloneDX)/2], nil, "decode cyclonedx-json SBOM: unexpected end of JSON input"},
		{"truncated early", `{"spdxVer`, ErrUnknownFormat, ""},
		{"SPDX 3", `{"@context": "https://spdx.org/rdf/3.0.1/spdx-context.jsonld", "@graph": []}`, ErrUnknownFormat, "SPDX 3"},
		{"SPDX version", `{"spdxVersion": "SPDX-1.2"}`, ErrUnknownFormat, "SPDX-1.2"},
		{"CycloneDX version", `{"bomFormat": "CycloneDX", "specVersion": "1.1"}`, ErrUnknownFormat, "1.1"},
		{"bomFormat", `{"bomFormat": "SWID", "specVersion": "1.6"}`, ErrUnknownFormat, "SWID"},
		{"SPDX bad element id", strings.Replace(syftSPDX, `"SPDXRef-Package-deb-tzdata-2c1f"`, `"tzdata"`, 1), nil, "decode spdx-json SBOM"},
		{"SPDX packages not a list", `{"spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT", "packages": {"a": 1}}`, nil, "decode spdx-json SBOM"},
		{"CycloneDX components not a list", `{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": "x"}`, nil, "decode cyclonedx-json SBOM"},
		{"bad image layer", strings.Replace(string(mustEncode(t, FormatCycloneDXJSON)), " 1234", " many", 1), nil, "cssc:image-layer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, f, err := Decode(strings.NewReader(tt.doc))
			if err == nil {
				t.Fatalf("accepted: %s %s", f, dump(inv))
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.contains) {
				t.Errorf("error %q does not say %q", err, tt.contains)
			}
			if f != "" || !reflect.DeepEqual(inv, inventory.Inventory{}) {
				t.Errorf("an error came with a result: %s %s", f, dump(inv))
			}
		})
	}
}

func mustEncode(t *testing.T, f Format) []byte { return encode(t, fixture(), f) }

func TestDecodeSizeLimit(t *testing.T) {
	data := mustEncode(t, FormatSPDXJSON)
	n := int64(len(data))
	for _, tt := range []struct {
		limit int64
		ok    bool
	}{{n, true}, {n - 1, false}, {1, false}} {
		_, _, err := Decoder{MaxBytes: tt.limit}.Decode(bytes.NewReader(data))
		if tt.ok && err != nil {
			t.Errorf("limit %d (document %d): %v", tt.limit, n, err)
		}
		if !tt.ok && !errors.Is(err, ErrTooLarge) {
			t.Errorf("limit %d (document %d): error %v, want ErrTooLarge", tt.limit, n, err)
		}
	}
	// Without a limit set, the default applies; and a reader that never
	// ends is cut off at the limit rather than read to exhaustion.
	if got := (Decoder{}).maxBytes(); got != DefaultMaxBytes {
		t.Errorf("default limit %d, want %d", got, DefaultMaxBytes)
	}
	_, _, err := Decoder{MaxBytes: 1 << 20}.Decode(&endless{limit: 1<<20 + 1})
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("endless reader: %v", err)
	}
}

// endless yields spaces, then an error if read past limit: Decode must stop
// at its own limit + 1.
type endless struct{ limit, read int64 }

func (e *endless) Read(p []byte) (int, error) {
	if e.read >= e.limit {
		return 0, errors.New("read past the limit")
	}
	n := min(int64(len(p)), e.limit-e.read)
	for i := range n {
		p[i] = ' '
	}
	e.read += n
	return int(n), nil
}

func TestEcosystemFromPURL(t *testing.T) {
	debian := &inventory.OS{ID: "debian", VersionID: "12"}
	tests := []struct {
		purl string
		os   *inventory.OS
		want string
	}{
		{"pkg:deb/debian/openssl@3.0.11-1~deb12u2?arch=amd64&upstream=openssl&distro=debian-12", nil, "Debian:12"},
		{"pkg:deb/debian/openssl@3.0.11-1~deb12u2?distro=debian-12.5", nil, "Debian:12"},
		{"pkg:deb/debian/openssl@1.1.1n-0+deb11u5", debian, "Debian:12"},
		{"pkg:deb/debian/openssl@1.1.1n-0+deb11u5", nil, ""},
		{"pkg:deb/debian/openssl@1.1.1n-0+deb11u5?distro=bookworm", nil, ""},
		{"pkg:deb/ubuntu/openssl@3.0.2-0ubuntu1.15?distro=ubuntu-22.04", nil, "Ubuntu:22.04:LTS"},
		{"pkg:deb/ubuntu/openssl@3.0.2?distro=ubuntu-24.04", debian, "Ubuntu:24.04:LTS"},
		{"pkg:deb/ubuntu/openssl@3.0.5?distro=ubuntu-22.10", nil, "Ubuntu:22.10"},
		{"pkg:deb/ubuntu/openssl@3.0.5?distro=ubuntu-23.04", nil, "Ubuntu:23.04"},
		{"pkg:deb/ubuntu/openssl@3.0.2", debian, ""}, // the OS is not Ubuntu
		{"pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64&distro=alpine-3.20.3", nil, "Alpine:v3.20"},
		{"pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=3.18.4", nil, "Alpine:v3.18"},
		{"pkg:apk/alpine/musl@1.2.4-r2?distro=alpine-edge", nil, ""},
		{"pkg:apk/wolfi/glibc@2.39-r1", nil, "Wolfi"},
		{"pkg:rpm/rocky/openssl@3.0.7-25.el9?distro=rocky-9.3", nil, "Rocky Linux:9"},
		{"pkg:rpm/almalinux/openssl@3.0.7-25.el9?distro=almalinux-9.3", nil, "AlmaLinux:9"},
		{"pkg:rpm/redhat/openssl@3.0.7-25.el9?distro=rhel-9.3", nil, ""},
		{"pkg:golang/github.com/gorilla/mux@v1.8.0", nil, "Go"},
		{"pkg:golang/stdlib@1.21.5", nil, "Go"},
		{"pkg:pypi/requests@2.31.0", nil, "PyPI"},
		{"pkg:npm/%40babel/core@7.23.0", nil, "npm"},
		{"pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1", nil, "Maven"},
		{"pkg:cargo/serde@1.0.190", nil, "crates.io"},
		{"pkg:gem/rails@7.1.0", nil, "RubyGems"},
		{"pkg:composer/laravel/framework@10.0.0", nil, "Packagist"},
		{"pkg:nuget/Newtonsoft.Json@13.0.1", nil, "NuGet"},
		{"pkg:generic/busybox@1.36.1", debian, ""},
	}
	for _, tt := range tests {
		p, err := packageurl.FromString(tt.purl)
		if err != nil {
			t.Fatalf("%s: %v", tt.purl, err)
		}
		if got := ecosystemFromPURL(p, tt.os); got != tt.want {
			t.Errorf("ecosystemFromPURL(%s, %+v) = %q, want %q", tt.purl, tt.os, got, tt.want)
		}
	}
}

func TestSourceFromPURL(t *testing.T) {
	tests := []struct{ purl, name, version string }{
		{"pkg:deb/debian/libssl3@3.0.11-1?upstream=openssl", "openssl", ""},
		{"pkg:deb/debian/libssl3@3.0.11-1?upstream=openssl%401.2", "openssl", "1.2"},
		{"pkg:apk/alpine/libcrypto3@3.3.2-r0?upstream=openssl", "openssl", ""},
		{"pkg:rpm/redhat/openssl-libs@3.0.7-25.el9?upstream=openssl-3.0.7-25.el9.src.rpm", "openssl", "3.0.7-25.el9"},
		{"pkg:rpm/redhat/python3-libs@3.9.18-1.el9?upstream=python3.9-3.9.18-1.el9.src.rpm", "python3.9", "3.9.18-1.el9"},
		{"pkg:rpm/redhat/x@1?upstream=broken.src.rpm", "broken", ""},
		{"pkg:deb/debian/tzdata@2024a-0", "", ""},
	}
	for _, tt := range tests {
		p, err := packageurl.FromString(tt.purl)
		if err != nil {
			t.Fatalf("%s: %v", tt.purl, err)
		}
		if n, v := sourceFromPURL(p); n != tt.name || v != tt.version {
			t.Errorf("sourceFromPURL(%s) = %q %q, want %q %q", tt.purl, n, v, tt.name, tt.version)
		}
	}
}

func TestLicenses(t *testing.T) {
	tests := []struct {
		in   []string
		spdx string // licenseDeclared, LicenseRef hashes elided as "#"
		back []string
	}{
		{nil, "NOASSERTION", nil},
		{[]string{"MIT"}, "MIT", []string{"MIT"}},
		{[]string{"mit", "apache-2.0"}, "MIT AND Apache-2.0", []string{"MIT", "Apache-2.0"}},
		{[]string{"MIT OR Apache-2.0"}, "MIT OR Apache-2.0", []string{"MIT OR Apache-2.0"}},
		{[]string{"MIT AND ISC"}, "(MIT AND ISC)", []string{"MIT AND ISC"}},
		{[]string{"MIT OR Apache-2.0", "ISC"}, "(MIT OR Apache-2.0) AND ISC", []string{"MIT OR Apache-2.0", "ISC"}},
		{[]string{"GPL-2.0-or-later WITH Classpath-exception-2.0"}, "GPL-2.0-or-later WITH Classpath-exception-2.0",
			[]string{"GPL-2.0-or-later WITH Classpath-exception-2.0"}},
		{[]string{"GPL-2.0+"}, "GPL-2.0+", []string{"GPL-2.0+"}},
		{[]string{"LicenseRef-Proprietary"}, "LicenseRef-Proprietary", []string{"LicenseRef-Proprietary"}},
		{[]string{"Public Domain"}, "LicenseRef-Public-Domain-#", []string{"Public Domain"}},
		{[]string{"Artistic"}, "LicenseRef-Artistic", []string{"Artistic"}},
		{[]string{"MIT AND"}, "LicenseRef-MIT-AND-#", []string{"MIT AND"}},
		{[]string{"DocumentRef-x:LicenseRef-y"}, "LicenseRef-DocumentRef-x-LicenseRef-y-#", []string{"DocumentRef-x:LicenseRef-y"}},
		{[]string{"(((", " "}, "LicenseRef-#", []string{"((("}},
	}
	hash := regexp.MustCompile(`-[0-9a-f]{8}$`)
	for _, tt := range tests {
		refs := map[string]string{}
		got := spdxLicense(tt.in, refs)
		if hash.ReplaceAllString(got, "-#") != tt.spdx {
			t.Errorf("spdxLicense(%q) = %q, want %q", tt.in, got, tt.spdx)
		}
		if back := licensesFromSPDX(got, refs); !reflect.DeepEqual(back, tt.back) {
			t.Errorf("licensesFromSPDX(%q) = %q, want %q", got, back, tt.back)
		}
		cdxBack := licensesFromCDX(cdxLicenses(tt.in))
		if !reflect.DeepEqual(cdxBack, tt.back) {
			t.Errorf("CycloneDX licences of %q read back as %q, want %q", tt.in, cdxBack, tt.back)
		}
	}
}

// trivySPDX is an SPDX 2.3 document as Trivy writes one (and Harbor
// attaches as its SBOM accessory): an OPERATING-SYSTEM package, the source
// package in sourceInfo, a distro qualifier with the point release, the
// image's digest only in its PURL, and a per-language "application" entry
// that is not a package.
const trivySPDX = `{
  "spdxVersion": "SPDX-2.3",
  "dataLicense": "CC0-1.0",
  "SPDXID": "SPDXRef-DOCUMENT",
  "name": "debian:12",
  "documentNamespace": "http://aquasecurity.github.io/trivy/container_image/debian:12-5b7c",
  "creationInfo": {"creators": ["Organization: aquasecurity", "Tool: trivy-0.50.1"], "created": "2025-02-20T10:00:00Z"},
  "packages": [
    {
      "name": "debian:12",
      "SPDXID": "SPDXRef-ContainerImage-9a6d",
      "downloadLocation": "NONE",
      "primaryPackagePurpose": "CONTAINER",
      "filesAnalyzed": false,
      "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
        "referenceLocator": "pkg:oci/debian@sha256%3Aabababababababababababababababababababababababababababababababab?arch=amd64&repository_url=index.docker.io%2Flibrary%2Fdebian"}],
      "annotations": [{"annotator": "Tool: trivy-0.50.1", "annotationDate": "2025-02-20T10:00:00Z", "annotationType": "OTHER", "comment": "ImageID: sha256:1234"}]
    },
    {
      "name": "debian",
      "SPDXID": "SPDXRef-OperatingSystem-5e2f",
      "versionInfo": "12.5",
      "downloadLocation": "NONE",
      "primaryPackagePurpose": "OPERATING-SYSTEM",
      "filesAnalyzed": false
    },
    {
      "name": "libssl3",
      "SPDXID": "SPDXRef-Package-1d4f",
      "versionInfo": "3.0.11-1~deb12u2",
      "supplier": "NOASSERTION",
      "downloadLocation": "NONE",
      "filesAnalyzed": false,
      "sourceInfo": "built package from: openssl 3.0.11-1~deb12u2",
      "licenseConcluded": "Apache-2.0",
      "licenseDeclared": "Apache-2.0",
      "primaryPackagePurpose": "LIBRARY",
      "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
        "referenceLocator": "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12.5"}],
      "annotations": [{"annotator": "Tool: trivy-0.50.1", "annotationDate": "2025-02-20T10:00:00Z", "annotationType": "OTHER", "comment": "LayerDiffID: sha256:12"}]
    },
    {
      "name": "Python",
      "SPDXID": "SPDXRef-Application-77f0",
      "downloadLocation": "NONE",
      "primaryPackagePurpose": "APPLICATION",
      "filesAnalyzed": false
    }
  ],
  "relationships": [
    {"spdxElementId": "SPDXRef-DOCUMENT", "relatedSpdxElement": "SPDXRef-ContainerImage-9a6d", "relationshipType": "DESCRIBES"},
    {"spdxElementId": "SPDXRef-ContainerImage-9a6d", "relatedSpdxElement": "SPDXRef-OperatingSystem-5e2f", "relationshipType": "CONTAINS"},
    {"spdxElementId": "SPDXRef-OperatingSystem-5e2f", "relatedSpdxElement": "SPDXRef-Package-1d4f", "relationshipType": "DEPENDS_ON"},
    {"spdxElementId": "SPDXRef-ContainerImage-9a6d", "relatedSpdxElement": "SPDXRef-Application-77f0", "relationshipType": "CONTAINS"}
  ]
}`

// trivyCycloneDX is a CycloneDX 1.5 BOM as Trivy writes one: the source
// package split into SrcName/SrcEpoch/SrcVersion/SrcRelease properties,
// the layer and file in properties, and an "application" component per
// lock file.
const trivyCycloneDX = `{
  "bomFormat": "CycloneDX",
  "specVersion": "1.5",
  "serialNumber": "urn:uuid:6c1a3a54-0d4b-4b8a-9f4e-2b0c8f9b1e11",
  "version": 1,
  "metadata": {
    "timestamp": "2025-02-20T10:00:00+00:00",
    "tools": {"components": [{"type": "application", "group": "aquasecurity", "name": "trivy", "version": "0.50.1"}]},
    "component": {
      "bom-ref": "pkg:oci/debian@sha256%3Aabababababababababababababababababababababababababababababababab?arch=amd64",
      "type": "container",
      "name": "debian:12",
      "purl": "pkg:oci/debian@sha256%3Aabababababababababababababababababababababababababababababababab?arch=amd64",
      "properties": [{"name": "aquasecurity:trivy:SchemaVersion", "value": "2"}]
    }
  },
  "components": [
    {
      "bom-ref": "pkg:deb/debian/libfoo1@2.0-3%2Bb1?arch=amd64&distro=debian-12.5&epoch=1",
      "type": "library",
      "name": "libfoo1",
      "version": "1:2.0-3+b1",
      "purl": "pkg:deb/debian/libfoo1@2.0-3%2Bb1?arch=amd64&distro=debian-12.5&epoch=1",
      "properties": [
        {"name": "aquasecurity:trivy:LayerDigest", "value": "sha256:1111111111111111111111111111111111111111111111111111111111111111"},
        {"name": "aquasecurity:trivy:LayerDiffID", "value": "sha256:1212121212121212121212121212121212121212121212121212121212121212"},
        {"name": "aquasecurity:trivy:PkgType", "value": "debian"},
        {"name": "aquasecurity:trivy:SrcEpoch", "value": "1"},
        {"name": "aquasecurity:trivy:SrcName", "value": "foo"},
        {"name": "aquasecurity:trivy:SrcRelease", "value": "3"},
        {"name": "aquasecurity:trivy:SrcVersion", "value": "2.0"}
      ]
    },
    {
      "bom-ref": "3ff14136-e09f-4df9-80ea-000000000001",
      "type": "application",
      "name": "usr/lib/python3/dist-packages",
      "properties": [{"name": "aquasecurity:trivy:Class", "value": "lang-pkgs"}, {"name": "aquasecurity:trivy:Type", "value": "python-pkg"}]
    },
    {
      "bom-ref": "pkg:pypi/requests@2.31.0",
      "type": "library",
      "name": "requests",
      "version": "2.31.0",
      "licenses": [{"license": {"name": "Apache 2.0"}}],
      "purl": "pkg:pypi/requests@2.31.0",
      "properties": [
        {"name": "aquasecurity:trivy:FilePath", "value": "usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA"},
        {"name": "aquasecurity:trivy:PkgType", "value": "python-pkg"}
      ]
    },
    {
      "bom-ref": "8e4f5c0a-os",
      "type": "operating-system",
      "name": "debian",
      "version": "12.5"
    }
  ]
}`

func TestDecodeTrivy(t *testing.T) {
	layer := "sha256:" + strings.Repeat("11", 32)
	tests := []struct {
		name, doc string
		want      inventory.Inventory
	}{
		{"SPDX", trivySPDX, inventory.Inventory{
			Subject: inventory.Subject{Name: "debian:12", Digest: imageDigest},
			OS:      &inventory.OS{ID: "debian", VersionID: "12.5"},
			Packages: []inventory.Package{{
				Name: "libssl3", Version: "3.0.11-1~deb12u2", Ecosystem: "Debian:12",
				PURL:       "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12.5",
				SourceName: "openssl",
				Licenses:   []string{"Apache-2.0"},
			}},
		}},
		{"CycloneDX", trivyCycloneDX, inventory.Inventory{
			Subject: inventory.Subject{Name: "debian:12", Digest: imageDigest},
			OS:      &inventory.OS{ID: "debian", VersionID: "12.5"},
			Packages: []inventory.Package{
				{
					Name: "libfoo1", Version: "1:2.0-3+b1", Ecosystem: "Debian:12",
					PURL:       "pkg:deb/debian/libfoo1@2.0-3%2Bb1?arch=amd64&distro=debian-12.5&epoch=1",
					SourceName: "foo", SourceVersion: "1:2.0-3",
					Layer: layer,
				},
				{
					Name: "requests", Version: "2.31.0", Ecosystem: "PyPI",
					PURL:      "pkg:pypi/requests@2.31.0",
					Licenses:  []string{"Apache 2.0"},
					Locations: []string{"usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA"},
				},
			},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := Decode(strings.NewReader(tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %s\nwant %s", dump(got), dump(tt.want))
			}
		})
	}
}

// readSPDX's one-pass parse of SPDX 2.3 gives what the library's reader
// gives, apart from the fields it does not fill (filesAnalyzed defaults,
// hasFiles relationships), which cssc does not read.
func TestReadSPDXMatchesLibrary(t *testing.T) {
	for name, doc := range map[string]string{
		"syft":  syftSPDX,
		"trivy": trivySPDX,
		"cssc":  string(mustEncode(t, FormatSPDXJSON)),
	} {
		t.Run(name, func(t *testing.T) {
			ours, err := readSPDX([]byte(doc), "SPDX-2.3")
			if err != nil {
				t.Fatal(err)
			}
			lib, err := spdxjson.Read(strings.NewReader(doc))
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range []*spdx.Document{ours, lib} {
				for _, p := range d.Packages {
					p.FilesAnalyzed, p.IsFilesAnalyzedTagPresent = false, false
				}
			}
			rels := func(d *spdx.Document) []string {
				var out []string
				for _, r := range d.Relationships {
					out = append(out, common.RenderDocElementID(r.RefA)+" "+r.Relationship+" "+common.RenderDocElementID(r.RefB))
				}
				slices.Sort(out)
				return out
			}
			if !reflect.DeepEqual(rels(ours), rels(lib)) {
				t.Errorf("relationships\n ours %q\n  lib %q", rels(ours), rels(lib))
			}
			ours.Relationships, lib.Relationships = nil, nil
			if !reflect.DeepEqual(ours, lib) {
				t.Errorf("documents differ:\n ours %s\n  lib %s", dump(ours), dump(lib))
			}
		})
	}
}

// What cssc did not know stays unknown through a round trip: no OS, layers
// with missing fields, a package without an ecosystem whose PURL would
// suggest one (Decode derives ecosystems only for other tools' SBOMs).
func TestRoundTripSparse(t *testing.T) {
	in := inventory.Inventory{
		Subject: inventory.Subject{Name: "oci:/tmp/layout:v1"},
		Layers:  []inventory.Layer{{Digest: layer1}, {DiffID: diff2, Size: 7}},
		Packages: []inventory.Package{
			{Name: "busybox", Version: "1.36.1-r2", PURL: "pkg:apk/alpine/busybox@1.36.1-r2?distro=alpine-3.20.3"},
			{Name: "tool", Version: "0.1"},
			{Name: "unversioned", Locations: []string{"/usr/bin/unversioned"}},
		},
	}
	for _, f := range []Format{FormatSPDXJSON, FormatCycloneDXJSON} {
		got, _, err := Decode(bytes.NewReader(encode(t, in, f)))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if !reflect.DeepEqual(got, in) {
			t.Errorf("%s: got %s\nwant %s", f, dump(got), dump(in))
		}
	}
}
