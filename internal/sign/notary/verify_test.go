package notary_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"

	"github.com/cssc-project/cssc/internal/sign"
	"github.com/cssc-project/cssc/internal/sign/notary"
	"github.com/cssc-project/cssc/internal/sign/signtest"
)

// TestPolicies verifies one signed image under trust policies and trust
// stores that each decide something else.
func TestPolicies(t *testing.T) {
	f := newFixture(t)
	target := f.image(t, "app/web")
	desc := mustSign(t, target, f.ca.Issue(t, signtest.LeafOptions{}), notary.SignOptions{})
	unsigned := f.image(t, "app/unsigned")

	// A trust store with another CA under the same name.
	otherStore := filepath.Join(t.TempDir(), "truststore")
	signtest.WriteTrustStore(t, otherStore, "ca", "acme", signtest.NewCA(t, "acme root", "").Cert)

	with := func(edit func(*signtest.PolicyStatement)) signtest.PolicyStatement {
		s := strict()
		edit(&s)
		return s
	}
	tests := []struct {
		name      string
		policy    []signtest.PolicyStatement
		store     string // default: the fixture's
		target    *sign.Target
		passed    bool
		skipped   bool
		verified  bool
		reason    sign.Reason
		level     string
		noSigs    bool
		verdictRe string // part of the verdict's reason
		logged    string // part of the log
	}{
		{name: "strict", policy: []signtest.PolicyStatement{strict()},
			passed: true, verified: true, level: "strict"},
		{name: "trusted identity", policy: []signtest.PolicyStatement{with(func(s *signtest.PolicyStatement) {
			s.TrustedIdentities = []string{"x509.subject: C=US, ST=Test, O=cssc test, CN=signer"}
		})}, passed: true, verified: true, level: "strict"},
		{name: "exact scope beats wildcard", policy: []signtest.PolicyStatement{
			with(func(s *signtest.PolicyStatement) { s.TrustStores = []string{"ca:nobody"} }),
			with(func(s *signtest.PolicyStatement) { s.Name, s.RegistryScopes = "web", []string{target.Name} }),
		}, passed: true, verified: true, level: "strict"},
		{name: "wrong trust store", policy: []signtest.PolicyStatement{strict()}, store: otherStore,
			reason: sign.ReasonUntrustedChain, level: "strict", verdictRe: `trust policy statement "all" (level strict)`},
		{name: "named trust store missing", policy: []signtest.PolicyStatement{with(func(s *signtest.PolicyStatement) {
			s.TrustStores = []string{"ca:nobody"}
		})}, reason: sign.ReasonUntrustedChain, level: "strict"},
		{name: "identity not trusted", policy: []signtest.PolicyStatement{with(func(s *signtest.PolicyStatement) {
			s.TrustedIdentities = []string{"x509.subject: C=US, ST=Test, O=cssc test, CN=someone else"}
		})}, reason: sign.ReasonUntrustedIdentity, level: "strict"},
		{name: "identity not trusted, permissive", policy: []signtest.PolicyStatement{with(func(s *signtest.PolicyStatement) {
			s.SignatureVerification.Level = "permissive"
			s.TrustedIdentities = []string{"x509.subject: C=US, ST=Test, O=cssc test, CN=someone else"}
		})}, reason: sign.ReasonUntrustedIdentity, level: "permissive"},
		{name: "no statement for the repository", policy: []signtest.PolicyStatement{with(func(s *signtest.PolicyStatement) {
			s.RegistryScopes = []string{"registry.example/other"}
		})}, reason: sign.ReasonNoPolicy, verdictRe: "no statement of trust policy"},
		{name: "audit passes with the failure listed", policy: []signtest.PolicyStatement{with(func(s *signtest.PolicyStatement) {
			s.SignatureVerification.Level = "audit"
		})}, store: otherStore, passed: true, reason: sign.ReasonUntrustedChain, level: "audit",
			logged: "level=audit reason=untrusted-chain"},
		{name: "skip", policy: []signtest.PolicyStatement{{Name: "skip", RegistryScopes: []string{"*"},
			SignatureVerification: signtest.SignatureVerification{Level: "skip"}}},
			passed: true, skipped: true, reason: sign.ReasonNotChecked, level: "skip"},
		{name: "skip without a signature", policy: []signtest.PolicyStatement{{Name: "skip", RegistryScopes: []string{"*"},
			SignatureVerification: signtest.SignatureVerification{Level: "skip"}}},
			target: unsigned, passed: true, skipped: true, noSigs: true},
		{name: "no signature", policy: []signtest.PolicyStatement{strict()}, target: unsigned, noSigs: true,
			verdictRe: "no Notary Project signature is attached to " + unsigned.DigestRef()},
		{name: "no signature, audit", policy: []signtest.PolicyStatement{with(func(s *signtest.PolicyStatement) {
			s.SignatureVerification.Level = "audit"
		})}, target: unsigned, noSigs: true, verdictRe: "no Notary Project signature is attached"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := f.store
			if tc.store != "" {
				store = tc.store
			}
			p := signtest.WritePolicy(t, filepath.Join(t.TempDir(), "trustpolicy.json"), tc.policy...)
			c, err := notary.NewChecker(p, store)
			if err != nil {
				t.Fatal(err)
			}
			var log bytes.Buffer
			c.WithLogger(slog.New(slog.NewTextHandler(&log, nil)))
			tg := target
			if tc.target != nil {
				tg = tc.target
			}
			sigs, v := check(t, c, tg)
			if v.Checker != "notary" || v.Passed != tc.passed || v.Skipped != tc.skipped {
				t.Errorf("verdict %+v, want passed %v skipped %v", v, tc.passed, tc.skipped)
			}
			if !strings.Contains(v.Reason, tc.verdictRe) || (tc.passed && v.Reason != "") {
				t.Errorf("verdict reason %q, want it to contain %q", v.Reason, tc.verdictRe)
			}
			if got := log.String(); (tc.logged == "") != (got == "") || !strings.Contains(got, tc.logged) {
				t.Errorf("log %q, want %q", got, tc.logged)
			}
			if tc.noSigs {
				if len(sigs) != 0 {
					t.Errorf("signatures %+v, want none", sigs)
				}
				return
			}
			s := only(t, sigs)
			if s.Digest != desc.Digest.String() || s.Verified != tc.verified || s.Reason != tc.reason || s.Level != tc.level {
				t.Errorf("signature %+v\nwant digest %s verified %v reason %q level %q", s, desc.Digest, tc.verified, tc.reason, tc.level)
			}
			if s.Format != sign.FormatNotationJWS || s.Location != "referrer" {
				t.Errorf("signature format %q location %q", s.Format, s.Location)
			}
			if (s.Reason == "") != (s.Detail == "") {
				t.Errorf("reason %q with detail %q", s.Reason, s.Detail)
			}
		})
	}
}

