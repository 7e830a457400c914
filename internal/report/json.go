package report

import (
	"encoding/json"
	"io"
	"time"

	"github.com/cssc-project/cssc/internal/match"
)

// SchemaVersion is the version of the JSON report schema described in
// docs/scan-report.md. It changes when a field changes meaning or goes
// away; added fields do not change it.
const SchemaVersion = "1"

// The JSON report. Every key is always present: lists are [] when empty,
// optional objects and values are null.
type jsonReport struct {
	SchemaVersion    string           `json:"schema_version"`
	GeneratedAt      string           `json:"generated_at"`
	Tool             jsonTool         `json:"tool"`
	Subject          jsonSubject      `json:"subject"`
	OS               *jsonOS          `json:"os"`
	EndOfLife        *jsonEndOfLife   `json:"end_of_life"`
	Complete         bool             `json:"complete"`
	AllowMissingData bool             `json:"allow_missing_data"`
	Summary          jsonSummary      `json:"summary"`
	Coverage         []jsonCoverage   `json:"coverage"`
	Findings         []jsonFinding    `json:"findings"`
	Suppressed       []jsonSuppressed `json:"suppressed"`
	Unknown          []jsonUnknown    `json:"unknown"`
	NotMatchable     []jsonUnknown    `json:"not_matchable"`
	Warnings         []string         `json:"warnings"`
}

type jsonSubject struct {
	Name     string `json:"name"`
	Digest   string `json:"digest"`
	Index    string `json:"index"`
	Platform string `json:"platform"`
}

type jsonOS struct {
	ID         string `json:"id"`
	VersionID  string `json:"version_id"`
	Codename   string `json:"codename"`
	PrettyName string `json:"pretty_name"`
}

type jsonPackage struct {
	Name          string `json:"name"`
	Version       string `json:"version"`
	Ecosystem     string `json:"ecosystem"`
	PURL          string `json:"purl"`
	SourceName    string `json:"source_name"`
	SourceVersion string `json:"source_version"`
}

type jsonTool struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

type jsonEndOfLife struct {
	Status  string  `json:"status"`
	Date    *string `json:"date"`
	Warning string  `json:"warning"`
}

type jsonSummary struct {
	Critical        int `json:"critical"`
	High            int `json:"high"`
	Medium          int `json:"medium"`
	Low             int `json:"low"`
	None            int `json:"none"`
	Unknown         int `json:"unknown"`
	Total           int `json:"total"`
	Suppressed      int `json:"suppressed"`
	UnknownPackages int `json:"unknown_packages"`
	NotMatchable    int `json:"not_matchable"`
}

type jsonCoverage struct {
	Ecosystem    string  `json:"ecosystem"`
	Covered      bool    `json:"covered"`
	Reason       string  `json:"reason"`
	ImportedAt   *string `json:"imported_at"`
	NewestRecord *string `json:"newest_record"`
	Packages     int     `json:"packages"`
}

type jsonFinding struct {
	ID               string      `json:"id"`
	Aliases          []string    `json:"aliases"`
	Upstream         []string    `json:"upstream"`
	Related          []string    `json:"related"`
	Summary          string      `json:"summary"`
	Package          jsonPackage `json:"package"`
	InstalledVersion string      `json:"installed_version"`
	FixedVersion     string      `json:"fixed_version"`
	Severity         string      `json:"severity"`
	Score            *float64    `json:"score"`
	CVSSVector       string      `json:"cvss_vector"`
	Locations        []string    `json:"locations"`
	Layer            string      `json:"layer"`
}

type jsonSuppressed struct {
	jsonFinding
	VEX jsonVEX `json:"vex"`
}

type jsonVEX struct {
	Status          string `json:"status"`
	Justification   string `json:"justification"`
	ImpactStatement string `json:"impact_statement"`
	StatusNotes     string `json:"status_notes"`
	Document        string `json:"document"`
	Statement       string `json:"statement"`
}

type jsonUnknown struct {
	Package       jsonPackage `json:"package"`
	Vulnerability string      `json:"vulnerability"`
	Reason        string      `json:"reason"`
	Locations     []string    `json:"locations"`
	Layer         string      `json:"layer"`
}

func writeJSON(w io.Writer, in Input) error {
	return encodeJSON(w, toJSONReport(in))
}

// jsonIndex is the JSON report of a multi-platform image: one report per
// platform.
type jsonIndex struct {
	SchemaVersion string       `json:"schema_version"`
	Name          string       `json:"name"`
	Index         string       `json:"index"`
	Platforms     []jsonReport `json:"platforms"`
}

