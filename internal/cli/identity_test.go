package cli

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cssc-project/cssc/internal/server/servertest"
)

func TestAdminInit(t *testing.T) {
	dir := t.TempDir()
	code, out, stderr := run(t, "admin", "init", "--data-dir", dir)
	secret := strings.TrimSpace(out)
	if code != 0 || len(secret) < 40 || strings.Contains(secret, " ") || strings.Count(out, "\n") != 1 {
		t.Fatalf("admin init: code %d, stdout %q (want the secret alone), stderr %q", code, out, stderr)
	}
	if !strings.Contains(stderr, `user "admin"`) {
		t.Errorf("admin init says nothing useful on stderr: %q", stderr)
	}
	if info, err := os.Stat(filepath.Join(dir, "keys", "token.key")); err != nil || info.Mode().Perm()&0o077 != 0 {
		t.Errorf("token key: %v (mode %v), want it private", err, info)
	}
	code, _, stderr = run(t, "admin", "init", "--data-dir", dir)
	if code == 0 || !strings.Contains(stderr, "already initialised") {
		t.Errorf("second init: code %d, %q", code, stderr)
	}
	t.Setenv("CSSC_ADMIN_PASSWORD", "short")
	if code, _, stderr := run(t, "admin", "init", "--data-dir", t.TempDir()); code == 0 || !strings.Contains(stderr, "12 characters") {
		t.Errorf("weak CSSC_ADMIN_PASSWORD: code %d, %q", code, stderr)
	}
	// The secret works against the server.
	srv := servertest.Start(t, servertest.Config(dir))
	req, _ := http.NewRequest("GET", srv.URL+"/v2/", nil)
	req.SetBasicAuth("admin", secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("admin secret against the server: %v %v", err, resp)
	}
	_ = resp.Body.Close()
}

func TestIdentityCommands(t *testing.T) {
	dir := t.TempDir()
	servertest.Init(t, dir)
	srv := servertest.Start(t, servertest.Config(dir))
	t.Setenv("CSSC_SERVER", srv.URL)
	t.Setenv("CSSC_LOGIN_FILE", filepath.Join(t.TempDir(), "logins.json"))
	t.Setenv("CSSC_USERNAME", "admin")
	t.Setenv("CSSC_PASSWORD", servertest.AdminPassword)

	must := func(args ...string) string {
		t.Helper()
		code, out, stderr := run(t, args...)
		if code != 0 {
			t.Fatalf("cssc %s: code %d: %s", strings.Join(args, " "), code, stderr)
		}
		return out
	}
	secret := strings.TrimSpace(must("robot", "add", "ci", "--role", "pull", "--scope", "golden/**", "--expires", "90d"))
	if len(secret) < 40 || strings.ContainsAny(secret, " \n") {
		t.Fatalf("robot add printed %q, want the secret alone", secret)
	}
	must("user", "add", "alice", "--role", "push", "--scope", "team/**", "--scope", "apps/**")
	list := must("robot", "list")
	if !strings.Contains(list, "ci") || !strings.Contains(list, "pull:golden/**") || strings.Contains(list, "alice") {
		t.Errorf("robot list:\n%s", list)
	}
	if list := must("user", "list"); !strings.Contains(list, "push:apps/** push:team/**") {
		t.Errorf("user list:\n%s", list)
	}
	if code, _, stderr := run(t, "robot", "add", "ci"); code == 0 || !strings.Contains(stderr, "exists") {
		t.Errorf("duplicate robot: code %d %q", code, stderr)
	}
	if code, _, stderr := run(t, "user", "add", "bob", "--role", "owner", "--scope", "x/**"); code == 0 || !strings.Contains(stderr, "unknown role") {
		t.Errorf("bad role: code %d %q", code, stderr)
	}

	// The robot logs in with the name it was given; the saved login works
	// for later commands without environment credentials.
	t.Setenv("CSSC_USERNAME", "")
	t.Setenv("CSSC_PASSWORD", "")
	if code, _, stderr := run(t, "user", "list"); code != 2 || !strings.Contains(stderr, "cssc login") {
		t.Errorf("without credentials: code %d %q, want a hint to log in", code, stderr)
	}
	t.Setenv("CSSC_PASSWORD", secret)
	must("login", "-u", "ci")
	t.Setenv("CSSC_PASSWORD", "")
	if out := must("token", "list"); !strings.Contains(out, "ci") {
		t.Errorf("token list after login:\n%s", out)
	}
	if code, _, stderr := run(t, "user", "list"); code == 0 || !strings.Contains(stderr, "403") {
		t.Errorf("robot lists users: code %d %q, want 403", code, stderr)
	}
	tok := strings.TrimSpace(must("token", "create", "--name", "narrow", "--role", "pull", "--scope", "golden/app"))
	if !strings.HasPrefix(tok, "cssc_") {
		t.Errorf("token create printed %q", tok)
	}
	must("logout")
	if code, _, _ := run(t, "token", "list"); code == 0 {
		t.Error("token list works after logout")
	}

	// Revocation is immediate.
	t.Setenv("CSSC_USERNAME", "admin")
	t.Setenv("CSSC_PASSWORD", servertest.AdminPassword)
	must("robot", "revoke", "ci")
	req, _ := http.NewRequest("GET", srv.URL+"/v2/", nil)
	req.SetBasicAuth("ci", secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("revoked robot: %v %v", err, resp)
	}
	if resp != nil {
		_ = resp.Body.Close()
	}
	if _, err := parseExpiry("yesterday", time.Now()); err == nil {
		t.Error("parseExpiry accepted nonsense")
	}
}
