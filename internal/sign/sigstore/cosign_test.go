package sigstore_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cssc-project/cssc/internal/keys"
	"github.com/cssc-project/cssc/internal/sign"
	"github.com/cssc-project/cssc/internal/sign/signtest"
	"github.com/cssc-project/cssc/internal/sign/sigstore"
	"github.com/cssc-project/cssc/internal/sign/sigstore/sigstoretest"
	"github.com/cssc-project/cssc/internal/testtools"
)

// cosign runs the cosign binary in dir with a private HOME (it caches
// Sigstore's TUF root there; offline it only warns that it cannot fetch
// it), returning stdout and an error that carries stderr.
func cosign(t *testing.T, bin, dir string, env []string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"HOME=" + dir, "PATH=" + os.Getenv("PATH"), "COSIGN_PASSWORD=test-password"}, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), &cosignError{err: err, stderr: stderr.String()}
	}
	return stdout.String(), nil
}

type cosignError struct {
	err    error
	stderr string
}

func (e *cosignError) Error() string { return e.err.Error() + "\n" + e.stderr }

// TestCosignVerifiesOurSignatures: `cosign verify --key` accepts what Sign
// writes, in the legacy .sig tag and (with --experimental-oci11) as an OCI
// 1.1 referrer, for each key type.
func TestCosignVerifiesOurSignatures(t *testing.T) {
	bin := testtools.Path(t, "cosign")
	srv := startRegistry(t)
	tests := []struct {
		name string
		kt   keys.KeyType
		opts sigstore.SignOptions
	}{
		{"ecdsa-p256 tag", keys.ECDSAP256, sigstore.SignOptions{}},
		{"ecdsa-p384 tag", keys.ECDSAP384, sigstore.SignOptions{}},
		{"rsa-3072 tag", keys.RSA3072, sigstore.SignOptions{Annotations: map[string]string{"team": "payments"}}},
		{"ecdsa-p256 referrer", keys.ECDSAP256, sigstore.SignOptions{Referrers: true, NoTag: true}},
		{"rsa-3072 referrer", keys.RSA3072, sigstore.SignOptions{Referrers: true, NoTag: true}},
		{"ed25519 tag", "ed25519", sigstore.SignOptions{}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			target := signtest.PushImage(t, srv.Host, "cosign/app"+string(rune('a'+i)), "v1")
			signer := newSigner(t, tc.kt)
			mustSign(t, target, signer, tc.opts)
			pub := writePublicKey(t, signer.Public())
			args := []string{"verify", "--key", pub, "--insecure-ignore-tlog=true", "--allow-http-registry", "--output", "json"}
			if tc.opts.Referrers {
				// Without the flag cosign looks only at the .sig tag,
				// which holds nothing: the referrer is what verifies.
				if out, err := cosign(t, bin, dir, nil, append(args, target.DigestRef())...); err == nil {
					t.Fatalf("cosign verify without --experimental-oci11 found a signature in the .sig tag: %s", out)
				}
				args = append(args, "--experimental-oci11")
			}
			out, err := cosign(t, bin, dir, nil, append(args, target.DigestRef())...)
			if err != nil {
				t.Fatalf("cosign verify: %v", err)
			}
			var verified []struct {
				Critical struct {
					Image struct {
						Digest string `json:"docker-manifest-digest"`
					} `json:"image"`
				} `json:"critical"`
				Optional map[string]string `json:"optional"`
			}
			if err := json.Unmarshal([]byte(out), &verified); err != nil {
				t.Fatalf("cosign verify output %q: %v", out, err)
			}
			if len(verified) != 1 || verified[0].Critical.Image.Digest != target.Desc.Digest.String() || !reflect.DeepEqual(verified[0].Optional, tc.opts.Annotations) {
				t.Fatalf("cosign verified %+v, want one signature of %s with %v", verified, target.Desc.Digest, tc.opts.Annotations)
			}
		})
	}
}

