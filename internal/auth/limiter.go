package auth

import (
	"encoding/base64"
	"strings"
	"sync"
	"time"
)

// limiter counts failed logins per account and per source address in a
// fixed window; past the limit, logins are refused without checking the
// secret (so guessing costs the attacker time, not the server CPU).
type limiter struct {
	max    int
	window time.Duration
	now    func() time.Time

	mu      sync.Mutex
	account map[string]*window
	source  map[string]*window
}

type window struct {
	start    time.Time
	failures int
}

// limiterCap bounds each map; when full, windows that ended are dropped,
// and if none has, the oldest half goes.
const limiterCap = 50_000

func newLimiter(max int, w time.Duration, now func() time.Time) *limiter {
	return &limiter{max: max, window: w, now: now, account: map[string]*window{}, source: map[string]*window{}}
}

func (l *limiter) over(m map[string]*window, key string, max int, now time.Time) bool {
	w, ok := m[key]
	if !ok {
		return false
	}
	if now.Sub(w.start) >= l.window {
		delete(m, key)
		return false
	}
	return w.failures >= max
}

// allow reports whether a login for account from source may be tried.
func (l *limiter) allow(account, source string) bool {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.over(l.account, account, l.max, now) && !l.over(l.source, source, 3*l.max, now)
}

func (l *limiter) fail(account, source string) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.count(l.account, account, now)
	l.count(l.source, source, now)
}

func (l *limiter) count(m map[string]*window, key string, now time.Time) {
	w, ok := m[key]
	if !ok || now.Sub(w.start) >= l.window {
		if len(m) >= limiterCap {
			l.prune(m, now)
		}
		w = &window{start: now}
		m[key] = w
	}
	w.failures++
}

func (l *limiter) prune(m map[string]*window, now time.Time) {
	for k, w := range m {
		if now.Sub(w.start) >= l.window {
			delete(m, k)
		}
	}
	for k, w := range m {
		if len(m) < limiterCap/2 {
			break
		}
		if now.Sub(w.start) >= l.window/2 {
			delete(m, k)
		}
	}
	if len(m) >= limiterCap {
		clear(m)
	}
}

// succeed forgets the failures of an account that logged in.
func (l *limiter) succeed(account string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.account, account)
}

func decodeBasic(cred string) (name, secret string, ok bool) {
	b, err := base64.StdEncoding.DecodeString(cred)
	if err != nil {
		return "", "", false
	}
	name, secret, ok = strings.Cut(string(b), ":")
	return name, secret, ok && name != ""
}