func writeJSONIndex(w io.Writer, ins []Input) error {
	out := jsonIndex{SchemaVersion: SchemaVersion, Name: ins[0].Subject.Name, Index: ins[0].Subject.Index}
	for _, in := range ins {
		out.Platforms = append(out.Platforms, toJSONReport(in))
	}
	return encodeJSON(w, out)
}

func encodeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func toJSONReport(in Input) jsonReport {
	r := in.Report
	counts := r.Counts()
	out := jsonReport{
		SchemaVersion:    SchemaVersion,
		GeneratedAt:      in.GeneratedAt.Format(time.RFC3339),
		Tool:             jsonTool{Name: in.Tool.Name, Version: in.Tool.Version},
		Subject:          jsonSubject{in.Subject.Name, in.Subject.Digest, in.Subject.Index, in.Subject.Platform},
		Complete:         !r.Incomplete(),
		AllowMissingData: r.AllowMissing,
		Summary: jsonSummary{
			Critical: counts[match.SeverityCritical], High: counts[match.SeverityHigh],
			Medium: counts[match.SeverityMedium], Low: counts[match.SeverityLow],
			None: counts[match.SeverityNone], Unknown: counts[match.SeverityUnknown],
			Total: len(r.Findings), Suppressed: len(r.Suppressed),
			UnknownPackages: len(r.Unknown), NotMatchable: len(r.NotMatchable),
		},
		Coverage:     []jsonCoverage{},
		Findings:     make([]jsonFinding, 0, len(r.Findings)),
		Suppressed:   make([]jsonSuppressed, 0, len(r.Suppressed)),
		Unknown:      jsonUnknowns(r.Unknown),
		NotMatchable: jsonUnknowns(r.NotMatchable),
		Warnings:     list(in.Warnings),
	}
	if o := in.OS; o != nil {
		out.OS = &jsonOS{ID: o.ID, VersionID: o.VersionID, Codename: o.Codename, PrettyName: o.PrettyName}
	}
	if e := in.EndOfLife; e != nil {
		out.EndOfLife = &jsonEndOfLife{Status: string(e.Status), Date: date(e.Date), Warning: e.Warning}
	}
	for _, c := range r.Coverage {
		out.Coverage = append(out.Coverage, jsonCoverage{
			Ecosystem: c.Ecosystem, Covered: c.Covered, Reason: c.Reason,
			ImportedAt: timestamp(c.ImportedAt), NewestRecord: timestamp(c.Newest), Packages: c.Packages,
		})
	}
	for i := range r.Findings {
		out.Findings = append(out.Findings, toJSONFinding(&r.Findings[i]))
	}
	for i := range r.Suppressed {
		s := &r.Suppressed[i]
		out.Suppressed = append(out.Suppressed, jsonSuppressed{
			jsonFinding: toJSONFinding(&s.Finding),
			VEX: jsonVEX{Status: s.Status, Justification: s.Justification, ImpactStatement: s.ImpactStatement,
				StatusNotes: s.StatusNotes, Document: s.Document, Statement: s.Statement},
		})
	}
	return out
}

func toJSONFinding(f *match.Finding) jsonFinding {
	j := jsonFinding{
		ID: f.ID, Aliases: list(f.Aliases), Upstream: list(f.Upstream), Related: list(f.Related),
		Summary: f.Summary, Package: jsonPkg(f.Package), InstalledVersion: f.Installed, FixedVersion: f.Fixed,
		Severity: string(f.Severity), CVSSVector: f.Vector, Locations: list(f.Locations), Layer: f.Layer,
	}
	if f.Vector != "" {
		score := f.Score
		j.Score = &score
	}
	return j
}

func jsonUnknowns(us []match.Unknown) []jsonUnknown {
	out := make([]jsonUnknown, 0, len(us))
	for _, u := range us {
		out = append(out, jsonUnknown{Package: jsonPkg(u.Package), Vulnerability: u.Vulnerability, Reason: u.Reason,
			Locations: list(u.Locations), Layer: u.Layer})
	}
	return out
}

func jsonPkg(p match.PackageRef) jsonPackage {
	return jsonPackage{Name: p.Name, Version: p.Version, Ecosystem: p.Ecosystem, PURL: p.PURL,
		SourceName: p.SourceName, SourceVersion: p.SourceVersion}
}

// list makes nil lists [] in JSON.
func list(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func timestamp(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format(time.RFC3339)
	return &s
}

func date(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format(time.DateOnly)
	return &s
}
