package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/cssc-project/cssc/internal/store"
)

// Store is what the service needs from the metadata store.
type Store interface {
	CountPrincipals(ctx context.Context) (int, error)
	CreatePrincipal(ctx context.Context, p store.Principal) error
	GetPrincipal(ctx context.Context, name string) (store.Principal, error)
	PrincipalByCertSubject(ctx context.Context, subject string) (store.Principal, error)
	ListPrincipals(ctx context.Context, kind string) ([]store.Principal, error)
	SetDisabled(ctx context.Context, name string, disabled bool) error
	SetSecret(ctx context.Context, name, hash string) error
	AddGrant(ctx context.Context, name string, g store.Grant) error
	RemoveGrant(ctx context.Context, name string, g store.Grant) error
	CreateAPIToken(ctx context.Context, t store.APIToken) error
	GetAPIToken(ctx context.Context, id string) (store.APIToken, error)
	ListAPITokens(ctx context.Context, principal string) ([]store.APIToken, error)
	RevokeAPIToken(ctx context.Context, id string) error
}

// Errors of authentication. The messages never say whether an account exists.
var (
	ErrBadCredentials = errors.New("invalid credentials")
	ErrRateLimited    = errors.New("too many failed logins; try again later")
	ErrNotInitialised = errors.New("data directory was never initialised (run `cssc admin init`)")
)

// Options configure a Service.
type Options struct {
	// KeyDir holds the token-signing keys.
	KeyDir string
	// Service is the name registry tokens are issued for (their audience).
	Service string
	// TokenTTL is the lifetime of registry tokens (default 5m).
	TokenTTL time.Duration
	// RefreshTTL is the lifetime of refresh tokens (default 24h).
	RefreshTTL time.Duration
	// AnonymousPull lists the globs anyone may pull without credentials.
	AnonymousPull []string
	// CacheTTL bounds how long a checked credential or a loaded identity is
	// reused before the database is asked again (default 10s). Changes made
	// through this service take effect at once.
	CacheTTL time.Duration
	// MaxFailures per account and per source address within FailureWindow
	// before logins are refused (defaults 10 and 5m; the source limit is
	// three times the account limit).
	MaxFailures   int
	FailureWindow time.Duration
	Logger        *slog.Logger
	Now           func() time.Time
}

// Service authenticates callers and manages identities.
type Service struct {
	st      Store
	opts    Options
	log     *slog.Logger
	open    bool
	anon    *Principal
	keys    atomic.Pointer[keyring]
	limiter *limiter
	checks  singleflight.Group // one slow secret check per credential at a time
	// checkSecret is CheckSecret; tests count its calls.
	checkSecret func(hash, secret string) (bool, error)

	mu         sync.RWMutex // lookups (every request) read-lock; fills and invalidation lock
	principals map[string]cachedPrincipal
	secrets    map[[32]byte]cachedSecret
	tokens     map[string]*cachedToken
	generation uint64 // bumped on every identity change: drops what was cached
}

type cachedPrincipal struct {
	p      *Principal
	err    error
	loaded time.Time
}

type cachedSecret struct {
	name  string
	limit Limit
	until time.Time
	// bad remembers a refused secret, so a client retrying a stale
	// password costs a map lookup, not an argon2 hash (it is still
	// counted against the login limits).
	bad bool
	// verified is the stored hash an accepted secret was checked against.
	// When the entry expires, the secret is accepted again without argon2
	// if the stored hash is still the same (same secret, same hash: same
	// answer); a changed secret is checked in full.
	verified string
}

type cachedToken struct {
	claims *claims
	until  time.Time
	// view is the principal last derived for this token (its subject's
	// grants, limited to the token's scopes), reused while the subject's
	// cached identity is the same: no copy per request.
	view *atomic.Pointer[tokenView]
}

type tokenView struct{ base, p *Principal }

// cacheCap bounds every cache; past it the cache is emptied (a burst of
// distinct credentials costs database reads, never memory).
const cacheCap = 100_000

