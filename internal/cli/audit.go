package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cssc-project/cssc/internal/apiclient"
	"github.com/cssc-project/cssc/internal/audit"
	"github.com/cssc-project/cssc/internal/store"
)

// auditFlags are what every audit subcommand reads to find the trail:
// a data directory (offline, read-only) or a running server.
type auditFlags struct {
	dataDir string
}

func newAuditCmd(g *globals) *cobra.Command {
	af := &auditFlags{}
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Verify, list and export the tamper-evident audit trail",
		Long: `The audit trail records every state change, login and denied request (and
pulls) as hash-chained events with signed checkpoints. See docs/audit.md.

Each subcommand works online (--server, an admin's credentials: CSSC_TOKEN,
CSSC_USERNAME/CSSC_PASSWORD or cssc login) or offline on a data directory or
a copy of one (--data-dir, opened read-only; needs no server and no key
but the public one).`,
	}
	pf := cmd.PersistentFlags()
	dataDirFlag(pf, &af.dataDir)
	addServerFlags(pf)
	cmd.AddCommand(
		newAuditVerifyCmd(g, af),
		newAuditListCmd(g, af),
		newAuditExportCmd(g, af),
		newAuditPublicKeyCmd(g, af),
	)
	return cmd
}

// online says whether cmd talks to a server: --server was given (or set
// from the environment or config), and --data-dir was not given.
func (af *auditFlags) online(cmd *cobra.Command) (bool, error) {
	fs := cmd.Flags()
	switch {
	case fs.Changed("server") && fs.Changed("data-dir"):
		return false, errors.New("give --server (online) or --data-dir (offline), not both")
	case fs.Changed("server"):
		return true, nil
	case fs.Changed("data-dir"):
		return false, nil
	}
	f := fs.Lookup("server")
	return f != nil && f.Value.String() != f.DefValue, nil
}

// openOffline opens the data directory's database read-only.
func (af *auditFlags) openOffline(ctx context.Context) (*store.Store, error) {
	path := filepath.Join(af.dataDir, "meta.db")
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("%s is not a cssc data directory: %w", af.dataDir, err)
	}
	return store.OpenSQLite(ctx, path, store.Options{ReadOnly: true})
}

func (af *auditFlags) publicKeyPath(flag string) string {
	if flag != "" {
		return flag
	}
	return filepath.Join(af.dataDir, "keys", "audit.pub")
}

