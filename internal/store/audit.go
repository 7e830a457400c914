package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// auditSchema is migration 3: the audit trail (see internal/audit).
//
// Events are append-only: every column of audit_events is covered by the
// event's hash, so none may ever change. Checkpoints sign the chain head
// every so many events; each also names the hash of the checkpoint before
// it.
const auditSchema = `
CREATE TABLE audit_events (
	seq         BIGINT PRIMARY KEY,
	occurred_at BIGINT NOT NULL,
	count       BIGINT NOT NULL,
	last_at     BIGINT NOT NULL,
	actor       TEXT NOT NULL,
	actor_kind  TEXT NOT NULL,
	client_cert TEXT NOT NULL,
	source      TEXT NOT NULL,
	request_id  TEXT NOT NULL,
	action      TEXT NOT NULL,
	repo        TEXT NOT NULL,
	digest      TEXT NOT NULL,
	tag         TEXT NOT NULL,
	target      TEXT NOT NULL,
	decision    TEXT NOT NULL,
	reason      TEXT NOT NULL,
	severity    TEXT NOT NULL,
	prev_hash   TEXT NOT NULL,
	hash        TEXT NOT NULL
);
CREATE INDEX audit_events_time ON audit_events(occurred_at);
CREATE INDEX audit_events_actor ON audit_events(actor, seq);

CREATE TABLE audit_checkpoints (
	id         BIGINT PRIMARY KEY,
	kind       TEXT NOT NULL,
	seq        BIGINT NOT NULL,
	head_hash  TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	prev_hash  TEXT NOT NULL,
	key_id     TEXT NOT NULL,
	signature  TEXT NOT NULL
);
`

// AuditRecord is one stored audit event, as the audit package hashes it.
// Time is Unix nanoseconds. Count identical events (pulls of one manifest
// by one caller, coalesced by the audit package) happened from Time to
// LastTime; a single event has Count 1 and LastTime == Time.
type AuditRecord struct {
	Seq        int64
	Time       int64
	Count      int64
	LastTime   int64
	Actor      string
	ActorKind  string
	ClientCert string
	Source     string
	RequestID  string
	Action     string
	Repo       string
	Digest     string
	Tag        string
	Target     string
	Decision   string
	Reason     string
	Severity   string
	PrevHash   string
	Hash       string
}

// AuditCheckpoint is a signed statement of the chain head: event Seq has
// hash HeadHash. PrevHash is the hash of checkpoint ID-1. Kind says why it
// was written (the audit package's periodic, open or close).
type AuditCheckpoint struct {
	ID        int64
	Kind      string
	Seq       int64
	HeadHash  string
	Time      int64
	PrevHash  string
	KeyID     string
	Signature string
}

// AuditFilter selects events for ListAudit. Zero fields do not filter.
// Actor, Target and Action match exactly, or as a prefix when they end in
// "*". Target matches the repo, digest, tag or target column.
type AuditFilter struct {
	Since, Until int64 // Unix nanoseconds: Since <= time < Until
	Actor        string
	Target       string
	Action       string
	After        int64 // only events with seq > After
	Limit        int   // at most this many (<= 0: no limit)
}

const auditColumns = `seq, occurred_at, count, last_at, actor, actor_kind, client_cert, source, request_id, action,
	repo, digest, tag, target, decision, reason, severity, prev_hash, hash`

const checkpointColumns = `id, kind, seq, head_hash, created_at, prev_hash, key_id, signature`

