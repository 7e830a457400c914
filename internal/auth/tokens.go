package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Scope is one resource scope of the registry token flow, e.g.
// "repository:team/app:pull,push" or "registry:catalog:*".
type Scope struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

func (s Scope) String() string { return s.Type + ":" + s.Name + ":" + strings.Join(s.Actions, ",") }

// ParseScopes reads scope parameters; each may hold several scopes
// separated by spaces, as the OAuth2 form of the flow sends them.
func ParseScopes(params []string) ([]Scope, error) {
	var out []Scope
	for _, p := range params {
		for _, f := range strings.Fields(p) {
			typ, rest, ok := strings.Cut(f, ":")
			i := strings.LastIndexByte(rest, ':')
			if !ok || i <= 0 || typ == "" {
				return nil, fmt.Errorf("malformed scope %q: want type:name:actions", f)
			}
			name, actions := rest[:i], rest[i+1:]
			// "repository(plugin):name" carries a resource class; it plays no part here.
			if j := strings.IndexByte(typ, '('); j > 0 {
				typ = typ[:j]
			}
			out = append(out, Scope{Type: typ, Name: name, Actions: strings.Split(actions, ",")})
		}
	}
	return out, nil
}

// claims of the tokens cssc issues.
type claims struct {
	jwt.RegisteredClaims
	Access []Scope `json:"access"`
	// Use is "refresh" for refresh tokens; registry tokens leave it empty.
	Use string `json:"use,omitempty"`
}

