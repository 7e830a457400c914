package sbom

import (
	"bytes"
	"cmp"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/github/go-spdx/v2/spdxexp"
	packageurl "github.com/package-url/packageurl-go"

	"github.com/cssc-project/cssc/internal/inventory"
)

// bom-refs of the image and its operating system.
const (
	cdxImageRef = "image"
	cdxOSRef    = "operating-system"
)

func encodeCycloneDX(w io.Writer, inv inventory.Inventory, opts Options) error {
	ids := packageIDs(inv.Packages)
	bom := cdx.NewBOM()
	bom.SerialNumber = "urn:uuid:" + documentUUID(inv, ids, opts.Time.Format(time.RFC3339)).String()
	bom.Version = 1
	image := &cdx.Component{
		BOMRef:     cdxImageRef,
		Type:       cdx.ComponentTypeContainer,
		Name:       cmp.Or(inv.Subject.Name, inv.Subject.Digest, "unknown"),
		Version:    inv.Subject.Digest,
		PackageURL: imagePURL(inv.Subject),
		Properties: cdxProps(subjectProps(inv)),
	}
	if alg, hexPart, ok := splitDigest(inv.Subject.Digest); ok {
		algo := map[string]cdx.HashAlgorithm{"sha256": cdx.HashAlgoSHA256, "sha512": cdx.HashAlgoSHA512}[alg]
		image.Hashes = &[]cdx.Hash{{Algorithm: algo, Value: hexPart}}
	}
	bom.Metadata = &cdx.Metadata{
		Timestamp: opts.Time.Format(time.RFC3339),
		Tools: &cdx.ToolsChoice{Components: &[]cdx.Component{{
			Type:    cdx.ComponentTypeApplication,
			Name:    opts.ToolName,
			Version: opts.ToolVersion,
		}}},
		Component: image,
	}
	var comps []cdx.Component
	if os := inv.OS; os != nil {
		var props []property
		if os.Codename != "" {
			props = append(props, property{propOSCodename, os.Codename})
		}
		comps = append(comps, cdx.Component{
			BOMRef:      cdxOSRef,
			Type:        cdx.ComponentTypeOS,
			Name:        os.ID,
			Version:     os.VersionID,
			Description: os.PrettyName,
			Properties:  cdxProps(props),
		})
	}
	for i, p := range inv.Packages {
		comps = append(comps, cdx.Component{
			BOMRef:     ids[i],
			Type:       cdx.ComponentTypeLibrary,
			Name:       p.Name,
			Version:    p.Version,
			PackageURL: p.PURL,
			Licenses:   cdxLicenses(p.Licenses),
			Properties: cdxProps(packageProps(p)),
		})
	}
	if len(comps) > 0 {
		bom.Components = &comps
	}
	enc := cdx.NewBOMEncoder(w, cdx.BOMFileFormatJSON).SetPretty(true).SetEscapeHTML(false)
	return enc.EncodeVersion(bom, cdx.SpecVersion1_6)
}

func cdxProps(props []property) *[]cdx.Property {
	if len(props) == 0 {
		return nil
	}
	out := make([]cdx.Property, len(props))
	for i, p := range props {
		out[i] = cdx.Property{Name: p.name, Value: p.value}
	}
	return &out
}

// cdxLicenses writes licences as CycloneDX wants them: a list of licences
// (an SPDX id, or a name for anything else), or, when some are SPDX
// expressions and all are valid SPDX, one expression (the schema does not
// allow both in one list).
func cdxLicenses(lics []string) *cdx.Licenses {
	type lic struct {
		kind licenseKind
		norm string
	}
	var ls []lic
	anyExpr, anyOther := false, false
	for _, l := range lics {
		kind, norm := classifyLicense(l)
		if norm == "" {
			continue
		}
		if kind == licenseID {
			if ok, _ := spdxexp.ActiveLicense(norm); !ok {
				// Deprecated ids, "WITH" exceptions and LicenseRefs are
				// valid expressions but not in the schema's id list.
				kind = licenseExpression
			}
		}
		anyExpr = anyExpr || kind == licenseExpression
		anyOther = anyOther || kind == licenseOther
		ls = append(ls, lic{kind, norm})
	}
	if len(ls) == 0 {
		return nil
	}
	var out cdx.Licenses
	if anyExpr && !anyOther {
		exprs := make([]string, len(ls))
		for i, l := range ls {
			exprs[i] = l.norm
		}
		return &cdx.Licenses{{Expression: joinLicenses(exprs)}}
	}
	for _, l := range ls {
		if l.kind == licenseID {
			out = append(out, cdx.LicenseChoice{License: &cdx.License{ID: l.norm}})
		} else {
			out = append(out, cdx.LicenseChoice{License: &cdx.License{Name: l.norm}})
		}
	}
	return &out
}

