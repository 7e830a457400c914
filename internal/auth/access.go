// Package auth decides who may do what: identities (users, robot accounts,
// API tokens), roles on repository globs, the built-in rules that protect
// quarantine/ and golden/, and the registry token flow clients expect.
package auth

import (
	"fmt"
	"path"
	"strings"
)

// Role is a permission level on a repository glob. Roles are cumulative:
// push includes pull, delete includes push, admin includes delete.
type Role string

// Roles.
const (
	RolePull   Role = "pull"
	RolePush   Role = "push"
	RoleDelete Role = "delete"
	RoleAdmin  Role = "admin"
)

func (r Role) level() int {
	switch r {
	case RolePull:
		return 1
	case RolePush:
		return 2
	case RoleDelete:
		return 3
	case RoleAdmin:
		return 4
	}
	return 0
}

// ParseRole checks a role name.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if r.level() == 0 {
		return "", fmt.Errorf("unknown role %q: want pull, push, delete or admin", s)
	}
	return r, nil
}

// Action is what a request does to a repository.
type Action string

// Actions, as the registry token flow names them.
const (
	ActionPull   Action = "pull"
	ActionPush   Action = "push"
	ActionDelete Action = "delete"
)

func (a Action) level() int { return Role(a).level() }

// Grant is one permission: a role on the repositories a glob matches.
type Grant struct {
	Role    Role   `json:"role"`
	Pattern string `json:"scope"`
}

func (g Grant) String() string { return string(g.Role) + " on " + g.Pattern }

// ValidatePattern checks a repository glob: segments separated by "/",
// "*" within a segment, "**" for any number of segments.
func ValidatePattern(p string) error {
	if p == "" {
		return fmt.Errorf("empty scope: use a repository glob such as 'team/**' or '**'")
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" {
			return fmt.Errorf("scope %q has an empty path segment", p)
		}
		if seg == "**" {
			continue
		}
		if strings.Contains(seg, "**") {
			return fmt.Errorf("scope %q: ** must be a whole path segment", p)
		}
		if _, err := path.Match(seg, ""); err != nil {
			return fmt.Errorf("scope %q: %w", p, err)
		}
	}
	return nil
}

// MatchPattern reports whether repository name repo matches glob p. It
// runs on every request, so it walks both strings in place (no splitting).
func MatchPattern(p, repo string) bool {
	if p == "**" {
		return repo != ""
	}
	return matchSegments(p, repo, true)
}

// matchSegments matches the segments of pat against those of name; more
// is false when name has no segment left (which differs from one empty
// segment).
func matchSegments(pat, name string, more bool) bool {
	for {
		seg, patRest, patMore := strings.Cut(pat, "/")
		if seg == "**" {
			if !patMore {
				return more
			}
			// ** takes any number of name segments, none included.
			for {
				if matchSegments(patRest, name, more) {
					return true
				}
				if !more {
					return false
				}
				_, name, more = strings.Cut(name, "/")
			}
		}
		if !more {
			return false
		}
		nameSeg, nameRest, nameMore := strings.Cut(name, "/")
		if ok, _ := path.Match(seg, nameSeg); !ok {
			return false
		}
		if !patMore {
			return !nameMore
		}
		pat, name, more = patRest, nameRest, nameMore
	}
}

// Areas with built-in rules that no grant overrides.
const (
	QuarantinePrefix = "quarantine/"
	GoldenPrefix     = "golden/"
)

// Kinds of principal.
const (
	KindUser      = "user"
	KindRobot     = "robot"
	KindAnonymous = "anonymous"
)

// Principal is an authenticated caller (or the anonymous one).
type Principal struct {
	Name string
	Kind string
	// Pipeline marks the acquire pipeline's own identity: the only one that
	// may read quarantine/ (besides admins) and write golden/.
	Pipeline bool
	Grants   []Grant
	// ClientCert is the subject of a verified TLS client certificate.
	ClientCert string
	// Limit narrows what the credential used may do (an API token made for
	// one role and scope, a registry token for the scopes it was issued
	// for); nil means the principal's full grants.
	Limit Limit
	// Open is the caller of a server that was never initialised.
	Open bool
}

// Limit narrows a credential: it reports whether action on repo is within it.
type Limit interface {
	Permits(action Action, repo string) bool
}

// Anonymous is the caller that sent no credentials.
func Anonymous() *Principal { return &Principal{Name: "anonymous", Kind: KindAnonymous} }

// IsAdmin reports whether p holds admin on every repository: the right to
// manage identities, keys and the server.
func (p *Principal) IsAdmin() bool {
	if p.Open {
		return true
	}
	for _, g := range p.Grants {
		if g.Role == RoleAdmin && g.Pattern == "**" {
			return true
		}
	}
	return false
}

// Decision is the answer to "may p do action on repo?".
type Decision struct {
	Allowed bool
	// Reason says why a request is refused, or why an allowed one is
	// special (break-glass); allowed requests otherwise leave it empty,
	// so the hot path builds no string.
	Reason string
	// Grant is the grant that allowed the request, if one did.
	Grant *Grant
	// BreakGlass marks an allowed action that only an admin's override
	// permits (a direct write to golden/): audit it loudly.
	BreakGlass bool
}

// Decide applies the built-in rules, then p's grants, then p's limit.
func (p *Principal) Decide(action Action, repo string) Decision {
	if p.Open {
		return Decision{Allowed: true, Reason: "open mode: the server was never initialised"}
	}
	admin := p.IsAdmin()
	switch {
	case strings.HasPrefix(repo, QuarantinePrefix):
		if !admin && !p.Pipeline {
			return Decision{Reason: "quarantine/ is reserved to the pipeline and admins until an image is approved"}
		}
	case strings.HasPrefix(repo, GoldenPrefix) && action != ActionPull:
		if !admin && !p.Pipeline {
			return Decision{Reason: "only the pipeline may " + string(action) + " in golden/"}
		}
	}
	d := p.granted(action, repo)
	if d.Allowed && p.Limit != nil && !p.Limit.Permits(action, repo) {
		return Decision{Reason: "the credential used does not cover " + string(action) + " on " + repo}
	}
	return d
}

func (p *Principal) granted(action Action, repo string) Decision {
	if p.Pipeline && (strings.HasPrefix(repo, QuarantinePrefix) || strings.HasPrefix(repo, GoldenPrefix)) {
		return Decision{Allowed: true, Reason: "pipeline identity"}
	}
	for i, g := range p.Grants {
		if g.Role.level() >= action.level() && MatchPattern(g.Pattern, repo) {
			d := Decision{Allowed: true, Grant: &p.Grants[i]}
			if strings.HasPrefix(repo, GoldenPrefix) && action != ActionPull && !p.Pipeline {
				d.BreakGlass = true
				d.Reason = "admin break-glass: direct " + string(action) + " in golden/ bypasses the pipeline"
			}
			return d
		}
	}
	if p.Kind == KindAnonymous {
		return Decision{Reason: "anonymous " + string(action) + " is not allowed on " + repo}
	}
	return Decision{Reason: "no grant allows " + string(action) + " on " + repo}
}

// ScopeLimit narrows a credential to one role on one glob (an API token).
type ScopeLimit struct {
	Role    Role
	Pattern string
}

// Permits implements Limit.
func (l ScopeLimit) Permits(action Action, repo string) bool {
	return l.Role.level() >= action.level() && MatchPattern(l.Pattern, repo)
}
