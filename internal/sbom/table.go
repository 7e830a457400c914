package sbom

import (
	"cmp"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/cssc-project/cssc/internal/inventory"
)

// encodeTable writes the subject, the OS and one line per package.
func encodeTable(w io.Writer, inv inventory.Inventory) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	subject := cmp.Or(inv.Subject.Name, "-")
	if inv.Subject.Digest != "" {
		subject += " (" + inv.Subject.Digest + ")"
	}
	if inv.Subject.Platform != "" {
		subject += " " + inv.Subject.Platform
	}
	fmt.Fprintf(tw, "IMAGE\t%s\n", oneLine(subject))
	if os := inv.OS; os != nil {
		fmt.Fprintf(tw, "OS\t%s\n", oneLine(cmp.Or(os.PrettyName, strings.TrimSpace(os.ID+" "+os.VersionID))))
	}
	fmt.Fprintf(tw, "PACKAGES\t%d\n\n", len(inv.Packages))
	if err := tw.Flush(); err != nil {
		return err
	}

	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tVERSION\tTYPE/ECOSYSTEM\tSOURCE\tLOCATION")
	for _, p := range inv.Packages {
		kind := p.Ecosystem
		if kind == "" {
			kind = purlType(p.PURL)
		}
		source := strings.TrimSpace(p.SourceName + " " + p.SourceVersion)
		loc := ""
		if len(p.Locations) > 0 {
			loc = p.Locations[0]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", oneLine(p.Name), oneLine(p.Version),
			cmp.Or(oneLine(kind), "-"), cmp.Or(oneLine(source), "-"), cmp.Or(oneLine(loc), "-"))
	}
	return tw.Flush()
}

// purlType is "deb" for "pkg:deb/…"; "-" when there is no PURL.
func purlType(purl string) string {
	t, _, ok := strings.Cut(strings.TrimPrefix(purl, "pkg:"), "/")
	if !ok || !strings.HasPrefix(purl, "pkg:") {
		return ""
	}
	return t
}

// oneLine keeps a field from breaking the table (names come from the image).
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' || r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
