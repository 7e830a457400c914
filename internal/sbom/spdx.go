package sbom

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	packageurl "github.com/package-url/packageurl-go"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx"
	"github.com/spdx/tools-golang/spdx/v2/common"

	"github.com/cssc-project/cssc/internal/inventory"
)

// SPDX element ids of the image and its operating system.
const (
	spdxImageID          common.ElementID = "Image"
	spdxOSID             common.ElementID = "OperatingSystem"
	spdxNoAssertion                       = "NOASSERTION"
	spdxPurposeContainer                  = "CONTAINER"
	spdxPurposeOS                         = "OPERATING-SYSTEM"
	spdxDocumentID                        = "DOCUMENT"
)

// sourceInfoPrefix introduces the source package in a package's
// sourceInfo ("built package from: openssl 3.0.11-1~deb12u2"), as Trivy
// writes it.
const sourceInfoPrefix = "built package from: "

// namespaceBase prefixes SPDX document namespaces; it need not resolve.
const namespaceBase = "https://github.com/cssc-project/cssc/spdx/"

func encodeSPDX(w io.Writer, inv inventory.Inventory, opts Options) error {
	tool := opts.ToolName + "-" + opts.ToolVersion
	created := opts.Time.Format(time.RFC3339)
	annotate := func(props []property) []spdx.Annotation {
		var out []spdx.Annotation
		for _, p := range props {
			out = append(out, spdx.Annotation{
				Annotator:         common.Annotator{AnnotatorType: "Tool", Annotator: tool},
				AnnotationDate:    created,
				AnnotationType:    "OTHER",
				AnnotationComment: p.name + "=" + p.value,
			})
		}
		return out
	}

	docName := inv.Subject.Name
	if docName == "" {
		docName = inv.Subject.Digest
	}
	if docName == "" {
		docName = "unknown"
	}
	image := &spdx.Package{
		PackageName:             docName,
		PackageSPDXIdentifier:   spdxImageID,
		PackageVersion:          inv.Subject.Digest,
		PackageDownloadLocation: spdxNoAssertion,
		PrimaryPackagePurpose:   spdxPurposeContainer,
		PackageExternalReferences: []*spdx.PackageExternalReference{{
			Category: common.CategoryPackageManager,
			RefType:  common.TypePackageManagerPURL,
			Locator:  imagePURL(inv.Subject),
		}},
		Annotations: annotate(subjectProps(inv)),
	}
	if alg, hexPart, ok := splitDigest(inv.Subject.Digest); ok {
		image.PackageChecksums = []common.Checksum{{
			Algorithm: map[string]common.ChecksumAlgorithm{"sha256": common.SHA256, "sha512": common.SHA512}[alg],
			Value:     hexPart,
		}}
	}
	doc := &spdx.Document{
		SPDXVersion:    spdx.Version,
		DataLicense:    spdx.DataLicense,
		SPDXIdentifier: spdxDocumentID,
		DocumentName:   docName,
		CreationInfo: &spdx.CreationInfo{
			Creators: []common.Creator{{CreatorType: "Tool", Creator: tool}},
			Created:  created,
		},
		Packages: []*spdx.Package{image},
		Relationships: []*spdx.Relationship{{
			RefA:         common.MakeDocElementID("", spdxDocumentID),
			RefB:         common.MakeDocElementID("", string(spdxImageID)),
			Relationship: common.TypeRelationshipDescribe,
		}},
	}
	contains := func(id common.ElementID) {
		doc.Relationships = append(doc.Relationships, &spdx.Relationship{
			RefA:         common.MakeDocElementID("", string(spdxImageID)),
			RefB:         common.MakeDocElementID("", string(id)),
			Relationship: common.TypeRelationshipContains,
		})
	}
	if os := inv.OS; os != nil {
		var props []property
		if os.Codename != "" {
			props = append(props, property{propOSCodename, os.Codename})
		}
		doc.Packages = append(doc.Packages, &spdx.Package{
			PackageName:             os.ID,
			PackageSPDXIdentifier:   spdxOSID,
			PackageVersion:          os.VersionID,
			PackageDownloadLocation: spdxNoAssertion,
			PackageDescription:      os.PrettyName,
			PrimaryPackagePurpose:   spdxPurposeOS,
			Annotations:             annotate(props),
		})
		contains(spdxOSID)
	}

	refs := map[string]string{} // LicenseRef- id → the text it stands for
	ids := packageIDs(inv.Packages)
	for i, p := range inv.Packages {
		sp := &spdx.Package{
			PackageName:             p.Name,
			PackageSPDXIdentifier:   common.ElementID(ids[i]),
			PackageVersion:          p.Version,
			PackageDownloadLocation: spdxNoAssertion,
			PackageLicenseConcluded: spdxNoAssertion,
			PackageLicenseDeclared:  spdxLicense(p.Licenses, refs),
			Annotations:             annotate(packageProps(p)),
		}
		if p.SourceName != "" {
			// The form Trivy writes and reads.
			sp.PackageSourceInfo = strings.TrimSpace(sourceInfoPrefix + p.SourceName + " " + p.SourceVersion)
		}
		if p.PURL != "" {
			sp.PackageExternalReferences = []*spdx.PackageExternalReference{{
				Category: common.CategoryPackageManager,
				RefType:  common.TypePackageManagerPURL,
				Locator:  p.PURL,
			}}
		}
		doc.Packages = append(doc.Packages, sp)
		contains(sp.PackageSPDXIdentifier)
	}
	for _, id := range slices.Sorted(maps.Keys(refs)) {
		doc.OtherLicenses = append(doc.OtherLicenses, &spdx.OtherLicense{
			LicenseIdentifier: id,
			ExtractedText:     refs[id],
			LicenseName:       refs[id],
		})
	}
	doc.DocumentNamespace = namespaceBase + namespaceName(docName) + "-" + documentUUID(inv, ids, created).String()
	return spdxjson.Write(doc, w, spdxjson.Indent("  "), spdxjson.EscapeHTML(false))
}

