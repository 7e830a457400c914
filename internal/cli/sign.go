package cli

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cssc-project/cssc/internal/keys"
	"github.com/cssc-project/cssc/internal/sign"
	"github.com/cssc-project/cssc/internal/sign/notary"
	"github.com/cssc-project/cssc/internal/sign/sigstore"
	"github.com/cssc-project/cssc/internal/version"
)

// remoteFlags are how sign and verify reach a registry.
type remoteFlags struct {
	insecure bool
	timeout  time.Duration
}

func (f *remoteFlags) register(fs *pflag.FlagSet) {
	fs.BoolVar(&f.insecure, "insecure", false, "reach the registry over plain HTTP (localhost and 127.0.0.1 use HTTP anyway)")
	fs.DurationVar(&f.timeout, "timeout", 5*time.Minute, "give up (exit 2) if the whole command takes longer")
}

// context bounds the command's time with --timeout.
func (f *remoteFlags) context(ctx context.Context) (context.Context, context.CancelFunc) {
	if f.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, f.timeout)
}

func (f *remoteFlags) options() sign.RemoteOptions {
	return sign.RemoteOptions{Insecure: f.insecure, UserAgent: "cssc/" + version.Version}
}

// openKeyStore opens the key store in dir (default: the user's config
// directory), with the passphrase from the environment.
func openKeyStore(dir string) (*keys.Store, error) {
	if dir == "" {
		d, err := keys.DefaultDir(os.LookupEnv)
		if err != nil {
			return nil, err
		}
		dir = d
	}
	return keys.NewStore(dir, keys.PassphraseFromEnv(os.LookupEnv)), nil
}