func TestUnconfigured(t *testing.T) {
	f := newFixture(t)
	target := f.image(t, "plain")
	jws := mustSign(t, target, f.ca.Issue(t, signtest.LeafOptions{}), notary.SignOptions{})
	cose := mustSign(t, target, f.ca.Issue(t, signtest.LeafOptions{}), notary.SignOptions{Format: sign.FormatNotationCOSE})
	c := notary.Unconfigured()
	if c.Configured() || c.Fingerprint() != "" || c.Name() != "notary" {
		t.Fatalf("unconfigured checker: configured %v fingerprint %q name %q", c.Configured(), c.Fingerprint(), c.Name())
	}
	sigs, v := check(t, c, target)
	if v.Passed {
		t.Errorf("verdict %+v from an unconfigured checker", v)
	}
	if len(sigs) != 2 {
		t.Fatalf("got %d signatures, want 2", len(sigs))
	}
	for d, format := range map[string]sign.Format{jws.Digest.String(): sign.FormatNotationJWS, cose.Digest.String(): sign.FormatNotationCOSE} {
		s := byDigest(t, sigs, d)
		if s.Format != format || s.Verified || s.Reason != sign.ReasonNotChecked || s.Location != "referrer" {
			t.Errorf("signature %+v, want %s, not checked", s, format)
		}
	}
}

