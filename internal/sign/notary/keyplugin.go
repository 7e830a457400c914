package notary

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"

	"github.com/notaryproject/notation-core-go/signature"
	"github.com/notaryproject/notation-go/plugin/proto"
	"github.com/notaryproject/notation-plugin-framework-go/plugin"

	"github.com/cssc-project/cssc/internal/keys"
	"github.com/cssc-project/cssc/internal/version"
)

// keyPlugin lets notation-go sign with a keys.Signer — a crypto.Signer,
// possibly a KMS or HSM — without the private key ever leaving it.
//
// notation-go's built-in signer wants the private key itself (it hands it
// to the JWS and COSE libraries); for keys it cannot hold, it speaks the
// Notary Project plugin contract's SIGNATURE_GENERATOR.RAW capability: it
// builds the payload and the envelope and asks for a raw signature of the
// bytes to be signed. keyPlugin answers that contract in-process (no
// plugin binary, no plugin manager), so payload, envelope, signed
// attributes and timestamping all stay notation-go's.
type keyPlugin struct {
	key   keys.Signer
	chain []*x509.Certificate
	spec  signature.KeySpec
}

var _ plugin.SignPlugin = (*keyPlugin)(nil)

// newKeyPlugin checks that key's certificate chain suits the Notary
// Project (a supported key type and size, and the leaf certifying key).
func newKeyPlugin(key keys.Signer) (*keyPlugin, error) {
	chain := key.CertificateChain()
	if len(chain) == 0 {
		return nil, fmt.Errorf("key %s has no certificate chain: a Notary Project signature carries the signing certificate and its issuers", key.KeyRef())
	}
	spec, err := signature.ExtractKeySpec(chain[0])
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", key.KeyRef(), err)
	}
	if !publicKeyEqual(key.Public(), chain[0].PublicKey) {
		return nil, fmt.Errorf("key %s does not match the public key of its certificate %q", key.KeyRef(), chain[0].Subject)
	}
	return &keyPlugin{key: key, chain: chain, spec: spec}, nil
}

func publicKeyEqual(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}

// GetMetadata names cssc as the signing agent and offers raw signing.
func (p *keyPlugin) GetMetadata(context.Context, *plugin.GetMetadataRequest) (*plugin.GetMetadataResponse, error) {
	return &plugin.GetMetadataResponse{
		Name:                      "cssc",
		Description:               "cssc signing key " + p.key.KeyRef(),
		Version:                   version.Version,
		URL:                       "https://github.com/cssc-project/cssc",
		SupportedContractVersions: []string{plugin.ContractVersion},
		Capabilities:              []plugin.Capability{plugin.CapabilitySignatureGenerator},
	}, nil
}

// DescribeKey returns the key spec derived from the signing certificate.
func (p *keyPlugin) DescribeKey(_ context.Context, req *plugin.DescribeKeyRequest) (*plugin.DescribeKeyResponse, error) {
	ks, err := proto.EncodeKeySpec(p.spec)
	if err != nil {
		return nil, err
	}
	return &plugin.DescribeKeyResponse{KeyID: req.KeyID, KeySpec: ks}, nil
}

// GenerateSignature signs req.Payload with the algorithm the Notary
// Project assigns to the key: ECDSA with the curve's hash, the signature
// as the fixed-size r‖s that JWS and COSE use; RSA with RSASSA-PSS, salt
// length equal to the hash length.
func (p *keyPlugin) GenerateSignature(_ context.Context, req *plugin.GenerateSignatureRequest) (*plugin.GenerateSignatureResponse, error) {
	alg := p.spec.SignatureAlgorithm()
	hash := alg.Hash()
	if !hash.Available() {
		return nil, fmt.Errorf("sign with %s: hash for %v not available", p.key.KeyRef(), alg)
	}
	h := hash.New()
	h.Write(req.Payload)
	digest := h.Sum(nil)
	var sig []byte
	switch p.spec.Type {
	case signature.KeyTypeRSA:
		s, err := p.key.Sign(rand.Reader, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: hash})
		if err != nil {
			return nil, err
		}
		sig = s
	case signature.KeyTypeEC:
		der, err := p.key.Sign(rand.Reader, digest, hash)
		if err != nil {
			return nil, err
		}
		if sig, err = ecdsaRaw(der, (p.spec.Size+7)/8); err != nil {
			return nil, fmt.Errorf("sign with %s: %w", p.key.KeyRef(), err)
		}
	default:
		return nil, fmt.Errorf("sign with %s: unsupported key type", p.key.KeyRef())
	}
	salg, err := proto.EncodeSigningAlgorithm(alg)
	if err != nil {
		return nil, err
	}
	chain := make([][]byte, len(p.chain))
	for i, c := range p.chain {
		chain[i] = c.Raw
	}
	return &plugin.GenerateSignatureResponse{KeyID: req.KeyID, Signature: sig, SigningAlgorithm: salg, CertificateChain: chain}, nil
}

// GenerateEnvelope is not offered (GetMetadata does not list it).
func (p *keyPlugin) GenerateEnvelope(context.Context, *plugin.GenerateEnvelopeRequest) (*plugin.GenerateEnvelopeResponse, error) {
	return nil, errors.New("envelope generation is not supported: notation-go builds the envelope")
}

// ecdsaRaw converts an ASN.1 ECDSA signature (what crypto.Signer returns)
// to r‖s, each left-padded to size bytes.
func ecdsaRaw(der []byte, size int) ([]byte, error) {
	var rs struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(der, &rs)
	if err != nil || len(rest) != 0 || rs.R == nil || rs.S == nil || rs.R.Sign() <= 0 || rs.S.Sign() <= 0 {
		return nil, errors.New("ECDSA signature is not a DER SEQUENCE of two positive integers")
	}
	if rs.R.BitLen() > 8*size || rs.S.BitLen() > 8*size {
		return nil, errors.New("ECDSA signature is larger than the curve")
	}
	out := make([]byte, 2*size)
	rs.R.FillBytes(out[:size])
	rs.S.FillBytes(out[size:])
	return out, nil
}
