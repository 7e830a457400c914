// Package tlsutil builds the TLS configuration `cssc serve` listens with:
// a certificate and key from files (re-read when they change, so a renewed
// certificate needs no restart), or a self-signed one generated for
// development; optionally client certificates (mTLS) checked against a CA,
// whose subject the server maps to a robot identity.
//
// The flags that fill Options (--tls-cert, --tls-key, --tls-client-ca,
// --tls-client-auth, --tls-self-signed, --insecure-http) are wired by the
// server; see docs/tls.md.
package tlsutil

import (
	"crypto/tls"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// Client authentication modes (Options.ClientAuth).
const (
	ClientAuthRequire  = "require"  // every client presents a certificate issued by the CA
	ClientAuthOptional = "optional" // a client may present one; if it does, it must verify
)

// Options says where the server's certificate comes from and whether
// clients present certificates.
type Options struct {
	CertFile, KeyFile string // PEM; the certificate file may hold the chain after the leaf
	ClientCAFile      string // PEM bundle of CAs that issue client certificates
	// ClientAuth is "require" (the default when ClientCAFile is set) or
	// "optional" (a certificate is verified when a client presents one).
	ClientAuth string
	// SelfSignedDir, used when CertFile is empty, holds a self-signed
	// certificate (tls-self-signed.crt, tls-self-signed.key): reused while
	// it is valid for more than 24 hours and names exactly Hosts, otherwise
	// generated (ECDSA P-256, valid one year).
	SelfSignedDir string
	// Hosts are the names and IP addresses the self-signed certificate is
	// for; default localhost, 127.0.0.1, ::1 and os.Hostname().
	Hosts []string
	// OnReload, if set, is called after the server noticed that the
	// certificate or key file changed: with a description of the new
	// certificate, or with the error that made it keep the old one (called
	// once per distinct error, not on every retry).
	OnReload func(info string, err error)
}

// Self-signed certificate file names inside Options.SelfSignedDir.
const (
	SelfSignedCertName = "tls-self-signed.crt"
	SelfSignedKeyName  = "tls-self-signed.key"
)

// cipherSuites are the TLS 1.2 suites offered: forward secret AEADs only.
// (TLS 1.3 suites are not configurable and all modern.)
func cipherSuites() []uint16 {
	return []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
		tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	}
}

// ServerConfig builds the server's *tls.Config: TLS 1.2 or later, modern
// cipher suites only, the certificate served through GetCertificate and
// re-read from disk when its files change (checked at most once a second).
// info describes what was done (which certificate, whether a self-signed one
// was generated, its fingerprint, client certificate policy) for a log line.
//
// Serve with tls.NewListener or http.Server.ServeTLS(l, "", ""); do not also
// fill Certificates, which would take precedence for clients that send no
// server name.
func ServerConfig(opts Options) (cfg *tls.Config, info string, err error) {
	return serverConfig(opts, time.Now)
}

func serverConfig(opts Options, now func() time.Time) (*tls.Config, string, error) {
	auth, err := clientAuthType(opts)
	if err != nil {
		return nil, "", err
	}
	r := &reloader{
		certFile: opts.CertFile,
		keyFile:  opts.KeyFile,
		now:      now,
		onReload: opts.OnReload,
	}
	var notes []string
	switch {
	case r.certFile == "" && r.keyFile != "":
		return nil, "", fmt.Errorf("TLS key %s given without a certificate (--tls-key needs --tls-cert)", r.keyFile)
	case r.certFile != "" && r.keyFile == "":
		return nil, "", fmt.Errorf("TLS certificate %s given without its key (--tls-cert needs --tls-key)", r.certFile)
	case r.certFile != "":
		if err := r.load(); err != nil {
			return nil, "", err
		}
		notes = append(notes, "serving TLS with certificate "+describe(r.certFile, r.cert))
		if w := expiryWarning(r.cert, now()); w != "" {
			notes = append(notes, w)
		}
	case opts.SelfSignedDir != "":
		ss, err := selfSigned(opts.SelfSignedDir, opts.Hosts, now())
		if err != nil {
			return nil, "", err
		}
		r.certFile, r.keyFile = ss.certFile, ss.keyFile
		if err := r.load(); err != nil {
			return nil, "", err
		}
		notes = append(notes, ss.describe(r.cert))
	default:
		return nil, "", errors.New("no TLS certificate: give --tls-cert and --tls-key, or --tls-self-signed for development")
	}

	cfg := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		CipherSuites:   cipherSuites(),
		GetCertificate: r.getCertificate,
	}
	if opts.ClientCAFile != "" {
		pool, subjects, err := loadCAPool(opts.ClientCAFile)
		if err != nil {
			return nil, "", err
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = auth
		what := "required"
		if auth == tls.VerifyClientCertIfGiven {
			what = "verified when presented"
		}
		notes = append(notes, fmt.Sprintf("client certificates %s, issued by %s (%s)",
			what, opts.ClientCAFile, strings.Join(subjects, "; ")))
	}
	return cfg, strings.Join(notes, "; "), nil
}

func clientAuthType(opts Options) (tls.ClientAuthType, error) {
	mode := strings.ToLower(strings.TrimSpace(opts.ClientAuth))
	if opts.ClientCAFile == "" {
		if mode != "" {
			return 0, fmt.Errorf("client certificate mode %q needs a CA to check them against (--tls-client-auth needs --tls-client-ca)", opts.ClientAuth)
		}
		return tls.NoClientCert, nil
	}
	switch mode {
	case "", ClientAuthRequire:
		return tls.RequireAndVerifyClientCert, nil
	case ClientAuthOptional:
		return tls.VerifyClientCertIfGiven, nil
	}
	return 0, fmt.Errorf("client certificate mode %q: want %q or %q", opts.ClientAuth, ClientAuthRequire, ClientAuthOptional)
}

// ClientSubject is the RFC 4514 subject of the client certificate verified
// on this connection, e.g. "CN=deployer,O=acme", or "" when the client
// presented none or it was not verified. The names come in the order the
// certificate encodes them, most specific first.
func ClientSubject(cs *tls.ConnectionState) string {
	if cs == nil || len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return ""
	}
	leaf := cs.VerifiedChains[0][0]
	var seq pkix.RDNSequence
	if rest, err := asn1.Unmarshal(leaf.RawSubject, &seq); err == nil && len(rest) == 0 {
		return seq.String()
	}
	return leaf.Subject.String()
}

// IsLoopback reports whether listening on addr ("host:port") binds only
// loopback: an IP address in 127.0.0.0/8 or ::1, or "localhost". An empty
// host (":5000") and unspecified addresses (0.0.0.0, ::) bind every
// interface, and other names may resolve anywhere: false.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]")
	}
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	if i := strings.IndexByte(host, '%'); i >= 0 {
		host = host[:i]
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
