// Command gen rewrites the Debian and Ubuntu entries of the end-of-life
// table (eol.json) from Debian's distro-info-data CSV files
// (/usr/share/distro-info/{debian,ubuntu}.csv, `apt-get install
// distro-info-data`), keeping the other, hand-maintained, entries. Run it
// with `go generate ./internal/eol`.
package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/cssc-project/cssc/internal/eol"
)

func main() {
	debian := flag.String("debian", "/usr/share/distro-info/debian.csv", "distro-info-data's debian.csv")
	ubuntu := flag.String("ubuntu", "/usr/share/distro-info/ubuntu.csv", "distro-info-data's ubuntu.csv")
	table := flag.String("table", "eol.json", "the table to rewrite")
	version := flag.String("version", "", "distro-info-data's version (default: asked of dpkg-query)")
	updated := flag.String("updated", time.Now().UTC().Format(time.DateOnly), "the table's revision date")
	flag.Parse()
	if err := run(*debian, *ubuntu, *table, *version, *updated); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(debianCSV, ubuntuCSV, table, version, updated string) error {
	if version == "" {
		out, err := exec.Command("dpkg-query", "-W", "-f=${Version}", "distro-info-data").Output()
		if err != nil {
			return fmt.Errorf("distro-info-data version (give -version): %w", err)
		}
		version = strings.TrimSpace(string(out))
	}
	var t eol.TableFile
	b, err := os.ReadFile(table)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &t); err != nil {
		return fmt.Errorf("%s: %w", table, err)
	}
	deb, err := readCSV(debianCSV)
	if err != nil {
		return err
	}
	ubu, err := readCSV(ubuntuCSV)
	if err != nil {
		return err
	}
	from := fmt.Sprintf("dates from distro-info-data %s (%s)", version, "%s")
	set(&t, eol.DistroFile{
		ID:       "debian",
		Name:     "Debian",
		Source:   "https://www.debian.org/releases/ https://wiki.debian.org/LTS; " + fmt.Sprintf(from, "debian.csv"),
		Note:     "eol is the end of Debian LTS; support_ends the end of the security team's support. Freexian's ELTS is paid and not counted.",
		Releases: debianReleases(deb),
	})
	set(&t, eol.DistroFile{
		ID:       "ubuntu",
		Name:     "Ubuntu",
		Source:   "https://ubuntu.com/about/release-cycle; " + fmt.Sprintf(from, "ubuntu.csv"),
		Note:     "eol is the end of standard support; Ubuntu Pro (ESM) is paid and not counted.",
		Releases: ubuntuReleases(ubu),
	})
	t.Updated = updated
	t.Comment = "Debian and Ubuntu are generated (go generate ./internal/eol) from distro-info-data " + version +
		"; the other distributions are maintained by hand from the lifecycle page in each entry's source. Dates are YYYY-MM-DD; eol is the end of free security support."
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(t); err != nil {
		return err
	}
	return os.WriteFile(table, out.Bytes(), 0o644)
}

func set(t *eol.TableFile, d eol.DistroFile) {
	for i := range t.Distros {
		if t.Distros[i].ID == d.ID {
			t.Distros[i] = d
			return
		}
	}
	t.Distros = append(t.Distros, d)
}

// readCSV returns the rows as maps by column name.
func readCSV(p string) ([]map[string]string, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if len(recs) < 2 {
		return nil, fmt.Errorf("%s: no rows", p)
	}
	var rows []map[string]string
	for _, rec := range recs[1:] {
		m := map[string]string{}
		for i, col := range recs[0] {
			if i < len(rec) {
				m[col] = strings.TrimSpace(rec[i])
			}
		}
		rows = append(rows, m)
	}
	return rows, nil
}

func debianReleases(rows []map[string]string) []eol.ReleaseFile {
	var out []eol.ReleaseFile
	for _, r := range rows {
		if r["version"] == "" {
			continue // sid, experimental: no release
		}
		rf := eol.ReleaseFile{Release: r["version"], Codename: r["series"], Released: r["release"]}
		if r["eol-lts"] != "" {
			rf.SupportEnds, rf.EOL = r["eol"], r["eol-lts"]
		} else {
			rf.EOL = r["eol"]
		}
		if rf.Released == "" {
			rf.Note = "not released yet"
		}
		out = append(out, rf)
	}
	return out
}

func ubuntuReleases(rows []map[string]string) []eol.ReleaseFile {
	var out []eol.ReleaseFile
	for _, r := range rows {
		v, lts := strings.CutSuffix(r["version"], " LTS")
		rf := eol.ReleaseFile{Release: v, Codename: r["series"], Released: r["release"], EOL: r["eol"]}
		if r["eol-server"] > rf.EOL { // older LTS: servers had longer support
			rf.EOL = r["eol-server"]
		}
		if lts {
			rf.Note = "LTS"
			if r["eol-esm"] != "" {
				rf.Note += "; Ubuntu Pro (ESM, paid) until " + r["eol-esm"]
			}
		}
		out = append(out, rf)
	}
	return out
}
