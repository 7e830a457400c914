// Package inventory is what an image contains: its base operating system
// and its packages, each with where it was found. It is the common
// language of the stages that read images (extraction), write and read
// SBOMs, and match packages against vulnerability data; it holds types
// only, so those stages do not depend on each other.
package inventory

import "strings"

// Inventory is the content of one image (one platform of an index).
type Inventory struct {
	Subject Subject `json:"subject"`
	// OS is the base operating system from /etc/os-release; nil when the
	// image has none (scratch, distroless without os-release).
	OS       *OS       `json:"os,omitempty"`
	Packages []Package `json:"packages"`
	// Layers lists the image's layers, bottom first.
	Layers []Layer `json:"layers,omitempty"`
	// Warnings are files that could not be read for packages (a malformed
	// package.json, say): the inventory may lack what they held.
	Warnings []string `json:"warnings,omitempty"`
}

// Subject names what was analysed.
type Subject struct {
	// Name is the reference as the user gave it (e.g. "host/repo:tag",
	// "oci:dir:tag"), or the name an SBOM gave its subject.
	Name string `json:"name"`
	// Digest is the manifest digest of the image ("sha256:…"); empty when
	// unknown (an SBOM that does not say).
	Digest string `json:"digest,omitempty"`
	// Index is the digest of the index the image was selected from, if any.
	Index string `json:"index,omitempty"`
	// Platform is "os/arch[/variant]", e.g. "linux/amd64".
	Platform string `json:"platform,omitempty"`
}

// Layer is one layer of the image.
type Layer struct {
	Digest string `json:"digest"`  // the blob's digest (compressed)
	DiffID string `json:"diff_id"` // the uncompressed tar's digest
	Size   int64  `json:"size"`    // compressed size
}

// OS is the base operating system, as /etc/os-release describes it.
type OS struct {
	ID         string `json:"id"`                    // "debian", "alpine", "ubuntu", "rhel", …
	VersionID  string `json:"version_id,omitempty"`  // "12", "3.20.3", "22.04"
	Codename   string `json:"codename,omitempty"`    // "bookworm"
	PrettyName string `json:"pretty_name,omitempty"` // "Debian GNU/Linux 12 (bookworm)"
}

// Package is one installed package.
type Package struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Ecosystem is the OSV ecosystem the package's vulnerabilities are
	// published under: "Debian:12", "Alpine:v3.20", "Ubuntu:22.04:LTS",
	// "Go", "PyPI", "npm", "Maven", "crates.io", "RubyGems", "Packagist", …
	// Empty when no OSV ecosystem covers the package.
	Ecosystem string `json:"ecosystem,omitempty"`
	// PURL is the package URL (https://github.com/package-url/purl-spec).
	PURL string `json:"purl,omitempty"`
	// SourceName and SourceVersion are an OS package's source package
	// (Debian "Source:", Alpine origin, RPM source RPM): distributions
	// publish advisories per source package. Empty when the same as the
	// binary package or unknown.
	SourceName    string   `json:"source_name,omitempty"`
	SourceVersion string   `json:"source_version,omitempty"`
	Licenses      []string `json:"licenses,omitempty"`
	// Locations are the files the package was found in, as absolute paths
	// inside the image; the first is the main one.
	Locations []string `json:"locations,omitempty"`
	// Layer is the digest of the layer that introduced the file the
	// package was found in (Locations[0]).
	Layer string `json:"layer,omitempty"`
}

// IsOS reports whether p is an operating-system package (its ecosystem
// names a distribution release or the PURL type is an OS one).
func (p Package) IsOS() bool {
	for _, t := range []string{"pkg:deb/", "pkg:apk/", "pkg:rpm/"} {
		if strings.HasPrefix(p.PURL, t) {
			return true
		}
	}
	return false
}

// MatchName is the name vulnerability data lists the package under: the
// source package for OS packages, the package name otherwise.
func (p Package) MatchName() string {
	if p.IsOS() && p.SourceName != "" {
		return p.SourceName
	}
	return p.Name
}

// MatchVersion is the version to compare with vulnerability data: the
// source package's version when it has one of its own.
func (p Package) MatchVersion() string {
	if p.IsOS() && p.SourceName != "" && p.SourceVersion != "" {
		return p.SourceVersion
	}
	return p.Version
}
