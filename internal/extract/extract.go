// Package extract builds an image's package inventory: it reads the
// layers with imagefs (safely, extracting only the files a package
// extractor asks for) and runs osv-scalibr's extractors on them, then
// attributes each package to the layer that introduced its file.
package extract

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	cpb "github.com/google/osv-scalibr/binary/proto/config_go_proto"
	scalibrextractor "github.com/google/osv-scalibr/extractor"
	"github.com/google/osv-scalibr/extractor/filesystem"
	"github.com/google/osv-scalibr/extractor/filesystem/language/golang/gobinary"
	"github.com/google/osv-scalibr/extractor/filesystem/language/java/archive"
	"github.com/google/osv-scalibr/extractor/filesystem/language/javascript/packagejson"
	"github.com/google/osv-scalibr/extractor/filesystem/language/javascript/packagelockjson"
	"github.com/google/osv-scalibr/extractor/filesystem/language/php/composerlock"
	"github.com/google/osv-scalibr/extractor/filesystem/language/python/wheelegg"
	"github.com/google/osv-scalibr/extractor/filesystem/language/ruby/gemspec"
	"github.com/google/osv-scalibr/extractor/filesystem/language/rust/cargoauditable"
	"github.com/google/osv-scalibr/extractor/filesystem/os/apk"
	apkmeta "github.com/google/osv-scalibr/extractor/filesystem/os/apk/metadata"
	"github.com/google/osv-scalibr/extractor/filesystem/os/dpkg"
	dpkgmeta "github.com/google/osv-scalibr/extractor/filesystem/os/dpkg/metadata"
	"github.com/google/osv-scalibr/extractor/filesystem/os/osrelease"
	"github.com/google/osv-scalibr/extractor/filesystem/os/rpm"
	rpmmeta "github.com/google/osv-scalibr/extractor/filesystem/os/rpm/metadata"
	scalibrfs "github.com/google/osv-scalibr/fs"

	"github.com/cssc-project/cssc/internal/imagefs"
	"github.com/cssc-project/cssc/internal/inventory"
)

// Options tune an extraction.
type Options struct {
	Limits imagefs.Limits
	// TempDir is where the wanted files are extracted (default os.TempDir);
	// it needs room for the package databases and binaries of one image.
	TempDir string
	Log     *slog.Logger
}

// isOSExtractor reports the extractors of the operating system's package
// database: when one fails, the inventory would silently miss the OS
// packages, so it is an error, not a warning.
func isOSExtractor(name string) bool {
	return name == dpkg.Name || name == apk.Name || name == rpm.Name
}

// extractors returns the extractors cssc runs, fresh for each call.
func extractors() ([]filesystem.Extractor, error) {
	cfg := &cpb.PluginConfig{PluginSpecific: []*cpb.PluginSpecificConfig{
		// A dpkg status file larger than osv-scalibr's 100 MiB default
		// would be passed over silently, and the image look clean: the
		// image limits bound it instead.
		{Config: &cpb.PluginSpecificConfig_Dpkg{Dpkg: &cpb.DpkgConfig{MaxFileSizeBytes: 1 << 40}}},
		// Nested jars are read into memory: 256 MiB of them per archive
		// (osv-scalibr's default is 4 GiB, enough to kill a CI runner).
		{Config: &cpb.PluginSpecificConfig_JavaArchive{JavaArchive: &cpb.JavaArchiveConfig{MaxOpenedBytes: 256 << 20}}},
	}}
	var out []filesystem.Extractor
	for _, n := range []func(*cpb.PluginConfig) (filesystem.Extractor, error){
		dpkg.New, apk.New, rpm.New,
		gobinary.New, wheelegg.New, packagejson.New, packagelockjson.New,
		archive.New, cargoauditable.New, gemspec.New, composerlock.New,
	} {
		e, err := n(cfg)
		if err != nil {
			return nil, fmt.Errorf("set up extractors: %w", err)
		}
		out = append(out, e)
	}
	return out, nil
}

// osReleasePaths are read for the base OS (the first that exists).
func osReleasePaths() []string { return []string{"/etc/os-release", "/usr/lib/os-release"} }

