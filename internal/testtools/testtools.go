// Package testtools finds the pinned external tools the tests run (the OCI
// conformance suite, notation, cosign, the CNCF distribution registry):
// scripts/tools.sh builds each once into .tools/ and prints its path.
package testtools

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Path returns the binary of tool, building it with scripts/tools.sh if it
// is not built yet; CSSC_<TOOL>_BIN (e.g. CSSC_COSIGN_BIN) names another
// binary instead. The test fails, saying why, if the tool cannot be built.
func Path(t testing.TB, tool string) string {
	t.Helper()
	env := "CSSC_" + strings.ToUpper(strings.ReplaceAll(tool, "-", "_")) + "_BIN"
	if p := os.Getenv(env); p != "" {
		return p
	}
	root, err := repoRoot()
	if err != nil {
		t.Fatalf("find %s: %v", tool, err)
	}
	out, err := exec.Command(filepath.Join(root, "scripts", "tools.sh"), "--path", tool).Output()
	if err != nil {
		msg := ""
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			msg = string(ee.Stderr)
		}
		t.Fatalf("build %s (scripts/tools.sh %s): %v\n%s", tool, tool, err, msg)
	}
	return strings.TrimSpace(string(out))
}

// repoRoot is the nearest directory above the working directory (a test's
// package directory) that holds scripts/tools.sh.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "scripts", "tools.sh")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no scripts/tools.sh above the working directory")
		}
		dir = parent
	}
}
