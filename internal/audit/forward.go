package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// A forwarder sends stored events to one receiver (syslog, a webhook) in
// order, from its own bounded queue: enqueue never blocks, a full queue
// counts the event as not forwarded (it stays in the database), and a
// failing receiver is retried with exponential backoff.
type forwarder struct {
	name     string
	q        chan Entry
	batchMax int
	sender   sender
	log      *slog.Logger
	retryMin time.Duration
	retryMax time.Duration
	dropped  atomic.Int64
	stop     chan struct{}
	done     chan struct{}
	abortCtx context.Context
	abort    context.CancelFunc
}

// sender delivers a batch in order and says how many of its events were
// delivered; the rest are tried again unless err is permanent.
type sender interface {
	send(ctx context.Context, batch []Entry) (int, error)
	close()
}

// permanentError is a refusal that retrying will not change.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

func newForwarders(opts *Options) ([]*forwarder, error) {
	var out []*forwarder
	if opts.Syslog != "" {
		s, err := newSyslogSender(opts.Syslog)
		if err != nil {
			return nil, err
		}
		out = append(out, startForwarder("syslog "+opts.Syslog, s, opts))
	}
	if opts.Webhook != "" {
		w, err := newWebhookSender(opts.Webhook)
		if err != nil {
			for _, f := range out {
				f.close(context.Background())
			}
			return nil, err
		}
		out = append(out, startForwarder("webhook "+w.redacted, w, opts))
	}
	return out, nil
}

func startForwarder(name string, s sender, opts *Options) *forwarder {
	ctx, cancel := context.WithCancel(context.Background())
	f := &forwarder{
		name:     name,
		q:        make(chan Entry, opts.ForwardQueueSize),
		batchMax: 256,
		sender:   s,
		log:      opts.Logger.With("forwarder", name),
		retryMin: opts.retryMin,
		retryMax: 30 * time.Second,
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		abortCtx: ctx,
		abort:    cancel,
	}
	go f.run()
	return f
}

func (f *forwarder) enqueue(e Entry) {
	select {
	case f.q <- e:
	default:
		if f.dropped.Add(1) == 1 {
			f.log.Warn("audit forwarding queue full: events are not forwarded (they are in the database)")
		}
	}
}

// close delivers what is queued until ctx is done, then gives up.
func (f *forwarder) close(ctx context.Context) {
	close(f.stop)
	select {
	case <-f.done:
	case <-ctx.Done():
		f.abort()
		<-f.done
	}
	f.abort()
	f.sender.close()
	if n := f.dropped.Load(); n > 0 {
		f.log.Warn("audit events not forwarded", "count", n)
	}
}

func (f *forwarder) run() {
	defer close(f.done)
	batch := make([]Entry, 0, f.batchMax)
	for {
		select {
		case e := <-f.q:
			batch = append(batch, e)
		case <-f.stop:
		}
	fill:
		for len(batch) < f.batchMax {
			select {
			case e := <-f.q:
				batch = append(batch, e)
			default:
				break fill
			}
		}
		if len(batch) == 0 {
			return // stopped and drained
		}
		f.deliver(batch)
		batch = batch[:0]
	}
}

// deliver sends batch until it is through, refused for good, or the
// forwarder is aborted.
func (f *forwarder) deliver(batch []Entry) {
	wait := f.retryMin
	failing := false
	for {
		n, err := f.sender.send(f.abortCtx, batch)
		batch = batch[n:]
		if err == nil {
			if failing {
				f.log.Info("audit forwarding works again")
			}
			return
		}
		var perm permanentError
		if errors.As(err, &perm) {
			f.dropped.Add(int64(len(batch)))
			f.log.Error("audit receiver refused events; they are not forwarded", "events", len(batch), "err", err)
			return
		}
		if !failing {
			f.log.Warn("audit forwarding failed; retrying with backoff", "err", err)
			failing = true
		}
		select {
		case <-time.After(wait):
		case <-f.abortCtx.Done():
			f.dropped.Add(int64(len(batch)))
			return
		}
		wait = min(2*wait, f.retryMax)
	}
}

// syslogSender writes RFC 5424 messages over UDP (one per datagram) or
// TCP (octet-counting framing, RFC 6587), reconnecting after errors.
type syslogSender struct {
	network, addr string
	hostname      string
	pid           int
	conn          net.Conn
	buf           []byte
}

func newSyslogSender(target string) (*syslogSender, error) {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "udp" && u.Scheme != "tcp") || u.Host == "" || u.Port() == "" {
		return nil, fmt.Errorf("audit syslog %q: want udp://host:port or tcp://host:port", target)
	}
	host, _ := os.Hostname()
	return &syslogSender{network: u.Scheme, addr: u.Host, hostname: sdName(host, 255), pid: os.Getpid()}, nil
}

func (s *syslogSender) send(ctx context.Context, batch []Entry) (int, error) {
	if s.conn != nil && s.network == "tcp" && !alive(s.conn) {
		_ = s.conn.Close()
		s.conn = nil
	}
	if s.conn == nil {
		d := net.Dialer{Timeout: 10 * time.Second}
		c, err := d.DialContext(ctx, s.network, s.addr)
		if err != nil {
			return 0, fmt.Errorf("syslog %s://%s: %w", s.network, s.addr, err)
		}
		s.conn = c
	}
	for i := range batch {
		msg := formatSyslog(s.buf[:0], &batch[i], s.hostname, s.pid)
		s.buf = msg
		if s.network == "tcp" {
			frame := make([]byte, 0, len(msg)+8)
			frame = strconv.AppendInt(frame, int64(len(msg)), 10)
			frame = append(frame, ' ')
			msg = append(frame, msg...)
		}
		_ = s.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := s.conn.Write(msg); err != nil {
			_ = s.conn.Close()
			s.conn = nil
			return i, fmt.Errorf("syslog %s://%s: %w", s.network, s.addr, err)
		}
	}
	return len(batch), nil
}

