package sbom

import (
	"strings"

	packageurl "github.com/package-url/packageurl-go"

	"github.com/cssc-project/cssc/internal/inventory"
)

// languageEcosystem is the OSV ecosystem packages of a language purl type
// are published under.
func languageEcosystem(purlType string) string {
	switch purlType {
	case packageurl.TypeGolang:
		return "Go"
	case packageurl.TypePyPi:
		return "PyPI"
	case packageurl.TypeNPM:
		return "npm"
	case packageurl.TypeMaven:
		return "Maven"
	case packageurl.TypeCargo:
		return "crates.io"
	case packageurl.TypeGem:
		return "RubyGems"
	case packageurl.TypeComposer:
		return "Packagist"
	case packageurl.TypeNuget:
		return "NuGet"
	case packageurl.TypeHex:
		return "Hex"
	case packageurl.TypePub:
		return "Pub"
	}
	return ""
}

// ecosystemFromPURL derives the OSV ecosystem of a package that an SBOM
// gives only a PURL for. OS packages take the release from the PURL's
// distro qualifier, or from the image's OS when the PURL has none and the
// OS is the package's distribution. Empty when it cannot be told: the
// matcher then reports the package as not covered rather than clean.
func ecosystemFromPURL(p packageurl.PackageURL, os *inventory.OS) string {
	if e := languageEcosystem(p.Type); e != "" {
		return e
	}
	switch p.Type {
	case packageurl.TypeDebian, packageurl.TypeApk, packageurl.TypeRPM:
	default:
		return ""
	}
	id, ver := distroOf(p)
	if ver == "" && os != nil && (id == "" || id == os.ID) {
		id, ver = os.ID, os.VersionID
	}
	switch {
	case p.Type == packageurl.TypeDebian && id == "debian":
		return debianEcosystem(ver)
	case p.Type == packageurl.TypeDebian && id == "ubuntu":
		return ubuntuEcosystem(ver)
	case p.Type == packageurl.TypeApk && id == "alpine":
		return alpineEcosystem(ver)
	case p.Type == packageurl.TypeApk && id == "wolfi":
		return "Wolfi"
	case p.Type == packageurl.TypeApk && id == "chainguard":
		return "Chainguard"
	case p.Type == packageurl.TypeRPM && id == "almalinux":
		return majorEcosystem("AlmaLinux", ver)
	case p.Type == packageurl.TypeRPM && id == "rocky":
		return majorEcosystem("Rocky Linux", ver)
	}
	return ""
}

// distroOf reads an OS package PURL's distribution: the distro qualifier
// as syft writes it ("debian-12", "alpine-3.20.3", "ubuntu-22.04") or as
// a bare version ("3.20.3", Trivy), with the namespace as the id.
func distroOf(p packageurl.PackageURL) (id, ver string) {
	id = strings.ToLower(p.Namespace)
	d := p.Qualifiers.Map()["distro"]
	if d == "" {
		return id, ""
	}
	if i := strings.LastIndex(d, "-"); i > 0 && startsWithDigit(d[i+1:]) && !startsWithDigit(d) {
		return strings.ToLower(d[:i]), d[i+1:]
	}
	if startsWithDigit(d) {
		return id, d
	}
	return id, ""
}

func startsWithDigit(s string) bool { return s != "" && s[0] >= '0' && s[0] <= '9' }

// osFromPURL is the base OS an OS package's distro qualifier names.
func osFromPURL(p packageurl.PackageURL) *inventory.OS {
	switch p.Type {
	case packageurl.TypeDebian, packageurl.TypeApk, packageurl.TypeRPM:
	default:
		return nil
	}
	id, ver := distroOf(p)
	if id == "" || ver == "" {
		return nil
	}
	return &inventory.OS{ID: id, VersionID: ver}
}

// debianEcosystem: Debian advisories are per major release ("Debian:12").
func debianEcosystem(ver string) string { return majorEcosystem("Debian", ver) }

func majorEcosystem(prefix, ver string) string {
	major, _, _ := strings.Cut(ver, ".")
	if !allDigits(major) {
		return ""
	}
	return prefix + ":" + major
}

// alpineEcosystem: "3.20.3" → "Alpine:v3.20".
func alpineEcosystem(ver string) string {
	parts := strings.SplitN(strings.TrimPrefix(ver, "v"), ".", 3)
	if len(parts) < 2 || !allDigits(parts[0]) || !allDigits(parts[1]) {
		return ""
	}
	return "Alpine:v" + parts[0] + "." + parts[1]
}

// ubuntuEcosystem follows the OSV schema's naming: "Ubuntu:YY.MM", with a
// ":LTS" suffix for long-term-support releases (the April releases of even
// years: 20.04, 22.04, 24.04…).
func ubuntuEcosystem(ver string) string {
	parts := strings.SplitN(ver, ".", 3)
	if len(parts) < 2 || len(parts[0]) != 2 || len(parts[1]) != 2 || !allDigits(parts[0]) || !allDigits(parts[1]) {
		return ""
	}
	e := "Ubuntu:" + parts[0] + "." + parts[1]
	if parts[1] == "04" && (parts[0][1]-'0')%2 == 0 {
		e += ":LTS"
	}
	return e
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// sourceFromPURL reads the source package from the PURL's upstream
// qualifier: "openssl", "openssl@3.0.11-1" (Debian, Alpine), or a source
// RPM's file name "openssl-3.0.7-25.el9.src.rpm".
func sourceFromPURL(p packageurl.PackageURL) (name, version string) {
	up := p.Qualifiers.Map()["upstream"]
	if up == "" {
		return "", ""
	}
	if p.Type == packageurl.TypeRPM && strings.HasSuffix(up, ".src.rpm") {
		nvr := strings.TrimSuffix(up, ".src.rpm")
		// name-version-release: the name may contain dashes, version and
		// release may not.
		r := strings.LastIndex(nvr, "-")
		if r <= 0 {
			return nvr, ""
		}
		v := strings.LastIndex(nvr[:r], "-")
		if v <= 0 {
			return nvr, ""
		}
		return nvr[:v], nvr[v+1:]
	}
	name, version, _ = strings.Cut(up, "@")
	return name, version
}

// nameFromPURL is the name OSV lists a package under, when it differs from
// the plain name SBOM tools write: Maven's "groupId:artifactId".
func nameFromPURL(p packageurl.PackageURL, name string) string {
	if p.Type == packageurl.TypeMaven && p.Namespace != "" && !strings.Contains(name, ":") {
		return p.Namespace + ":" + p.Name
	}
	return name
}

// fillFromPURL completes a package read from a foreign SBOM: ecosystem,
// source package and name from its PURL.
func fillFromPURL(pkg *inventory.Package, os *inventory.OS) {
	if pkg.PURL == "" {
		return
	}
	p, err := packageurl.FromString(pkg.PURL)
	if err != nil {
		// An unparsable PURL leaves the ecosystem unknown, which the
		// matcher reports; it does not make the package disappear.
		return
	}
	if pkg.Name == "" {
		pkg.Name = p.Name
	}
	if pkg.Version == "" {
		pkg.Version = p.Version
	}
	pkg.Name = nameFromPURL(p, pkg.Name)
	pkg.Ecosystem = ecosystemFromPURL(p, os)
	if pkg.SourceName == "" {
		pkg.SourceName, pkg.SourceVersion = sourceFromPURL(p)
	}
}
