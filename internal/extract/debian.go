package extract

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/cssc-project/cssc/internal/imagefs"
	"github.com/cssc-project/cssc/internal/inventory"
)

// isDebianCopyright reports /usr/share/doc/PACKAGE/copyright: Debian
// packages declare their licences there.
func isDebianCopyright(p string) bool {
	rest, ok := strings.CutPrefix(p, "/usr/share/doc/")
	if !ok {
		return false
	}
	pkg, file, ok := strings.Cut(rest, "/")
	return ok && pkg != "" && file == "copyright"
}

// maxCopyrightBytes bounds the copyright file read per package.
const maxCopyrightBytes = 1 << 20

// commonLicense finds references to /usr/share/common-licenses/NAME in
// copyright files that are not machine-readable.
var commonLicense = regexp.MustCompile(`/usr/share/common-licenses/([A-Za-z0-9][A-Za-z0-9.+-]*[A-Za-z0-9+])`)

// debianLicenses adds to each Debian package without licences those its
// copyright file declares: the "License:" fields of a machine-readable
// (DEP-5) file, else the common-licenses it refers to.
func debianLicenses(tree *imagefs.Tree, pkgs []inventory.Package) {
	cache := map[string][]string{}
	for i := range pkgs {
		p := &pkgs[i]
		if len(p.Licenses) > 0 || !strings.HasPrefix(p.PURL, "pkg:deb/") {
			continue
		}
		doc, err := tree.Resolve("/usr/share/doc/" + p.Name + "/copyright")
		if err != nil {
			continue
		}
		ls, ok := cache[doc]
		if !ok {
			ls = readCopyright(tree, doc)
			cache[doc] = ls
		}
		p.Licenses = append([]string(nil), ls...)
	}
}

func readCopyright(tree *imagefs.Tree, doc string) []string {
	n, ok := tree.Lookup(doc)
	if !ok || !n.Extracted {
		return nil
	}
	f, err := os.Open(filepath.Join(tree.Root, filepath.FromSlash(strings.TrimPrefix(doc, "/"))))
	if err != nil {
		return nil
	}
	defer f.Close()
	return copyrightLicenses(io.LimitReader(f, maxCopyrightBytes))
}

// copyrightLicenses lists the distinct licences a copyright file names, as
// SPDX identifiers where Debian's short name has one.
func copyrightLicenses(r io.Reader) []string {
	var out []string
	seen := map[string]bool{}
	add := func(name string) {
		name = strings.TrimSpace(name)
		if name == "" {
			return
		}
		id := spdxForDebian(name)
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	var refs []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "License:"); ok {
			for _, name := range splitExpression(v) {
				add(name)
			}
			continue
		}
		for _, m := range commonLicense.FindAllStringSubmatch(line, -1) {
			refs = append(refs, m[1])
		}
	}
	if len(out) == 0 { // not machine-readable: what it refers to
		for _, name := range refs {
			add(name)
		}
	}
	return out
}

// splitExpression splits a DEP-5 licence expression ("GPL-2+ or
// Artistic", "BSD-3-clause and Expat", "LGPL-2.1+, with OpenSSL
// exception") into its licence names.
func splitExpression(v string) []string {
	v = strings.TrimSpace(v)
	if i := strings.Index(v, ","); i >= 0 {
		v = v[:i] // ", with X exception" qualifies the licence before it
	}
	var out []string
	for _, and := range strings.Split(v, " and ") {
		for _, or := range strings.Split(and, " or ") {
			if name := strings.Trim(strings.TrimSpace(or), "()"); name != "" {
				out = append(out, name)
			}
		}
	}
	return out
}

// spdxForDebian maps Debian's licence short names (DEP-5 and
// /usr/share/common-licenses) to SPDX identifiers; others are kept as
// written (SBOMs carry them as LicenseRef).
func spdxForDebian(name string) string {
	switch strings.ToLower(name) {
	case "gpl-1":
		return "GPL-1.0-only"
	case "gpl-1+":
		return "GPL-1.0-or-later"
	case "gpl-2":
		return "GPL-2.0-only"
	case "gpl-2+":
		return "GPL-2.0-or-later"
	case "gpl-3":
		return "GPL-3.0-only"
	case "gpl-3+":
		return "GPL-3.0-or-later"
	case "lgpl-2":
		return "LGPL-2.0-only"
	case "lgpl-2+":
		return "LGPL-2.0-or-later"
	case "lgpl-2.1":
		return "LGPL-2.1-only"
	case "lgpl-2.1+":
		return "LGPL-2.1-or-later"
	case "lgpl-3":
		return "LGPL-3.0-only"
	case "lgpl-3+":
		return "LGPL-3.0-or-later"
	case "agpl-3":
		return "AGPL-3.0-only"
	case "agpl-3+":
		return "AGPL-3.0-or-later"
	case "gfdl-1.2":
		return "GFDL-1.2-only"
	case "gfdl-1.2+":
		return "GFDL-1.2-or-later"
	case "gfdl-1.3":
		return "GFDL-1.3-only"
	case "gfdl-1.3+":
		return "GFDL-1.3-or-later"
	case "expat", "mit":
		return "MIT"
	case "bsd-2-clause":
		return "BSD-2-Clause"
	case "bsd-3-clause", "bsd":
		return "BSD-3-Clause"
	case "bsd-4-clause":
		return "BSD-4-Clause"
	case "apache-2.0":
		return "Apache-2.0"
	case "mpl-1.1":
		return "MPL-1.1"
	case "mpl-2.0":
		return "MPL-2.0"
	case "isc":
		return "ISC"
	case "zlib":
		return "Zlib"
	case "cc0-1.0":
		return "CC0-1.0"
	case "artistic", "artistic-1.0":
		return "Artistic-1.0"
	case "artistic-2.0":
		return "Artistic-2.0"
	case "openssl":
		return "OpenSSL"
	}
	return name
}

// isExecutable reports whether head starts like an executable or shared
// object (ELF, Mach-O, PE): what the binary extractors can read.
func isExecutable(head []byte) bool {
	for _, magic := range []string{"\x7fELF", "\xfe\xed\xfa\xce", "\xfe\xed\xfa\xcf", "\xce\xfa\xed\xfe", "\xcf\xfa\xed\xfe", "\xca\xfe\xba\xbe", "MZ"} {
		if strings.HasPrefix(string(head), magic) {
			return true
		}
	}
	return false
}
