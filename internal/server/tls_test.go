package server_test

import (
	"crypto/tls"
	"crypto/x509/pkix"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/cssc-project/cssc/internal/server/servertest"
	"github.com/cssc-project/cssc/internal/tlsutil/tlstest"
)

func httpsClient(cfg *tls.Config) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
}

func whoami(t *testing.T, hc *http.Client, base string, who cred) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/api/v1/whoami", nil)
	who.apply(req)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("whoami: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// TestMutualTLS serves HTTPS on a non-loopback-safe configuration with
// client certificates: a certificate mapped to a robot logs in as it, one
// from another CA is refused at the handshake.
func TestMutualTLS(t *testing.T) {
	ca := tlstest.NewCA(t, "cssc test CA")
	certFile, keyFile := ca.Server(t, "127.0.0.1", "localhost")
	dir := t.TempDir()
	servertest.Init(t, dir)
	cfg := servertest.Config(dir)
	cfg.TLSCert, cfg.TLSKey, cfg.TLSClientCA, cfg.TLSClientAuth = certFile, keyFile, ca.CertFile, "optional"
	srv := servertest.StartWithClient(t, cfg, httpsClient(ca.ClientConfig(t, nil)))
	admin := cred{user: "admin", pass: servertest.AdminPassword}

	// A robot that a client certificate logs in as.
	c := client{t: t, base: srv.URL}
	http.DefaultTransport.(*http.Transport).TLSClientConfig = ca.ClientConfig(t, nil)
	defer func() { http.DefaultTransport.(*http.Transport).TLSClientConfig = nil }()
	c.api("POST", "/api/v1/users", admin, map[string]any{"name": "deployer", "kind": "robot",
		"cert_subject": "CN=deployer,O=acme", "grants": []map[string]string{{"role": "pull", "scope": "golden/**"}}}, nil)

	mapped, _, _ := ca.Client(t, pkix.Name{CommonName: "deployer", Organization: []string{"acme"}})
	unmapped, _, _ := ca.Client(t, pkix.Name{CommonName: "stranger"})
	foreign := tlstest.NewCA(t, "another CA")
	alien, _, _ := foreign.Client(t, pkix.Name{CommonName: "deployer", Organization: []string{"acme"}})

	status, who := whoami(t, httpsClient(ca.ClientConfig(t, &mapped)), srv.URL, cred{})
	if status != http.StatusOK || who["name"] != "deployer" || who["client_cert"] != "CN=deployer,O=acme" {
		t.Errorf("mapped certificate: %d %v, want robot deployer", status, who)
	}
	// Credentials win over the certificate, and the audit keeps both.
	status, who = whoami(t, httpsClient(ca.ClientConfig(t, &mapped)), srv.URL, admin)
	if status != http.StatusOK || who["name"] != "admin" || who["client_cert"] != "CN=deployer,O=acme" {
		t.Errorf("admin with a certificate: %d %v", status, who)
	}
	if status, _ := whoami(t, httpsClient(ca.ClientConfig(t, &unmapped)), srv.URL, cred{}); status != http.StatusUnauthorized {
		t.Errorf("certificate no robot maps: %d, want 401", status)
	}
	if status, _ := whoami(t, httpsClient(ca.ClientConfig(t, nil)), srv.URL, cred{}); status != http.StatusUnauthorized {
		t.Errorf("no certificate, no credentials: %d, want 401", status)
	}
	alienCfg := ca.ClientConfig(t, nil)
	// Go's client only offers a certificate from a CA the server names;
	// send it anyway, as a hostile client would.
	alienCfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &alien, nil }
	if _, err := httpsClient(alienCfg).Get(srv.URL + "/v2/"); err == nil {
		t.Error("a certificate from another CA was accepted")
	}
	// Plain HTTP to the TLS port gets nowhere.
	if resp, err := http.Get("http://" + srv.Host + "/v2/"); err == nil && resp.StatusCode != http.StatusBadRequest {
		t.Errorf("plain HTTP to the TLS port: %s", resp.Status)
	}
}

func TestMutualTLSRequired(t *testing.T) {
	ca := tlstest.NewCA(t, "cssc test CA")
	certFile, keyFile := ca.Server(t, "127.0.0.1")
	dir := t.TempDir()
	servertest.Init(t, dir)
	cfg := servertest.Config(dir)
	cfg.TLSCert, cfg.TLSKey, cfg.TLSClientCA = certFile, keyFile, ca.CertFile
	mapped, _, _ := ca.Client(t, pkix.Name{CommonName: "ci"})
	srv := servertest.StartWithClient(t, cfg, httpsClient(ca.ClientConfig(t, &mapped)))
	if _, err := httpsClient(ca.ClientConfig(t, nil)).Get(srv.URL + "/v2/"); err == nil {
		t.Error("--tls-client-ca without --tls-client-auth optional let a client in without a certificate")
	}
	if status, _ := whoami(t, httpsClient(ca.ClientConfig(t, &mapped)), srv.URL, cred{user: "admin", pass: servertest.AdminPassword}); status != http.StatusOK {
		t.Errorf("admin with a valid certificate: %d", status)
	}
}

func TestSelfSigned(t *testing.T) {
	dir := t.TempDir()
	cfg := servertest.Config(dir)
	cfg.TLSSelfSigned = true
	insecure := httpsClient(&tls.Config{InsecureSkipVerify: true}) //nolint:gosec // the test checks the generated certificate exists
	srv := servertest.StartWithClient(t, cfg, insecure)
	resp, err := insecure.Get(srv.URL + "/v2/")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("self-signed HTTPS: %v", err)
	}
	_ = resp.Body.Close()
	if len(resp.TLS.PeerCertificates) == 0 {
		t.Fatal("no certificate")
	}
	if _, err := os.Stat(filepath.Join(dir, "tls")); err != nil {
		t.Errorf("self-signed certificate not kept in the data directory: %v", err)
	}
	// A verifying client refuses it: it is for development only.
	if _, err := http.Get(srv.URL + "/v2/"); err == nil {
		t.Error("a verifying client accepted the self-signed certificate")
	}
}
