package sbom_test

import (
	"bytes"
	"testing"

	"github.com/cssc-project/cssc/internal/sbom"
)

// FuzzDecode feeds arbitrary documents to the SBOM reader: it must never
// panic, and what it accepts it must be able to write again.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","name":"x","dataLicense":"CC0-1.0","documentNamespace":"https://x","creationInfo":{"created":"2024-01-01T00:00:00Z","creators":["Tool: x"]},"packages":[{"SPDXID":"SPDXRef-p","name":"p","versionInfo":"1","downloadLocation":"NOASSERTION","externalRefs":[{"referenceCategory":"PACKAGE-MANAGER","referenceType":"purl","referenceLocator":"pkg:deb/debian/p@1?distro=debian-12"}]}]}`))
	f.Add([]byte(`{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"type":"library","name":"p","version":"1","purl":"pkg:pypi/p@1"}]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		inv, _, err := sbom.Decoder{MaxBytes: 1 << 20}.Decode(bytes.NewReader(doc))
		if err != nil {
			return
		}
		for _, format := range []sbom.Format{sbom.FormatSPDXJSON, sbom.FormatCycloneDXJSON} {
			var buf bytes.Buffer
			if err := sbom.Encode(&buf, inv, format, sbom.Options{}); err != nil {
				t.Fatalf("decoded, but cannot encode as %s: %v", format, err)
			}
		}
	})
}
