// Package eol knows when distribution releases reach their end of life:
// the end of free security support, LTS included (Debian LTS, Ubuntu's
// standard support, RHEL's maintenance phase). The end of regular support
// before that (Debian's security team handing over to LTS, RHEL's full
// support) is a separate date, reported as a warning.
//
// The table is embedded (eol.json: Debian and Ubuntu generated from
// Debian's distro-info-data, the others from their lifecycle pages, each
// with its source) and can be refreshed from a mirror (see Update).
package eol

//go:generate go run ./gen -debian /usr/share/distro-info/debian.csv -ubuntu /usr/share/distro-info/ubuntu.csv -table eol.json

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cssc-project/cssc/internal/inventory"
)

//go:embed eol.json
var embedded []byte

// DefaultNearWindow is how long before its end of life a release is
// "near-eol".
const DefaultNearWindow = 90 * 24 * time.Hour

// State is where a release is in its life.
type State string

// The states.
const (
	Supported State = "supported"
	NearEOL   State = "near-eol"
	EOL       State = "eol"
	Unknown   State = "unknown" // the distribution or release is not in the table, or has no date yet
)

// Status is what the table says about one operating system.
type Status struct {
	// Distro is the distribution's name ("Debian"); empty when unknown.
	Distro string `json:"distro,omitempty"`
	// ID and VersionID are the os-release values looked up.
	ID        string `json:"id"`
	VersionID string `json:"version_id,omitempty"`
	// Release is the release the table matched ("12", "3.20", "22.04").
	Release  string `json:"release,omitempty"`
	Codename string `json:"codename,omitempty"`
	// Known is true when the table has the release.
	Known   bool `json:"known"`
	Rolling bool `json:"rolling,omitempty"` // never reaches an end of life
	// Released is the release date, when the table has it.
	Released time.Time `json:"released,omitzero"`
	// SupportEnds is the end of regular support before an LTS or
	// maintenance phase (a warning, not the end of life); zero when the
	// distribution has no such phase or the date is unknown.
	SupportEnds  time.Time `json:"support_ends,omitzero"`
	SupportEnded bool      `json:"support_ended,omitempty"`
	// EOL is the end of free security support; zero when unknown.
	EOL   time.Time `json:"eol,omitzero"`
	State State     `json:"state"`
	// Note qualifies the dates (e.g. "scheduled").
	Note string `json:"note,omitempty"`
	// Source is the distribution's lifecycle page.
	Source string `json:"source,omitempty"`
}

// Table is a parsed end-of-life table.
type Table struct {
	// Updated is the date the table's data was last revised: a refreshed
	// table replaces the embedded one only when newer.
	Updated time.Time
	// NearWindow is how long before the end of life Lookup says
	// "near-eol"; Parse sets DefaultNearWindow.
	NearWindow time.Duration

	distros map[string]*distro
}

type distro struct {
	file     DistroFile
	releases map[string]*release // by release and by codename
}

type release struct {
	file                       ReleaseFile
	released, supportEnds, eol time.Time
}

// The JSON form of the table (eol.json, what a mirror serves, and what
// ./gen writes).
type (
	// TableFile is the document.
	TableFile struct {
		Updated string       `json:"updated"` // YYYY-MM-DD
		Comment string       `json:"comment,omitempty"`
		Distros []DistroFile `json:"distros"`
	}
	// DistroFile is one distribution of a TableFile.
	DistroFile struct {
		ID       string        `json:"id"` // os-release ID
		Name     string        `json:"name"`
		Source   string        `json:"source"` // lifecycle page(s)
		Note     string        `json:"note,omitempty"`
		Rolling  bool          `json:"rolling,omitempty"`
		Releases []ReleaseFile `json:"releases,omitempty"`
	}
	// ReleaseFile is one release of a DistroFile.
	ReleaseFile struct {
		Release     string `json:"release"`
		Codename    string `json:"codename,omitempty"`
		Released    string `json:"released,omitempty"`
		SupportEnds string `json:"support_ends,omitempty"`
		EOL         string `json:"eol,omitempty"`
		Rolling     bool   `json:"rolling,omitempty"`
		Note        string `json:"note,omitempty"`
	}
)

