package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// syncRuleSchema is migration 6: sync rules (an upstream repository, a
// tag pattern and an interval; the pipeline owns the rule's JSON) and
// retirements of golden images.
const syncRuleSchema = `
CREATE TABLE sync_rules (
	id         TEXT PRIMARY KEY,
	rule       TEXT NOT NULL,
	next_run   BIGINT NOT NULL,
	created_at BIGINT NOT NULL
);
CREATE INDEX sync_rules_next_run ON sync_rules(next_run);

CREATE TABLE golden_retirements (
	repository   TEXT NOT NULL,
	reference    TEXT NOT NULL,
	digest       TEXT NOT NULL,
	end_of_life  BIGINT NOT NULL,
	remove_after BIGINT NOT NULL,
	retired_by   TEXT NOT NULL,
	created_at   BIGINT NOT NULL,
	removed_at   BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (repository, reference)
);
CREATE INDEX golden_retirements_due ON golden_retirements(removed_at, remove_after);
`

// ErrSyncRuleUnknown: no sync rule has that ID.
var ErrSyncRuleUnknown = errors.New("sync rule unknown")

// SyncRule is a stored sync rule.
type SyncRule struct {
	ID      string
	Rule    []byte
	NextRun time.Time
}

// PutSyncRule stores r (insert or replace).
func (s *Store) PutSyncRule(ctx context.Context, r SyncRule) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO sync_rules(id, rule, next_run, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (id) DO UPDATE SET rule = excluded.rule, next_run = excluded.next_run`,
		r.ID, string(r.Rule), r.NextRun.UnixNano(), time.Now().UnixNano())
	if err != nil {
		return fmt.Errorf("save sync rule %s: %w", r.ID, err)
	}
	return nil
}

// UpdateSyncRule saves r over an existing rule; ErrSyncRuleUnknown when
// it was deleted meanwhile (a run must not bring a removed rule back).
func (s *Store) UpdateSyncRule(ctx context.Context, r SyncRule) error {
	res, err := s.w.ExecContext(ctx, `UPDATE sync_rules SET rule = $1, next_run = $2 WHERE id = $3`, string(r.Rule), r.NextRun.UnixNano(), r.ID)
	if err != nil {
		return fmt.Errorf("save sync rule %s: %w", r.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%s: %w", r.ID, ErrSyncRuleUnknown)
	}
	return nil
}

// ListSyncRules lists the rules, all of them or (due not zero) those due
// at that time, soonest first.
func (s *Store) ListSyncRules(ctx context.Context, due time.Time) ([]SyncRule, error) {
	q := `SELECT id, rule, next_run FROM sync_rules`
	var args []any
	if !due.IsZero() {
		q += ` WHERE next_run <= $1`
		args = append(args, due.UnixNano())
	}
	rows, err := s.r.QueryContext(ctx, q+` ORDER BY next_run, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list sync rules: %w", err)
	}
	defer func() { _ = rows.Close() }()
	out := []SyncRule{}
	for rows.Next() {
		var r SyncRule
		var rule string
		var next int64
		if err := rows.Scan(&r.ID, &rule, &next); err != nil {
			return nil, fmt.Errorf("list sync rules: %w", err)
		}
		r.Rule, r.NextRun = []byte(rule), time.Unix(0, next)
		out = append(out, r)
	}
	return out, rows.Err()
}

// GetSyncRule returns the rule with id.
func (s *Store) GetSyncRule(ctx context.Context, id string) (SyncRule, error) {
	var r SyncRule
	var rule string
	var next int64
	err := s.r.QueryRowContext(ctx, `SELECT id, rule, next_run FROM sync_rules WHERE id = $1`, id).Scan(&r.ID, &rule, &next)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return r, fmt.Errorf("%s: %w", id, ErrSyncRuleUnknown)
		}
		return r, fmt.Errorf("get sync rule %s: %w", id, err)
	}
	r.Rule, r.NextRun = []byte(rule), time.Unix(0, next)
	return r, nil
}

// DeleteSyncRule removes the rule with id.
func (s *Store) DeleteSyncRule(ctx context.Context, id string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM sync_rules WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete sync rule %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%s: %w", id, ErrSyncRuleUnknown)
	}
	return nil
}

// Retirement is a golden image's retirement: its end of life, and when
// it leaves golden/.
type Retirement struct {
	Repository  string
	Reference   string // the tag (or digest) retired
	Digest      string
	EndOfLife   time.Time
	RemoveAfter time.Time
	RetiredBy   string
	CreatedAt   time.Time
	RemovedAt   time.Time // zero while in golden/
}

// PutRetirement records (or updates) a retirement.
func (s *Store) PutRetirement(ctx context.Context, r Retirement) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO golden_retirements(repository, reference, digest, end_of_life, remove_after, retired_by, created_at, removed_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, 0)
		ON CONFLICT (repository, reference) DO UPDATE SET digest = excluded.digest, end_of_life = excluded.end_of_life,
			remove_after = excluded.remove_after, retired_by = excluded.retired_by, removed_at = 0`,
		r.Repository, r.Reference, r.Digest, r.EndOfLife.UnixNano(), r.RemoveAfter.UnixNano(), r.RetiredBy, time.Now().UnixNano())
	if err != nil {
		return fmt.Errorf("record retirement of %s:%s: %w", r.Repository, r.Reference, err)
	}
	return nil
}

// ListRetirements lists retirements: all, or (due not zero) those still
// in golden/ whose grace period ended by due.
func (s *Store) ListRetirements(ctx context.Context, due time.Time) ([]Retirement, error) {
	q := `SELECT repository, reference, digest, end_of_life, remove_after, retired_by, created_at, removed_at FROM golden_retirements`
	var args []any
	if !due.IsZero() {
		q += ` WHERE removed_at = 0 AND remove_after <= $1`
		args = append(args, due.UnixNano())
	}
	rows, err := s.r.QueryContext(ctx, q+` ORDER BY remove_after, repository, reference`, args...)
	if err != nil {
		return nil, fmt.Errorf("list retirements: %w", err)
	}
	defer func() { _ = rows.Close() }()
	out := []Retirement{}
	for rows.Next() {
		var r Retirement
		var eol, after, created, removed int64
		if err := rows.Scan(&r.Repository, &r.Reference, &r.Digest, &eol, &after, &r.RetiredBy, &created, &removed); err != nil {
			return nil, fmt.Errorf("list retirements: %w", err)
		}
		r.EndOfLife, r.RemoveAfter, r.CreatedAt = time.Unix(0, eol), time.Unix(0, after), time.Unix(0, created)
		if removed != 0 {
			r.RemovedAt = time.Unix(0, removed)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// MarkRetirementRemoved records that a retired image left golden/.
func (s *Store) MarkRetirementRemoved(ctx context.Context, repo, ref string, at time.Time) error {
	if _, err := s.w.ExecContext(ctx, `UPDATE golden_retirements SET removed_at = $1 WHERE repository = $2 AND reference = $3`,
		at.UnixNano(), repo, ref); err != nil {
		return fmt.Errorf("record removal of %s:%s: %w", repo, ref, err)
	}
	return nil
}
