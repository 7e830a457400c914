package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// acquisitionSchema is migration 4: acquisitions, their persisted step
// outputs, and the exceptions (OpenVEX statements) the pipeline honours.
//
// An acquisition row is also its job in the queue: workers claim a row by
// taking a lease on it (owner, lease_until) and write each finished step
// under that lease, so a worker that lost its lease (crashed, or stalled
// past it) can no longer write, and a restart resumes the row at its last
// finished step.
const acquisitionSchema = `
CREATE TABLE acquisitions (
	id              TEXT PRIMARY KEY,
	source          TEXT NOT NULL,
	name            TEXT NOT NULL,
	tag             TEXT NOT NULL DEFAULT '',
	upstream_digest TEXT NOT NULL DEFAULT '',
	state           TEXT NOT NULL,
	step            TEXT NOT NULL DEFAULT '',
	record          TEXT NOT NULL,
	attempts        BIGINT NOT NULL DEFAULT 0,
	owner           TEXT NOT NULL DEFAULT '',
	lease_until     BIGINT NOT NULL DEFAULT 0,
	run_after       BIGINT NOT NULL DEFAULT 0,
	created_at      BIGINT NOT NULL,
	updated_at      BIGINT NOT NULL
);
CREATE INDEX acquisitions_queue ON acquisitions(state, run_after, created_at);
CREATE INDEX acquisitions_created ON acquisitions(created_at);
CREATE INDEX acquisitions_digest ON acquisitions(name, upstream_digest);

CREATE TABLE acquisition_outputs (
	acquisition_id TEXT NOT NULL REFERENCES acquisitions(id) ON DELETE CASCADE,
	name           TEXT NOT NULL,
	value          {{bytes}} NOT NULL,
	PRIMARY KEY (acquisition_id, name)
);

CREATE TABLE exceptions (
	id         TEXT PRIMARY KEY,
	document   TEXT NOT NULL,
	created_by TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL
);
`

// Errors of the acquisition queue.
var (
	ErrAcquisitionUnknown = errors.New("acquisition unknown")
	// ErrLeaseLost: another worker holds the acquisition now (this one
	// stalled past its lease); what this worker did is not recorded.
	ErrLeaseLost = errors.New("lease on the acquisition lost")
)

// Acquisition is one acquisition's row. Record is the pipeline's own
// JSON (internal/acquire); the other columns are what the queue and
// the listings need.
type Acquisition struct {
	ID             string
	Source         string
	Name           string
	Tag            string
	UpstreamDigest string
	State          string
	Step           string
	Record         []byte
	Attempts       int
	Owner          string
	LeaseUntil     time.Time
	RunAfter       time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

const acquisitionColumns = `id, source, name, tag, upstream_digest, state, step, record, attempts, owner, lease_until, run_after, created_at, updated_at`

func scanAcquisition(row scanner) (Acquisition, error) {
	var a Acquisition
	var record string
	var lease, runAfter, created, updated int64
	if err := row.Scan(&a.ID, &a.Source, &a.Name, &a.Tag, &a.UpstreamDigest, &a.State, &a.Step, &record,
		&a.Attempts, &a.Owner, &lease, &runAfter, &created, &updated); err != nil {
		return a, err
	}
	a.Record = []byte(record)
	a.LeaseUntil, a.RunAfter = time.Unix(0, lease), time.Unix(0, runAfter)
	a.CreatedAt, a.UpdatedAt = time.Unix(0, created), time.Unix(0, updated)
	return a, nil
}

// CreateAcquisition queues a new acquisition.
func (s *Store) CreateAcquisition(ctx context.Context, a Acquisition) error {
	now := time.Now().UnixNano()
	_, err := s.w.ExecContext(ctx, `INSERT INTO acquisitions(`+acquisitionColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, '', 0, $9, $10, $10)`,
		a.ID, a.Source, a.Name, a.Tag, a.UpstreamDigest, a.State, a.Step, string(a.Record), a.RunAfter.UnixNano(), now)
	if err != nil {
		return fmt.Errorf("create acquisition %s: %w", a.ID, err)
	}
	return nil
}

// GetAcquisition returns the acquisition with id.
func (s *Store) GetAcquisition(ctx context.Context, id string) (Acquisition, error) {
	a, err := scanAcquisition(s.r.QueryRowContext(ctx, `SELECT `+acquisitionColumns+` FROM acquisitions WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return a, fmt.Errorf("%s: %w", id, ErrAcquisitionUnknown)
	}
	if err != nil {
		return a, fmt.Errorf("get acquisition %s: %w", id, err)
	}
	return a, nil
}