func decodeCycloneDX(data []byte) (inventory.Inventory, error) {
	var bom cdx.BOM
	if err := cdx.NewBOMDecoder(bytes.NewReader(data), cdx.BOMFileFormatJSON).Decode(&bom); err != nil {
		return inventory.Inventory{}, err
	}
	var inv inventory.Inventory
	if bom.Metadata != nil && bom.Metadata.Component != nil {
		c := bom.Metadata.Component
		inv.Subject.Name = c.Name
		inv.Subject.Digest = cdxDigest(c)
		if err := applySubjectProps(&inv, props(c)); err != nil {
			return inventory.Inventory{}, err
		}
	}
	var all []*cdx.Component
	var walk func(cs *[]cdx.Component)
	walk = func(cs *[]cdx.Component) {
		if cs == nil {
			return
		}
		for i := range *cs {
			c := &(*cs)[i]
			all = append(all, c)
			walk(c.Components)
		}
	}
	walk(bom.Components)

	var pkgs []pending
	for _, c := range all {
		switch c.Type {
		case cdx.ComponentTypeOS:
			if inv.OS == nil {
				inv.OS = &inventory.OS{ID: c.Name, VersionID: c.Version, PrettyName: c.Description}
				for _, pr := range props(c) {
					if pr.name == propOSCodename || (pr.name == "syft:distro:versionCodename" && inv.OS.Codename == "") {
						inv.OS.Codename = pr.value
					}
				}
			}
			continue
		case cdx.ComponentTypeFile:
			continue
		}
		pkg := inventory.Package{Name: c.Name, Version: c.Version, PURL: c.PackageURL, Licenses: licensesFromCDX(c.Licenses)}
		ps := props(c)
		ours := applyPackageProps(&pkg, ps)
		if !ours {
			foreignCDXFacts(&pkg, c, ps)
		}
		if ours || isPackage(pkg) {
			pkgs = append(pkgs, pending{pkg, ours})
		}
	}
	finishPackages(&inv, pkgs)
	return inv, nil
}

// foreignCDXFacts reads locations, layer and source package from another
// tool's CycloneDX: syft's properties (syft:location:N:path and
// syft:location:N:layerID, syft:metadata:source and sourceVersion),
// Trivy's (aquasecurity:trivy:FilePath, LayerDigest, SrcName, SrcEpoch,
// SrcVersion, SrcRelease), and the standard evidence.occurrences.
func foreignCDXFacts(pkg *inventory.Package, c *cdx.Component, ps []property) {
	type loc struct {
		n           int
		path, layer string
	}
	var (
		syftLocs                   []loc
		trivyPath, trivyLayer      string
		srcEpoch, srcVer, srcRelse string
	)
	syftLoc := func(n int) *loc {
		for i := range syftLocs {
			if syftLocs[i].n == n {
				return &syftLocs[i]
			}
		}
		syftLocs = append(syftLocs, loc{n: n})
		return &syftLocs[len(syftLocs)-1]
	}
	for _, p := range ps {
		if rest, ok := strings.CutPrefix(p.name, "syft:location:"); ok {
			ns, field, _ := strings.Cut(rest, ":")
			if n, err := strconv.Atoi(ns); err == nil && field == "path" {
				syftLoc(n).path = p.value
			} else if err == nil && field == "layerID" {
				syftLoc(n).layer = p.value
			}
			continue
		}
		switch p.name {
		case "syft:metadata:source", "aquasecurity:trivy:SrcName":
			pkg.SourceName = p.value
		case "syft:metadata:sourceVersion":
			pkg.SourceVersion = p.value
		case "aquasecurity:trivy:SrcEpoch":
			srcEpoch = p.value
		case "aquasecurity:trivy:SrcVersion":
			srcVer = p.value
		case "aquasecurity:trivy:SrcRelease":
			srcRelse = p.value
		case "aquasecurity:trivy:FilePath":
			trivyPath = p.value
		case "aquasecurity:trivy:LayerDigest":
			trivyLayer = p.value
		}
	}
	if srcVer != "" {
		// Trivy splits versions as RPM does; put the source version back
		// together the way the distribution writes it.
		if srcEpoch != "" && srcEpoch != "0" {
			srcVer = srcEpoch + ":" + srcVer
		}
		if srcRelse != "" {
			srcVer += "-" + srcRelse
		}
		pkg.SourceVersion = srcVer
	}
	slices.SortFunc(syftLocs, func(a, b loc) int { return cmp.Compare(a.n, b.n) })
	for _, l := range syftLocs {
		if l.path != "" {
			pkg.Locations = append(pkg.Locations, l.path)
		}
	}
	if len(syftLocs) > 0 {
		pkg.Layer = syftLocs[0].layer
	}
	if trivyPath != "" && len(pkg.Locations) == 0 {
		pkg.Locations = []string{trivyPath}
	}
	if trivyLayer != "" && pkg.Layer == "" {
		pkg.Layer = trivyLayer
	}
	if len(pkg.Locations) == 0 && c.Evidence != nil && c.Evidence.Occurrences != nil {
		for _, o := range *c.Evidence.Occurrences {
			if o.Location != "" {
				pkg.Locations = append(pkg.Locations, o.Location)
			}
		}
	}
}

func props(c *cdx.Component) []property {
	if c.Properties == nil {
		return nil
	}
	out := make([]property, 0, len(*c.Properties))
	for _, p := range *c.Properties {
		out = append(out, property{p.Name, p.Value})
	}
	return out
}

// cdxDigest is the image's manifest digest: its SHA-256 hash, or a version
// or PURL version that is a digest.
func cdxDigest(c *cdx.Component) string {
	if c.Hashes != nil {
		for _, h := range *c.Hashes {
			if h.Algorithm == cdx.HashAlgoSHA256 {
				return "sha256:" + strings.ToLower(h.Value)
			}
		}
	}
	if _, _, ok := splitDigest(c.Version); ok {
		return c.Version
	}
	if purl, err := packageurl.FromString(c.PackageURL); err == nil {
		if _, _, ok := splitDigest(purl.Version); ok {
			return purl.Version
		}
	}
	return ""
}

// licensesFromCDX reads licence ids, names and expressions; an expression
// is split into its top-level AND operands.
func licensesFromCDX(ls *cdx.Licenses) []string {
	if ls == nil {
		return nil
	}
	var out []string
	for _, l := range *ls {
		switch {
		case l.Expression != "":
			out = append(out, splitLicenses(l.Expression)...)
		case l.License != nil && l.License.ID != "":
			out = append(out, l.License.ID)
		case l.License != nil && l.License.Name != "":
			out = append(out, l.License.Name)
		}
	}
	return out
}