// Parse reads a table in the eol.json format.
func Parse(data []byte) (*Table, error) {
	var f TableFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("end-of-life table: %w", err)
	}
	t := &Table{NearWindow: DefaultNearWindow, distros: map[string]*distro{}}
	var err error
	if t.Updated, err = parseDate(f.Updated); err != nil || t.Updated.IsZero() {
		return nil, fmt.Errorf("end-of-life table: updated %q: not a YYYY-MM-DD date", f.Updated)
	}
	for _, df := range f.Distros {
		if df.ID == "" || df.Name == "" {
			return nil, errors.New("end-of-life table: a distribution without id or name")
		}
		if t.distros[df.ID] != nil {
			return nil, fmt.Errorf("end-of-life table: %s listed twice", df.ID)
		}
		d := &distro{file: df, releases: map[string]*release{}}
		for _, rf := range df.Releases {
			r := &release{file: rf}
			for _, x := range []struct {
				s string
				t *time.Time
			}{{rf.Released, &r.released}, {rf.SupportEnds, &r.supportEnds}, {rf.EOL, &r.eol}} {
				if *x.t, err = parseDate(x.s); err != nil {
					return nil, fmt.Errorf("end-of-life table: %s %s: %q is not a YYYY-MM-DD date", df.ID, rf.Release, x.s)
				}
			}
			if rf.Release == "" {
				return nil, fmt.Errorf("end-of-life table: %s: a release without a name", df.ID)
			}
			for _, k := range []string{rf.Release, strings.ToLower(rf.Codename)} {
				if k == "" {
					continue
				}
				if d.releases[k] != nil {
					return nil, fmt.Errorf("end-of-life table: %s %s listed twice", df.ID, k)
				}
				d.releases[k] = r
			}
		}
		t.distros[df.ID] = d
	}
	return t, nil
}

func parseDate(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.DateOnly, s)
}

// Embedded returns the table built into cssc. Hold on to it: each call
// parses it again.
func Embedded() *Table {
	t, err := Parse(embedded)
	if err != nil {
		panic("eol: the embedded table does not parse: " + err.Error()) // the tests parse it
	}
	return t
}

// Lookup looks os up in the embedded table, with DefaultNearWindow.
func Lookup(os inventory.OS, now time.Time) Status {
	return Embedded().Lookup(os, now)
}

// Lookup says where the release os describes is in its life at now.
func (t *Table) Lookup(os inventory.OS, now time.Time) Status {
	st := Status{ID: os.ID, VersionID: os.VersionID, Codename: os.Codename, State: Unknown}
	d := t.distros[distroKey(os)]
	if d == nil {
		return st
	}
	st.Distro, st.Source, st.Note = d.file.Name, d.file.Source, d.file.Note
	if d.file.Rolling {
		st.Known, st.Rolling, st.State = true, true, Supported
		return st
	}
	r := d.find(os)
	if r == nil {
		return st
	}
	st.Known = true
	st.Release = r.file.Release
	if r.file.Codename != "" {
		st.Codename = r.file.Codename
	}
	if r.file.Note != "" {
		st.Note = r.file.Note
	}
	st.Released, st.SupportEnds, st.EOL = r.released, r.supportEnds, r.eol
	st.SupportEnded = !r.supportEnds.IsZero() && !now.Before(r.supportEnds)
	switch {
	case r.file.Rolling:
		st.Rolling, st.State = true, Supported
	case r.eol.IsZero():
		st.State = Unknown
	case !now.Before(r.eol):
		st.State = EOL
	case !now.Before(r.eol.Add(-t.NearWindow)):
		st.State = NearEOL
	default:
		st.State = Supported
	}
	return st
}

// distroKey is the table entry of os: its os-release ID, except that
// CentOS Stream (which shares ID "centos" with CentOS Linux) has its own.
func distroKey(os inventory.OS) string {
	id := strings.ToLower(os.ID)
	if id == "centos" {
		m, _, _ := strings.Cut(os.VersionID, ".")
		major, err := strconv.Atoi(m)
		// CentOS Linux ended with 8; 9 and later are Stream only.
		if strings.Contains(os.PrettyName, "Stream") || (err == nil && major >= 9) {
			return "centos-stream"
		}
	}
	return id
}

// find matches VERSION_ID against the releases, longest prefix first
// ("3.20.3" → "3.20", "9.4" → "9"), then the codename.
func (d *distro) find(os inventory.OS) *release {
	v := strings.ToLower(strings.TrimSpace(os.VersionID))
	if d.file.ID == "alpine" && (strings.Contains(v, "_alpha") || strings.Contains(strings.ToLower(os.PrettyName), "edge")) {
		v = "edge"
	}
	for v != "" {
		if r := d.releases[v]; r != nil {
			return r
		}
		i := strings.LastIndexByte(v, '.')
		if i < 0 {
			break
		}
		v = v[:i]
	}
	if c := strings.ToLower(os.Codename); c != "" {
		return d.releases[c]
	}
	return nil
}
