package audit

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cssc-project/cssc/internal/store"
)

// Kinds of problems Verify reports.
const (
	KindEdited            = "edited"             // an event's content no longer matches its hash
	KindDeleted           = "deleted"            // events are missing from the middle (or the start) of the chain
	KindInserted          = "inserted"           // a row that is not part of the chain
	KindReordered         = "reordered"          // events moved to other sequence numbers
	KindTruncated         = "truncated"          // events a signed checkpoint covers are missing at the end
	KindRecomputed        = "recomputed"         // the chain verifies but does not match a signed checkpoint
	KindBadSignature      = "bad-signature"      // a checkpoint's signature does not verify with the public key
	KindCheckpointMissing = "checkpoint-missing" // checkpoints were deleted
	KindCheckpointChain   = "checkpoint-chain"   // checkpoints do not follow each other
	KindHeadMissing       = "head-missing"       // the head file is gone while the database has checkpoints
	KindHeadFile          = "head-file"          // the head file cannot be read
)

// Problem is one finding of Verify. Seq is the event it is about (0: none
// in particular).
type Problem struct {
	Seq    int64  `json:"seq"`
	Kind   string `json:"kind"`
	Detail string `json:"detail"`
}

func (p Problem) String() string {
	if p.Seq > 0 {
		return fmt.Sprintf("seq %d: %s: %s", p.Seq, p.Kind, p.Detail)
	}
	return fmt.Sprintf("%s: %s", p.Kind, p.Detail)
}

// Report is the result of Verify.
type Report struct {
	Events      int64     `json:"events"`      // rows read
	Checkpoints int       `json:"checkpoints"` // checkpoints in the database
	Head        int64     `json:"head"`        // highest sequence number present
	Signed      int64     `json:"signed"`      // newest event a valid checkpoint covers
	OK          bool      `json:"ok"`
	Problems    []Problem `json:"problems"`
	Notes       []string  `json:"notes,omitempty"`
}

// String is a summary and one line per problem and note.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "audit trail: %d events, %d checkpoints, signed up to seq %d: ", r.Events, r.Checkpoints, r.Signed)
	if r.OK {
		b.WriteString("OK\n")
	} else {
		fmt.Fprintf(&b, "%d problems\n", len(r.Problems))
	}
	for _, p := range r.Problems {
		b.WriteString(p.String())
		b.WriteByte('\n')
	}
	for _, n := range r.Notes {
		b.WriteString("note: ")
		b.WriteString(n)
		b.WriteByte('\n')
	}
	return b.String()
}

// Verify checks the chain in l's database with its own key and head file.
func (l *Log) Verify(ctx context.Context) (Report, error) {
	return Verify(ctx, l.db, l.pub, l.opts.HeadFile)
}

// Verify checks an audit trail, reading only: every event's hash, the
// links between them, the checkpoints' signatures (with pub) and chain,
// and that the events match what the checkpoints and the head file
// (headFile, and any head file set aside at start beside it; "" checks
// none) signed. It reports edited, deleted, inserted and reordered
// events, a truncated tail, a chain recomputed after an edit, and forged
// or missing checkpoints, each with the sequence number it concerns.
// Errors are for failures to read, not for findings.
func Verify(ctx context.Context, db Reader, pub ed25519.PublicKey, headFile string) (Report, error) {
	v := &verifier{pub: pub, cpSeqs: map[int64]bool{}, cpSeen: map[int64]string{}}
	// Head files first, then checkpoints, then events: each is written
	// after the one that follows, so everything read later covers them.
	var heads []namedCheckpoint
	if headFile == "" {
		v.note("no head file checked: the newest events deleted together with their checkpoints would go unnoticed")
	} else {
		hs, err := v.readHeads(headFile)
		if err != nil {
			return Report{}, err
		}
		heads = hs
	}
	cps, err := db.AuditCheckpoints(ctx, 0)
	if err != nil {
		return Report{}, fmt.Errorf("verify audit trail: %w", err)
	}
	valid := v.checkCheckpoints(cps)
	valid = append(valid, v.checkHeads(heads, cps)...)
	for _, c := range valid {
		v.cpSeqs[c.cp.Seq] = true
	}
	if err := db.ScanAudit(ctx, 0, v.push); err != nil {
		return Report{}, fmt.Errorf("verify audit trail: %w", err)
	}
	v.finish()
	v.compare(valid)
	rep := Report{
		Events:      v.events,
		Checkpoints: len(cps),
		Head:        v.head,
		Signed:      v.signed,
		Problems:    v.problems,
		Notes:       v.notes,
	}
	if v.omitted > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("%d more problems not listed", v.omitted))
	}
	if rep.Problems == nil {
		rep.Problems = []Problem{}
	}
	slices.SortStableFunc(rep.Problems, func(a, b Problem) int { return cmp.Compare(a.Seq, b.Seq) })
	rep.OK = len(rep.Problems) == 0 && v.omitted == 0
	if rep.OK && v.maxOrig > v.signed {
		rep.Notes = append(rep.Notes, fmt.Sprintf("events %d to %d are not covered by a checkpoint yet (the chain alone protects them)",
			v.signed+1, v.maxOrig))
	}
	return rep, nil
}