// spdxLicense writes licences as one SPDX expression for licenseDeclared;
// text that is not a valid expression becomes a LicenseRef- recorded in
// refs. NOASSERTION when there are none.
func spdxLicense(lics []string, refs map[string]string) string {
	var exprs []string
	for _, l := range lics {
		kind, norm := classifyLicense(l)
		if norm == "" {
			continue
		}
		if kind == licenseOther {
			ref := licenseRef(norm)
			if _, ok := refs[ref]; !ok {
				refs[ref] = norm
			}
			exprs = append(exprs, ref)
			continue
		}
		for _, ref := range licenseRefToken.FindAllString(norm, -1) {
			if _, ok := refs[ref]; !ok {
				refs[ref] = ref
			}
		}
		exprs = append(exprs, norm)
	}
	if len(exprs) == 0 {
		return spdxNoAssertion
	}
	return joinLicenses(exprs)
}

// documentUUID identifies one document: the same image, content and
// creation time give the same UUID, anything else another.
func documentUUID(inv inventory.Inventory, ids []string, created string) uuid.UUID {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n", inv.Subject.Name, inv.Subject.Digest, created)
	for _, id := range ids {
		fmt.Fprintln(h, id)
	}
	return uuid.NewSHA1(uuid.NameSpaceURL, h.Sum(nil))
}

// namespaceName makes the image name usable in a URI path.
func namespaceName(s string) string {
	s = strings.Trim(notIDString.ReplaceAllString(s, "-"), "-")
	if s == "" {
		return "image"
	}
	return s
}

func decodeSPDX(data []byte, version string) (inventory.Inventory, error) {
	doc, err := readSPDX(data, version)
	if err != nil {
		return inventory.Inventory{}, err
	}
	var inv inventory.Inventory
	refs := map[string]string{}
	for _, ol := range doc.OtherLicenses {
		if ol != nil && ol.ExtractedText != "" {
			refs[ol.LicenseIdentifier] = ol.ExtractedText
		}
	}
	described := map[common.ElementID]bool{}
	for _, r := range doc.Relationships {
		switch {
		case r.Relationship == common.TypeRelationshipDescribe && r.RefA.ElementRefID == spdxDocumentID && r.RefA.DocumentRefID == "":
			described[r.RefB.ElementRefID] = true
		case r.Relationship == common.TypeRelationshipDescribeBy && r.RefB.ElementRefID == spdxDocumentID && r.RefB.DocumentRefID == "":
			described[r.RefA.ElementRefID] = true
		}
	}
	var subject *spdx.Package
	for _, p := range doc.Packages {
		if p != nil && described[p.PackageSPDXIdentifier] && isImagePackage(p, len(doc.Packages)) {
			subject = p
			break
		}
	}
	if subject != nil {
		inv.Subject.Name = subject.PackageName
		inv.Subject.Digest = spdxDigest(subject)
		if err := applySubjectProps(&inv, spdxProps(subject)); err != nil {
			return inventory.Inventory{}, fmt.Errorf("package %s: %w", subject.PackageName, err)
		}
	}
	for _, p := range doc.Packages {
		if p == nil || p.PrimaryPackagePurpose != spdxPurposeOS || inv.OS != nil {
			continue
		}
		inv.OS = &inventory.OS{ID: p.PackageName, VersionID: p.PackageVersion, PrettyName: p.PackageDescription}
		for _, pr := range spdxProps(p) {
			if pr.name == propOSCodename {
				inv.OS.Codename = pr.value
			}
		}
	}
	var pkgs []pending
	for _, p := range doc.Packages {
		if p == nil || p == subject || p.PrimaryPackagePurpose == spdxPurposeOS {
			continue
		}
		pkg := inventory.Package{Name: p.PackageName, Version: p.PackageVersion, PURL: spdxPURL(p)}
		lic := p.PackageLicenseDeclared
		if lic == "" || lic == spdxNoAssertion || lic == "NONE" {
			lic = p.PackageLicenseConcluded
		}
		pkg.Licenses = licensesFromSPDX(lic, refs)
		ours := applyPackageProps(&pkg, spdxProps(p))
		if !ours {
			if src, ok := strings.CutPrefix(p.PackageSourceInfo, sourceInfoPrefix); ok {
				pkg.SourceName, pkg.SourceVersion, _ = strings.Cut(strings.TrimSpace(src), " ")
			}
		}
		if ours || isPackage(pkg) {
			pkgs = append(pkgs, pending{pkg, ours})
		}
	}
	finishPackages(&inv, pkgs)
	return inv, nil
}

