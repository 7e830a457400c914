// Package risk computes an image's risk score: one number from 0 to 100
// that Dev, Sec and Ops read the same way, with a breakdown that says
// where every point comes from. The formula is versioned (Version) and
// documented in docs/RISK.md; Score is pure and deterministic (no I/O, the
// time is a parameter), so the same evidence always gives the same score.
//
// The score fails closed: evidence that is missing (a scan that did not
// run or did not finish, no vulnerability data) adds points, it never
// counts as clean. The one exception is the image's creation date: an
// unset or placeholder date is unknown age and adds nothing (policy may
// decide otherwise).
package risk

import (
	"fmt"
	"math"
	"time"
)

// Version names the formula. It changes whenever a weight, cap or rule
// changes, so a stored score can be told apart from one computed later.
const Version = "risk/v1"

// MaxTotal is the highest total: the sum of the components is capped at
// it.
const MaxTotal = 100

// Input is the evidence about one image (one platform) that the score is
// computed from. Its zero value is "nothing is known" and scores
// MaxTotal: see Clean for the input of a fully checked, clean image.
type Input struct {
	// Vulns are the vulnerability findings and the coverage of the data
	// they were matched against.
	Vulns Vulns `json:"vulns"`
	// Malware and Secrets are the malware and secret scans.
	Malware Scan `json:"malware"`
	Secrets Scan `json:"secrets"`
	// Config are facts from the image configuration.
	Config Config `json:"config"`
	// Signature is the state of the image's signature.
	Signature Signature `json:"signature"`
	// Provenance is true when a provenance attestation is attached.
	Provenance bool `json:"provenance"`
	// Created is the image configuration's creation time. The zero time
	// and dates before 2013-01-01 (placeholders such as the Unix epoch
	// that reproducible builds write; container images did not exist
	// then) are unknown age, as are dates after now.
	Created time.Time `json:"created,omitzero"`
	// OS is the base operating system's life-cycle.
	OS OS `json:"os"`
}

// Clean returns the input of an image with complete, clean evidence: all
// scans done and nothing found, a non-root user, no exposed ports, a
// verified signature, provenance, and a supported base OS. It scores 0;
// tests and examples start from it.
func Clean() Input {
	return Input{
		Vulns:      Vulns{Scanned: true},
		Malware:    Scan{Done: true},
		Secrets:    Scan{Done: true},
		Config:     Config{User: "65532"},
		Signature:  SignatureVerified,
		Provenance: true,
		OS:         OS{State: LifecycleSupported},
	}
}

// Scan is the outcome of a malware or secret scan.
type Scan struct {
	// Done is true when the scan ran to completion over the whole image;
	// false when it did not run, failed, or left files unscanned.
	Done bool `json:"done"`
	// Found counts the detections, including any beyond those listed.
	Found int `json:"found"`
}

// Count counts the vulnerability findings of one severity.
type Count struct {
	// Total is how many findings there are.
	Total int `json:"total"`
	// Fixable is how many of them have a fixed version available.
	Fixable int `json:"fixable"`
	// Exploited is how many of them are known to be exploited (a KEV-like
	// flag; 0 when the data has no such flag).
	Exploited int `json:"exploited"`
}

// Vulns are an image's vulnerability findings, by severity.
type Vulns struct {
	// Scanned is true when the image's packages were matched against a
	// vulnerability database.
	Scanned bool `json:"scanned"`
	// Uncovered counts the ecosystems in the image the database has no or
	// incomplete data for (packages that could not be judged).
	Uncovered int `json:"uncovered"`
	// The findings by severity; Unknown are findings whose records give
	// no usable severity.
	Critical Count `json:"critical"`
	High     Count `json:"high"`
	Medium   Count `json:"medium"`
	Low      Count `json:"low"`
	Unknown  Count `json:"unknown"`
}

// Config are the scored facts of the image configuration.
type Config struct {
	// User is the configuration's User ("user[:group]"); empty means
	// root. See RunsAsRoot.
	User string `json:"user"`
	// ExposedPorts counts the configuration's ExposedPorts.
	ExposedPorts int `json:"exposed_ports"`
}

// Signature is the state of an image's signature.
type Signature string

// The signature states. An empty or unrecognised value is counted as
// SignatureNone.
const (
	// SignatureNone: no signature is attached.
	SignatureNone Signature = "none"
	// SignaturePresent: a signature is attached but was not verified (no
	// trust policy for it).
	SignaturePresent Signature = "present"
	// SignatureVerified: a signature was verified against a trust policy.
	SignatureVerified Signature = "verified"
	// SignatureInvalid: a signature is attached and failed verification.
	SignatureInvalid Signature = "invalid"
)