// Every signature of an image is verified and reported on its own.
func TestEverySignatureReported(t *testing.T) {
	f := newFixture(t)
	target := f.image(t, "many")
	other := signtest.NewCA(t, "stranger root", "")
	good := mustSign(t, target, f.ca.Issue(t, signtest.LeafOptions{}), notary.SignOptions{Format: sign.FormatNotationCOSE})
	stranger := mustSign(t, target, other.Issue(t, signtest.LeafOptions{}), notary.SignOptions{})
	sigs, v := check(t, f.checker(t, strict()), target)
	if !v.Passed || len(sigs) != 2 {
		t.Fatalf("verdict %+v with %d signatures, want passed with 2", v, len(sigs))
	}
	if s := byDigest(t, sigs, good.Digest.String()); !s.Verified || s.Format != sign.FormatNotationCOSE {
		t.Errorf("trusted signature %+v, want verified COSE", s)
	}
	if s := byDigest(t, sigs, stranger.Digest.String()); s.Verified || s.Reason != sign.ReasonUntrustedChain || s.Issuer != "CN=stranger root,O=cssc test" {
		t.Errorf("stranger's signature %+v, want untrusted-chain", s)
	}
}

// TestForged pushes signature manifests made from a valid one: moved to
// another image, with the payload altered, with an envelope that is not
// one.
func TestForged(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.checker(t, strict())
	key := f.ca.Issue(t, signtest.LeafOptions{})
	meta := map[string]string{"org.example.stage": "release"}

	// copySignature pushes a copy of the signature manifest sig (of
	// signed) with subject and envelope changed, and returns its digest.
	copySignature := func(t *testing.T, signed *sign.Target, sig ocispec.Descriptor, subject ocispec.Descriptor, envelope func([]byte) []byte) string {
		t.Helper()
		m := fetchManifest(t, signed.Repo, sig)
		blob := envelope(fetchBlob(t, signed.Repo, m.Layers[0]))
		layer, err := oras.PushBytes(ctx, signed.Repo, m.Layers[0].MediaType, blob)
		if err != nil {
			t.Fatal(err)
		}
		m.Layers[0] = layer
		s := ocispec.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}
		m.Subject = &s
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		d, err := oras.PushBytes(ctx, signed.Repo, ocispec.MediaTypeImageManifest, b)
		if err != nil {
			t.Fatal(err)
		}
		return d.Digest.String()
	}
	same := func(b []byte) []byte { return b }

	t.Run("digest mismatch", func(t *testing.T) {
		signed := f.image(t, "forged/mismatch")
		sig := mustSign(t, signed, key, notary.SignOptions{})
		victim := f.image(t, "forged/mismatch")
		d := copySignature(t, signed, sig, victim.Desc, same)
		sigs, v := check(t, c, victim)
		s := only(t, sigs)
		if v.Passed || s.Digest != d || s.Verified || s.Reason != sign.ReasonDigestMismatch || !strings.Contains(s.Detail, signed.Desc.Digest.String()) {
			t.Errorf("verdict %+v, signature %+v; want digest-mismatch naming %s", v, s, signed.Desc.Digest)
		}
		if s.Identity != "CN=signer,O=cssc test,ST=Test,C=US" {
			t.Errorf("identity %q", s.Identity)
		}
	})

	tamper := map[sign.Format]func(t *testing.T, b []byte) []byte{
		// JWS: the payload is base64url in the JSON envelope.
		sign.FormatNotationJWS: func(t *testing.T, b []byte) []byte {
			var env map[string]any
			if err := json.Unmarshal(b, &env); err != nil {
				t.Fatal(err)
			}
			p, err := base64.RawURLEncoding.DecodeString(env["payload"].(string))
			if err != nil {
				t.Fatal(err)
			}
			env["payload"] = base64.RawURLEncoding.EncodeToString(bytes.Replace(p, []byte(`"release"`), []byte(`"hotfix!"`), 1))
			out, err := json.Marshal(env)
			if err != nil {
				t.Fatal(err)
			}
			return out
		},
		// COSE: the payload's JSON is a byte string of the CBOR; the
		// replacement keeps its length so the envelope still parses.
		sign.FormatNotationCOSE: func(t *testing.T, b []byte) []byte {
			if !bytes.Contains(b, []byte(`"release"`)) {
				t.Fatal("payload not found in the COSE envelope")
			}
			return bytes.Replace(b, []byte(`"release"`), []byte(`"hotfix!"`), 1)
		},
	}
	for format, alter := range tamper {
		t.Run("tampered "+string(format), func(t *testing.T) {
			signed := f.image(t, "forged/tampered")
			sig := mustSign(t, signed, key, notary.SignOptions{Format: format, Annotations: meta})
			d := copySignature(t, signed, sig, signed.Desc, func(b []byte) []byte { return alter(t, b) })
			sigs, v := check(t, c, signed)
			if !v.Passed || len(sigs) != 2 {
				t.Fatalf("verdict %+v, %d signatures; want passed (the original) with 2", v, len(sigs))
			}
			if s := byDigest(t, sigs, sig.Digest.String()); !s.Verified {
				t.Errorf("original %+v, want verified", s)
			}
			if s := byDigest(t, sigs, d); s.Verified || s.Reason != sign.ReasonTampered || s.Format != format {
				t.Errorf("tampered %+v, want %s", s, sign.ReasonTampered)
			}
		})
	}

	t.Run("malformed", func(t *testing.T) {
		signed := f.image(t, "forged/malformed")
		sig := mustSign(t, signed, key, notary.SignOptions{})
		d := copySignature(t, signed, sig, signed.Desc, func([]byte) []byte { return []byte(`{"not":"a JWS"}`) })
		s := byDigest(t, signaturesOf(t, c, signed), d)
		if s.Verified || s.Reason != sign.ReasonMalformed {
			t.Errorf("malformed %+v, want %s", s, sign.ReasonMalformed)
		}
	})
}

