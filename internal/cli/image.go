package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/cssc-project/cssc/internal/extract"
	"github.com/cssc-project/cssc/internal/imagefs"
	"github.com/cssc-project/cssc/internal/inventory"
	"github.com/cssc-project/cssc/internal/version"
)

// imageFlags are how the image-reading commands (sbom, scan) reach and
// read an image.
type imageFlags struct {
	// attached: read the SBOM attached to the image instead of its layers.
	attached bool
	platform string
	insecure bool
	tempDir  string
	limits   imagefs.Limits
}

func (f *imageFlags) register(fs *pflag.FlagSet) {
	fs.BoolVar(&f.attached, "attached-sbom", false, "take the packages from the SBOM attached to the image (an OCI referrer: SPDX, CycloneDX or Harbor's) instead of reading its layers")
	fs.StringVar(&f.platform, "platform", "", "platform of a multi-platform image to read, e.g. linux/arm64 (default: every platform)")
	fs.BoolVar(&f.insecure, "insecure", false, "allow plain HTTP and unverified TLS to the registry (localhost and 127.0.0.1 use HTTP anyway)")
	fs.StringVar(&f.tempDir, "temp-dir", "", "directory for the files extracted while reading (default: the system's)")
	fs.Int64Var(&f.limits.MaxBytes, "max-bytes", imagefs.DefaultLimits.MaxBytes, "refuse an image whose layers expand to more bytes than this")
	fs.Int64Var(&f.limits.MaxFiles, "max-files", imagefs.DefaultLimits.MaxFiles, "refuse an image whose layers hold more entries than this")
	fs.Float64Var(&f.limits.MaxRatio, "max-ratio", imagefs.DefaultLimits.MaxRatio, "refuse a layer that expands more than this many times (past its first 64 MiB)")
}

// imageRefHelp is the argument's description, for the commands' help.
const imageRefHelp = `IMAGE is a registry reference (host/repo:tag or host/repo@sha256:…; credentials
from the docker config), an OCI layout (oci:DIR or oci:DIR:TAG) or a docker save
archive (docker-archive:FILE).`

// open resolves ref to its images (one per platform read).
func (f *imageFlags) open(ctx context.Context, ref string) ([]*imagefs.Image, error) {
	return imagefs.Open(ctx, ref, imagefs.OpenOptions{Platform: f.platform, Insecure: f.insecure, UserAgent: "cssc/" + version.Version})
}

// inventories reads the inventory of every image ref names.
func (f *imageFlags) inventories(ctx context.Context, g *globals, ref string) ([]inventory.Inventory, error) {
	imgs, err := f.open(ctx, ref)
	if err != nil {
		return nil, err
	}
	var out []inventory.Inventory
	for _, img := range imgs {
		inv, err := f.inventory(ctx, g, img)
		if err != nil {
			return nil, err
		}
		out = append(out, inv)
	}
	return out, nil
}

// inventory reads the packages of one image.
func (f *imageFlags) inventory(ctx context.Context, g *globals, img *imagefs.Image) (inventory.Inventory, error) {
	g.log.Debug("reading image", "image", img.Name, "platform", img.Platform, "digest", img.Digest, "attached-sbom", f.attached)
	var inv inventory.Inventory
	var err error
	if f.attached {
		inv, err = extract.Attached(ctx, img)
	} else {
		inv, err = extract.Image(ctx, img, extract.Options{Limits: f.limits, TempDir: f.tempDir, Log: g.log})
	}
	if err != nil {
		return inventory.Inventory{}, err
	}
	for _, w := range inv.Warnings {
		g.log.Warn("incomplete inventory", "platform", img.Platform, "problem", w)
	}
	return inv, nil
}

// onePlatform picks the inventory an SBOM describes when an index gave
// several: the one --platform named, else this machine's platform.
func onePlatform(invs []inventory.Inventory, ref string) (inventory.Inventory, error) {
	if len(invs) == 1 {
		return invs[0], nil
	}
	var have []string
	for _, inv := range invs {
		if strings.HasPrefix(inv.Subject.Platform+"/", imagefs.HostPlatform()+"/") { // linux/arm64 is linux/arm64/v8 too
			return inv, nil
		}
		have = append(have, inv.Subject.Platform)
	}
	slices.Sort(have)
	return inventory.Inventory{}, fmt.Errorf("%s is a multi-platform image (%s): choose one with --platform", ref, strings.Join(have, ", "))
}

// output opens where a command writes its document: path, or stdout for
// "" and "-". The file is written whole or not at all.
func output(g *globals, path string) (io.Writer, func(ok bool) error, error) {
	if path == "" || path == "-" {
		return g.stdout, func(bool) error { return nil }, nil
	}
	tmp, err := os.CreateTemp(dirOf(path), ".cssc-out-*")
	if err != nil {
		return nil, nil, fmt.Errorf("write %s: %w", path, err)
	}
	done := func(ok bool) error {
		if !ok {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
			return nil
		}
		if err := tmp.Close(); err != nil {
			_ = os.Remove(tmp.Name())
			return fmt.Errorf("write %s: %w", path, err)
		}
		if err := os.Chmod(tmp.Name(), 0o644); err != nil {
			_ = os.Remove(tmp.Name())
			return fmt.Errorf("write %s: %w", path, err)
		}
		if err := os.Rename(tmp.Name(), path); err != nil {
			_ = os.Remove(tmp.Name())
			return fmt.Errorf("write %s: %w", path, err)
		}
		return nil
	}
	return tmp, done, nil
}

func dirOf(path string) string {
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		return path[:i+1]
	}
	return "."
}
