package tlsutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cssc-project/cssc/internal/tlsutil/tlstest"
)

// serve starts an HTTPS server on 127.0.0.1 with cfg; it answers with the
// client's certificate subject.
func serve(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, ClientSubject(r.TLS))
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point of some tests
	// Not StartTLS: it would put its own certificate in cfg.Certificates,
	// which wins over GetCertificate for clients that send no server name.
	srv.Listener = tls.NewListener(srv.Listener, cfg)
	srv.Start()
	t.Cleanup(srv.Close)
	return "https://" + srv.Listener.Addr().String() + "/"
}

// get makes one request on a fresh connection; it returns the body and the
// server's certificate.
func get(t *testing.T, url string, cfg *tls.Config) (string, *x509.Certificate, error) {
	t.Helper()
	client := &http.Client{
		Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true},
		Timeout:   10 * time.Second,
	}
	resp, err := client.Get(url)
	if err != nil {
		return "", nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", nil, err
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %s", url, resp.Status)
	}
	return string(body), resp.TLS.PeerCertificates[0], nil
}

// presenting is a client configuration that always sends cert, even when
// the server did not name its issuer among the CAs it accepts (which would
// make a Go client send nothing), so the server really has to verify it.
func presenting(cfg *tls.Config, cert tls.Certificate) *tls.Config {
	cfg = cfg.Clone()
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	return cfg
}

// poolOf trusts the certificates in a PEM file.
func poolOf(t *testing.T, file string) *x509.CertPool {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		t.Fatalf("%s holds no certificate", file)
	}
	return pool
}

// clock is a settable time source, safe for the server's goroutines.
type clock struct{ ns atomic.Int64 }

func newClock() *clock                   { c := &clock{}; c.ns.Store(time.Now().UnixNano()); return c }
func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }
func (c *clock) at(d time.Duration) func() {
	return func() { c.ns.Store(time.Now().Add(d).UnixNano()) }
}

func TestServeHTTPS(t *testing.T) {
	ca := tlstest.NewCA(t, "test CA")
	other := tlstest.NewCA(t, "other CA")
	certFile, keyFile := ca.Server(t)
	cfg, info, err := ServerConfig(Options{CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{certFile, "CN=127.0.0.1", "fingerprint SHA256 "} {
		if !strings.Contains(info, want) {
			t.Errorf("info %q does not mention %q", info, want)
		}
	}
	url := serve(t, cfg)

	tls11 := ca.ClientConfig(t, nil)
	tls11.MinVersion, tls11.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	tls12 := ca.ClientConfig(t, nil)
	tls12.MaxVersion = tls.VersionTLS12
	cbc := tls12.Clone()
	cbc.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256}
	for _, tc := range []struct {
		name    string
		client  *tls.Config
		wantErr string
	}{
		{"client trusts the CA", ca.ClientConfig(t, nil), ""},
		{"TLS 1.2 client", tls12, ""},
		{"client trusts another CA", other.ClientConfig(t, nil), "unknown authority"},
		{"TLS 1.1 client", tls11, "protocol version"},
		{"TLS 1.2 client offering only CBC suites", cbc, "handshake failure"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, peer, err := get(t, url, tc.client)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if peer.Subject.CommonName != "127.0.0.1" {
				t.Errorf("server certificate %s, want the one issued for 127.0.0.1", peer.Subject)
			}
		})
	}
}

