package extract

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/cssc-project/cssc/internal/imagefs"
	"github.com/cssc-project/cssc/internal/inventory"
)

// pythonLicenses adds to each Python package without licences what its
// core metadata (METADATA, PKG-INFO) declares: License-Expression, else a
// one-line License, else the licence classifiers.
func pythonLicenses(tree *imagefs.Tree, pkgs []inventory.Package) {
	for i := range pkgs {
		p := &pkgs[i]
		if len(p.Licenses) > 0 || p.Ecosystem != "PyPI" || len(p.Locations) == 0 {
			continue
		}
		base := filepath.Base(p.Locations[0])
		if base != "METADATA" && base != "PKG-INFO" {
			continue
		}
		if n, ok := tree.Lookup(p.Locations[0]); !ok || !n.Extracted {
			continue
		}
		f, err := os.Open(filepath.Join(tree.Root, filepath.FromSlash(strings.TrimPrefix(p.Locations[0], "/"))))
		if err != nil {
			continue
		}
		p.Licenses = metadataLicenses(io.LimitReader(f, maxCopyrightBytes))
		_ = f.Close()
	}
}

// metadataLicenses reads the licence fields of Python core metadata (the
// header part, up to the first empty line).
func metadataLicenses(r io.Reader) []string {
	var expr, license string
	var classifiers []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			break // the description follows
		}
		switch {
		case strings.HasPrefix(line, "License-Expression:"):
			expr = strings.TrimSpace(strings.TrimPrefix(line, "License-Expression:"))
		case strings.HasPrefix(line, "License:"):
			license = strings.TrimSpace(strings.TrimPrefix(line, "License:"))
		case strings.HasPrefix(line, "Classifier: License ::"):
			parts := strings.Split(line, "::")
			if c := strings.TrimSpace(parts[len(parts)-1]); c != "" && c != "OSI Approved" {
				classifiers = append(classifiers, c)
			}
		}
	}
	switch {
	case expr != "":
		return []string{expr}
	case license != "" && license != "UNKNOWN" && len(license) <= 100:
		return []string{license}
	}
	return classifiers
}