func newAuditVerifyCmd(g *globals, af *auditFlags) *cobra.Command {
	var (
		pubFile, headFile string
		noHead            bool
	)
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check the audit trail for edited, deleted, inserted or reordered events",
		Long: `Verify recomputes every event's hash and the links between them, checks the
signed checkpoints with the audit public key, and compares the newest events
with the head file kept outside the database. It prints one line per
problem, naming the event's sequence number and the kind of problem
(edited, deleted, inserted, reordered, truncated, recomputed,
bad-signature, checkpoint-missing, checkpoint-chain, head-missing).

Exit status: 0 the trail verifies, 1 it does not, 2 verification could not
run.`,
		Example: `  cssc audit verify --data-dir ./cssc-data
  cssc audit verify --data-dir /evidence/copy --public-key audit.pub --head-file /evidence/audit.head
  cssc audit verify --server https://cssc.example:5000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			online, err := af.online(cmd)
			if err != nil {
				return err
			}
			var rep audit.Report
			if online {
				c, err := g.apiClient(cmd)
				if err != nil {
					return err
				}
				if pubFile != "" {
					if err := sameServerKey(ctx, c, pubFile); err != nil {
						return err
					}
				}
				if err := c.Do(ctx, http.MethodGet, "/api/v1/audit/verify", nil, &rep); err != nil {
					return fmt.Errorf("verify audit trail: %w", err)
				}
			} else {
				pub, err := audit.ReadPublicKey(af.publicKeyPath(pubFile))
				if err != nil {
					return err
				}
				st, err := af.openOffline(ctx)
				if err != nil {
					return err
				}
				defer func() { _ = st.Close() }()
				head := headFile
				switch {
				case noHead:
					head = ""
				case head == "":
					head = filepath.Join(af.dataDir, "audit.head")
				}
				if rep, err = audit.Verify(ctx, st, pub, head); err != nil {
					return err
				}
			}
			if _, err := io.WriteString(g.stdout, rep.String()); err != nil {
				return err
			}
			if !rep.OK {
				return &exitError{code: 1, err: fmt.Errorf("the audit trail does not verify: %d problems", len(rep.Problems))}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&pubFile, "public-key", "", "audit public key (PEM); offline default <data-dir>/keys/audit.pub; online: check the server's is this one")
	f.StringVar(&headFile, "head-file", "", "offline: the head file (default <data-dir>/audit.head)")
	f.BoolVar(&noHead, "no-head-file", false, "offline: check no head file (a copy without one; a deleted tail with its checkpoints goes unnoticed)")
	return cmd
}

// sameServerKey fails unless the server signs with the key in pubFile.
func sameServerKey(ctx context.Context, c *apiclient.Client, pubFile string) error {
	want, err := audit.ReadPublicKey(pubFile)
	if err != nil {
		return err
	}
	b, err := getRaw(ctx, c, "/api/v1/audit/public-key")
	if err != nil {
		return err
	}
	have, err := audit.ParsePublicKey(b)
	if err != nil {
		return fmt.Errorf("the server's audit public key: %w", err)
	}
	if !have.Equal(want) {
		return fmt.Errorf("the server signs the audit trail with key %s, not %s's %s", audit.KeyID(have), pubFile, audit.KeyID(want))
	}
	return nil
}

func getRaw(ctx context.Context, c *apiclient.Client, path string) ([]byte, error) {
	resp, err := c.Raw(ctx, http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	return io.ReadAll(io.LimitReader(resp.Body, 1<<20))
}

// filterFlags are the selection flags of list and export.
type filterFlags struct {
	since, until, actor, target, action string
	after                               int64
	limit                               int
}

func (ff *filterFlags) add(cmd *cobra.Command, defLimit int, limitHelp string) {
	f := cmd.Flags()
	f.StringVar(&ff.since, "since", "", "events at or after: RFC 3339 time, a date (2006-01-02), or a duration ago (24h)")
	f.StringVar(&ff.until, "until", "", "events before: same forms as --since")
	f.StringVar(&ff.actor, "actor", "", "events of this principal (a trailing * matches a prefix)")
	f.StringVar(&ff.target, "target", "", "events whose repository, digest, tag or target is this (a trailing * matches a prefix: team/*)")
	f.StringVar(&ff.action, "action", "", "events of this action, e.g. manifest.push, pull, login (manifest.* for a prefix)")
	f.Int64Var(&ff.after, "after", 0, "events after this sequence number")
	f.IntVar(&ff.limit, "limit", defLimit, limitHelp)
}

func (ff *filterFlags) filter(now time.Time) (audit.Filter, error) {
	f := audit.Filter{Actor: ff.actor, Target: ff.target, Action: ff.action, After: ff.after, Limit: ff.limit}
	var err error
	if f.Since, err = parseWhen(ff.since, now); err != nil {
		return f, fmt.Errorf("--since: %w", err)
	}
	if f.Until, err = parseWhen(ff.until, now); err != nil {
		return f, fmt.Errorf("--until: %w", err)
	}
	if ff.after < 0 || ff.limit < 0 {
		return f, errors.New("--after and --limit cannot be negative")
	}
	return f, nil
}

// parseWhen reads an RFC 3339 time, a date (UTC midnight) or a duration
// before now.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time, a date or a duration", s)
}

func newAuditListCmd(g *globals, af *auditFlags) *cobra.Command {
	var (
		ff     filterFlags
		output string
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List audit events, oldest first",
		Example: `  cssc audit list --since 24h --actor alice
  cssc audit list --target team/app --action 'manifest.*'
  cssc audit list --server https://cssc.example:5000 --since 2026-01-01 --output jsonl`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if output != "text" && output != "jsonl" {
				return fmt.Errorf("--output %q: want text or jsonl", output)
			}
			f, err := ff.filter(time.Now())
			if err != nil {
				return err
			}
			online, err := af.online(cmd)
			if err != nil {
				return err
			}
			var entries []audit.Entry
			if online {
				c, err := g.apiClient(cmd)
				if err != nil {
					return err
				}
				var ans struct {
					Events []audit.Entry `json:"events"`
				}
				if err := c.Do(ctx, http.MethodGet, "/api/v1/audit?"+f.Query().Encode(), nil, &ans); err != nil {
					return fmt.Errorf("list audit events: %w", err)
				}
				entries = ans.Events
			} else {
				st, err := af.openOffline(ctx)
				if err != nil {
					return err
				}
				defer func() { _ = st.Close() }()
				if entries, err = audit.ListEntries(ctx, st, f); err != nil {
					return err
				}
			}
			if output == "jsonl" {
				err = audit.WriteJSONL(g.stdout, entries)
			} else {
				err = writeAuditTable(g.stdout, entries)
			}
			if err != nil {
				return err
			}
			limit := f.Limit
			if limit == 0 {
				limit = audit.DefaultListLimit
			}
			if n := len(entries); n > 0 && n >= min(limit, audit.MaxListLimit) {
				fmt.Fprintf(g.stderr, "more events may follow: --after %d\n", entries[n-1].Seq)
			}
			return nil
		},
	}
	ff.add(cmd, audit.DefaultListLimit, fmt.Sprintf("at most this many events (at most %d)", audit.MaxListLimit))
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text (a table) or jsonl")
	return cmd
}