func signaturesOf(t *testing.T, c *notary.Checker, target *sign.Target) []sign.Signature {
	t.Helper()
	sigs, _ := check(t, c, target)
	return sigs
}

// TestTagSchema: signatures reach registries without the referrers API
// through the referrers tag schema, and verification finds them there.
func TestTagSchema(t *testing.T) {
	f := newFixture(t)
	c := f.checker(t, strict())
	key := f.ca.Issue(t, signtest.LeafOptions{})

	t.Run("forced", func(t *testing.T) {
		target := f.image(t, "tagschema/forced")
		desc := mustSign(t, target, key, notary.SignOptions{ForceReferrersTag: true})
		checkTagIndex(t, target, desc)
		tagOnly := fresh(t, target)
		if err := tagOnly.Repo.SetReferrersCapability(false); err != nil {
			t.Fatal(err)
		}
		s := only(t, signaturesOf(t, c, tagOnly))
		if !s.Verified || s.Digest != desc.Digest.String() {
			t.Errorf("signature %+v, want %s verified", s, desc.Digest)
		}
	})

	t.Run("registry without referrers API", func(t *testing.T) {
		host := noReferrersAPI(t, f.host)
		target := signtest.PushImage(t, host, "tagschema/auto", "v1")
		desc := mustSign(t, target, key, notary.SignOptions{})
		checkTagIndex(t, target, desc)
		s := only(t, signaturesOf(t, c, fresh(t, target)))
		if !s.Verified || s.Digest != desc.Digest.String() {
			t.Errorf("signature %+v, want %s verified", s, desc.Digest)
		}
	})
}

// checkTagIndex checks that the referrers tag sha256-<hex> of target is an
// index listing the signature sig.
func checkTagIndex(t *testing.T, target *sign.Target, sig ocispec.Descriptor) {
	t.Helper()
	ctx := context.Background()
	tag := "sha256-" + target.Desc.Digest.Encoded()
	d, err := target.Repo.Resolve(ctx, tag)
	if err != nil {
		t.Fatalf("referrers tag %s: %v", tag, err)
	}
	raw := fetchManifestBytes(t, target, d)
	var idx ocispec.Index
	if err := json.Unmarshal(raw, &idx); err != nil {
		t.Fatal(err)
	}
	if d.MediaType != ocispec.MediaTypeImageIndex || len(idx.Manifests) != 1 || idx.Manifests[0].Digest != sig.Digest || idx.Manifests[0].ArtifactType != sign.ArtifactTypeNotation {
		t.Errorf("referrers tag %s: %s %+v, want an index of the signature %s", tag, d.MediaType, idx.Manifests, sig.Digest)
	}
}