// New returns the service of an opened data directory. A directory with no
// identity at all serves in open mode.
func New(ctx context.Context, st Store, opts Options) (*Service, error) {
	if opts.Service == "" {
		opts.Service = "cssc"
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = 5 * time.Minute
	}
	if opts.RefreshTTL <= 0 {
		opts.RefreshTTL = 24 * time.Hour
	}
	if opts.CacheTTL <= 0 {
		opts.CacheTTL = 10 * time.Second
	}
	if opts.MaxFailures <= 0 {
		opts.MaxFailures = 10
	}
	if opts.FailureWindow <= 0 {
		opts.FailureWindow = 5 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	for _, p := range opts.AnonymousPull {
		if err := ValidatePattern(p); err != nil {
			return nil, fmt.Errorf("anonymous pull: %w", err)
		}
	}
	n, err := st.CountPrincipals(ctx)
	if err != nil {
		return nil, err
	}
	s := &Service{
		st: st, opts: opts, log: opts.Logger, open: n == 0,
		limiter:     newLimiter(opts.MaxFailures, opts.FailureWindow, opts.Now),
		checkSecret: CheckSecret,
		principals:  map[string]cachedPrincipal{},
		secrets:     map[[32]byte]cachedSecret{},
		tokens:      map[string]*cachedToken{},
	}
	s.anon = Anonymous()
	for _, p := range opts.AnonymousPull {
		s.anon.Grants = append(s.anon.Grants, Grant{Role: RolePull, Pattern: p})
	}
	if s.open {
		s.anon.Open = true
		return s, nil
	}
	kr, err := loadKeyring(opts.KeyDir)
	if err != nil {
		return nil, err
	}
	s.keys.Store(kr)
	return s, nil
}

// Open reports whether the server runs in open mode (never initialised).
func (s *Service) Open() bool { return s.open }

// ServiceName is the audience of registry tokens.
func (s *Service) ServiceName() string { return s.opts.Service }

// AdminName is the first admin that Init creates.
const AdminName = "admin"

// Init makes a never-initialised data directory secure: it creates the
// admin (with password, or a generated secret that it returns) and the
// token-signing key. It refuses a directory that has identities.
func Init(ctx context.Context, st Store, keyDir, password string) (secret string, err error) {
	n, err := st.CountPrincipals(ctx)
	if err != nil {
		return "", err
	}
	if n > 0 {
		return "", errors.New("data directory is already initialised (it has users)")
	}
	secret = password
	if secret == "" {
		if secret, err = NewSecret(); err != nil {
			return "", err
		}
	} else if err := checkPasswordStrength(secret); err != nil {
		return "", err
	}
	hash, err := HashSecret(secret)
	if err != nil {
		return "", err
	}
	if _, err := rotateKeys(keyDir); err != nil {
		return "", err
	}
	if err := st.CreatePrincipal(ctx, store.Principal{
		Name: AdminName, Kind: KindUser, SecretHash: hash, CreatedBy: "cssc admin init",
		Grants: []store.Grant{{Role: string(RoleAdmin), Pattern: "**"}},
	}); err != nil {
		return "", fmt.Errorf("create admin: %w", err)
	}
	return secret, nil
}

func checkPasswordStrength(p string) error {
	if len(p) < 12 {
		return errors.New("password too short: use at least 12 characters")
	}
	return nil
}

// RotateKeys makes a new token-signing key; tokens signed by the previous
// one stay valid until they expire.
func (s *Service) RotateKeys() (string, error) {
	kr, err := rotateKeys(s.opts.KeyDir)
	if err != nil {
		return "", err
	}
	s.keys.Store(kr)
	return kr.current.id, nil
}

// RotateKeysOffline rotates the keys in keyDir of a stopped server.
func RotateKeysOffline(keyDir string) (string, error) {
	kr, err := rotateKeys(keyDir)
	if err != nil {
		return "", err
	}
	return kr.current.id, nil
}

// invalidate drops every cached identity and credential: called after any
// change, so it takes effect on the next request.
func (s *Service) invalidate() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.generation++
	clear(s.principals)
	clear(s.secrets)
	clear(s.tokens)
}

