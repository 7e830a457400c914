package report

import (
	"encoding/json"
	"io"
	"time"

	"github.com/cssc-project/cssc/internal/malware"
	"github.com/cssc-project/cssc/internal/match"
	"github.com/cssc-project/cssc/internal/secrets"
)

// SchemaVersion is the version of the JSON report schema described in
// docs/scan-report.md. It changes when a field changes meaning or goes
// away; added fields do not change it.
const SchemaVersion = "1"

// The JSON report. Every key is always present: lists are [] when empty,
// optional objects and values are null. When vulnerabilities were not
// scanned their keys are present and empty (zero counts, [] lists).
type jsonReport struct {
	SchemaVersion    string           `json:"schema_version"`
	GeneratedAt      string           `json:"generated_at"`
	Tool             jsonTool         `json:"tool"`
	Subject          jsonSubject      `json:"subject"`
	OS               *jsonOS          `json:"os"`
	EndOfLife        *jsonEndOfLife   `json:"end_of_life"`
	Scanners         []string         `json:"scanners"`
	Complete         bool             `json:"complete"`
	AllowMissingData bool             `json:"allow_missing_data"`
	Summary          jsonSummary      `json:"summary"`
	Coverage         []jsonCoverage   `json:"coverage"`
	Findings         []jsonFinding    `json:"findings"`
	Suppressed       []jsonSuppressed `json:"suppressed"`
	Unknown          []jsonUnknown    `json:"unknown"`
	NotMatchable     []jsonUnknown    `json:"not_matchable"`
	Warnings         []string         `json:"warnings"`
	Malware          *jsonMalware     `json:"malware"`
	Secrets          *jsonSecrets     `json:"secrets"`
}

type jsonMalware struct {
	Status       string               `json:"status"`
	Error        string               `json:"error"`
	Warnings     []string             `json:"warnings"`
	Engine       jsonMalwareEngine    `json:"engine"`
	Findings     []jsonMalwareFinding `json:"findings"`
	Problems     []jsonMalwareProblem `json:"problems"`
	MoreProblems int                  `json:"more_problems"`
	MoreFindings int                  `json:"more_findings"`
	Layers       int                  `json:"layers"`
	Files        int64                `json:"files"`
	Bytes        int64                `json:"bytes"`
}

type jsonMalwareEngine struct {
	Name            string  `json:"name"`
	Version         string  `json:"version"`
	Address         string  `json:"address"`
	DatabaseVersion string  `json:"database_version"`
	DatabaseDate    *string `json:"database_date"`
}

type jsonMalwareFinding struct {
	Layer       int    `json:"layer"`
	LayerDigest string `json:"layer_digest"`
	Path        string `json:"path"`
	Signature   string `json:"signature"`
}

type jsonMalwareProblem struct {
	Layer       int    `json:"layer"`
	LayerDigest string `json:"layer_digest"`
	Path        string `json:"path"`
	Reason      string `json:"reason"`
}

type jsonSecrets struct {
	Status        string              `json:"status"`
	Error         string              `json:"error"`
	Engine        jsonSecretsEngine   `json:"engine"`
	Findings      []jsonSecretFinding `json:"findings"`
	Allowlisted   int                 `json:"allowlisted"`
	MoreFindings  int                 `json:"more_findings"`
	Files         int64               `json:"files"`
	Bytes         int64               `json:"bytes"`
	SkippedLarge  int64               `json:"skipped_large"`
	SkippedBinary int64               `json:"skipped_binary"`
}

type jsonSecretsEngine struct {
	Name      string `json:"name"`
	Version   string `json:"version"`
	Rules     int    `json:"rules"`
	Config    string `json:"config"`
	Allowlist string `json:"allowlist"`
}

type jsonSecretFinding struct {
	RuleID      string `json:"rule_id"`
	Description string `json:"description"`
	Source      string `json:"source"`
	Path        string `json:"path"`
	// Layer is null for a finding in the configuration (no layer).
	Layer       *int   `json:"layer"`
	LayerDigest string `json:"layer_digest"`
	Line        int    `json:"line"`
	Fingerprint string `json:"fingerprint"`
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
	r := vulnReport(in)
	counts := r.Counts()
	out := jsonReport{
		SchemaVersion:    SchemaVersion,
		GeneratedAt:      in.GeneratedAt.Format(time.RFC3339),
		Tool:             jsonTool{Name: in.Tool.Name, Version: in.Tool.Version},
		Subject:          jsonSubject{in.Subject.Name, in.Subject.Digest, in.Subject.Index, in.Subject.Platform},
		Scanners:         scanners(in),
		Complete:         complete(in),
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
		Malware:      toJSONMalware(in.Malware),
		Secrets:      toJSONSecrets(in.Secrets),
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

func toJSONMalware(m *malware.Result) *jsonMalware {
	if m == nil {
		return nil
	}
	out := &jsonMalware{
		Status: string(m.Verdict()), Error: m.Error, Warnings: list(m.Warnings),
		Engine: jsonMalwareEngine{Name: m.Engine.Name, Version: m.Engine.Version, Address: m.Engine.Address,
			DatabaseVersion: m.Engine.DatabaseVersion, DatabaseDate: timestamp(m.Engine.DatabaseDate)},
		Findings:     make([]jsonMalwareFinding, 0, len(m.Findings)),
		Problems:     make([]jsonMalwareProblem, 0, len(m.Problems)),
		MoreProblems: m.MoreProblems, MoreFindings: m.MoreFindings, Layers: m.Layers, Files: m.Files, Bytes: m.Bytes,
	}
	for _, f := range m.Findings {
		out.Findings = append(out.Findings, jsonMalwareFinding{Layer: f.Layer, LayerDigest: f.LayerDigest, Path: f.Path, Signature: f.Signature})
	}
	for _, p := range m.Problems {
		out.Problems = append(out.Problems, jsonMalwareProblem{Layer: p.Layer, LayerDigest: p.LayerDigest, Path: p.Path, Reason: p.Reason})
	}
	return out
}

func toJSONSecrets(s *secrets.Result) *jsonSecrets {
	if s == nil {
		return nil
	}
	out := &jsonSecrets{
		Status: string(s.Verdict()), Error: s.Error,
		Engine: jsonSecretsEngine{Name: s.Engine.Name, Version: s.Engine.Version, Rules: s.Engine.Rules,
			Config: s.Engine.Config, Allowlist: s.Engine.Allowlist},
		Findings:    make([]jsonSecretFinding, 0, len(s.Findings)),
		Allowlisted: s.Allowlisted, MoreFindings: s.MoreFindings, Files: s.Files, Bytes: s.Bytes,
		SkippedLarge: s.SkippedLarge, SkippedBinary: s.SkippedBinary,
	}
	for _, f := range s.Findings {
		j := jsonSecretFinding{RuleID: f.RuleID, Description: f.Description, Source: f.Source, Path: f.Path,
			LayerDigest: f.LayerDigest, Line: f.Line, Fingerprint: f.Fingerprint}
		if f.Layer >= 0 {
			layer := f.Layer
			j.Layer = &layer
		}
		out.Findings = append(out.Findings, j)
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