const (
	searchWindow = 16    // how far from its place an event's own sequence number is searched
	maxUnknown   = 10000 // unexplained rows kept for the second search
	maxProblems  = 1000
)

type namedCheckpoint struct {
	name string // "checkpoint #3", "head file", ...
	cp   store.AuditCheckpoint
}

// unknownRow is a row whose hash matches its content at no nearby
// sequence number.
type unknownRow struct {
	rec      store.AuditRecord
	inferred int64 // the original seq it has if it was edited in place
	inserted bool  // linked to neither neighbour
}

// verifier walks the events in seq order. For each row it finds the
// sequence number the row's hash was computed with (its original seq),
// which tells an edited row (none), a moved row (another), a renumbered
// run (a constant offset) and an intact one (its own). Links to the
// neighbours tell an inserted row (the next event names the hash of the
// one before it). Original seqs never seen are deleted events.
type verifier struct {
	pub ed25519.PublicKey
	h   hasher

	prev, cur *store.AuditRecord
	events    int64
	head      int64
	d         int64 // current offset: position - original seq
	origPrev  int64 // original seq of the last row in sequence
	prevClean bool  // the last row is intact, in place and linked
	covered   [][2]int64
	maxOrig   int64
	unknowns  []unknownRow
	pending   []gapCheck

	cpSeqs map[int64]bool   // original seqs that checkpoints sign
	cpSeen map[int64]string // their hashes as found
	signed int64

	problems []Problem
	notes    []string
	omitted  int
}

// gapCheck is a renumbered run starting at seq whose predecessors lo..hi
// are not before it: deleted, unless they are found elsewhere (moved).
type gapCheck struct {
	seq, orig, lo, hi int64
}

func (v *verifier) problem(seq int64, kind, format string, args ...any) {
	if len(v.problems) >= maxProblems {
		v.omitted++
		return
	}
	v.problems = append(v.problems, Problem{Seq: seq, Kind: kind, Detail: fmt.Sprintf(format, args...)})
}

func (v *verifier) note(format string, args ...any) {
	v.notes = append(v.notes, fmt.Sprintf(format, args...))
}

func (v *verifier) push(r store.AuditRecord) error {
	v.events++
	v.head = max(v.head, r.Seq)
	if v.cur != nil {
		v.classify(v.prev, v.cur, &r)
	}
	v.prev, v.cur = v.cur, &r
	return nil
}

func (v *verifier) cover(orig int64, hash string) {
	if n := len(v.covered); n > 0 && v.covered[n-1][1]+1 == orig {
		v.covered[n-1][1] = orig
	} else {
		v.covered = append(v.covered, [2]int64{orig, orig})
	}
	v.maxOrig = max(v.maxOrig, orig)
	if v.cpSeqs[orig] {
		v.cpSeen[orig] = hash
	}
}

func (v *verifier) hashIs(r *store.AuditRecord, seq int64) bool {
	return seq > 0 && v.h.eventHash(r, seq) == r.Hash
}

// orig finds the seq r's hash was computed with: at the current offset,
// its own, or within searchWindow of them.
func (v *verifier) orig(r *store.AuditRecord) (int64, bool) {
	base := r.Seq - v.d
	if v.hashIs(r, base) {
		return base, true
	}
	if v.d != 0 && v.hashIs(r, r.Seq) {
		return r.Seq, true
	}
	for k := int64(1); k <= searchWindow; k++ {
		for _, s := range [2]int64{base - k, base + k} {
			if s != r.Seq && v.hashIs(r, s) {
				return s, true
			}
		}
	}
	return 0, false
}

