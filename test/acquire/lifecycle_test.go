package acquire_test

import (
	"context"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cssc-project/cssc/internal/acquire"
	"github.com/cssc-project/cssc/internal/acquire/acquiretest"
	"github.com/cssc-project/cssc/internal/attest"
	"github.com/cssc-project/cssc/internal/imagefs/imagetest"
	"github.com/cssc-project/cssc/internal/policy"
	"github.com/cssc-project/cssc/internal/server"
	"github.com/cssc-project/cssc/internal/sign"
	"github.com/cssc-project/cssc/internal/vulndb"
)

// goldenDigest is the digest ref (a repository path on the pipeline
// server) names, "" when it names nothing.
func goldenDigest(t *testing.T, e *acquiretest.Env, ref string) string {
	t.Helper()
	tg, err := sign.Resolve(context.Background(), e.Server.Host+"/"+ref, sign.RemoteOptions{Credential: acquiretest.AdminCredential, HTTPClient: http.DefaultClient})
	if err != nil {
		return ""
	}
	return tg.Desc.Digest.String()
}

// A sync rule starts acquisitions for new and moved tags only, and an
// upstream that goes away leaves golden/ alone.
func TestSyncRule(t *testing.T) {
	e := acquiretest.Start(t, nil)
	e.AllowUpstream(t)
	up := e.Upstream.Host
	d10 := acquiretest.Push(t, up+"/demo/app:1.0", acquiretest.DebianImage(t, acquiretest.CleanStatus, imagetest.Entry{Name: "v", Body: "1.0"}))
	acquiretest.Push(t, up+"/demo/app:1.1", acquiretest.DebianImage(t, acquiretest.CleanStatus, imagetest.Entry{Name: "v", Body: "1.1"}))
	acquiretest.Push(t, up+"/demo/app:2.0", acquiretest.DebianImage(t, acquiretest.CleanStatus, imagetest.Entry{Name: "v", Body: "2.0"}))

	var rule acquire.SyncRule
	if code := e.API(t, "POST", "/api/v1/sync-rules", map[string]any{"source": up + "/demo/app", "match": `^1\.`, "interval": "1h"}, &rule); code != http.StatusCreated {
		t.Fatalf("add sync rule: HTTP %d", code)
	}
	runRule := func() acquire.SyncRule {
		var r acquire.SyncRule
		if code := e.API(t, "POST", "/api/v1/sync-rules/"+rule.ID+"/run", nil, &r); code != http.StatusOK {
			t.Fatalf("run sync rule: HTTP %d", code)
		}
		return r
	}
	first := runRule()
	if len(first.LastStarted) != 2 || len(first.Seen) != 2 || first.LastError != "" {
		t.Fatalf("first run: started %v, seen %v, error %q; want 1.0 and 1.1", first.LastStarted, first.Seen, first.LastError)
	}
	for _, id := range first.LastStarted {
		if rec := e.Wait(t, id); rec.State != acquire.StatePromoted {
			t.Fatalf("%s: %s %q", rec.Source, rec.State, rec.Reasons)
		}
	}
	if goldenDigest(t, e, "golden/demo/app:2.0") != "" {
		t.Error("a tag the rule does not match was acquired")
	}
	if again := runRule(); len(again.LastStarted) != 0 {
		t.Errorf("nothing changed upstream, yet the rule started %v", again.LastStarted)
	}
	// 1.1 moves upstream: a new acquisition, and golden follows.
	moved := acquiretest.Push(t, up+"/demo/app:1.1", acquiretest.DebianImage(t, acquiretest.CleanStatus, imagetest.Entry{Name: "v", Body: "1.1-rebuilt"}))
	third := runRule()
	if len(third.LastStarted) != 1 {
		t.Fatalf("after 1.1 moved: started %v, want one", third.LastStarted)
	}
	if rec := e.Wait(t, third.LastStarted[0]); rec.State != acquire.StatePromoted || rec.Digest != moved {
		t.Fatalf("moved tag: %s %s, want promoted %s", rec.State, rec.Digest, moved)
	}
	if got := goldenDigest(t, e, "golden/demo/app:1.1"); got != moved {
		t.Errorf("golden 1.1 = %s, want the moved digest %s", got, moved)
	}
	// The upstream disappears: the rule records it, golden keeps serving.
	e.Upstream.Stop()
	down := runRule()
	if down.LastError == "" || len(down.LastStarted) != 0 {
		t.Errorf("upstream down: error %q, started %v", down.LastError, down.LastStarted)
	}
	if got := goldenDigest(t, e, "golden/demo/app:1.0"); got != d10 {
		t.Errorf("golden 1.0 with the upstream down = %q, want %s", got, d10)
	}
}

