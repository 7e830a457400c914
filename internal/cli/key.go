package cli

import (
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cssc-project/cssc/internal/keys"
)

func newKeyCmd(g *globals) *cobra.Command {
	var keyDir string
	cmd := &cobra.Command{
		Use:   "key",
		Short: "Manage local signing keys (generate, import, list, export, rotate)",
		Long: `Signing keys live encrypted under --key-dir (default $XDG_CONFIG_HOME/cssc/keys
or ~/.config/cssc/keys). The passphrase comes from CSSC_KEY_PASSPHRASE or the
file CSSC_KEY_PASSPHRASE_FILE names; there is no unencrypted key.`,
	}
	cmd.PersistentFlags().StringVar(&keyDir, "key-dir", "", "signing key directory (default $XDG_CONFIG_HOME/cssc/keys or ~/.config/cssc/keys)")
	store := func() (*keys.Store, error) { return openKeyStore(keyDir) }
	cmd.AddCommand(
		keyGenerateCmd(g, store),
		keyImportCmd(g, store),
		keyListCmd(g, store),
		keyExportCmd(g, store),
		keyRotateCmd(g, store),
	)
	return cmd
}

// storeFunc opens the key store the flags name.
type storeFunc func() (*keys.Store, error)

// requireFlags checks that flags given as name, value pairs are set (from
// the command line, YAML or environment).
func requireFlags(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			return fmt.Errorf("--%s is required", pairs[i])
		}
	}
	return nil
}

func printKeyInfo(g *globals, verb string, info keys.Info) error {
	_, err := fmt.Fprintf(g.stdout, "%s key %s (%s, generation %d): %s, valid until %s, SHA-256 %s\n",
		verb, info.Name, info.Type, info.Generation, info.Subject, info.NotAfter.Format(time.RFC3339), info.Fingerprint)
	return err
}

func keyGenerateCmd(g *globals, store storeFunc) *cobra.Command {
	var name, typ, subject string
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Generate a signing key with a self-signed CA and a code-signing certificate",
		Example: `  CSSC_KEY_PASSPHRASE_FILE=~/.cssc-pass cssc key generate --name enterprise
  cssc key generate --name release --subject "C=DE, ST=Bavaria, O=Acme, CN=release"`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if err := requireFlags("name", name); err != nil {
				return err
			}
			var dn pkix.Name
			if subject != "" {
				var err error
				if dn, err = keys.ParseSubject(subject); err != nil {
					return err
				}
			}
			s, err := store()
			if err != nil {
				return err
			}
			info, err := s.GenerateWithSubject(name, keys.KeyType(typ), dn)
			if err != nil {
				return err
			}
			return printKeyInfo(g, "generated", info)
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "key name")
	cmd.Flags().StringVar(&typ, "type", string(keys.ECDSAP256), "key type: ecdsa-p256, ecdsa-p384 or rsa-3072")
	cmd.Flags().StringVar(&subject, "subject", "", `signing certificate subject, e.g. "C=US, ST=WA, O=Acme, CN=release" (default CN=NAME,O=cssc); a Notary Project trust policy can pin it in trustedIdentities when it has C, ST and O`)
	return cmd
}

func keyImportCmd(g *globals, store storeFunc) *cobra.Command {
	var name, keyPath, certPath string
	cmd := &cobra.Command{
		Use:     "import",
		Short:   "Import a signing key and its certificate chain (stored encrypted)",
		Example: "  cssc key import --name enterprise --key key.pem --cert chain.pem",
		Args:    cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if err := requireFlags("name", name, "key", keyPath, "cert", certPath); err != nil {
				return err
			}
			keyPEM, err := os.ReadFile(keyPath)
			if err != nil {
				return fmt.Errorf("read key: %w", err)
			}
			chainPEM, err := os.ReadFile(certPath)
			if err != nil {
				return fmt.Errorf("read certificate chain: %w", err)
			}
			s, err := store()
			if err != nil {
				return err
			}
			info, err := s.Import(name, keyPEM, chainPEM)
			clear(keyPEM)
			if err != nil {
				return err
			}
			return printKeyInfo(g, "imported", info)
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "key name")
	f.StringVar(&keyPath, "key", "", "unencrypted PEM private key (PKCS#8, PKCS#1 or SEC1)")
	f.StringVar(&certPath, "cert", "", "PEM certificate chain: the signing certificate first, then its issuers")
	return cmd
}

func keyListCmd(g *globals, store storeFunc) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List signing keys",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if format != "table" && format != "json" {
				return fmt.Errorf("--format %q: table or json", format)
			}
			s, err := store()
			if err != nil {
				return err
			}
			infos, err := s.List()
			if err != nil {
				return err
			}
			if format == "json" {
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(infos)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tTYPE\tGENERATION\tORIGIN\tSUBJECT\tNOT AFTER\tSHA-256\tOLDER")
			for _, i := range infos {
				older := make([]string, len(i.OlderGenerations))
				for n, o := range i.OlderGenerations {
					older[n] = fmt.Sprint(o)
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", i.Name, i.Type, i.Generation, i.Origin, i.Subject,
					i.NotAfter.Format(time.RFC3339), i.Fingerprint, strings.Join(older, ","))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	return cmd
}

func keyExportCmd(g *globals, store storeFunc) *cobra.Command {
	var (
		name                string
		cert, chain, public bool
	)
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Print a key's CA certificate, certificate chain or public key as PEM",
		Long: `--cert prints the CA certificate alone (the trust anchor for a Notary Project
trust store), --chain the signing certificate and its CA, --public the
signing public key (for cosign verify --key). Private keys are never exported.`,
		Example: "  cssc key export --name enterprise --cert > enterprise-ca.pem\n  cssc key export --name enterprise --public > cosign.pub",
		Args:    cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			var what []keys.ExportKind
			if cert {
				what = append(what, keys.ExportCert)
			}
			if chain {
				what = append(what, keys.ExportChain)
			}
			if public {
				what = append(what, keys.ExportPublic)
			}
			if err := requireFlags("name", name); err != nil {
				return err
			}
			if len(what) != 1 {
				return &exitError{code: 2, err: fmt.Errorf("give exactly one of --cert, --chain or --public")}
			}
			s, err := store()
			if err != nil {
				return err
			}
			out, err := s.Export(name, what[0])
			if err != nil {
				return err
			}
			_, err = g.stdout.Write(out)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "key name")
	f.BoolVar(&cert, "cert", false, "print the CA (trust anchor) certificate")
	f.BoolVar(&chain, "chain", false, "print the certificate chain, signing certificate first")
	f.BoolVar(&public, "public", false, "print the signing public key (PKIX PEM)")
	return cmd
}

func keyRotateCmd(g *globals, store storeFunc) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "rotate",
		Short: "Give a generated key a new signing key and certificate from the same CA",
		Long: `The new generation signs from now on; older generations and their
certificates are kept for verification. Imported keys are replaced by importing
a new key.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if err := requireFlags("name", name); err != nil {
				return err
			}
			s, err := store()
			if err != nil {
				return err
			}
			info, err := s.Rotate(name)
			if err != nil {
				return err
			}
			return printKeyInfo(g, "rotated", info)
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "key name")
	return cmd
}