// Image returns the inventory of img.
func Image(ctx context.Context, img *imagefs.Image, opts Options) (inventory.Inventory, error) {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	exs, err := extractors()
	if err != nil {
		return inventory.Inventory{}, err
	}
	dir, err := os.MkdirTemp(opts.TempDir, "cssc-extract-")
	if err != nil {
		return inventory.Inventory{}, fmt.Errorf("extract %s: %w", img.Name, err)
	}
	defer func() { _ = os.RemoveAll(dir) }()

	tree, err := imagefs.ExtractWithLinks(ctx, img, opts.Limits, dir, selector(exs), linkNeeded)
	if err != nil {
		return inventory.Inventory{}, fmt.Errorf("read %s: %w", img.Name, err)
	}
	inv := inventory.Inventory{Subject: inventory.Subject{Name: img.Name, Digest: img.Digest, Index: img.Index, Platform: img.Platform}}
	for _, l := range tree.Layers {
		inv.Layers = append(inv.Layers, inventory.Layer{Digest: l.Digest, DiffID: l.DiffID, Size: l.Size})
	}
	// os-release is usually a symlink (/etc/os-release → ../usr/lib/os-release):
	// give its target's content the path the extractors read.
	for _, p := range osReleasePaths() {
		if r, err := tree.Resolve(p); err == nil && r != p {
			if n, ok := tree.Lookup(r); ok && n.Extracted {
				if err := tree.Link(r, p); err != nil {
					return inventory.Inventory{}, fmt.Errorf("read %s: %w", img.Name, err)
				}
			}
		}
	}
	root := scalibrfs.DirFS(tree.Root)
	if m, err := osrelease.GetOSRelease(root); err == nil {
		inv.OS = &inventory.OS{ID: m["ID"], VersionID: m["VERSION_ID"], Codename: m["VERSION_CODENAME"], PrettyName: m["PRETTY_NAME"]}
	}

	for _, p := range tree.Files() {
		rel := strings.TrimPrefix(p, "/")
		info, err := os.Stat(filepath.Join(tree.Root, filepath.FromSlash(rel)))
		if err != nil {
			return inventory.Inventory{}, fmt.Errorf("read %s: %w", img.Name, err)
		}
		api := simpleAPI{path: rel, info: info}
		for _, ex := range exs {
			if !ex.FileRequired(api) {
				continue
			}
			pkgs, err := runExtractor(ctx, ex, root, tree.Root, rel, info)
			if err != nil {
				if isOSExtractor(ex.Name()) {
					return inventory.Inventory{}, fmt.Errorf("read the OS package database %s of %s: %w", p, img.Name, err)
				}
				inv.Warnings = append(inv.Warnings, fmt.Sprintf("%s: %s: %v", ex.Name(), p, err))
				log.WarnContext(ctx, "a file could not be read for packages", "image", img.Name, "file", p, "extractor", ex.Name(), "err", err)
				continue
			}
			for _, sp := range pkgs {
				inv.Packages = append(inv.Packages, convert(sp, p, tree))
			}
		}
	}
	inv.Packages = merge(inv.Packages)
	debianLicenses(tree, inv.Packages)
	pythonLicenses(tree, inv.Packages)
	return inv, nil
}

// selector decides which files of the image to extract: those an
// extractor asks for (binaries only when they start like one: the Go and
// Rust extractors ask for any *.so, *.bin, … by name, and model weights
// or archives named so would be copied for nothing), os-release, and
// Debian copyright files (the packages' licences).
func selector(exs []filesystem.Extractor) imagefs.Want {
	return func(e imagefs.Entry, head func() []byte) bool {
		if e.Path == "/etc/os-release" || e.Path == "/usr/lib/os-release" {
			return true
		}
		if isDebianCopyright(e.Path) {
			return e.Size <= maxCopyrightBytes
		}
		api := entryAPI{e}
		for _, ex := range exs {
			if !ex.FileRequired(api) {
				continue
			}
			if needsExecutable(ex.Name()) && !isExecutable(head()) {
				continue
			}
			return true
		}
		return false
	}
}

// linkNeeded reports the symlinks the inventory resolves: those on the
// way to os-release and to /usr/share/doc/*/copyright (a package's doc
// directory is often a link to its source package's).
func linkNeeded(p string) bool {
	for _, want := range []string{"/etc/os-release", "/usr/lib/os-release", "/usr/share/doc"} {
		if p == want || strings.HasPrefix(want, p+"/") || strings.HasPrefix(p, want+"/") {
			return true
		}
	}
	return false
}

// needsExecutable reports the extractors that read executables only.
func needsExecutable(name string) bool {
	return name == gobinary.Name || name == cargoauditable.Name
}

func runExtractor(ctx context.Context, ex filesystem.Extractor, root scalibrfs.FS, rootDir, rel string, info fs.FileInfo) ([]*scalibrextractor.Package, error) {
	f, err := root.Open(rel)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	res, err := ex.Extract(ctx, &filesystem.ScanInput{FS: root, Path: rel, Root: rootDir, Info: info, Reader: f})
	if err != nil {
		return nil, err
	}
	return res.Packages, nil
}

