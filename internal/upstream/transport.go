package upstream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// retryPolicy is how the transport retries 429 and 503 answers.
type retryPolicy struct {
	attempts  int           // tries in all, the first included
	maxWait   time.Duration // longest wait between two tries
	baseDelay time.Duration // first backoff when the answer has no Retry-After
	now       func() time.Time
	sleep     func(ctx context.Context, d time.Duration) error
}

func defaultRetryPolicy() retryPolicy {
	return retryPolicy{attempts: 5, maxWait: 60 * time.Second, baseDelay: 500 * time.Millisecond, now: time.Now, sleep: sleepCtx}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Transport wraps base (http.DefaultTransport when nil) for talking to u:
// u's CA bundle is trusted beside the system roots, requests go through
// u's proxy, at most u.RateLimit requests a second leave, and answers 429
// and 503 are retried (honouring Retry-After; 5 tries at most, waits
// capped at 60 s). Build it once per upstream: the rate limit is per
// transport. A CA bundle or proxy needs base to be an *http.Transport.
func (u Upstream) Transport(base http.RoundTripper) (http.RoundTripper, error) {
	return u.transport(base, defaultRetryPolicy())
}

func (u Upstream) transport(base http.RoundTripper, p retryPolicy) (http.RoundTripper, error) {
	if base == nil {
		base = http.DefaultTransport
	}
	if u.CABundle != "" || u.Proxy != "" {
		ht, ok := base.(*http.Transport)
		if !ok {
			return nil, fmt.Errorf("transport for upstream %s: cannot set a CA bundle or proxy on a %T", u.Name, base)
		}
		ht = ht.Clone()
		if u.CABundle != "" {
			certs, err := parseCABundle(u.CABundle)
			if err != nil {
				return nil, fmt.Errorf("transport for upstream %s: %w", u.Name, err)
			}
			pool, err := x509.SystemCertPool()
			if err != nil {
				pool = x509.NewCertPool()
			}
			for _, c := range certs {
				pool.AddCert(c)
			}
			if ht.TLSClientConfig == nil {
				ht.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
			}
			ht.TLSClientConfig.RootCAs = pool
		}
		if u.Proxy != "" {
			if err := validateProxy(u.Proxy); err != nil {
				return nil, fmt.Errorf("transport for upstream %s: %w", u.Name, err)
			}
			pu, _ := url.Parse(u.Proxy)
			ht.Proxy = http.ProxyURL(pu)
		}
		base = ht
	}
	rt := &retryTransport{next: base, policy: p}
	if u.RateLimit > 0 {
		rt.limiter = newBucket(u.RateLimit, p.now)
	}
	return rt, nil
}

type retryTransport struct {
	next    http.RoundTripper
	policy  retryPolicy
	limiter *bucket // nil: unlimited
}

// maxErrorBody bounds how much of a last refused answer goes in the error.
const maxErrorBody = 512

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	for attempt := 1; ; attempt++ {
		if t.limiter != nil {
			if err := t.limiter.wait(ctx, t.policy.sleep); err != nil {
				return nil, fmt.Errorf("%s %s: wait for rate limit: %w", req.Method, redact(req.URL), err)
			}
		}
		try := req
		if attempt > 1 {
			try = req.Clone(ctx)
			if req.GetBody != nil {
				body, err := req.GetBody()
				if err != nil {
					return nil, fmt.Errorf("%s %s: replay body: %w", req.Method, redact(req.URL), err)
				}
				try.Body = body
			}
		}
		resp, err := t.next.RoundTrip(try)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable {
			return resp, nil
		}
		if !replayable {
			return resp, nil
		}
		if attempt >= t.policy.attempts {
			snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
			_ = resp.Body.Close()
			msg := fmt.Sprintf("%s %s: %s after %d attempts", req.Method, redact(req.URL), resp.Status, attempt)
			if s := strings.TrimSpace(string(snippet)); s != "" {
				msg += ": " + s
			}
			return nil, errors.New(msg)
		}
		wait := t.delay(resp.Header.Get("Retry-After"), attempt)
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
		if err := t.policy.sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("%s %s: %s, retry cancelled: %w", req.Method, redact(req.URL), resp.Status, err)
		}
	}
}

// delay is the wait before the try after attempt: what Retry-After asks
// (seconds or an HTTP date), else an exponential backoff with jitter;
// capped at maxWait either way.
func (t *retryTransport) delay(retryAfter string, attempt int) time.Duration {
	p := t.policy
	d, ok := parseRetryAfter(retryAfter, p.now())
	if !ok {
		d = p.baseDelay << (attempt - 1)
		if d <= 0 || d > p.maxWait { // overflow or past the cap
			d = p.maxWait
		}
		d = d/2 + rand.N(d/2+1) // jitter: between half and all of it
	}
	return min(d, p.maxWait)
}

func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return 0, false
		}
		return time.Duration(s) * time.Second, true
	}
	at, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(at.Sub(now), 0), true
}

// redact drops the user info and query of u (they may hold secrets).
func redact(u *url.URL) string {
	c := *u
	c.User, c.RawQuery = nil, ""
	return c.String()
}

// bucket is a token bucket: rate tokens a second, up to burst saved.
type bucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
	now    func() time.Time
}

func newBucket(rate float64, now func() time.Time) *bucket {
	burst := max(1, float64(int(rate)))
	return &bucket{rate: rate, burst: burst, tokens: burst, last: now(), now: now}
}

// wait takes a token, sleeping until there is one. Waiters queue: each
// takes its token ahead and sleeps its share.
func (b *bucket) wait(ctx context.Context, sleep func(context.Context, time.Duration) error) error {
	b.mu.Lock()
	now := b.now()
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	b.tokens--
	var d time.Duration
	if b.tokens < 0 {
		d = time.Duration(-b.tokens / b.rate * float64(time.Second))
	}
	b.mu.Unlock()
	if d == 0 {
		return ctx.Err()
	}
	return sleep(ctx, d)
}
