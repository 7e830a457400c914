package attest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/cssc-project/cssc/internal/keys"
)

// PayloadType is the DSSE payload type of an in-toto statement; Verify
// accepts no other.
const PayloadType = "application/vnd.in-toto+json"

// MaxEnvelopeBytes bounds an envelope Verify, Attach and Attestations
// read: cssc's statements are a few kilobytes.
const MaxEnvelopeBytes = 1 << 20

// Sign encodes stmt (MarshalStatement) and signs it in a DSSE envelope,
// returned as JSON. The signature is over the DSSE pre-authentication
// encoding, as cosign verify-attestation --key checks it: SHA-256 with
// ECDSA (ASN.1) or RSA PKCS #1 v1.5, or pure Ed25519. The keyid is the
// key's SHA-256 fingerprint (SSH form, "SHA256:…"), which the DSSE library
// computes for a verifier that names no key id; key.KeyRef() is a local
// name that means nothing to another verifier.
func Sign(ctx context.Context, stmt *Statement, key keys.Signer) ([]byte, error) {
	if err := stmt.Validate(); err != nil {
		return nil, fmt.Errorf("sign statement: %w", err)
	}
	payload, err := MarshalStatement(stmt)
	if err != nil {
		return nil, fmt.Errorf("sign statement: %w", err)
	}
	v, err := newVerifier(key.Public())
	if err != nil {
		return nil, fmt.Errorf("sign statement with %s: %w", key.KeyRef(), err)
	}
	es, err := dsse.NewEnvelopeSigner(&signer{key: key, verifier: v})
	if err != nil {
		return nil, fmt.Errorf("sign statement with %s: %w", key.KeyRef(), err)
	}
	env, err := es.SignPayload(ctx, PayloadType, payload)
	if err != nil {
		return nil, fmt.Errorf("sign statement with %s: %w", key.KeyRef(), err)
	}
	b, err := json.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("encode envelope: %w", err)
	}
	return b, nil
}

// Verify checks that envelope is a DSSE envelope of an in-toto statement
// (payload type exactly PayloadType, at most MaxEnvelopeBytes) signed by
// pub, and returns the statement parsed from the signed bytes.
func Verify(ctx context.Context, envelope []byte, pub crypto.PublicKey) (*Statement, error) {
	env, err := decodeEnvelope(envelope)
	if err != nil {
		return nil, fmt.Errorf("verify attestation: %w", err)
	}
	v, err := newVerifier(pub)
	if err != nil {
		return nil, fmt.Errorf("verify attestation: %w", err)
	}
	ev, err := dsse.NewEnvelopeVerifier(v)
	if err != nil {
		return nil, fmt.Errorf("verify attestation: %w", err)
	}
	_, body, err := ev.VerifyAndDecode(ctx, env)
	if err != nil {
		return nil, fmt.Errorf("verify attestation signed by %s: %w", v.id, err)
	}
	s, err := ParseStatement(body)
	if err != nil {
		return nil, fmt.Errorf("verify attestation: %w", err)
	}
	return s, nil
}

// decodeEnvelope parses a DSSE envelope of an in-toto statement without
// checking its signatures.
func decodeEnvelope(b []byte) (*dsse.Envelope, error) {
	if len(b) > MaxEnvelopeBytes {
		return nil, fmt.Errorf("envelope has %d bytes, more than the %d allowed", len(b), MaxEnvelopeBytes)
	}
	env := &dsse.Envelope{}
	if err := json.Unmarshal(b, env); err != nil {
		return nil, fmt.Errorf("parse DSSE envelope: %w", err)
	}
	if env.PayloadType != PayloadType {
		return nil, fmt.Errorf("DSSE payload type %q, want %q", env.PayloadType, PayloadType)
	}
	if len(env.Signatures) == 0 {
		return nil, errors.New("DSSE envelope has no signature")
	}
	return env, nil
}

// unverifiedStatement is the statement in an envelope, signatures not
// checked: for checks that the envelope is attached where it belongs.
func unverifiedStatement(b []byte) (*Statement, error) {
	env, err := decodeEnvelope(b)
	if err != nil {
		return nil, err
	}
	body, err := env.DecodeB64Payload()
	if err != nil {
		return nil, fmt.Errorf("DSSE payload: %w", err)
	}
	return ParseStatement(body)
}

// signer adapts a keys.Signer to dsse.Signer.
type signer struct {
	key      keys.Signer
	verifier *verifier
}

// Sign signs the PAE-encoded data and checks the signature as Verify will:
// a signer that signs otherwise (an HSM doing RSA-PSS) fails here, not at
// the first verifier.
func (s *signer) Sign(_ context.Context, data []byte) ([]byte, error) {
	var sig []byte
	var err error
	switch s.key.Public().(type) {
	case ed25519.PublicKey:
		sig, err = s.key.Sign(rand.Reader, data, crypto.Hash(0))
	case *ecdsa.PublicKey, *rsa.PublicKey:
		h := sha256.Sum256(data)
		sig, err = s.key.Sign(rand.Reader, h[:], crypto.SHA256)
	default:
		return nil, fmt.Errorf("unsupported key type %T (want ECDSA, RSA or Ed25519)", s.key.Public())
	}
	if err != nil {
		return nil, err
	}
	if err := s.verifier.v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(data)); err != nil {
		return nil, fmt.Errorf("the key's signature does not verify (SHA-256, PKCS #1 v1.5 for RSA): %w", err)
	}
	return sig, nil
}

// KeyID is the key's SHA-256 fingerprint.
func (s *signer) KeyID() (string, error) { return s.verifier.id, nil }

// verifier adapts a public key to dsse.Verifier, checking as sigstore's
// verifiers (and so cosign) do.
type verifier struct {
	pub crypto.PublicKey
	v   signature.Verifier
	id  string
}

func newVerifier(pub crypto.PublicKey) (*verifier, error) {
	switch pub.(type) {
	case *ecdsa.PublicKey, *rsa.PublicKey, ed25519.PublicKey:
	default:
		return nil, fmt.Errorf("unsupported public key type %T (want ECDSA, RSA or Ed25519)", pub)
	}
	v, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("load verifier: %w", err)
	}
	id, err := dsse.SHA256KeyID(pub)
	if err != nil {
		return nil, fmt.Errorf("key fingerprint: %w", err)
	}
	return &verifier{pub: pub, v: v, id: id}, nil
}

// Verify checks sig over the PAE-encoded data.
func (v *verifier) Verify(_ context.Context, data, sig []byte) error {
	return v.v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(data))
}

// KeyID is the key's SHA-256 fingerprint.
func (v *verifier) KeyID() (string, error) { return v.id, nil }

// Public returns the key.
func (v *verifier) Public() crypto.PublicKey { return v.pub }
