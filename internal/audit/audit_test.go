package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cssc-project/cssc/internal/store"
)

// testEnv is a data directory with a metadata database, a key and a head
// file, as the server lays them out.
type testEnv struct {
	dir, db, key, head string
}

func newEnv(t testing.TB) testEnv {
	dir := t.TempDir()
	return testEnv{
		dir:  dir,
		db:   filepath.Join(dir, "meta.db"),
		key:  filepath.Join(dir, "keys", "audit.key"),
		head: filepath.Join(dir, "audit.head"),
	}
}

func (e testEnv) opts() Options {
	return Options{KeyPath: e.key, HeadFile: e.head, CheckpointEvery: 10, FlushInterval: 5 * time.Millisecond, retryMin: 5 * time.Millisecond}
}

func openStore(t testing.TB, path string, ro bool) *store.Store {
	t.Helper()
	s, err := store.OpenSQLite(context.Background(), path, store.Options{ReadOnly: ro})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func openLog(t testing.TB, db DB, opts Options) *Log {
	t.Helper()
	l, err := Open(context.Background(), db, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close(context.Background()) })
	return l
}

func event(i int) Event {
	e := Event{
		Actor: fmt.Sprintf("user%d", i%3), ActorKind: "user", Source: "10.0.0.1:5555",
		RequestID: fmt.Sprintf("req-%d", i), Action: "manifest.push", Repo: "team/app",
		Digest: fmt.Sprintf("sha256:%064d", i), Tag: fmt.Sprintf("v%d", i), Decision: Allow,
	}
	if i%4 == 0 {
		e.Action, e.Decision, e.Reason = "pull", Deny, "no pull grant"
	}
	return e
}

