package signtest

import (
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/digitorus/timestamp"

	"github.com/cssc-project/cssc/internal/keys"
)

// Object identifiers for the timestamp authority's certificate.
var (
	oidExtKeyUsage    = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidTimeStamping   = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 8}
	testTSAPolicyOID  = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1, 1} // private arc, tests only
	maxTSARequestSize = int64(64 << 10)
)

// TSA is a running RFC 3161 timestamp authority.
type TSA struct {
	URL  string
	Root *CA // the trust anchor (a tsa trust store holds Root.Cert)
	Cert *x509.Certificate
	key  crypto.Signer
}

// StartTSA starts an RFC 3161 timestamp authority over HTTP on 127.0.0.1
// until the test ends, and returns its URL and its root certificate (as a
// pool, for signing, and as PEM, for a tsa trust store).
func StartTSA(t testing.TB) (url string, roots *x509.CertPool, rootPEM []byte) {
	t.Helper()
	tsa := NewTSA(t)
	roots = x509.NewCertPool()
	roots.AddCert(tsa.Root.Cert)
	return tsa.URL, roots, tsa.Root.PEM()
}

// NewTSA is StartTSA returning the authority itself.
//
// Its signing certificate meets RFC 3161 section 2.3 and the Notary
// Project's requirements: issued by a self-signed root, key usage
// digitalSignature, exactly one extended key usage, timeStamping, in an
// extension marked critical. Tokens carry the signing certificate and the
// ESS signingCertificateV2 attribute; genTime is the current time in UTC.
func NewTSA(t testing.TB) *TSA {
	t.Helper()
	root := NewCA(t, "cssc test TSA root", keys.ECDSAP256)
	key := NewKey(t, keys.ECDSAP256)
	eku, err := asn1.Marshal([]asn1.ObjectIdentifier{oidTimeStamping})
	if err != nil {
		t.Fatalf("signtest: encode extended key usage: %v", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: "cssc test TSA", Organization: []string{"cssc test"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtraExtensions:       []pkix.Extension{{Id: oidExtKeyUsage, Critical: true, Value: eku}},
	}
	cert := create(t, tmpl, root.Cert, key.Public(), root.Key)
	tsa := &TSA{Root: root, Cert: cert, key: key}
	srv := httptest.NewServer(http.HandlerFunc(tsa.serve))
	t.Cleanup(srv.Close)
	tsa.URL = srv.URL
	return tsa
}

func (tsa *TSA) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST a timestamp query", http.StatusMethodNotAllowed)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/timestamp-query" {
		http.Error(w, "want Content-Type application/timestamp-query, got "+ct, http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxTSARequestSize))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	resp, err := tsa.respond(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/timestamp-reply")
	_, _ = w.Write(resp)
}

// respond answers a DER timestamp request: a granted response, or a
// rejection for a request it cannot parse.
func (tsa *TSA) respond(der []byte) ([]byte, error) {
	req, err := timestamp.ParseRequest(der)
	if err != nil {
		return timestamp.CreateErrorResponse(timestamp.Rejection, timestamp.BadRequest)
	}
	policy := req.TSAPolicyOID
	if len(policy) == 0 {
		policy = testTSAPolicyOID
	}
	ts := &timestamp.Timestamp{
		HashAlgorithm:     req.HashAlgorithm,
		HashedMessage:     req.HashedMessage,
		Time:              time.Now().UTC(),
		Accuracy:          time.Second,
		Policy:            policy,
		Nonce:             req.Nonce,
		AddTSACertificate: req.Certificates,
	}
	return ts.CreateResponseWithOpts(tsa.Cert, tsa.key, crypto.SHA256)
}
