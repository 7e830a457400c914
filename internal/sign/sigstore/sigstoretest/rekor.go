package sigstoretest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
)

// Rekor is a fake Rekor transparency log: nothing is logged anywhere, but
// its key signs inclusion promises (signed entry timestamps) for the
// entries a test says it holds, as the real log signs them.
type Rekor struct {
	URI string
	// LogID is the log's ID: the SHA-256 of its public key's DER
	// SubjectPublicKeyInfo, as Sigstore defines it.
	LogID []byte
	key   *ecdsa.PrivateKey
}

// NewRekor makes a log called name (URI https://name.example) with an
// ECDSA P-256 key.
func NewRekor(t testing.TB, name string) *Rekor {
	t.Helper()
	key := newKey(t)
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatalf("encode log key: %v", err)
	}
	id := sha256.Sum256(der)
	return &Rekor{URI: "https://" + name + ".example", LogID: id[:], key: key}
}

// Public is the log's public key.
func (r *Rekor) Public() crypto.PublicKey { return r.key.Public() }

// RekorBundle is cosign's dev.sigstore.cosign/bundle annotation: the
// signed entry timestamp and the entry it covers.
type RekorBundle struct {
	SignedEntryTimestamp []byte
	Payload              RekorPayload
}

// RekorPayload is the entry an inclusion promise covers.
type RekorPayload struct {
	Body           string `json:"body"` // base64 of the canonicalized entry
	IntegratedTime int64  `json:"integratedTime"`
	LogIndex       int64  `json:"logIndex"`
	LogID          string `json:"logID"` // hex
}

// Promise returns the bundle for an entry with body (the canonicalized
// entry, see HashedRekord) integrated into the log at integratedAt
// (seconds), at logIndex, with its signed entry timestamp.
func (r *Rekor) Promise(t testing.TB, body []byte, integratedAt time.Time, logIndex int64) RekorBundle {
	t.Helper()
	p := RekorPayload{
		Body:           base64.StdEncoding.EncodeToString(body),
		IntegratedTime: integratedAt.Unix(),
		LogIndex:       logIndex,
		LogID:          hex.EncodeToString(r.LogID),
	}
	h := sha256.Sum256(SETInput(t, p))
	set, err := ecdsa.SignASN1(rand.Reader, r.key, h[:])
	if err != nil {
		t.Fatalf("sign entry timestamp: %v", err)
	}
	return RekorBundle{SignedEntryTimestamp: set, Payload: p}
}

// SETInput is what a signed entry timestamp signs (over its SHA-256): the
// payload's four fields as canonical JSON (RFC 8785: members sorted by
// name, no white space; the strings here, base64 and hex, need no
// escaping).
func SETInput(t testing.TB, p RekorPayload) []byte {
	t.Helper()
	str := func(s string) []byte {
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatalf("encode %q: %v", s, err)
		}
		return b
	}
	return fmt.Appendf(nil, `{"body":%s,"integratedTime":%d,"logID":%s,"logIndex":%d}`, str(p.Body), p.IntegratedTime, str(p.LogID), p.LogIndex)
}

// HashedRekord is the canonicalized body of the hashedrekord v0.0.1 entry
// Rekor makes for sig, a signature over payload by cert's key: the
// payload's SHA-256, the signature and the certificate (PEM), each base64,
// as canonical JSON.
func HashedRekord(t testing.TB, payload, sig []byte, cert *x509.Certificate) []byte {
	t.Helper()
	h := sha256.Sum256(payload)
	// Members in name order, so that encoding/json writes canonical JSON.
	type hash struct {
		Algorithm string `json:"algorithm"`
		Value     string `json:"value"`
	}
	type data struct {
		Hash hash `json:"hash"`
	}
	type content struct {
		Content string `json:"content"`
	}
	type signature struct {
		Content   string  `json:"content"`
		PublicKey content `json:"publicKey"`
	}
	type spec struct {
		Data      data      `json:"data"`
		Signature signature `json:"signature"`
	}
	b, err := json.Marshal(struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Spec       spec   `json:"spec"`
	}{"0.0.1", "hashedrekord", spec{
		Data: data{Hash: hash{Algorithm: "sha256", Value: hex.EncodeToString(h[:])}},
		Signature: signature{
			Content:   base64.StdEncoding.EncodeToString(sig),
			PublicKey: content{Content: base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}))},
		},
	}})
	if err != nil {
		t.Fatalf("encode hashedrekord entry: %v", err)
	}
	return b
}

// Root is what a trusted root lists: Fulcio CAs, timestamp authorities and
// Rekor transparency logs (no CT logs).
type Root struct {
	CAs  []*CA
	TSAs []*TSA
	Logs []*Rekor
}

// JSON returns the trusted_root.json (media type
// application/vnd.dev.sigstore.trustedroot+json;version=0.1).
func (r Root) JSON(t testing.TB) []byte {
	t.Helper()
	var fcas []root.CertificateAuthority
	for _, ca := range r.CAs {
		f := &root.FulcioCertificateAuthority{Root: ca.Root, ValidityPeriodStart: ca.Root.NotBefore, URI: ca.URI}
		if ca.Intermediate != nil {
			f.Intermediates = []*x509.Certificate{ca.Intermediate}
		}
		fcas = append(fcas, f)
	}
	var tsas []root.TimestampingAuthority
	for _, a := range r.TSAs {
		tsas = append(tsas, &root.SigstoreTimestampingAuthority{Root: a.Root, Leaf: a.Leaf, ValidityPeriodStart: a.Root.NotBefore, URI: a.URI})
	}
	logs := map[string]*root.TransparencyLog{}
	for _, l := range r.Logs {
		logs[hex.EncodeToString(l.LogID)] = &root.TransparencyLog{
			BaseURL:             l.URI,
			ID:                  l.LogID,
			ValidityPeriodStart: time.Now().Add(-authorityLifetime),
			HashFunc:            crypto.SHA256,
			PublicKey:           l.key.Public(),
			SignatureHashFunc:   crypto.SHA256,
		}
	}
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, fcas, nil, tsas, logs)
	if err != nil {
		t.Fatalf("trusted root: %v", err)
	}
	b, err := tr.MarshalJSON()
	if err != nil {
		t.Fatalf("encode trusted root: %v", err)
	}
	return b
}

// Write writes the trusted root to path.
func (r Root) Write(t testing.TB, path string) {
	t.Helper()
	if err := os.WriteFile(path, r.JSON(t), 0o644); err != nil {
		t.Fatalf("write trusted root: %v", err)
	}
}
