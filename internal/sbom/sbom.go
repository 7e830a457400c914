// Package sbom writes an image's inventory as an SBOM (SPDX 2.3 JSON,
// CycloneDX 1.6 JSON, or a text table) and reads SPDX and CycloneDX JSON
// documents, ours or another tool's, back into an inventory, so that a
// stored SBOM can be scanned again without the image.
//
// The official libraries do the encoding and parsing
// (github.com/spdx/tools-golang, github.com/CycloneDX/cyclonedx-go); this
// package maps between them and inventory.Inventory. What each field
// carries is described in docs/sbom.md.
package sbom

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cssc-project/cssc/internal/inventory"
	"github.com/cssc-project/cssc/internal/version"
)

// Format is an SBOM encoding.
type Format string

// The formats Encode writes; Decode reads the two JSON ones.
const (
	FormatSPDXJSON      Format = "spdx-json"      // SPDX 2.3, JSON
	FormatCycloneDXJSON Format = "cyclonedx-json" // CycloneDX 1.6, JSON
	FormatTable         Format = "table"          // text for people
)

// Media types of SBOM documents, as attached to images (OCI artifactType /
// layer media type).
const (
	MediaTypeSPDX      = "application/spdx+json"
	MediaTypeCycloneDX = "application/vnd.cyclonedx+json"
	// MediaTypeHarbor is Harbor's SBOM accessory; its content is an SPDX
	// or CycloneDX JSON document, which Decode tells apart.
	MediaTypeHarbor = "application/vnd.goharbor.harbor.sbom.v1"
)

// DefaultMaxBytes is how large a document Decode accepts by default.
const DefaultMaxBytes = 256 << 20

// Errors Decode returns; callers test them with errors.Is.
var (
	// ErrTooLarge: the document is larger than the decoder's limit.
	ErrTooLarge = errors.New("SBOM document too large")
	// ErrUnknownFormat: the input is not an SPDX or CycloneDX JSON
	// document, or a version of one that is not supported.
	ErrUnknownFormat = errors.New("not an SPDX or CycloneDX JSON document")
)

// Formats lists the formats Encode writes, for flag help.
func Formats() []Format {
	return []Format{FormatSPDXJSON, FormatCycloneDXJSON, FormatTable}
}

// ParseFormat returns the Format named s.
func ParseFormat(s string) (Format, error) {
	for _, f := range Formats() {
		if string(f) == s {
			return f, nil
		}
	}
	return "", fmt.Errorf("unknown SBOM format %q (want spdx-json, cyclonedx-json or table)", s)
}

// MediaType is the media type of documents in format f; empty for the
// table, which is not a document format.
func (f Format) MediaType() string {
	switch f {
	case FormatSPDXJSON:
		return MediaTypeSPDX
	case FormatCycloneDXJSON:
		return MediaTypeCycloneDX
	}
	return ""
}

// Options are the facts about the document itself that the inventory does
// not hold.
type Options struct {
	// ToolName and ToolVersion name the creator; the defaults are "cssc"
	// and the running binary's version. SPDX records "Tool: name-version".
	ToolName    string
	ToolVersion string
	// Time is when the document was created; the default is now. The same
	// inventory and the same Time give byte-identical output.
	Time time.Time
}

func (o Options) withDefaults() Options {
	if o.ToolName == "" {
		o.ToolName = "cssc"
	}
	if o.ToolVersion == "" {
		o.ToolVersion = version.Version
	}
	if o.Time.IsZero() {
		o.Time = time.Now()
	}
	o.Time = o.Time.UTC().Truncate(time.Second)
	return o
}

// Encode writes inv to w in format f.
func Encode(w io.Writer, inv inventory.Inventory, f Format, opts Options) error {
	opts = opts.withDefaults()
	inv = normalized(inv)
	var err error
	switch f {
	case FormatSPDXJSON:
		err = encodeSPDX(w, inv, opts)
	case FormatCycloneDXJSON:
		err = encodeCycloneDX(w, inv, opts)
	case FormatTable:
		err = encodeTable(w, inv)
	default:
		return fmt.Errorf("encode SBOM: unknown format %q", f)
	}
	if err != nil {
		return fmt.Errorf("encode SBOM as %s: %w", f, err)
	}
	return nil
}

// Decoder reads SBOM documents.
type Decoder struct {
	// MaxBytes bounds the document's size; 0 means DefaultMaxBytes.
	MaxBytes int64
}