// TestCheckerVerifiesCosign: what the real `cosign sign --key
// --tlog-upload=false` writes verifies with the Checker: the legacy .sig
// tag, --registry-referrers-mode=oci-1-1 (COSIGN_EXPERIMENTAL=1 is needed
// for it) and --new-bundle-format (a key-signed Sigstore bundle).
func TestCheckerVerifiesCosign(t *testing.T) {
	bin := testtools.Path(t, "cosign")
	srv := startRegistry(t)
	keyDir := t.TempDir()
	if _, err := cosign(t, bin, keyDir, nil, "generate-key-pair"); err != nil {
		t.Fatalf("cosign generate-key-pair: %v", err)
	}
	pub := filepath.Join(keyDir, "cosign.pub")
	pubPEM, err := os.ReadFile(pub)
	if err != nil {
		t.Fatal(err)
	}
	id := keyIDOfPEM(t, pubPEM)
	tests := []struct {
		name   string
		env    []string
		args   []string
		format sign.Format
		tag    bool // in the .sig tag, else a referrer
	}{
		{"legacy tag", nil, nil, sign.FormatCosign, true},
		{"oci-1-1 referrer", []string{"COSIGN_EXPERIMENTAL=1"}, []string{"--registry-referrers-mode=oci-1-1"}, sign.FormatCosign, false},
		{"new bundle format", nil, []string{"--new-bundle-format"}, sign.FormatBundle, false},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			target := signtest.PushImage(t, srv.Host, "bycosign/app"+string(rune('a'+i)), "v1")
			args := append([]string{"sign", "--key", filepath.Join(keyDir, "cosign.key"), "--tlog-upload=false", "--allow-http-registry", "-y"}, tc.args...)
			if _, err := cosign(t, bin, t.TempDir(), tc.env, append(args, target.DigestRef())...); err != nil {
				t.Fatalf("cosign sign: %v", err)
			}
			want := sign.Signature{Format: tc.format, Verified: true, Identity: id}
			if tc.tag {
				want.Location = "tag " + sigstore.SignatureTag(target.Desc.Digest)
				d, err := target.Repo.Resolve(context.Background(), sigstore.SignatureTag(target.Desc.Digest))
				if err != nil {
					t.Fatalf("cosign wrote no .sig tag: %v", err)
				}
				want.Digest = d.Digest.String()
			} else {
				want.Location = sigstore.LocationReferrer
				refs := referrers(t, target)
				if len(refs) != 1 {
					t.Fatalf("cosign wrote %d referrers, want 1: %+v", len(refs), refs)
				}
				want.Digest = refs[0].Digest.String()
			}
			c := newChecker(t, sigstore.Options{CosignKey: pub})
			sigs, v := check(t, c, resolve(t, target.Ref))
			if !reflect.DeepEqual(sigs, []sign.Signature{want}) || !v.Passed {
				t.Fatalf("signatures %+v (verdict %+v), want %+v", sigs, v, want)
			}
			// And with another key, it does not verify.
			other := newChecker(t, sigstore.Options{CosignKey: writePublicKey(t, newSigner(t, keys.ECDSAP256).Public())})
			sigs, v = check(t, other, target)
			if len(sigs) != 1 || sigs[0].Reason != sign.ReasonWrongKey || v.Passed {
				t.Fatalf("with another key: signatures %+v (verdict %+v), want one %s", sigs, v, sign.ReasonWrongKey)
			}
		})
	}
}