// TokenResponse is the answer of the token endpoint (both the Docker and
// the OAuth2 field names).
type TokenResponse struct {
	Token        string `json:"token"`
	AccessToken  string `json:"access_token"`
	ExpiresIn    int    `json:"expires_in"`
	IssuedAt     string `json:"issued_at"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
}

// Grant narrows requested scopes to what p may do: an action it may not do
// is left out (never an error: the registry answers for the missing part).
func (s *Service) Grant(p *Principal, requested []Scope) []Scope {
	var out []Scope
	for _, sc := range requested {
		switch sc.Type {
		case "repository":
			var ok []string
			for _, a := range expandActions(sc.Actions) {
				if p.Decide(Action(a), sc.Name).Allowed {
					ok = append(ok, a)
				}
			}
			if len(ok) > 0 {
				out = append(out, Scope{Type: sc.Type, Name: sc.Name, Actions: ok})
			}
		case "registry":
			if sc.Name == "catalog" {
				// The catalog answers only what the caller may pull.
				out = append(out, Scope{Type: sc.Type, Name: sc.Name, Actions: []string{"*"}})
			}
		}
	}
	return out
}

func expandActions(actions []string) []string {
	var out []string
	for _, a := range actions {
		switch a {
		case "*":
			out = append(out, string(ActionPull), string(ActionPush), string(ActionDelete))
		case string(ActionPull), string(ActionPush), string(ActionDelete):
			out = append(out, a)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Issue signs a registry token for p with access (already granted), and a
// refresh token when asked.
func (s *Service) Issue(p *Principal, access []Scope, refresh bool) (TokenResponse, error) {
	kr := s.keys.Load()
	if kr == nil {
		return TokenResponse{}, ErrNotInitialised
	}
	now := s.opts.Now()
	id, err := newID()
	if err != nil {
		return TokenResponse{}, err
	}
	subject := p.Name
	if p.Kind == KindAnonymous {
		subject = ""
	}
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: s.opts.Service, Subject: subject, Audience: jwt.ClaimStrings{s.opts.Service},
			ExpiresAt: jwt.NewNumericDate(now.Add(s.opts.TokenTTL)), NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
			IssuedAt: jwt.NewNumericDate(now), ID: id,
		},
		Access: access,
	}
	if c.Access == nil {
		c.Access = []Scope{}
	}
	tok, err := s.sign(kr, c)
	if err != nil {
		return TokenResponse{}, err
	}
	resp := TokenResponse{Token: tok, AccessToken: tok, ExpiresIn: int(s.opts.TokenTTL.Seconds()), IssuedAt: now.UTC().Format(time.RFC3339)}
	var names []string
	for _, a := range access {
		names = append(names, a.String())
	}
	resp.Scope = strings.Join(names, " ")
	if refresh && subject != "" {
		rc := claims{
			RegisteredClaims: jwt.RegisteredClaims{
				Issuer: s.opts.Service, Subject: subject, Audience: jwt.ClaimStrings{s.opts.Service},
				ExpiresAt: jwt.NewNumericDate(now.Add(s.opts.RefreshTTL)), IssuedAt: jwt.NewNumericDate(now), ID: id + "r",
			},
			Use: "refresh",
		}
		if resp.RefreshToken, err = s.sign(kr, rc); err != nil {
			return TokenResponse{}, err
		}
	}
	return resp, nil
}

func (s *Service) sign(kr *keyring, c claims) (string, error) {
	t := jwt.NewWithClaims(jwt.SigningMethodES256, c)
	t.Header["kid"] = kr.current.id
	out, err := t.SignedString(kr.current.key)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return out, nil
}

// verify checks a token's signature, audience and lifetime; verified tokens
// are remembered until they expire, so the hot path pays the signature
// check once per token.
func (s *Service) verify(tok string) (*cachedToken, error) {
	now := s.opts.Now()
	s.mu.RLock()
	c, ok := s.tokens[tok]
	s.mu.RUnlock()
	if ok && now.Before(c.until) {
		return c, nil
	}
	kr := s.keys.Load()
	if kr == nil {
		return nil, ErrBadCredentials
	}
	var cl claims
	_, err := jwt.ParseWithClaims(tok, &cl, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if k := kr.byID(kid); k != nil {
			return k, nil
		}
		return nil, errors.New("unknown signing key")
	}, jwt.WithValidMethods([]string{jwt.SigningMethodES256.Alg()}), jwt.WithAudience(s.opts.Service),
		jwt.WithExpirationRequired(), jwt.WithTimeFunc(s.opts.Now))
	if err != nil {
		return nil, ErrBadCredentials
	}
	c = &cachedToken{claims: &cl, until: cl.ExpiresAt.Time, view: new(atomic.Pointer[tokenView])}
	s.mu.Lock()
	if len(s.tokens) >= cacheCap {
		clear(s.tokens)
	}
	s.tokens[tok] = c
	s.mu.Unlock()
	return c, nil
}

// registryToken authenticates the holder of a registry token: the token's
// scopes limit what the principal's current grants allow.
func (s *Service) registryToken(ctx context.Context, tok, clientCert string) (*Principal, error) {
	ct, err := s.verify(tok)
	if err != nil || ct.claims.Use != "" {
		return nil, ErrBadCredentials
	}
	base := s.anon
	if ct.claims.Subject != "" {
		if base, err = s.principal(ctx, ct.claims.Subject); err != nil {
			return nil, err
		}
	}
	if v := ct.view.Load(); v != nil && v.base == base && clientCert == "" {
		return v.p, nil
	}
	c := *base
	c.Limit = tokenAccess(ct.claims.Access)
	c.ClientCert = clientCert
	if clientCert == "" {
		ct.view.Store(&tokenView{base: base, p: &c})
	}
	return &c, nil
}

// Refresh exchanges a refresh token for the principal it was issued to,
// if that identity is still active.
func (s *Service) Refresh(ctx context.Context, tok string) (*Principal, error) {
	ct, err := s.verify(tok)
	if err != nil || ct.claims.Use != "refresh" || ct.claims.Subject == "" {
		return nil, ErrBadCredentials
	}
	return s.principal(ctx, ct.claims.Subject)
}

// tokenAccess is the Limit of a registry token: the scopes it was issued for.
type tokenAccess []Scope

func (t tokenAccess) Permits(action Action, repo string) bool {
	for _, sc := range t {
		if sc.Type == "repository" && sc.Name == repo {
			for _, a := range sc.Actions {
				if a == string(action) || a == "*" {
					return true
				}
			}
		}
	}
	return false
}

// CatalogView returns the principal whose pull rights decide what the
// catalog lists, and false when the credential used does not cover the
// catalog (a registry token issued without registry:catalog:*).
func (p *Principal) CatalogView() (*Principal, bool) {
	ta, ok := p.Limit.(tokenAccess)
	if !ok {
		return p, true
	}
	for _, sc := range ta {
		if sc.Type == "registry" && sc.Name == "catalog" {
			c := *p
			c.Limit = nil
			return &c, true
		}
	}
	return p, false
}