func newSignCmd(g *globals) *cobra.Command {
	var (
		rf                    remoteFlags
		keyName, keyDir       string
		format                string
		annotations           []string
		attached              []string
		referrers, forceTag   bool
		tsURL, tsRoot, output string
		expiry                time.Duration
	)
	cmd := &cobra.Command{
		Use:   "sign IMAGE",
		Short: "Sign an image (and artifacts attached to it) with a key from cssc key",
		Long: `Sign an image in a registry with a signing key made by cssc key generate or
import. A tag is resolved to its digest first; the digest is what is signed.

Formats: notation-jws (default) and notation-cose write a Notary Project
signature as an OCI 1.1 referrer (through the referrers tag schema on a
registry without the referrers API); cosign writes a cosign signature at the
sha256-<hex>.sig tag, where cosign verify looks (add --referrers for an OCI
1.1 referrer as well). Verify cosign signatures made here offline with
cosign verify --key KEY.pub --insecure-ignore-tlog: there is no transparency
log entry.

--attached TYPE signs the artifacts of that artifact type attached to the
image too (an SBOM, a vulnerability report; "all" for every one but
signatures), so a verifier can require them signed (cssc verify
--require-attached TYPE).`,
		Example: `  cssc sign registry.example.com/team/app:1.4 --key enterprise
  cssc sign localhost:5000/app@sha256:… --key enterprise --format cosign --referrers
  cssc sign localhost:5000/app:1.4 --key enterprise --attached application/spdx+json
  cssc sign localhost:5000/app:1.4 --key enterprise --timestamp-url http://tsa.example/tsr --timestamp-root-cert tsa-root.pem`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := rf.context(cmd.Context())
			defer cancel()
			if err := requireFlags("key", keyName); err != nil {
				return &exitError{code: 2, err: err}
			}
			f := sign.Format(format)
			switch f {
			case sign.FormatNotationJWS, sign.FormatNotationCOSE, sign.FormatCosign:
			default:
				return &exitError{code: 2, err: fmt.Errorf("--format %q: want notation-jws, notation-cose or cosign", format)}
			}
			if output != "text" && output != "json" {
				return &exitError{code: 2, err: fmt.Errorf("--output %q: want text or json", output)}
			}
			ann, err := parseAnnotations(annotations)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			if (tsURL == "") != (tsRoot == "") {
				return &exitError{code: 2, err: errors.New("--timestamp-url and --timestamp-root-cert go together: the timestamp is checked against the root when signing")}
			}
			if tsURL != "" && f == sign.FormatCosign {
				return &exitError{code: 2, err: errors.New("--timestamp-url is for the Notary Project formats (notation-jws, notation-cose)")}
			}
			if referrers && f != sign.FormatCosign {
				return &exitError{code: 2, err: errors.New("--referrers is for --format cosign (Notary Project signatures are always referrers)")}
			}
			if f == sign.FormatCosign && (forceTag || expiry != 0) {
				return &exitError{code: 2, err: errors.New("--force-referrers-tag and --expiry are for the Notary Project formats (notation-jws, notation-cose)")}
			}
			var tsaRoots *x509.CertPool
			if tsRoot != "" {
				if tsaRoots, err = readCertPool(tsRoot); err != nil {
					return &exitError{code: 2, err: err}
				}
			}
			store, err := openKeyStore(keyDir)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			signer, err := store.Signer(keyName)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			t, err := sign.Resolve(ctx, args[0], rf.options())
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			targets := []*sign.Target{t}
			for _, typ := range attached {
				subs, ignored, err := sign.Attached(ctx, t, typ)
				if err != nil {
					return &exitError{code: 2, err: err}
				}
				for _, why := range ignored {
					g.log.Warn("not signing a listed referrer", "image", t.DigestRef(), "reason", why)
				}
				if len(subs) == 0 {
					return &exitError{code: 2, err: fmt.Errorf("--attached %s: no artifact of that type is attached to %s", typ, t.DigestRef())}
				}
				targets = append(targets, subs...)
			}
			var results []signResult
			// What was signed is printed even when a later artifact fails,
			// so a partial run says what it did.
			emit := func() error {
				if output == "json" {
					enc := json.NewEncoder(g.stdout)
					enc.SetIndent("", "  ")
					return enc.Encode(results)
				}
				for _, r := range results {
					if _, err := fmt.Fprintf(g.stdout, "signed %s (%s) with %s: %s\n", r.Image, r.Format, r.Key, strings.Join(r.Signatures, ", ")); err != nil {
						return err
					}
				}
				return nil
			}
			for _, target := range targets {
				descs, err := signOne(ctx, f, target, signer, ann, referrers, notary.SignOptions{
					Format: f, Annotations: ann, Expiry: expiry, ForceReferrersTag: forceTag,
					Timestamper: notary.Timestamper{URL: tsURL, RootCAs: tsaRoots},
				})
				if err != nil {
					if len(results) > 0 {
						_ = emit()
					}
					return &exitError{code: 2, err: err}
				}
				g.log.Debug("signed", "image", target.DigestRef(), "format", f, "key", signer.KeyRef(), "signature", descs)
				results = append(results, signResult{Image: target.DigestRef(), ArtifactType: target.Desc.ArtifactType, Format: f, Key: signer.KeyRef(), Signatures: descs})
			}
			return emit()
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&keyName, "key", "", "signing key name (see cssc key list)")
	fs.StringVar(&keyDir, "key-dir", "", "signing key directory (default $XDG_CONFIG_HOME/cssc/keys or ~/.config/cssc/keys)")
	fs.StringVar(&format, "format", string(sign.FormatNotationJWS), "signature format: notation-jws, notation-cose or cosign")
	fs.StringArrayVar(&annotations, "annotation", nil, "k=v signed into the signature (Notary user metadata, cosign optional claims); repeatable")
	fs.StringArrayVar(&attached, "attached", nil, `also sign the artifacts of this artifact type attached to the image ("all": every one but signatures); repeatable`)
	fs.BoolVar(&referrers, "referrers", false, "cosign: also push the signature as an OCI 1.1 referrer")
	fs.BoolVar(&forceTag, "force-referrers-tag", false, "Notary: push through the referrers tag schema even when the registry has the referrers API")
	fs.StringVar(&tsURL, "timestamp-url", "", "Notary: RFC 3161 timestamp authority URL, for a countersignature that keeps the signature valid after the certificate expires")
	fs.StringVar(&tsRoot, "timestamp-root-cert", "", "Notary: PEM file of the timestamp authority's root certificate (with --timestamp-url)")
	fs.DurationVar(&expiry, "expiry", 0, "Notary: the signature expires after this long (e.g. 720h; default: never)")
	fs.StringVar(&output, "output", "text", "output: text or json")
	rf.register(fs)
	return cmd
}

// signOne signs target in format f and returns the signature manifests'
// digests.
func signOne(ctx context.Context, f sign.Format, target *sign.Target, signer keys.Signer, ann map[string]string, referrers bool, no notary.SignOptions) ([]string, error) {
	if f == sign.FormatCosign {
		ds, err := sigstore.Sign(ctx, target, signer, sigstore.SignOptions{Annotations: ann, Referrers: referrers})
		if err != nil {
			return nil, err
		}
		var out []string
		for _, d := range ds {
			out = append(out, d.Digest.String())
		}
		return out, nil
	}
	d, err := notary.Sign(ctx, target, signer, no)
	if err != nil {
		return nil, err
	}
	return []string{d.Digest.String()}, nil
}

// signResult is one artifact signed, for --output json.
type signResult struct {
	Image        string      `json:"image"`
	ArtifactType string      `json:"artifact_type,omitempty"`
	Format       sign.Format `json:"format"`
	Key          string      `json:"key"`
	Signatures   []string    `json:"signatures"`
}

func parseAnnotations(kvs []string) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--annotation %q: want key=value", kv)
		}
		out[k] = v
	}
	return out, nil
}

func readCertPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read certificates: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("read certificates %s: no PEM certificate in it", path)
	}
	return pool, nil
}
