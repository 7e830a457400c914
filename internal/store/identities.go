package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Identity errors.
var (
	ErrPrincipalUnknown = errors.New("no such user or robot")
	ErrPrincipalExists  = errors.New("a user or robot of that name exists")
	ErrTokenUnknown     = errors.New("no such API token")
)

// Principal is a stored identity: a user or a robot account.
type Principal struct {
	Name        string
	Kind        string // user or robot
	SecretHash  string
	Pipeline    bool
	Disabled    bool
	ExpiresAt   time.Time // zero: never
	CertSubject string
	CreatedBy   string
	CreatedAt   time.Time
	Grants      []Grant
}

// Grant is a stored role on a repository glob.
type Grant struct {
	Role    string
	Pattern string
}

// APIToken is a stored API token (its secret only as a hash).
type APIToken struct {
	ID         string
	Principal  string
	Name       string
	SecretHash string
	Role       string // "" or the role the token is narrowed to
	Pattern    string // "" or the glob the token is narrowed to
	ExpiresAt  time.Time
	RevokedAt  time.Time
	CreatedAt  time.Time
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func timeOrZero(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// CountPrincipals counts users and robots; zero means the data directory
// was never initialised.
func (s *Store) CountPrincipals(ctx context.Context) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM principals`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count principals: %w", err)
	}
	return n, nil
}

// CreatePrincipal stores a new user or robot with its grants.
func (s *Store) CreatePrincipal(ctx context.Context, p Principal) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM principals WHERE name = $1`, p.Name).Scan(&one)
		if err == nil {
			return fmt.Errorf("%s: %w", p.Name, ErrPrincipalExists)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("create %s: %w", p.Name, err)
		}
		now := time.Now().UnixNano()
		if _, err := tx.ExecContext(ctx, `INSERT INTO principals(name, kind, secret_hash, pipeline, disabled, expires_at,
			cert_subject, created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)`,
			p.Name, p.Kind, p.SecretHash, boolInt(p.Pipeline), boolInt(p.Disabled), unixOrZero(p.ExpiresAt),
			p.CertSubject, p.CreatedBy, now); err != nil {
			return fmt.Errorf("create %s: %w", p.Name, err)
		}
		for _, g := range p.Grants {
			if err := addGrant(ctx, tx, p.Name, g); err != nil {
				return err
			}
		}
		return nil
	})
}

func addGrant(ctx context.Context, tx *sql.Tx, name string, g Grant) error {
	res, err := tx.ExecContext(ctx, `INSERT INTO grants(principal_id, role, pattern)
		SELECT id, $2, $3 FROM principals WHERE name = $1 ON CONFLICT DO NOTHING`, name, g.Role, g.Pattern)
	if err != nil {
		return fmt.Errorf("grant %s %s to %s: %w", g.Role, g.Pattern, name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM principals WHERE name = $1`, name).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%s: %w", name, ErrPrincipalUnknown)
		}
	}
	return nil
}

// AddGrant gives name a role on a glob (a no-op if it has it).
func (s *Store) AddGrant(ctx context.Context, name string, g Grant) error {
	return s.inTx(ctx, func(tx *sql.Tx) error { return addGrant(ctx, tx, name, g) })
}

// RemoveGrant takes a role on a glob from name.
func (s *Store) RemoveGrant(ctx context.Context, name string, g Grant) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM grants WHERE role = $2 AND pattern = $3
		AND principal_id = (SELECT id FROM principals WHERE name = $1)`, name, g.Role, g.Pattern)
	if err != nil {
		return fmt.Errorf("revoke %s %s from %s: %w", g.Role, g.Pattern, name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%s has no grant %s on %s: %w", name, g.Role, g.Pattern, ErrPrincipalUnknown)
	}
	return nil
}

const principalColumns = `p.id, p.name, p.kind, p.secret_hash, p.pipeline, p.disabled, p.expires_at, p.cert_subject, p.created_by, p.created_at`

type scanner interface{ Scan(dest ...any) error }

func scanPrincipal(row scanner) (int64, Principal, error) {
	var (
		p                  Principal
		id, exp, created   int64
		pipeline, disabled int
	)
	err := row.Scan(&id, &p.Name, &p.Kind, &p.SecretHash, &pipeline, &disabled, &exp, &p.CertSubject, &p.CreatedBy, &created)
	p.Pipeline, p.Disabled = pipeline != 0, disabled != 0
	p.ExpiresAt, p.CreatedAt = timeOrZero(exp), time.Unix(0, created)
	return id, p, err
}

// GetPrincipal returns the user or robot called name, with its grants.
func (s *Store) GetPrincipal(ctx context.Context, name string) (Principal, error) {
	return s.principalWhere(ctx, `p.name = $1`, name)
}

// PrincipalByCertSubject returns the robot mapped to a client certificate subject.
func (s *Store) PrincipalByCertSubject(ctx context.Context, subject string) (Principal, error) {
	return s.principalWhere(ctx, `p.cert_subject = $1 AND p.cert_subject <> ''`, subject)
}

func (s *Store) principalWhere(ctx context.Context, where string, arg any) (Principal, error) {
	id, p, err := scanPrincipal(s.readRow(ctx, `SELECT `+principalColumns+` FROM principals p WHERE `+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return p, fmt.Errorf("%v: %w", arg, ErrPrincipalUnknown)
	}
	if err != nil {
		return p, fmt.Errorf("find principal %v: %w", arg, err)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT role, pattern FROM grants WHERE principal_id = $1 ORDER BY pattern, role`, id)
	if err != nil {
		return p, fmt.Errorf("grants of %s: %w", p.Name, err)
	}
	defer func() { _ = rows.Close() }()
	for rows.Next() {
		var g Grant
		if err := rows.Scan(&g.Role, &g.Pattern); err != nil {
			return p, fmt.Errorf("grants of %s: %w", p.Name, err)
		}
		p.Grants = append(p.Grants, g)
	}
	return p, rows.Err()
}

// ListPrincipals returns the users and robots of kind ("" for all), by name.
func (s *Store) ListPrincipals(ctx context.Context, kind string) ([]Principal, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+principalColumns+` FROM principals p
		WHERE $1 = '' OR p.kind = $1 ORDER BY p.name`, kind)
	if err != nil {
		return nil, fmt.Errorf("list principals: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var out []Principal
	ids := map[int64]int{}
	for rows.Next() {
		id, p, err := scanPrincipal(rows)
		if err != nil {
			return nil, fmt.Errorf("list principals: %w", err)
		}
		ids[id] = len(out)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	_ = rows.Close()
	grows, err := s.r.QueryContext(ctx, `SELECT principal_id, role, pattern FROM grants ORDER BY pattern, role`)
	if err != nil {
		return nil, fmt.Errorf("list grants: %w", err)
	}
	defer func() { _ = grows.Close() }()
	for grows.Next() {
		var (
			id int64
			g  Grant
		)
		if err := grows.Scan(&id, &g.Role, &g.Pattern); err != nil {
			return nil, fmt.Errorf("list grants: %w", err)
		}
		if i, ok := ids[id]; ok {
			out[i].Grants = append(out[i].Grants, g)
		}
	}
	return out, grows.Err()
}

// SetDisabled disables or enables name. Disabling also revokes its API tokens.
func (s *Store) SetDisabled(ctx context.Context, name string, disabled bool) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		now := time.Now().UnixNano()
		res, err := tx.ExecContext(ctx, `UPDATE principals SET disabled = $1, updated_at = $2 WHERE name = $3`,
			boolInt(disabled), now, name)
		if err != nil {
			return fmt.Errorf("disable %s: %w", name, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%s: %w", name, ErrPrincipalUnknown)
		}
		if disabled {
			if _, err := tx.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = $1 WHERE revoked_at = 0
				AND principal_id = (SELECT id FROM principals WHERE name = $2)`, now, name); err != nil {
				return fmt.Errorf("revoke tokens of %s: %w", name, err)
			}
		}
		return nil
	})
}

