// Package upstream keeps the allow-list of upstream registries cssc may
// import images from: which registry, which repositories on it, how their
// signatures are checked, and the credentials and connection settings to
// use. An image reference that no entry allows is refused with the
// allow-listed names it is close to, so a typo-squatted name stands out.
package upstream

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/cssc-project/cssc/internal/auth"
)

// Signature policies of an upstream (the same words as the policy
// package's SignatureRequired, SignatureIfPresent and SignatureSkip).
const (
	SignatureRequired  = "required"
	SignatureIfPresent = "if-present"
	SignatureSkip      = "skip"
)

// DockerHub is the name Docker Hub references are normalised to.
const DockerHub = "docker.io"

// Upstream is one allow-listed upstream registry.
type Upstream struct {
	Name     string `json:"name"`     // unique, e.g. "dockerhub"
	Registry string `json:"registry"` // host[:port], e.g. "docker.io", "127.0.0.1:5001"
	// Repositories are globs of the repositories allowed on Registry:
	// "*" is one path segment, "**" any number ("library/*", "bitnami/**").
	Repositories []string `json:"repositories"`
	// SignaturePolicy is SignatureRequired, SignatureIfPresent (the
	// default) or SignatureSkip.
	SignaturePolicy string `json:"signaturePolicy,omitempty"`

	// Trust material for verifying upstream signatures (paths on the
	// server; empty: none).
	NotationPolicy              string `json:"notationPolicy,omitempty"`
	NotationTrustStore          string `json:"notationTrustStore,omitempty"`
	CosignKey                   string `json:"cosignKey,omitempty"`
	SigstoreTrustedRoot         string `json:"sigstoreTrustedRoot,omitempty"`
	CertificateIdentity         string `json:"certificateIdentity,omitempty"`
	CertificateIdentityRegexp   string `json:"certificateIdentityRegexp,omitempty"`
	CertificateOIDCIssuer       string `json:"certificateOIDCIssuer,omitempty"`
	CertificateOIDCIssuerRegexp string `json:"certificateOIDCIssuerRegexp,omitempty"`

	// Username and Password are the registry credentials. They are
	// plaintext only in memory: the store keeps them encrypted, List
	// leaves Password out and JSON never carries it.
	Username string `json:"username,omitempty"`
	Password string `json:"-"`

	CABundle  string    `json:"caBundle,omitempty"`  // PEM of extra CAs (content, not a path)
	Proxy     string    `json:"proxy,omitempty"`     // http(s)://host:port
	Insecure  bool      `json:"insecure,omitempty"`  // plain HTTP; see DefaultInsecure
	RateLimit float64   `json:"rateLimit,omitempty"` // requests per second, 0: unlimited
	CreatedAt time.Time `json:"createdAt"`
}

var upstreamName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// NormalizeRegistry returns the canonical spelling of a registry host:
// lower case, Docker Hub's aliases as "docker.io".
func NormalizeRegistry(r string) string {
	r = strings.ToLower(strings.TrimSpace(r))
	switch r {
	case "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com":
		return DockerHub
	}
	return r
}

// DefaultInsecure reports whether plain HTTP is the default for registry:
// only for loopback hosts (127.0.0.1, localhost, ::1).
func DefaultInsecure(registry string) bool {
	host := registry
	if h, _, err := net.SplitHostPort(registry); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Normalize returns u with the registry spelled canonically and the
// signature policy defaulted.
func (u Upstream) Normalize() Upstream {
	u.Name = strings.TrimSpace(u.Name)
	u.Registry = NormalizeRegistry(u.Registry)
	if u.SignaturePolicy == "" {
		u.SignaturePolicy = SignatureIfPresent
	}
	return u
}

// Validate checks every field of u and reports all the problems found.
func (u Upstream) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !upstreamName.MatchString(u.Name) {
		bad("name %q: use 1 to 63 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit", u.Name)
	}
	if err := validateRegistry(u.Registry); err != nil {
		errs = append(errs, err)
	}
	if len(u.Repositories) == 0 {
		bad("no repositories: give at least one repository glob such as 'library/*' or 'bitnami/**'")
	}
	for _, g := range u.Repositories {
		if err := auth.ValidatePattern(g); err != nil {
			bad("repository glob: %w", err)
		}
	}
	switch u.SignaturePolicy {
	case "", SignatureRequired, SignatureIfPresent, SignatureSkip:
	default:
		bad("signature policy %q: use %q, %q or %q", u.SignaturePolicy, SignatureRequired, SignatureIfPresent, SignatureSkip)
	}
	for _, re := range []struct{ field, expr string }{
		{"certificate identity regexp", u.CertificateIdentityRegexp},
		{"certificate OIDC issuer regexp", u.CertificateOIDCIssuerRegexp},
	} {
		if _, err := regexp.Compile(re.expr); err != nil {
			bad("%s %q: %w", re.field, re.expr, err)
		}
	}
	if u.Password != "" && u.Username == "" {
		bad("a password needs a username")
	}
	if u.Proxy != "" {
		if err := validateProxy(u.Proxy); err != nil {
			errs = append(errs, err)
		}
	}
	if u.CABundle != "" {
		if _, err := parseCABundle(u.CABundle); err != nil {
			errs = append(errs, err)
		}
	}
	if u.RateLimit < 0 || math.IsNaN(u.RateLimit) || math.IsInf(u.RateLimit, 0) {
		bad("rate limit %v: give requests per second, 0 or more (0: unlimited)", u.RateLimit)
	}
	if len(errs) > 0 {
		return fmt.Errorf("upstream %q: %w", u.Name, errors.Join(errs...))
	}
	return nil
}

var hostLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

func validateRegistry(r string) error {
	if r == "" {
		return errors.New("no registry: give a host[:port] such as docker.io or 127.0.0.1:5001")
	}
	if strings.Contains(r, "://") || strings.ContainsAny(r, "/@?# ") {
		return fmt.Errorf("registry %q: give only host[:port], without scheme, path or user", r)
	}
	host := r
	if strings.HasPrefix(r, "[") || strings.Count(r, ":") == 1 {
		h, port, err := net.SplitHostPort(r)
		if err != nil {
			return fmt.Errorf("registry %q: %w", r, err)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("registry %q: port %q is not a number from 1 to 65535", r, port)
		}
		host = h
	}
	if net.ParseIP(host) != nil {
		return nil
	}
	if strings.Contains(host, ":") {
		return fmt.Errorf("registry %q: write an IPv6 address in brackets, e.g. [::1]:5000", r)
	}
	if len(host) > 253 {
		return fmt.Errorf("registry %q: host name too long", r)
	}
	for _, label := range strings.Split(strings.ToLower(host), ".") {
		if len(label) > 63 || !hostLabel.MatchString(label) {
			return fmt.Errorf("registry %q: %q is not a valid host name", r, host)
		}
	}
	return nil
}

func validateProxy(p string) error {
	pu, err := url.Parse(p)
	if err != nil {
		return fmt.Errorf("proxy %q: %w", p, err)
	}
	switch pu.Scheme {
	case "http", "https", "socks5":
	default:
		return fmt.Errorf("proxy %q: give a URL such as http://proxy.example:3128 (scheme http, https or socks5)", p)
	}
	if pu.Host == "" {
		return fmt.Errorf("proxy %q: no host", p)
	}
	return nil
}

// parseCABundle parses every certificate of a PEM bundle; it needs at
// least one and refuses anything that is not a certificate.
func parseCABundle(bundle string) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := []byte(bundle)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("CA bundle: PEM block %q is not a CERTIFICATE", block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("CA bundle: certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if strings.TrimSpace(string(rest)) != "" {
		return nil, errors.New("CA bundle: text that is not PEM after the certificates (give the PEM content, not a path)")
	}
	if len(certs) == 0 {
		return nil, errors.New("CA bundle: no PEM certificate found (give the PEM content, not a path)")
	}
	return certs, nil
}

// Credential returns the registry credentials ("" when anonymous).
func (u Upstream) Credential() (user, pass string) { return u.Username, u.Password }

// Authenticator returns the credentials for go-containerregistry:
// anonymous when u has none.
func (u Upstream) Authenticator() authn.Authenticator {
	if u.Username == "" && u.Password == "" {
		return authn.Anonymous
	}
	return authn.FromConfig(authn.AuthConfig{Username: u.Username, Password: u.Password})
}

// String names u without its credentials (so %v never prints them).
func (u Upstream) String() string {
	return fmt.Sprintf("%s (%s: %s)", u.Name, u.Registry, strings.Join(u.Repositories, ", "))
}

// LogValue logs u without its password.
func (u Upstream) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("name", u.Name),
		slog.String("registry", u.Registry),
		slog.Any("repositories", u.Repositories),
		slog.String("signature_policy", u.SignaturePolicy),
		slog.String("username", u.Username),
		slog.Bool("insecure", u.Insecure),
		slog.Float64("rate_limit", u.RateLimit),
	)
}
