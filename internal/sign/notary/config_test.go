package notary_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cssc-project/cssc/internal/sign/notary"
	"github.com/cssc-project/cssc/internal/sign/signtest"
)

func TestFingerprint(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "truststore")
	acme := signtest.WriteTrustStore(t, store, "ca", "acme", signtest.NewCA(t, "acme", "").Cert)
	policy := signtest.WritePolicy(t, filepath.Join(dir, "trustpolicy.json"), strict())
	fp := func() string {
		t.Helper()
		c, err := notary.NewChecker(policy, store)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Fingerprint()) != 64 {
			t.Fatalf("fingerprint %q", c.Fingerprint())
		}
		return c.Fingerprint()
	}
	initial := fp()
	if again := fp(); again != initial {
		t.Fatal("fingerprint changes with nothing changed")
	}
	seen := map[string]string{initial: "initial"}
	// Each change, on top of the ones before, gives a new fingerprint.
	changes := []struct {
		name   string
		change func()
	}{
		{"certificate replaced", func() {
			signtest.WriteTrustStore(t, store, "ca", "acme", signtest.NewCA(t, "acme", "").Cert)
		}},
		{"certificate added to a store", func() {
			if err := os.WriteFile(filepath.Join(filepath.Dir(acme), "second.pem"), signtest.NewCA(t, "second", "").PEM(), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"store added", func() { signtest.WriteTrustStore(t, store, "tsa", "tsa", signtest.NewCA(t, "tsa", "").Cert) }},
		{"file renamed", func() {
			if err := os.Rename(acme, filepath.Join(filepath.Dir(acme), "renamed.pem")); err != nil {
				t.Fatal(err)
			}
		}},
		{"policy changed", func() {
			s := strict()
			s.SignatureVerification.Level = "permissive"
			signtest.WritePolicy(t, policy, s)
		}},
	}
	for _, c := range changes {
		c.change()
		got := fp()
		if prev, ok := seen[got]; ok {
			t.Errorf("after %s: fingerprint as %s", c.name, prev)
		}
		seen[got] = c.name
	}
}

func TestNewCheckerErrors(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "truststore")
	signtest.WriteTrustStore(t, store, "ca", "acme", signtest.NewCA(t, "acme", "").Cert)
	good := signtest.WritePolicy(t, filepath.Join(dir, "good.json"), strict())
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	missing := filepath.Join(dir, "missing.json")
	notJSON := write("notjson.json", "{version: 1.0")
	badVersion := write("version.json", `{"version":"2.0","trustPolicies":[]}`)
	noStatements := write("empty.json", `{"version":"1.0","trustPolicies":[]}`)
	badLevel := write("level.json", `{"version":"1.0","trustPolicies":[{"name":"a","registryScopes":["*"],"signatureVerification":{"level":"paranoid"},"trustStores":["ca:acme"],"trustedIdentities":["*"]}]}`)
	notAStore := filepath.Join(dir, "empty")
	if err := os.Mkdir(notAStore, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name          string
		policy, store string
		want          []string
	}{
		{"policy missing", missing, store, []string{missing}},
		{"policy not JSON", notJSON, store, []string{notJSON, "not valid JSON"}},
		{"unsupported version", badVersion, store, []string{badVersion, `unsupported version "2.0"`}},
		{"no statements", noStatements, store, []string{noStatements, "zero trust policy statements"}},
		{"unknown level", badLevel, store, []string{badLevel, `"paranoid"`}},
		{"trust store missing", good, filepath.Join(dir, "nowhere"), []string{filepath.Join(dir, "nowhere")}},
		{"trust store without x509", good, notAStore, []string{notAStore, "no x509 directory"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := notary.NewChecker(tc.policy, tc.store)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}

	// A notation configuration directory works as the trust store too.
	a, err := notary.NewChecker(good, store)
	if err != nil {
		t.Fatal(err)
	}
	b, err := notary.NewChecker(good, dir)
	if err != nil {
		t.Fatal(err)
	}
	if a.Fingerprint() != b.Fingerprint() {
		t.Error("the trust store found through the configuration directory differs")
	}
}

// With no policy and trust store given, notation's own are used:
// trustpolicy.oci.json, else trustpolicy.json, and truststore/, under
// $XDG_CONFIG_HOME/notation.
func TestDefaultLocations(t *testing.T) {
	cfg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", cfg)
	notation := filepath.Join(cfg, "notation")
	if err := os.MkdirAll(notation, 0o755); err != nil {
		t.Fatal(err)
	}
	oci := filepath.Join(notation, "trustpolicy.oci.json")
	old := filepath.Join(notation, "trustpolicy.json")

	_, err := notary.NewChecker("", "")
	if err == nil || !strings.Contains(err.Error(), oci) || !strings.Contains(err.Error(), old) {
		t.Fatalf("no policy anywhere: %v, want an error naming %s and %s", err, oci, old)
	}

	store := filepath.Join(notation, "truststore")
	signtest.WriteTrustStore(t, store, "ca", "acme", signtest.NewCA(t, "acme", "").Cert)
	signtest.WritePolicy(t, old, strict())
	c, err := notary.NewChecker("", "")
	if err != nil {
		t.Fatal(err)
	}
	if c.PolicyPath() != old {
		t.Errorf("policy %s, want %s", c.PolicyPath(), old)
	}
	explicit, err := notary.NewChecker(old, store)
	if err != nil {
		t.Fatal(err)
	}
	if c.Fingerprint() != explicit.Fingerprint() {
		t.Error("the default trust store is not notation's")
	}

	signtest.WritePolicy(t, oci, strict())
	if c, err = notary.NewChecker("", ""); err != nil {
		t.Fatal(err)
	}
	if c.PolicyPath() != oci {
		t.Errorf("policy %s, want %s (it takes precedence)", c.PolicyPath(), oci)
	}
}
