package risk

import (
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func date(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

// with returns Clean() changed by f.
func with(f func(*Input)) Input {
	in := Clean()
	f(&in)
	return in
}

// names are the component names in breakdown order.
var names = []string{"malware", "secrets", "vulnerability_data", "known_exploited", "critical", "high",
	"medium", "low", "unknown_severity", "end_of_life", "root_user", "exposed_ports", "signature", "provenance", "age"}

func TestScore(t *testing.T) {
	tests := []struct {
		name  string
		in    Input
		total int
		level string
		// points are the non-zero components (with "cap" when it applies);
		// every other component must be 0.
		points map[string]int
	}{
		{"clean", Clean(), 0, LevelLow, nil},
		{"nothing known", Input{}, 100, LevelCritical, map[string]int{"malware": 50, "secrets": 30,
			"vulnerability_data": 40, "end_of_life": 5, "root_user": 8, "signature": 5, "provenance": 4, "cap": -42}},
		{"malware", with(func(in *Input) { in.Malware.Found = 1 }), 100, LevelCritical, map[string]int{"malware": 100}},
		{"malware, scan unfinished", with(func(in *Input) { in.Malware = Scan{Found: 3} }), 100, LevelCritical, map[string]int{"malware": 100}},
		{"malware scan unfinished", with(func(in *Input) { in.Malware.Done = false }), 50, LevelHigh, map[string]int{"malware": 50}},
		{"one secret", with(func(in *Input) { in.Secrets.Found = 1 }), 30, LevelMedium, map[string]int{"secrets": 30}},
		{"two secrets", with(func(in *Input) { in.Secrets.Found = 2 }), 48, LevelMedium, map[string]int{"secrets": 48}},
		{"three secrets hit the cap", with(func(in *Input) { in.Secrets.Found = 3 }), 60, LevelHigh, map[string]int{"secrets": 60}},
		{"a thousand secrets", with(func(in *Input) { in.Secrets.Found = 1000 }), 60, LevelHigh, map[string]int{"secrets": 60}},
		{"secret scan unfinished", with(func(in *Input) { in.Secrets.Done = false }), 30, LevelMedium, map[string]int{"secrets": 30}},
		{"secret scan unfinished, two found", with(func(in *Input) { in.Secrets = Scan{Found: 2} }), 48, LevelMedium, map[string]int{"secrets": 48}},
		{"no vulnerability scan", with(func(in *Input) { in.Vulns.Scanned = false }), 40, LevelMedium, map[string]int{"vulnerability_data": 40}},
		{"one ecosystem uncovered", with(func(in *Input) { in.Vulns.Uncovered = 1 }), 20, LevelLow, map[string]int{"vulnerability_data": 20}},
		{"two ecosystems uncovered", with(func(in *Input) { in.Vulns.Uncovered = 2 }), 32, LevelMedium, map[string]int{"vulnerability_data": 32}},
		{"one critical with a fix", with(func(in *Input) { in.Vulns.Critical = Count{Total: 1, Fixable: 1} }), 15, LevelLow, map[string]int{"critical": 15}},
		{"one critical without a fix", with(func(in *Input) { in.Vulns.Critical = Count{Total: 1} }), 9, LevelLow, map[string]int{"critical": 9}},
		{"three criticals with a fix", with(func(in *Input) { in.Vulns.Critical = Count{Total: 3, Fixable: 3} }), 30, LevelMedium, map[string]int{"critical": 30}},
		{"criticals hit the cap", with(func(in *Input) { in.Vulns.Critical = Count{Total: 6, Fixable: 6} }), 40, LevelMedium, map[string]int{"critical": 40}},
		{"known exploited critical", with(func(in *Input) { in.Vulns.Critical = Count{Total: 1, Fixable: 1, Exploited: 1} }), 40, LevelMedium,
			map[string]int{"critical": 15, "known_exploited": 25}},
		{"exploited counted across severities", with(func(in *Input) {
			in.Vulns.High = Count{Total: 2, Exploited: 1}
			in.Vulns.Low = Count{Total: 1, Exploited: 1}
		}), 46, LevelMedium, map[string]int{"known_exploited": 40, "high": 6}},
		{"inconsistent count: fixable above total", with(func(in *Input) { in.Vulns.High = Count{Total: 1, Fixable: 3} }), 12, LevelLow, map[string]int{"high": 12}},
		{"negative counts are zero", with(func(in *Input) {
			in.Vulns.High = Count{Total: -4, Fixable: -1, Exploited: -2}
			in.Secrets.Found = -1
			in.Config.ExposedPorts = -3
		}), 0, LevelLow, nil},
		{"typical debian image", with(func(in *Input) {
			in.Vulns.Critical = Count{Total: 2}
			in.Vulns.High = Count{Total: 10, Fixable: 3}
			in.Vulns.Medium = Count{Total: 30, Fixable: 5}
			in.Vulns.Low = Count{Total: 50}
			in.Vulns.Unknown = Count{Total: 100, Fixable: 10}
			in.Config.User = ""
			in.Config.ExposedPorts = 1
			in.Signature = SignatureNone
			in.Provenance = false
		}), 66, LevelHigh, map[string]int{"critical": 15, "high": 17, "medium": 8, "low": 2, "unknown_severity": 5,
			"root_user": 8, "exposed_ports": 2, "signature": 5, "provenance": 4}},
		{"the medium, low and unknown caps", with(func(in *Input) {
			in.Vulns.Medium = Count{Total: 1000}
			in.Vulns.Low = Count{Total: 1000}
			in.Vulns.Unknown = Count{Total: 1000}
		}), 16, LevelLow, map[string]int{"medium": 8, "low": 3, "unknown_severity": 5}},
		{"one low", with(func(in *Input) { in.Vulns.Low = Count{Total: 1} }), 0, LevelLow, nil},
		{"one low with a fix", with(func(in *Input) { in.Vulns.Low = Count{Total: 1, Fixable: 1} }), 1, LevelLow, map[string]int{"low": 1}},
		{"eol, date unknown", with(func(in *Input) { in.OS = OS{State: LifecycleEOL} }), 30, LevelMedium, map[string]int{"end_of_life": 30}},
		{"eol 89 days ago", with(func(in *Input) { in.OS = OS{State: LifecycleEOL, EOL: now.Add(-89 * 24 * time.Hour)} }), 30, LevelMedium, map[string]int{"end_of_life": 30}},
		{"eol 90 days ago", with(func(in *Input) { in.OS = OS{State: LifecycleEOL, EOL: now.Add(-90 * 24 * time.Hour)} }), 31, LevelMedium, map[string]int{"end_of_life": 31}},
		{"eol ten years ago", with(func(in *Input) { in.OS = OS{State: LifecycleEOL, EOL: now.AddDate(-10, 0, 0)} }), 40, LevelMedium, map[string]int{"end_of_life": 40}},
		{"stale state: supported but past eol", with(func(in *Input) { in.OS = OS{State: LifecycleSupported, EOL: now} }), 30, LevelMedium, map[string]int{"end_of_life": 30}},
		{"stale state: supported, eol in 90 days", with(func(in *Input) { in.OS = OS{State: LifecycleSupported, EOL: now.Add(90 * 24 * time.Hour)} }), 5, LevelLow, map[string]int{"end_of_life": 5}},
		{"supported, eol in 91 days", with(func(in *Input) { in.OS = OS{State: LifecycleSupported, EOL: now.Add(91 * 24 * time.Hour)} }), 0, LevelLow, nil},
		{"near eol", with(func(in *Input) { in.OS = OS{State: LifecycleNearEOL} }), 5, LevelLow, map[string]int{"end_of_life": 5}},
		{"eol unknown", with(func(in *Input) { in.OS = OS{State: LifecycleUnknown} }), 5, LevelLow, map[string]int{"end_of_life": 5}},
		{"unrecognised eol state", with(func(in *Input) { in.OS = OS{State: "retired"} }), 5, LevelLow, map[string]int{"end_of_life": 5}},
		{"no base os", with(func(in *Input) { in.OS = OS{State: LifecycleNone, EOL: now.AddDate(-1, 0, 0)} }), 0, LevelLow, nil},
		{"root by name", with(func(in *Input) { in.Config.User = "root:root" }), 8, LevelLow, map[string]int{"root_user": 8}},
		{"three ports", with(func(in *Input) { in.Config.ExposedPorts = 3 }), 4, LevelLow, map[string]int{"exposed_ports": 4}},
		{"many ports", with(func(in *Input) { in.Config.ExposedPorts = 100 }), 6, LevelLow, map[string]int{"exposed_ports": 6}},
		{"unsigned", with(func(in *Input) { in.Signature = SignatureNone }), 5, LevelLow, map[string]int{"signature": 5}},
		{"signature state unset", with(func(in *Input) { in.Signature = "" }), 5, LevelLow, map[string]int{"signature": 5}},
		{"signed, not verified", with(func(in *Input) { in.Signature = SignaturePresent }), 3, LevelLow, map[string]int{"signature": 3}},
		{"invalid signature", with(func(in *Input) { in.Signature = SignatureInvalid }), 10, LevelLow, map[string]int{"signature": 10}},
		{"no provenance", with(func(in *Input) { in.Provenance = false }), 4, LevelLow, map[string]int{"provenance": 4}},
		{"created yesterday", with(func(in *Input) { in.Created = now.Add(-24 * time.Hour) }), 0, LevelLow, nil},
		{"created 364 days ago", with(func(in *Input) { in.Created = now.Add(-364 * 24 * time.Hour) }), 0, LevelLow, nil},
		{"created 365 days ago", with(func(in *Input) { in.Created = now.Add(-365 * 24 * time.Hour) }), 2, LevelLow, map[string]int{"age": 2}},
		{"created 12 years ago", with(func(in *Input) { in.Created = now.AddDate(-12, 0, 0) }), 10, LevelLow, map[string]int{"age": 10}},
		{"created at the unix epoch: unknown", with(func(in *Input) { in.Created = time.Unix(0, 0) }), 0, LevelLow, nil},
		{"created 1980-01-01: unknown", with(func(in *Input) { in.Created = date("1980-01-01") }), 0, LevelLow, nil},
		{"created in the future: unknown", with(func(in *Input) { in.Created = now.AddDate(1, 0, 0) }), 0, LevelLow, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Score(tt.in, now)
			if got.Version != "risk/v1" || got.Total != tt.total || got.Level != tt.level {
				t.Errorf("Score = %s %d %s, want risk/v1 %d %s", got.Version, got.Total, got.Level, tt.total, tt.level)
			}
			gotPoints := map[string]int{}
			for _, c := range got.Breakdown {
				if c.Points != 0 {
					gotPoints[c.Name] = c.Points
				}
			}
			want := tt.points
			if want == nil {
				want = map[string]int{}
			}
			if !reflect.DeepEqual(gotPoints, want) {
				t.Errorf("points = %v, want %v\n%+v", gotPoints, want, got.Breakdown)
			}
			checkShape(t, got)
		})
	}
}

// checkShape checks what holds for every result: the components in order,
// each within 0..Max with a reason, a cap line exactly when needed, and a
// total that is their sum and within 0..100.
func checkShape(t *testing.T, r Result) {
	t.Helper()
	if len(r.Breakdown) < len(names) {
		t.Fatalf("breakdown has %d components, want at least %d", len(r.Breakdown), len(names))
	}
	sum, raw := 0, 0
	for i, c := range r.Breakdown {
		sum += c.Points
		if c.Why == "" {
			t.Errorf("%s: no reason", c.Name)
		}
		if i < len(names) {
			if c.Name != names[i] {
				t.Errorf("component %d is %q, want %q", i, c.Name, names[i])
			}
			if c.Points < 0 || c.Points > c.Max {
				t.Errorf("%s: %d points outside 0..%d", c.Name, c.Points, c.Max)
			}
			raw += c.Points
		}
	}
	switch {
	case raw > 100 && (len(r.Breakdown) != len(names)+1 || r.Breakdown[len(names)].Name != "cap" || r.Breakdown[len(names)].Points != 100-raw):
		t.Errorf("components add up to %d, but no matching cap line: %+v", raw, r.Breakdown[len(names)-1:])
	case raw <= 100 && len(r.Breakdown) != len(names):
		t.Errorf("components add up to %d, but the breakdown has extra lines: %+v", raw, r.Breakdown[len(names):])
	}
	if sum != r.Total || r.Total < 0 || r.Total > 100 {
		t.Errorf("total %d, breakdown sums to %d", r.Total, sum)
	}
	if r.Level != Level(r.Total) {
		t.Errorf("level %q, want %q", r.Level, Level(r.Total))
	}
}

func TestScoreBreakdown(t *testing.T) {
	in := with(func(in *Input) {
		in.Vulns.Critical = Count{Total: 3, Fixable: 2, Exploited: 1}
		in.Vulns.High = Count{Total: 10, Fixable: 3}
		in.OS = OS{Name: "Debian 10", State: LifecycleSupported, EOL: date("2024-06-30")}
		in.Created = date("2023-01-15")
		in.Config = Config{User: "0:0", ExposedPorts: 2}
		in.Signature = SignaturePresent
	})
	want := Result{Version: "risk/v1", Total: 100, Level: "critical", Breakdown: []Component{
		{"malware", 0, 100, "no malware found"},
		{"secrets", 0, 60, "no secrets found"},
		{"vulnerability_data", 0, 40, "every ecosystem in the image has vulnerability data"},
		{"known_exploited", 25, 50, "1 vulnerability known to be exploited: 25 × log2(1 + 1) = 25.0"},
		{"critical", 27, 40, "3 critical: 2 with a fix (1 each), 1 without (½ each): 15 × log2(1 + 2.5) = 27.1"},
		{"high", 17, 20, "10 high: 3 with a fix (1 each), 7 without (½ each): 6 × log2(1 + 6.5) = 17.4"},
		{"medium", 0, 8, "no medium vulnerabilities"},
		{"low", 0, 3, "no low vulnerabilities"},
		{"unknown_severity", 0, 5, "no unknown-severity vulnerabilities"},
		{"end_of_life", 36, 40, "Debian 10 is past its end of life (2024-06-30, 609 days ago): 30 + 1 per full 90 days (6)"},
		{"root_user", 8, 8, `runs as root (User "0:0")`},
		{"exposed_ports", 3, 6, "2 ports exposed: 2 × log2(1 + 2) = 3.2"},
		{"signature", 3, 10, "signed, but the signature was not verified"},
		{"provenance", 0, 4, "provenance attached"},
		{"age", 6, 10, "created 2023-01-15, 1141 days ago: 2 per full year (3), at most 10"},
		{"cap", -25, 0, "the components add up to 125; the total is capped at 100"},
	}}
	got := Score(in, now)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Score =\n%+v\nwant\n%+v", got, want)
	}
}

