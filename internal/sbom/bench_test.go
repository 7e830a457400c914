package sbom

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/cssc-project/cssc/internal/inventory"
)

// bigInventory is a Debian image of n packages, about the size of a
// typical distribution base image with some applications.
func bigInventory(n int) inventory.Inventory {
	inv := fixture()
	inv.Packages = nil
	for i := range n {
		inv.Packages = append(inv.Packages, inventory.Package{
			Name: fmt.Sprintf("lib%04d", i), Version: "1.2.3-4+deb12u1", Ecosystem: "Debian:12",
			PURL:       fmt.Sprintf("pkg:deb/debian/lib%04d@1.2.3-4%%2Bdeb12u1?arch=amd64&distro=debian-12&upstream=src%04d", i, i),
			SourceName: fmt.Sprintf("src%04d", i), Licenses: []string{"GPL-2.0-or-later", "BSD-like"},
			Locations: []string{"/var/lib/dpkg/status"}, Layer: layer1,
		})
	}
	return inv
}

func BenchmarkDecode(b *testing.B) {
	for _, f := range []Format{FormatSPDXJSON, FormatCycloneDXJSON} {
		var buf bytes.Buffer
		if err := Encode(&buf, bigInventory(300), f, testOpts); err != nil {
			b.Fatal(err)
		}
		b.Run(string(f), func(b *testing.B) {
			b.SetBytes(int64(buf.Len()))
			for b.Loop() {
				if _, _, err := Decode(bytes.NewReader(buf.Bytes())); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	inv := bigInventory(300)
	for _, f := range []Format{FormatSPDXJSON, FormatCycloneDXJSON} {
		b.Run(string(f), func(b *testing.B) {
			for b.Loop() {
				var buf bytes.Buffer
				if err := Encode(&buf, inv, f, testOpts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
