package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrExceptionUnknown: no exception has that ID.
var ErrExceptionUnknown = errors.New("exception unknown")

// Exception is a stored exception: an OpenVEX document (internal/policy
// parses it) with who added it and when it lapses.
type Exception struct {
	ID        string
	Document  []byte
	CreatedBy string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// AddException stores e.
func (s *Store) AddException(ctx context.Context, e Exception) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO exceptions(id, document, created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		e.ID, string(e.Document), e.CreatedBy, e.CreatedAt.UnixNano(), e.ExpiresAt.UnixNano())
	if err != nil {
		return fmt.Errorf("add exception %s: %w", e.ID, err)
	}
	return nil
}

// ListExceptions lists the exceptions that have not expired at now (all
// of them when now is zero), oldest first.
func (s *Store) ListExceptions(ctx context.Context, now time.Time) ([]Exception, error) {
	q := `SELECT id, document, created_by, created_at, expires_at FROM exceptions`
	var args []any
	if !now.IsZero() {
		q += ` WHERE expires_at > $1`
		args = append(args, now.UnixNano())
	}
	rows, err := s.r.QueryContext(ctx, q+` ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list exceptions: %w", err)
	}
	defer func() { _ = rows.Close() }()
	out := []Exception{}
	for rows.Next() {
		var e Exception
		var doc string
		var created, expires int64
		if err := rows.Scan(&e.ID, &doc, &e.CreatedBy, &created, &expires); err != nil {
			return nil, fmt.Errorf("list exceptions: %w", err)
		}
		e.Document, e.CreatedAt, e.ExpiresAt = []byte(doc), time.Unix(0, created), time.Unix(0, expires)
		out = append(out, e)
	}
	return out, rows.Err()
}

// DeleteException removes the exception with id.
func (s *Store) DeleteException(ctx context.Context, id string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM exceptions WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete exception %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%s: %w", id, ErrExceptionUnknown)
	}
	return nil
}
