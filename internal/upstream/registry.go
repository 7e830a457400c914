package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cssc-project/cssc/internal/store"
)

// Store keeps upstream entries: their configuration (JSON, without
// credentials) and their sealed credentials ("" when none).
type Store interface {
	PutUpstream(ctx context.Context, name string, config []byte, secret string) error
	GetUpstream(ctx context.Context, name string) (config []byte, secret string, err error)
	ListUpstreams(ctx context.Context) ([]store.UpstreamRow, error)
	DeleteUpstream(ctx context.Context, name string) error
}

// Registry is the allow-list of upstreams, kept in a Store with the
// credentials sealed.
type Registry struct {
	store  Store
	sealer *Sealer
}

// NewRegistry returns the allow-list kept in s. sealer may be nil when no
// upstream has credentials: adding or reading one then fails.
func NewRegistry(s Store, sealer *Sealer) *Registry {
	return &Registry{store: s, sealer: sealer}
}

// credential is what is sealed in the store.
type credential struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// Add validates u and stores it, replacing an entry of the same name
// (whose creation time it keeps).
func (r *Registry) Add(ctx context.Context, u Upstream) error {
	u = u.Normalize()
	if err := u.Validate(); err != nil {
		return fmt.Errorf("add upstream: %w", err)
	}
	if u.CreatedAt.IsZero() {
		u.CreatedAt = time.Now().UTC()
		if old, err := r.get(ctx, u.Name, false); err == nil {
			u.CreatedAt = old.CreatedAt
		} else if !errors.Is(err, store.ErrUpstreamUnknown) {
			return fmt.Errorf("add upstream %s: %w", u.Name, err)
		}
	}
	secret := ""
	if u.Username != "" || u.Password != "" {
		if r.sealer == nil {
			return fmt.Errorf("add upstream %s: no key to encrypt its credentials with", u.Name)
		}
		plain, err := json.Marshal(credential{Username: u.Username, Password: u.Password})
		if err != nil {
			return fmt.Errorf("add upstream %s: %w", u.Name, err)
		}
		if secret, err = r.sealer.Seal(u.Name, plain); err != nil {
			return fmt.Errorf("add upstream %s: %w", u.Name, err)
		}
	}
	cfg := u
	cfg.Username, cfg.Password = "", ""
	config, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("add upstream %s: %w", u.Name, err)
	}
	if err := r.store.PutUpstream(ctx, u.Name, config, secret); err != nil {
		return fmt.Errorf("add upstream %s: %w", u.Name, err)
	}
	return nil
}

// Get returns the upstream called name with its credentials decrypted.
func (r *Registry) Get(ctx context.Context, name string) (Upstream, error) {
	return r.get(ctx, name, true)
}

func (r *Registry) get(ctx context.Context, name string, password bool) (Upstream, error) {
	config, secret, err := r.store.GetUpstream(ctx, name)
	if err != nil {
		return Upstream{}, fmt.Errorf("get upstream %s: %w", name, err)
	}
	return r.decode(name, config, secret, password)
}

// decode rebuilds an upstream from its stored row, with its username and,
// if password, its password.
func (r *Registry) decode(name string, config []byte, secret string, password bool) (Upstream, error) {
	var u Upstream
	if err := json.Unmarshal(config, &u); err != nil {
		return Upstream{}, fmt.Errorf("upstream %s: decode configuration: %w", name, err)
	}
	u.Name = name
	if secret != "" {
		if r.sealer == nil {
			return Upstream{}, fmt.Errorf("upstream %s: no key to decrypt its credentials with", name)
		}
		plain, err := r.sealer.Open(name, secret)
		if err != nil {
			return Upstream{}, fmt.Errorf("upstream %s: %w", name, err)
		}
		var c credential
		if err := json.Unmarshal(plain, &c); err != nil {
			return Upstream{}, fmt.Errorf("upstream %s: decode credentials: %w", name, err)
		}
		u.Username = c.Username
		if password {
			u.Password = c.Password
		}
	}
	return u, nil
}

// List returns every upstream by name, with usernames but no passwords.
func (r *Registry) List(ctx context.Context) ([]Upstream, error) {
	rows, err := r.store.ListUpstreams(ctx)
	if err != nil {
		return nil, fmt.Errorf("list upstreams: %w", err)
	}
	out := make([]Upstream, 0, len(rows))
	for _, row := range rows {
		u, err := r.decode(row.Name, row.Config, row.Secret, false)
		if err != nil {
			return nil, fmt.Errorf("list upstreams: %w", err)
		}
		out = append(out, u)
	}
	return out, nil
}

// Remove deletes the upstream called name.
func (r *Registry) Remove(ctx context.Context, name string) error {
	if err := r.store.DeleteUpstream(ctx, name); err != nil {
		return fmt.Errorf("remove upstream %s: %w", name, err)
	}
	return nil
}

// Match returns the upstream, credentials included, that allows image
// reference ref; a *NotAllowedError when none does.
func (r *Registry) Match(ctx context.Context, ref string) (Upstream, error) {
	list, err := r.List(ctx)
	if err != nil {
		return Upstream{}, fmt.Errorf("match %s: %w", ref, err)
	}
	u, _, err := Match(list, ref)
	if err != nil {
		return Upstream{}, err
	}
	return r.Get(ctx, u.Name)
}
