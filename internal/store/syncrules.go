package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// syncRuleSchema is migration 6: sync rules (an upstream repository, a
// tag pattern and an interval; the pipeline owns the rule's JSON).
const syncRuleSchema = `
CREATE TABLE sync_rules (
	id         TEXT PRIMARY KEY,
	rule       TEXT NOT NULL,
	next_run   BIGINT NOT NULL,
	created_at BIGINT NOT NULL
);
CREATE INDEX sync_rules_next_run ON sync_rules(next_run);
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
