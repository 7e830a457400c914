package audit

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/cssc-project/cssc/internal/store"
)

// Reader is what verification, listing and export read; *store.Store
// implements it (a read-only store too).
type Reader interface {
	AuditHead(ctx context.Context) (store.AuditRecord, bool, error)
	LastAuditCheckpoint(ctx context.Context) (store.AuditCheckpoint, bool, error)
	AuditCheckpoints(ctx context.Context, afterID int64) ([]store.AuditCheckpoint, error)
	ScanAudit(ctx context.Context, after int64, fn func(store.AuditRecord) error) error
	ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditRecord, error)
}

// DB is the audit trail's storage; *store.Store implements it.
type DB interface {
	Reader
	// AppendAudit stores events and an optional checkpoint in one
	// transaction.
	AppendAudit(ctx context.Context, events []store.AuditRecord, cp *store.AuditCheckpoint) error
}

// Defaults of Options.
const (
	DefaultCheckpointEvery    = 1000
	DefaultCheckpointInterval = time.Minute
	DefaultBatchSize          = 4096
	DefaultFlushInterval      = 200 * time.Millisecond
	DefaultQueueSize          = 65536
	DefaultForwardQueueSize   = 8192
)

// Options configure a Log. Zero values take the defaults above.
type Options struct {
	// KeyPath is the Ed25519 signing key (PKCS#8 PEM, mode 0600), kept
	// outside the database. It is created when missing, together with its
	// public half at PublicKeyPath(KeyPath) (PKIX PEM).
	KeyPath string
	// HeadFile receives the newest signed checkpoint after every
	// checkpoint (e.g. <data-dir>/audit.head), so that deleting the newest
	// events together with their checkpoints is found. "": none.
	HeadFile string
	// CheckpointEvery signs a checkpoint every N events.
	CheckpointEvery int
	// CheckpointInterval also signs one when an event has waited this long
	// without a checkpoint covering it (< 0: never on time alone).
	CheckpointInterval time.Duration
	// PullSampling records 1 allowed pull in N (0 or 1: every pull).
	// Denied pulls are always recorded.
	PullSampling int
	// BatchSize is how many asynchronous events are written per commit
	// at most (identical ones coalesced into one row).
	BatchSize int
	// FlushInterval is the longest an asynchronous event waits for its
	// batch.
	FlushInterval time.Duration
	// QueueSize bounds the asynchronous queue. When it is full RecordAsync
	// drops the event, counts it and records an "audit.dropped" event with
	// the count once there is room again.
	QueueSize int
	// Syslog forwards every event to a syslog receiver in RFC 5424:
	// "udp://host:port" or "tcp://host:port" (octet-counting framing).
	Syslog string
	// Webhook forwards events as JSON lines, POSTed in batches, to this URL.
	Webhook string
	// ForwardQueueSize bounds each forwarder's queue; when full, events
	// are not forwarded (they stay in the database) and are counted.
	ForwardQueueSize int
	Logger           *slog.Logger

	retryMin time.Duration // first forwarding retry delay (tests shorten it)
}

