package keys

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const testPass = "correct horse battery staple"

func fixedPass(p string) func() ([]byte, error) {
	return func() ([]byte, error) { return []byte(p), nil }
}

func newTestStore(t *testing.T) *Store {
	t.Helper()
	return NewStore(filepath.Join(t.TempDir(), "keys"), fixedPass(testPass))
}

var (
	oidBasicConstraints = asn1.ObjectIdentifier{2, 5, 29, 19}
	oidKeyUsage         = asn1.ObjectIdentifier{2, 5, 29, 15}
	oidExtKeyUsage      = asn1.ObjectIdentifier{2, 5, 29, 37}
)

// criticality maps the extension OIDs of c to their critical flag.
func criticality(c *x509.Certificate) map[string]bool {
	m := map[string]bool{}
	for _, e := range c.Extensions {
		m[e.Id.String()] = e.Critical
	}
	return m
}

// signAndVerify signs a digest with s and verifies it with pub.
func signAndVerify(t *testing.T, s crypto.Signer, pub crypto.PublicKey) {
	t.Helper()
	digest := sha256.Sum256([]byte("payload to sign"))
	sig, err := s.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, digest[:], sig) {
			t.Fatal("ECDSA signature does not verify with the leaf's public key")
		}
		other := sha256.Sum256([]byte("other payload"))
		if ecdsa.VerifyASN1(k, other[:], sig) {
			t.Fatal("signature verifies for another digest")
		}
	case *rsa.PublicKey:
		if err := rsa.VerifyPKCS1v15(k, crypto.SHA256, digest[:], sig); err != nil {
			t.Fatalf("RSA signature does not verify: %v", err)
		}
	default:
		t.Fatalf("unexpected public key %T", pub)
	}
}

