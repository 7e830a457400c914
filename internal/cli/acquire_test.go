package cli

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cssc-project/cssc/internal/acquire/acquiretest"
	"github.com/cssc-project/cssc/internal/imagefs/imagetest"
	"github.com/cssc-project/cssc/internal/server/servertest"
)

// cssc acquire --wait --format json: one JSON object with the fields the
// issue names, and the exit code of the outcome.
func TestAcquireWaitJSON(t *testing.T) {
	e := acquiretest.Start(t, nil)
	e.AllowUpstream(t)
	up := e.Upstream.Host
	acquiretest.Push(t, up+"/demo/clean:1.0", acquiretest.DebianImage(t, acquiretest.CleanStatus))
	acquiretest.Push(t, up+"/demo/vulnerable:1.0", acquiretest.DebianImage(t, imagetest.DpkgStatus))
	t.Setenv("CSSC_LOGIN_FILE", filepath.Join(t.TempDir(), "logins.json"))
	t.Setenv("CSSC_TOKEN", "")
	t.Setenv("CSSC_USERNAME", "admin")
	t.Setenv("CSSC_PASSWORD", servertest.AdminPassword)
	server := []string{"--server", e.Server.URL}

	tests := []struct {
		source string
		code   int
		state  string
	}{
		{up + "/demo/clean:1.0", 0, "promoted"},
		{up + "/demo/vulnerable:1.0", 1, "blocked"},
	}
	for _, tc := range tests {
		t.Run(tc.state, func(t *testing.T) {
			code, stdout, stderr := run(t, append([]string{"acquire", tc.source, "--wait", "--format", "json"}, server...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %s", code, tc.code, stderr)
			}
			var rec map[string]any
			if err := json.Unmarshal([]byte(stdout), &rec); err != nil {
				t.Fatalf("stdout is not one JSON object: %v\n%s", err, stdout)
			}
			for _, k := range []string{"id", "state", "reasons", "risk_score", "quarantine_ref", "golden_ref", "referrers"} {
				if _, ok := rec[k]; !ok {
					t.Errorf("the record has no %q: %s", k, stdout)
				}
			}
			if rec["state"] != tc.state {
				t.Errorf("state %v, want %s", rec["state"], tc.state)
			}
			if _, ok := rec["risk_score"].(float64); !ok {
				t.Errorf("risk_score %v is not a number", rec["risk_score"])
			}
			name := strings.TrimPrefix(tc.source, up+"/")
			if rec["quarantine_ref"] != e.Server.Host+"/quarantine/"+name {
				t.Errorf("quarantine_ref %v", rec["quarantine_ref"])
			}
			reasons, _ := rec["reasons"].([]any)
			refs, _ := rec["referrers"].([]any)
			switch tc.state {
			case "promoted":
				if rec["golden_ref"] != e.Server.Host+"/golden/"+name || len(reasons) != 0 || len(refs) == 0 {
					t.Errorf("promoted: golden_ref %v, reasons %v, %d referrers", rec["golden_ref"], reasons, len(refs))
				}
				for _, r := range refs {
					m := r.(map[string]any)
					if m["artifactType"] == "" || !strings.HasPrefix(m["digest"].(string), "sha256:") {
						t.Errorf("referrer %v lacks artifactType or digest", m)
					}
				}
			case "blocked":
				if len(reasons) == 0 || !strings.Contains(reasons[0].(string), "CVE-2024-0727") {
					t.Errorf("blocked: reasons %v", reasons)
				}
			}
		})
	}
	// A name no upstream allows: exit 2, with the near allow-listed one.
	code, _, stderr := run(t, append([]string{"acquire", up + "/dmeo/clean:1.0", "--wait"}, server...)...)
	if code != 2 || !strings.Contains(stderr, "did you mean "+up+"/demo/clean") {
		t.Errorf("typo: exit %d, stderr %q", code, stderr)
	}
	// The listing and the record in text.
	code, out, stderr := run(t, append([]string{"acquisitions", "list"}, server...)...)
	if code != 0 || strings.Count(out, "\n") != 3 || !strings.Contains(out, "blocked") || !strings.Contains(out, "promoted") {
		t.Errorf("acquisitions list: exit %d\n%s%s", code, out, stderr)
	}
}