// consistent reports whether r's hash matches its content at some
// sequence number near its place.
func (v *verifier) consistent(r *store.AuditRecord) bool {
	_, ok := v.orig(r)
	return ok
}

// classify judges row c between p and n (either may be nil).
func (v *verifier) classify(p, c, n *store.AuditRecord) {
	prevHash := genesisHash
	if p != nil {
		prevHash = p.Hash
	}
	linked := c.PrevHash == prevHash
	nextLinks := n == nil || n.PrevHash == c.Hash
	wasClean := v.prevClean
	v.prevClean = false
	o, known := v.orig(c)
	if known && o != c.Seq-v.d {
		v.displaced(c, o, nextLinks)
		return
	}
	if n != nil && n.PrevHash == prevHash && n.PrevHash != c.Hash && v.consistent(n) {
		v.problem(c.Seq, KindInserted, "the next event names the hash of the one before this one: this row is not part of the chain")
		return
	}
	if !known {
		// Linked to neither neighbour (at the end: not to the one before):
		// not an edited event, whose hash columns would still link.
		u := unknownRow{rec: *c, inferred: c.Seq - v.d, inserted: !linked && (n == nil || !nextLinks)}
		if !u.inserted {
			v.origPrev = u.inferred
		}
		if len(v.unknowns) < maxUnknown {
			v.unknowns = append(v.unknowns, u)
		} else {
			v.settle(u)
		}
		return
	}
	// Intact and in place.
	if !linked && wasClean && p.Seq+1 == c.Seq {
		v.problem(p.Seq, KindEdited, "this event (or the link of event %d to it) was changed and its hash recomputed: event %d names another hash", c.Seq, c.Seq)
	}
	if o <= v.origPrev {
		v.problem(c.Seq, KindReordered, "this event was written as seq %d but follows event %d", o, v.origPrev)
	}
	v.cover(o, c.Hash)
	v.origPrev = o
	v.prevClean = linked
}

// displaced handles a row whose hash was computed for another position o.
// If the next row links to it, a renumbered run starts here; otherwise
// the row alone was moved.
func (v *verifier) displaced(c *store.AuditRecord, o int64, nextLinks bool) {
	if !nextLinks {
		v.problem(c.Seq, KindReordered, "this event was written as seq %d", o)
		v.cover(o, c.Hash)
		return
	}
	d := c.Seq - o
	switch {
	case o <= v.origPrev:
		v.problem(c.Seq, KindReordered, "the events from here on were written as seq %d on, before event %d", o, v.origPrev)
	case o > v.origPrev+1 && d != 0:
		v.pending = append(v.pending, gapCheck{seq: c.Seq, orig: o, lo: v.origPrev + 1, hi: o - 1})
	}
	// o == origPrev+1: events were inserted or deleted before this one
	// (reported there) and the rest renumbered.
	v.d = d
	v.cover(o, c.Hash)
	v.origPrev = o
}

// settle reports an unknown row once the search for its seq is over.
func (v *verifier) settle(u unknownRow) {
	if u.inserted {
		v.problem(u.rec.Seq, KindInserted, "this row matches neither its hash nor its neighbours: it is not part of the chain")
		return
	}
	v.problem(u.rec.Seq, KindEdited, "the content of this event does not match its hash")
	v.cover(u.inferred, u.rec.Hash)
}

func (v *verifier) finish() {
	if v.cur != nil {
		v.classify(v.prev, v.cur, nil)
	}
	// Second search: rows moved further than the window went to where
	// other unexplained rows are, or to where events are missing.
	cands := make([]int64, 0, len(v.unknowns))
	for _, u := range v.unknowns {
		cands = append(cands, u.rec.Seq)
	}
	cands = append(cands, v.missing(4096)...)
	for _, u := range v.unknowns {
		found := false
		for _, s := range cands {
			if s != u.rec.Seq && v.hashIs(&u.rec, s) {
				v.problem(u.rec.Seq, KindReordered, "this event was written as seq %d", s)
				v.cover(s, u.rec.Hash)
				found = true
				break
			}
		}
		if !found {
			v.settle(u)
		}
	}
	v.merge()
	for _, g := range v.pending {
		if v.coveredAny(g.lo, g.hi) {
			v.problem(g.seq, KindReordered, "the events from here on were written as seq %d on; events %d to %d that precede them are elsewhere",
				g.orig, g.lo, g.hi)
		}
	}
	for _, r := range v.missingRanges() {
		if r[0] == r[1] {
			v.problem(r[0], KindDeleted, "event %d is missing", r[0])
		} else {
			v.problem(r[0], KindDeleted, "events %d to %d are missing", r[0], r[1])
		}
	}
}