// writePolicy writes the default policy with data into a directory.
func writePolicy(t *testing.T, data string) string {
	t.Helper()
	fsys, err := policy.DefaultFS()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, filepath.Base(p)), b, 0o644)
	}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "data.json"), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// New vulnerability data: golden images are decided again from their
// stored SBOMs; one that fails is flagged, or demoted when the policy
// says so.
func TestRescan(t *testing.T) {
	for _, tc := range []struct {
		name    string
		data    string
		demoted bool
	}{
		{"flag", `{}`, false},
		{"demote", `{"cssc": {"demote_on_failure": true}}`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var dbDir string
			e := acquiretest.Start(t, func(c *server.Config) {
				c.Pipeline.PolicyDir = writePolicy(t, tc.data)
				dbDir = c.Pipeline.DBDir
			})
			e.AllowUpstream(t)
			dgst := acquiretest.Push(t, e.Upstream.Host+"/demo/app:1.0", acquiretest.DebianImage(t, acquiretest.CleanStatus))
			rec := e.Wait(t, e.Submit(t, e.Upstream.Host+"/demo/app:1.0"))
			if rec.State != acquire.StatePromoted {
				t.Fatalf("%s %q", rec.State, rec.Reasons)
			}
			var rep acquire.RescanReport
			if code := e.API(t, "POST", "/api/v1/rescan", nil, &rep); code != http.StatusOK || rep.Flagged != 0 || len(rep.Images) != 1 {
				t.Fatalf("rescan on the same data: HTTP %d %+v", code, rep)
			}
			// A critical vulnerability with a fix in bash is published.
			src := t.TempDir()
			if err := os.WriteFile(filepath.Join(src, "DEBIAN-CVE-2026-9999.json"), []byte(`{"id":"DEBIAN-CVE-2026-9999","modified":"2026-11-01T00:00:00Z",
			  "severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
			  "affected":[{"package":{"ecosystem":"Debian:12","name":"bash"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"5.2.15-2+b3"}]}]}]}`), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := vulndb.Import(context.Background(), dbDir, vulndb.ImportOptions{}, src); err != nil {
				t.Fatal(err)
			}
			if code := e.API(t, "POST", "/api/v1/rescan", nil, &rep); code != http.StatusOK {
				t.Fatalf("rescan: HTTP %d", code)
			}
			if rep.Flagged != 1 || len(rep.Images) != 1 || !strings.Contains(strings.Join(rep.Images[0].Reasons, ";"), "DEBIAN-CVE-2026-9999") {
				t.Fatalf("rescan after new data: %+v", rep)
			}
			if rep.Images[0].Demoted != tc.demoted {
				t.Errorf("demoted = %v, want %v", rep.Images[0].Demoted, tc.demoted)
			}
			var after acquire.Record
			e.API(t, "GET", "/api/v1/acquisitions/"+rec.ID, nil, &after)
			wantState := acquire.StatePromoted
			if tc.demoted {
				wantState = acquire.StateDemoted
			}
			if after.State != wantState || len(after.Flags) == 0 || after.RescannedAt.IsZero() {
				t.Errorf("record after rescan: state %s flags %q rescanned %v", after.State, after.Flags, after.RescannedAt)
			}
			inGolden := goldenDigest(t, e, "golden/demo/app:1.0") == dgst
			if inGolden == tc.demoted {
				t.Errorf("in golden after rescan: %v, demoted %v", inGolden, tc.demoted)
			}
		})
	}
}