// AppendAudit stores events and, if cp is not nil, a checkpoint, in one
// transaction: all of them or none.
func (s *Store) AppendAudit(ctx context.Context, events []AuditRecord, cp *AuditCheckpoint) error {
	if len(events) == 0 && cp == nil {
		return nil
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if len(events) > 0 {
			stmt, err := tx.PrepareContext(ctx, `INSERT INTO audit_events(`+auditColumns+`)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)`)
			if err != nil {
				return err
			}
			defer func() { _ = stmt.Close() }()
			for i := range events {
				e := &events[i]
				if _, err := stmt.ExecContext(ctx, e.Seq, e.Time, e.Count, e.LastTime, e.Actor, e.ActorKind, e.ClientCert, e.Source,
					e.RequestID, e.Action, e.Repo, e.Digest, e.Tag, e.Target, e.Decision, e.Reason, e.Severity,
					e.PrevHash, e.Hash); err != nil {
					return fmt.Errorf("event %d: %w", e.Seq, err)
				}
			}
		}
		if cp != nil {
			if _, err := tx.ExecContext(ctx, `INSERT INTO audit_checkpoints(`+checkpointColumns+`)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
				cp.ID, cp.Kind, cp.Seq, cp.HeadHash, cp.Time, cp.PrevHash, cp.KeyID, cp.Signature); err != nil {
				return fmt.Errorf("checkpoint %d: %w", cp.ID, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("append audit batch: %w", err)
	}
	return nil
}

// AuditHead returns the event with the highest seq; ok is false when there
// is none.
func (s *Store) AuditHead(ctx context.Context) (rec AuditRecord, ok bool, err error) {
	row := s.r.QueryRowContext(ctx, `SELECT `+auditColumns+` FROM audit_events ORDER BY seq DESC LIMIT 1`)
	rec, err = scanAuditRecord(row)
	if errors.Is(err, sql.ErrNoRows) {
		return AuditRecord{}, false, nil
	}
	if err != nil {
		return AuditRecord{}, false, fmt.Errorf("read audit head: %w", err)
	}
	return rec, true, nil
}

// LastAuditCheckpoint returns the checkpoint with the highest id; ok is
// false when there is none.
func (s *Store) LastAuditCheckpoint(ctx context.Context) (cp AuditCheckpoint, ok bool, err error) {
	row := s.r.QueryRowContext(ctx, `SELECT `+checkpointColumns+` FROM audit_checkpoints ORDER BY id DESC LIMIT 1`)
	err = row.Scan(&cp.ID, &cp.Kind, &cp.Seq, &cp.HeadHash, &cp.Time, &cp.PrevHash, &cp.KeyID, &cp.Signature)
	if errors.Is(err, sql.ErrNoRows) {
		return AuditCheckpoint{}, false, nil
	}
	if err != nil {
		return AuditCheckpoint{}, false, fmt.Errorf("read last audit checkpoint: %w", err)
	}
	return cp, true, nil
}

// AuditCheckpoints returns the checkpoints with id > afterID, by id.
func (s *Store) AuditCheckpoints(ctx context.Context, afterID int64) ([]AuditCheckpoint, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+checkpointColumns+` FROM audit_checkpoints WHERE id > $1 ORDER BY id`, afterID)
	if err != nil {
		return nil, fmt.Errorf("list audit checkpoints: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var out []AuditCheckpoint
	for rows.Next() {
		var cp AuditCheckpoint
		if err := rows.Scan(&cp.ID, &cp.Kind, &cp.Seq, &cp.HeadHash, &cp.Time, &cp.PrevHash, &cp.KeyID, &cp.Signature); err != nil {
			return nil, fmt.Errorf("list audit checkpoints: %w", err)
		}
		out = append(out, cp)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list audit checkpoints: %w", err)
	}
	return out, nil
}

// auditScanPage is how many events ScanAudit reads per query, so that no
// read holds a snapshot of the database for the whole scan.
const auditScanPage = 1000

// ScanAudit calls fn for every event with seq > after, in seq order, until
// fn returns an error (which ScanAudit returns). Events appended while it
// runs are included.
func (s *Store) ScanAudit(ctx context.Context, after int64, fn func(AuditRecord) error) error {
	for {
		page, err := s.ListAudit(ctx, AuditFilter{After: after, Limit: auditScanPage})
		if err != nil {
			return fmt.Errorf("scan audit events: %w", err)
		}
		for _, rec := range page {
			if err := fn(rec); err != nil {
				return err
			}
			after = rec.Seq
		}
		if len(page) < auditScanPage {
			return nil
		}
	}
}

// ListAudit returns the events f selects, by seq.
func (s *Store) ListAudit(ctx context.Context, f AuditFilter) ([]AuditRecord, error) {
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.After != 0 {
		where = append(where, "seq > "+arg(f.After))
	}
	if f.Since != 0 {
		where = append(where, "occurred_at >= "+arg(f.Since))
	}
	if f.Until != 0 {
		where = append(where, "occurred_at < "+arg(f.Until))
	}
	if f.Actor != "" {
		where = append(where, auditMatch("actor", f.Actor, arg))
	}
	if f.Action != "" {
		where = append(where, auditMatch("action", f.Action, arg))
	}
	if f.Target != "" {
		var cols []string
		for _, col := range []string{"repo", "digest", "tag", "target"} {
			cols = append(cols, auditMatch(col, f.Target, arg))
		}
		where = append(where, "("+strings.Join(cols, " OR ")+")")
	}
	q := `SELECT ` + auditColumns + ` FROM audit_events`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	limit := int64(math.MaxInt64)
	if f.Limit > 0 {
		limit = int64(f.Limit)
	}
	q += ` ORDER BY seq LIMIT ` + arg(limit)
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	defer func() { _ = rows.Close() }()
	out := []AuditRecord{}
	for rows.Next() {
		rec, err := scanAuditRecord(rows)
		if err != nil {
			return nil, fmt.Errorf("list audit events: %w", err)
		}
		out = append(out, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	return out, nil
}

// auditMatch is "col = v", or a prefix match when v ends in "*". The prefix is
// compared with substr rather than LIKE: LIKE ignores case in SQLite but
// not in PostgreSQL, substr and length count characters in both.
func auditMatch(col, v string, arg func(any) string) string {
	prefix, ok := strings.CutSuffix(v, "*")
	if !ok {
		return col + " = " + arg(v)
	}
	return "substr(" + col + ", 1, " + arg(int64(utf8.RuneCountInString(prefix))) + ") = " + arg(prefix)
}

func scanAuditRecord(row interface{ Scan(dest ...any) error }) (AuditRecord, error) {
	var e AuditRecord
	err := row.Scan(&e.Seq, &e.Time, &e.Count, &e.LastTime, &e.Actor, &e.ActorKind, &e.ClientCert, &e.Source, &e.RequestID, &e.Action,
		&e.Repo, &e.Digest, &e.Tag, &e.Target, &e.Decision, &e.Reason, &e.Severity, &e.PrevHash, &e.Hash)
	return e, err
}
