package sbom

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	packageurl "github.com/package-url/packageurl-go"

	"github.com/cssc-project/cssc/internal/inventory"
)

// Names of the facts cssc records beside the standard fields: CycloneDX
// properties, and SPDX annotations whose comment is "name=value".
const (
	propEcosystem     = "cssc:ecosystem"      // OSV ecosystem, possibly empty
	propSourceName    = "cssc:source-name"    // source package name
	propSourceVersion = "cssc:source-version" // source package version
	propLocation      = "cssc:location"       // a file the package was found in; repeated, in order
	propLayer         = "cssc:layer"          // digest of the layer that introduced Locations[0]
	propPlatform      = "cssc:platform"       // image: os/arch[/variant]
	propIndex         = "cssc:index"          // image: digest of the index it was selected from
	propImageLayer    = "cssc:image-layer"    // image: "<digest> <diff_id> <size>", bottom first
	propOSCodename    = "cssc:os-codename"    // operating system: VERSION_CODENAME
)

// property is one name=value fact, kept in order.
type property struct{ name, value string }

// packageProps lists p's facts that the standard fields do not carry. The
// ecosystem is always present (even empty): it marks a package described
// by cssc, whose facts are then taken as they are when read back.
func packageProps(p inventory.Package) []property {
	props := []property{{propEcosystem, p.Ecosystem}}
	if p.SourceName != "" {
		props = append(props, property{propSourceName, p.SourceName})
	}
	if p.SourceVersion != "" {
		props = append(props, property{propSourceVersion, p.SourceVersion})
	}
	for _, l := range p.Locations {
		props = append(props, property{propLocation, l})
	}
	if p.Layer != "" {
		props = append(props, property{propLayer, p.Layer})
	}
	return props
}

// applyPackageProps sets p's fields from cssc facts and reports whether
// the package was described by cssc.
func applyPackageProps(p *inventory.Package, props []property) (ours bool) {
	for _, pr := range props {
		switch pr.name {
		case propEcosystem:
			p.Ecosystem, ours = pr.value, true
		case propSourceName:
			p.SourceName = pr.value
		case propSourceVersion:
			p.SourceVersion = pr.value
		case propLocation:
			p.Locations = append(p.Locations, pr.value)
		case propLayer:
			p.Layer = pr.value
		}
	}
	return ours
}

// subjectProps lists the image's facts beside its name, digest and PURL.
func subjectProps(inv inventory.Inventory) []property {
	var props []property
	if inv.Subject.Platform != "" {
		props = append(props, property{propPlatform, inv.Subject.Platform})
	}
	if inv.Subject.Index != "" {
		props = append(props, property{propIndex, inv.Subject.Index})
	}
	for _, l := range inv.Layers {
		props = append(props, property{propImageLayer, fmt.Sprintf("%s %s %d", orDash(l.Digest), orDash(l.DiffID), l.Size)})
	}
	return props
}

// applySubjectProps sets the subject's platform and index and the layers.
func applySubjectProps(inv *inventory.Inventory, props []property) error {
	for _, pr := range props {
		switch pr.name {
		case propPlatform:
			inv.Subject.Platform = pr.value
		case propIndex:
			inv.Subject.Index = pr.value
		case propImageLayer:
			f := strings.Fields(pr.value)
			if len(f) != 3 {
				return fmt.Errorf("%s %q: want \"<digest> <diff_id> <size>\"", propImageLayer, pr.value)
			}
			size, err := strconv.ParseInt(f[2], 10, 64)
			if err != nil {
				return fmt.Errorf("%s %q: size: %w", propImageLayer, pr.value, err)
			}
			inv.Layers = append(inv.Layers, inventory.Layer{Digest: unDash(f[0]), DiffID: unDash(f[1]), Size: size})
		}
	}
	return nil
}

// orDash and unDash keep an empty field of a space-separated value.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func unDash(s string) string {
	if s == "-" {
		return ""
	}
	return s
}

// isPackage tells a package from the entries some tools add beside them
// (Trivy's per-lock-file "application" entries): those have neither a
// version nor a PURL, and nothing can be matched against them.
func isPackage(p inventory.Package) bool {
	return p.Version != "" || p.PURL != ""
}

// pending is a package read from a document, before the facts that
// depend on the whole document are filled in.
type pending struct {
	pkg  inventory.Package
	ours bool // described by cssc (has cssc:ecosystem)
}

// finishPackages completes packages from foreign SBOMs from their PURLs,
// and adds all to inv. A foreign SBOM that does not describe the OS gets
// it from the first OS package PURL with a distro qualifier.
func finishPackages(inv *inventory.Inventory, pkgs []pending) {
	foreign := slices.ContainsFunc(pkgs, func(p pending) bool { return !p.ours })
	if inv.OS == nil && foreign {
		for _, p := range pkgs {
			if purl, err := packageurl.FromString(p.pkg.PURL); err == nil {
				if inv.OS = osFromPURL(purl); inv.OS != nil {
					break
				}
			}
		}
	}
	for _, p := range pkgs {
		if !p.ours {
			fillFromPURL(&p.pkg, inv.OS)
			// As the inventory records it: no source package when it is
			// the binary package itself, no source version when the same.
			if p.pkg.SourceName == p.pkg.Name {
				p.pkg.SourceName = ""
			}
			if p.pkg.SourceName == "" || p.pkg.SourceVersion == p.pkg.Version {
				p.pkg.SourceVersion = ""
			}
		}
		inv.Packages = append(inv.Packages, p.pkg)
	}
}

