package match

import (
	"testing"

	"github.com/ossf/osv-schema/bindings/go/osvschema"
	"google.golang.org/protobuf/encoding/protojson"
)

func TestCVSSBaseScore(t *testing.T) {
	tests := []struct {
		vector string
		score  float64
		sev    Severity
	}{
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8, SeverityCritical},
		{"CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8, SeverityCritical},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 7.5, SeverityHigh},
		{"CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8, SeverityHigh},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1, SeverityMedium},
		{"CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N", 5.9, SeverityMedium},
		{"CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:N/A:N", 3.1, SeverityLow},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0, SeverityNone},
		{"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 9.3, SeverityCritical},
		{"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:N/VA:N/SC:N/SI:N/SA:N", 8.7, SeverityHigh},
		{"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N", 0.0, SeverityNone},
		{"AV:N/AC:L/Au:N/C:P/I:P/A:P", 7.5, SeverityHigh},
	}
	for _, tt := range tests {
		score, err := cvssBaseScore(tt.vector)
		if err != nil {
			t.Errorf("%s: %v", tt.vector, err)
			continue
		}
		if score != tt.score || ScoreSeverity(score) != tt.sev {
			t.Errorf("%s: score %.1f (%s), want %.1f (%s)", tt.vector, score, ScoreSeverity(score), tt.score, tt.sev)
		}
	}
	for _, bad := range []string{"CVSS:3.1/AV:N", "CVSS:4.0/AV:X/AC:L", "garbage", ""} {
		if _, err := cvssBaseScore(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestRecordSeverity(t *testing.T) {
	tests := []struct {
		name   string
		record string
		want   severityInfo
	}{
		{
			name: "v4 preferred over v3",
			record: `{"id":"X","severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"},
				{"type":"CVSS_V4","score":"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:N/VA:N/SC:N/SI:N/SA:N"}],
				"affected":[{"package":{"ecosystem":"npm","name":"a"}}]}`,
			want: severityInfo{SeverityHigh, 8.7, "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:N/VA:N/SC:N/SI:N/SA:N"},
		},
		{
			name: "affected-level severity first",
			record: `{"id":"X","affected":[{"package":{"ecosystem":"npm","name":"a"},
				"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N"}]}]}`,
			want: severityInfo{SeverityMedium, 5.9, "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N"},
		},
		{
			name: "broken vector skipped for the next",
			record: `{"id":"X","severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N"},
				{"type":"CVSS_V2","score":"AV:N/AC:L/Au:N/C:P/I:P/A:P"}],"affected":[{"package":{"ecosystem":"npm","name":"a"}}]}`,
			want: severityInfo{SeverityHigh, 7.5, "AV:N/AC:L/Au:N/C:P/I:P/A:P"},
		},
		{
			name:   "GHSA database severity",
			record: `{"id":"X","database_specific":{"severity":"MODERATE"},"affected":[{"package":{"ecosystem":"npm","name":"a"}}]}`,
			want:   severityInfo{Severity: SeverityMedium},
		},
		{
			name:   "Debian urgency",
			record: `{"id":"X","affected":[{"package":{"ecosystem":"Debian:12","name":"a"},"ecosystem_specific":{"urgency":"unimportant"}}]}`,
			want:   severityInfo{Severity: SeverityLow},
		},
		{
			name:   "Red Hat word",
			record: `{"id":"X","affected":[{"package":{"ecosystem":"Red Hat","name":"a"},"database_specific":{"severity":"Important"}}]}`,
			want:   severityInfo{Severity: SeverityHigh},
		},
		{
			name:   "unassigned urgency",
			record: `{"id":"X","affected":[{"package":{"ecosystem":"Debian:12","name":"a"},"ecosystem_specific":{"urgency":"not yet assigned"}}]}`,
			want:   severityInfo{Severity: SeverityUnknown},
		},
		{
			name:   "nothing",
			record: `{"id":"X","affected":[{"package":{"ecosystem":"Go","name":"a"}}]}`,
			want:   severityInfo{Severity: SeverityUnknown},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &osvschema.Vulnerability{}
			if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal([]byte(tt.record), rec); err != nil {
				t.Fatal(err)
			}
			if got := recordSeverity(rec, rec.GetAffected()[0], scoreCache{}); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseThreshold(t *testing.T) {
	for in, want := range map[string]Severity{"critical": SeverityCritical, "High": SeverityHigh, " medium ": SeverityMedium, "LOW": SeverityLow} {
		if got, err := ParseThreshold(in); err != nil || got != want {
			t.Errorf("ParseThreshold(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "none", "unknown", "severe"} {
		if _, err := ParseThreshold(bad); err == nil {
			t.Errorf("ParseThreshold(%q): no error", bad)
		}
	}
}
