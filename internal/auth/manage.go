package auth

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/cssc-project/cssc/internal/store"
)

var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$`)

// ValidateName checks a user or robot name.
func ValidateName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("invalid name %q: use 1-64 lower-case letters, digits, '.', '_' or '-'", name)
	}
	return nil
}

// NewIdentity describes a user or robot to create.
type NewIdentity struct {
	Name     string  `json:"name"`
	Kind     string  `json:"kind"`               // user or robot
	Password string  `json:"password,omitempty"` // users: "" generates one
	Grants   []Grant `json:"grants"`
	Pipeline bool    `json:"pipeline,omitempty"` // robots: the acquire pipeline's identity
	// Expires is when a robot stops working (zero: never).
	Expires     time.Time `json:"expires,omitzero"`
	CertSubject string    `json:"cert_subject,omitempty"` // robots: a client certificate subject that logs in as this robot
}

// Identity is a user or robot as the API shows it (no secret).
type Identity struct {
	Name        string    `json:"name"`
	Kind        string    `json:"kind"`
	Grants      []Grant   `json:"grants"`
	Pipeline    bool      `json:"pipeline,omitempty"`
	Disabled    bool      `json:"disabled,omitempty"`
	Expires     time.Time `json:"expires,omitzero"`
	CertSubject string    `json:"cert_subject,omitempty"`
	CreatedBy   string    `json:"created_by,omitempty"`
	Created     time.Time `json:"created"`
}

func identityOf(p store.Principal) Identity {
	id := Identity{Name: p.Name, Kind: p.Kind, Pipeline: p.Pipeline, Disabled: p.Disabled, Expires: p.ExpiresAt,
		CertSubject: p.CertSubject, CreatedBy: p.CreatedBy, Created: p.CreatedAt, Grants: []Grant{}}
	for _, g := range p.Grants {
		id.Grants = append(id.Grants, Grant{Role: Role(g.Role), Pattern: g.Pattern})
	}
	return id
}

func checkGrants(gs []Grant) ([]store.Grant, error) {
	var out []store.Grant
	for _, g := range gs {
		if _, err := ParseRole(string(g.Role)); err != nil {
			return nil, err
		}
		if err := ValidatePattern(g.Pattern); err != nil {
			return nil, err
		}
		out = append(out, store.Grant{Role: string(g.Role), Pattern: g.Pattern})
	}
	return out, nil
}

// CreateIdentity stores a new user or robot and returns its secret (the
// given password, or a generated secret: shown once, stored only hashed).
func (s *Service) CreateIdentity(ctx context.Context, by string, n NewIdentity) (string, error) {
	if err := ValidateName(n.Name); err != nil {
		return "", err
	}
	if n.Kind != KindUser && n.Kind != KindRobot {
		return "", fmt.Errorf("kind must be user or robot, not %q", n.Kind)
	}
	if n.Kind == KindUser && (n.Pipeline || n.CertSubject != "") {
		return "", fmt.Errorf("only robots can be the pipeline or log in by certificate")
	}
	grants, err := checkGrants(n.Grants)
	if err != nil {
		return "", err
	}
	secret := n.Password
	if secret == "" {
		if secret, err = NewSecret(); err != nil {
			return "", err
		}
	} else if n.Kind == KindRobot {
		return "", fmt.Errorf("robot secrets are generated, not chosen")
	} else if err := checkPasswordStrength(secret); err != nil {
		return "", err
	}
	hash, err := HashSecret(secret)
	if err != nil {
		return "", err
	}
	err = s.st.CreatePrincipal(ctx, store.Principal{
		Name: n.Name, Kind: n.Kind, SecretHash: hash, Pipeline: n.Pipeline, ExpiresAt: n.Expires,
		CertSubject: n.CertSubject, CreatedBy: by, Grants: grants,
	})
	s.invalidate()
	if err != nil {
		return "", err
	}
	return secret, nil
}

// ListIdentities lists users and robots of kind ("" for both).
func (s *Service) ListIdentities(ctx context.Context, kind string) ([]Identity, error) {
	ps, err := s.st.ListPrincipals(ctx, kind)
	if err != nil {
		return nil, err
	}
	out := []Identity{}
	for _, p := range ps {
		out = append(out, identityOf(p))
	}
	return out, nil
}

// GetIdentity returns one user or robot.
func (s *Service) GetIdentity(ctx context.Context, name string) (Identity, error) {
	p, err := s.st.GetPrincipal(ctx, name)
	if err != nil {
		return Identity{}, err
	}
	return identityOf(p), nil
}

// SetDisabled disables (revoking its API tokens and refusing its registry
// tokens) or re-enables an identity.
func (s *Service) SetDisabled(ctx context.Context, name string, disabled bool) error {
	err := s.st.SetDisabled(ctx, name, disabled)
	s.invalidate()
	return err
}

// ResetSecret gives name a new generated secret and returns it.
func (s *Service) ResetSecret(ctx context.Context, name string) (string, error) {
	secret, err := NewSecret()
	if err != nil {
		return "", err
	}
	hash, err := HashSecret(secret)
	if err != nil {
		return "", err
	}
	err = s.st.SetSecret(ctx, name, hash)
	s.invalidate()
	return secret, err
}

// ChangeGrant adds (or with remove, takes away) a grant of name.
func (s *Service) ChangeGrant(ctx context.Context, name string, g Grant, remove bool) error {
	gs, err := checkGrants([]Grant{g})
	if err != nil {
		return err
	}
	if remove {
		err = s.st.RemoveGrant(ctx, name, gs[0])
	} else {
		err = s.st.AddGrant(ctx, name, gs[0])
	}
	s.invalidate()
	return err
}

// NewToken describes an API token to create for the caller.
type NewToken struct {
	Name    string    `json:"name"`
	Expires time.Time `json:"expires,omitzero"`
	// Role and Scope narrow the token below its owner's grants (both or neither).
	Role  Role   `json:"role,omitempty"`
	Scope string `json:"scope,omitempty"`
}

// Token is an API token as the API shows it.
type Token struct {
	ID      string    `json:"id"`
	Owner   string    `json:"owner"`
	Name    string    `json:"name"`
	Role    Role      `json:"role,omitempty"`
	Scope   string    `json:"scope,omitempty"`
	Expires time.Time `json:"expires,omitzero"`
	Revoked time.Time `json:"revoked,omitzero"`
	Created time.Time `json:"created"`
	Secret  string    `json:"token,omitempty"` // only in the answer that creates it
}

// CreateToken makes an API token for owner and returns it with its secret.
func (s *Service) CreateToken(ctx context.Context, owner string, n NewToken) (Token, error) {
	if n.Name == "" {
		n.Name = "token"
	}
	if (n.Role == "") != (n.Scope == "") {
		return Token{}, fmt.Errorf("a token is narrowed by a role and a scope together")
	}
	if n.Role != "" {
		if _, err := checkGrants([]Grant{{Role: n.Role, Pattern: n.Scope}}); err != nil {
			return Token{}, err
		}
	}
	if !n.Expires.IsZero() && !n.Expires.After(s.opts.Now()) {
		return Token{}, fmt.Errorf("expiry %s is in the past", n.Expires.Format(time.RFC3339))
	}
	id, err := newID()
	if err != nil {
		return Token{}, err
	}
	secret, err := NewSecret()
	if err != nil {
		return Token{}, err
	}
	hash, err := HashSecret(secret)
	if err != nil {
		return Token{}, err
	}
	if err := s.st.CreateAPIToken(ctx, store.APIToken{ID: id, Principal: owner, Name: n.Name, SecretHash: hash,
		Role: string(n.Role), Pattern: n.Scope, ExpiresAt: n.Expires}); err != nil {
		return Token{}, err
	}
	return Token{ID: id, Owner: owner, Name: n.Name, Role: n.Role, Scope: n.Scope, Expires: n.Expires,
		Created: s.opts.Now(), Secret: formatAPIToken(id, secret)}, nil
}

// ListTokens lists the API tokens of owner ("" for everyone's).
func (s *Service) ListTokens(ctx context.Context, owner string) ([]Token, error) {
	ts, err := s.st.ListAPITokens(ctx, owner)
	if err != nil {
		return nil, err
	}
	out := []Token{}
	for _, t := range ts {
		out = append(out, Token{ID: t.ID, Owner: t.Principal, Name: t.Name, Role: Role(t.Role), Scope: t.Pattern,
			Expires: t.ExpiresAt, Revoked: t.RevokedAt, Created: t.CreatedAt})
	}
	return out, nil
}

// TokenOwner returns who owns API token id.
func (s *Service) TokenOwner(ctx context.Context, id string) (string, error) {
	t, err := s.st.GetAPIToken(ctx, id)
	return t.Principal, err
}

// RevokeToken revokes API token id; it stops working at once.
func (s *Service) RevokeToken(ctx context.Context, id string) error {
	err := s.st.RevokeAPIToken(ctx, id)
	s.invalidate()
	return err
}