// AcquisitionFilter narrows ListAcquisitions.
type AcquisitionFilter struct {
	State string // "" for any
	Name  string // "" for any
	// Before lists those created before this time (paging newest first);
	// zero: from the newest.
	Before time.Time
	Limit  int // 0: 100
}

// ListAcquisitions lists acquisitions, newest first.
func (s *Store) ListAcquisitions(ctx context.Context, f AcquisitionFilter) ([]Acquisition, error) {
	q := `SELECT ` + acquisitionColumns + ` FROM acquisitions WHERE 1 = 1`
	var args []any
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	if f.State != "" {
		q += ` AND state = ` + arg(f.State)
	}
	if f.Name != "" {
		q += ` AND name = ` + arg(f.Name)
	}
	if !f.Before.IsZero() {
		q += ` AND created_at < ` + arg(f.Before.UnixNano())
	}
	limit := f.Limit
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	q += ` ORDER BY created_at DESC, id DESC LIMIT ` + arg(limit)
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list acquisitions: %w", err)
	}
	defer func() { _ = rows.Close() }()
	out := []Acquisition{}
	for rows.Next() {
		a, err := scanAcquisition(rows)
		if err != nil {
			return nil, fmt.Errorf("list acquisitions: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// FindFinishedAcquisition returns the newest acquisition of name from
// upstreamDigest in one of states (promoted, blocked), for the pipeline's
// idempotency check.
func (s *Store) FindFinishedAcquisition(ctx context.Context, name, upstreamDigest string, states ...string) (Acquisition, bool, error) {
	for _, st := range states {
		a, err := scanAcquisition(s.r.QueryRowContext(ctx, `SELECT `+acquisitionColumns+` FROM acquisitions
			WHERE name = $1 AND upstream_digest = $2 AND state = $3 ORDER BY updated_at DESC LIMIT 1`, name, upstreamDigest, st))
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return a, false, fmt.Errorf("find acquisition of %s@%s: %w", name, upstreamDigest, err)
		}
		return a, true, nil
	}
	return Acquisition{}, false, nil
}

// ClaimAcquisition leases the oldest runnable acquisition (one of states,
// due, and not leased by a live worker) to owner until now+lease. ok is
// false when there is none.
func (s *Store) ClaimAcquisition(ctx context.Context, owner string, now time.Time, lease time.Duration, states ...string) (a Acquisition, ok bool, err error) {
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		for _, st := range states {
			var id string
			err := tx.QueryRowContext(ctx, `SELECT id FROM acquisitions
				WHERE state = $1 AND run_after <= $2 AND lease_until < $2
				ORDER BY run_after, created_at LIMIT 1`, st, now.UnixNano()).Scan(&id)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return fmt.Errorf("find a queued acquisition: %w", err)
			}
			// The lease is taken only if nobody took it since the SELECT
			// (several workers on PostgreSQL): the row count says.
			res, err := tx.ExecContext(ctx, `UPDATE acquisitions SET owner = $1, lease_until = $2 WHERE id = $3 AND lease_until < $4`,
				owner, now.Add(lease).UnixNano(), id, now.UnixNano())
			if err != nil {
				return fmt.Errorf("lease acquisition %s: %w", id, err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				continue
			}
			if a, err = scanAcquisition(tx.QueryRowContext(ctx, `SELECT `+acquisitionColumns+` FROM acquisitions WHERE id = $1`, id)); err != nil {
				return fmt.Errorf("read acquisition %s: %w", id, err)
			}
			ok = true
			return nil
		}
		return nil
	})
	return a, ok, err
}

