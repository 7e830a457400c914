package sign

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// WriteText writes r for people: one line per signature found, one per
// checker's verdict, and the overall result.
func WriteText(w io.Writer, r *Report) error {
	var b strings.Builder
	writeOne(&b, r, "")
	for _, a := range r.Attached {
		fmt.Fprintf(&b, "attached %s:\n", a.ArtifactType)
		writeOne(&b, &a.Report, "  ")
	}
	verdict := "PASSED"
	if !r.Passed {
		verdict = "FAILED"
	}
	cached := ""
	if r.Cached {
		cached = fmt.Sprintf(" (cached verdict of %s)", r.VerifiedAt.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(&b, "verification %s for %s@%s%s\n", verdict, nameOf(r.Image), r.Digest, cached)
	_, err := io.WriteString(w, b.String())
	return err
}

func writeOne(b *strings.Builder, r *Report, indent string) {
	fmt.Fprintf(b, "%s%s (%s)\n", indent, r.Image, r.Digest)
	if len(r.Signatures) == 0 {
		fmt.Fprintf(b, "%s  no signatures found\n", indent)
	}
	for _, s := range r.Signatures {
		where := s.Location
		// "tag sha256-<64 hex>.sig": the digest is the image's, shown above.
		if rest, ok := strings.CutPrefix(where, "tag sha256-"); ok {
			if dot := strings.LastIndex(rest, "."); dot > 16 {
				where = "tag sha256-" + rest[:12] + "…" + rest[dot:]
			}
		}
		if s.Index > 0 {
			where += fmt.Sprintf(" #%d", s.Index)
		}
		fmt.Fprintf(b, "%s  %-15s %s %s: ", indent, s.Format, where, ShortDigest(s.Digest))
		switch {
		case s.Verified:
			fmt.Fprintf(b, "verified, signed by %s", orUnknown(s.Identity))
			if s.Issuer != "" {
				fmt.Fprintf(b, " (issuer %s)", s.Issuer)
			}
			if s.Timestamp != nil {
				fmt.Fprintf(b, ", timestamped %s", s.Timestamp.UTC().Format(time.RFC3339))
			}
			if s.Detail != "" {
				fmt.Fprintf(b, "; %s", s.Detail)
			}
		case s.Reason == ReasonNotChecked:
			fmt.Fprintf(b, "not checked: %s", s.Detail)
		default:
			fmt.Fprintf(b, "FAILED %s: %s", s.Reason, s.Detail)
			if s.Level == "audit" {
				b.WriteString(" (audit level: logged only)")
			}
		}
		b.WriteString("\n")
	}
	for _, v := range r.Verdicts {
		switch {
		case v.Skipped:
			fmt.Fprintf(b, "%s  %s: skipped by policy\n", indent, v.Checker)
		case v.Passed:
			fmt.Fprintf(b, "%s  %s: passed\n", indent, v.Checker)
		default:
			fmt.Fprintf(b, "%s  %s: FAILED: %s\n", indent, v.Checker, v.Reason)
		}
	}
}

func nameOf(ref string) string {
	if i := strings.LastIndex(ref, "@"); i >= 0 {
		return ref[:i]
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[:i]
	}
	return ref
}

// ShortDigest shortens "sha256:<64 hex>" to "sha256:<12 hex>" for people
// to read (other algorithms alike).
func ShortDigest(d string) string {
	if i := strings.IndexByte(d, ':'); i >= 0 && len(d) > i+13 {
		return d[:i+13]
	}
	return d
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}