// buildLog writes n events, every fourth asynchronously, and closes the
// log (a final checkpoint).
func buildLog(t testing.TB, env testEnv, n int) {
	t.Helper()
	ctx := context.Background()
	s, err := store.OpenSQLite(ctx, env.db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	l, err := Open(ctx, s, env.opts())
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		if i%4 == 0 {
			l.RecordAsync(event(i))
			continue
		}
		if _, err := l.Record(ctx, event(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// rawDB opens the database behind cssc's back, as an attacker would.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func exec(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func readRecords(t *testing.T, db *sql.DB) []store.AuditRecord {
	t.Helper()
	rows, err := db.Query(`SELECT ` + auditColumnsForTest + ` FROM audit_events ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rows.Close() }()
	var out []store.AuditRecord
	for rows.Next() {
		var e store.AuditRecord
		if err := rows.Scan(&e.Seq, &e.Time, &e.Count, &e.LastTime, &e.Actor, &e.ActorKind, &e.ClientCert, &e.Source, &e.RequestID, &e.Action,
			&e.Repo, &e.Digest, &e.Tag, &e.Target, &e.Decision, &e.Reason, &e.Severity, &e.PrevHash, &e.Hash); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

const auditColumnsForTest = `seq, occurred_at, count, last_at, actor, actor_kind, client_cert, source, request_id, action,
	repo, digest, tag, target, decision, reason, severity, prev_hash, hash`

func insertRecord(t *testing.T, db *sql.DB, r store.AuditRecord) {
	t.Helper()
	exec(t, db, `INSERT INTO audit_events(`+auditColumnsForTest+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19)`,
		r.Seq, r.Time, r.Count, r.LastTime, r.Actor, r.ActorKind, r.ClientCert, r.Source, r.RequestID, r.Action, r.Repo, r.Digest, r.Tag,
		r.Target, r.Decision, r.Reason, r.Severity, r.PrevHash, r.Hash)
}

// shift renumbers the events from seq on by delta (through negative seqs,
// so the primary key never collides midway).
func shift(t *testing.T, db *sql.DB, from, delta int64) {
	exec(t, db, `UPDATE audit_events SET seq = -(seq + $1) WHERE seq >= $2`, delta, from)
	exec(t, db, `UPDATE audit_events SET seq = -seq WHERE seq < 0`)
}

// swap exchanges the sequence numbers of two events.
func swap(t *testing.T, db *sql.DB, a, b int64) {
	exec(t, db, `UPDATE audit_events SET seq = -1 WHERE seq = $1`, a)
	exec(t, db, `UPDATE audit_events SET seq = $1 WHERE seq = $2`, a, b)
	exec(t, db, `UPDATE audit_events SET seq = $1 WHERE seq = -1`, b)
}

// recompute rewrites prev_hash and hash of every event from seq on, as
// someone who knows the hash function but not the key would.
func recompute(t *testing.T, db *sql.DB, from int64) {
	var h hasher
	prev := genesisHash
	for _, r := range readRecords(t, db) {
		if r.Seq >= from {
			r.PrevHash = prev
			r.Hash = h.eventHash(&r, r.Seq)
			exec(t, db, `UPDATE audit_events SET prev_hash = $1, hash = $2 WHERE seq = $3`, r.PrevHash, r.Hash, r.Seq)
		}
		prev = r.Hash
	}
}

func checkpointSeqs(t *testing.T, db *sql.DB) []int64 {
	t.Helper()
	rows, err := db.Query(`SELECT seq FROM audit_checkpoints ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rows.Close() }()
	var out []int64
	for rows.Next() {
		var s int64
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func verifyOffline(t *testing.T, env testEnv) Report {
	t.Helper()
	pub, err := ReadPublicKey(PublicKeyPath(env.key))
	if err != nil {
		t.Fatal(err)
	}
	s := openStore(t, env.db, true)
	rep, err := Verify(context.Background(), s, pub, env.head)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

type finding struct {
	seq  int64
	kind string
}

func findings(r Report) []finding {
	var out []finding
	for _, p := range r.Problems {
		out = append(out, finding{p.Seq, p.Kind})
	}
	return out
}

func TestUntouchedLogVerifies(t *testing.T) {
	env := newEnv(t)
	buildLog(t, env, 50)
	rep := verifyOffline(t, env)
	if !rep.OK || rep.Events != 50 || rep.Checkpoints < 4 || rep.Signed != 50 || len(rep.Problems) != 0 {
		t.Fatalf("untouched log:\n%s", rep)
	}
	if !strings.Contains(rep.String(), ": OK") {
		t.Errorf("report does not say OK:\n%s", rep)
	}
	// Reopening continues the chain, and a second run verifies too.
	s := openStore(t, env.db, false)
	l := openLog(t, s, env.opts())
	e, err := l.Record(context.Background(), event(51))
	if err != nil || e.Seq != 51 {
		t.Fatalf("record after reopen: seq %d, %v", e.Seq, err)
	}
	if rep, err := l.Verify(context.Background()); err != nil || !rep.OK || rep.Events != 51 {
		t.Fatalf("online verify: %v\n%s", err, rep)
	}
}

func TestTamperingIsFound(t *testing.T) {
	otherKey := func() ed25519.PrivateKey {
		_, k, _ := ed25519.GenerateKey(nil)
		return k
	}()
	tests := []struct {
		name   string
		tamper func(t *testing.T, env testEnv, db *sql.DB, cps []int64) []finding // returns the expected findings
	}{
		{"edit a field", func(t *testing.T, _ testEnv, db *sql.DB, _ []int64) []finding {
			exec(t, db, `UPDATE audit_events SET actor = 'mallory' WHERE seq = 25`)
			return []finding{{25, KindEdited}}
		}},
		{"edit the time", func(t *testing.T, _ testEnv, db *sql.DB, _ []int64) []finding {
			exec(t, db, `UPDATE audit_events SET occurred_at = occurred_at - 3600000000000 WHERE seq = 7`)
			return []finding{{7, KindEdited}}
		}},
		{"edit the count", func(t *testing.T, _ testEnv, db *sql.DB, _ []int64) []finding {
			exec(t, db, `UPDATE audit_events SET count = 1000, last_at = last_at + 1 WHERE seq = 12`)
			return []finding{{12, KindEdited}}
		}},
		{"edit the last event", func(t *testing.T, _ testEnv, db *sql.DB, _ []int64) []finding {
			exec(t, db, `UPDATE audit_events SET decision = CASE decision WHEN 'allow' THEN 'deny' ELSE 'allow' END WHERE seq = 50`)
			return []finding{{50, KindEdited}}
		}},
		{"edit and recompute one hash", func(t *testing.T, _ testEnv, db *sql.DB, _ []int64) []finding {
			exec(t, db, `UPDATE audit_events SET reason = 'nothing to see' WHERE seq = 33`)
			r := readRecords(t, db)[32]
			var h hasher
			exec(t, db, `UPDATE audit_events SET hash = $1 WHERE seq = 33`, h.eventHash(&r, 33))
			return []finding{{33, KindEdited}}
		}},
		{"delete a middle event", func(t *testing.T, _ testEnv, db *sql.DB, _ []int64) []finding {
			exec(t, db, `DELETE FROM audit_events WHERE seq = 25`)
			return []finding{{25, KindDeleted}}
		}},
		{"delete the first events", func(t *testing.T, _ testEnv, db *sql.DB, _ []int64) []finding {
			exec(t, db, `DELETE FROM audit_events WHERE seq <= 3`)
			return []finding{{1, KindDeleted}}
		}},
		{"delete an event and renumber the rest", func(t *testing.T, _ testEnv, db *sql.DB, _ []int64) []finding {
			exec(t, db, `DELETE FROM audit_events WHERE seq = 25`)
			shift(t, db, 26, -1)
			return []finding{{25, KindDeleted}}
		}},
		{"insert a forged event with a valid hash", func(t *testing.T, _ testEnv, db *sql.DB, _ []int64) []finding {
			recs := readRecords(t, db)
			shift(t, db, 25, +1)
			forged := recs[24]
			forged.Seq, forged.Actor, forged.Reason, forged.PrevHash = 25, "admin", "approved", recs[23].Hash
			var h hasher
			forged.Hash = h.eventHash(&forged, 25)
			insertRecord(t, db, forged)
			return []finding{{25, KindInserted}}
		}},
		{"insert a forged event with a made-up hash", func(t *testing.T, _ testEnv, db *sql.DB, _ []int64) []finding {
			recs := readRecords(t, db)
			shift(t, db, 12, +1)
			forged := recs[10]
			forged.Seq, forged.Actor, forged.Hash = 12, "admin", strings.Repeat("ab", 32)
			insertRecord(t, db, forged)
			return []finding{{12, KindInserted}}
		}},
		{"append a forged event with a made-up hash", func(t *testing.T, _ testEnv, db *sql.DB, _ []int64) []finding {
			forged := readRecords(t, db)[10]
			forged.Seq, forged.PrevHash, forged.Hash = 51, strings.Repeat("cd", 32), strings.Repeat("ab", 32)
			insertRecord(t, db, forged)
			return []finding{{51, KindInserted}}
		}},
		{"append a forged event with a valid hash while stopped", func(t *testing.T, _ testEnv, db *sql.DB, _ []int64) []finding {
			recs := readRecords(t, db)
			forged := recs[10]
			forged.Seq, forged.Actor, forged.PrevHash = 51, "admin", recs[49].Hash
			var h hasher
			forged.Hash = h.eventHash(&forged, 51)
			insertRecord(t, db, forged)
			return []finding{{51, KindInserted}}
		}},
		{"swap two neighbours", func(t *testing.T, _ testEnv, db *sql.DB, _ []int64) []finding {
			swap(t, db, 20, 21)
			return []finding{{20, KindReordered}, {21, KindReordered}}
		}},
		{"swap two distant events", func(t *testing.T, _ testEnv, db *sql.DB, _ []int64) []finding {
			swap(t, db, 5, 45)
			return []finding{{5, KindReordered}, {45, KindReordered}}
		}},
		{"move a block", func(t *testing.T, _ testEnv, db *sql.DB, _ []int64) []finding {
			// 11-15 and 16-20 change places.
			shift(t, db, 11, 100)
			exec(t, db, `UPDATE audit_events SET seq = seq - 105 WHERE seq BETWEEN 116 AND 120`)
			exec(t, db, `UPDATE audit_events SET seq = seq - 95 WHERE seq BETWEEN 111 AND 115`)
			shift(t, db, 121, -100)
			return []finding{{11, KindReordered}, {16, KindReordered}}
		}},
		{"delete the tail", func(t *testing.T, _ testEnv, db *sql.DB, cps []int64) []finding {
			exec(t, db, `DELETE FROM audit_events WHERE seq > 45`)
			return []finding{{cps[len(cps)-1], KindTruncated}}
		}},
		{"delete the tail and its checkpoints", func(t *testing.T, _ testEnv, db *sql.DB, cps []int64) []finding {
			exec(t, db, `DELETE FROM audit_events WHERE seq > 35`)
			exec(t, db, `DELETE FROM audit_checkpoints WHERE seq > 35`)
			last := cps[len(cps)-1]
			return []finding{{last, KindCheckpointMissing}, {last, KindTruncated}}
		}},
		{"recompute the chain after an edit", func(t *testing.T, _ testEnv, db *sql.DB, cps []int64) []finding {
			exec(t, db, `UPDATE audit_events SET actor = 'mallory' WHERE seq = 25`)
			recompute(t, db, 25)
			first := cps[slices.IndexFunc(cps, func(s int64) bool { return s >= 25 })]
			return []finding{{first, KindRecomputed}}
		}},
		{"recompute and re-sign the checkpoints with another key", func(t *testing.T, _ testEnv, db *sql.DB, cps []int64) []finding {
			exec(t, db, `UPDATE audit_events SET actor = 'mallory' WHERE seq = 25`)
			recompute(t, db, 1)
			resign(t, db, otherKey)
			var want []finding
			for _, s := range cps {
				want = append(want, finding{s, KindBadSignature})
			}
			// The head file still holds the genuine newest checkpoint.
			last := cps[len(cps)-1]
			return append(want, finding{last, KindCheckpointChain}, finding{last, KindRecomputed})
		}},
		{"recompute, re-sign and delete the head file", func(t *testing.T, env testEnv, db *sql.DB, cps []int64) []finding {
			recompute(t, db, 1)
			resign(t, db, otherKey)
			if err := os.Remove(env.head); err != nil {
				t.Fatal(err)
			}
			want := []finding{{0, KindHeadMissing}}
			for _, s := range cps {
				want = append(want, finding{s, KindBadSignature})
			}
			return want
		}},
		{"edit a checkpoint", func(t *testing.T, _ testEnv, db *sql.DB, cps []int64) []finding {
			exec(t, db, `UPDATE audit_checkpoints SET head_hash = $1 WHERE id = 2`, strings.Repeat("0", 64))
			return []finding{{cps[1], KindBadSignature}}
		}},
		{"delete a middle checkpoint", func(t *testing.T, _ testEnv, db *sql.DB, cps []int64) []finding {
			exec(t, db, `DELETE FROM audit_checkpoints WHERE id = 2`)
			return []finding{{cps[2], KindCheckpointMissing}}
		}},
		{"delete the head file", func(t *testing.T, env testEnv, _ *sql.DB, _ []int64) []finding {
			if err := os.Remove(env.head); err != nil {
				t.Fatal(err)
			}
			return []finding{{0, KindHeadMissing}}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t)
			buildLog(t, env, 50)
			db := rawDB(t, env.db)
			want := tc.tamper(t, env, db, checkpointSeqs(t, db))
			_ = db.Close()
			rep := verifyOffline(t, env)
			if rep.OK {
				t.Fatalf("tampered log verifies:\n%s", rep)
			}
			got := findings(rep)
			slices.SortFunc(want, cmpFinding)
			slices.SortFunc(got, cmpFinding)
			if !slices.Equal(got, want) {
				t.Fatalf("findings %v, want %v\n%s", got, want, rep)
			}
			for _, p := range rep.Problems {
				if p.Seq > 0 && !strings.Contains(rep.String(), fmt.Sprintf("seq %d: %s: ", p.Seq, p.Kind)) {
					t.Errorf("report does not name seq %d %s:\n%s", p.Seq, p.Kind, rep)
				}
			}
		})
	}
}

func cmpFinding(a, b finding) int {
	if a.seq != b.seq {
		return int(a.seq - b.seq)
	}
	return strings.Compare(a.kind, b.kind)
}

// resign replaces every checkpoint's head hash with the (recomputed)
// event hash and signs it with key.
func resign(t *testing.T, db *sql.DB, key ed25519.PrivateKey) {
	t.Helper()
	recs := readRecords(t, db)
	hashOf := map[int64]string{}
	for _, r := range recs {
		hashOf[r.Seq] = r.Hash
	}
	rows, err := db.Query(`SELECT id, seq, created_at FROM audit_checkpoints ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	var cps []store.AuditCheckpoint
	for rows.Next() {
		var cp store.AuditCheckpoint
		if err := rows.Scan(&cp.ID, &cp.Seq, &cp.Time); err != nil {
			t.Fatal(err)
		}
		cps = append(cps, cp)
	}
	_ = rows.Close()
	prev := genesisHash
	for _, cp := range cps {
		cp.HeadHash, cp.PrevHash = hashOf[cp.Seq], prev
		signCheckpoint(&cp, key)
		prev = checkpointHash(&cp)
		exec(t, db, `UPDATE audit_checkpoints SET head_hash = $1, prev_hash = $2, key_id = $3, signature = $4 WHERE id = $5`,
			cp.HeadHash, cp.PrevHash, cp.KeyID, cp.Signature, cp.ID)
	}
}

// A server restarted on a tampered database must not launder it: the head
// file it disagrees with is kept, and Verify still reads it.
func TestRestartAfterTamperingKeepsEvidence(t *testing.T) {
	env := newEnv(t)
	buildLog(t, env, 50)
	db := rawDB(t, env.db)
	exec(t, db, `DELETE FROM audit_events WHERE seq > 35`)
	exec(t, db, `DELETE FROM audit_checkpoints WHERE seq > 35`)
	_ = db.Close()

	var logBuf bytes.Buffer
	opts := env.opts()
	opts.Logger = slog.New(slog.NewTextHandler(&logBuf, nil))
	s := openStore(t, env.db, false)
	l := openLog(t, s, opts)
	if !strings.Contains(logBuf.String(), "audit trail does not verify") {
		t.Errorf("no error logged at start:\n%s", logBuf.String())
	}
	for i := range 30 {
		if _, err := l.Record(context.Background(), event(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	aside, _ := filepath.Glob(env.head + ".conflict-*")
	if len(aside) != 1 {
		t.Fatalf("head files set aside: %v", aside)
	}
	rep := verifyOffline(t, env)
	if rep.OK || !slices.ContainsFunc(rep.Problems, func(p Problem) bool {
		return p.Kind == KindCheckpointChain && strings.Contains(p.Detail, "set aside")
	}) {
		t.Fatalf("a restart laundered the tampering:\n%s", rep)
	}
}

// Events appended while cssc was stopped stay visible after a restart:
// the open checkpoint does not follow the close checkpoint's seq.
func TestEventsAddedWhileStoppedSurviveARestart(t *testing.T) {
	env := newEnv(t)
	buildLog(t, env, 20)
	db := rawDB(t, env.db)
	recs := readRecords(t, db)
	forged := recs[3]
	forged.Seq, forged.Actor, forged.PrevHash = 21, "admin", recs[19].Hash
	var h hasher
	forged.Hash = h.eventHash(&forged, 21)
	insertRecord(t, db, forged)
	_ = db.Close()
	s := openStore(t, env.db, false)
	l := openLog(t, s, env.opts())
	if _, err := l.Record(context.Background(), event(22)); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	rep := verifyOffline(t, env)
	if got := findings(rep); !slices.Equal(got, []finding{{21, KindInserted}}) {
		t.Fatalf("findings %v\n%s", got, rep)
	}
}

// After a crash (no close checkpoint) the next start signs what the crash
// left, and the log verifies.
func TestRestartAfterACrash(t *testing.T) {
	env := newEnv(t)
	s := openStore(t, env.db, false)
	opts := env.opts()
	opts.CheckpointInterval = -1
	crashed, err := Open(context.Background(), s, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 15 {
		if _, err := crashed.Record(context.Background(), event(i)); err != nil {
			t.Fatal(err)
		}
	}
	// The process dies: no Close, events 11 to 15 have no checkpoint.
	crashed.closing.Store(true)
	close(crashed.stop)
	<-crashed.flusherDone
	l := openLog(t, s, env.opts())
	rep, err := l.Verify(context.Background())
	if err != nil || !rep.OK || rep.Signed != 15 {
		t.Fatalf("after a crash: %v\n%s", err, rep)
	}
}

func TestOpenChecksTheTail(t *testing.T) {
	env := newEnv(t)
	buildLog(t, env, 15)
	db := rawDB(t, env.db)
	exec(t, db, `UPDATE audit_events SET actor = 'mallory' WHERE seq = 15`)
	_ = db.Close()
	var logBuf bytes.Buffer
	opts := env.opts()
	opts.Logger = slog.New(slog.NewTextHandler(&logBuf, nil))
	s := openStore(t, env.db, false)
	openLog(t, s, opts)
	if !strings.Contains(logBuf.String(), "seq=15 kind=edited") {
		t.Fatalf("start did not report the edited tail:\n%s", logBuf.String())
	}
}

func TestRecordFillsAndReturnsTheStoredEvent(t *testing.T) {
	env := newEnv(t)
	s := openStore(t, env.db, false)
	l := openLog(t, s, env.opts())
	ctx := context.Background()
	in := event(1)
	in.Reason = "bad \xff utf8 and a \x00 NUL " + strings.Repeat("x", 5000)
	got, err := l.Record(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if got.Seq != 1 || got.Time.IsZero() || strings.ContainsRune(got.Reason, 0) || len(got.Reason) > maxReason {
		t.Fatalf("stored event %+v", got)
	}
	anon, err := l.Record(ctx, Event{Action: "login", Decision: Deny})
	if err != nil || anon.Actor != "anonymous" || anon.ActorKind != "anonymous" || anon.Seq != 2 {
		t.Fatalf("anonymous event %+v, %v", anon, err)
	}
	list, err := l.List(ctx, Filter{})
	if err != nil || len(list) != 2 || list[0] != got || list[1] != anon {
		t.Fatalf("list %+v, %v; want what Record returned", list, err)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Record(ctx, event(3)); err == nil {
		t.Fatal("Record after Close succeeded")
	}
	l.RecordAsync(event(4)) // must neither block nor panic
}

func TestPullSampling(t *testing.T) {
	env := newEnv(t)
	s := openStore(t, env.db, false)
	opts := env.opts()
	opts.PullSampling = 3
	l := openLog(t, s, opts)
	for range 9 {
		l.RecordAsync(Event{Actor: "bob", ActorKind: "user", Action: "pull", Repo: "r", Decision: Allow})
	}
	for range 2 {
		l.RecordAsync(Event{Actor: "eve", ActorKind: "user", Action: "pull", Repo: "r", Decision: Deny})
	}
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	events, err := ListEntries(context.Background(), s, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var allowed, denied int
	for _, e := range events { // identical events in a batch are one, with a count
		if e.Decision == Allow {
			allowed += int(e.Count)
		} else {
			denied += int(e.Count)
		}
	}
	if allowed != 3 || denied != 2 || l.Stats().SampledOut != 6 {
		t.Fatalf("allowed %d (want 3), denied %d (want 2), stats %+v", allowed, denied, l.Stats())
	}
}

// TestCoalesce: asynchronous events that differ only in time and request
// id, written in one batch, are one event with a count and the first and
// last time; anything else that differs keeps events apart, and the
// result verifies.
func TestCoalesce(t *testing.T) {
	env := newEnv(t)
	s := openStore(t, env.db, false)
	opts := env.opts()
	opts.FlushInterval = time.Hour // one batch, written at Close
	opts.BatchSize = 1000
	l := openLog(t, s, opts)
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	pull := func(i int, actor, digest string) Event {
		return Event{Time: t0.Add(time.Duration(i) * time.Millisecond), Actor: actor, ActorKind: "robot", Source: "10.0.0.9:4000",
			RequestID: fmt.Sprintf("r%d", i), Action: "pull", Repo: "team/app", Digest: digest, Decision: Allow}
	}
	const a, b = "sha256:aaaa", "sha256:bbbb"
	var in []Event
	for i := range 100 {
		switch {
		case i%10 == 3:
			in = append(in, pull(i, "ci", b)) // another digest
		case i%10 == 7:
			e := pull(i, "ci", a)
			e.Decision, e.Reason = Deny, "no pull grant" // another decision
			in = append(in, e)
		case i%25 == 0:
			in = append(in, pull(i, "node-1", a)) // another actor
		default:
			in = append(in, pull(i, "ci", a))
		}
	}
	for _, e := range in {
		l.RecordAsync(e)
	}
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, err := ListEntries(context.Background(), s, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var pulls []Entry
	for _, e := range got {
		if e.Action == "pull" {
			pulls = append(pulls, e)
		}
	}
	want := []struct {
		actor, digest, decision string
		count                   int64
		first, last             int
	}{
		{"node-1", a, Allow, 4, 0, 75},
		{"ci", a, Allow, 76, 1, 99},
		{"ci", b, Allow, 10, 3, 93},
		{"ci", a, Deny, 10, 7, 97},
	}
	if len(pulls) != len(want) {
		t.Fatalf("%d pull events, want %d: %+v", len(pulls), len(want), pulls)
	}
	for i, w := range want {
		e := pulls[i]
		if e.Actor != w.actor || e.Digest != w.digest || e.Decision != w.decision || e.Count != w.count ||
			!e.Time.Equal(in[w.first].Time) || !e.LastTime.Equal(in[w.last].Time) || e.RequestID != in[w.first].RequestID {
			t.Errorf("event %d: %s %s %s ×%d %s–%s %s, want %s %s %s ×%d %s–%s %s", i,
				e.Actor, e.Digest, e.Decision, e.Count, e.Time, e.LastTime, e.RequestID,
				w.actor, w.digest, w.decision, w.count, in[w.first].Time, in[w.last].Time, in[w.first].RequestID)
		}
	}
	if rep, err := Verify(context.Background(), s, l.PublicKey(), env.head); err != nil || !rep.OK {
		t.Fatalf("verify: %v %+v", err, rep)
	}
}

func TestRecordAsyncNeverBlocks(t *testing.T) {
	env := newEnv(t)
	s := openStore(t, env.db, false)
	opts := env.opts()
	opts.QueueSize, opts.BatchSize = 16, 4
	l := openLog(t, s, opts)
	ctx := context.Background()

	l.mu.Lock() // the writer is stuck (a slow disk)
	const n = 10000
	start := time.Now()
	for i := range n {
		l.RecordAsync(event(i))
	}
	elapsed := time.Since(start)
	l.mu.Unlock()
	if elapsed > 2*time.Second {
		t.Fatalf("%d RecordAsync calls against a stuck writer took %v", n, elapsed)
	}
	dropped := l.Stats().Dropped
	if dropped < int64(n-opts.QueueSize-2*opts.BatchSize) {
		t.Fatalf("dropped %d of %d with a queue of %d", dropped, n, opts.QueueSize)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	events, err := ListEntries(ctx, s, Filter{Action: "audit.dropped"})
	if err != nil || len(events) == 0 {
		t.Fatalf("audit.dropped events: %v, %v", events, err)
	}
	var counted int64
	for _, e := range events {
		var c int64
		if _, err := fmt.Sscanf(e.Reason, "%d asynchronous events were dropped", &c); err != nil {
			t.Fatalf("audit.dropped reason %q: %v", e.Reason, err)
		}
		counted += c
	}
	if counted != dropped {
		t.Fatalf("audit.dropped events count %d, %d were dropped", counted, dropped)
	}
	all, _ := ListEntries(ctx, s, Filter{Limit: MaxListLimit})
	if want := n - dropped + int64(len(events)); int64(len(all)) != want {
		t.Fatalf("%d events stored, want %d", len(all), want)
	}
	if rep, err := Verify(ctx, s, l.PublicKey(), env.head); err != nil || !rep.OK {
		t.Fatalf("verify: %v\n%s", err, rep)
	}
}

func TestSyncAndAsyncInterleave(t *testing.T) {
	env := newEnv(t)
	s := openStore(t, env.db, false)
	opts := env.opts()
	opts.BatchSize = 8
	l := openLog(t, s, opts)
	ctx := context.Background()
	done := make(chan error, 4)
	for w := range 4 {
		go func() {
			for i := range 100 {
				if w%2 == 0 {
					l.RecordAsync(event(i))
					continue
				}
				if _, err := l.Record(ctx, event(i)); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(ctx, s, l.PublicKey(), env.head)
	if err != nil || !rep.OK {
		t.Fatalf("verify: %v\n%s", err, rep)
	}
	// The two asynchronous writers record the same events: those that
	// met in a batch are one event with a count.
	all, err := ListEntries(ctx, s, Filter{Limit: MaxListLimit})
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, e := range all {
		if e.Action != "server.start" {
			n += e.Count
		}
	}
	if n != 400 || rep.Events != int64(len(all)) {
		t.Fatalf("%d events counted in %d rows (verify read %d), want 400", n, len(all), rep.Events)
	}
}

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keys", "audit.key")
	k1, err := LoadOrCreateKey(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v", fi.Mode(), err)
	}
	pub, err := ReadPublicKey(filepath.Join(dir, "keys", "audit.pub"))
	if err != nil || !pub.Equal(k1.Public()) {
		t.Fatalf("public key file: %v", err)
	}
	k2, err := LoadOrCreateKey(path, nil)
	if err != nil || !k2.Equal(k1) {
		t.Fatalf("reload gave another key: %v", err)
	}
	other := filepath.Join(dir, "other.key")
	if _, err := LoadOrCreateKey(other, nil); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "other.pub"))
	if err := os.WriteFile(filepath.Join(dir, "keys", "audit.pub"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKey(path, nil); err == nil || !strings.Contains(err.Error(), "not the public half") {
		t.Fatalf("a mismatched public key file was accepted: %v", err)
	}
}

func TestHandler(t *testing.T) {
	env := newEnv(t)
	buildLog(t, env, 30)
	s := openStore(t, env.db, false)
	l := openLog(t, s, env.opts())
	mux := http.NewServeMux()
	mux.Handle("/api/v1/audit/", http.StripPrefix("/api/v1/audit", l.Handler()))
	mux.Handle("/raw/", l.Handler()) // mounted without stripping the prefix: /raw/api/v1/audit is not a route
	srv := httptest.NewServer(mux)
	defer srv.Close()
	get := func(path string) (int, []byte) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}

	code, body := get("/api/v1/audit/verify")
	var rep Report
	if code != 200 || json.Unmarshal(body, &rep) != nil || !rep.OK || rep.Events != 30 {
		t.Fatalf("verify: %d %s", code, body)
	}
	code, body = get("/api/v1/audit/public-key")
	if pub, err := ParsePublicKey(body); code != 200 || err != nil || !pub.Equal(l.PublicKey()) {
		t.Fatalf("public key: %d %s %v", code, body, err)
	}
	code, body = get("/api/v1/audit/?actor=user1&limit=3")
	var page listAnswer
	if code != 200 || json.Unmarshal(body, &page) != nil || len(page.Events) != 3 || page.NextAfter != page.Events[2].Seq {
		t.Fatalf("list: %d %s", code, body)
	}
	for _, e := range page.Events {
		if e.Actor != "user1" || e.Hash == "" {
			t.Fatalf("list returned %+v", e)
		}
	}
	code, body = get("/api/v1/audit?format=jsonl&action=pull")
	lines := strings.Split(strings.TrimSpace(string(body)), "\n")
	if code != 200 || len(lines) != 7 {
		t.Fatalf("export: %d, %d lines:\n%s", code, len(lines), body)
	}
	for _, bad := range []string{"?since=yesterday", "?limit=-1", "?after=x", "?format=xml"} {
		if code, body := get("/api/v1/audit/" + bad); code != 400 || !strings.Contains(string(body), `"error"`) {
			t.Errorf("%s: %d %s", bad, code, body)
		}
	}
}

func BenchmarkRecordAsync(b *testing.B) {
	env := newEnv(b)
	s := openStore(b, env.db, false)
	l := openLog(b, s, Options{KeyPath: env.key, HeadFile: env.head})
	e := event(1)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		l.RecordAsync(e)
	}
	b.StopTimer()
	st := l.Stats()
	b.ReportMetric(float64(st.Dropped)/float64(b.N), "dropped/op")
}