// randomInput draws an input with small counts, random facts and dates.
func randomInput(r *rand.Rand) Input {
	count := func() Count {
		n := r.IntN(6)
		return Count{Total: n, Fixable: r.IntN(n + 1), Exploited: r.IntN(2) * r.IntN(n+1)}
	}
	states := []Lifecycle{LifecycleUnknown, LifecycleNone, LifecycleSupported, LifecycleNearEOL, LifecycleEOL, ""}
	sigs := []Signature{SignatureNone, SignaturePresent, SignatureVerified, SignatureInvalid, ""}
	users := []string{"", "0", "root", "1000", "app:app"}
	var eolDate, created time.Time
	if r.IntN(2) == 0 {
		eolDate = now.Add(time.Duration(r.IntN(2000)-1000) * 24 * time.Hour)
	}
	if r.IntN(2) == 0 {
		created = now.Add(-time.Duration(r.IntN(4000)) * 24 * time.Hour)
	}
	return Input{
		Vulns: Vulns{Scanned: r.IntN(4) > 0, Uncovered: r.IntN(2) * r.IntN(4),
			Critical: count(), High: count(), Medium: count(), Low: count(), Unknown: count()},
		Malware:    Scan{Done: r.IntN(4) > 0, Found: r.IntN(2) * r.IntN(2) * r.IntN(3)},
		Secrets:    Scan{Done: r.IntN(4) > 0, Found: r.IntN(2) * r.IntN(4)},
		Config:     Config{User: users[r.IntN(len(users))], ExposedPorts: r.IntN(4)},
		Signature:  sigs[r.IntN(len(sigs))],
		Provenance: r.IntN(2) == 0,
		Created:    created,
		OS:         OS{State: states[r.IntN(len(states))], EOL: eolDate},
	}
}

