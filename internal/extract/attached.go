package extract

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/cssc-project/cssc/internal/imagefs"
	"github.com/cssc-project/cssc/internal/inventory"
	"github.com/cssc-project/cssc/internal/sbom"
)

// ErrNoAttachedSBOM is returned by Attached when the image has no SBOM
// attached.
var ErrNoAttachedSBOM = errors.New("no SBOM is attached")

// sbomTypes are the artifact types of attached SBOMs cssc reads.
func sbomTypes() []string {
	return []string{sbom.MediaTypeSPDX, sbom.MediaTypeCycloneDX, sbom.MediaTypeHarbor}
}

// Attached returns the inventory of the SBOM attached to img (as an OCI
// referrer of the image, or else of the index it was selected from): SPDX,
// CycloneDX, or Harbor's SBOM accessory holding either. The inventory's
// subject is img, whatever the document names.
func Attached(ctx context.Context, img *imagefs.Image) (inventory.Inventory, error) {
	arts, err := img.Attached(ctx, sbomTypes()...)
	if err != nil {
		return inventory.Inventory{}, fmt.Errorf("%s: %w", img.Name, err)
	}
	if len(arts) == 0 {
		return inventory.Inventory{}, fmt.Errorf("%s (%s): %w (looked for artifact types %s)", img.Name, img.Platform, ErrNoAttachedSBOM, strings.Join(sbomTypes(), ", "))
	}
	a := arts[0] // the image's own before the index's
	rc, _, err := a.Open(ctx, sbom.DefaultMaxBytes)
	if err != nil {
		return inventory.Inventory{}, err
	}
	defer rc.Close()
	inv, _, err := sbom.Decode(rc)
	if err != nil {
		return inventory.Inventory{}, fmt.Errorf("read the SBOM %s attached to %s: %w", a.Descriptor.Digest, img.Name, err)
	}
	inv.Subject = inventory.Subject{Name: img.Name, Digest: img.Digest, Index: img.Index, Platform: img.Platform}
	return inv, nil
}
