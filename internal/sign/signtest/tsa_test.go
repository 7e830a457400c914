package signtest_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/notaryproject/tspclient-go"
	"github.com/notaryproject/tspclient-go/pki"

	"github.com/cssc-project/cssc/internal/sign/signtest"
)

func TestTSA(t *testing.T) {
	url, roots, rootPEM := signtest.StartTSA(t)
	if len(rootPEM) == 0 {
		t.Fatal("no root PEM")
	}
	ts, err := tspclient.NewHTTPTimestamper(nil, url)
	if err != nil {
		t.Fatal(err)
	}
	message := []byte("the signature being timestamped")
	before := time.Now().Add(-time.Second)
	for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512} {
		t.Run(h.String(), func(t *testing.T) {
			req, err := tspclient.NewRequest(tspclient.RequestOptions{Content: message, HashAlgorithm: h})
			if err != nil {
				t.Fatal(err)
			}
			// Timestamp validates the response against the request
			// (status, imprint, nonce, certificate requested and present).
			resp, err := ts.Timestamp(context.Background(), req)
			if err != nil {
				t.Fatalf("timestamp: %v", err)
			}
			token, err := resp.SignedToken()
			if err != nil {
				t.Fatal(err)
			}
			// Verify checks the chain to the root and RFC 3161's one
			// critical timeStamping extended key usage.
			chain, err := token.Verify(context.Background(), x509.VerifyOptions{Roots: roots})
			if err != nil {
				t.Fatalf("verify token: %v", err)
			}
			if len(chain) != 2 || !chain[1].IsCA {
				t.Errorf("chain of %d certificates, want the TSA's and its root", len(chain))
			}
			info, err := token.Info()
			if err != nil {
				t.Fatal(err)
			}
			got, err := info.Validate(message)
			if err != nil {
				t.Fatalf("token does not cover the message: %v", err)
			}
			if got.Value.Before(before) || got.Value.After(time.Now().Add(time.Second)) || got.Accuracy != time.Second {
				t.Errorf("timestamp %v ± %v, want now ± 1s", got.Value, got.Accuracy)
			}
			if _, err := info.Validate([]byte("another message")); err == nil {
				t.Error("token validates another message")
			}
		})
	}

	t.Run("untrusted root", func(t *testing.T) {
		_, otherRoots, _ := signtest.StartTSA(t)
		req, err := tspclient.NewRequest(tspclient.RequestOptions{Content: message, HashAlgorithm: crypto.SHA256})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := ts.Timestamp(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		token, err := resp.SignedToken()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := token.Verify(context.Background(), x509.VerifyOptions{Roots: otherRoots}); err == nil {
			t.Error("token verifies with another TSA's root")
		}
	})

	t.Run("garbage request", func(t *testing.T) {
		r, err := http.Post(url, "application/timestamp-query", bytes.NewReader([]byte("not DER")))
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = r.Body.Close() }()
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Fatal(err)
		}
		var resp tspclient.Response
		if err := resp.UnmarshalBinary(body); err != nil {
			t.Fatalf("response: %v", err)
		}
		if resp.Status.Status != pki.StatusRejection {
			t.Errorf("status %v, want rejection", resp.Status.Status)
		}
	})
}

// The TSA certificate's extended key usage extension is critical and
// holds timeStamping only (RFC 3161 section 2.3).
func TestTSACertificate(t *testing.T) {
	tsa := signtest.NewTSA(t)
	oidEKU := asn1.ObjectIdentifier{2, 5, 29, 37}
	found := false
	for _, e := range tsa.Cert.Extensions {
		if e.Id.Equal(oidEKU) {
			found = true
			if !e.Critical {
				t.Error("extended key usage not critical")
			}
		}
	}
	if !found || len(tsa.Cert.ExtKeyUsage) != 1 || tsa.Cert.ExtKeyUsage[0] != x509.ExtKeyUsageTimeStamping || tsa.Cert.IsCA {
		t.Errorf("extended key usage %v (found %v), CA %v; want timeStamping only", tsa.Cert.ExtKeyUsage, found, tsa.Cert.IsCA)
	}
	if tsa.Cert.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("key usage %v, want digitalSignature", tsa.Cert.KeyUsage)
	}
}