func TestSelfSigned(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	certFile := filepath.Join(dir, SelfSignedCertName)
	keyFile := filepath.Join(dir, SelfSignedKeyName)
	hostname, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	clk := newClock()
	var first, prev string // fingerprints
	for _, tc := range []struct {
		name    string
		hosts   []string
		setup   func() // before ServerConfig
		want    string // "generated", "reused"
		why     string // in info, when generated
		wantSAN []string
	}{
		{name: "first start generates, default hosts", want: "generated",
			wantSAN: []string{"localhost", "127.0.0.1", "::1", strings.ToLower(hostname)}},
		{name: "second start reuses", want: "reused"},
		{name: "hosts changed", hosts: []string{"127.0.0.1", "registry.test"}, want: "generated",
			why: "it was for", wantSAN: []string{"127.0.0.1", "registry.test"}},
		{name: "same hosts in another order", hosts: []string{"Registry.Test", "127.0.0.1"}, want: "reused"},
		{name: "key replaced", hosts: []string{"127.0.0.1", "registry.test"}, want: "generated", why: "does not match",
			setup: func() {
				ca := tlstest.NewCA(t, "x")
				_, _, k := ca.Client(t, pkix.Name{CommonName: "x"})
				copyFile(t, k, keyFile)
			}},
		{name: "less than a day left", hosts: []string{"127.0.0.1", "registry.test"}, want: "generated", why: "it expires at",
			setup: clk.at(365*24*time.Hour - 12*time.Hour)},
		{name: "a year on, reused", hosts: []string{"127.0.0.1", "registry.test"}, want: "reused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup()
			}
			cfg, info, err := serverConfig(Options{SelfSignedDir: dir, Hosts: tc.hosts}, clk.now)
			if err != nil {
				t.Fatal(err)
			}
			t.Log(info)
			fp := Fingerprint(certDER(t, certFile))
			if !strings.Contains(info, "fingerprint SHA256 "+fp) || !strings.Contains(info, "FOR DEVELOPMENT ONLY") {
				t.Errorf("info %q lacks the fingerprint %s or the warning", info, fp)
			}
			switch tc.want {
			case "generated":
				if !strings.Contains(info, "generated at "+certFile) || !strings.Contains(info, tc.why) {
					t.Errorf("info %q does not say it generated %s because %q", info, certFile, tc.why)
				}
				if fp == prev {
					t.Errorf("fingerprint unchanged, want a new certificate")
				}
			case "reused":
				if !strings.Contains(info, "reusing") || fp != prev {
					t.Errorf("fingerprint %s, info %q; want the previous certificate %s reused", fp, info, prev)
				}
			}
			if first == "" {
				first = fp
			}
			prev = fp

			leaf, err := x509.ParseCertificate(certDER(t, certFile))
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantSAN != nil && !sameSet(certHosts(leaf), tc.wantSAN) {
				t.Errorf("SANs %v, want %v", certHosts(leaf), tc.wantSAN)
			}
			if d := leaf.NotAfter.Sub(leaf.NotBefore); d < 365*24*time.Hour {
				t.Errorf("valid for %s, want a year", d)
			}
			if k, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
				t.Errorf("key %T, want ECDSA P-256", leaf.PublicKey)
			}
			st, err := os.Stat(keyFile)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != 0o600 {
				t.Errorf("key mode %v, want 0600", st.Mode().Perm())
			}

			if time.Until(clk.now()) > time.Hour {
				return // clients on the real clock would not accept it yet
			}
			client := &tls.Config{RootCAs: poolOf(t, certFile), MinVersion: tls.VersionTLS12}
			if _, peer, err := get(t, serve(t, cfg), client); err != nil {
				t.Fatalf("client trusting %s: %v", certFile, err)
			} else if Fingerprint(peer.Raw) != fp {
				t.Errorf("served %s, want %s", Fingerprint(peer.Raw), fp)
			}
		})
	}
	if first == prev {
		t.Errorf("certificate never replaced")
	}
}