// alive reports whether the receiver has not closed c. A receiver sends
// nothing, so end of file (or an error) waiting to be read means it went
// away; writing first would lose the message in a socket the peer shut.
// It peeks without blocking.
func alive(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	up := true
	err = rc.Read(func(fd uintptr) bool {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		up = n > 0 || errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EINTR)
		return true
	})
	return err == nil && up
}

func (s *syslogSender) close() {
	if s.conn != nil {
		_ = s.conn.Close()
		s.conn = nil
	}
}

// syslog facility "log audit" (13), RFC 5424 section 6.2.1.
const facilityAudit = 13

// sdID is the structured data element of cssc's messages. 32473 is the
// enterprise number RFC 5612 reserves for documentation and examples.
const sdID = "cssc@32473"

// formatSyslog appends the RFC 5424 message of e:
//
//	<PRI>1 TIMESTAMP HOSTNAME cssc PROCID MSGID [cssc@32473 seq=".." ...] JSON
//
// MSGID is the action, the structured data the main fields, and the
// message the event as a JSON entry (hashes included).
func formatSyslog(b []byte, e *Entry, hostname string, pid int) []byte {
	sev := 5 // notice
	switch {
	case e.Decision == Error:
		sev = 3
	case e.Decision == Deny || e.Severity == "warning":
		sev = 4
	}
	b = append(b, '<')
	b = strconv.AppendInt(b, facilityAudit*8+int64(sev), 10)
	b = append(b, ">1 "...)
	b = e.Time.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z07:00")
	b = append(b, ' ')
	b = append(b, orNil(hostname)...)
	b = append(b, " cssc "...)
	b = strconv.AppendInt(b, int64(pid), 10)
	b = append(b, ' ')
	b = append(b, orNil(sdName(e.Action, 32))...)
	b = append(b, " ["+sdID...)
	for _, p := range [...][2]string{
		{"seq", strconv.FormatInt(e.Seq, 10)}, {"count", countParam(e.Count)}, {"actor", e.Actor}, {"actor_kind", e.ActorKind},
		{"client_cert", e.ClientCert}, {"source", e.Source}, {"request_id", e.RequestID},
		{"action", e.Action}, {"repo", e.Repo}, {"digest", e.Digest}, {"tag", e.Tag},
		{"target", e.Target}, {"decision", e.Decision}, {"hash", e.Hash},
	} {
		if p[1] == "" {
			continue
		}
		b = append(b, ' ')
		b = append(b, p[0]...)
		b = append(b, `="`...)
		b = appendParamValue(b, p[1])
		b = append(b, '"')
	}
	b = append(b, "] "...)
	j, _ := json.Marshal(e) // an Entry always encodes
	return append(b, j...)
}

// countParam is an event's count as an SD-PARAM, left out when it is 1.
func countParam(n int64) string {
	if n <= 1 {
		return ""
	}
	return strconv.FormatInt(n, 10)
}

// appendParamValue escapes '"', '\' and ']' (RFC 5424 section 6.3.3).
func appendParamValue(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\', ']':
			b = append(b, '\\', c)
		default:
			b = append(b, c)
		}
	}
	return b
}

// sdName keeps the printable US-ASCII of s (no space), at most n bytes:
// what HOSTNAME and MSGID may hold.
func sdName(s string, n int) string {
	out := make([]byte, 0, min(len(s), n))
	for i := 0; i < len(s) && len(out) < n; i++ {
		if c := s[i]; c >= 33 && c <= 126 {
			out = append(out, c)
		}
	}
	return string(out)
}

func orNil(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// webhookSender POSTs batches as JSON lines (application/x-ndjson).
// Network errors, 5xx, 408 and 429 are retried; other refusals are not.
type webhookSender struct {
	url      string
	redacted string
	client   *http.Client
}

func newWebhookSender(target string) (*webhookSender, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, errors.New("audit webhook: not a URL")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("audit webhook %q: want an http:// or https:// URL", u.Redacted())
	}
	return &webhookSender{url: target, redacted: u.Redacted(), client: &http.Client{Timeout: 30 * time.Second}}, nil
}

func (w *webhookSender) send(ctx context.Context, batch []Entry) (int, error) {
	var body bytes.Buffer
	if err := WriteJSONL(&body, batch); err != nil {
		return 0, permanentError{err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, &body)
	if err != nil {
		return 0, permanentError{err}
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := w.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("webhook %s: %w", w.redacted, err)
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	_ = resp.Body.Close()
	switch {
	case resp.StatusCode/100 == 2:
		return len(batch), nil
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests:
		return 0, fmt.Errorf("webhook %s: %s", w.redacted, resp.Status)
	default:
		return 0, permanentError{fmt.Errorf("webhook %s: %s: %s", w.redacted, resp.Status, strings.TrimSpace(string(msg)))}
	}
}

func (w *webhookSender) close() { w.client.CloseIdleConnections() }