// readSPDX parses a document into tools-golang's model. SPDX 2.3, the
// model's own version, is unmarshalled into it in one pass: the library's
// Document and Package UnmarshalJSON methods each parse their input twice
// more (to find documentDescribes, hasFiles and whether filesAnalyzed was
// given), which makes them three times slower than the parse itself and
// dominates the cost of rescanning stored SBOMs. documentDescribes become
// DESCRIBES relationships, as the library would make them; hasFiles and
// filesAnalyzed are not used here. Older versions go through the library's
// reader, which converts them.
func readSPDX(data []byte, version string) (*spdx.Document, error) {
	if version != spdx.Version {
		return spdxjson.Read(bytes.NewReader(data))
	}
	// The same types without their UnmarshalJSON methods.
	type plainDocument spdx.Document
	type plainPackage spdx.Package
	var doc struct {
		plainDocument
		Packages          []*plainPackage       `json:"packages"`
		DocumentDescribes []common.DocElementID `json:"documentDescribes"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	out := spdx.Document(doc.plainDocument)
	out.Packages = make([]*spdx.Package, 0, len(doc.Packages))
	for _, p := range doc.Packages {
		if p != nil {
			out.Packages = append(out.Packages, (*spdx.Package)(p))
		}
	}
	out.Relationships = slices.DeleteFunc(out.Relationships, func(r *spdx.Relationship) bool { return r == nil })
	for _, id := range doc.DocumentDescribes {
		out.Relationships = append(out.Relationships, &spdx.Relationship{
			RefA:         common.MakeDocElementID("", spdxDocumentID),
			RefB:         id,
			Relationship: common.TypeRelationshipDescribe,
		})
	}
	return &out, nil
}

// isImagePackage tells whether a described package is the image (the
// subject) rather than an ordinary package the document is about.
func isImagePackage(p *spdx.Package, n int) bool {
	switch {
	case p.PrimaryPackagePurpose == spdxPurposeContainer:
		return true
	case p.PrimaryPackagePurpose != "":
		return false
	}
	purl := spdxPURL(p)
	if strings.HasPrefix(purl, "pkg:oci/") || strings.HasPrefix(purl, "pkg:docker/") {
		return true
	}
	return n > 1 && purl == ""
}

// spdxPURL is the package's purl external reference.
func spdxPURL(p *spdx.Package) string {
	for _, r := range p.PackageExternalReferences {
		if r != nil && r.Category == common.CategoryPackageManager && r.RefType == common.TypePackageManagerPURL {
			return r.Locator
		}
	}
	return ""
}

// spdxDigest is the image's manifest digest: its SHA256 checksum, or a
// version or PURL version that is a digest.
func spdxDigest(p *spdx.Package) string {
	for _, c := range p.PackageChecksums {
		if c.Algorithm == common.SHA256 {
			return "sha256:" + strings.ToLower(c.Value)
		}
	}
	if _, _, ok := splitDigest(p.PackageVersion); ok {
		return p.PackageVersion
	}
	if purl, err := packageurl.FromString(spdxPURL(p)); err == nil {
		if _, _, ok := splitDigest(purl.Version); ok {
			return purl.Version
		}
	}
	return ""
}

// spdxProps reads cssc's annotations ("cssc:name=value") in order.
func spdxProps(p *spdx.Package) []property {
	var props []property
	for _, a := range p.Annotations {
		if !strings.HasPrefix(a.AnnotationComment, "cssc:") {
			continue
		}
		k, v, ok := strings.Cut(a.AnnotationComment, "=")
		if !ok {
			continue
		}
		props = append(props, property{k, v})
	}
	return props
}

// licensesFromSPDX splits licenseDeclared back into licences, replacing
// LicenseRef- ids by the text they stand for.
func licensesFromSPDX(expr string, refs map[string]string) []string {
	if expr == "" || expr == spdxNoAssertion || expr == "NONE" {
		return nil
	}
	parts := splitLicenses(expr)
	for i, p := range parts {
		if t, ok := refs[p]; ok {
			parts[i] = t
		}
	}
	return parts
}