// Decode reads an SPDX (2.1–2.3) or CycloneDX (1.2–1.7) JSON document with
// the default limits. See Decoder.Decode.
func Decode(r io.Reader) (inventory.Inventory, Format, error) {
	return Decoder{}.Decode(r)
}

// Decode reads an SPDX or CycloneDX JSON document, telling them apart by
// content, and returns the inventory it describes and its format.
// Packages lacking cssc's own annotations get their OSV ecosystem and
// source package from their PURL (docs/sbom.md). A document that cannot be
// parsed is an error, never an empty inventory.
func (d Decoder) Decode(r io.Reader) (inventory.Inventory, Format, error) {
	limit := d.maxBytes()
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return inventory.Inventory{}, "", fmt.Errorf("read SBOM: %w", err)
	}
	if int64(len(data)) > limit {
		return inventory.Inventory{}, "", fmt.Errorf("read SBOM: %w (limit %d bytes)", ErrTooLarge, limit)
	}
	f, version, err := detect(data)
	if err != nil {
		return inventory.Inventory{}, "", err
	}
	var inv inventory.Inventory
	switch f {
	case FormatSPDXJSON:
		inv, err = decodeSPDX(data, version)
	case FormatCycloneDXJSON:
		inv, err = decodeCycloneDX(data)
	}
	if err != nil {
		return inventory.Inventory{}, "", fmt.Errorf("decode %s SBOM: %w", f, err)
	}
	return inv, f, nil
}

func (d Decoder) maxBytes() int64 {
	if d.MaxBytes <= 0 {
		return DefaultMaxBytes
	}
	return d.MaxBytes
}

// detect tells the format from the document's top-level fields. It reads
// only as far as it needs: the version fields come first in documents
// that SPDX and CycloneDX tools write, and the parser that follows checks
// the rest.
func detect(data []byte) (Format, string, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return "", "", fmt.Errorf("%w: empty input", ErrUnknownFormat)
	}
	var spdxVersion, bomFormat, specVersion *string
	var context json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil {
		return "", "", fmt.Errorf("%w: %v", ErrUnknownFormat, err)
	} else if tok != json.Delim('{') {
		return "", "", fmt.Errorf("%w: not a JSON object", ErrUnknownFormat)
	}
	for dec.More() && spdxVersion == nil && (bomFormat == nil || specVersion == nil) {
		tok, err := dec.Token()
		if err != nil {
			return "", "", fmt.Errorf("%w: %v", ErrUnknownFormat, err)
		}
		key, _ := tok.(string)
		var dst any
		switch key {
		case "spdxVersion":
			dst = &spdxVersion
		case "bomFormat":
			dst = &bomFormat
		case "specVersion":
			dst = &specVersion
		case "@context":
			dst = &context
		default:
			dst = &json.RawMessage{}
		}
		if err := dec.Decode(dst); err != nil {
			return "", "", fmt.Errorf("%w: %s: %v", ErrUnknownFormat, key, err)
		}
	}
	switch {
	case spdxVersion != nil:
		switch *spdxVersion {
		case "SPDX-2.1", "SPDX-2.2", "SPDX-2.3":
			return FormatSPDXJSON, *spdxVersion, nil
		}
		return "", "", fmt.Errorf("%w: unsupported SPDX version %q (want SPDX-2.2 or SPDX-2.3)", ErrUnknownFormat, *spdxVersion)
	case bomFormat != nil:
		if *bomFormat != "CycloneDX" {
			return "", "", fmt.Errorf("%w: bomFormat %q", ErrUnknownFormat, *bomFormat)
		}
		v := ""
		if specVersion != nil {
			v = *specVersion
		}
		switch v {
		case "1.2", "1.3", "1.4", "1.5", "1.6", "1.7":
			return FormatCycloneDXJSON, v, nil
		}
		return "", "", fmt.Errorf("%w: unsupported CycloneDX specVersion %q", ErrUnknownFormat, v)
	case bytes.Contains(context, []byte("spdx.org/rdf/3")):
		return "", "", fmt.Errorf("%w: SPDX 3 (JSON-LD) is not supported", ErrUnknownFormat)
	}
	return "", "", ErrUnknownFormat
}

// normalized returns a copy of inv with its packages in a stable order, so
// the output does not depend on the order extraction found them in.
func normalized(inv inventory.Inventory) inventory.Inventory {
	pkgs := make([]inventory.Package, len(inv.Packages))
	copy(pkgs, inv.Packages)
	sortPackages(pkgs)
	inv.Packages = pkgs
	return inv
}