// merge sorts and joins the covered ranges.
func (v *verifier) merge() {
	slices.SortFunc(v.covered, func(a, b [2]int64) int { return cmp.Compare(a[0], b[0]) })
	out := v.covered[:0]
	for _, r := range v.covered {
		if n := len(out); n > 0 && r[0] <= out[n-1][1]+1 {
			out[n-1][1] = max(out[n-1][1], r[1])
			continue
		}
		out = append(out, r)
	}
	v.covered = out
}

// missingRanges are the original seqs in 1..maxOrig that no row has.
func (v *verifier) missingRanges() [][2]int64 {
	v.merge()
	var out [][2]int64
	next := int64(1)
	for _, r := range v.covered {
		if r[0] > next {
			out = append(out, [2]int64{next, r[0] - 1})
		}
		next = max(next, r[1]+1)
	}
	return out
}

// missing lists up to limit original seqs that no row has.
func (v *verifier) missing(limit int) []int64 {
	var out []int64
	for _, r := range v.missingRanges() {
		for s := r[0]; s <= r[1]; s++ {
			if len(out) >= limit {
				return out
			}
			out = append(out, s)
		}
	}
	return out
}

func (v *verifier) coveredAny(lo, hi int64) bool {
	i, _ := slices.BinarySearchFunc(v.covered, lo, func(r [2]int64, t int64) int {
		if r[1] < t {
			return -1
		}
		return 1
	})
	return i < len(v.covered) && v.covered[i][0] <= hi
}

// checkCheckpoints checks signatures and the chain of checkpoints and
// returns those with a valid signature.
func (v *verifier) checkCheckpoints(cps []store.AuditCheckpoint) []namedCheckpoint {
	var valid []namedCheckpoint
	prevHash, prevID, prevSeq, prevKind := genesisHash, int64(0), int64(0), ""
	prevValid := true
	for _, cp := range cps {
		name := fmt.Sprintf("checkpoint #%d", cp.ID)
		err := verifyCheckpoint(&cp, v.pub)
		if err != nil {
			v.problem(cp.Seq, KindBadSignature, "%s: %v", name, err)
		} else {
			valid = append(valid, namedCheckpoint{name, cp})
		}
		switch {
		case cp.ID != prevID+1:
			v.problem(cp.Seq, KindCheckpointMissing, "checkpoints #%d to #%d are missing before %s", prevID+1, cp.ID-1, name)
		case err != nil || !prevValid:
			// A forged checkpoint is reported as such; the link to or
			// from it says nothing more.
		case cp.PrevHash != prevHash:
			v.problem(cp.Seq, KindCheckpointChain, "%s does not name the hash of checkpoint #%d", name, prevID)
		case cp.Seq < prevSeq:
			v.problem(cp.Seq, KindCheckpointChain, "%s signs event %d, before checkpoint #%d's %d", name, cp.Seq, prevID, prevSeq)
		case prevKind == checkpointClose && cp.Seq > prevSeq:
			v.problem(prevSeq+1, KindInserted, "events %d to %d were added while cssc was stopped: checkpoint #%d closed the log at %d",
				prevSeq+1, cp.Seq, prevID, prevSeq)
		case prevKind == checkpointClose && cp.Kind != checkpointOpen:
			v.problem(cp.Seq, KindCheckpointChain, "%s follows the close checkpoint #%d, but is not an open checkpoint", name, prevID)
		}
		prevHash, prevID, prevSeq, prevValid, prevKind = checkpointHash(&cp), cp.ID, cp.Seq, err == nil, cp.Kind
	}
	return valid
}

// readHeads reads the head file and any set aside at start beside it.
func (v *verifier) readHeads(headFile string) ([]namedCheckpoint, error) {
	var out []namedCheckpoint
	cp, err := readHeadFile(headFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		out = append(out, namedCheckpoint{name: "head file"}) // ID 0: missing
	case err != nil:
		v.problem(0, KindHeadFile, "%v", err)
	default:
		out = append(out, namedCheckpoint{"head file", cp})
	}
	aside, err := filepath.Glob(headFile + ".conflict-*")
	if err != nil {
		return nil, fmt.Errorf("verify audit trail: %w", err)
	}
	for _, name := range aside {
		cp, err := readHeadFile(name)
		if err != nil {
			v.problem(0, KindHeadFile, "%v", err)
			continue
		}
		out = append(out, namedCheckpoint{"head file set aside at start (" + filepath.Base(name) + ")", cp})
	}
	return out, nil
}