// principal returns the active identity called name, cached for CacheTTL.
func (s *Service) principal(ctx context.Context, name string) (*Principal, error) {
	now := s.opts.Now()
	s.mu.RLock()
	c, ok := s.principals[name]
	gen := s.generation
	s.mu.RUnlock()
	if ok && now.Sub(c.loaded) < s.opts.CacheTTL {
		return c.p, c.err
	}
	sp, err := s.st.GetPrincipal(ctx, name)
	var p *Principal
	switch {
	case errors.Is(err, store.ErrPrincipalUnknown):
		err = ErrBadCredentials
	case err != nil:
		return nil, err // a database error is not cached
	default:
		p, err = s.active(sp)
	}
	s.mu.Lock()
	if s.generation == gen {
		if len(s.principals) >= cacheCap {
			clear(s.principals)
		}
		s.principals[name] = cachedPrincipal{p: p, err: err, loaded: now}
	}
	s.mu.Unlock()
	return p, err
}

// active turns a stored identity into a principal, or refuses a disabled or
// expired one (as bad credentials: the caller learns nothing more).
func (s *Service) active(sp store.Principal) (*Principal, error) {
	if sp.Disabled || (!sp.ExpiresAt.IsZero() && !s.opts.Now().Before(sp.ExpiresAt)) {
		return nil, ErrBadCredentials
	}
	p := &Principal{Name: sp.Name, Kind: sp.Kind, Pipeline: sp.Pipeline}
	for _, g := range sp.Grants {
		p.Grants = append(p.Grants, Grant{Role: Role(g.Role), Pattern: g.Pattern})
	}
	return p, nil
}

// Request is what Authenticate reads of a request.
type Request struct {
	Authorization string
	ClientCert    string // verified client certificate subject, "" if none
	Source        string // remote address (its host part is rate-limited)
}

// RequestOf extracts a Request from r; clientCert is the verified
// certificate subject (the caller reads it off the TLS state).
func RequestOf(r *http.Request, clientCert string) Request {
	return Request{Authorization: r.Header.Get("Authorization"), ClientCert: clientCert, Source: r.RemoteAddr}
}

// Authenticate returns who sent req: the holder of a registry token, an API
// token, a name and secret (Basic), or of a client certificate mapped to a
// robot; the anonymous principal when nothing was sent. Bad credentials are
// an error, never a silent downgrade to anonymous.
func (s *Service) Authenticate(ctx context.Context, req Request) (*Principal, error) {
	if s.open {
		return s.withCert(s.anon, req.ClientCert), nil
	}
	scheme, cred, _ := strings.Cut(req.Authorization, " ")
	switch {
	case strings.EqualFold(scheme, "Bearer") && cred != "":
		if strings.HasPrefix(cred, apiTokenPrefix) {
			return s.apiToken(ctx, cred, req)
		}
		return s.registryToken(ctx, cred, req.ClientCert)
	case strings.EqualFold(scheme, "Basic") && cred != "":
		if p := s.cachedBasic(ctx, cred); p != nil {
			return s.withCert(p, req.ClientCert), nil
		}
		name, secret, ok := decodeBasic(cred)
		if !ok {
			return nil, ErrBadCredentials
		}
		p, err := s.Login(ctx, name, secret, req.Source)
		if err != nil {
			return nil, err
		}
		return s.withCert(p, req.ClientCert), nil
	case req.Authorization != "":
		return nil, ErrBadCredentials
	case req.ClientCert != "":
		return s.certPrincipal(ctx, req.ClientCert)
	}
	return s.anon, nil
}

func (s *Service) withCert(p *Principal, subject string) *Principal {
	if subject == "" {
		return p
	}
	c := *p
	c.ClientCert = subject
	return &c
}

// certPrincipal maps a verified client certificate to the robot that
// names its subject.
func (s *Service) certPrincipal(ctx context.Context, subject string) (*Principal, error) {
	sp, err := s.st.PrincipalByCertSubject(ctx, subject)
	if errors.Is(err, store.ErrPrincipalUnknown) {
		// A valid certificate no robot maps: the caller is anonymous, but
		// the audit trail still names the certificate.
		return s.withCert(s.anon, subject), nil
	}
	if err != nil {
		return nil, err
	}
	p, err := s.principal(ctx, sp.Name)
	if err != nil {
		return nil, err
	}
	return s.withCert(p, subject), nil
}