func fetchManifestBytes(t *testing.T, target *sign.Target, d ocispec.Descriptor) []byte {
	t.Helper()
	rc, err := target.Repo.Manifests().Fetch(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rc.Close() }()
	var b bytes.Buffer
	if _, err := b.ReadFrom(rc); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// noReferrersAPI fronts the registry at host with a proxy that behaves like
// a registry without the OCI 1.1 referrers API: /referrers/ is not found
// and a pushed manifest's subject is not acknowledged (no OCI-Subject
// header). It returns the proxy's host.
func noReferrersAPI(t *testing.T, host string) string {
	t.Helper()
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: host})
	proxy.ModifyResponse = func(r *http.Response) error {
		r.Header.Del("OCI-Subject")
		return nil
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/referrers/") {
			http.NotFound(w, r)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func TestCertificateExpired(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	target := f.image(t, "expiring")
	key := f.ca.Issue(t, signtest.LeafOptions{NotAfter: time.Now().Add(3 * time.Second)})
	desc := mustSign(t, target, key, notary.SignOptions{})
	waitPast(key.Leaf().NotAfter)

	permissive := strict()
	permissive.SignatureVerification.Level = "permissive"
	tests := []struct {
		name   string
		stmt   signtest.PolicyStatement
		passed bool
	}{
		{"strict", strict(), false},
		{"permissive logs it", permissive, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sigs, v := check(t, f.checker(t, tc.stmt), target)
			s := only(t, sigs)
			if v.Passed != tc.passed || s.Verified || s.Reason != sign.ReasonCertificateExpired || s.Digest != desc.Digest.String() {
				t.Errorf("verdict %+v, signature %+v; want passed %v, certificate-expired", v, s, tc.passed)
			}
			if s.Expires == nil || !s.Expires.Equal(key.Leaf().NotAfter) {
				t.Errorf("expires %v, want %v", s.Expires, key.Leaf().NotAfter)
			}
		})
	}
}

func TestSignatureExpired(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	target := f.image(t, "short-lived")
	key := f.ca.Issue(t, signtest.LeafOptions{})
	desc := mustSign(t, target, key, notary.SignOptions{Expiry: time.Second})
	signed := time.Now()
	c := f.checker(t, strict())
	waitPast(signed.Add(time.Second))
	sigs, v := check(t, c, target)
	s := only(t, sigs)
	if v.Passed || s.Verified || s.Reason != sign.ReasonSignatureExpired || s.Digest != desc.Digest.String() {
		t.Errorf("verdict %+v, signature %+v; want signature-expired", v, s)
	}
	if s.Expires == nil || s.SignedAt == nil || !s.Expires.Equal(s.SignedAt.Add(time.Second)) {
		t.Errorf("expires %v, signed at %v: want one second apart", s.Expires, s.SignedAt)
	}
}

