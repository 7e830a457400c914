package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/cssc-project/cssc/internal/store"
)

// Filter selects events. Zero fields do not filter.
//
// Actor and Action match exactly; Target matches the event's repo, digest,
// tag or target exactly. A value ending in "*" matches as a prefix instead
// ("manifest.*", "team/*"). Since is inclusive, Until exclusive.
type Filter struct {
	Since, Until time.Time
	Actor        string
	Target       string
	Action       string
	After        int64 // only events with seq > After (a cursor)
	Limit        int   // at most this many (<= 0: DefaultListLimit)
}

// Limits of List.
const (
	DefaultListLimit = 1000
	MaxListLimit     = 10000
)

func (f Filter) store() store.AuditFilter {
	sf := store.AuditFilter{Actor: f.Actor, Target: f.Target, Action: f.Action, After: f.After, Limit: f.Limit}
	if !f.Since.IsZero() {
		sf.Since = unixNano(f.Since)
	}
	if !f.Until.IsZero() {
		sf.Until = unixNano(f.Until)
	}
	return sf
}

// unixNano is t in Unix nanoseconds, clamped to what an int64 holds
// (years 1678 to 2262) instead of overflowing.
func unixNano(t time.Time) int64 {
	switch {
	case t.Before(time.Unix(0, math.MinInt64)):
		return math.MinInt64
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// List returns the events f selects, by seq.
func (l *Log) List(ctx context.Context, f Filter) ([]Event, error) {
	entries, err := ListEntries(ctx, l.db, f)
	if err != nil {
		return nil, err
	}
	out := make([]Event, len(entries))
	for i := range entries {
		out[i] = entries[i].Event
	}
	return out, nil
}

// ListEntries returns the events f selects with their hashes, by seq, at
// most f.Limit (default DefaultListLimit, at most MaxListLimit).
func ListEntries(ctx context.Context, db Reader, f Filter) ([]Entry, error) {
	if f.Limit <= 0 {
		f.Limit = DefaultListLimit
	}
	f.Limit = min(f.Limit, MaxListLimit)
	recs, err := db.ListAudit(ctx, f.store())
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	out := make([]Entry, len(recs))
	for i := range recs {
		out[i] = toEntry(&recs[i])
	}
	return out, nil
}

// Export writes every event f selects (f.Limit <= 0: all of them) to w as
// JSON lines, one Entry (event, prev_hash, hash) per line, by seq.
func Export(ctx context.Context, db Reader, w io.Writer, f Filter) error {
	enc := json.NewEncoder(w)
	remaining := f.Limit
	f.Limit = 0
	for {
		page := MaxListLimit
		if remaining > 0 {
			page = min(page, remaining)
		}
		sf := f.store()
		sf.Limit = page
		recs, err := db.ListAudit(ctx, sf)
		if err != nil {
			return fmt.Errorf("export audit events: %w", err)
		}
		for i := range recs {
			if err := enc.Encode(toEntry(&recs[i])); err != nil {
				return fmt.Errorf("export audit events: %w", err)
			}
		}
		if remaining > 0 {
			remaining -= len(recs)
			if remaining == 0 {
				return nil
			}
		}
		if len(recs) < page {
			return nil
		}
		f.After = recs[len(recs)-1].Seq
	}
}

// Export writes the events f selects as JSON lines (see Export).
func (l *Log) Export(ctx context.Context, w io.Writer, f Filter) error {
	return Export(ctx, l.db, w, f)
}

// WriteJSONL writes items (events or entries) to w, one JSON object per
// line.
func WriteJSONL[T Event | Entry](w io.Writer, items []T) error {
	enc := json.NewEncoder(w)
	for i := range items {
		if err := enc.Encode(&items[i]); err != nil {
			return fmt.Errorf("write JSON lines: %w", err)
		}
	}
	return nil
}