// Login checks a name and secret (a user's password or a robot's secret),
// rate-limited per account and per source address.
func (s *Service) Login(ctx context.Context, name, secret, source string) (*Principal, error) {
	key := credentialKey(keyBasic, name, secret)
	now := s.opts.Now()
	s.mu.RLock()
	c, ok := s.secrets[key]
	gen := s.generation
	s.mu.RUnlock()
	host := sourceHost(source)
	if ok && now.Before(c.until) {
		if !c.bad {
			return s.principal(ctx, c.name)
		}
		if !s.limiter.allow(name, host) {
			return nil, ErrRateLimited
		}
		s.limiter.fail(name, host)
		return nil, ErrBadCredentials
	}
	if !s.limiter.allow(name, host) {
		return nil, ErrRateLimited
	}
	// Concurrent requests with the same credentials (a client's parallel
	// layer pulls, or every request of a busy client when the cache entry
	// expires) share one check instead of each paying for it.
	var verified string
	if ok && !c.bad {
		verified = c.verified
	}
	v, err, _ := s.checks.Do(string(key[:]), func() (any, error) {
		return s.checkLogin(context.WithoutCancel(ctx), name, secret, verified, host, key, gen, now)
	})
	if err != nil {
		return nil, err
	}
	return v.(*Principal), nil
}

// Kinds of cached credential: the first byte of every cache key, so a
// key of one kind can never be the key of another (a Basic login with the
// name "token" and an API token as password must not find the token's
// entry, nor the token's scope limit be lost that way).
const (
	keyBasic    byte = 'B'
	keyAPIToken byte = 'T'
)

// credentialKey is the cache key of a credential: SHA-256 of its kind,
// a, a NUL byte and b, built on the stack for the usual lengths.
func credentialKey(kind byte, a, b string) [32]byte {
	var buf [256]byte
	k := append(append(append(append(buf[:0], kind), a...), 0), b...)
	return sha256.Sum256(k)
}

// cachedBasic is Basic authentication's fast path: a name and secret
// accepted before and still cached, found without allocating (the header
// is decoded on the stack). Anything else (nil) goes through Login.
func (s *Service) cachedBasic(ctx context.Context, cred string) *Principal {
	var src, dst [256]byte
	if len(cred) > len(src) {
		return nil
	}
	dst[0] = keyBasic
	n, err := base64.StdEncoding.Decode(dst[1:], src[:copy(src[:], cred)])
	if err != nil {
		return nil
	}
	i := bytes.IndexByte(dst[1:1+n], ':')
	if i <= 0 {
		return nil
	}
	dst[1+i] = 0 // kind, "name\x00secret": the key Login uses
	key := sha256.Sum256(dst[:1+n])
	s.mu.RLock()
	c, ok := s.secrets[key]
	s.mu.RUnlock()
	if !ok || c.bad || !s.opts.Now().Before(c.until) {
		return nil
	}
	p, err := s.principal(ctx, c.name)
	if err != nil {
		return nil // Login says why
	}
	return p
}

// checkLogin does Login's slow part: the check of a secret that is not in
// the cache, whose result it caches. verified is the stored hash this very
// secret was accepted against before ("" if none): if it is still the
// stored hash, the secret still matches and argon2 is not run again.
func (s *Service) checkLogin(ctx context.Context, name, secret, verified, host string, key [32]byte, gen uint64, now time.Time) (*Principal, error) {
	sp, err := s.st.GetPrincipal(ctx, name)
	if err != nil && !errors.Is(err, store.ErrPrincipalUnknown) {
		return nil, err
	}
	hash := sp.SecretHash
	if hash == "" {
		hash = dummyHash // same work for unknown accounts: timing tells nothing
	}
	match, herr := true, error(nil)
	if verified == "" || verified != sp.SecretHash {
		match, herr = s.checkSecret(hash, secret)
	}
	var p *Principal
	if err == nil && herr == nil && match {
		p, err = s.active(sp)
	} else {
		err = ErrBadCredentials
	}
	if err != nil {
		s.limiter.fail(name, host)
		s.remember(key, gen, cachedSecret{bad: true, until: now.Add(s.opts.CacheTTL)})
		return nil, err
	}
	s.limiter.succeed(name)
	s.remember(key, gen, cachedSecret{name: name, until: now.Add(s.opts.CacheTTL), verified: sp.SecretHash})
	return p, nil
}