// Lifecycle is where a base operating system is in its life.
type Lifecycle string

// The life-cycle states. An empty or unrecognised value is counted as
// LifecycleUnknown.
const (
	// LifecycleUnknown: the OS or its end-of-life date is not known.
	LifecycleUnknown Lifecycle = "unknown"
	// LifecycleNone: the image has no base OS (scratch, a static binary).
	LifecycleNone Lifecycle = "none"
	// LifecycleSupported: the OS has free security support.
	LifecycleSupported Lifecycle = "supported"
	// LifecycleNearEOL: the OS reaches its end of life within 90 days.
	LifecycleNearEOL Lifecycle = "near-eol"
	// LifecycleEOL: the OS is past the end of its free security support.
	LifecycleEOL Lifecycle = "eol"
)

// nearEOL is how long before its end of life an OS counts as near it.
const nearEOL = 90 * 24 * time.Hour

// OS is the base operating system's life-cycle.
type OS struct {
	// Name names the OS in the breakdown, e.g. "Debian 12"; optional.
	Name string `json:"name,omitempty"`
	// State is the life-cycle state.
	State Lifecycle `json:"state"`
	// EOL is the end of free security support; zero when unknown. When
	// set it overrides a State computed at another time: an OS past EOL
	// at the scoring time is LifecycleEOL, one within 90 days of it at
	// least LifecycleNearEOL.
	EOL time.Time `json:"eol,omitzero"`
}

// Component is one line of the breakdown.
type Component struct {
	// Name identifies the component; the names are stable within a
	// Version (see docs/RISK.md).
	Name string `json:"name"`
	// Points is what the component adds to the total (negative only for
	// the "cap" line).
	Points int `json:"points"`
	// Max is the most the component can add.
	Max int `json:"max"`
	// Why says in a sentence what the points are for.
	Why string `json:"why"`
}

// Result is a risk score with its breakdown.
type Result struct {
	// Version is the formula's version (Version).
	Version string `json:"version"`
	// Total is the score, 0 to 100: the sum of Breakdown's points.
	Total int `json:"total"`
	// Level is Level(Total).
	Level string `json:"level"`
	// Breakdown lists every component in a fixed order, then, when the
	// components add up to more than MaxTotal, a "cap" line with the
	// negative points that bring the sum down to MaxTotal.
	Breakdown []Component `json:"breakdown"`
}

// The levels, from the least to the most risky.
const (
	LevelLow      = "low"
	LevelMedium   = "medium"
	LevelHigh     = "high"
	LevelCritical = "critical"
)

// Level names the band a total falls in: low 0–29, medium 30–49, high
// 50–70, critical 71–100. Critical starts just above 70, the default
// policy's threshold, so "critical" reads as "the default policy blocks
// it on score alone". Totals out of range are clamped.
func Level(total int) string {
	switch {
	case total >= 71:
		return LevelCritical
	case total >= 50:
		return LevelHigh
	case total >= 30:
		return LevelMedium
	}
	return LevelLow
}

// Score computes the risk score of the evidence at time now (which only
// age and end of life depend on). See docs/RISK.md for the formula.
func Score(in Input, now time.Time) Result {
	parts := []Component{
		malwarePart(in.Malware),
		secretsPart(in.Secrets),
		dataPart(in.Vulns),
		exploitedPart(in.Vulns),
		severityPart("critical", "critical", in.Vulns.Critical, 15, 40),
		severityPart("high", "high", in.Vulns.High, 6, 20),
		severityPart("medium", "medium", in.Vulns.Medium, 2, 8),
		severityPart("low", "low", in.Vulns.Low, 0.5, 3),
		severityPart("unknown_severity", "unknown-severity", in.Vulns.Unknown, 1, 5),
		eolPart(in.OS, now),
		rootPart(in.Config.User),
		portsPart(in.Config.ExposedPorts),
		signaturePart(in.Signature),
		provenancePart(in.Provenance),
		agePart(in.Created, now),
	}
	sum := 0
	for _, p := range parts {
		sum += p.Points
	}
	total := sum
	if sum > MaxTotal {
		total = MaxTotal
		parts = append(parts, Component{
			Name:   "cap",
			Points: MaxTotal - sum,
			Why:    fmt.Sprintf("the components add up to %d; the total is capped at %d", sum, MaxTotal),
		})
	}
	return Result{Version: Version, Total: total, Level: Level(total), Breakdown: parts}
}

