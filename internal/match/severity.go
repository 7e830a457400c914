package match

import (
	"fmt"
	"math"
	"strings"

	gocvss20 "github.com/pandatix/go-cvss/20"
	gocvss30 "github.com/pandatix/go-cvss/30"
	gocvss31 "github.com/pandatix/go-cvss/31"
	gocvss40 "github.com/pandatix/go-cvss/40"

	"github.com/ossf/osv-schema/bindings/go/osvschema"
	"google.golang.org/protobuf/types/known/structpb"
)

// Severity is a finding's qualitative severity.
type Severity string

// Severities, from the CVSS qualitative rating scale, plus Unknown for a
// vulnerability whose records give no usable severity.
const (
	SeverityCritical Severity = "critical"
	SeverityHigh     Severity = "high"
	SeverityMedium   Severity = "medium"
	SeverityLow      Severity = "low"
	SeverityNone     Severity = "none"
	SeverityUnknown  Severity = "unknown"
)

// Severities lists the severities from the most to the least severe.
func Severities() []Severity {
	return []Severity{SeverityCritical, SeverityHigh, SeverityMedium, SeverityLow, SeverityNone, SeverityUnknown}
}

// Rank orders severities: critical 5, high 4, medium 3, low 2, none 1,
// unknown (or anything else) 0.
func (s Severity) Rank() int {
	switch s {
	case SeverityCritical:
		return 5
	case SeverityHigh:
		return 4
	case SeverityMedium:
		return 3
	case SeverityLow:
		return 2
	case SeverityNone:
		return 1
	}
	return 0
}

// ParseThreshold reads a --fail-on value: critical, high, medium or low
// (case-insensitive).
func ParseThreshold(s string) (Severity, error) {
	switch v := Severity(strings.ToLower(strings.TrimSpace(s))); v {
	case SeverityCritical, SeverityHigh, SeverityMedium, SeverityLow:
		return v, nil
	}
	return "", fmt.Errorf("severity threshold %q: want critical, high, medium or low", s)
}

// ScoreSeverity maps a CVSS score to the CVSS qualitative rating:
// 9.0+ critical, 7.0+ high, 4.0+ medium, 0.1+ low, 0 none.
func ScoreSeverity(score float64) Severity {
	switch {
	case score >= 9.0:
		return SeverityCritical
	case score >= 7.0:
		return SeverityHigh
	case score >= 4.0:
		return SeverityMedium
	case score >= 0.1:
		return SeverityLow
	}
	return SeverityNone
}

// severityInfo is what a record says about a vulnerability's severity.
type severityInfo struct {
	Severity Severity
	Score    float64 // CVSS base score; 0 when not from CVSS
	Vector   string  // the CVSS vector the score was computed from
}

// better reports whether s is more severe than o (the higher score wins a
// tie in rating).
func (s severityInfo) better(o severityInfo) bool {
	if s.Severity.Rank() != o.Severity.Rank() {
		return s.Severity.Rank() > o.Severity.Rank()
	}
	return s.Score > o.Score
}

// recordSeverity picks a record's severity for the matched affected entry:
// the entry's own severity[] first (OSV forbids both levels at once), then
// the record's; within them CVSS v4, then v3.x, then v2 (base scores
// computed from the vectors), then an Ubuntu priority; failing all that,
// the database's or ecosystem's own severity text (GHSA's
// database_specific.severity "HIGH"/"MODERATE", Debian urgency, Red Hat
// "Important", …). Vectors that do not parse are skipped.
func recordSeverity(rec *osvschema.Vulnerability, aff *osvschema.Affected, scores scoreCache) severityInfo {
	lists := [][]*osvschema.Severity{aff.GetSeverity(), rec.GetSeverity()}
	for _, typ := range []osvschema.Severity_Type{osvschema.Severity_CVSS_V4, osvschema.Severity_CVSS_V3, osvschema.Severity_CVSS_V2} {
		for _, l := range lists {
			for _, s := range l {
				if s.GetType() != typ {
					continue
				}
				if score, err := scores.score(s.GetScore()); err == nil {
					return severityInfo{Severity: ScoreSeverity(score), Score: score, Vector: s.GetScore()}
				}
			}
		}
	}
	for _, l := range lists {
		for _, s := range l {
			if s.GetType() == osvschema.Severity_Ubuntu {
				if sev := textSeverity(s.GetScore()); sev != SeverityUnknown {
					return severityInfo{Severity: sev}
				}
			}
		}
	}
	for _, st := range []*structpb.Struct{aff.GetEcosystemSpecific(), aff.GetDatabaseSpecific(), rec.GetDatabaseSpecific()} {
		for _, key := range []string{"severity", "urgency", "priority"} {
			v, ok := st.GetFields()[key]
			if !ok {
				continue
			}
			if sev := textSeverity(v.GetStringValue()); sev != SeverityUnknown {
				return severityInfo{Severity: sev}
			}
		}
	}
	return severityInfo{Severity: SeverityUnknown}
}

// scoreCache remembers CVSS base scores by vector: many records share one.
type scoreCache map[string]scored

type scored struct {
	score float64
	err   error
}

func (c scoreCache) score(vector string) (float64, error) {
	if s, ok := c[vector]; ok {
		return s.score, s.err
	}
	score, err := cvssBaseScore(vector)
	c[vector] = scored{score, err}
	return score, err
}

// cvssBaseScore computes the base score of a CVSS v2, v3.0, v3.1 or v4.0
// vector.
func cvssBaseScore(vector string) (float64, error) {
	var score float64
	switch {
	case strings.HasPrefix(vector, "CVSS:4.0/"):
		c, err := gocvss40.ParseVector(vector)
		if err != nil {
			return 0, fmt.Errorf("CVSS v4.0 vector %q: %w", vector, err)
		}
		score = c.Score()
	case strings.HasPrefix(vector, "CVSS:3.1/"):
		c, err := gocvss31.ParseVector(vector)
		if err != nil {
			return 0, fmt.Errorf("CVSS v3.1 vector %q: %w", vector, err)
		}
		score = c.BaseScore()
	case strings.HasPrefix(vector, "CVSS:3.0/"):
		c, err := gocvss30.ParseVector(vector)
		if err != nil {
			return 0, fmt.Errorf("CVSS v3.0 vector %q: %w", vector, err)
		}
		score = c.BaseScore()
	default:
		c, err := gocvss20.ParseVector(strings.TrimPrefix(vector, "CVSS:2.0/"))
		if err != nil {
			return 0, fmt.Errorf("CVSS v2 vector %q: %w", vector, err)
		}
		score = c.BaseScore()
	}
	return math.Round(score*10) / 10, nil
}

// textSeverity maps the severity words databases use to a Severity.
func textSeverity(s string) Severity {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "critical":
		return SeverityCritical
	case "high", "important":
		return SeverityHigh
	case "medium", "moderate":
		return SeverityMedium
	case "low", "negligible", "unimportant", "minor":
		return SeverityLow
	}
	return SeverityUnknown
}