// checkHeads compares the head files with the database's checkpoints and
// returns those with a valid signature the database does not already
// hold identically.
func (v *verifier) checkHeads(heads []namedCheckpoint, cps []store.AuditCheckpoint) []namedCheckpoint {
	var out []namedCheckpoint
	var last store.AuditCheckpoint
	if len(cps) > 0 {
		last = cps[len(cps)-1]
	}
	for _, h := range heads {
		if h.cp.ID == 0 {
			if len(cps) > 0 {
				v.problem(0, KindHeadMissing, "the head file is missing while the database has %d checkpoints", len(cps))
			}
			continue
		}
		if err := verifyCheckpoint(&h.cp, v.pub); err != nil {
			v.problem(h.cp.Seq, KindBadSignature, "%s: %v", h.name, err)
			continue
		}
		i := slices.IndexFunc(cps, func(c store.AuditCheckpoint) bool { return c.ID == h.cp.ID })
		switch {
		case i >= 0 && cps[i] == h.cp:
			continue
		case i >= 0:
			v.problem(h.cp.Seq, KindCheckpointChain, "checkpoint #%d in the database is not the one in the %s", h.cp.ID, h.name)
		case h.cp.ID > last.ID:
			v.problem(h.cp.Seq, KindCheckpointMissing, "the %s names checkpoint #%d (event %d); the database's newest is #%d (event %d)",
				h.name, h.cp.ID, h.cp.Seq, last.ID, last.Seq)
		default:
			v.problem(h.cp.Seq, KindCheckpointMissing, "checkpoint #%d of the %s is not in the database", h.cp.ID, h.name)
		}
		out = append(out, h)
	}
	return out
}

// compare checks the events against what valid checkpoints signed.
func (v *verifier) compare(valid []namedCheckpoint) {
	var (
		truncated  *namedCheckpoint
		recomputed []namedCheckpoint
		lastMatch  int64
	)
	slices.SortStableFunc(valid, func(a, b namedCheckpoint) int { return cmp.Compare(a.cp.Seq, b.cp.Seq) })
	for i := range valid {
		c := &valid[i]
		if c.cp.Seq > v.maxOrig {
			truncated = c
			continue
		}
		got, ok := v.cpSeen[c.cp.Seq]
		if !ok {
			continue // the event is missing: reported as deleted
		}
		if got != c.cp.HeadHash {
			recomputed = append(recomputed, *c)
			continue
		}
		if len(recomputed) == 0 {
			lastMatch = c.cp.Seq
			v.signed = c.cp.Seq
		}
	}
	var newest *namedCheckpoint
	for i := range valid {
		if newest == nil || valid[i].cp.ID > newest.cp.ID {
			newest = &valid[i]
		}
	}
	if newest != nil && newest.cp.Kind == checkpointClose && v.maxOrig > newest.cp.Seq {
		v.problem(newest.cp.Seq+1, KindInserted, "events %d to %d were added after cssc closed the log (%s at %d)",
			newest.cp.Seq+1, v.maxOrig, newest.name, newest.cp.Seq)
	}
	if truncated != nil {
		v.problem(truncated.cp.Seq, KindTruncated, "%s signed the events up to %d; the log ends at %d: events %d to %d are missing",
			truncated.name, truncated.cp.Seq, v.maxOrig, v.maxOrig+1, truncated.cp.Seq)
	}
	if len(recomputed) > 0 {
		first := recomputed[0]
		more := ""
		if len(recomputed) > 1 {
			more = fmt.Sprintf(" (%d later checkpoints do not match either)", len(recomputed)-1)
		}
		from := "from the first"
		if lastMatch > 0 {
			from = fmt.Sprintf("after %d (where a checkpoint still matches)", lastMatch)
		}
		v.problem(first.cp.Seq, KindRecomputed, "event %d does not have the hash the %s signed: events %s up to %d were rewritten and the hashes after them recomputed%s",
			first.cp.Seq, first.name, from, first.cp.Seq, more)
	}
}
