package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/openvex/go-vex/pkg/vex"
	"github.com/package-url/packageurl-go"
)

// Exception is an accepted risk: a vulnerability that an approver declared
// not to block an image until an expiry. Exceptions are read from OpenVEX
// documents (ParseExceptions); OpenVEX has no approver or expiry, so each
// statement carries them in an extension object "cssc" (docs/POLICY.md):
//
//	"cssc": {"approver": "alice@example.com", "expires": "2026-01-31T00:00:00Z"}
type Exception struct {
	// Vulnerability is the statement's vulnerability name, e.g.
	// "CVE-2024-1234"; Aliases are its other names.
	Vulnerability string   `json:"vulnerability"`
	Aliases       []string `json:"aliases,omitempty"`
	// Products identify the images it applies to: digests
	// ("sha256:…", "name@sha256:…", a "pkg:oci" purl with the digest as
	// version, a sha-256 hash) or repositories ("library/nginx", a
	// "pkg:oci" purl's repository_url).
	Products []string `json:"products"`
	// Packages, when not empty, limit it to these package names (the
	// statement's subcomponents).
	Packages []string `json:"packages,omitempty"`
	// Status is the OpenVEX status: "not_affected" or "fixed".
	Status string `json:"status"`
	// Reason is the impact statement, else the justification, else the
	// status notes.
	Reason string `json:"reason"`
	// Approver is who accepted it.
	Approver string `json:"approver"`
	// Expires is when it stops applying.
	Expires time.Time `json:"expires"`
	// Document is the OpenVEX document's @id.
	Document string `json:"document,omitempty"`
}

// extension is the cssc object of a statement.
type extension struct {
	Approver string `json:"approver"`
	Expires  string `json:"expires"`
}

// ParseExceptions reads the exceptions of one OpenVEX JSON document: every
// statement with status not_affected or fixed. A statement of that status
// without products, reason, approver or a valid expiry is an error, not
// skipped: an exception that cannot be read must not silently widen or
// vanish. Statements of other statuses are not exceptions and are left
// out.
func ParseExceptions(data []byte) ([]Exception, error) {
	doc, err := vex.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("parse OpenVEX document: %w", err)
	}
	var ext struct {
		Statements []struct {
			CSSC *extension `json:"cssc"`
		} `json:"statements"`
	}
	if err := json.Unmarshal(data, &ext); err != nil {
		return nil, fmt.Errorf("parse OpenVEX document: %w", err)
	}
	if len(ext.Statements) != len(doc.Statements) {
		return nil, fmt.Errorf("parse OpenVEX document %s: statements read inconsistently", doc.ID)
	}
	var out []Exception
	for i, st := range doc.Statements {
		if st.Status != vex.StatusNotAffected && st.Status != vex.StatusFixed {
			continue
		}
		e, err := exceptionFrom(&st, ext.Statements[i].CSSC)
		if err != nil {
			return nil, fmt.Errorf("OpenVEX document %s: statement %d (%s): %w", doc.ID, i, st.Vulnerability.Name, err)
		}
		e.Document = doc.ID
		out = append(out, e)
	}
	return out, nil
}

func exceptionFrom(st *vex.Statement, ext *extension) (Exception, error) {
	if err := st.Validate(); err != nil {
		return Exception{}, err
	}
	e := Exception{Vulnerability: string(st.Vulnerability.Name), Status: string(st.Status)}
	if e.Vulnerability == "" {
		return Exception{}, errors.New("no vulnerability name")
	}
	for _, a := range st.Vulnerability.Aliases {
		e.Aliases = append(e.Aliases, string(a))
	}
	for _, p := range st.Products {
		ids := componentIDs(p.Component)
		if len(ids) == 0 {
			return Exception{}, errors.New("a product without an identifier")
		}
		e.Products = append(e.Products, ids...)
		for _, sc := range p.Subcomponents {
			name := sc.ID
			if purl, err := packageurl.FromString(sc.ID); err == nil {
				name = purl.Name
			}
			if name == "" {
				return Exception{}, errors.New("a subcomponent without an identifier")
			}
			e.Packages = append(e.Packages, name)
		}
	}
	if len(e.Products) == 0 {
		return Exception{}, errors.New("no products: an exception must name the images it applies to")
	}
	switch {
	case st.ImpactStatement != "":
		e.Reason = st.ImpactStatement
	case st.Justification != "":
		e.Reason = string(st.Justification)
	default:
		e.Reason = st.StatusNotes
	}
	if e.Reason == "" {
		return Exception{}, errors.New("no reason (impact_statement, justification or status_notes)")
	}
	if ext == nil || ext.Approver == "" {
		return Exception{}, errors.New(`no approver ("cssc": {"approver": …})`)
	}
	e.Approver = ext.Approver
	exp, err := time.Parse(time.RFC3339, ext.Expires)
	if err != nil {
		return Exception{}, fmt.Errorf(`expiry ("cssc": {"expires": …}): %w`, err)
	}
	e.Expires = exp.UTC()
	return e, nil
}

// componentIDs lists how a component may be named: its @id, its purl and
// its sha-256 hash as a digest.
func componentIDs(c vex.Component) []string {
	var ids []string
	if c.ID != "" {
		ids = append(ids, c.ID)
	}
	if p := c.Identifiers[vex.PURL]; p != "" && p != c.ID {
		ids = append(ids, p)
	}
	if h := c.Hashes[vex.SHA256]; h != "" {
		ids = append(ids, "sha256:"+string(h))
	}
	return ids
}

// ActiveExceptions returns the exceptions that apply to an image at now:
// not expired (Expires after now) and naming the image's digest or one of
// the repositories it is known under (e.g. its quarantine and golden
// repositories). The result is what Input.Exceptions carries; the default
// policy checks the expiry again, so an expired exception never applies
// even when a stale input carries it.
func ActiveExceptions(all []Exception, digest string, repositories []string, now time.Time) []Exception {
	var out []Exception
	for _, e := range all {
		if !e.Expires.After(now) {
			continue
		}
		for _, p := range e.Products {
			if productMatches(p, digest, repositories) {
				out = append(out, e)
				break
			}
		}
	}
	return out
}

func productMatches(id, digest string, repositories []string) bool {
	if id == "" {
		return false
	}
	if digest != "" && (id == digest || strings.HasSuffix(id, "@"+digest)) {
		return true
	}
	if strings.HasPrefix(id, "pkg:") {
		purl, err := packageurl.FromString(id)
		if err != nil || purl.Type != "oci" {
			return false
		}
		if purl.Version != "" {
			return digest != "" && purl.Version == digest
		}
		repoURL := purl.Qualifiers.Map()["repository_url"]
		for _, r := range repositories {
			if r != "" && (repoURL == r || strings.HasSuffix(repoURL, "/"+r)) {
				return true
			}
		}
		return false
	}
	for _, r := range repositories {
		if r != "" && id == r {
			return true
		}
	}
	return false
}