func referrers(t *testing.T, target *sign.Target) []ocispec.Descriptor {
	t.Helper()
	var out []ocispec.Descriptor
	err := target.Repo.Referrers(context.Background(), target.Desc, "", func(page []ocispec.Descriptor) error {
		out = append(out, page...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func keyIDOfPEM(t *testing.T, pubPEM []byte) string {
	t.Helper()
	return keyID(t, publicKeyOfPEM(t, pubPEM))
}

// publicKeyOfPEM parses a PEM public key (PKIX).
func publicKeyOfPEM(t *testing.T, pubPEM []byte) crypto.PublicKey {
	t.Helper()
	block, _ := pem.Decode(pubPEM)
	if block == nil {
		t.Fatalf("no PEM in %q", pubPEM)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// TestCosignVerifiesFixtureBundles: the real cosign accepts the keyless
// bundles sigstoretest makes (attached as cosign attaches them) against the
// trusted root it writes, so the fixtures the keyless tests rely on are
// genuine Sigstore material, not only what this package's Checker accepts.
func TestCosignVerifiesFixtureBundles(t *testing.T) {
	bin := testtools.Path(t, "cosign")
	srv := startRegistry(t)
	dir := t.TempDir()
	ca, tsa := sigstoretest.NewCA(t, "fulcio", true), sigstoretest.NewTSA(t, "tsa")
	rootPath := filepath.Join(dir, "trusted_root.json")
	sigstoretest.WriteTrustedRoot(t, rootPath, []*sigstoretest.CA{ca}, []*sigstoretest.TSA{tsa})
	who := sigstoretest.Identity{SAN: "release@example.com", Issuer: "https://accounts.example.com"}
	for i, tc := range []struct {
		name     string
		identity string
		ok       bool
	}{
		{"right identity", who.SAN, true},
		{"wrong identity", "mallory@example.com", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := signtest.PushImage(t, srv.Host, "fixture/app"+string(rune('a'+i)), "v1")
			sigstoretest.PushBundle(context.Background(), t, target.Repo, target.Desc,
				sigstoretest.NewBundle(t, sigstoretest.BundleOptions{Digest: target.Desc.Digest, CA: ca, Identity: who, TSA: tsa}))
			out, err := cosign(t, bin, dir, nil, "verify", "--new-bundle-format", "--trusted-root", rootPath,
				"--certificate-identity", tc.identity, "--certificate-oidc-issuer", who.Issuer,
				"--use-signed-timestamps", "--insecure-ignore-tlog=true", "--insecure-ignore-sct=true",
				"--allow-http-registry", target.DigestRef())
			if tc.ok && err != nil {
				t.Fatalf("cosign verify: %v", err)
			}
			if !tc.ok && err == nil {
				t.Fatalf("cosign verify accepted identity %s: %s", tc.identity, out)
			}
		})
	}
}

// TestCheckerVerifiesCosignKeylessLegacy: the real `cosign sign --key
// --certificate --certificate-chain --timestamp-server-url
// --tlog-upload=false` writes a simple-signing layer with the certificate,
// chain and RFC 3161 timestamp annotations (the shape of a keyless legacy
// signature, without Fulcio or Rekor); the Checker verifies it keylessly
// against a trusted root listing the CA and the TSA, and refuses another
// identity.
func TestCheckerVerifiesCosignKeylessLegacy(t *testing.T) {
	bin := testtools.Path(t, "cosign")
	srv := startRegistry(t)
	keyDir := t.TempDir()
	if _, err := cosign(t, bin, keyDir, nil, "generate-key-pair"); err != nil {
		t.Fatalf("cosign generate-key-pair: %v", err)
	}
	pubPEM, err := os.ReadFile(filepath.Join(keyDir, "cosign.pub"))
	if err != nil {
		t.Fatal(err)
	}
	pub := publicKeyOfPEM(t, pubPEM)
	ca := sigstoretest.NewCA(t, "fulcio", true)
	who := sigstoretest.Identity{SAN: "release@example.com", Issuer: "https://accounts.example.com"}
	certPath := writeFile(t, "cert.pem", signtest.PEM(ca.Issue(t, pub, who)))
	chainPath := writeFile(t, "chain.pem", signtest.PEM(ca.Intermediate, ca.Root))
	tsa := signtest.NewTSA(t)
	rootPath := filepath.Join(t.TempDir(), "trusted_root.json")
	sigstoretest.Root{CAs: []*sigstoretest.CA{ca}, TSAs: []*sigstoretest.TSA{{Root: tsa.Root.Cert, Leaf: tsa.Cert, URI: tsa.URL}}}.Write(t, rootPath)

	target := signtest.PushImage(t, srv.Host, "bycosign/keyless", "v1")
	if _, err := cosign(t, bin, t.TempDir(), nil, "sign", "--key", filepath.Join(keyDir, "cosign.key"),
		"--certificate", certPath, "--certificate-chain", chainPath, "--timestamp-server-url", tsa.URL,
		"--tlog-upload=false", "--allow-http-registry", "-y", target.DigestRef()); err != nil {
		t.Fatalf("cosign sign: %v", err)
	}
	tagDesc, err := target.Repo.Resolve(context.Background(), sigstore.SignatureTag(target.Desc.Digest))
	if err != nil {
		t.Fatalf("cosign wrote no .sig tag: %v", err)
	}
	layer := fetchManifest(t, target, tagDesc).Layers[0]
	for _, a := range []string{sigstore.CertificateAnnotation, sigstore.ChainAnnotation, sigstore.RFC3161TimestampAnnotation} {
		if layer.Annotations[a] == "" {
			t.Fatalf("cosign wrote no %s annotation: %v", a, layer.Annotations)
		}
	}
	for _, tc := range []struct {
		identity string
		want     sign.Reason
	}{
		{who.SAN, ""},
		{"mallory@example.com", sign.ReasonUntrustedIdentity},
	} {
		t.Run(tc.identity, func(t *testing.T) {
			c := newChecker(t, sigstore.Options{TrustedRoot: rootPath, Identity: tc.identity, Issuer: who.Issuer})
			sigs, v := check(t, c, resolve(t, target.Ref))
			if len(sigs) != 1 {
				t.Fatalf("signatures %s, want one", show(sigs))
			}
			s := sigs[0]
			if s.Verified != (tc.want == "") || s.Reason != tc.want || v.Passed != s.Verified || s.Identity != who.SAN || s.Issuer != who.Issuer ||
				s.Location != "tag "+sigstore.SignatureTag(target.Desc.Digest) || s.Digest != tagDesc.Digest.String() {
				t.Fatalf("signatures %s (verdict %+v), want reason %q by %s", show(sigs), v, tc.want, who.SAN)
			}
			if s.Verified && s.Timestamp == nil {
				t.Fatalf("verified without the TSA's timestamp: %s", show(sigs))
			}
		})
	}
}

// TestCosignVerifiesFixtureLegacy: the real cosign accepts the keyless
// legacy layers sigstoretest makes — logged in its fake Rekor (the signed
// entry timestamp checked offline against the trusted root) or
// timestamped by its TSA — so the legacy keyless tests rely on genuine
// cosign material, and refuses another identity or a log the root does
// not list.
func TestCosignVerifiesFixtureLegacy(t *testing.T) {
	bin := testtools.Path(t, "cosign")
	srv := startRegistry(t)
	dir := t.TempDir()
	ca, tsa, rekor := sigstoretest.NewCA(t, "fulcio", true), sigstoretest.NewTSA(t, "tsa"), sigstoretest.NewRekor(t, "rekor")
	rootPath := filepath.Join(dir, "trusted_root.json")
	sigstoretest.Root{CAs: []*sigstoretest.CA{ca}, TSAs: []*sigstoretest.TSA{tsa}, Logs: []*sigstoretest.Rekor{rekor}}.Write(t, rootPath)
	who := sigstoretest.Identity{SAN: "release@example.com", Issuer: "https://accounts.example.com"}
	i := 0
	for _, tc := range []struct {
		name   string
		opts   sigstoretest.LegacyOptions
		flags  []string
		refuse bool // even with the right identity
	}{
		{"signed entry timestamp", sigstoretest.LegacyOptions{Rekor: rekor}, []string{"--offline=true"}, false},
		{"RFC 3161 timestamp", sigstoretest.LegacyOptions{TSA: tsa}, []string{"--use-signed-timestamps", "--insecure-ignore-tlog=true"}, false},
		{"signed entry timestamp of a log not in the root", sigstoretest.LegacyOptions{Rekor: sigstoretest.NewRekor(t, "rogue")}, []string{"--offline=true"}, true},
	} {
		for _, id := range []string{who.SAN, "mallory@example.com"} {
			t.Run(tc.name+" "+id, func(t *testing.T) {
				i++
				target := signtest.PushImage(t, srv.Host, fmt.Sprintf("legacyfixture/app%d", i), "v1")
				o := tc.opts
				o.Repository, o.Digest, o.CA, o.Identity = target.Name, target.Desc.Digest, ca, who
				sigstoretest.PushSignatureTag(context.Background(), t, target.Repo, target.Desc, sigstoretest.NewLegacySignature(t, o))
				args := append([]string{"verify", "--trusted-root", rootPath, "--certificate-identity", id, "--certificate-oidc-issuer", who.Issuer,
					"--insecure-ignore-sct=true", "--allow-http-registry"}, tc.flags...)
				out, err := cosign(t, bin, dir, nil, append(args, target.DigestRef())...)
				if ok := id == who.SAN && !tc.refuse; ok && err != nil {
					t.Fatalf("cosign verify: %v", err)
				} else if !ok && err == nil {
					t.Fatalf("cosign verify accepted identity %s: %s", id, out)
				}
			})
		}
	}
}
