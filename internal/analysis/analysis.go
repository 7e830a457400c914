// Package analysis analyses an image, platform by platform, as the
// acquire pipeline needs it: the package inventory (generated from the
// layers, or taken from an attached SBOM), the vulnerabilities matched
// against the local database, the malware and secret scans of every
// layer, the configuration facts and the base OS's end of life. The result
// (Platform) is plain data that round-trips through JSON, so the pipeline
// can persist it between steps; the risk score's input, the policy's
// findings and the reports and SBOMs attached to the image are derived
// from it, byte for byte the same however often they are derived.
//
// Analysis fails closed: a scan that did not finish is an error status,
// never clean, and vulnerability matching that did not run or lacked data
// is incomplete.
package analysis

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/ossf/osv-schema/bindings/go/osvschema"

	"github.com/cssc-project/cssc/internal/eol"
	"github.com/cssc-project/cssc/internal/extract"
	"github.com/cssc-project/cssc/internal/imagefs"
	"github.com/cssc-project/cssc/internal/inventory"
	"github.com/cssc-project/cssc/internal/layerscan"
	"github.com/cssc-project/cssc/internal/malware"
	"github.com/cssc-project/cssc/internal/match"
	"github.com/cssc-project/cssc/internal/sbom"
	"github.com/cssc-project/cssc/internal/secrets"
	"github.com/cssc-project/cssc/internal/vulndb"
)

// SBOM sources of a Platform's inventory.
const (
	// SBOMGenerated: the inventory was read from the image's layers.
	SBOMGenerated = "generated"
	// SBOMAttached: the inventory is the SBOM attached to the image.
	SBOMAttached = "attached"
)

// VulnSource is the vulnerability database as the analysis reads it (a
// *vulndb.DB through DBSource).
type VulnSource = match.Source

// DBSource shows a vulnerability database to the analysis.
func DBSource(db *vulndb.DB) VulnSource { return dbSource{db} }

type dbSource struct{ db *vulndb.DB }

func (s dbSource) Vulnerabilities(ctx context.Context, ecosystem, name string) ([]*osvschema.Vulnerability, error) {
	return s.db.Vulnerabilities(ctx, ecosystem, name)
}

func (s dbSource) Coverage(ecosystem string) match.Coverage {
	c := s.db.Coverage(ecosystem)
	return match.Coverage{Covered: c.Covered(), Reason: c.Reason(), ImportedAt: c.ImportedAt, Newest: c.Newest}
}

// Options say what to analyse and with what.
type Options struct {
	// Vulns is the vulnerability data; nil: no matching, and the
	// vulnerability data is incomplete (never "no vulnerabilities").
	Vulns VulnSource
	// Layers are the malware and secret scans' settings: a nil Clamd or
	// Secrets is that scan not run. Layers.Limits also bound the
	// inventory's extraction.
	Layers layerscan.Options
	// EOL is the end-of-life table; nil means the embedded one.
	EOL *eol.Table
	// Open says how to reach the image.
	Open imagefs.OpenOptions
	// UseAttachedSBOM takes the inventory from the SBOM attached to the
	// image when it has one; otherwise (and always when false) the
	// inventory is read from the layers.
	UseAttachedSBOM bool
	// TempDir holds the files extracted for the inventory and the layers
	// cached between the inventory and the layer scan; "" means
	// os.TempDir.
	TempDir string
	// Now is the clock (AnalysedAt, and the malware signature database's
	// age unless Layers.Now is set); nil means time.Now.
	Now func() time.Time
	// Log receives progress at debug level and incomplete inventories as
	// warnings; nil discards.
	Log *slog.Logger
}