func TestKeyGenerate(t *testing.T) {
	tests := []struct {
		typ     KeyType
		wantTyp KeyType
		check   func(pub crypto.PublicKey) bool
		sigAlg  x509.SignatureAlgorithm
	}{
		{"", ECDSAP256, func(p crypto.PublicKey) bool { k, ok := p.(*ecdsa.PublicKey); return ok && k.Curve == elliptic.P256() }, x509.ECDSAWithSHA256},
		{ECDSAP256, ECDSAP256, func(p crypto.PublicKey) bool { k, ok := p.(*ecdsa.PublicKey); return ok && k.Curve == elliptic.P256() }, x509.ECDSAWithSHA256},
		{ECDSAP384, ECDSAP384, func(p crypto.PublicKey) bool { k, ok := p.(*ecdsa.PublicKey); return ok && k.Curve == elliptic.P384() }, x509.ECDSAWithSHA384},
		{RSA3072, RSA3072, func(p crypto.PublicKey) bool { k, ok := p.(*rsa.PublicKey); return ok && k.N.BitLen() == 3072 }, x509.SHA256WithRSA},
	}
	for _, tc := range tests {
		t.Run(string(tc.wantTyp)+"/"+string(tc.typ), func(t *testing.T) {
			s := newTestStore(t)
			before := time.Now()
			info, err := s.Generate("enterprise", tc.typ)
			if err != nil {
				t.Fatal(err)
			}
			certs, err := s.chain("enterprise", 1)
			if err != nil {
				t.Fatal(err)
			}
			if len(certs) != 2 {
				t.Fatalf("chain has %d certificates, want leaf + CA", len(certs))
			}
			leaf, ca := certs[0], certs[1]

			// CA.
			if !ca.BasicConstraintsValid || !ca.IsCA {
				t.Errorf("CA: basicConstraints valid=%v CA=%v", ca.BasicConstraintsValid, ca.IsCA)
			}
			if ca.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
				t.Errorf("CA key usage %b, want keyCertSign|cRLSign", ca.KeyUsage)
			}
			if len(ca.ExtKeyUsage) != 0 {
				t.Errorf("CA extended key usage %v, want none", ca.ExtKeyUsage)
			}
			cc := criticality(ca)
			if !cc[oidBasicConstraints.String()] || !cc[oidKeyUsage.String()] {
				t.Errorf("CA basicConstraints/keyUsage must be critical: %v", cc)
			}
			if ca.Subject.CommonName != "enterprise CA" || !slices.Equal(ca.Subject.Organization, []string{"cssc"}) {
				t.Errorf("CA subject %q", ca.Subject)
			}
			if !bytes.Equal(ca.RawIssuer, ca.RawSubject) || ca.CheckSignatureFrom(ca) != nil {
				t.Error("CA is not self-signed")
			}
			if d := ca.NotAfter.Sub(before); d < caValidity-time.Hour || d > caValidity+time.Hour {
				t.Errorf("CA valid for %v, want 10 years", d)
			}

			// Leaf.
			if !leaf.BasicConstraintsValid || leaf.IsCA {
				t.Errorf("leaf: basicConstraints valid=%v CA=%v, want CA:false", leaf.BasicConstraintsValid, leaf.IsCA)
			}
			if leaf.KeyUsage != x509.KeyUsageDigitalSignature {
				t.Errorf("leaf key usage %b, want digitalSignature only", leaf.KeyUsage)
			}
			if !slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}) {
				t.Errorf("leaf extended key usage %v, want codeSigning", leaf.ExtKeyUsage)
			}
			lc := criticality(leaf)
			if !lc[oidKeyUsage.String()] {
				t.Error("leaf keyUsage must be critical")
			}
			if _, ok := lc[oidExtKeyUsage.String()]; !ok {
				t.Error("leaf has no extKeyUsage extension")
			}
			if leaf.Subject.CommonName != "enterprise" || !slices.Equal(leaf.Subject.Organization, []string{"cssc"}) {
				t.Errorf("leaf subject %q", leaf.Subject)
			}
			if d := leaf.NotAfter.Sub(before); d < leafValidity-time.Hour || d > leafValidity+time.Hour {
				t.Errorf("leaf valid for %v, want 1 year", d)
			}
			if !tc.check(leaf.PublicKey) || !tc.check(ca.PublicKey) {
				t.Errorf("key types: leaf %T, CA %T", leaf.PublicKey, ca.PublicKey)
			}
			if leaf.SignatureAlgorithm != tc.sigAlg {
				t.Errorf("leaf signature algorithm %v, want %v", leaf.SignatureAlgorithm, tc.sigAlg)
			}

			roots := x509.NewCertPool()
			roots.AddCert(ca)
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}); err != nil {
				t.Errorf("chain does not verify: %v", err)
			}

			sum := sha256.Sum256(leaf.Raw)
			want := Info{
				Name: "enterprise", Type: tc.wantTyp, Generation: 1, Subject: "CN=enterprise,O=cssc",
				NotBefore: leaf.NotBefore.UTC(), NotAfter: leaf.NotAfter.UTC(),
				Fingerprint: hex.EncodeToString(sum[:]), Origin: Generated, OlderGenerations: []int{},
			}
			if fmt.Sprint(info) != fmt.Sprint(want) {
				t.Errorf("info\n got %+v\nwant %+v", info, want)
			}

			signer, err := s.Signer("enterprise")
			if err != nil {
				t.Fatal(err)
			}
			if signer.KeyRef() != "local:enterprise#1" {
				t.Errorf("KeyRef %q", signer.KeyRef())
			}
			if got := signer.CertificateChain(); len(got) != 2 || !got[0].Equal(leaf) || !got[1].Equal(ca) {
				t.Error("signer chain differs from chain.pem")
			}
			signAndVerify(t, signer, leaf.PublicKey)

			// The key at rest: cosign's encrypted PEM, not the PKCS#8 bytes.
			pkcs8, err := x509.MarshalPKCS8PrivateKey(signer.(*localSigner).key)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{keyFile, caKeyFile} {
				path := filepath.Join(s.Dir(), "enterprise", "1", f)
				raw, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				blk, rest := pem.Decode(raw)
				if blk == nil || blk.Type != "ENCRYPTED SIGSTORE PRIVATE KEY" || len(bytes.TrimSpace(rest)) != 0 {
					t.Fatalf("%s is not one ENCRYPTED SIGSTORE PRIVATE KEY block", f)
				}
				if bytes.Contains(raw, pkcs8) || bytes.Contains(blk.Bytes, pkcs8) || bytes.Contains(raw, []byte(base64.StdEncoding.EncodeToString(pkcs8[:32]))) {
					t.Errorf("%s contains the plain key", f)
				}
				if bytes.Contains(raw, []byte("PRIVATE KEY-----\n")) && !bytes.Contains(raw, []byte("ENCRYPTED SIGSTORE PRIVATE KEY")) {
					t.Errorf("%s holds an unencrypted key", f)
				}
			}
			// Nothing in the formatted signer shows the key.
			for _, out := range []string{fmt.Sprint(signer), fmt.Sprintf("%+v", signer), fmt.Sprintf("%#v", signer)} {
				if out != "local:enterprise#1" {
					t.Errorf("formatted signer %q, want its reference only", out)
				}
			}
			checkModes(t, s.Dir())
		})
	}
}

