package attest

import (
	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/cssc-project/cssc/internal/keys"
)

// NewEnvelopeSigner signs DSSE envelopes with key directly, for tests
// that need envelopes Sign would not make.
func NewEnvelopeSigner(key keys.Signer) (*dsse.EnvelopeSigner, error) {
	v, err := newVerifier(key.Public())
	if err != nil {
		return nil, err
	}
	return dsse.NewEnvelopeSigner(&signer{key: key, verifier: v})
}