// Platform is the analysis of one platform image. It is plain data: its
// JSON encoding decodes to an equal value (Image returns it in that
// canonical form), and what is derived from it (RiskInput,
// PolicyFindings, SBOM, SARIF, ReportJSON) depends on nothing else, so a
// pipeline that persisted it derives the same bytes after a restart.
type Platform struct {
	// Name is the reference the image was analysed under.
	Name string `json:"name"`
	// Digest is the platform image's manifest digest.
	Digest string `json:"digest"`
	// Platform is "os/arch[/variant]": from the index, or for a
	// single-platform image from its configuration.
	Platform string `json:"platform,omitempty"`
	// IndexDigest is the digest of the index the image was selected from;
	// empty for a single-platform image.
	IndexDigest string `json:"index_digest,omitempty"`
	// AnalysedAt is when the analysis ran (UTC, whole seconds): the time
	// the end of life was judged at, and the creation time written in the
	// reports and SBOMs derived from the Platform.
	AnalysedAt time.Time `json:"analysed_at"`

	// Created, User, ExposedPorts and Labels come from the image
	// configuration. Created is zero when the configuration has none.
	Created      time.Time         `json:"created,omitzero"`
	User         string            `json:"user,omitempty"`
	ExposedPorts int               `json:"exposed_ports,omitempty"`
	Labels       map[string]string `json:"labels,omitempty"`

	// Inventory is the image's packages and base OS.
	Inventory inventory.Inventory `json:"inventory"`
	// SBOMSource is SBOMGenerated or SBOMAttached: where Inventory came
	// from.
	SBOMSource string `json:"sbom_source"`
	// AttachedSBOM describes the SBOM attached to the image; nil when it
	// has none (or was not read from a registry).
	AttachedSBOM *AttachedSBOM `json:"attached_sbom,omitempty"`

	// Vulns is the vulnerability matching; nil when it did not run.
	Vulns *match.Report `json:"vulns,omitempty"`
	// Malware and Secrets are the layer scans; nil when not run.
	Malware *malware.Result `json:"malware,omitempty"`
	Secrets *secrets.Result `json:"secrets,omitempty"`
	// OS is the base OS's end-of-life status at AnalysedAt; nil when the
	// image has no os-release.
	OS *eol.Status `json:"os,omitempty"`
}

// AttachedSBOM describes an SBOM attached to the image (an OCI referrer
// of the image or of its index).
type AttachedSBOM struct {
	// Digest is the artifact manifest's digest and Subject the digest it
	// is attached to.
	Digest  string `json:"digest"`
	Subject string `json:"subject"`
	// Format is sbom.FormatSPDXJSON or sbom.FormatCycloneDXJSON;
	// MediaType the artifact's layer media type.
	Format    sbom.Format `json:"format"`
	MediaType string      `json:"media_type"`
	// Packages is the number of packages it lists.
	Packages int `json:"packages"`
	// Licenses are the distinct licences (SPDX IDs or expressions) of
	// its packages, sorted.
	Licenses []string `json:"licenses,omitempty"`
}

