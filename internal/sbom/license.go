package sbom

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"

	"github.com/github/go-spdx/v2/spdxexp"
)

// licenseKind is how a licence string can be written in an SBOM.
type licenseKind int

const (
	licenseOther      licenseKind = iota // not an SPDX expression: free text
	licenseID                            // one SPDX licence id (possibly "WITH" an exception)
	licenseExpression                    // a compound SPDX expression (AND/OR)
)

// classifyLicense tells whether s is a valid SPDX expression, and returns
// it in the SPDX licence list's spelling. References to other documents
// count as free text: this document cannot resolve them.
func classifyLicense(s string) (licenseKind, string) {
	s = strings.TrimSpace(s)
	if s == "" || strings.Contains(s, "DocumentRef-") {
		return licenseOther, s
	}
	norm, invalid := spdxexp.ValidateAndNormalizeLicensesWithOptions([]string{s},
		spdxexp.ValidateLicensesOptions{FailAllDocumentRefs: true})
	if len(invalid) > 0 || len(norm) != 1 {
		return licenseOther, s
	}
	if len(topLevel(norm[0], "AND")) > 1 || len(topLevel(norm[0], "OR")) > 1 {
		return licenseExpression, norm[0]
	}
	return licenseID, norm[0]
}

// notIDString matches what an SPDX idstring may not hold.
var notIDString = regexp.MustCompile(`[^A-Za-z0-9.\-]+`)

// licenseRef is the LicenseRef- identifier for free licence text: the text
// itself when it is a valid idstring, else a sanitised form with a short
// hash, so different texts never share an identifier.
func licenseRef(text string) string {
	clean := strings.Trim(notIDString.ReplaceAllString(text, "-"), "-")
	if clean == text {
		return "LicenseRef-" + clean
	}
	sum := sha256.Sum256([]byte(text))
	if clean == "" {
		return "LicenseRef-" + hex.EncodeToString(sum[:4])
	}
	return "LicenseRef-" + clean + "-" + hex.EncodeToString(sum[:4])
}

// licenseRefToken matches the LicenseRef- identifiers in an expression.
var licenseRefToken = regexp.MustCompile(`LicenseRef-[A-Za-z0-9.\-]+`)

// joinLicenses combines valid SPDX expressions into one conjunction.
// Compound parts are parenthesised, so splitLicenses gives them back.
func joinLicenses(exprs []string) string {
	parts := make([]string, len(exprs))
	for i, e := range exprs {
		if len(topLevel(e, "AND")) > 1 || (len(exprs) > 1 && len(topLevel(e, "OR")) > 1) {
			e = "(" + e + ")"
		}
		parts[i] = e
	}
	return strings.Join(parts, " AND ")
}

// splitLicenses is the inverse of joinLicenses: the top-level AND operands
// of an expression, without enclosing parentheses.
func splitLicenses(expr string) []string {
	var out []string
	for _, p := range topLevel(strings.TrimSpace(expr), "AND") {
		p = strings.TrimSpace(p)
		for enclosed(p) {
			p = strings.TrimSpace(p[1 : len(p)-1])
		}
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

// topLevel splits expr at the operator op (AND, OR) where it is outside
// parentheses.
func topLevel(expr, op string) []string {
	var parts []string
	depth, start := 0, 0
	sep := " " + op + " "
	for i := 0; i < len(expr); i++ {
		switch expr[i] {
		case '(':
			depth++
		case ')':
			depth--
		case ' ':
			if depth == 0 && strings.HasPrefix(expr[i:], sep) {
				parts = append(parts, expr[start:i])
				start = i + len(sep)
				i += len(sep) - 1
			}
		}
	}
	return append(parts, expr[start:])
}

// enclosed reports whether s is wrapped in one pair of matching
// parentheses ("(A OR B)", not "(A) AND (B)").
func enclosed(s string) bool {
	if len(s) < 2 || s[0] != '(' || s[len(s)-1] != ')' {
		return false
	}
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 && i != len(s)-1 {
				return false
			}
		}
	}
	return true
}