func TestClientAuth(t *testing.T) {
	ca := tlstest.NewCA(t, "clients CA")
	other := tlstest.NewCA(t, "other CA")
	serverCert, serverKey := ca.Server(t)
	good, _, _ := ca.Client(t, pkix.Name{CommonName: "deployer", Organization: []string{"acme"}})
	stranger, _, _ := other.Client(t, pkix.Name{CommonName: "deployer", Organization: []string{"acme"}})
	noCert := ca.ClientConfig(t, nil)
	withGood := presenting(ca.ClientConfig(t, nil), good)
	withStranger := presenting(ca.ClientConfig(t, nil), stranger)

	urls := map[string]string{}
	for _, mode := range []string{"", ClientAuthRequire, ClientAuthOptional} {
		cfg, info, err := ServerConfig(Options{CertFile: serverCert, KeyFile: serverKey, ClientCAFile: ca.CertFile, ClientAuth: mode})
		if err != nil {
			t.Fatal(err)
		}
		want := "client certificates required"
		if mode == ClientAuthOptional {
			want = "client certificates verified when presented"
		}
		if !strings.Contains(info, want) || !strings.Contains(info, ca.CertFile) {
			t.Errorf("mode %q: info %q, want it to say %q and name %s", mode, info, want, ca.CertFile)
		}
		urls[mode] = serve(t, cfg)
	}

	for _, tc := range []struct {
		name        string
		mode        string
		client      *tls.Config
		wantSubject string
		wantErr     string // the server's refusal
	}{
		{"default is require: no certificate", "", noCert, "", "certificate required"},
		{"require: no certificate", ClientAuthRequire, noCert, "", "certificate required"},
		{"require: certificate from another CA", ClientAuthRequire, withStranger, "", "unknown certificate authority"},
		{"require: certificate from the CA", ClientAuthRequire, withGood, "CN=deployer,O=acme", ""},
		{"require: Go client picks the certificate itself", ClientAuthRequire, ca.ClientConfig(t, &good), "CN=deployer,O=acme", ""},
		{"optional: no certificate", ClientAuthOptional, noCert, "", ""},
		{"optional: certificate from another CA", ClientAuthOptional, withStranger, "", "unknown certificate authority"},
		{"optional: certificate from the CA", ClientAuthOptional, withGood, "CN=deployer,O=acme", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			subject, _, err := get(t, urls[tc.mode], tc.client)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v (subject %q), want a refusal saying %q", err, subject, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if subject != tc.wantSubject {
				t.Errorf("ClientSubject = %q, want %q", subject, tc.wantSubject)
			}
		})
	}
}

func TestReload(t *testing.T) {
	ca := tlstest.NewCA(t, "test CA")
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	c1, k1 := ca.Server(t)
	copyFile(t, c1, certFile)
	copyFile(t, k1, keyFile)

	var mu sync.Mutex
	var reloads []string
	onReload := func(info string, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			info = "error: " + err.Error()
		}
		reloads = append(reloads, info)
	}
	takeReloads := func() []string {
		mu.Lock()
		defer mu.Unlock()
		r := reloads
		reloads = nil
		return r
	}

	clk := newClock()
	cfg, _, err := serverConfig(Options{CertFile: certFile, KeyFile: keyFile, OnReload: onReload}, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	url := serve(t, cfg)
	client := ca.ClientConfig(t, nil)
	served := func() string {
		t.Helper()
		_, peer, err := get(t, url, client)
		if err != nil {
			t.Fatal(err)
		}
		return Fingerprint(peer.Raw)
	}
	fp := func(file string) string { return Fingerprint(certDER(t, file)) }

	c2, k2 := ca.Server(t)
	c3, k3 := ca.Server(t)
	for _, tc := range []struct {
		name    string
		change  func()
		advance time.Duration
		want    string // fingerprint served
		reload  string // in what OnReload was told ("" for not called)
	}{
		{"unchanged", func() {}, 2 * time.Second, fp(c1), ""},
		{"rewritten in place, within a second of the last look", func() {
			copyFile(t, k2, keyFile)
			copyFile(t, c2, certFile)
		}, 0, fp(c1), ""},
		{"a second later", func() {}, time.Second, fp(c2), "reloaded TLS certificate " + certFile},
		{"new certificate, old key", func() { renameCopy(t, c3, certFile) }, 2 * time.Second, fp(c2), "does not match"},
		{"still the old key: not reported again", func() {}, 2 * time.Second, fp(c2), ""},
		{"new key arrives", func() { renameCopy(t, k3, keyFile) }, 2 * time.Second, fp(c3), "reloaded"},
		{"key removed", func() {
			if err := os.Remove(keyFile); err != nil {
				t.Fatal(err)
			}
		}, 2 * time.Second, fp(c3), "no such file"},
	} {
		tc.change()
		clk.advance(tc.advance)
		if got := served(); got != tc.want {
			t.Errorf("%s: served %s, want %s", tc.name, got, tc.want)
		}
		got := takeReloads()
		switch {
		case tc.reload == "" && len(got) > 0:
			t.Errorf("%s: OnReload called: %q", tc.name, got)
		case tc.reload != "" && (len(got) != 1 || !strings.Contains(got[0], tc.reload)):
			t.Errorf("%s: OnReload got %q, want one call saying %q", tc.name, got, tc.reload)
		}
	}
}