// Retiring a golden image moves its end of life (the lifecycle artifact is
// replaced, signed) and takes it out of golden/ after the grace period.
func TestGoldenRetire(t *testing.T) {
	ctx := context.Background()
	e := acquiretest.Start(t, nil)
	e.AllowUpstream(t)
	dgst := acquiretest.Push(t, e.Upstream.Host+"/demo/app:1.0", acquiretest.DebianImage(t, acquiretest.CleanStatus))
	if rec := e.Wait(t, e.Submit(t, e.Upstream.Host+"/demo/app:1.0")); rec.State != acquire.StatePromoted {
		t.Fatalf("%s %q", rec.State, rec.Reasons)
	}
	lifecycle := func() time.Time {
		tg, err := sign.Resolve(ctx, e.Server.Host+"/golden/demo/app:1.0", sign.RemoteOptions{Credential: acquiretest.AdminCredential, HTTPClient: http.DefaultClient})
		if err != nil {
			t.Fatal(err)
		}
		eol, err := attest.ReadLifecycle(ctx, tg)
		if err != nil || eol == nil {
			t.Fatalf("lifecycle: %v %v", eol, err)
		}
		return *eol
	}
	if got := lifecycle(); got.Year() != 2028 {
		t.Fatalf("end of life after acquisition = %s, want Debian 12's (2028)", got)
	}
	// An earlier end of life replaces the later one.
	want := time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)
	var ret acquire.Retirement
	if code := e.API(t, "POST", "/api/v1/golden/retire", map[string]any{"image": "golden/demo/app:1.0", "eol": want.Format(time.RFC3339), "grace": "8760h"}, &ret); code != http.StatusOK {
		t.Fatalf("retire: HTTP %d", code)
	}
	if got := lifecycle(); !got.Equal(want) || ret.Digest != dgst {
		t.Errorf("end of life after retire = %s (digest %s), want %s", got, ret.Digest, want)
	}
	// An end of life now with no grace: it leaves golden/.
	if code := e.API(t, "POST", "/api/v1/golden/retire", map[string]any{"image": e.Server.Host + "/golden/demo/app:1.0", "grace": "0s"}, &ret); code != http.StatusOK {
		t.Fatalf("retire now: HTTP %d", code)
	}
	deadline := time.Now().Add(30 * time.Second)
	for goldenDigest(t, e, "golden/demo/app:1.0") != "" {
		if time.Now().After(deadline) {
			t.Fatal("the retired image is still in golden/ 30 s after its grace period")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if tg, err := sign.Resolve(ctx, e.Server.Host+"/quarantine/demo/app:1.0", sign.RemoteOptions{Credential: acquiretest.AdminCredential, HTTPClient: http.DefaultClient}); err != nil || tg.Desc.Digest.String() != dgst {
		t.Errorf("the retired image is not in quarantine/ any more: %v", err)
	}
	var list struct {
		Retirements []acquire.Retirement `json:"retirements"`
	}
	e.API(t, "GET", "/api/v1/golden/retirements", nil, &list)
	if len(list.Retirements) != 1 || list.Retirements[0].RemovedAt.IsZero() {
		t.Errorf("retirements: %+v", list.Retirements)
	}
	var refusal map[string]any
	if code := e.API(t, "POST", "/api/v1/golden/retire", map[string]any{"image": "quarantine/demo/app:1.0"}, &refusal); code != http.StatusBadRequest {
		t.Errorf("retiring a quarantined image: HTTP %d %v", code, refusal)
	}
}