// SaveAcquisition writes the acquisition's state, step and record, and
// the named outputs, in one transaction, only while owner still holds its
// lease (else ErrLeaseLost); the lease is extended to leaseUntil, or
// released when leaseUntil is zero.
func (s *Store) SaveAcquisition(ctx context.Context, owner string, a Acquisition, leaseUntil time.Time, outputs map[string][]byte) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		now := time.Now()
		newOwner, lease := owner, leaseUntil.UnixNano()
		if leaseUntil.IsZero() {
			newOwner, lease = "", 0
		}
		res, err := tx.ExecContext(ctx, `UPDATE acquisitions SET upstream_digest = $1, state = $2, step = $3, record = $4,
			attempts = $5, run_after = $6, owner = $7, lease_until = $8, updated_at = $9
			WHERE id = $10 AND owner = $11 AND lease_until >= $12`,
			a.UpstreamDigest, a.State, a.Step, string(a.Record), a.Attempts, a.RunAfter.UnixNano(), newOwner, lease, now.UnixNano(),
			a.ID, owner, now.UnixNano())
		if err != nil {
			return fmt.Errorf("save acquisition %s: %w", a.ID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("save acquisition %s: %w", a.ID, ErrLeaseLost)
		}
		for name, v := range outputs {
			if _, err := tx.ExecContext(ctx, `INSERT INTO acquisition_outputs(acquisition_id, name, value) VALUES ($1, $2, $3)
				ON CONFLICT (acquisition_id, name) DO UPDATE SET value = excluded.value`, a.ID, name, v); err != nil {
				return fmt.Errorf("save output %s of acquisition %s: %w", name, a.ID, err)
			}
		}
		return nil
	})
}

// UpdateAcquisition changes a row that no worker holds (a retry asked
// for by an operator): fn gets the current row and returns the new one,
// or an error that leaves it unchanged.
func (s *Store) UpdateAcquisition(ctx context.Context, id string, fn func(*Acquisition) error) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		a, err := scanAcquisition(tx.QueryRowContext(ctx, `SELECT `+acquisitionColumns+` FROM acquisitions WHERE id = $1`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%s: %w", id, ErrAcquisitionUnknown)
		}
		if err != nil {
			return fmt.Errorf("read acquisition %s: %w", id, err)
		}
		if err := fn(&a); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE acquisitions SET state = $1, step = $2, record = $3, attempts = $4, run_after = $5,
			owner = '', lease_until = 0, updated_at = $6 WHERE id = $7`,
			a.State, a.Step, string(a.Record), a.Attempts, a.RunAfter.UnixNano(), time.Now().UnixNano(), id)
		if err != nil {
			return fmt.Errorf("update acquisition %s: %w", id, err)
		}
		return nil
	})
}

// RenewAcquisitionLease extends owner's lease on id; ErrLeaseLost when
// owner no longer holds it.
func (s *Store) RenewAcquisitionLease(ctx context.Context, id, owner string, until time.Time) error {
	res, err := s.w.ExecContext(ctx, `UPDATE acquisitions SET lease_until = $1 WHERE id = $2 AND owner = $3 AND lease_until >= $4`,
		until.UnixNano(), id, owner, time.Now().UnixNano())
	if err != nil {
		return fmt.Errorf("renew lease on acquisition %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("renew lease on acquisition %s: %w", id, ErrLeaseLost)
	}
	return nil
}

// ReleaseAcquisitionLeases drops every lease. Only a process that is the
// sole worker on the database may call it (cssc serve holds the data
// directory's lock): leases it finds are orphans of a crash, and their
// acquisitions resume at once instead of when the lease runs out.
func (s *Store) ReleaseAcquisitionLeases(ctx context.Context) (int, error) {
	res, err := s.w.ExecContext(ctx, `UPDATE acquisitions SET owner = '', lease_until = 0 WHERE owner <> ''`)
	if err != nil {
		return 0, fmt.Errorf("release acquisition leases: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// AcquisitionOutput returns a named output a step saved.
func (s *Store) AcquisitionOutput(ctx context.Context, id, name string) ([]byte, error) {
	var v []byte
	err := s.r.QueryRowContext(ctx, `SELECT value FROM acquisition_outputs WHERE acquisition_id = $1 AND name = $2`, id, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("output %s of acquisition %s: %w", name, id, ErrAcquisitionUnknown)
	}
	if err != nil {
		return nil, fmt.Errorf("read output %s of acquisition %s: %w", name, id, err)
	}
	return v, nil
}

// CountAcquisitions counts acquisitions by state.
func (s *Store) CountAcquisitions(ctx context.Context) (map[string]int, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT state, COUNT(*) FROM acquisitions GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("count acquisitions: %w", err)
	}
	defer func() { _ = rows.Close() }()
	out := map[string]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, err
		}
		out[st] = n
	}
	return out, rows.Err()
}