// TestTimestamp: an RFC 3161 countersignature made while the certificate
// was valid keeps the signature valid after the certificate expired, when
// the trust policy has a tsa trust store; without it the signature fails
// as certificate-expired.
func TestTimestamp(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tsaURL, roots, rootPEM := signtest.StartTSA(t)
	tsaDir := filepath.Join(f.store, "x509", "tsa", "tsa")
	if err := os.MkdirAll(tsaDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tsaDir, "root.pem"), rootPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	ts := notary.Timestamper{URL: tsaURL, RootCAs: roots}
	withTSA := func(verifyTimestamp string) signtest.PolicyStatement {
		s := strict()
		s.TrustStores = []string{"ca:acme", "tsa:tsa"}
		s.SignatureVerification.VerifyTimestamp = verifyTimestamp
		return s
	}

	// Sign first: the certificate expires in a few seconds.
	key := f.ca.Issue(t, signtest.LeafOptions{NotAfter: time.Now().Add(4 * time.Second)})
	type signed struct {
		target *sign.Target
		desc   ocispec.Descriptor
		before time.Time
	}
	sigs := map[string]signed{}
	for name, opts := range map[string]notary.SignOptions{
		"jws stamped":  {Timestamper: ts},
		"cose stamped": {Format: sign.FormatNotationCOSE, Timestamper: ts},
		"plain":        {},
	} {
		target := f.image(t, "stamped/"+strings.ReplaceAll(name, " ", "-"))
		before := time.Now().Add(-time.Second).Truncate(time.Second)
		sigs[name] = signed{target, mustSign(t, target, key, opts), before}
	}

	// While a long-lived certificate is valid, "afterCertExpiry" does not
	// look at the timestamp and the certificate bounds the signature;
	// "always" verifies it and the certificate no longer does.
	long := f.ca.Issue(t, signtest.LeafOptions{})
	target := f.image(t, "stamped/long")
	mustSign(t, target, long, notary.SignOptions{Timestamper: ts})
	if s := only(t, signaturesOf(t, f.checker(t, withTSA("afterCertExpiry")), target)); !s.Verified || s.Timestamp != nil || s.Expires == nil || !s.Expires.Equal(earliestNotAfter(long)) {
		t.Errorf("afterCertExpiry, valid certificate: %+v; want verified, no timestamp, expiring with the certificate", s)
	}
	if s := only(t, signaturesOf(t, f.checker(t, withTSA("always")), target)); !s.Verified || s.Timestamp == nil || s.Expires != nil {
		t.Errorf("always: %+v; want verified with a timestamp and no expiry", s)
	}

	waitPast(key.Leaf().NotAfter)
	tests := []struct {
		sig    string
		stmt   signtest.PolicyStatement
		reason sign.Reason
	}{
		{"jws stamped", withTSA("always"), ""},
		{"jws stamped", withTSA("afterCertExpiry"), ""},
		{"cose stamped", withTSA("always"), ""},
		{"cose stamped", withTSA("afterCertExpiry"), ""},
		{"plain", withTSA("always"), sign.ReasonCertificateExpired},
		{"plain", withTSA("afterCertExpiry"), sign.ReasonCertificateExpired},
		{"jws stamped", strict(), sign.ReasonCertificateExpired}, // no tsa trust store
	}
	for _, tc := range tests {
		name := tc.sig + "/" + tc.stmt.SignatureVerification.VerifyTimestamp
		if len(tc.stmt.TrustStores) == 1 {
			name = tc.sig + "/no tsa store"
		}
		t.Run(name, func(t *testing.T) {
			sg := sigs[tc.sig]
			list, v := check(t, f.checker(t, tc.stmt), sg.target)
			s := only(t, list)
			if v.Passed != (tc.reason == "") || s.Verified != (tc.reason == "") || s.Reason != tc.reason || s.Digest != sg.desc.Digest.String() {
				t.Fatalf("verdict %+v, signature %+v; want reason %q", v, s, tc.reason)
			}
			if tc.reason != "" {
				if s.Timestamp != nil {
					t.Errorf("timestamp %v reported for a failed signature", s.Timestamp)
				}
				return
			}
			if s.Timestamp == nil || s.Timestamp.Before(sg.before) || !s.Timestamp.Before(key.Leaf().NotAfter) {
				t.Errorf("timestamp %v, want between %v and the certificate's expiry %v", s.Timestamp, sg.before, key.Leaf().NotAfter)
			}
			if s.Expires != nil {
				t.Errorf("expires %v: a timestamped signature without expiry does not expire", s.Expires)
			}
		})
	}
}

// A timestamp is required under "always" with a tsa trust store: an
// unstamped signature fails even while its certificate is valid.
func TestTimestampRequired(t *testing.T) {
	f := newFixture(t)
	_, _, rootPEM := signtest.StartTSA(t)
	tsaDir := filepath.Join(f.store, "x509", "tsa", "tsa")
	if err := os.MkdirAll(tsaDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tsaDir, "root.pem"), rootPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	target := f.image(t, "unstamped")
	mustSign(t, target, f.ca.Issue(t, signtest.LeafOptions{}), notary.SignOptions{})
	stmt := strict()
	stmt.TrustStores = []string{"ca:acme", "tsa:tsa"}
	s := only(t, signaturesOf(t, f.checker(t, stmt), target))
	if s.Verified || s.Reason != sign.ReasonTimestamp {
		t.Errorf("signature %+v, want %s", s, sign.ReasonTimestamp)
	}
}

