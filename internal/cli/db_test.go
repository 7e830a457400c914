package cli

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// osvRecords are OSV records for the db command tests, by file name.
var osvRecords = map[string]string{
	"DSA-1.json": `{"id": "DSA-1", "modified": "2024-03-01T00:00:00Z",
		"affected": [{"package": {"ecosystem": "Debian:12", "name": "openssl"}}]}`,
	"DLA-2.json": `{"id": "DLA-2", "modified": "2024-03-02T00:00:00Z",
		"affected": [{"package": {"ecosystem": "Debian:11", "name": "curl"}}]}`,
	"GO-3.json": `{"id": "GO-3", "modified": "2024-01-01T00:00:00Z",
		"affected": [{"package": {"ecosystem": "Go", "name": "example.com/m"}}]}`,
	"GO-4.json": `{"id": "GO-4", "modified": "2024-01-02T00:00:00Z", "withdrawn": "2024-01-03T00:00:00Z",
		"affected": [{"package": {"ecosystem": "Go", "name": "example.com/m"}}]}`,
}

func osvDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// statusRows is the status table's rows as fields, by ecosystem.
func statusRows(t *testing.T, out string) map[string][]string {
	t.Helper()
	lines := strings.Split(out, "\n")
	if !strings.HasPrefix(lines[0], "ECOSYSTEM  RECORDS  NEWEST RECORD") {
		t.Fatalf("status header: %q", lines[0])
	}
	rows := map[string][]string{}
	for _, l := range lines[1:] {
		if l == "" {
			break
		}
		f := strings.Fields(l)
		rows[f[0]] = f
	}
	return rows
}

func TestDBImportAndStatus(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir()) // never the user's cache
	db := filepath.Join(t.TempDir(), "db")
	src := osvDir(t, osvRecords)

	code, _, stderr := run(t, "db", "status", "--db-dir", db)
	if want := "no vulnerability database in " + db + ": run `cssc db import` or `cssc db update`"; code != 2 || !strings.Contains(stderr, want) {
		t.Fatalf("status before import: code %d, %q", code, stderr)
	}

	code, out, stderr := run(t, "db", "import", src, "--db-dir", db)
	if code != 0 || out != "" {
		t.Fatalf("import: code %d, out %q, err %q", code, out, stderr)
	}
	for _, want := range []string{"imported Debian: 2 records\n", "imported Go: 1 records\n", "left out 1 withdrawn records\n"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("import output %q lacks %q", stderr, want)
		}
	}

	code, out, stderr = run(t, "db", "status", "--db-dir", db)
	if code != 0 {
		t.Fatalf("status: code %d, %q", code, stderr)
	}
	rows := statusRows(t, out)
	if len(rows) != 2 {
		t.Fatalf("status rows %v", rows)
	}
	// ECOSYSTEM RECORDS date time (N ago) date time (N ago) - SOURCE
	for eco, want := range map[string][]string{
		"Debian": {"Debian", "2", "2024-03-02", "00:00"},
		"Go":     {"Go", "1", "2024-01-01", "00:00"},
	} {
		r := rows[eco]
		if len(r) != 12 || !equal(r[:4], want) || r[10] != "-" || r[11] != src {
			t.Errorf("%s row %q, want %v … - %s", eco, r, want, src)
		}
	}
	if !strings.Contains(out, "\ndatabase: "+db+"\nend-of-life table: ") || !strings.HasSuffix(out, "(built-in)\n") {
		t.Errorf("status footer: %q", out)
	}

	// The environment names the directory as well as the flag.
	t.Setenv("CSSC_DB_DIR", db)
	code, out, stderr = run(t, "db", "status", "--format", "json")
	if code != 0 {
		t.Fatalf("status json: code %d, %q", code, stderr)
	}
	var st struct {
		Dir      string `json:"dir"`
		Families []struct {
			Family  string `json:"family"`
			Records int    `json:"records"`
			Source  string `json:"source"`
			Newest  string `json:"newest"`
		} `json:"families"`
		EOLTable struct{ Source string } `json:"eol_table"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status json %q: %v", out, err)
	}
	if st.Dir != db || len(st.Families) != 2 || st.Families[0].Family != "Debian" || st.Families[0].Records != 2 ||
		st.Families[0].Newest != "2024-03-02T00:00:00Z" || st.Families[1].Family != "Go" || st.Families[1].Source != src ||
		st.EOLTable.Source != "built-in" {
		t.Errorf("status json: %+v", st)
	}

	// Errors exit 2 and say what is wrong; the data stays.
	bad := osvDir(t, map[string]string{"BAD.json": `{"id": `})
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"db", "import", bad}, filepath.Join(bad, "BAD.json")},
		{[]string{"db", "import"}, "requires at least 1 arg"},
		{[]string{"db", "status", "--format", "xml"}, `--format "xml"`},
	} {
		if code, _, stderr := run(t, c.args...); code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: code %d, %q, want %q", c.args, code, stderr, c.want)
		}
	}
	if code, out, _ := run(t, "db", "status"); code != 0 || len(statusRows(t, out)) != 2 {
		t.Errorf("status after the failed import: %d %q", code, out)
	}
}

func TestDBUpdate(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	var zbuf bytes.Buffer
	zw := zip.NewWriter(&zbuf)
	w, _ := zw.Create("GO-3.json")
	_, _ = w.Write([]byte(osvRecords["GO-3.json"]))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/osv/Go/all.zip":
			if r.Header.Get("If-None-Match") == `"v1"` {
				w.WriteHeader(http.StatusNotModified)
				return
			}
			w.Header().Set("ETag", `"v1"`)
			_, _ = w.Write(zbuf.Bytes())
		case "/osv/eol.json":
			_, _ = w.Write([]byte(`{"updated": "2099-01-01", "distros": [{"id": "x", "name": "X", "source": "https://x"}]}`))
		case "/osv/Debian/all.zip":
			w.WriteHeader(http.StatusInternalServerError)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	db := t.TempDir()
	mirror := srv.URL + "/osv"

	code, _, stderr := run(t, "db", "update", "--db-dir", db, "--mirror", mirror, "--ecosystems", "Go")
	if code != 0 || !strings.Contains(stderr, "Go: updated (1 records)\n") || !strings.Contains(stderr, "end-of-life table: updated (2099-01-01)\n") {
		t.Fatalf("first update: code %d, %q", code, stderr)
	}
	code, _, stderr = run(t, "db", "update", "--db-dir", db, "--mirror", mirror, "--ecosystems", "Go,Debian")
	if code != 2 || !strings.Contains(stderr, "Go: not modified\n") || !strings.Contains(stderr, "Debian: failed: ") ||
		!strings.Contains(stderr, "1 of 2 ecosystems failed") {
		t.Fatalf("second update: code %d, %q", code, stderr)
	}
	code, out, _ := run(t, "db", "status", "--db-dir", db)
	rows := statusRows(t, out)
	if code != 0 || len(rows) != 1 || rows["Go"][1] != "1" || rows["Go"][len(rows["Go"])-1] != mirror+"/Go/all.zip" {
		t.Fatalf("status: %d %q", code, out)
	}
	if !strings.HasSuffix(out, "end-of-life table: 2099-01-01 ("+db+"/eol.json)\n") {
		t.Errorf("status footer: %q", out)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