// checkModes asserts directories are 0700 and files 0600 under dir.
func checkModes(t *testing.T, dir string) {
	t.Helper()
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		want := os.FileMode(0o600)
		if fi.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %04o, want %04o", p, fi.Mode().Perm(), want)
		}
		if strings.HasPrefix(fi.Name(), ".tmp-") {
			t.Errorf("temporary file left behind: %s", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestKeyGenerateErrors(t *testing.T) {
	s := newTestStore(t)
	if _, err := s.Generate("dup", ECDSAP256); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, key string
		typ       KeyType
		want      string
	}{
		{"existing name", "dup", ECDSAP256, `key "dup" already exists`},
		{"unknown type", "x", "ed25519", `unknown key type "ed25519"`},
		{"invalid name", "Bad", ECDSAP256, `invalid key name "Bad"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Generate(tc.key, tc.typ)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
}

func TestKeyNames(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"a", true},
		{"enterprise", true},
		{"0team.prod_key-2", true},
		{strings.Repeat("a", 63), true},
		{strings.Repeat("a", 64), false},
		{"", false},
		{"Upper", false},
		{"-dash", false},
		{".hidden", false},
		{"_x", false},
		{"a/b", false},
		{"../up", false},
		{"sp ace", false},
		{"current\n", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := ValidName(tc.name); (err == nil) != tc.ok {
				t.Fatalf("ValidName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
			}
		})
	}
	// Every operation refuses an invalid name before touching the disk.
	s := newTestStore(t)
	for _, op := range []func() error{
		func() error { _, err := s.Generate("../evil", ""); return err },
		func() error { _, err := s.Import("../evil", nil, nil); return err },
		func() error { _, err := s.Rotate("../evil"); return err },
		func() error { _, err := s.Signer("../evil"); return err },
		func() error { _, err := s.Export("../evil", ExportCert); return err },
	} {
		if err := op(); err == nil || !strings.Contains(err.Error(), "invalid key name") {
			t.Errorf("err %v, want invalid key name", err)
		}
	}
	if _, err := os.Stat(s.Dir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("store directory created by a refused operation: %v", err)
	}
}

func TestKeyPassphrase(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	if _, err := NewStore(dir, fixedPass(testPass)).Generate("k", ECDSAP256); err != nil {
		t.Fatal(err)
	}
	pfile := func(mode os.FileMode, content string) string {
		p := filepath.Join(t.TempDir(), "pass")
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		env  map[string]string
		want string // "" = loads
	}{
		{"env", map[string]string{EnvPassphrase: testPass}, ""},
		{"file with newline", map[string]string{EnvPassphraseFile: pfile(0o600, testPass+"\n")}, ""},
		{"file without newline", map[string]string{EnvPassphraseFile: pfile(0o400, testPass)}, ""},
		{"wrong passphrase", map[string]string{EnvPassphrase: "not it"}, "wrong passphrase"},
		{"file keeps other whitespace", map[string]string{EnvPassphraseFile: pfile(0o600, testPass+" \n")}, "wrong passphrase"},
		{"no passphrase", nil, "no key passphrase: set CSSC_KEY_PASSPHRASE or CSSC_KEY_PASSPHRASE_FILE"},
		{"empty env", map[string]string{EnvPassphrase: ""}, "CSSC_KEY_PASSPHRASE is empty"},
		{"empty file", map[string]string{EnvPassphraseFile: pfile(0o600, "\n")}, "is empty"},
		{"world-readable file", map[string]string{EnvPassphraseFile: pfile(0o644, testPass)}, "chmod 600"},
		{"group-readable file", map[string]string{EnvPassphraseFile: pfile(0o640, testPass)}, "other users can read it"},
		{"missing file", map[string]string{EnvPassphraseFile: filepath.Join(t.TempDir(), "nope")}, "no such file"},
		{"both set", map[string]string{EnvPassphrase: testPass, EnvPassphraseFile: pfile(0o600, testPass)}, "set one"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lookup := func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
			signer, err := NewStore(dir, PassphraseFromEnv(lookup)).Signer("k")
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				signAndVerify(t, signer, signer.CertificateChain()[0].PublicKey)
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), testPass) {
				t.Errorf("error shows the passphrase: %v", err)
			}
		})
	}
}

func TestKeyNeverStoredWithoutPassphrase(t *testing.T) {
	key, chain := testPKI(t).leafPEM()
	for name, src := range map[string]func() ([]byte, error){
		"none":  PassphraseFromEnv(func(string) (string, bool) { return "", false }),
		"empty": fixedPass(""),
		"nil":   nil,
	} {
		t.Run(name, func(t *testing.T) {
			s := NewStore(filepath.Join(t.TempDir(), "keys"), src)
			if _, err := s.Generate("k", ECDSAP256); err == nil || !strings.Contains(err.Error(), "passphrase") {
				t.Fatalf("generate: err %v, want a passphrase error", err)
			}
			if _, err := s.Import("k", key, chain); err == nil || !strings.Contains(err.Error(), "passphrase") {
				t.Fatalf("import: err %v, want a passphrase error", err)
			}
			if _, err := os.Stat(filepath.Join(s.Dir(), "k")); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("key directory exists after failure: %v", err)
			}
		})
	}
}

func TestKeyFileModeRefused(t *testing.T) {
	s := newTestStore(t)
	if _, err := s.Generate("k", ECDSAP256); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(s.Dir(), "k", "1", keyFile)
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660} {
		t.Run(fmt.Sprintf("%04o", mode), func(t *testing.T) {
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			_, err := s.Signer("k")
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "chmod 600") {
				t.Fatalf("err %v, want a refusal naming %s and chmod 600", err, path)
			}
		})
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Signer("k"); err != nil {
		t.Fatalf("after chmod 600: %v", err)
	}
	// The CA key is checked the same way by rotate.
	caPath := filepath.Join(s.Dir(), "k", "1", caKeyFile)
	if err := os.Chmod(caPath, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Rotate("k"); err == nil || !strings.Contains(err.Error(), caPath) {
		t.Fatalf("rotate with a world-readable CA key: %v", err)
	}
}

func TestKeyList(t *testing.T) {
	s := newTestStore(t)
	infos, err := s.List()
	if err != nil || len(infos) != 0 {
		t.Fatalf("empty store: %v %v", infos, err)
	}
	for _, n := range []string{"zeta", "alpha"} {
		if _, err := s.Generate(n, ECDSAP384); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Rotate("zeta"); err != nil {
		t.Fatal(err)
	}
	p := testPKI(t)
	k, c := p.leafPEM()
	if _, err := s.Import("imported", k, c); err != nil {
		t.Fatal(err)
	}
	infos, err = s.List()
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		name   string
		typ    KeyType
		gen    int
		origin Origin
		older  []int
	}
	want := []row{
		{"alpha", ECDSAP384, 1, Generated, []int{}},
		{"imported", ECDSAP256, 1, Imported, []int{}},
		{"zeta", ECDSAP384, 2, Generated, []int{1}},
	}
	if len(infos) != len(want) {
		t.Fatalf("got %d keys, want %d", len(infos), len(want))
	}
	for i, w := range want {
		g := infos[i]
		if g.Name != w.name || g.Type != w.typ || g.Generation != w.gen || g.Origin != w.origin || !slices.Equal(g.OlderGenerations, w.older) {
			t.Errorf("key %d: got %+v, want %+v", i, g, w)
		}
	}
	if infos[1].Subject != "CN=signer,O=Example" {
		t.Errorf("imported subject %q", infos[1].Subject)
	}
}

func TestKeyExport(t *testing.T) {
	s := newTestStore(t)
	if _, err := s.Generate("k", ECDSAP256); err != nil {
		t.Fatal(err)
	}
	certs, err := s.chain("k", 1)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		what ExportKind
		want []byte
	}{
		{ExportCert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certs[1].Raw})},
		{ExportChain, append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certs[0].Raw}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certs[1].Raw})...)},
		{ExportPublic, func() []byte {
			der, err := x509.MarshalPKIXPublicKey(certs[0].PublicKey)
			if err != nil {
				t.Fatal(err)
			}
			return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
		}()},
	}
	for _, tc := range tests {
		t.Run(string(tc.what), func(t *testing.T) {
			got, err := s.Export("k", tc.what)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
			if bytes.Contains(got, []byte("PRIVATE")) {
				t.Error("export contains a private key")
			}
		})
	}
	if _, err := s.Export("k", "private"); err == nil || !strings.Contains(err.Error(), `unknown kind "private"`) {
		t.Errorf("export private: %v", err)
	}
	if _, err := s.Export("missing", ExportCert); !errors.Is(err, ErrNotFound) {
		t.Errorf("export missing key: %v, want ErrNotFound", err)
	}
}

func TestKeyRotate(t *testing.T) {
	s := newTestStore(t)
	if _, err := s.Generate("k", RSA3072); err != nil {
		t.Fatal(err)
	}
	old, err := s.Signer("k")
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Rotate("k")
	if err != nil {
		t.Fatal(err)
	}
	if info.Generation != 2 || !slices.Equal(info.OlderGenerations, []int{1}) || info.Type != RSA3072 || info.Origin != Generated {
		t.Fatalf("after rotate: %+v", info)
	}
	cur, err := s.Signer("k")
	if err != nil {
		t.Fatal(err)
	}
	if cur.KeyRef() != "local:k#2" {
		t.Errorf("KeyRef %q", cur.KeyRef())
	}
	oldChain, newChain := old.CertificateChain(), cur.CertificateChain()
	if !newChain[1].Equal(oldChain[1]) {
		t.Error("rotated leaf has a different CA")
	}
	if publicKeysEqual(newChain[0].PublicKey, oldChain[0].PublicKey) {
		t.Error("rotate kept the old key")
	}
	if newChain[0].SerialNumber.Cmp(oldChain[0].SerialNumber) == 0 {
		t.Error("rotate kept the old serial number")
	}
	roots := x509.NewCertPool()
	roots.AddCert(oldChain[1])
	for i, leaf := range []*x509.Certificate{oldChain[0], newChain[0]} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}); err != nil {
			t.Errorf("leaf %d does not verify against the CA: %v", i+1, err)
		}
	}
	signAndVerify(t, cur, newChain[0].PublicKey)
	// The old generation stays, readable for verification.
	kept, err := s.chain("k", 1)
	if err != nil || !kept[0].Equal(oldChain[0]) {
		t.Fatalf("generation 1 chain: %v", err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), "k", "1", keyFile)); err != nil {
		t.Errorf("generation 1 key removed: %v", err)
	}
	if info, err = s.Rotate("k"); err != nil || info.Generation != 3 || !slices.Equal(info.OlderGenerations, []int{1, 2}) {
		t.Fatalf("second rotate: %+v %v", info, err)
	}
	checkModes(t, s.Dir())

	// Imported keys are not rotated.
	k, c := testPKI(t).leafPEM()
	if _, err := s.Import("imp", k, c); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Rotate("imp"); err == nil || !strings.Contains(err.Error(), "import a new key") {
		t.Fatalf("rotate imported: %v", err)
	}
	if _, err := s.Rotate("missing"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("rotate missing: %v", err)
	}
}

// pki is a test certificate hierarchy: root → intermediate → leaf.
type pki struct {
	t                 *testing.T
	rootKey, interKey *ecdsa.PrivateKey
	root, inter       *x509.Certificate
	leafKey           *ecdsa.PrivateKey
	leaf              *x509.Certificate
	otherKey          *ecdsa.PrivateKey
	otherRoot         *x509.Certificate
}

func ecKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var testSerial = big.NewInt(100)

// issue makes a certificate from tmpl for pub, signed by parent/parentKey
// (self-signed if parent is nil).
func issue(t *testing.T, tmpl *x509.Certificate, pub crypto.PublicKey, parent *x509.Certificate, parentKey crypto.Signer) *x509.Certificate {
	t.Helper()
	tmpl.SerialNumber = new(big.Int).Add(testSerial, big.NewInt(int64(len(tmpl.Subject.CommonName))))
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = time.Now().Add(-time.Hour)
		tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	}
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func caTmpl(cn string) *x509.Certificate {
	return &x509.Certificate{
		Subject: pkix.Name{CommonName: cn, Organization: []string{"Example"}}, BasicConstraintsValid: true, IsCA: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
}

func leafTmpl(cn string, ku x509.KeyUsage) *x509.Certificate {
	return &x509.Certificate{
		Subject: pkix.Name{CommonName: cn, Organization: []string{"Example"}}, BasicConstraintsValid: true,
		KeyUsage: ku, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	}
}

func testPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{t: t, rootKey: ecKey(t), interKey: ecKey(t), leafKey: ecKey(t), otherKey: ecKey(t)}
	p.root = issue(t, caTmpl("Root"), p.rootKey.Public(), nil, p.rootKey)
	p.inter = issue(t, caTmpl("Intermediate"), p.interKey.Public(), p.root, p.rootKey)
	p.leaf = issue(t, leafTmpl("signer", x509.KeyUsageDigitalSignature), p.leafKey.Public(), p.inter, p.interKey)
	p.otherRoot = issue(t, caTmpl("Other Root"), p.otherKey.Public(), nil, p.otherKey)
	return p
}

func pemCerts(certs ...*x509.Certificate) []byte { return encodeCerts(certs) }

func pkcs8PEM(t *testing.T, k crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// leafPEM is the leaf's key (PKCS#8) and the full chain.
func (p *pki) leafPEM() (key, chain []byte) {
	return pkcs8PEM(p.t, p.leafKey), pemCerts(p.leaf, p.inter, p.root)
}

func TestKeyImport(t *testing.T) {
	p := testPKI(t)
	sec1, err := x509.MarshalECPrivateKey(p.leafKey)
	if err != nil {
		t.Fatal(err)
	}
	sec1PEM := append([]byte("-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})...)

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaLeaf := issue(t, leafTmpl("rsa signer", x509.KeyUsageDigitalSignature), rsaKey.Public(), p.root, p.rootKey)
	pkcs1PEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})

	expiredTmpl := leafTmpl("expired", x509.KeyUsageDigitalSignature)
	expiredTmpl.NotBefore, expiredTmpl.NotAfter = time.Now().Add(-48*time.Hour), time.Now().Add(-time.Hour)
	expired := issue(t, expiredTmpl, p.leafKey.Public(), p.inter, p.interKey)

	futureTmpl := leafTmpl("future", x509.KeyUsageDigitalSignature)
	futureTmpl.NotBefore, futureTmpl.NotAfter = time.Now().Add(time.Hour), time.Now().Add(48*time.Hour)
	future := issue(t, futureTmpl, p.leafKey.Public(), p.inter, p.interKey)

	noSign := issue(t, leafTmpl("encipher only", x509.KeyUsageKeyEncipherment), p.leafKey.Public(), p.inter, p.interKey)
	certSign := issue(t, leafTmpl("certsign", x509.KeyUsageDigitalSignature|x509.KeyUsageCertSign), p.leafKey.Public(), p.inter, p.interKey)
	tlsTmpl := leafTmpl("tls", x509.KeyUsageDigitalSignature)
	tlsTmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	tlsLeaf := issue(t, tlsTmpl, p.leafKey.Public(), p.inter, p.interKey)
	// Same subject as the intermediate but signed by another key.
	fakeInter := *p.inter
	fakeInter.PublicKey = p.otherKey.Public()
	forged := issue(t, leafTmpl("forged", x509.KeyUsageDigitalSignature), p.leafKey.Public(), &fakeInter, p.otherKey)

	leafKey := pkcs8PEM(t, p.leafKey)
	tests := []struct {
		name       string
		key, chain []byte
		want       string // "" = imported
		typ        KeyType
	}{
		{"pkcs8 full chain", leafKey, pemCerts(p.leaf, p.inter, p.root), "", ECDSAP256},
		{"chain ending in an intermediate", leafKey, pemCerts(p.leaf, p.inter), "", ECDSAP256},
		{"sec1 with ec parameters", sec1PEM, pemCerts(p.leaf, p.inter, p.root), "", ECDSAP256},
		{"pkcs1 rsa", pkcs1PEM, pemCerts(rsaLeaf, p.root), "", "rsa-2048"},
		{"mismatched key", pkcs8PEM(t, p.otherKey), pemCerts(p.leaf, p.inter, p.root), "does not match the leaf", ""},
		{"CA as leaf", pkcs8PEM(t, p.interKey), pemCerts(p.inter, p.root), "is a CA certificate", ""},
		{"expired leaf", leafKey, pemCerts(expired, p.inter, p.root), `("CN=expired,O=Example") expired on`, ""},
		{"not yet valid leaf", leafKey, pemCerts(future, p.inter, p.root), "is not valid before", ""},
		{"no digitalSignature", leafKey, pemCerts(noSign, p.inter, p.root), "lacks the digitalSignature key usage", ""},
		{"keyCertSign on leaf", leafKey, pemCerts(certSign, p.inter, p.root), "has the keyCertSign key usage", ""},
		{"not code signing", leafKey, pemCerts(tlsLeaf, p.inter, p.root), "without codeSigning", ""},
		{"wrong order", leafKey, pemCerts(p.leaf, p.root, p.inter), "not by the next certificate", ""},
		{"wrong root", leafKey, pemCerts(p.leaf, p.inter, p.otherRoot), "not by the next certificate", ""},
		{"forged signature", leafKey, pemCerts(forged, p.inter), "is not signed by the next certificate", ""},
		{"leaf alone", leafKey, pemCerts(p.leaf), "followed by its issuing CA", ""},
		{"empty chain", leafKey, nil, "no certificate", ""},
		{"junk chain", leafKey, []byte("junk"), "data that is not PEM after the certificates", ""},
		{"key in chain file", leafKey, append(pemCerts(p.leaf, p.inter), leafKey...), `unexpected PEM block "PRIVATE KEY"`, ""},
		{"no key", []byte("junk"), pemCerts(p.leaf, p.inter), "data that is not PEM in the key file", ""},
		{"empty key file", nil, pemCerts(p.leaf, p.inter), "no PEM private key", ""},
		{"two keys", append(leafKey, leafKey...), pemCerts(p.leaf, p.inter), "more than one PEM block", ""},
		{"encrypted key", pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1}}), pemCerts(p.leaf, p.inter), "the key is encrypted", ""},
		{"certificate as key", pemCerts(p.leaf), pemCerts(p.leaf, p.inter), `"CERTIFICATE" is not a private key`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestStore(t)
			info, err := s.Import("imp", tc.key, tc.chain)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err %v, want %q", err, tc.want)
				}
				if _, err := os.Stat(filepath.Join(s.Dir(), "imp")); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("refused import left files: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if info.Origin != Imported || info.Type != tc.typ || info.Generation != 1 {
				t.Errorf("info %+v", info)
			}
			signer, err := s.Signer("imp")
			if err != nil {
				t.Fatal(err)
			}
			want, err := parseCertsPEM(tc.chain)
			if err != nil {
				t.Fatal(err)
			}
			got := signer.CertificateChain()
			if len(got) != len(want) {
				t.Fatalf("chain of %d, want %d", len(got), len(want))
			}
			for i := range want {
				if !got[i].Equal(want[i]) {
					t.Errorf("chain[%d] differs", i)
				}
			}
			signAndVerify(t, signer, want[0].PublicKey)
			if _, err := os.Stat(filepath.Join(s.Dir(), "imp", "1", caKeyFile)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("imported key has a CA key file: %v", err)
			}
			raw, err := os.ReadFile(filepath.Join(s.Dir(), "imp", "1", keyFile))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(raw, []byte("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----")) {
				t.Error("imported key not stored encrypted")
			}
			if _, err := s.Import("imp", tc.key, tc.chain); err == nil || !strings.Contains(err.Error(), "already exists") {
				t.Errorf("second import: %v", err)
			}
			checkModes(t, s.Dir())
		})
	}
}

func TestKeyDefaultDir(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"XDG_CONFIG_HOME": "/x", "HOME": "/h"}, "/x/cssc/keys"},
		{map[string]string{"XDG_CONFIG_HOME": "", "HOME": "/h"}, "/h/.config/cssc/keys"},
		{map[string]string{"HOME": "/h"}, "/h/.config/cssc/keys"},
	}
	for _, tc := range tests {
		got, err := DefaultDir(func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
		if err != nil || got != tc.want {
			t.Errorf("DefaultDir(%v) = %q, %v; want %q", tc.env, got, err, tc.want)
		}
	}
}

func TestParseSubject(t *testing.T) {
	tests := []struct {
		dn, want, err string
	}{
		{"C=US, ST=WA, O=Acme, CN=release", "CN=release,O=Acme,ST=WA,C=US", ""},
		{"cn=x,o=y,ou=z,l=Munich,st=BY,c=DE", "CN=x,OU=z,O=y,L=Munich,ST=BY,C=DE", ""},
		{"O=Acme", "O=Acme", ""},
		{"C=US, C=DE", "", "C given twice"},
		{"E=a@b.c", "", "unknown attribute E"},
		{"CN=a\\,b", "", "needs escaping"},
		{"O=Acme, CN", "", `"CN" is not KEY=VALUE`},
		{"O=", "", "is not KEY=VALUE"},
	}
	for _, tc := range tests {
		n, err := ParseSubject(tc.dn)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseSubject(%q): error %v, want %q", tc.dn, err, tc.err)
			}
			continue
		}
		if err != nil || n.String() != tc.want {
			t.Errorf("ParseSubject(%q) = %q, %v; want %q", tc.dn, n.String(), err, tc.want)
		}
	}
}

func TestGenerateWithSubjectKeptOnRotation(t *testing.T) {
	s := newTestStore(t)
	dn, err := ParseSubject("C=DE, ST=Bavaria, O=Acme, CN=release")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.GenerateWithSubject("release", ECDSAP256, dn); err != nil {
		t.Fatal(err)
	}
	certs, err := s.chain("release", 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := certs[0].Subject.String(); got != "CN=release,O=Acme,ST=Bavaria,C=DE" {
		t.Fatalf("signing certificate subject %q", got)
	}
	if got := certs[1].Subject.String(); got != "CN=release CA,O=Acme,ST=Bavaria,C=DE" {
		t.Fatalf("CA subject %q", got)
	}
	if _, err := s.Rotate("release"); err != nil {
		t.Fatal(err)
	}
	rotated, err := s.chain("release", 2)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rotated[0].RawSubject, certs[0].RawSubject) || rotated[0].SerialNumber.Cmp(certs[0].SerialNumber) == 0 {
		t.Fatalf("rotated certificate subject %q (serial %v), want the same subject as %q and a new serial", rotated[0].Subject, rotated[0].SerialNumber, certs[0].Subject)
	}
	// No CN: the key name.
	dn, err = ParseSubject("C=DE, ST=Bavaria, O=Acme")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.GenerateWithSubject("named", ECDSAP256, dn); err != nil {
		t.Fatal(err)
	}
	if certs, err = s.chain("named", 1); err != nil || certs[0].Subject.CommonName != "named" {
		t.Fatalf("subject without CN: %v %v", certs[0].Subject, err)
	}
}
