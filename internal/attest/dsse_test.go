package attest_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"github.com/cssc-project/cssc/internal/attest"
	"strings"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/cssc-project/cssc/internal/keys"
	"github.com/cssc-project/cssc/internal/sign/signtest"
)

func TestSignVerifyKeyTypes(t *testing.T) {
	ca := signtest.NewCA(t, "attest test CA", keys.ECDSAP256)
	for _, kt := range []keys.KeyType{keys.ECDSAP256, keys.ECDSAP384, keys.RSA3072} {
		t.Run(string(kt), func(t *testing.T) {
			key := ca.Issue(t, signtest.LeafOptions{KeyType: kt})
			stmt, err := attest.VerificationSummary(vsaOptions())
			if err != nil {
				t.Fatal(err)
			}
			env, err := attest.Sign(context.Background(), stmt, key)
			if err != nil {
				t.Fatal(err)
			}
			var e dsse.Envelope
			if err := json.Unmarshal(env, &e); err != nil {
				t.Fatal(err)
			}
			wantID, err := dsse.SHA256KeyID(key.Public())
			if err != nil {
				t.Fatal(err)
			}
			if e.PayloadType != attest.PayloadType || len(e.Signatures) != 1 || e.Signatures[0].KeyID != wantID {
				t.Errorf("envelope payloadType %q, signatures %+v; want %q and one signature with keyid %q", e.PayloadType, e.Signatures, attest.PayloadType, wantID)
			}
			want, err := attest.MarshalStatement(stmt)
			if err != nil {
				t.Fatal(err)
			}
			payload, err := base64.StdEncoding.DecodeString(e.Payload)
			if err != nil || !bytes.Equal(payload, want) {
				t.Errorf("payload %s (%v), want %s", payload, err, want)
			}
			got, err := attest.Verify(context.Background(), env, key.Public())
			if err != nil {
				t.Fatal(err)
			}
			gotJSON, err := attest.MarshalStatement(got)
			if err != nil || !bytes.Equal(gotJSON, want) {
				t.Errorf("verified statement %s (%v), want %s", gotJSON, err, want)
			}
		})
	}
}

// reenvelope signs payload as payloadType with key directly through the
// DSSE library, for envelopes attest.Sign would not make.
func reenvelope(t *testing.T, key keys.Signer, payloadType string, payload []byte) []byte {
	t.Helper()
	es, err := attest.NewEnvelopeSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	env, err := es.SignPayload(context.Background(), payloadType, payload)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVerifyRejects(t *testing.T) {
	ca := signtest.NewCA(t, "attest test CA", keys.ECDSAP256)
	key := ca.Issue(t, signtest.LeafOptions{})
	other := ca.Issue(t, signtest.LeafOptions{})
	stmt, err := attest.AcquisitionProvenance(provenanceOptions())
	if err != nil {
		t.Fatal(err)
	}
	env, err := attest.Sign(context.Background(), stmt, key)
	if err != nil {
		t.Fatal(err)
	}
	var e dsse.Envelope
	if err := json.Unmarshal(env, &e); err != nil {
		t.Fatal(err)
	}
	payload, err := base64.StdEncoding.DecodeString(e.Payload)
	if err != nil {
		t.Fatal(err)
	}
	modify := func(f func(*dsse.Envelope)) []byte {
		c := e
		c.Signatures = append([]dsse.Signature(nil), e.Signatures...)
		f(&c)
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tampered := bytes.Replace(payload, []byte("nginx:1.27"), []byte("nginx:1.28"), 1)
	if bytes.Equal(tampered, payload) {
		t.Fatal("tampering changed nothing")
	}
	oversized := modify(func(e *dsse.Envelope) {
		e.Signatures = append(e.Signatures, dsse.Signature{Sig: strings.Repeat("A", attest.MaxEnvelopeBytes)})
	})

	tests := []struct {
		name     string
		envelope []byte
		key      keys.Signer
		want     string
	}{
		{"tampered payload", modify(func(e *dsse.Envelope) { e.Payload = base64.StdEncoding.EncodeToString(tampered) }), key, "accepted signatures do not match threshold"},
		{"wrong key", env, other, "accepted signatures do not match threshold"},
		{"keyid of another key", modify(func(e *dsse.Envelope) { e.Signatures[0].KeyID = "SHA256:other" }), key, "accepted signatures do not match threshold"},
		{"payload type changed", modify(func(e *dsse.Envelope) { e.PayloadType = "application/json" }), key, `payload type "application/json"`},
		{"other payload type, validly signed", reenvelope(t, key, "application/vnd.in-toto.provenance+json", payload), key, "payload type"},
		{"in-toto type, not a statement", reenvelope(t, key, attest.PayloadType, []byte(`{"_type":"x"}`)), key, "parse in-toto statement"},
		{"no signatures", modify(func(e *dsse.Envelope) { e.Signatures = nil }), key, "no signature"},
		{"oversized", oversized, key, "more than the 1048576 allowed"},
		{"not json", []byte("{"), key, "parse DSSE envelope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := attest.Verify(context.Background(), tt.envelope, tt.key.Public())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Verify = %v, %v; want an error containing %q", s, err, tt.want)
			}
		})
	}
}