func TestServerConfigErrors(t *testing.T) {
	ca := tlstest.NewCA(t, "test CA")
	certFile, keyFile := ca.Server(t)
	_, otherKey := ca.Server(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	notPEM := write("not.pem", "hello\n")
	missing := filepath.Join(dir, "missing.crt")
	_, expiredCert, expiredKey := ca.Issue(t, &x509.Certificate{
		Subject:   pkix.Name{CommonName: "old"},
		NotBefore: time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:  time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
	})

	for _, tc := range []struct {
		name string
		opts Options
		want []string // all in the error
	}{
		{"nothing to serve", Options{}, []string{"no TLS certificate", "--tls-self-signed"}},
		{"key without certificate", Options{KeyFile: keyFile}, []string{keyFile, "--tls-key needs --tls-cert"}},
		{"key without certificate, self-signed dir set", Options{KeyFile: keyFile, SelfSignedDir: dir}, []string{"--tls-key needs --tls-cert"}},
		{"certificate without key", Options{CertFile: certFile}, []string{certFile, "--tls-cert needs --tls-key"}},
		{"missing certificate", Options{CertFile: missing, KeyFile: keyFile}, []string{missing, "no such file"}},
		{"missing key", Options{CertFile: certFile, KeyFile: missing}, []string{"TLS key", missing, "no such file"}},
		{"unreadable certificate", Options{CertFile: dir, KeyFile: keyFile}, []string{dir, "is a directory"}},
		{"certificate file not PEM", Options{CertFile: notPEM, KeyFile: keyFile}, []string{notPEM, "no PEM CERTIFICATE"}},
		{"key file not PEM", Options{CertFile: certFile, KeyFile: notPEM}, []string{notPEM, "no PEM PRIVATE KEY"}},
		{"cert and key swapped", Options{CertFile: keyFile, KeyFile: certFile}, []string{keyFile, "no PEM CERTIFICATE"}},
		{"key file holds a certificate", Options{CertFile: certFile, KeyFile: certFile}, []string{"swapped"}},
		{"key does not match", Options{CertFile: certFile, KeyFile: otherKey}, []string{otherKey, "does not match", certFile}},
		{"expired", Options{CertFile: expiredCert, KeyFile: expiredKey}, []string{expiredCert, "expired", "NotAfter 2020-01-01T00:00:00Z"}},
		{"client CA file missing", Options{CertFile: certFile, KeyFile: keyFile, ClientCAFile: missing}, []string{"client CA", missing}},
		{"client CA file without certificates", Options{CertFile: certFile, KeyFile: keyFile, ClientCAFile: notPEM}, []string{notPEM, "no PEM CERTIFICATE"}},
		{"client CA file holding only a key", Options{CertFile: certFile, KeyFile: keyFile, ClientCAFile: keyFile}, []string{keyFile, "no PEM CERTIFICATE"}},
		{"unknown client auth mode", Options{CertFile: certFile, KeyFile: keyFile, ClientCAFile: ca.CertFile, ClientAuth: "maybe"}, []string{`"maybe"`, "require", "optional"}},
		{"client auth without CA", Options{CertFile: certFile, KeyFile: keyFile, ClientAuth: "optional"}, []string{"--tls-client-ca"}},
		{"self-signed dir cannot be created", Options{SelfSignedDir: filepath.Join(notPEM, "sub")}, []string{"self-signed", notPEM}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _, err := ServerConfig(tc.opts)
			if err == nil {
				t.Fatalf("no error (config %v)", cfg != nil)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	// The file errors keep the cause for callers that look.
	if _, _, err := ServerConfig(Options{CertFile: missing, KeyFile: keyFile}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v does not wrap os.ErrNotExist", err)
	}
}

func TestClientSubject(t *testing.T) {
	withSubject := func(rdns pkix.RDNSequence) *x509.Certificate {
		raw, err := asn1.Marshal(rdns)
		if err != nil {
			t.Fatal(err)
		}
		return &x509.Certificate{RawSubject: raw}
	}
	cn := asn1.ObjectIdentifier{2, 5, 4, 3}
	o := asn1.ObjectIdentifier{2, 5, 4, 10}
	ou := asn1.ObjectIdentifier{2, 5, 4, 11}
	leaf := withSubject(pkix.RDNSequence{
		{{Type: o, Value: "acme"}},
		{{Type: ou, Value: "ci"}},
		{{Type: cn, Value: "deployer"}},
	})
	for _, tc := range []struct {
		name string
		cs   *tls.ConnectionState
		want string
	}{
		{"no TLS", nil, ""},
		{"no client certificate", &tls.ConnectionState{}, ""},
		{"presented but not verified", &tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}}, ""},
		{"verified", &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{leaf}}}, "CN=deployer,OU=ci,O=acme"},
		{"special characters escaped", &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{
			withSubject(pkix.RDNSequence{{{Type: o, Value: "acme, inc"}}, {{Type: cn, Value: "#robot+1"}}}),
		}}}, `CN=\#robot\+1,O=acme\, inc`},
		{"encoded order kept", &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{
			withSubject(pkix.RDNSequence{{{Type: cn, Value: "deployer"}}, {{Type: o, Value: "acme"}}}),
		}}}, "O=acme,CN=deployer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ClientSubject(tc.cs); got != tc.want {
				t.Errorf("ClientSubject = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestIsLoopback(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{"127.0.0.1:5000", true},
		{"127.1.2.3:5000", true},
		{"[::1]:0", true},
		{"[::1%lo]:5000", true},
		{"localhost:5000", true},
		{"LOCALHOST:5000", true},
		{"localhost.:5000", true},
		{"[::ffff:127.0.0.1]:5000", true},
		{"127.0.0.1", true},
		{"::1", true},
		{":5000", false},
		{"0.0.0.0:5000", false},
		{"[::]:5000", false},
		{"192.168.1.10:5000", false},
		{"[2001:db8::1]:5000", false},
		{"example.com:5000", false},
		{"localhost.example.com:5000", false},
		{"", false},
	} {
		if got := IsLoopback(tc.addr); got != tc.want {
			t.Errorf("IsLoopback(%q) = %v, want %v", tc.addr, got, tc.want)
		}
	}
}

func TestFingerprint(t *testing.T) {
	got := Fingerprint([]byte("abc"))
	want := "BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:B0:03:61:A3:96:17:7A:9C:B4:10:FF:61:F2:00:15:AD"
	if got != want {
		t.Errorf("Fingerprint = %s, want %s", got, want)
	}
}

func certDER(t *testing.T, file string) []byte {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("%s does not start with a certificate", file)
	}
	return block.Bytes
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// renameCopy replaces to by renaming a copy of from over it, as tools that
// write certificates atomically do.
func renameCopy(t *testing.T, from, to string) {
	t.Helper()
	tmp := to + ".new"
	copyFile(t, from, tmp)
	if err := os.Rename(tmp, to); err != nil {
		t.Fatal(err)
	}
}
