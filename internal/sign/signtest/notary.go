package signtest

import (
	"crypto/x509"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// WriteTrustStore writes certs into a Notary Project trust store rooted at
// dir, as notation lays it out: dir/x509/<typ>/<name>/<name>.pem, where typ
// is "ca", "signingAuthority" or "tsa". dir is what `cssc verify
// --trust-store` takes (notation's is $XDG_CONFIG_HOME/notation/truststore).
// It returns the certificate file's path.
func WriteTrustStore(t testing.TB, dir, typ, name string, certs ...*x509.Certificate) string {
	t.Helper()
	d := filepath.Join(dir, "x509", typ, name)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatalf("signtest: trust store: %v", err)
	}
	path := filepath.Join(d, name+".pem")
	if err := os.WriteFile(path, PEM(certs...), 0o644); err != nil {
		t.Fatalf("signtest: trust store: %v", err)
	}
	return path
}

// PolicyStatement is one statement of a Notary Project trust policy
// (trustpolicy.json version 1.0).
type PolicyStatement struct {
	Name                  string                `json:"name"`
	RegistryScopes        []string              `json:"registryScopes"`
	SignatureVerification SignatureVerification `json:"signatureVerification"`
	// TrustStores are "type:name" ("ca:acme", "tsa:acme-tsa").
	TrustStores []string `json:"trustStores,omitempty"`
	// TrustedIdentities are "*" or "x509.subject:<DN>".
	TrustedIdentities []string `json:"trustedIdentities,omitempty"`
}

// SignatureVerification is a statement's verification level and options.
type SignatureVerification struct {
	// Level is strict, permissive, audit or skip.
	Level string `json:"level"`
	// Override maps a validation (integrity, authenticity,
	// authenticTimestamp, expiry, revocation) to enforce, log or skip.
	Override map[string]string `json:"override,omitempty"`
	// VerifyTimestamp is "always" (the default) or "afterCertExpiry".
	VerifyTimestamp string `json:"verifyTimestamp,omitempty"`
}

// WritePolicy writes a trust policy document with statements to path and
// returns path.
func WritePolicy(t testing.TB, path string, statements ...PolicyStatement) string {
	t.Helper()
	doc := struct {
		Version       string            `json:"version"`
		TrustPolicies []PolicyStatement `json:"trustPolicies"`
	}{"1.0", statements}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatalf("signtest: trust policy: %v", err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatalf("signtest: trust policy: %v", err)
	}
	return path
}
