package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cssc-project/cssc/internal/server/servertest"
)

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Execute(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestVersion(t *testing.T) {
	code, out, _ := run(t, "version")
	if code != 0 || !strings.HasPrefix(out, "cssc ") {
		t.Fatalf("version: code %d, %q", code, out)
	}
}

func TestSettingErrorsAreClear(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "cssc.yaml")
	if err := os.WriteFile(cfg, []byte("data-dir: /tmp/x\naddress: 1.2.3.4:5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"unknown YAML key", nil, []string{"gc", "--config", cfg}, `unknown setting "address"`},
		{"bad log level from env", map[string]string{"CSSC_LOG_LEVEL": "loud"}, []string{"version"}, `log level "loud"`},
		{"bad duration from env", map[string]string{"CSSC_UPLOAD_MAX_AGE": "soon"}, []string{"gc"}, "CSSC_UPLOAD_MAX_AGE"},
		{"not a data directory", nil, []string{"gc", "--data-dir", t.TempDir()}, "not a cssc data directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			code, _, stderr := run(t, tc.args...)
			if code == 0 || !strings.Contains(stderr, tc.want) {
				t.Fatalf("code %d, stderr %q, want it to mention %q", code, stderr, tc.want)
			}
		})
	}
}

func TestGCAsksTheServerHoldingTheDataDir(t *testing.T) {
	srv := servertest.Start(t, servertest.Config(t.TempDir()))
	code, out, stderr := run(t, "gc", "--dry-run", "--data-dir", srv.DataDir)
	if code != 0 || !strings.HasPrefix(out, "gc would remove: ") {
		t.Fatalf("gc via server: code %d, out %q, err %q", code, out, stderr)
	}
	if !strings.Contains(stderr, "asking it to collect") {
		t.Errorf("gc should say it went to the server: %q", stderr)
	}
	srv.Stop()
	code, out, stderr = run(t, "gc", "--data-dir", srv.DataDir)
	if code != 0 || !strings.HasPrefix(out, "gc removed: ") {
		t.Fatalf("offline gc: code %d, out %q, err %q", code, out, stderr)
	}
}
