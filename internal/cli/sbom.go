package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/cssc-project/cssc/internal/inventory"
	"github.com/cssc-project/cssc/internal/sbom"
)

func newSBOMCmd(g *globals) *cobra.Command {
	var (
		img      imageFlags
		format   string
		out      string
		fromFile string
	)
	cmd := &cobra.Command{
		Use:   "sbom [IMAGE]",
		Short: "Write the software bill of materials of an image (SPDX 2.3 or CycloneDX 1.6)",
		Long: `sbom lists the packages of an image: operating-system packages (dpkg,
apk, rpm), Go binaries (modules and the Go version), Python, Node, Java,
Rust (cargo-auditable), Ruby and PHP packages, each with its PURL, licences,
the file it was found in and the layer that added it.

` + imageRefHelp + `

With --sbom, the packages come from an existing SPDX or CycloneDX JSON document
instead (to convert it, or to see what cssc reads from it).

A multi-platform image gives the SBOM of this machine's platform unless
--platform names another.`,
		Example: `  cssc sbom registry.example.com/team/app:1.4 --format cyclonedx-json -o app.cdx.json
  cssc sbom oci:./layout:latest --format table
  cssc sbom --sbom app.spdx.json --format table`,
		Args: func(cmd *cobra.Command, args []string) error {
			switch {
			case fromFile != "" && len(args) > 0:
				return fmt.Errorf("give either an IMAGE or --sbom, not both")
			case fromFile == "" && len(args) != 1:
				return fmt.Errorf("sbom needs an IMAGE (or --sbom FILE)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := sbom.ParseFormat(format)
			if err != nil {
				return err
			}
			var inv inventory.Inventory
			if fromFile != "" {
				if inv, err = readSBOMFile(fromFile); err != nil {
					return err
				}
			} else {
				invs, err := img.inventories(cmd.Context(), g, args[0])
				if err != nil {
					return err
				}
				if inv, err = onePlatform(invs, args[0]); err != nil {
					return err
				}
			}
			w, done, err := output(g, out)
			if err != nil {
				return err
			}
			if err := sbom.Encode(w, inv, f, sbom.Options{}); err != nil {
				_ = done(false)
				return err
			}
			if err := done(true); err != nil {
				return err
			}
			if out != "" && out != "-" {
				g.log.Info("SBOM written", "file", out, "format", f, "packages", len(inv.Packages))
			}
			return nil
		},
	}
	img.register(cmd.Flags())
	cmd.Flags().StringVar(&format, "format", string(sbom.FormatSPDXJSON), "spdx-json, cyclonedx-json or table")
	cmd.Flags().StringVarP(&out, "output", "o", "", "write to this file instead of standard output")
	cmd.Flags().StringVar(&fromFile, "sbom", "", "read the packages from this SPDX or CycloneDX JSON file instead of an image")
	return cmd
}

// readSBOMFile decodes an SBOM document from a file.
func readSBOMFile(path string) (inventory.Inventory, error) {
	f, err := os.Open(path)
	if err != nil {
		return inventory.Inventory{}, fmt.Errorf("read SBOM: %w", err)
	}
	defer f.Close()
	inv, _, err := sbom.Decode(f)
	if err != nil {
		return inventory.Inventory{}, fmt.Errorf("read SBOM %s: %w", path, err)
	}
	return inv, nil
}