func (o *Options) defaults() {
	if o.CheckpointEvery <= 0 {
		o.CheckpointEvery = DefaultCheckpointEvery
	}
	if o.CheckpointInterval == 0 {
		o.CheckpointInterval = DefaultCheckpointInterval
	}
	if o.PullSampling < 1 {
		o.PullSampling = 1
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.ForwardQueueSize <= 0 {
		o.ForwardQueueSize = DefaultForwardQueueSize
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.retryMin <= 0 {
		o.retryMin = 500 * time.Millisecond
	}
}

// Kinds of checkpoints. A close checkpoint promises that no event follows
// until the open checkpoint of the next start, at the same seq: events
// appended while cssc is stopped show.
const (
	checkpointPeriodic = "periodic" // every CheckpointEvery events or CheckpointInterval
	checkpointOpen     = "open"     // at start, over what the last run (or a crash) left
	checkpointClose    = "close"    // at Close
)

// ErrClosed is returned by Record after Close.
var ErrClosed = errors.New("audit log is closed")

// Log is the audit trail of one process, which must be the only writer of
// its database (the data directory's lock sees to that): it keeps the chain
// head in memory and assigns sequence numbers itself.
type Log struct {
	db   DB
	opts Options
	log  *slog.Logger
	key  ed25519.PrivateKey
	pub  ed25519.PublicKey

	mu             sync.Mutex // one writer: guards everything down to closed
	h              hasher
	seq            int64
	head           string
	cp             store.AuditCheckpoint // the newest checkpoint (ID 0: none)
	cpHash         string
	uncoveredSince time.Time // when the oldest event no checkpoint covers was written
	closed         bool

	// pending holds the asynchronous events not yet taken by the writer,
	// in the order they first came. An event equal to a pending one but
	// for its time and request id only adds to that one's count (keeping
	// the earliest time and request id and the latest time), so a pull
	// repeated many times a second costs a map update and one row: a row
	// per pull would make the audit trail the most expensive part of a
	// pull. At most QueueSize distinct events wait.
	pmu     sync.Mutex
	pending []Event
	pindex  map[coalesceKey]int
	// full wakes the flusher when a batch is pending; otherwise it wakes
	// every FlushInterval, not for each event.
	full        chan struct{}
	closing     atomic.Bool
	stop        chan struct{}
	flusherDone chan struct{}
	pulls       atomic.Uint64
	dropPending atomic.Int64 // dropped since the last audit.dropped event
	stats       struct{ written, dropped, sampledOut atomic.Int64 }

	forwarders []*forwarder
	closeOnce  sync.Once
	closeErr   error
}

// Stats are counters for metrics.
type Stats struct {
	Written        int64 // events stored
	Dropped        int64 // asynchronous events dropped because the queue was full
	SampledOut     int64 // pulls not recorded because of sampling
	Queued         int   // asynchronous events waiting
	ForwardDropped int64 // events not forwarded (a forwarder's queue was full or the receiver refused them)
}

// Stats returns the log's counters.
func (l *Log) Stats() Stats {
	s := Stats{
		Written:    l.stats.written.Load(),
		Dropped:    l.stats.dropped.Load(),
		SampledOut: l.stats.sampledOut.Load(),
		Queued:     l.pendingLen(),
	}
	for _, f := range l.forwarders {
		s.ForwardDropped += f.dropped.Load()
	}
	return s
}

// Open starts the audit log on db: it loads (or creates) the signing key,
// reads the chain head, checks the events since the newest checkpoint and
// starts the asynchronous writer and the forwarders. A tail that does not
// verify is logged as an error and the log starts anyway; Verify reports
// the details.
func Open(ctx context.Context, db DB, opts Options) (*Log, error) {
	opts.defaults()
	key, err := LoadOrCreateKey(opts.KeyPath, opts.Logger)
	if err != nil {
		return nil, err
	}
	l := &Log{
		db:          db,
		opts:        opts,
		log:         opts.Logger,
		key:         key,
		pub:         key.Public().(ed25519.PublicKey),
		head:        genesisHash,
		cpHash:      genesisHash,
		pindex:      map[coalesceKey]int{},
		full:        make(chan struct{}, 1),
		stop:        make(chan struct{}),
		flusherDone: make(chan struct{}),
	}
	// Forwarding targets first: a bad one fails before anything is written.
	if l.forwarders, err = newForwarders(&l.opts); err != nil {
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	if err := l.start(ctx); err != nil {
		for _, f := range l.forwarders {
			f.close(context.WithoutCancel(ctx))
		}
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	go l.flusher()
	return l, nil
}

// start reads the head, checks the tail and signs an open checkpoint.
func (l *Log) start(ctx context.Context) error {
	head, ok, err := l.db.AuditHead(ctx)
	if err != nil {
		return err
	}
	if ok {
		l.seq, l.head = head.Seq, head.Hash
	}
	cp, ok, err := l.db.LastAuditCheckpoint(ctx)
	if err != nil {
		return err
	}
	if ok {
		l.cp, l.cpHash = cp, checkpointHash(&cp)
	}
	problems, err := l.checkTail(ctx)
	if err != nil {
		return err
	}
	for _, p := range problems {
		l.log.Error("audit trail does not verify", "seq", p.Seq, "kind", p.Kind, "detail", p.Detail)
	}
	if len(problems) > 0 {
		l.log.Error("the audit trail was changed outside cssc; starting anyway: run `cssc audit verify` for a full report",
			"problems", len(problems))
	}
	if l.opts.HeadFile == "" {
		l.log.Warn("the audit log has no head file: deleting the newest events together with their checkpoints would go unnoticed")
	}
	if l.seq == 0 {
		return nil
	}
	// Sign where this run starts. After a close checkpoint it names the
	// same seq, unless events were added while cssc was stopped, which
	// Verify then reports; after a crash it covers what the crash left.
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.checkpointLocked(ctx, checkpointOpen)
}

// PublicKey is the public half of the signing key.
func (l *Log) PublicKey() ed25519.PublicKey { return l.pub }

// Record stores e synchronously: it is committed when Record returns. Seq
// is assigned and Time set to now if zero; the stored event is returned.
// State changes are recorded this way, before the request is answered.
func (l *Log) Record(ctx context.Context, e Event) (Event, error) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	recs := []store.AuditRecord{toRecord(e)}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return Event{}, ErrClosed
	}
	if err := l.appendLocked(ctx, recs); err != nil {
		return Event{}, fmt.Errorf("record audit event %s: %w", e.Action, err)
	}
	return toEvent(&recs[0]), nil
}

// RecordAsync queues e (pulls, denials) for the batch writer and returns
// at once: it never blocks. Allowed pulls are sampled (Options.PullSampling).
// When the queue is full the event is dropped and counted; an
// "audit.dropped" event with the count is recorded when there is room.
func (l *Log) RecordAsync(e Event) {
	if l.closing.Load() {
		l.stats.dropped.Add(1)
		return
	}
	if l.opts.PullSampling > 1 && e.Action == "pull" && e.Decision == Allow {
		if (l.pulls.Add(1)-1)%uint64(l.opts.PullSampling) != 0 {
			l.stats.sampledOut.Add(1)
			return
		}
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	k := keyOf(&e)
	l.pmu.Lock()
	if i, ok := l.pindex[k]; ok {
		p := &l.pending[i]
		p.Count++
		if e.Time.After(p.LastTime) {
			p.LastTime = e.Time
		}
		if e.Time.Before(p.Time) { // the earliest event's time and request id
			p.Time, p.RequestID = e.Time, e.RequestID
		}
		l.pmu.Unlock()
		return
	}
	n := len(l.pending)
	if n < l.opts.QueueSize {
		e.Count, e.LastTime = 1, e.Time
		l.pindex[k] = n
		l.pending = append(l.pending, e)
	}
	l.pmu.Unlock()
	switch {
	case n >= l.opts.QueueSize:
		l.stats.dropped.Add(1)
		if l.dropPending.Add(1) == 1 {
			l.log.Warn("audit queue full: dropping asynchronous events (they are counted and the count recorded)",
				"queue_size", l.opts.QueueSize)
		}
	case n+1 >= l.opts.BatchSize:
		select {
		case l.full <- struct{}{}:
		default:
		}
	}
}

// Close writes what is queued, signs a final checkpoint, and stops the
// forwarders (which get until ctx is done, at most 5 s without a deadline,
// to deliver what they hold).
func (l *Log) Close(ctx context.Context) error {
	l.closeOnce.Do(func() {
		l.closing.Store(true)
		close(l.stop)
		<-l.flusherDone
		l.mu.Lock()
		var err error
		if l.seq > 0 {
			err = l.checkpointLocked(ctx, checkpointClose)
		}
		l.closed = true
		l.mu.Unlock()
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
		}
		for _, f := range l.forwarders {
			f.close(ctx)
		}
		if err != nil {
			l.closeErr = fmt.Errorf("close audit log: %w", err)
		}
	})
	return l.closeErr
}

// appendLocked chains recs onto the head, stores them (with a checkpoint
// when one is due) in one transaction and forwards them. On error nothing
// changed and recs may be tried again.
func (l *Log) appendLocked(ctx context.Context, recs []store.AuditRecord) error {
	seq, head := l.seq, l.head
	for i := range recs {
		seq++
		recs[i].Seq, recs[i].PrevHash = seq, head
		recs[i].Hash = l.h.eventHash(&recs[i], seq)
		head = recs[i].Hash
	}
	var cp *store.AuditCheckpoint
	if seq-l.cp.Seq >= int64(l.opts.CheckpointEvery) {
		c := l.newCheckpoint(seq, head, checkpointPeriodic)
		cp = &c
	}
	if err := l.db.AppendAudit(ctx, recs, cp); err != nil {
		l.resync(ctx)
		return err
	}
	l.seq, l.head = seq, head
	l.stats.written.Add(int64(len(recs)))
	if cp != nil {
		l.checkpointed(*cp)
	} else if l.uncoveredSince.IsZero() {
		l.uncoveredSince = time.Now()
	}
	if len(l.forwarders) > 0 {
		for i := range recs {
			entry := toEntry(&recs[i])
			for _, f := range l.forwarders {
				f.enqueue(entry)
			}
		}
	}
	return nil
}

// resync re-reads the head after a failed append, in case the commit
// happened after all (an error after COMMIT), so that the next append
// neither reuses a seq nor forks the chain.
func (l *Log) resync(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	head, ok, err := l.db.AuditHead(ctx)
	if err != nil || !ok || head.Seq == l.seq {
		return
	}
	l.log.Warn("audit head moved under a failed append; following the database", "seq", head.Seq)
	l.seq, l.head = head.Seq, head.Hash
	if cp, ok, err := l.db.LastAuditCheckpoint(ctx); err == nil && ok && cp.ID != l.cp.ID {
		l.checkpointed(cp)
	}
}

func (l *Log) newCheckpoint(seq int64, head, kind string) store.AuditCheckpoint {
	cp := store.AuditCheckpoint{
		ID:       l.cp.ID + 1,
		Kind:     kind,
		Seq:      seq,
		HeadHash: head,
		Time:     time.Now().UnixNano(),
		PrevHash: l.cpHash,
	}
	signCheckpoint(&cp, l.key)
	return cp
}

// checkpointed makes cp the newest checkpoint and writes the head file.
func (l *Log) checkpointed(cp store.AuditCheckpoint) {
	l.cp, l.cpHash = cp, checkpointHash(&cp)
	l.uncoveredSince = time.Time{}
	if l.opts.HeadFile == "" {
		return
	}
	if err := writeHeadFile(l.opts.HeadFile, &cp); err != nil {
		l.log.Error("could not write the audit head file", "file", l.opts.HeadFile, "err", err)
	}
}

// checkpointLocked signs the head.
func (l *Log) checkpointLocked(ctx context.Context, kind string) error {
	cp := l.newCheckpoint(l.seq, l.head, kind)
	if err := l.db.AppendAudit(ctx, nil, &cp); err != nil {
		l.resync(ctx)
		return fmt.Errorf("write audit checkpoint: %w", err)
	}
	l.checkpointed(cp)
	return nil
}

// flusher writes asynchronous events in batches: when BatchSize are
// pending or FlushInterval passed, whichever is first.
func (l *Log) flusher() {
	defer close(l.flusherDone)
	ctx := context.Background()
	batch := make([]Event, 0, l.opts.BatchSize)
	tick := time.NewTicker(l.opts.FlushInterval)
	defer tick.Stop()
	failing := false
	flush := func() {
		if err := l.flush(ctx, &batch); err != nil {
			if !failing {
				l.log.Error("could not write audit events; retrying", "events", len(batch), "err", err)
			}
			failing = true
			return
		}
		if failing {
			l.log.Info("audit events written again")
		}
		failing = false
	}
	// drain writes what is pending, a batch at a time, until less than a
	// batch is left (unless all) or writing fails. A batch that failed is
	// kept and tried again first.
	drain := func(all bool) {
		for {
			l.take(&batch)
			if len(batch) == 0 || (!all && len(batch) < l.opts.BatchSize) {
				return
			}
			flush()
			if failing {
				return
			}
		}
	}
	for {
		select {
		case <-l.full:
			if !failing {
				drain(false)
			}
		case <-tick.C:
			drain(true)
			if len(batch) == 0 {
				flush() // writes an audit.dropped count, if any, with nothing pending
			}
			l.checkpointIfWaited(ctx)
		case <-l.stop:
			drain(true)
			if failing {
				l.log.Error("audit events lost at shutdown: the database refused them",
					"events", len(batch)+l.pendingLen())
				return
			}
			flush() // a last audit.dropped count
			return
		}
	}
}

// take moves pending events into batch, up to BatchSize.
func (l *Log) take(batch *[]Event) {
	room := l.opts.BatchSize - len(*batch)
	if room <= 0 {
		return
	}
	l.pmu.Lock()
	defer l.pmu.Unlock()
	n := min(room, len(l.pending))
	if n == 0 {
		return
	}
	*batch = append(*batch, l.pending[:n]...)
	for i := range n {
		delete(l.pindex, keyOf(&l.pending[i]))
	}
	rest := copy(l.pending, l.pending[n:])
	clear(l.pending[rest:]) // let the strings go
	l.pending = l.pending[:rest]
	for i := range l.pending {
		l.pindex[keyOf(&l.pending[i])] = i
	}
}

func (l *Log) pendingLen() int {
	l.pmu.Lock()
	defer l.pmu.Unlock()
	return len(l.pending)
}

// flush writes batch (and an audit.dropped event if events were dropped)
// in one transaction and empties it; on error batch is kept.
func (l *Log) flush(ctx context.Context, batch *[]Event) error {
	if len(*batch) == 0 && l.dropPending.Load() == 0 {
		return nil
	}
	recs := make([]store.AuditRecord, 0, len(*batch)+1)
	for _, e := range *batch {
		recs = append(recs, toRecord(e))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	dropped := l.dropPending.Swap(0)
	if dropped > 0 {
		recs = append(recs, toRecord(Event{
			Time:      time.Now(),
			Actor:     "cssc",
			ActorKind: "system",
			Action:    "audit.dropped",
			Target:    "audit",
			Decision:  Error,
			Reason:    fmt.Sprintf("%d asynchronous events were dropped: the audit queue (%d) was full", dropped, l.opts.QueueSize),
			Severity:  "warning",
		}))
	}
	if err := l.appendLocked(ctx, recs); err != nil {
		l.dropPending.Add(dropped)
		return err
	}
	if dropped > 0 {
		l.log.Warn("asynchronous audit events were dropped", "count", dropped)
	}
	*batch = (*batch)[:0]
	return nil
}

func (l *Log) checkpointIfWaited(ctx context.Context) {
	if l.opts.CheckpointInterval < 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.uncoveredSince.IsZero() || time.Since(l.uncoveredSince) < l.opts.CheckpointInterval || l.closed || l.seq <= l.cp.Seq {
		return
	}
	if err := l.checkpointLocked(ctx, checkpointPeriodic); err != nil {
		l.log.Error("could not write the audit checkpoint", "err", err)
	}
}

// Field limits: events carry what clients send (names, reasons), which
// must not grow the trail without bound.
const (
	maxField  = 1024
	maxReason = 4096
)

// toRecord turns e into its stored form. Strings are made valid UTF-8
// without NUL (which PostgreSQL refuses) and cut to their limits, so that
// what is hashed is exactly what is stored.
func toRecord(e Event) store.AuditRecord {
	if e.Actor == "" && e.ActorKind == "" {
		e.Actor, e.ActorKind = "anonymous", "anonymous"
	}
	t, last := unixNano(e.Time), unixNano(e.LastTime)
	if e.LastTime.IsZero() || last < t {
		last = t
	}
	return store.AuditRecord{
		Time:       t,
		Count:      max(e.Count, 1),
		LastTime:   last,
		Actor:      clean(e.Actor, maxField),
		ActorKind:  clean(e.ActorKind, maxField),
		ClientCert: clean(e.ClientCert, maxField),
		Source:     clean(e.Source, maxField),
		RequestID:  clean(e.RequestID, maxField),
		Action:     clean(e.Action, maxField),
		Repo:       clean(e.Repo, maxField),
		Digest:     clean(e.Digest, maxField),
		Tag:        clean(e.Tag, maxField),
		Target:     clean(e.Target, maxField),
		Decision:   clean(e.Decision, maxField),
		Reason:     clean(e.Reason, maxReason),
		Severity:   clean(e.Severity, maxField),
	}
}

// coalesceKey is an event but for its time, request id and count.
type coalesceKey struct {
	actor, actorKind, clientCert, source, action, repo, digest, tag, target, decision, reason, severity string
}

func keyOf(e *Event) coalesceKey {
	return coalesceKey{e.Actor, e.ActorKind, e.ClientCert, e.Source, e.Action, e.Repo, e.Digest, e.Tag,
		e.Target, e.Decision, e.Reason, e.Severity}
}

func clean(s string, limit int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

func toEvent(r *store.AuditRecord) Event {
	var last time.Time
	if r.Count > 1 {
		last = time.Unix(0, r.LastTime).UTC()
	}
	return Event{
		Seq:        r.Seq,
		Time:       time.Unix(0, r.Time).UTC(),
		Count:      r.Count,
		LastTime:   last,
		Actor:      r.Actor,
		ActorKind:  r.ActorKind,
		ClientCert: r.ClientCert,
		Source:     r.Source,
		RequestID:  r.RequestID,
		Action:     r.Action,
		Repo:       r.Repo,
		Digest:     r.Digest,
		Tag:        r.Tag,
		Target:     r.Target,
		Decision:   r.Decision,
		Reason:     r.Reason,
		Severity:   r.Severity,
	}
}

// Entry is an event with its place in the chain: what export and the
// forwarders send, so that a receiver can check the chain itself.
type Entry struct {
	Event
	PrevHash string `json:"prev_hash"`
	Hash     string `json:"hash"`
}

func toEntry(r *store.AuditRecord) Entry {
	return Entry{Event: toEvent(r), PrevHash: r.PrevHash, Hash: r.Hash}
}

// headFile is the JSON form of a checkpoint in the head file.
type headFile struct {
	Format    string `json:"format"`
	ID        int64  `json:"id"`
	Kind      string `json:"kind"`
	Seq       int64  `json:"seq"`
	HeadHash  string `json:"head_hash"`
	Time      int64  `json:"time"`
	PrevHash  string `json:"prev_hash"`
	KeyID     string `json:"key_id"`
	Signature string `json:"signature"`
}

const headFormat = "cssc-audit-head-v1"

func writeHeadFile(path string, cp *store.AuditCheckpoint) error {
	b, err := json.Marshal(headFile{headFormat, cp.ID, cp.Kind, cp.Seq, cp.HeadHash, cp.Time, cp.PrevHash, cp.KeyID, cp.Signature})
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(b, '\n'), 0o644)
}

// readHeadFile reads the checkpoint in the head file; a missing file is
// fs.ErrNotExist.
func readHeadFile(path string) (store.AuditCheckpoint, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return store.AuditCheckpoint{}, err
	}
	var h headFile
	if err := json.Unmarshal(b, &h); err != nil {
		return store.AuditCheckpoint{}, fmt.Errorf("head file %s: %w", path, err)
	}
	if h.Format != headFormat {
		return store.AuditCheckpoint{}, fmt.Errorf("head file %s: format %q, want %q", path, h.Format, headFormat)
	}
	return store.AuditCheckpoint{ID: h.ID, Kind: h.Kind, Seq: h.Seq, HeadHash: h.HeadHash, Time: h.Time,
		PrevHash: h.PrevHash, KeyID: h.KeyID, Signature: h.Signature}, nil
}

// checkTail checks, at start, the newest checkpoint, the events after it,
// and the head file against the database. When the head file disagrees
// with the database it is kept beside (audit.head.conflict-<time>), so
// that the next checkpoint does not overwrite the evidence.
func (l *Log) checkTail(ctx context.Context) ([]Problem, error) {
	var problems []Problem
	add := func(seq int64, kind, format string, args ...any) {
		problems = append(problems, Problem{Seq: seq, Kind: kind, Detail: fmt.Sprintf(format, args...)})
	}
	after := int64(0)
	prevHash := genesisHash
	if l.cp.ID != 0 {
		if err := verifyCheckpoint(&l.cp, l.pub); err != nil {
			add(l.cp.Seq, KindBadSignature, "newest checkpoint #%d: %v", l.cp.ID, err)
		}
		after = l.cp.Seq - 1
	}
	var h hasher
	expect := after + 1
	err := l.db.ScanAudit(ctx, after, func(r store.AuditRecord) error {
		switch {
		case l.cp.ID != 0 && r.Seq == l.cp.Seq:
			if r.Hash != l.cp.HeadHash {
				add(r.Seq, KindRecomputed, "event %d does not have the hash checkpoint #%d signed", r.Seq, l.cp.ID)
			}
		case r.Seq != expect:
			add(expect, KindDeleted, "events %d to %d are missing", expect, r.Seq-1)
		case r.PrevHash != prevHash:
			add(r.Seq, KindEdited, "event %d does not name the hash of the event before it", r.Seq)
		}
		if h.eventHash(&r, r.Seq) != r.Hash {
			add(r.Seq, KindEdited, "event %d does not match its hash", r.Seq)
		}
		expect, prevHash = r.Seq+1, r.Hash
		return nil
	})
	if err != nil {
		return nil, err
	}
	if l.cp.ID != 0 && expect <= l.cp.Seq {
		add(l.cp.Seq, KindTruncated, "checkpoint #%d signed event %d, the newest event is %d", l.cp.ID, l.cp.Seq, expect-1)
	}
	if l.cp.Kind == checkpointClose && l.seq > l.cp.Seq {
		add(l.cp.Seq+1, KindInserted, "events %d to %d were added after cssc closed the log at %d", l.cp.Seq+1, l.seq, l.cp.Seq)
	}
	if l.opts.HeadFile == "" {
		return problems, nil
	}
	hf, err := readHeadFile(l.opts.HeadFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if l.cp.ID != 0 {
			add(l.cp.Seq, KindHeadMissing, "the head file %s is missing", l.opts.HeadFile)
		}
		return problems, nil
	case err != nil:
		add(0, KindHeadFile, "%v", err)
	default:
		var conflict string
		if err := verifyCheckpoint(&hf, l.pub); err != nil {
			conflict = fmt.Sprintf("head file checkpoint #%d: %v", hf.ID, err)
		} else if hf.ID > l.cp.ID {
			conflict = fmt.Sprintf("the head file names checkpoint #%d (event %d); the database's newest is #%d (event %d)",
				hf.ID, hf.Seq, l.cp.ID, l.cp.Seq)
		} else {
			cps, err := l.db.AuditCheckpoints(ctx, hf.ID-1)
			if err != nil {
				return nil, err
			}
			if len(cps) == 0 || cps[0] != hf {
				conflict = fmt.Sprintf("checkpoint #%d in the database differs from the head file's", hf.ID)
			}
		}
		if conflict == "" {
			return problems, nil
		}
		add(hf.Seq, KindTruncated, "%s", conflict)
	}
	keep := l.opts.HeadFile + ".conflict-" + strconv.FormatInt(time.Now().UnixNano(), 10)
	if err := os.Rename(l.opts.HeadFile, keep); err != nil {
		return nil, fmt.Errorf("keep the disagreeing head file: %w", err)
	}
	l.log.Error("the audit head file disagrees with the database; kept it aside as evidence", "file", keep)
	return problems, nil
}
