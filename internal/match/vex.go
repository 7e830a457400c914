package match

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/openvex/go-vex/pkg/vex"
	"github.com/package-url/packageurl-go"

	"github.com/cssc-project/cssc/internal/inventory"
)

// ParseVEX reads an OpenVEX document (JSON, https://openvex.dev/ns
// context). Every statement must be valid as the OpenVEX specification
// requires (a known status; not_affected with a justification or an impact
// statement; …): an exception that cannot be read exactly must not
// suppress anything, so a malformed document is an error.
func ParseVEX(r io.Reader) (*vex.VEX, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read OpenVEX document: %w", err)
	}
	var head struct {
		Context string `json:"@context"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("parse OpenVEX document: %w", err)
	}
	if !strings.HasPrefix(head.Context, vex.Context) {
		return nil, fmt.Errorf("parse OpenVEX document: @context %q is not OpenVEX (%s)", head.Context, vex.Context)
	}
	doc, err := vex.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("parse OpenVEX document: %w", err)
	}
	if doc.ID == "" {
		return nil, fmt.Errorf("OpenVEX document has no @id")
	}
	for i := range doc.Statements {
		st := &doc.Statements[i]
		if err := st.Validate(); err != nil {
			return nil, fmt.Errorf("OpenVEX document %s, statement %d: %w", doc.ID, i+1, err)
		}
		if st.Vulnerability.Name == "" && st.Vulnerability.ID == "" {
			return nil, fmt.Errorf("OpenVEX document %s, statement %d: no vulnerability", doc.ID, i+1)
		}
		if len(st.Products) == 0 {
			return nil, fmt.Errorf("OpenVEX document %s, statement %d: no products", doc.ID, i+1)
		}
	}
	return doc, nil
}

// applyVEX moves the findings that the VEX documents declare not_affected
// or fixed to the suppressed list.
//
// A statement applies to a finding when its vulnerability (name, @id or
// aliases) is the finding's id or one of its aliases (not its upstream or
// related ids: those are other vulnerabilities), and one of its products
//   - identifies the image (see imageMatcher) and either lists no
//     subcomponents or lists one that is the package (by PURL, or an
//     identical identifier), or
//   - is itself the package (a product purl matching the package's PURL,
//     a less specific purl matching a more specific one).
//
// Statements are a timeline: of the statements that apply, the latest
// (statement timestamp, else its document's, as OpenVEX inheritance
// says) decides; at equal times the
// later one given wins. Only not_affected and fixed suppress;
// under_investigation and affected leave the finding reported.
func applyVEX(docs []*vex.VEX, subject inventory.Subject, findings []Finding) (kept []Finding, suppressed []Suppressed) {
	img := newImageMatcher(subject)
	for _, f := range findings {
		st, doc := effectiveStatement(docs, img, &f)
		if st == nil || (st.Status != vex.StatusNotAffected && st.Status != vex.StatusFixed) {
			kept = append(kept, f)
			continue
		}
		suppressed = append(suppressed, Suppressed{
			Finding: f, Status: string(st.Status), Justification: string(st.Justification),
			ImpactStatement: st.ImpactStatement, StatusNotes: st.StatusNotes,
			Document: doc.ID, Statement: st.ID,
		})
	}
	return kept, suppressed
}

func effectiveStatement(docs []*vex.VEX, img imageMatcher, f *Finding) (*vex.Statement, *vex.VEX) {
	var (
		best    *vex.Statement
		bestDoc *vex.VEX
		bestAt  time.Time
	)
	ids := append([]string{f.ID}, f.Aliases...)
	for _, doc := range docs {
		for i := range doc.Statements {
			st := &doc.Statements[i]
			if !vulnMatches(st, ids) || !productMatches(st, img, f.Package.PURL) {
				continue
			}
			at := statementTime(doc, st)
			if best == nil || !at.Before(bestAt) {
				best, bestDoc, bestAt = st, doc, at
			}
		}
	}
	return best, bestDoc
}

func statementTime(doc *vex.VEX, st *vex.Statement) time.Time {
	switch {
	case st.Timestamp != nil:
		return *st.Timestamp
	case doc.Timestamp != nil:
		return *doc.Timestamp
	}
	return time.Time{}
}

func vulnMatches(st *vex.Statement, ids []string) bool {
	for _, id := range ids {
		if st.Vulnerability.Matches(id) {
			return true
		}
	}
	return false
}

func productMatches(st *vex.Statement, img imageMatcher, pkgPURL string) bool {
	for i := range st.Products {
		p := &st.Products[i]
		if img.matches(&p.Component) {
			if len(p.Subcomponents) == 0 {
				return true
			}
			for j := range p.Subcomponents {
				if pkgPURL != "" && p.Subcomponents[j].Matches(pkgPURL) {
					return true
				}
			}
			continue
		}
		if pkgPURL != "" && p.Component.Matches(pkgPURL) {
			return true
		}
	}
	return false
}

// imageMatcher recognises the scanned image in a VEX product: by its
// manifest digest (or the digest of the index it was selected from) given
// as the @id, as "repo@digest", as a sha-256 hash, or as the version of a
// pkg:oci purl; or by a pkg:oci purl without version whose
// repository_url qualifier is the image's repository (a tag qualifier,
// when present, must be the image's tag).
type imageMatcher struct {
	digests []string // "sha256:…"
	repo    string   // normalised repository, "" when the subject has none
	tag     string
}

func newImageMatcher(s inventory.Subject) imageMatcher {
	m := imageMatcher{}
	for _, d := range []string{s.Digest, s.Index} {
		if d != "" {
			m.digests = append(m.digests, d)
		}
	}
	m.repo, m.tag = splitReference(s.Name)
	return m
}

func (m imageMatcher) matches(c *vex.Component) bool {
	ids := []string{c.ID}
	for _, id := range c.Identifiers {
		ids = append(ids, id)
	}
	for _, id := range ids {
		if id != "" && m.matchesID(id) {
			return true
		}
	}
	for algo, h := range c.Hashes {
		if algo != vex.SHA256 {
			continue
		}
		for _, d := range m.digests {
			if "sha256:"+string(h) == d || string(h) == d {
				return true
			}
		}
	}
	return false
}

func (m imageMatcher) matchesID(id string) bool {
	for _, d := range m.digests {
		if id == d || strings.HasSuffix(id, "@"+d) {
			return true
		}
	}
	if !strings.HasPrefix(id, "pkg:oci/") {
		return false
	}
	p, err := packageurl.FromString(id)
	if err != nil {
		return false
	}
	if p.Version != "" {
		for _, d := range m.digests {
			if p.Version == d {
				return true
			}
		}
		return false
	}
	q := p.Qualifiers.Map()
	repoURL := q["repository_url"]
	if m.repo == "" || repoURL == "" {
		return false
	}
	repo, _ := splitReference(repoURL)
	if repo != m.repo {
		return false
	}
	if tag, ok := q["tag"]; ok && tag != m.tag {
		return false
	}
	return true
}

// splitReference splits "host/repo:tag" or "host/repo@sha256:…" into a
// normalised repository (Docker Hub short names expanded to
// "docker.io/library/name", "index.docker.io" read as "docker.io") and
// the tag. Names that are not registry references ("oci:dir",
// "docker-archive:file") have no repository.
func splitReference(ref string) (repo, tag string) {
	if ref == "" || strings.HasPrefix(ref, "oci:") || strings.HasPrefix(ref, "docker-archive:") {
		return "", ""
	}
	if u, err := url.Parse(ref); err == nil && (u.Scheme == "https" || u.Scheme == "http") {
		ref = u.Host + u.Path
	}
	ref, _, _ = strings.Cut(ref, "@")
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref, tag = ref[:i], ref[i+1:]
	}
	first, rest, hasSlash := strings.Cut(ref, "/")
	switch {
	case !hasSlash:
		ref = "docker.io/library/" + ref
	case !strings.ContainsAny(first, ".:") && first != "localhost":
		ref = "docker.io/" + ref
	case first == "index.docker.io":
		ref = "docker.io/" + rest
	}
	if strings.HasPrefix(ref, "docker.io/") && !strings.Contains(strings.TrimPrefix(ref, "docker.io/"), "/") {
		ref = "docker.io/library/" + strings.TrimPrefix(ref, "docker.io/")
	}
	return ref, tag
}