// sortPackages orders packages by name, version, PURL and location, so
// that documents are the same whatever order the packages were found in.
func sortPackages(pkgs []inventory.Package) {
	slices.SortStableFunc(pkgs, func(a, b inventory.Package) int {
		return cmp.Or(
			cmp.Compare(a.Name, b.Name),
			cmp.Compare(a.Version, b.Version),
			cmp.Compare(a.PURL, b.PURL),
			slices.Compare(a.Locations, b.Locations),
			cmp.Compare(a.Ecosystem, b.Ecosystem),
			cmp.Compare(a.Layer, b.Layer),
		)
	})
}

// packageIDs gives each package an identifier derived from what it is
// (PURL, or ecosystem/name/version without one) and where it was found, so
// the same package in the same place has the same id in every document.
// Identical packages get "-2", "-3"… in order.
func packageIDs(pkgs []inventory.Package) []string {
	ids := make([]string, len(pkgs))
	seen := map[string]int{}
	for i, p := range pkgs {
		what := p.PURL
		if what == "" {
			what = p.Ecosystem + "\x00" + p.Name + "\x00" + p.Version
		}
		where := ""
		if len(p.Locations) > 0 {
			where = p.Locations[0]
		}
		sum := sha256.Sum256([]byte(what + "\x00" + where))
		id := "Package-" + hex.EncodeToString(sum[:8])
		seen[id]++
		if n := seen[id]; n > 1 {
			id += "-" + strconv.Itoa(n)
		}
		ids[i] = id
	}
	return ids
}

// splitDigest splits "alg:hex" and reports whether it is a well-formed
// sha256 or sha512 digest.
func splitDigest(d string) (alg, hexPart string, ok bool) {
	alg, hexPart, _ = strings.Cut(d, ":")
	want := map[string]int{"sha256": 64, "sha512": 128}[alg]
	if want == 0 || len(hexPart) != want {
		return "", "", false
	}
	if _, err := hex.DecodeString(hexPart); err != nil || strings.ToLower(hexPart) != hexPart {
		return "", "", false
	}
	return alg, hexPart, true
}

// imagePURL is the image's package URL (purl type "oci"): the name is the
// repository's last segment, the version the manifest digest, qualifiers
// repository_url, tag and arch when known.
func imagePURL(s inventory.Subject) string {
	repoName, repoURL, tag := imageRepo(s.Name)
	quals := map[string]string{}
	if repoURL != "" {
		quals["repository_url"] = repoURL
	}
	if tag != "" {
		quals["tag"] = tag
	}
	if _, arch, ok := strings.Cut(s.Platform, "/"); ok {
		arch, _, _ = strings.Cut(arch, "/")
		quals["arch"] = arch
	}
	version := ""
	if _, _, ok := splitDigest(s.Digest); ok {
		version = s.Digest
	}
	return packageurl.NewPackageURL(packageurl.TypeOCI, "", repoName, version,
		packageurl.QualifiersFromMap(quals), "").ToString()
}

// imageRepo splits an image reference as the user gave it into the purl's
// name, repository_url and tag.
func imageRepo(ref string) (repoName, repoURL, tag string) {
	switch {
	case strings.HasPrefix(ref, "oci:"):
		dir := strings.TrimPrefix(ref, "oci:")
		if i := strings.LastIndex(dir, ":"); i > strings.LastIndex(dir, "/") {
			dir, tag = dir[:i], dir[i+1:]
		}
		return lowerName(path.Base(path.Clean(dir))), "", tag
	case strings.HasPrefix(ref, "docker-archive:"):
		file := path.Base(strings.TrimPrefix(ref, "docker-archive:"))
		return lowerName(strings.TrimSuffix(file, path.Ext(file))), "", ""
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		// Not a reference go-containerregistry accepts: keep the last
		// path segment without digest or tag.
		base, _, _ := strings.Cut(path.Base(ref), "@")
		base, _, _ = strings.Cut(base, ":")
		return lowerName(base), "", ""
	}
	repo := r.Context()
	registry := repo.RegistryStr()
	if registry == name.DefaultRegistry {
		registry = "docker.io"
	}
	if t, ok := r.(name.Tag); ok {
		tag = t.TagStr()
	}
	return lowerName(path.Base(repo.RepositoryStr())), registry + "/" + repo.RepositoryStr(), tag
}

func lowerName(s string) string {
	s = strings.ToLower(s)
	if s == "" || s == "." || s == "/" {
		return "image"
	}
	return s
}
