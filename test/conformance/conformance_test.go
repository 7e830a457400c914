// Package conformance runs the official OCI distribution-spec conformance
// suite against a freshly started cssc server.
package conformance

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cssc-project/cssc/internal/server/servertest"
	"github.com/cssc-project/cssc/internal/testtools"
)

// junit is the part of the suite's junit.xml report the test reads.
type junit struct {
	Suites []struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Errors   int `xml:"errors,attr"`
		Skipped  int `xml:"skipped,attr"`
		Cases    []struct {
			Name    string    `xml:"name,attr"`
			Failure *struct{} `xml:"failure"`
			Skipped *struct {
				Message string `xml:"message,attr"`
			} `xml:"skipped"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

// TestDistributionSpecConformance runs the suite against an open-mode
// server and against an initialised one, where it logs in (through the
// token flow) as a user with delete on conformance/**.
func TestDistributionSpecConformance(t *testing.T) {
	bin := testtools.Path(t, "conformance")
	t.Run("open mode", func(t *testing.T) {
		srv := servertest.Start(t, servertest.Config(t.TempDir()))
		runSuite(t, bin, srv.Host)
	})
	t.Run("with credentials", func(t *testing.T) {
		dir := t.TempDir()
		servertest.Init(t, dir)
		srv := servertest.Start(t, servertest.Config(dir))
		secret := createUser(t, srv.URL, "conformance", "delete", "conformance/**")
		runSuite(t, bin, srv.Host, "OCI_USERNAME=conformance", "OCI_PASSWORD="+secret)
	})
}

// createUser creates a user with one role on one scope and returns its secret.
func createUser(t *testing.T, base, name, role, scope string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"name": name, "kind": "user",
		"grants": []map[string]string{{"role": role, "scope": scope}}})
	req, _ := http.NewRequest("POST", base+"/api/v1/users", bytes.NewReader(body))
	req.SetBasicAuth("admin", servertest.AdminPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var out map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("create user %s: %s %v", name, resp.Status, err)
	}
	return out["secret"]
}

func runSuite(t *testing.T, bin, host string, env ...string) {
	t.Helper()
	results := t.TempDir()
	cmd := exec.Command(bin)
	cmd.Dir = results
	cmd.Env = append(append(os.Environ(), env...),
		"OCI_REGISTRY="+host,
		"OCI_TLS=disabled",
		"OCI_VERSION=1.1",
		"OCI_REPO1=conformance/repo1",
		"OCI_REPO2=conformance/repo2",
		"OCI_RESULTS_DIR="+results,
		// The optional checks cssc commits to, on top of the 1.1 defaults.
		"OCI_API_BLOBS_DIGEST_HEADER=true",
		"OCI_API_MANIFESTS_DIGEST_HEADER=true",
		"OCI_API_BLOBS_UPLOAD_CANCEL=true",
		"OCI_API_MANIFESTS_TAG_PARAM=true",
		// cssc refuses manifests whose blobs are missing, as the spec allows.
		"OCI_DATA_SPARSE=false",
	)
	out, runErr := cmd.CombinedOutput()
	raw, err := os.ReadFile(filepath.Join(results, "junit.xml"))
	if err != nil {
		t.Fatalf("conformance suite wrote no junit.xml (%v): %v\n%s", runErr, err, out)
	}
	var rep junit
	if err := xml.Unmarshal(raw, &rep); err != nil {
		t.Fatalf("read junit.xml: %v", err)
	}
	var tests, failures, errs, skipped int
	var failed, skips []string
	for _, s := range rep.Suites {
		tests += s.Tests
		failures += s.Failures
		errs += s.Errors
		skipped += s.Skipped
		for _, c := range s.Cases {
			if c.Failure != nil {
				failed = append(failed, c.Name)
			}
			if c.Skipped != nil {
				skips = append(skips, c.Name+": "+c.Skipped.Message)
			}
		}
	}
	t.Logf("conformance: %d tests, %d failures, %d errors, %d skipped", tests, failures, errs, skipped)
	if failures != 0 || errs != 0 || runErr != nil {
		t.Errorf("conformance failures (exit %v):\n  %s\n%s", runErr, strings.Join(failed, "\n  "), out)
	}
	if skipped != 0 {
		t.Errorf("conformance skipped %d tests; every API cssc claims must be tested:\n  %s", skipped, strings.Join(skips, "\n  "))
	}
	// The suite's 1.1 defaults plus the optional checks ran 986 tests when
	// this was written; far fewer means checks were silently turned off.
	if tests < 900 {
		t.Errorf("conformance ran only %d tests", tests)
	}
}