// worse lists ways of adding a finding or a risk fact to an input.
var worse = []struct {
	name string
	f    func(*Input)
}{
	{"critical", func(in *Input) { in.Vulns.Critical.Total++ }},
	{"critical fix", func(in *Input) { in.Vulns.Critical.Total++; in.Vulns.Critical.Fixable++ }},
	{"critical exploited", func(in *Input) { in.Vulns.Critical.Total++; in.Vulns.Critical.Exploited++ }},
	{"high", func(in *Input) { in.Vulns.High.Total++ }},
	{"high fix", func(in *Input) { in.Vulns.High.Total++; in.Vulns.High.Fixable++ }},
	{"medium", func(in *Input) { in.Vulns.Medium.Total++ }},
	{"low fix", func(in *Input) { in.Vulns.Low.Total++; in.Vulns.Low.Fixable++ }},
	{"unknown", func(in *Input) { in.Vulns.Unknown.Total++ }},
	{"uncovered", func(in *Input) { in.Vulns.Uncovered++ }},
	{"malware", func(in *Input) { in.Malware.Found++ }},
	{"secret", func(in *Input) { in.Secrets.Found++ }},
	{"port", func(in *Input) { in.Config.ExposedPorts++ }},
	{"root", func(in *Input) { in.Config.User = "root" }},
	{"no provenance", func(in *Input) { in.Provenance = false }},
	// Older, but not past 2013-01-01: an earlier date is a placeholder,
	// unknown age, by design.
	{"older", func(in *Input) {
		if older := in.Created.Add(-400 * 24 * time.Hour); !in.Created.IsZero() && !older.Before(date("2013-01-01")) {
			in.Created = older
		}
	}},
	{"eol earlier", func(in *Input) {
		if !in.OS.EOL.IsZero() {
			in.OS.EOL = in.OS.EOL.Add(-100 * 24 * time.Hour)
		}
	}},
}

func TestScoreProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for i := 0; i < 3000; i++ {
		in := randomInput(r)
		got := Score(in, now)
		checkShape(t, got)
		if again := Score(in, now); !reflect.DeepEqual(got, again) {
			t.Fatalf("not deterministic: %+v then %+v", got, again)
		}
		for _, w := range worse {
			more := in
			w.f(&more)
			if s := Score(more, now); s.Total < got.Total {
				t.Fatalf("adding %s lowered the score from %d to %d: %+v", w.name, got.Total, s.Total, in)
			}
		}
		infected := in
		infected.Malware.Found = 1
		if s := Score(infected, now); s.Total != 100 {
			t.Fatalf("malware found but score %d: %+v", s.Total, infected)
		}
		unknownAge := in
		unknownAge.Created = time.Time{}
		age := Score(unknownAge, now).Breakdown[len(names)-1]
		if age.Name != "age" || age.Points != 0 {
			t.Fatalf("unknown age adds %d points", age.Points)
		}
	}
}

func TestLevel(t *testing.T) {
	tests := []struct {
		total int
		want  string
	}{
		{-1, "low"}, {0, "low"}, {29, "low"}, {30, "medium"}, {49, "medium"}, {50, "high"},
		{70, "high"}, {71, "critical"}, {100, "critical"}, {101, "critical"},
	}
	for _, tt := range tests {
		if got := Level(tt.total); got != tt.want {
			t.Errorf("Level(%d) = %q, want %q", tt.total, got, tt.want)
		}
	}
}

func TestRunsAsRoot(t *testing.T) {
	tests := []struct {
		user string
		want bool
	}{
		{"", true}, {"0", true}, {"root", true}, {"0:0", true}, {"root:wheel", true}, {":1000", true},
		{"1000", false}, {"1000:0", false}, {"nonroot", false}, {"65532:65532", false}, {"Root", false}, {"00", false},
	}
	for _, tt := range tests {
		if got := RunsAsRoot(tt.user); got != tt.want {
			t.Errorf("RunsAsRoot(%q) = %v, want %v", tt.user, got, tt.want)
		}
	}
}