// convert turns a scalibr package found in file p into ours.
func convert(sp *scalibrextractor.Package, p string, tree *imagefs.Tree) inventory.Package {
	pkg := inventory.Package{Name: sp.Name, Version: sp.Version, Licenses: slices.Clone(sp.Licenses)}
	if eco := sp.Ecosystem(); !eco.IsEmpty() {
		pkg.Ecosystem = eco.String()
	}
	if u := sp.PURL(); u != nil {
		pkg.PURL = u.String()
	}
	if pkg.Ecosystem == "Go" && pkg.Name == "go" {
		// The Go toolchain a binary was built with: OSV lists the standard
		// library's vulnerabilities under the package "stdlib".
		pkg.Name, pkg.PURL = "stdlib", "pkg:golang/stdlib@"+pkg.Version
	}
	switch m := sp.Metadata.(type) {
	case *dpkgmeta.Metadata:
		pkg.SourceName, pkg.SourceVersion = m.SourceName, m.SourceVersion
	case *apkmeta.Metadata:
		pkg.SourceName = m.OriginName
	case *rpmmeta.Metadata:
		pkg.SourceName = sourceRPMName(m.SourceRPM)
		if m.Epoch > 0 {
			// RPM advisories compare epoch:version-release.
			pkg.Version = strconv.Itoa(m.Epoch) + ":" + pkg.Version
		}
		if major, _, _ := strings.Cut(m.OSVersionID, "."); major != "" &&
			(pkg.Ecosystem == "Rocky Linux" || pkg.Ecosystem == "AlmaLinux") {
			// OSV publishes these per major release: "Rocky Linux:9".
			pkg.Ecosystem += ":" + major
		}
	}
	if pkg.SourceName == pkg.Name {
		pkg.SourceName = ""
	}
	if pkg.SourceName == "" || pkg.SourceVersion == pkg.Version {
		pkg.SourceVersion = ""
	}
	loc := p
	if d := sp.Location.PathOrEmpty(); d != "" {
		loc = "/" + strings.TrimPrefix(d, "/")
	}
	pkg.Locations = []string{loc}
	// A package inside an archive ("app.jar:lib/x.jar") came with its
	// outermost file.
	outer := loc
	if i := strings.IndexByte(outer, ':'); i > 0 {
		outer = outer[:i]
	}
	if n, ok := tree.Lookup(outer); ok {
		pkg.Layer = n.LayerDigest
	} else if n, ok := tree.Lookup(p); ok {
		pkg.Layer = n.LayerDigest
	}
	return pkg
}

// sourceRPMName is the name part of a source RPM file name
// ("openssl-3.0.7-27.el9.src.rpm" → "openssl").
func sourceRPMName(srpm string) string {
	s := strings.TrimSuffix(srpm, ".rpm")
	s = strings.TrimSuffix(s, ".src")
	// name-version-release: drop the last two dash-separated fields.
	for range 2 {
		i := strings.LastIndexByte(s, '-')
		if i <= 0 {
			return ""
		}
		s = s[:i]
	}
	return s
}

// merge folds packages found more than once at the same place (and the
// same package found in several files) into one entry per (PURL or
// name+version+ecosystem, location); the order is stable.
func merge(pkgs []inventory.Package) []inventory.Package {
	type key struct{ id, loc string }
	seen := map[key]bool{}
	out := pkgs[:0]
	for _, p := range pkgs {
		id := p.PURL
		if id == "" {
			id = p.Ecosystem + "\x00" + p.Name + "\x00" + p.Version
		}
		k := key{id, p.Locations[0]}
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, p)
	}
	slices.SortStableFunc(out, func(a, b inventory.Package) int {
		return strings.Compare(a.Locations[0]+"\x00"+a.Name, b.Locations[0]+"\x00"+b.Name)
	})
	return out
}

// entryAPI shows a layer entry to an extractor's FileRequired.
type entryAPI struct{ e imagefs.Entry }

func (a entryAPI) Path() string               { return strings.TrimPrefix(a.e.Path, "/") }
func (a entryAPI) Stat() (fs.FileInfo, error) { return a.e.Info(), nil }

type simpleAPI struct {
	path string
	info fs.FileInfo
}

func (a simpleAPI) Path() string               { return a.path }
func (a simpleAPI) Stat() (fs.FileInfo, error) { return a.info, nil }