// curve is the diminishing-returns rule: weight × log2(1 + n), capped at
// max and rounded half up. The first finding gives weight points and
// every doubling of the count adds weight more. It returns the points and
// the arithmetic, for Why.
func curve(weight, n float64, maxPts int) (int, string) {
	raw := weight * math.Log2(1+n)
	expr := fmt.Sprintf("%s × log2(1 + %s) = %.1f", num(weight), num(n), raw)
	if raw >= float64(maxPts) {
		return maxPts, expr + fmt.Sprintf(", capped at %d", maxPts)
	}
	return int(math.Round(raw)), expr
}

// num formats a weight or count without needless decimals.
func num(f float64) string {
	if f == math.Trunc(f) {
		return fmt.Sprintf("%d", int64(f))
	}
	return fmt.Sprintf("%g", f)
}

// nonNeg turns a negative count (a caller's mistake) into 0.
func nonNeg(n int) int { return max(n, 0) }

// plural returns word, with an "s" unless n is 1.
func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func malwarePart(s Scan) Component {
	c := Component{Name: "malware", Max: 100}
	switch found := nonNeg(s.Found); {
	case found > 0:
		c.Points = 100
		c.Why = fmt.Sprintf("malware found (%s): the score is 100", plural(found, "detection"))
	case !s.Done:
		c.Points = 50
		c.Why = "the malware scan did not run or did not finish: the image is not known to be free of malware"
	default:
		c.Why = "no malware found"
	}
	return c
}

func secretsPart(s Scan) Component {
	c := Component{Name: "secrets", Max: 60}
	found := nonNeg(s.Found)
	if found > 0 {
		pts, expr := curve(30, float64(found), c.Max)
		c.Points = pts
		c.Why = fmt.Sprintf("%s found: %s", plural(found, "secret"), expr)
	}
	if !s.Done {
		const incomplete = 30
		if c.Points < incomplete {
			c.Points = incomplete
			c.Why = "the secret scan did not run or did not finish: the image is not known to be free of secrets"
		} else {
			c.Why += "; the scan did not finish"
		}
	}
	if c.Why == "" {
		c.Why = "no secrets found"
	}
	return c
}

func dataPart(v Vulns) Component {
	c := Component{Name: "vulnerability_data", Max: 40}
	switch u := nonNeg(v.Uncovered); {
	case !v.Scanned:
		c.Points = 40
		c.Why = "no vulnerability scan: the image's vulnerabilities are unknown"
	case u > 0:
		pts, expr := curve(20, float64(u), c.Max)
		c.Points = pts
		c.Why = fmt.Sprintf("%s without (complete) vulnerability data: %s", plural(u, "ecosystem"), expr)
	default:
		c.Why = "every ecosystem in the image has vulnerability data"
	}
	return c
}

// total returns how many findings a Count stands for: at least as many as
// are fixable or exploited, so an inconsistent Count never lowers the
// score.
func (n Count) total() int {
	return max(nonNeg(n.Total), nonNeg(n.Fixable), nonNeg(n.Exploited))
}

func exploitedPart(v Vulns) Component {
	c := Component{Name: "known_exploited", Max: 50}
	n := 0
	for _, s := range []Count{v.Critical, v.High, v.Medium, v.Low, v.Unknown} {
		n += min(nonNeg(s.Exploited), s.total())
	}
	if n == 0 {
		c.Why = "no vulnerability known to be exploited"
		return c
	}
	pts, expr := curve(25, float64(n), c.Max)
	c.Points = pts
	word := "vulnerabilities"
	if n == 1 {
		word = "vulnerability"
	}
	c.Why = fmt.Sprintf("%d %s known to be exploited: %s", n, word, expr)
	return c
}

// severityPart scores the findings of one severity: a finding with a fix
// counts 1, one without ½ (a fix makes it more likely to be known and
// exploited, and its presence is the consumer's to correct).
func severityPart(name, label string, n Count, weight float64, maxPts int) Component {
	c := Component{Name: name, Max: maxPts}
	total := n.total()
	if total == 0 {
		c.Why = fmt.Sprintf("no %s vulnerabilities", label)
		return c
	}
	fixable := min(nonNeg(n.Fixable), total)
	effective := float64(fixable) + float64(total-fixable)/2
	pts, expr := curve(weight, effective, maxPts)
	c.Points = pts
	c.Why = fmt.Sprintf("%d %s: %d with a fix (1 each), %d without (½ each): %s",
		total, label, fixable, total-fixable, expr)
	return c
}

