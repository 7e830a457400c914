package eol

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cssc-project/cssc/internal/inventory"
)

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestLookup(t *testing.T) {
	tests := []struct {
		name string
		os   inventory.OS
		now  string
		want Status // ID, VersionID, Source and Note are not compared
	}{
		{"debian 12, supported", inventory.OS{ID: "debian", VersionID: "12"}, "2025-01-01",
			Status{Distro: "Debian", Release: "12", Codename: "bookworm", Known: true, Released: day("2023-06-10"),
				SupportEnds: day("2026-07-11"), EOL: day("2028-06-30"), State: Supported}},
		{"debian 12, in LTS: a warning, not EOL", inventory.OS{ID: "debian", VersionID: "12", Codename: "bookworm"}, "2027-01-01",
			Status{Distro: "Debian", Release: "12", Codename: "bookworm", Known: true, Released: day("2023-06-10"),
				SupportEnds: day("2026-07-11"), SupportEnded: true, EOL: day("2028-06-30"), State: Supported}},
		{"debian 12, 60 days left", inventory.OS{ID: "debian", VersionID: "12"}, "2028-05-01",
			Status{Distro: "Debian", Release: "12", Codename: "bookworm", Known: true, Released: day("2023-06-10"),
				SupportEnds: day("2026-07-11"), SupportEnded: true, EOL: day("2028-06-30"), State: NearEOL}},
		{"debian 12, on its EOL day", inventory.OS{ID: "debian", VersionID: "12"}, "2028-06-30",
			Status{Distro: "Debian", Release: "12", Codename: "bookworm", Known: true, Released: day("2023-06-10"),
				SupportEnds: day("2026-07-11"), SupportEnded: true, EOL: day("2028-06-30"), State: EOL}},
		{"debian 10 is past LTS", inventory.OS{ID: "debian", VersionID: "10"}, "2025-01-01",
			Status{Distro: "Debian", Release: "10", Codename: "buster", Known: true, Released: day("2019-07-06"),
				SupportEnds: day("2022-09-10"), SupportEnded: true, EOL: day("2024-06-30"), State: EOL}},
		{"debian point version", inventory.OS{ID: "debian", VersionID: "11.9"}, "2025-01-01",
			Status{Distro: "Debian", Release: "11", Codename: "bullseye", Known: true, Released: day("2021-08-14"),
				SupportEnds: day("2024-08-14"), SupportEnded: true, EOL: day("2026-08-31"), State: Supported}},
		{"debian testing by codename: no date yet", inventory.OS{ID: "debian", Codename: "forky", PrettyName: "Debian GNU/Linux forky/sid"}, "2026-01-01",
			Status{Distro: "Debian", Release: "14", Codename: "forky", Known: true, State: Unknown}},
		{"ubuntu 22.04", inventory.OS{ID: "ubuntu", VersionID: "22.04"}, "2025-01-01",
			Status{Distro: "Ubuntu", Release: "22.04", Codename: "jammy", Known: true, Released: day("2022-04-21"), EOL: day("2027-06-01"), State: Supported}},
		{"ubuntu 14.04: ESM does not count", inventory.OS{ID: "ubuntu", VersionID: "14.04"}, "2025-01-01",
			Status{Distro: "Ubuntu", Release: "14.04", Codename: "trusty", Known: true, Released: day("2014-04-17"), EOL: day("2019-04-25"), State: EOL}},
		{"ubuntu 8.04: the server date", inventory.OS{ID: "ubuntu", VersionID: "8.04"}, "2012-01-01",
			Status{Distro: "Ubuntu", Release: "8.04", Codename: "hardy", Known: true, Released: day("2008-04-24"), EOL: day("2013-05-09"), State: Supported}},
		{"ubuntu interim", inventory.OS{ID: "ubuntu", VersionID: "23.04"}, "2025-01-01",
			Status{Distro: "Ubuntu", Release: "23.04", Codename: "lunar", Known: true, Released: day("2023-04-20"), EOL: day("2024-01-25"), State: EOL}},
		{"alpine patch version", inventory.OS{ID: "alpine", VersionID: "3.20.3"}, "2025-12-01",
			Status{Distro: "Alpine Linux", Release: "3.20", Known: true, EOL: day("2026-04-01"), State: Supported}},
		{"alpine near", inventory.OS{ID: "alpine", VersionID: "3.20.3"}, "2026-02-01",
			Status{Distro: "Alpine Linux", Release: "3.20", Known: true, EOL: day("2026-04-01"), State: NearEOL}},
		{"alpine edge", inventory.OS{ID: "alpine", VersionID: "3.21.0_alpha20240807", PrettyName: "Alpine Linux edge"}, "2026-02-01",
			Status{Distro: "Alpine Linux", Release: "edge", Known: true, Rolling: true, State: Supported}},
		{"alpine release not in the table", inventory.OS{ID: "alpine", VersionID: "3.99.1"}, "2026-02-01",
			Status{Distro: "Alpine Linux", State: Unknown}},
		{"ubi 9", inventory.OS{ID: "rhel", VersionID: "9.4"}, "2026-01-01",
			Status{Distro: "Red Hat Enterprise Linux (and UBI)", Release: "9", Known: true, SupportEnds: day("2027-05-31"), EOL: day("2032-05-31"), State: Supported}},
		{"rhel 8 in maintenance", inventory.OS{ID: "rhel", VersionID: "8.10"}, "2026-01-01",
			Status{Distro: "Red Hat Enterprise Linux (and UBI)", Release: "8", Known: true, SupportEnds: day("2024-05-31"), SupportEnded: true, EOL: day("2029-05-31"), State: Supported}},
		{"amazon linux 2", inventory.OS{ID: "amzn", VersionID: "2"}, "2026-05-01",
			Status{Distro: "Amazon Linux", Release: "2", Known: true, EOL: day("2026-06-30"), State: NearEOL}},
		{"amazon linux 2023", inventory.OS{ID: "amzn", VersionID: "2023"}, "2026-05-01",
			Status{Distro: "Amazon Linux", Release: "2023", Known: true, SupportEnds: day("2027-06-30"), EOL: day("2029-06-30"), State: Supported}},
		{"amazon linux AMI", inventory.OS{ID: "amzn", VersionID: "2018.03"}, "2026-05-01",
			Status{Distro: "Amazon Linux", Release: "2018.03", Known: true, EOL: day("2023-12-31"), State: EOL}},
		{"rocky", inventory.OS{ID: "rocky", VersionID: "9.3"}, "2026-05-01",
			Status{Distro: "Rocky Linux", Release: "9", Known: true, SupportEnds: day("2027-05-31"), EOL: day("2032-05-31"), State: Supported}},
		{"alma", inventory.OS{ID: "almalinux", VersionID: "8.9"}, "2026-05-01",
			Status{Distro: "AlmaLinux OS", Release: "8", Known: true, SupportEnds: day("2024-05-01"), SupportEnded: true, EOL: day("2029-03-01"), State: Supported}},
		{"centos linux 7", inventory.OS{ID: "centos", VersionID: "7", PrettyName: "CentOS Linux 7 (Core)"}, "2025-01-01",
			Status{Distro: "CentOS Linux", Release: "7", Known: true, EOL: day("2024-06-30"), State: EOL}},
		{"centos stream 8", inventory.OS{ID: "centos", VersionID: "8", PrettyName: "CentOS Stream 8"}, "2024-04-01",
			Status{Distro: "CentOS Stream", Release: "8", Known: true, EOL: day("2024-05-31"), State: NearEOL}},
		{"centos linux 8 without a name", inventory.OS{ID: "centos", VersionID: "8"}, "2024-01-01",
			Status{Distro: "CentOS Linux", Release: "8", Known: true, EOL: day("2021-12-31"), State: EOL}},
		{"centos 9 is stream", inventory.OS{ID: "centos", VersionID: "9"}, "2025-01-01",
			Status{Distro: "CentOS Stream", Release: "9", Known: true, EOL: day("2027-05-31"), State: Supported}},
		{"fedora 40", inventory.OS{ID: "fedora", VersionID: "40"}, "2025-06-01",
			Status{Distro: "Fedora Linux", Release: "40", Known: true, EOL: day("2025-05-13"), State: EOL}},
		{"fedora without a date", inventory.OS{ID: "fedora", VersionID: "43"}, "2025-12-01",
			Status{Distro: "Fedora Linux", Release: "43", Known: true, State: Unknown}},
		{"wolfi is rolling", inventory.OS{ID: "wolfi", VersionID: "20230201"}, "2030-01-01",
			Status{Distro: "Wolfi", Known: true, Rolling: true, State: Supported}},
		{"chainguard is rolling", inventory.OS{ID: "chainguard", VersionID: "20230214"}, "2030-01-01",
			Status{Distro: "Chainguard OS", Known: true, Rolling: true, State: Supported}},
		{"unknown distribution", inventory.OS{ID: "ol", VersionID: "9.3"}, "2025-01-01",
			Status{State: Unknown}},
		{"upper-case id", inventory.OS{ID: "Debian", VersionID: "12"}, "2025-01-01",
			Status{Distro: "Debian", Release: "12", Codename: "bookworm", Known: true, Released: day("2023-06-10"),
				SupportEnds: day("2026-07-11"), EOL: day("2028-06-30"), State: Supported}},
	}
	tab := Embedded()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tab.Lookup(tc.os, day(tc.now))
			if got.ID != tc.os.ID || got.VersionID != tc.os.VersionID {
				t.Errorf("looked-up ids %q %q", got.ID, got.VersionID)
			}
			if tc.want.Distro != "" && got.Source == "" {
				t.Error("no source")
			}
			got.ID, got.VersionID, got.Source, got.Note = "", "", "", ""
			if tc.want.Codename == "" {
				tc.want.Codename = tc.os.Codename
			}
			if got != tc.want {
				t.Errorf("\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestNearWindowIsConfigurable(t *testing.T) {
	tab := Embedded()
	os := inventory.OS{ID: "debian", VersionID: "12"}
	now := day("2028-01-01") // 181 days before the EOL
	if s := tab.Lookup(os, now).State; s != Supported {
		t.Fatalf("default window: %s", s)
	}
	tab.NearWindow = 200 * 24 * time.Hour
	if s := tab.Lookup(os, now).State; s != NearEOL {
		t.Fatalf("200-day window: %s", s)
	}
	if s := Lookup(os, now).State; s != Supported {
		t.Fatalf("the package Lookup must keep its own window: %s", s)
	}
}

// TestEmbeddedTableIsConsistent checks the data itself: every distribution
// names its source, and every release's dates are in order.
func TestEmbeddedTableIsConsistent(t *testing.T) {
	tab := Embedded()
	for id, d := range tab.distros {
		if !strings.HasPrefix(d.file.Source, "https://") {
			t.Errorf("%s: source %q", id, d.file.Source)
		}
		if d.file.Rolling != (len(d.file.Releases) == 0) {
			t.Errorf("%s: a rolling distribution has no releases, others have some", id)
		}
		for _, r := range d.releases {
			if !r.supportEnds.IsZero() && !r.eol.IsZero() && r.supportEnds.After(r.eol) {
				t.Errorf("%s %s: support ends after the end of life", id, r.file.Release)
			}
			if !r.released.IsZero() && !r.eol.IsZero() && !r.released.Before(r.eol) {
				t.Errorf("%s %s: released after its end of life", id, r.file.Release)
			}
			if r.eol.IsZero() && !r.file.Rolling && r.file.Note == "" {
				t.Errorf("%s %s: no end-of-life date and no note saying why", id, r.file.Release)
			}
		}
	}
	for _, id := range []string{"debian", "ubuntu", "alpine", "rhel", "amzn", "rocky", "almalinux", "fedora", "centos-stream", "wolfi", "chainguard"} {
		if tab.distros[id] == nil {
			t.Errorf("%s is missing", id)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, json, want string }{
		{"not JSON", `{`, "unexpected end"},
		{"no date", `{"distros": []}`, `updated ""`},
		{"bad date", `{"updated": "2026-01-01", "distros": [{"id": "x", "name": "X", "releases": [{"release": "1", "eol": "2026/01/01"}]}]}`, `x 1: "2026/01/01"`},
		{"twice", `{"updated": "2026-01-01", "distros": [{"id": "x", "name": "X"}, {"id": "x", "name": "X"}]}`, "x listed twice"},
		{"release twice", `{"updated": "2026-01-01", "distros": [{"id": "x", "name": "X", "releases": [{"release": "1"}, {"release": "1"}]}]}`, "x 1 listed twice"},
		{"no name", `{"updated": "2026-01-01", "distros": [{"id": "x"}]}`, "without id or name"},
	}
	for _, tc := range tests {
		if _, err := Parse([]byte(tc.json)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

const newerTable = `{"updated": "2099-01-01", "distros": [
	{"id": "newos", "name": "New OS", "source": "https://example.com", "releases": [{"release": "1", "eol": "2100-01-01"}]}]}`

func TestUpdateAndLoad(t *testing.T) {
	var body string
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/mirror/eol.json" {
			http.NotFound(w, r)
			return
		}
		if status != http.StatusOK {
			w.WriteHeader(status)
			return
		}
		_, _ = w.Write([]byte(body))
	}))
	defer srv.Close()
	ctx := context.Background()
	dir := t.TempDir()
	newOS := inventory.OS{ID: "newos", VersionID: "1"}
	loaded := func() *Table {
		t.Helper()
		tab, err := Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		return tab
	}
	stored := func() bool {
		_, err := os.Stat(filepath.Join(dir, FileName))
		return err == nil
	}

	// A mirror without a table: not an error, the embedded table stays.
	res, err := Update(ctx, dir, srv.URL+"/elsewhere", nil)
	if err != nil || res.Provided || res.Stored || stored() {
		t.Fatalf("404: %+v %v", res, err)
	}
	// Errors: a 500, a table that does not parse. Nothing is stored.
	for _, c := range []struct {
		status int
		body   string
		want   string
	}{
		{http.StatusInternalServerError, "", "500 Internal Server Error"},
		{http.StatusOK, `{"updated": "2099-01-01", "distros": [{"id": "x"}]}`, "without id or name"},
		{http.StatusOK, `<html>`, "invalid character"},
	} {
		status, body = c.status, c.body
		if _, err := Update(ctx, dir, srv.URL+"/mirror/", nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%d %q: %v, want %q", c.status, c.body, err, c.want)
		}
		if stored() {
			t.Fatal("a bad table was stored")
		}
	}
	status = http.StatusOK
	// An older table than the embedded one is not stored.
	body = `{"updated": "2000-01-01", "distros": []}`
	if res, err := Update(ctx, dir, srv.URL+"/mirror", nil); err != nil || !res.Provided || res.Stored || stored() {
		t.Fatalf("older table: %+v %v", res, err)
	}
	if loaded().Lookup(newOS, day("2050-01-01")).Known {
		t.Fatal("newos is only in the newer table")
	}
	// A newer one is, and Load prefers it.
	body = newerTable
	res, err = Update(ctx, dir, srv.URL+"/mirror", nil)
	if err != nil || !res.Provided || !res.Stored || !stored() {
		t.Fatalf("newer table: %+v %v", res, err)
	}
	if !res.Table.Updated.Equal(day("2099-01-01")) || !loaded().Updated.Equal(day("2099-01-01")) {
		t.Fatalf("table in use: %v / %v", res.Table.Updated, loaded().Updated)
	}
	if s := loaded().Lookup(newOS, day("2050-01-01")); s.State != Supported || !s.EOL.Equal(day("2100-01-01")) {
		t.Fatalf("newos: %+v", s)
	}
	// A stored table that does not parse is an error, not a silent fallback.
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil {
		t.Fatal("a corrupt stored table must be an error")
	}
}
