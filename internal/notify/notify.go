// Package notify sends webhook notifications about acquisition events (an
// image promoted, blocked, failed, demoted or flagged) to chat systems and
// other receivers: a JSON object with the event's fields and a one-line,
// Slack-compatible text, or only the text for Slack incoming webhooks.
package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/cssc-project/cssc/internal/version"
)

// The event kinds.
const (
	KindPromoted = "acquisition.promoted"
	KindBlocked  = "acquisition.blocked"
	KindFailed   = "acquisition.failed"
	KindDemoted  = "image.demoted"
	KindFlagged  = "image.flagged"
)

// Defaults of Options.
const (
	DefaultTimeout = 10 * time.Second
	DefaultRetries = 3
	DefaultBackoff = time.Second
	// MaxBackoff caps one wait between attempts, including a receiver's
	// Retry-After.
	MaxBackoff = time.Minute
)

// SignatureHeader carries "sha256=" and the hex HMAC-SHA256 of the body
// under Options.Secret.
const SignatureHeader = "X-Cssc-Signature"

// Event is one thing worth telling people about.
type Event struct {
	// Kind is one of the Kind constants.
	Kind string
	// Time is when it happened; zero means when Notify is called.
	Time time.Time
	// AcquisitionID identifies the acquisition.
	AcquisitionID string
	// Source is the upstream reference, e.g. "docker.io/library/nginx:1.27".
	Source string
	// Image is the full reference in cssc (golden or quarantine).
	Image string
	// Digest is the image's digest.
	Digest string
	// RiskScore is the risk score; -1 when unknown.
	RiskScore int
	// Reasons say why (deny reasons, the error).
	Reasons []string
	// URL is where to look (the acquisition in the API); optional.
	URL string
}

// payload is the JSON body sent to generic receivers.
type payload struct {
	Kind          string   `json:"kind"`
	Time          string   `json:"time"`
	AcquisitionID string   `json:"acquisition_id"`
	Source        string   `json:"source"`
	Image         string   `json:"image"`
	Digest        string   `json:"digest"`
	RiskScore     int      `json:"risk_score"`
	Reasons       []string `json:"reasons"`
	URL           string   `json:"url,omitempty"`
	Text          string   `json:"text"`
}

// slackPayload is the body sent to Slack incoming webhooks.
type slackPayload struct {
	Text string `json:"text"`
}

// Options tune a Notifier; the zero value is usable.
type Options struct {
	// Client sends the requests; nil means a new http.Client that does
	// not follow redirects (a 3xx is a refusal: the body and its
	// signature go only where they were configured to).
	Client *http.Client
	// Timeout bounds one attempt; zero means DefaultTimeout.
	Timeout time.Duration
	// Retries is the number of retries after the first attempt; zero
	// means DefaultRetries, negative means none.
	Retries int
	// Backoff is the first wait between attempts, doubled at each retry
	// (with jitter, at most MaxBackoff); zero means DefaultBackoff.
	Backoff time.Duration
	// Logger receives one line per failed attempt; nil discards.
	Logger *slog.Logger
	// Secret, when set, signs every body: SignatureHeader is
	// "sha256=<hex HMAC-SHA256 of the body>".
	Secret []byte
}

// target is one receiver.
type target struct {
	url string
	// redacted is scheme://host: webhook URLs often hold their token in
	// the path or query (Slack's do), so logs and errors show no more.
	redacted string
	slack    bool
}

// Notifier sends events to a fixed set of webhooks. It is safe for
// concurrent use.
type Notifier struct {
	targets []target
	client  *http.Client
	timeout time.Duration
	retries int
	backoff time.Duration
	log     *slog.Logger
	secret  []byte
}