// SetSecret replaces name's secret hash.
func (s *Store) SetSecret(ctx context.Context, name, hash string) error {
	res, err := s.w.ExecContext(ctx, `UPDATE principals SET secret_hash = $1, updated_at = $2 WHERE name = $3`,
		hash, time.Now().UnixNano(), name)
	if err != nil {
		return fmt.Errorf("set secret of %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%s: %w", name, ErrPrincipalUnknown)
	}
	return nil
}

// CreateAPIToken stores a new API token of t.Principal.
func (s *Store) CreateAPIToken(ctx context.Context, t APIToken) error {
	res, err := s.w.ExecContext(ctx, `INSERT INTO api_tokens(id, principal_id, name, secret_hash, role, pattern, expires_at, created_at)
		SELECT $1, id, $3, $4, $5, $6, $7, $8 FROM principals WHERE name = $2`,
		t.ID, t.Principal, t.Name, t.SecretHash, t.Role, t.Pattern, unixOrZero(t.ExpiresAt), time.Now().UnixNano())
	if err != nil {
		return fmt.Errorf("create API token for %s: %w", t.Principal, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%s: %w", t.Principal, ErrPrincipalUnknown)
	}
	return nil
}

const tokenColumns = `t.id, p.name, t.name, t.secret_hash, t.role, t.pattern, t.expires_at, t.revoked_at, t.created_at`

func scanToken(row scanner) (APIToken, error) {
	var (
		t                     APIToken
		exp, revoked, created int64
	)
	err := row.Scan(&t.ID, &t.Principal, &t.Name, &t.SecretHash, &t.Role, &t.Pattern, &exp, &revoked, &created)
	t.ExpiresAt, t.RevokedAt, t.CreatedAt = timeOrZero(exp), timeOrZero(revoked), time.Unix(0, created)
	return t, err
}

// GetAPIToken returns the token with id.
func (s *Store) GetAPIToken(ctx context.Context, id string) (APIToken, error) {
	t, err := scanToken(s.readRow(ctx, `SELECT `+tokenColumns+` FROM api_tokens t
		JOIN principals p ON p.id = t.principal_id WHERE t.id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("token %s: %w", id, ErrTokenUnknown)
	}
	if err != nil {
		return t, fmt.Errorf("find token %s: %w", id, err)
	}
	return t, nil
}

// ListAPITokens returns the tokens of principal ("" for everyone's).
func (s *Store) ListAPITokens(ctx context.Context, principal string) ([]APIToken, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens t
		JOIN principals p ON p.id = t.principal_id WHERE $1 = '' OR p.name = $1 ORDER BY t.created_at`, principal)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var out []APIToken
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		t.SecretHash = ""
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeAPIToken marks token id revoked (a no-op if it already is).
func (s *Store) RevokeAPIToken(ctx context.Context, id string) error {
	res, err := s.w.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at = 0`,
		time.Now().UnixNano(), id)
	if err != nil {
		return fmt.Errorf("revoke token %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := s.GetAPIToken(ctx, id); err != nil {
			return err
		}
	}
	return nil
}