// An artifact attached to an image (an SBOM) is signed and verified like
// the image. The descriptor a referrers listing gives carries the
// artifact's type and annotations; the signature covers media type, digest
// and size, as notation's does.
func TestSignAttachedArtifact(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	image := f.image(t, "with-sbom")
	sbom, err := oras.PushBytes(ctx, image.Repo, "application/spdx+json", []byte(`{"spdxVersion":"SPDX-2.3"}`))
	if err != nil {
		t.Fatal(err)
	}
	subject := image.Desc
	if _, err := oras.PackManifest(ctx, image.Repo, oras.PackManifestVersion1_1, "application/spdx+json", oras.PackManifestOptions{
		Subject:             &subject,
		Layers:              []ocispec.Descriptor{sbom},
		ManifestAnnotations: map[string]string{"org.example.stage": "sbom"},
	}); err != nil {
		t.Fatal(err)
	}
	attached, ignored, err := sign.Attached(ctx, image, "application/spdx+json")
	if err != nil || len(attached) != 1 || len(ignored) != 0 {
		t.Fatalf("attached: %v, %d artifacts, ignored %v", err, len(attached), ignored)
	}
	art := attached[0]
	if art.Desc.Annotations["org.example.stage"] != "sbom" || art.Desc.ArtifactType != "application/spdx+json" {
		t.Fatalf("referrer descriptor %+v lacks the artifact's type and annotations", art.Desc)
	}
	desc := mustSign(t, art, f.ca.Issue(t, signtest.LeafOptions{}), notary.SignOptions{Annotations: map[string]string{"org.example.stage": "signed"}})
	if art.Desc.Annotations["org.example.stage"] != "sbom" {
		t.Errorf("signing changed the target's descriptor: %+v", art.Desc)
	}
	s := only(t, signaturesOf(t, f.checker(t, strict()), art))
	if !s.Verified || s.Digest != desc.Digest.String() {
		t.Errorf("SBOM signature %+v, want %s verified", s, desc.Digest)
	}
	// The image's own verification sees no Notary signature of its own.
	if sigs, v := check(t, f.checker(t, strict()), image); len(sigs) != 0 || v.Passed {
		t.Errorf("image: %d signatures, verdict %+v; want none and failed", len(sigs), v)
	}
}

// A registry that fails is an error (verification cannot decide); a
// signature whose envelope is missing is a malformed signature.
func TestRegistryFailures(t *testing.T) {
	f := newFixture(t)
	c := f.checker(t, strict())
	var failing atomic.Value // "" or "digest status"
	failing.Store("")
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: f.host})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d, status, ok := strings.Cut(failing.Load().(string), " "); ok && strings.HasSuffix(r.URL.Path, "/blobs/"+d) {
			code, _ := strconv.Atoi(status)
			w.WriteHeader(code)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	target := signtest.PushImage(t, strings.TrimPrefix(srv.URL, "http://"), "failing", "v1")
	desc := mustSign(t, target, f.ca.Issue(t, signtest.LeafOptions{}), notary.SignOptions{})
	envelope := fetchManifest(t, target.Repo, desc).Layers[0].Digest.String()

	t.Run("envelope not found", func(t *testing.T) {
		failing.Store(envelope + " 404")
		s := only(t, signaturesOf(t, c, fresh(t, target)))
		if s.Verified || s.Reason != sign.ReasonMalformed || s.Digest != desc.Digest.String() {
			t.Errorf("signature %+v, want %s", s, sign.ReasonMalformed)
		}
	})
	t.Run("registry refuses", func(t *testing.T) {
		failing.Store(envelope + " 403")
		if sigs, _, err := c.Check(context.Background(), fresh(t, target)); err == nil {
			t.Errorf("no error, signatures %+v", sigs)
		}
	})
	t.Run("registry down", func(t *testing.T) {
		failing.Store("")
		tg := fresh(t, target)
		srv.Close()
		if sigs, _, err := c.Check(context.Background(), tg); err == nil {
			t.Errorf("no error, signatures %+v", sigs)
		}
	})
}