func eolPart(os OS, now time.Time) Component {
	c := Component{Name: "end_of_life", Max: 40}
	name := os.Name
	if name == "" {
		name = "the base OS"
	}
	state := os.State
	switch state {
	case LifecycleNone, LifecycleSupported, LifecycleNearEOL, LifecycleEOL:
	default:
		state = LifecycleUnknown
	}
	if state != LifecycleNone && !os.EOL.IsZero() {
		switch {
		case !now.Before(os.EOL):
			state = LifecycleEOL
		case state != LifecycleEOL && os.EOL.Sub(now) <= nearEOL:
			state = LifecycleNearEOL
		}
	}
	switch state {
	case LifecycleNone:
		c.Why = "no base OS"
	case LifecycleSupported:
		c.Why = name + " has security support"
	case LifecycleNearEOL:
		c.Points = 5
		c.Why = name + " reaches its end of life within 90 days"
		if !os.EOL.IsZero() {
			c.Why = fmt.Sprintf("%s reaches its end of life on %s", name, os.EOL.Format(time.DateOnly))
		}
	case LifecycleEOL:
		c.Points = 30
		c.Why = name + " is past its end of life (date unknown)"
		if !os.EOL.IsZero() {
			days := int(now.Sub(os.EOL) / (24 * time.Hour))
			extra := min(days/90, 10)
			c.Points += extra
			c.Why = fmt.Sprintf("%s is past its end of life (%s, %s ago): 30 + 1 per full 90 days (%d)",
				name, os.EOL.Format(time.DateOnly), plural(days, "day"), extra)
		}
	default:
		c.Points = 5
		c.Why = "the base OS's end of life is unknown"
	}
	return c
}

// RunsAsRoot reports whether an image configuration's User runs the
// container as root: the user part (before any ":group") is empty, "0" or
// "root".
func RunsAsRoot(user string) bool {
	for i := 0; i < len(user); i++ {
		if user[i] == ':' {
			user = user[:i]
			break
		}
	}
	return user == "" || user == "0" || user == "root"
}

func rootPart(user string) Component {
	c := Component{Name: "root_user", Max: 8}
	if RunsAsRoot(user) {
		c.Points = 8
		if user == "" {
			c.Why = "runs as root (no User set)"
		} else {
			c.Why = fmt.Sprintf("runs as root (User %q)", user)
		}
		return c
	}
	c.Why = fmt.Sprintf("runs as User %q, not root", user)
	return c
}

func portsPart(ports int) Component {
	c := Component{Name: "exposed_ports", Max: 6}
	n := nonNeg(ports)
	if n == 0 {
		c.Why = "no exposed ports"
		return c
	}
	pts, expr := curve(2, float64(n), c.Max)
	c.Points = pts
	c.Why = fmt.Sprintf("%s exposed: %s", plural(n, "port"), expr)
	return c
}

func signaturePart(s Signature) Component {
	c := Component{Name: "signature", Max: 10}
	switch s {
	case SignatureVerified:
		c.Why = "signature verified"
	case SignaturePresent:
		c.Points = 3
		c.Why = "signed, but the signature was not verified"
	case SignatureInvalid:
		c.Points = 10
		c.Why = "a signature failed verification"
	default:
		c.Points = 5
		c.Why = "not signed"
	}
	return c
}

func provenancePart(present bool) Component {
	c := Component{Name: "provenance", Max: 4}
	if present {
		c.Why = "provenance attached"
		return c
	}
	c.Points = 4
	c.Why = "no provenance"
	return c
}

// firstImagesUnix is the earliest creation time taken as real,
// 2013-01-01T00:00:00Z in Unix seconds: earlier dates are placeholders
// (the Unix epoch of reproducible builds, 1980-01-01 of zip-based tools).
const firstImagesUnix = 1356998400

func agePart(created, now time.Time) Component {
	c := Component{Name: "age", Max: 10}
	switch {
	case created.IsZero():
		c.Why = "creation date not set: age unknown, adds nothing"
	case created.Unix() < firstImagesUnix:
		c.Why = fmt.Sprintf("creation date %s is a placeholder: age unknown, adds nothing", created.UTC().Format(time.DateOnly))
	case created.After(now):
		c.Why = fmt.Sprintf("creation date %s is in the future: age unknown, adds nothing", created.UTC().Format(time.DateOnly))
	default:
		days := int(now.Sub(created) / (24 * time.Hour))
		years := days / 365
		c.Points = min(2*years, c.Max)
		c.Why = fmt.Sprintf("created %s, %s ago: 2 per full year (%d), at most 10", created.UTC().Format(time.DateOnly), plural(days, "day"), years)
	}
	return c
}
