package cli

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cssc-project/cssc/internal/audit"
	"github.com/cssc-project/cssc/internal/store"
)

// auditDataDir lays out a data directory as a server leaves it: 30 events
// (every third asynchronous), checkpoints every 10, key and head file.
func auditDataDir(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "meta.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	l, err := audit.Open(ctx, st, audit.Options{
		KeyPath: filepath.Join(dir, "keys", "audit.key"), HeadFile: filepath.Join(dir, "audit.head"), CheckpointEvery: 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 30; i++ {
		e := audit.Event{Actor: fmt.Sprintf("user%d", i%3), ActorKind: "user", Action: "manifest.push",
			Repo: "team/app", Tag: fmt.Sprintf("v%d", i), Decision: audit.Allow}
		if i%3 == 0 {
			e.Action, e.Decision, e.Reason = "pull", audit.Deny, "no pull grant\non team/app"
			l.RecordAsync(e)
			continue
		}
		if _, err := l.Record(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	return dir
}

func runAudit(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	g := &globals{stdout: &out, stderr: &errb, log: slog.New(slog.DiscardHandler)}
	cmd := newAuditCmd(g)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		fmt.Fprintln(&errb, "cssc:", err)
		return exitCode(err), out.String(), errb.String()
	}
	return 0, out.String(), errb.String()
}

func TestAuditVerifyOffline(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(t *testing.T, dir string, db *sql.DB)
		code   int
		want   []string // lines of the report
	}{
		{"untouched", nil, 0, []string{"audit trail: 30 events", ": OK"}},
		{"edited", func(t *testing.T, _ string, db *sql.DB) {
			sqlExec(t, db, `UPDATE audit_events SET actor = 'mallory' WHERE seq = 5`)
		}, 1, []string{"seq 5: edited: "}},
		{"deleted", func(t *testing.T, _ string, db *sql.DB) {
			sqlExec(t, db, `DELETE FROM audit_events WHERE seq = 12`)
		}, 1, []string{"seq 12: deleted: "}},
		{"inserted", func(t *testing.T, _ string, db *sql.DB) {
			sqlExec(t, db, `UPDATE audit_events SET seq = -(seq + 1) WHERE seq >= 8`)
			sqlExec(t, db, `UPDATE audit_events SET seq = -seq WHERE seq < 0`)
			sqlExec(t, db, `INSERT INTO audit_events SELECT 8, occurred_at, count, last_at, 'admin', actor_kind, client_cert, source, request_id,
				action, repo, digest, tag, target, decision, reason, severity, prev_hash, 'forged' FROM audit_events WHERE seq = 7`)
		}, 1, []string{"seq 8: inserted: "}},
		{"reordered", func(t *testing.T, _ string, db *sql.DB) {
			sqlExec(t, db, `UPDATE audit_events SET seq = -1 WHERE seq = 20`)
			sqlExec(t, db, `UPDATE audit_events SET seq = 20 WHERE seq = 21`)
			sqlExec(t, db, `UPDATE audit_events SET seq = 21 WHERE seq = -1`)
		}, 1, []string{"seq 20: reordered: ", "seq 21: reordered: "}},
		{"truncated", func(t *testing.T, _ string, db *sql.DB) {
			sqlExec(t, db, `DELETE FROM audit_events WHERE seq > 27`)
		}, 1, []string{"seq 30: truncated: "}},
		{"truncated with its checkpoints", func(t *testing.T, _ string, db *sql.DB) {
			sqlExec(t, db, `DELETE FROM audit_events WHERE seq > 21`)
			sqlExec(t, db, `DELETE FROM audit_checkpoints WHERE seq > 21`)
		}, 1, []string{"seq 30: truncated: ", "seq 30: checkpoint-missing: "}},
		{"head file deleted", func(t *testing.T, dir string, _ *sql.DB) {
			if err := os.Remove(filepath.Join(dir, "audit.head")); err != nil {
				t.Fatal(err)
			}
		}, 1, []string{"head-missing: "}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := auditDataDir(t)
			if tc.tamper != nil {
				db, err := sql.Open("sqlite", filepath.Join(dir, "meta.db"))
				if err != nil {
					t.Fatal(err)
				}
				tc.tamper(t, dir, db)
				_ = db.Close()
			}
			code, out, stderr := runAudit(t, "verify", "--data-dir", dir)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tc.code, out, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("report lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func sqlExec(t *testing.T, db *sql.DB, q string) {
	t.Helper()
	if _, err := db.Exec(q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func TestAuditVerifyOfflineErrors(t *testing.T) {
	dir := auditDataDir(t)
	other := t.TempDir()
	if _, err := audit.LoadOrCreateKey(filepath.Join(other, "other.key"), nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no public key", []string{"verify", "--data-dir", dir, "--public-key", filepath.Join(other, "none.pub")}, 2, "no such file"},
		{"not a data directory", []string{"verify", "--data-dir", other, "--public-key", filepath.Join(other, "other.pub")}, 2, "not a cssc data directory"},
		{"another key", []string{"verify", "--data-dir", dir, "--public-key", filepath.Join(other, "other.pub")}, 1, "bad-signature"},
		{"without the head file", []string{"verify", "--data-dir", dir, "--no-head-file"}, 0, "note: no head file checked"},
		{"both modes", []string{"verify", "--data-dir", dir, "--server", "http://127.0.0.1:1"}, 2, "not both"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, stderr := runAudit(t, tc.args...)
			if code != tc.code || !strings.Contains(out+stderr, tc.want) {
				t.Fatalf("exit %d (want %d), output lacks %q:\n%s%s", code, tc.code, tc.want, out, stderr)
			}
		})
	}
}

func TestAuditListExportPublicKeyOffline(t *testing.T) {
	dir := auditDataDir(t)
	code, out, stderr := runAudit(t, "list", "--data-dir", dir, "--actor", "user1", "--action", "manifest.*")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || !strings.HasPrefix(lines[0], "SEQ") || len(lines) != 11 {
		t.Fatalf("list: exit %d, %d lines:\n%s%s", code, len(lines), out, stderr)
	}
	for _, l := range lines[1:] {
		if !strings.Contains(l, " user1 ") || !strings.Contains(l, "team/app:v") {
			t.Errorf("list row %q", l)
		}
	}
	code, out, _ = runAudit(t, "list", "--data-dir", dir, "--target", "team/*", "--action", "pull", "--limit", "2", "-o", "jsonl")
	lines = strings.Split(strings.TrimSpace(out), "\n")
	var e audit.Entry
	if code != 0 || len(lines) != 2 || json.Unmarshal([]byte(lines[0]), &e) != nil || e.Action != "pull" || e.Hash == "" {
		t.Fatalf("list jsonl: exit %d:\n%s", code, out)
	}
	if code, _, stderr := runAudit(t, "list", "--data-dir", dir, "--since", "yesterday"); code != 2 || !strings.Contains(stderr, "--since") {
		t.Fatalf("bad --since: exit %d, %s", code, stderr)
	}
	if code, out, _ := runAudit(t, "list", "--data-dir", dir, "--since", "1h", "--until", "2999-01-01"); code != 0 || strings.Count(out, "\n") != 31 {
		t.Fatalf("list --since 1h: exit %d:\n%s", code, out)
	}

	file := filepath.Join(t.TempDir(), "evidence.jsonl")
	if code, _, stderr := runAudit(t, "export", "--format", "jsonl", "--data-dir", dir, "-o", file); code != 0 {
		t.Fatalf("export: exit %d, %s", code, stderr)
	}
	b, err := os.ReadFile(file)
	if err != nil || strings.Count(string(b), "\n") != 30 {
		t.Fatalf("export wrote %d lines, %v", strings.Count(string(b), "\n"), err)
	}
	if code, _, stderr := runAudit(t, "export", "--format", "jsonl", "--data-dir", dir, "-o", file); code != 2 || !strings.Contains(stderr, "exists") {
		t.Fatalf("export over a file: exit %d, %s", code, stderr)
	}
	if code, _, stderr := runAudit(t, "export", "--format", "csv", "--data-dir", dir); code != 2 || !strings.Contains(stderr, "jsonl") {
		t.Fatalf("export csv: exit %d, %s", code, stderr)
	}

	code, out, _ = runAudit(t, "public-key", "--data-dir", dir)
	want, _ := os.ReadFile(filepath.Join(dir, "keys", "audit.pub"))
	if code != 0 || out != string(want) {
		t.Fatalf("public-key: exit %d, %q", code, out)
	}
}

func TestAuditOnline(t *testing.T) {
	t.Setenv("CSSC_LOGIN_FILE", filepath.Join(t.TempDir(), "logins.json"))
	t.Setenv("CSSC_TOKEN", "")
	t.Setenv("CSSC_USERNAME", "")
	dir := auditDataDir(t)
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "meta.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	l, err := audit.Open(ctx, st, audit.Options{KeyPath: filepath.Join(dir, "keys", "audit.key"), HeadFile: filepath.Join(dir, "audit.head")})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close(ctx) }()
	mux := http.NewServeMux()
	mux.Handle("/api/v1/audit", http.StripPrefix("/api/v1/audit", l.Handler()))
	mux.Handle("/api/v1/audit/", http.StripPrefix("/api/v1/audit", l.Handler()))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	if code, out, stderr := runAudit(t, "verify", "--server", srv.URL, "--public-key", filepath.Join(dir, "keys", "audit.pub")); code != 0 || !strings.Contains(out, ": OK") {
		t.Fatalf("verify: exit %d\n%s%s", code, out, stderr)
	}
	other := filepath.Join(t.TempDir(), "other.key")
	if _, err := audit.LoadOrCreateKey(other, nil); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runAudit(t, "verify", "--server", srv.URL, "--public-key", audit.PublicKeyPath(other)); code != 2 || !strings.Contains(stderr, "signs the audit trail with key") {
		t.Fatalf("verify with another key: exit %d, %s", code, stderr)
	}
	code, out, stderr := runAudit(t, "list", "--server", srv.URL, "--actor", "user2", "--limit", "3")
	if code != 0 || strings.Count(out, " user2 ") != 3 || !strings.Contains(stderr, "more events may follow: --after ") {
		t.Fatalf("list: exit %d\n%s%s", code, out, stderr)
	}
	code, out, _ = runAudit(t, "export", "--server", srv.URL, "--action", "pull")
	if code != 0 || strings.Count(out, "\n") != 10 {
		t.Fatalf("export: exit %d\n%s", code, out)
	}
	code, out, _ = runAudit(t, "public-key", "--server", srv.URL)
	if pub, err := audit.ParsePublicKey([]byte(out)); code != 0 || err != nil || !pub.Equal(l.PublicKey()) {
		t.Fatalf("public-key: exit %d, %v", code, err)
	}

	// Tampering shows online too.
	db, err := sql.Open("sqlite", filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	sqlExec(t, db, `UPDATE audit_events SET reason = 'fine' WHERE seq = 9`)
	_ = db.Close()
	if code, out, _ := runAudit(t, "verify", "--server", srv.URL); code != 1 || !strings.Contains(out, "seq 9: edited") {
		t.Fatalf("verify after tampering: exit %d\n%s", code, out)
	}
}