// remember caches a checked secret unless identities changed meanwhile.
func (s *Service) remember(key [32]byte, gen uint64, c cachedSecret) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.generation != gen {
		return
	}
	if len(s.secrets) >= cacheCap {
		clear(s.secrets)
	}
	s.secrets[key] = c
}

// dummyHash is checked for unknown accounts so they cost as much as known ones.
const dummyHash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$7dTj2s7rM2JwW1Yv5nS4y5v0n8Yk0cQmJ9Vq0m7w3pA"

func sourceHost(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i > 0 && !strings.HasSuffix(addr, "]") {
		return strings.Trim(addr[:i], "[]")
	}
	return addr
}

// apiToken checks an API token ("cssc_<id>_<secret>").
func (s *Service) apiToken(ctx context.Context, tok string, req Request) (*Principal, error) {
	id, secret, ok := parseAPIToken(tok)
	if !ok {
		return nil, ErrBadCredentials
	}
	key := credentialKey(keyAPIToken, "", tok)
	now := s.opts.Now()
	s.mu.RLock()
	c, cached := s.secrets[key]
	gen := s.generation
	s.mu.RUnlock()
	var (
		name  string
		limit Limit
	)
	if cached && now.Before(c.until) && !c.bad {
		name, limit = c.name, c.limit
	} else {
		host := sourceHost(req.Source)
		if !s.limiter.allow("token:"+id, host) {
			return nil, ErrRateLimited
		}
		if cached && now.Before(c.until) {
			s.limiter.fail("token:"+id, host)
			return nil, ErrBadCredentials
		}
		// One check for concurrent requests with the same token.
		var verified string
		if cached && !c.bad {
			verified = c.verified
		}
		v, err, _ := s.checks.Do(string(key[:]), func() (any, error) {
			return s.checkAPIToken(context.WithoutCancel(ctx), id, secret, verified, host, key, gen, now)
		})
		if err != nil {
			return nil, err
		}
		c := v.(cachedSecret)
		name, limit = c.name, c.limit
	}
	p, err := s.principal(ctx, name)
	if err != nil {
		return nil, err
	}
	if limit != nil || req.ClientCert != "" {
		c := *p
		c.Limit, c.ClientCert = limit, req.ClientCert
		p = &c
	}
	return p, nil
}

// checkAPIToken does apiToken's slow part: the check of a token that is
// not in the cache, whose result it caches; verified is as for checkLogin.
func (s *Service) checkAPIToken(ctx context.Context, id, secret, verified, host string, key [32]byte, gen uint64, now time.Time) (cachedSecret, error) {
	t, err := s.st.GetAPIToken(ctx, id)
	if err != nil && !errors.Is(err, store.ErrTokenUnknown) {
		return cachedSecret{}, err
	}
	hash := t.SecretHash
	if hash == "" {
		hash = dummyHash
	}
	match, herr := true, error(nil)
	if verified == "" || verified != t.SecretHash {
		match, herr = s.checkSecret(hash, secret)
	}
	if err != nil || herr != nil || !match || !t.RevokedAt.IsZero() ||
		(!t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt)) {
		s.limiter.fail("token:"+id, host)
		s.remember(key, gen, cachedSecret{bad: true, until: now.Add(s.opts.CacheTTL)})
		return cachedSecret{}, ErrBadCredentials
	}
	c := cachedSecret{name: t.Principal, until: now.Add(s.opts.CacheTTL), verified: t.SecretHash}
	if t.Role != "" {
		c.limit = ScopeLimit{Role: Role(t.Role), Pattern: t.Pattern}
	}
	if !t.ExpiresAt.IsZero() && t.ExpiresAt.Before(c.until) {
		c.until = t.ExpiresAt
	}
	s.remember(key, gen, c)
	return c, nil
}
