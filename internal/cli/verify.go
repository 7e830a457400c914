package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/cssc-project/cssc/internal/sign"
	"github.com/cssc-project/cssc/internal/sign/notary"
	"github.com/cssc-project/cssc/internal/sign/sigstore"
)

func newVerifyCmd(g *globals) *cobra.Command {
	var (
		rf                 remoteFlags
		policy, trustStore string
		so                 sigstore.Options
		requireAttached    []string
		output, cacheDir   string
		cacheTTL           time.Duration
		noCache            bool
	)
	cmd := &cobra.Command{
		Use:   "verify IMAGE",
		Short: "Verify an image's signatures: Notary Project (trust policy) and Sigstore (key or keyless)",
		Long: `Verify the signatures of an image in a registry and say which were found,
which verified and by whom, and why each other one failed.

--policy (a Notary Project trust policy, with --trust-store) decides on
Notary Project signatures; --cosign-key, or --sigstore-trusted-root with a
certificate identity and OIDC issuer (keyless, offline), decide on cosign
signatures and Sigstore bundles. Given both, both must pass. With neither,
notation's own trust policy and trust store are used if they exist
($XDG_CONFIG_HOME/notation/trustpolicy.oci.json or trustpolicy.json and
truststore/x509/).

--require-attached TYPE also requires the artifacts of that type attached to
the image (e.g. its SBOM) to pass the same checks.

A verdict that passed is cached by image digest and configuration (trust
policy, trust store, keys, identities) for --cache-ttl, or until the
earliest expiry of what it relied on; a failure is never cached.

Exit code: 0 verified, 1 not verified, 2 error (registry unreachable, bad
policy, bad flags).`,
		Example: `  cssc verify registry.example.com/team/app:1.4 --policy trustpolicy.json --trust-store ./truststore
  cssc verify localhost:5000/app:1.4 --cosign-key cosign.pub
  cssc verify localhost:5000/app:1.4 --sigstore-trusted-root trusted_root.json \
      --certificate-identity builder@example.com --certificate-oidc-issuer https://issuer.example.com
  cssc verify localhost:5000/app:1.4 --policy trustpolicy.json --require-attached application/spdx+json --output json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := rf.context(cmd.Context())
			defer cancel()
			if output != "text" && output != "json" {
				return &exitError{code: 2, err: fmt.Errorf("--output %q: want text or json", output)}
			}
			sigstoreSet := so.CosignKey != "" || so.TrustedRoot != ""
			// Notary Project signatures are decided when a policy or trust
			// store is named, or when no Sigstore option is (notation's own
			// configuration, if there is one).
			nc, err := notaryChecker(g, policy, trustStore, policy != "" || trustStore != "" || !sigstoreSet)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			sc, err := sigstore.New(so)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			v := &sign.Verifier{Checkers: []sign.Checker{nc, sc}, Attached: requireAttached, TTL: cacheTTL, Log: g.log}
			if !noCache && cacheTTL > 0 {
				dir := cacheDir
				if dir == "" {
					base, err := os.UserCacheDir()
					if err != nil {
						return &exitError{code: 2, err: fmt.Errorf("verification cache: %w (give --cache-dir or --no-cache)", err)}
					}
					dir = filepath.Join(base, "cssc", "verify")
				}
				v.Cache = sign.FileCache{Dir: dir}
			}
			t, err := sign.Resolve(ctx, args[0], rf.options())
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			r, err := v.Verify(ctx, t)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			if output == "json" {
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(r); err != nil {
					return err
				}
			} else if err := sign.WriteText(g.stdout, r); err != nil {
				return err
			}
			if !r.Passed {
				return &exitError{code: 1, err: fmt.Errorf("%s is not verified", t.DigestRef())}
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&policy, "policy", "", "Notary Project trust policy JSON (default: notation's, $XDG_CONFIG_HOME/notation/trustpolicy.oci.json or trustpolicy.json)")
	fs.StringVar(&trustStore, "trust-store", "", "Notary Project trust store directory holding x509/{ca,signingAuthority,tsa}/NAME/*.pem (default: notation's, $XDG_CONFIG_HOME/notation/truststore)")
	fs.StringVar(&so.CosignKey, "cosign-key", "", "PEM public key (or certificate) for cosign signatures and key-based Sigstore bundles")
	fs.StringVar(&so.TrustedRoot, "sigstore-trusted-root", "", "Sigstore trusted_root.json for keyless signatures (bundles and cosign's legacy keyless ones), verified offline")
	fs.StringVar(&so.Identity, "certificate-identity", "", "keyless: the signing certificate's identity (SAN: email or URI)")
	fs.StringVar(&so.IdentityRegexp, "certificate-identity-regexp", "", "keyless: a regular expression the certificate identity must match")
	fs.StringVar(&so.Issuer, "certificate-oidc-issuer", "", "keyless: the OIDC issuer in the signing certificate")
	fs.StringVar(&so.IssuerRegexp, "certificate-oidc-issuer-regexp", "", "keyless: a regular expression the OIDC issuer must match")
	fs.StringArrayVar(&requireAttached, "require-attached", nil, "also require the attached artifacts of this artifact type to be signed (at least one must exist); repeatable")
	fs.StringVar(&output, "output", "text", "output: text or json")
	fs.StringVar(&cacheDir, "cache-dir", "", "verification cache directory (default $XDG_CACHE_HOME/cssc/verify)")
	fs.DurationVar(&cacheTTL, "cache-ttl", time.Hour, "how long a passing verdict is reused (0: no cache)")
	fs.BoolVar(&noCache, "no-cache", false, "verify again even if a passing verdict is cached")
	rf.register(fs)
	return cmd
}

// notaryChecker builds the Notary Project checker when useDefault says
// Notary signatures are to be decided: from the policy and trust store
// given, else from notation's own configuration if it exists (a trust
// store given without a policy needs notation's policy, or it is an
// error).
func notaryChecker(g *globals, policy, trustStore string, useDefault bool) (sign.Checker, error) {
	if !useDefault {
		return notary.Unconfigured(), nil
	}
	if policy == "" && trustStore == "" {
		if _, err := notary.DefaultPolicyPath(); err != nil {
			return notary.Unconfigured(), nil
		}
	}
	c, err := notary.NewChecker(policy, trustStore)
	if err != nil {
		return nil, err
	}
	// Failures the audit and permissive levels only log go to cssc's log.
	return c.WithLogger(g.log), nil
}