func writeAuditTable(w io.Writer, entries []audit.Entry) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME\tACTOR\tACTION\tTARGET\tDECISION\tREASON")
	for _, e := range entries {
		actor := e.Actor
		if e.ClientCert != "" {
			actor += " (cert " + e.ClientCert + ")"
		}
		action := e.Action
		if e.Count > 1 { // coalesced: how many, and until when
			action += fmt.Sprintf(" ×%d until %s", e.Count, e.LastTime.UTC().Format(time.TimeOnly))
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Seq, e.Time.UTC().Format(time.RFC3339), actor, action,
			orDash(targetOf(e.Event)), e.Decision, orDash(oneLine(e.Reason)))
	}
	return tw.Flush()
}

// targetOf reads repo:tag@digest and the target as one column.
func targetOf(e audit.Event) string {
	var b strings.Builder
	b.WriteString(e.Repo)
	if e.Tag != "" {
		b.WriteString(":" + e.Tag)
	}
	if e.Digest != "" {
		b.WriteString("@" + e.Digest)
	}
	if e.Target != "" {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(e.Target)
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func newAuditExportCmd(g *globals, af *auditFlags) *cobra.Command {
	var (
		ff             filterFlags
		format, output string
	)
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Export audit events as JSON lines (evidence for an auditor)",
		Long: `Export writes every selected event, oldest first, one JSON object per line,
with its prev_hash and hash so that the chain can be checked independently
(docs/audit.md says how each hash is computed).`,
		Example: `  cssc audit export --format jsonl --data-dir ./cssc-data > audit.jsonl
  cssc audit export --format jsonl --since 2026-01-01 --until 2026-04-01 -o q1.jsonl --server https://cssc.example:5000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			ctx := cmd.Context()
			if format != "jsonl" {
				return fmt.Errorf("--format %q: only jsonl is supported", format)
			}
			f, err := ff.filter(time.Now())
			if err != nil {
				return err
			}
			online, err := af.online(cmd)
			if err != nil {
				return err
			}
			w := g.stdout
			if output != "" && output != "-" {
				file, err := os.OpenFile(output, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
				if err != nil {
					return fmt.Errorf("export: %w", err)
				}
				defer func() {
					if cerr := file.Close(); err == nil && cerr != nil {
						err = fmt.Errorf("export: %w", cerr)
					}
				}()
				w = file
			}
			if online {
				c, err := g.apiClient(cmd)
				if err != nil {
					return err
				}
				q := f.Query()
				q.Set("format", "jsonl")
				resp, err := c.Raw(ctx, http.MethodGet, "/api/v1/audit?"+q.Encode(), nil)
				if err != nil {
					return fmt.Errorf("export audit events: %w", err)
				}
				defer func() { _ = resp.Body.Close() }()
				if _, err := io.Copy(w, resp.Body); err != nil {
					return fmt.Errorf("export audit events: %w", err)
				}
				return nil
			}
			st, err := af.openOffline(ctx)
			if err != nil {
				return err
			}
			defer func() { _ = st.Close() }()
			return audit.Export(ctx, st, w, f)
		},
	}
	ff.add(cmd, 0, "at most this many events (0: all)")
	f := cmd.Flags()
	f.StringVar(&format, "format", "jsonl", "jsonl: one JSON event per line")
	f.StringVarP(&output, "output", "o", "", "write to this new file (mode 0600) instead of standard output")
	return cmd
}

func newAuditPublicKeyCmd(g *globals, af *auditFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "public-key",
		Short: "Print the audit public key (PEM), for offline verification",
		Example: `  cssc audit public-key --server https://cssc.example:5000 > audit.pub
  cssc audit public-key --data-dir ./cssc-data`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			online, err := af.online(cmd)
			if err != nil {
				return err
			}
			var b []byte
			if online {
				c, err := g.apiClient(cmd)
				if err != nil {
					return err
				}
				if b, err = getRaw(ctx, c, "/api/v1/audit/public-key"); err != nil {
					return fmt.Errorf("audit public key: %w", err)
				}
			} else {
				path := af.publicKeyPath("")
				if b, err = os.ReadFile(path); errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("no audit public key at %s: a server creates it on its first start", path)
				} else if err != nil {
					return err
				}
			}
			if _, err := audit.ParsePublicKey(b); err != nil {
				return fmt.Errorf("audit public key: %w", err)
			}
			_, err = g.stdout.Write(b)
			return err
		},
	}
}
