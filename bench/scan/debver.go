package main

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/google/osv-scalibr/semantic"
)

// debianCompare orders two Debian versions as dpkg does (osv-scalibr's
// semantic package, which cssc and osv-scanner both use).
func debianCompare(a, b string) (int, error) {
	va, err := semantic.Parse(a, "Debian")
	if err != nil {
		return 0, fmt.Errorf("parse Debian version %q: %w", a, err)
	}
	return va.CompareStr(b)
}

// splitDebian splits a Debian version into epoch ("" or "1:"), upstream
// version and revision ("" or "-1+deb12u3").
func splitDebian(v string) (epoch, upstream, revision string) {
	if i := strings.IndexByte(v, ':'); i >= 0 {
		epoch, v = v[:i+1], v[i+1:]
	}
	if i := strings.LastIndexByte(v, '-'); i >= 0 {
		return epoch, v[:i], v[i:]
	}
	return epoch, v, ""
}

// lastNumber finds the last run of digits in s: its start and end.
func lastNumber(s string) (start, end int, ok bool) {
	end = -1
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] >= '0' && s[i] <= '9' {
			if end < 0 {
				end = i + 1
			}
			start = i
		} else if end >= 0 {
			break
		}
	}
	return start, end, end >= 0
}

// addToLastNumber adds d to the last number of the upstream version of v
// ("1.2.3-1", +1 → "1.2.4-1"); ok is false when the number would go
// below zero or there is none.
func addToLastNumber(v string, d int) (string, bool) {
	epoch, up, rev := splitDebian(v)
	s, e, ok := lastNumber(up)
	if !ok || e-s > 9 {
		return "", false
	}
	n, _ := strconv.Atoi(up[s:e])
	if n+d < 0 {
		return "", false
	}
	return epoch + up[:s] + strconv.Itoa(n+d) + up[e:] + rev, true
}

// aboveDebian returns a version above v, in one of the shapes Debian
// fixes take: a stable update of the same upstream version
// ("+deb12u4"), or a newer upstream version. The result is checked.
func aboveDebian(rng *rand.Rand, v string) (string, error) {
	var out string
	switch rng.IntN(3) {
	case 0:
		out = v + fmt.Sprintf("+deb12u%d", 1+rng.IntN(9))
	case 1:
		if w, ok := addToLastNumber(v, 1+rng.IntN(3)); ok {
			out = w
		}
	case 2:
		epoch, up, _ := splitDebian(v)
		out = epoch + up + fmt.Sprintf("-%d", 90+rng.IntN(9))
	}
	if out == "" {
		out = v + "+deb12u1"
	}
	return out, checkOrder(v, out)
}

// belowDebian returns a version below v: an older upstream version, a
// backport-style "~" version, or (for a version with an epoch) the same
// version without it. The result is checked.
func belowDebian(rng *rand.Rand, v string) (string, error) {
	epoch, up, rev := splitDebian(v)
	var out string
	switch rng.IntN(3) {
	case 0:
		if w, ok := addToLastNumber(v, -1); ok {
			out = w
		}
	case 1:
		if rev != "" {
			out = epoch + up + rev + "~deb11u1"
		} else {
			out = v + "~deb11u1"
		}
	case 2:
		if epoch != "" && epoch != "0:" {
			out = up + rev
		}
	}
	if out == "" {
		out = v + "~1"
	}
	return out, checkOrder(out, v)
}

// checkOrder returns an error unless lo < hi in Debian's ordering.
func checkOrder(lo, hi string) error {
	c, err := debianCompare(lo, hi)
	if err != nil {
		return err
	}
	if c >= 0 {
		return fmt.Errorf("generated version %q is not below %q", lo, hi)
	}
	return nil
}