// Image analyses every platform of the image ref names (attestation
// manifests of an index are not platforms), in the index's order. ref is
// what imagefs.Open reads, e.g.
// "127.0.0.1:5000/quarantine/library/nginx@sha256:…".
//
// Scans that could not complete are recorded in the result (an error
// status); Image's own error is for what leaves nothing to record: an
// image that cannot be read, an inventory that cannot be built, a
// database that cannot be queried, a cancelled ctx.
func Image(ctx context.Context, ref string, opts Options) ([]Platform, error) {
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	at := now().UTC().Truncate(time.Second)
	if opts.Layers.Now == nil {
		opts.Layers.Now = now // the signature database's age, by the same clock
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	table := opts.EOL
	if table == nil {
		table = eol.Embedded()
	}
	imgs, err := imagefs.Open(ctx, ref, opts.Open)
	if err != nil {
		return nil, fmt.Errorf("analyse %s: %w", ref, err)
	}
	layerScan := opts.Layers.Clamd != nil || opts.Layers.Secrets != nil
	var cacheDir string
	if layerScan {
		// The inventory and the layer scan both read every layer: each
		// layer is downloaded once.
		if cacheDir, err = os.MkdirTemp(opts.TempDir, "cssc-layers-"); err != nil {
			return nil, fmt.Errorf("analyse %s: layer cache: %w", ref, err)
		}
		defer func() { _ = os.RemoveAll(cacheDir) }()
	}
	out := make([]Platform, 0, len(imgs))
	for _, im := range imgs {
		p, err := analyse(ctx, im, opts, table, at, cacheDir, log)
		if err != nil {
			return nil, fmt.Errorf("analyse %s: %w", label(im), err)
		}
		if p, err = canonical(p); err != nil {
			return nil, fmt.Errorf("analyse %s: %w", label(im), err)
		}
		out = append(out, p)
	}
	return out, nil
}

func label(im *imagefs.Image) string {
	if im.Platform != "" {
		return im.Name + " (" + im.Platform + ")"
	}
	return im.Name
}

// analyse analyses one platform image.
func analyse(ctx context.Context, im *imagefs.Image, opts Options, table *eol.Table, at time.Time, cacheDir string, log *slog.Logger) (Platform, error) {
	p := Platform{Name: im.Name, Digest: im.Digest, Platform: im.Platform, IndexDigest: im.Index, AnalysedAt: at}
	cf, err := im.ConfigFile()
	if err != nil {
		return Platform{}, fmt.Errorf("read configuration: %w", err)
	}
	if cf != nil {
		if !cf.Created.IsZero() {
			p.Created = cf.Created.UTC()
		}
		p.User, p.ExposedPorts = cf.Config.User, len(cf.Config.ExposedPorts)
		if len(cf.Config.Labels) > 0 {
			p.Labels = cf.Config.Labels
		}
	}

	attached, attachedInv, err := attachedSBOM(ctx, im)
	if err != nil {
		return Platform{}, err
	}
	p.AttachedSBOM = attached
	if opts.UseAttachedSBOM && attached != nil {
		p.Inventory, p.SBOMSource = attachedInv, SBOMAttached
	} else {
		if cacheDir != "" {
			im.CacheLayers(cacheDir)
		}
		log.DebugContext(ctx, "reading the inventory", "image", im.Name, "platform", im.Platform)
		inv, err := extract.Image(ctx, im, extract.Options{Limits: opts.Layers.Limits, TempDir: opts.TempDir, Log: log})
		if err != nil {
			return Platform{}, fmt.Errorf("read the inventory: %w", err)
		}
		for _, w := range inv.Warnings {
			log.WarnContext(ctx, "incomplete inventory", "image", im.Name, "platform", im.Platform, "problem", w)
		}
		p.Inventory, p.SBOMSource = inv, SBOMGenerated
	}
	if osr := p.Inventory.OS; osr != nil {
		st := table.Lookup(*osr, at)
		p.OS = &st
	}

	if opts.Vulns != nil {
		rep, err := match.Run(ctx, opts.Vulns, p.Inventory, match.Options{})
		if err != nil {
			return Platform{}, fmt.Errorf("match vulnerabilities: %w", err)
		}
		p.Vulns = rep
	}
	if opts.Layers.Clamd != nil || opts.Layers.Secrets != nil {
		log.DebugContext(ctx, "scanning layers", "image", im.Name, "platform", im.Platform, "malware", opts.Layers.Clamd != nil, "secrets", opts.Layers.Secrets != nil)
		res, err := layerscan.Run(ctx, im, opts.Layers)
		if err != nil {
			return Platform{}, fmt.Errorf("scan layers: %w", err)
		}
		p.Malware, p.Secrets = res.Malware, res.Secrets
	}
	return p, nil
}

// sbomTypes are the artifact types of the attached SBOMs read (those
// extract.Attached reads).
func sbomTypes() []string {
	return []string{sbom.MediaTypeSPDX, sbom.MediaTypeCycloneDX, sbom.MediaTypeHarbor}
}

// attachedSBOM reads the SBOM attached to im (the image's own before its
// index's), with its inventory; nil when there is none or im was not read
// from a registry.
func attachedSBOM(ctx context.Context, im *imagefs.Image) (*AttachedSBOM, inventory.Inventory, error) {
	arts, err := im.Attached(ctx, sbomTypes()...)
	if errors.Is(err, imagefs.ErrNoReferrers) {
		return nil, inventory.Inventory{}, nil
	}
	if err != nil {
		return nil, inventory.Inventory{}, fmt.Errorf("look for an attached SBOM: %w", err)
	}
	if len(arts) == 0 {
		return nil, inventory.Inventory{}, nil
	}
	a := arts[0]
	rc, mediaType, err := a.Open(ctx, sbom.DefaultMaxBytes)
	if err != nil {
		return nil, inventory.Inventory{}, fmt.Errorf("read the attached SBOM: %w", err)
	}
	defer rc.Close()
	inv, format, err := sbom.Decode(rc)
	if err != nil {
		return nil, inventory.Inventory{}, fmt.Errorf("read the SBOM %s attached to %s: %w", a.Descriptor.Digest, a.Subject, err)
	}
	inv.Subject = inventory.Subject{Name: im.Name, Digest: im.Digest, Index: im.Index, Platform: im.Platform}
	info := &AttachedSBOM{
		Digest: a.Descriptor.Digest.String(), Subject: a.Subject,
		Format: format, MediaType: mediaType, Packages: len(inv.Packages),
		Licenses: licences(inv.Packages),
	}
	return info, inv, nil
}

// licences lists the distinct licences of pkgs, sorted; "NOASSERTION"
// and "NONE" say nothing and are left out.
func licences(pkgs []inventory.Package) []string {
	var out []string
	for _, p := range pkgs {
		for _, l := range p.Licenses {
			if l = strings.TrimSpace(l); l != "" && l != "NOASSERTION" && l != "NONE" {
				out = append(out, l)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// canonical returns p as decoding its JSON encoding gives it (times in
// UTC without monotonic readings, empty lists and maps as nil, …), so
// that a persisted Platform reloads equal to the one Image returned.
func canonical(p Platform) (Platform, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return Platform{}, fmt.Errorf("encode the analysis: %w", err)
	}
	var out Platform
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		return Platform{}, fmt.Errorf("decode the analysis: %w", err)
	}
	return out, nil
}