// New checks the webhook URLs (http or https, with a host) and returns a
// Notifier for them; no URLs gives a Notifier that sends nothing. A URL
// whose host is hooks.slack.com, or with the query parameter format=slack
// (removed before sending), receives Slack's form: only {"text": …}.
func New(urls []string, opts Options) (*Notifier, error) {
	if opts.Timeout < 0 {
		return nil, fmt.Errorf("notify: negative timeout %s", opts.Timeout)
	}
	if opts.Backoff < 0 {
		return nil, fmt.Errorf("notify: negative backoff %s", opts.Backoff)
	}
	n := &Notifier{
		client:  opts.Client,
		timeout: opts.Timeout,
		retries: opts.Retries,
		backoff: opts.Backoff,
		log:     opts.Logger,
		secret:  bytes.Clone(opts.Secret),
	}
	if n.client == nil {
		n.client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if n.timeout == 0 {
		n.timeout = DefaultTimeout
	}
	switch {
	case n.retries == 0:
		n.retries = DefaultRetries
	case n.retries < 0:
		n.retries = 0
	}
	if n.backoff == 0 {
		n.backoff = DefaultBackoff
	}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	for i, raw := range urls {
		t, err := parseTarget(raw)
		if err != nil {
			return nil, fmt.Errorf("notify: webhook %d: %w", i+1, err)
		}
		n.targets = append(n.targets, t)
	}
	return n, nil
}

func parseTarget(raw string) (target, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		// url.Error repeats the URL, which may hold a token.
		return target{}, errors.New("not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return target{}, fmt.Errorf("scheme %q: want an http:// or https:// URL", u.Scheme)
	}
	if u.Hostname() == "" {
		return target{}, errors.New("no host: want an http:// or https:// URL")
	}
	t := target{redacted: u.Scheme + "://" + u.Host, slack: strings.EqualFold(u.Hostname(), "hooks.slack.com")}
	q := u.Query()
	if f, ok := q["format"]; ok && len(f) == 1 && f[0] == "slack" {
		t.slack = true
		q.Del("format")
		u.RawQuery = q.Encode()
	}
	u.Fragment, u.RawFragment = "", ""
	t.url = u.String()
	return t, nil
}

// Notify sends e to every webhook, at the same time, and returns when all
// are done: nil when every one accepted it (2xx), else the joined errors.
// Network errors, timeouts, 5xx, 408 and 429 are retried with backoff
// (honouring Retry-After up to MaxBackoff); other answers are not.
// Cancelling ctx stops the retries.
func (n *Notifier) Notify(ctx context.Context, e Event) error {
	if len(n.targets) == 0 {
		return nil
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	generic, err := json.Marshal(newPayload(e))
	if err != nil {
		return fmt.Errorf("notify %s: encode: %w", e.Kind, err)
	}
	slack, err := json.Marshal(slackPayload{Text: Text(e)})
	if err != nil {
		return fmt.Errorf("notify %s: encode: %w", e.Kind, err)
	}
	errs := make([]error, len(n.targets))
	var wg sync.WaitGroup
	for i, t := range n.targets {
		body := generic
		if t.slack {
			body = slack
		}
		wg.Go(func() {
			if err := n.send(ctx, t, body); err != nil {
				errs[i] = fmt.Errorf("notify %s to %s: %w", e.Kind, t.redacted, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func newPayload(e Event) payload {
	reasons := e.Reasons
	if reasons == nil {
		reasons = []string{}
	}
	return payload{
		Kind:          e.Kind,
		Time:          e.Time.UTC().Format(time.RFC3339Nano),
		AcquisitionID: e.AcquisitionID,
		Source:        e.Source,
		Image:         e.Image,
		Digest:        e.Digest,
		RiskScore:     e.RiskScore,
		Reasons:       reasons,
		URL:           e.URL,
		Text:          Text(e),
	}
}

// send POSTs body to t, retrying what may succeed later.
func (n *Notifier) send(ctx context.Context, t target, body []byte) error {
	var sig string
	if len(n.secret) > 0 {
		mac := hmac.New(sha256.New, n.secret)
		mac.Write(body)
		sig = "sha256=" + hex.EncodeToString(mac.Sum(nil))
	}
	wait := n.backoff
	for attempt := 1; ; attempt++ {
		retryAfter, err := n.attempt(ctx, t, body, sig)
		if err == nil {
			n.log.Debug("notification sent", "webhook", t.redacted, "attempt", attempt)
			return nil
		}
		var perm permanentError
		if errors.As(err, &perm) {
			return perm.err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("attempt %d: %w", attempt, errors.Join(ctx.Err(), err))
		}
		if attempt > n.retries {
			return fmt.Errorf("%d attempts, the last: %w", attempt, err)
		}
		d := jitter(wait)
		if retryAfter > d {
			d = min(retryAfter, MaxBackoff)
		}
		n.log.Warn("notification failed, retrying", "webhook", t.redacted, "attempt", attempt, "retry_in", d, "err", err)
		timer := time.NewTimer(d)
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("attempt %d: %w (gave up: %w)", attempt, err, ctx.Err())
		case <-timer.C:
		}
		wait = min(2*wait, MaxBackoff)
	}
}

// permanentError is a refusal that retrying will not change.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }

// attempt makes one request. It returns the receiver's Retry-After, if
// any, with a retryable error, or a permanentError.
func (n *Notifier) attempt(ctx context.Context, t target, body []byte, sig string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		return 0, permanentError{errors.New("cannot build the request")}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "cssc/"+version.Version)
	if sig != "" {
		req.Header.Set(SignatureHeader, sig)
	}
	resp, err := n.client.Do(req)
	if err != nil {
		return 0, transportError(err, n.timeout)
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	code := resp.StatusCode
	if code >= 200 && code < 300 {
		return 0, nil
	}
	err = fmt.Errorf("HTTP %s", resp.Status)
	if s := printable(string(msg)); s != "" {
		err = fmt.Errorf("HTTP %s: %s", resp.Status, s)
	}
	if code >= 500 || code == http.StatusTooManyRequests || code == http.StatusRequestTimeout {
		return parseRetryAfter(resp.Header.Get("Retry-After")), err
	}
	return 0, permanentError{err}
}

// transportError describes a failed request without its URL, which
// url.Error would repeat.
func transportError(err error, timeout time.Duration) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("no answer within %s: %w", timeout, err)
	}
	return err
}

// parseRetryAfter reads a Retry-After of delay seconds; dates and
// nonsense are ignored.
func parseRetryAfter(v string) time.Duration {
	s, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || s <= 0 {
		return 0
	}
	return min(time.Duration(s)*time.Second, MaxBackoff)
}

// jitter returns a duration in [d/2, d].
func jitter(d time.Duration) time.Duration {
	if d < 2 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

// printable keeps a receiver's answer to one short line of printable text.
func printable(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return ' '
	}, strings.ToValidUTF8(s, "?"))
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "") + "…"
	}
	return s
}
