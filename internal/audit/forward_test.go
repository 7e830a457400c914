package audit

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// rfc5424 is <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG.
var rfc5424 = regexp.MustCompile(`^<(\d{1,3})>1 (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) (\S{1,255}) (\S{1,48}) (\S{1,128}) (\S{1,32}) (\[\S+(?: [a-z_]+="(?:[^"\\\]]|\\.)*")*\]) (.*)$`)

func checkSyslog(t *testing.T, msg string, wantSeq int64) {
	t.Helper()
	m := rfc5424.FindStringSubmatch(msg)
	if m == nil {
		t.Fatalf("not an RFC 5424 message: %q", msg)
	}
	pri, _ := strconv.Atoi(m[1])
	if pri/8 != facilityAudit || m[4] != "cssc" {
		t.Errorf("PRI %d, app %q", pri, m[4])
	}
	if _, err := time.Parse(time.RFC3339Nano, m[2]); err != nil {
		t.Errorf("timestamp %q: %v", m[2], err)
	}
	if !strings.HasPrefix(m[7], "["+sdID+" ") || !strings.Contains(m[7], ` seq="`+strconv.FormatInt(wantSeq, 10)+`"`) {
		t.Errorf("structured data %q, want seq %d", m[7], wantSeq)
	}
	var e Entry
	if err := json.Unmarshal([]byte(m[8]), &e); err != nil || e.Seq != wantSeq || e.Hash == "" || m[6] != e.Action {
		t.Errorf("message %q (MSGID %q): %+v, %v", m[8], m[6], e, err)
	}
	if e.Decision == Deny && pri%8 != 4 {
		t.Errorf("a denial has severity %d, want 4 (warning)", pri%8)
	}
}

func TestSyslogUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = pc.Close() }()
	env := newEnv(t)
	opts := env.opts()
	opts.Syslog = "udp://" + pc.LocalAddr().String()
	l := openLog(t, openStore(t, env.db, false), opts)
	for i := 1; i <= 4; i++ {
		e := event(i)
		e.Reason = `quote " backslash \ bracket ]`
		if _, err := l.Record(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 65536)
	for seq := int64(1); seq <= 4; seq++ {
		_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		checkSyslog(t, string(buf[:n]), seq)
	}
}

func TestSyslogTCPReconnects(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	msgs := make(chan string, 100)
	go func() {
		for first := true; ; first = false {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r := bufio.NewReader(c)
			for {
				// octet counting: MSG-LEN SP SYSLOG-MSG
				n, err := r.ReadString(' ')
				if err != nil {
					break
				}
				size, err := strconv.Atoi(strings.TrimSpace(n))
				if err != nil {
					msgs <- "bad frame " + n
					break
				}
				b := make([]byte, size)
				if _, err := io.ReadFull(r, b); err != nil {
					break
				}
				msgs <- string(b)
				if first {
					break // drop the first connection after one message
				}
			}
			_ = c.Close()
		}
	}()
	env := newEnv(t)
	opts := env.opts()
	opts.Syslog = "tcp://" + ln.Addr().String()
	l := openLog(t, openStore(t, env.db, false), opts)
	for i := 1; i <= 6; i++ {
		if _, err := l.Record(context.Background(), event(i)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	seen := map[int64]bool{}
	deadline := time.After(10 * time.Second)
	for len(seen) < 6 {
		select {
		case m := <-msgs:
			var e Entry
			checkSyslog(t, m, seqOf(m))
			_ = json.Unmarshal([]byte(m[strings.Index(m, "] ")+2:]), &e)
			seen[e.Seq] = true
		case <-deadline:
			t.Fatalf("received %v of 6 events", seen)
		}
	}
}

func seqOf(msg string) int64 {
	_, rest, _ := strings.Cut(msg, ` seq="`)
	s, _, _ := strings.Cut(rest, `"`)
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

func TestWebhookRetriesAndKeepsOrder(t *testing.T) {
	var (
		mu       sync.Mutex
		requests int
		got      []int64
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		requests++
		if requests <= 2 {
			http.Error(w, "SIEM busy", http.StatusServiceUnavailable)
			return
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/x-ndjson" {
			t.Errorf("content type %q", ct)
		}
		dec := json.NewDecoder(r.Body)
		for {
			var e Entry
			if err := dec.Decode(&e); err == io.EOF {
				break
			} else if err != nil {
				t.Errorf("bad line: %v", err)
				break
			}
			got = append(got, e.Seq)
		}
	}))
	defer srv.Close()
	env := newEnv(t)
	opts := env.opts()
	opts.Webhook = srv.URL + "/events"
	l := openLog(t, openStore(t, env.db, false), opts)
	ctx := context.Background()
	for i := 1; i <= 20; i++ {
		if i%2 == 0 {
			l.RecordAsync(event(i))
		} else if _, err := l.Record(ctx, event(i)); err != nil {
			t.Fatal(err)
		}
	}
	closeCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := l.Close(closeCtx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if requests < 3 || len(got) != 20 {
		t.Fatalf("%d requests, events %v", requests, got)
	}
	for i, s := range got {
		if s != int64(i+1) {
			t.Fatalf("events arrived as %v, want 1..20 once each in order", got)
		}
	}
	if l.Stats().ForwardDropped != 0 {
		t.Fatalf("stats %+v", l.Stats())
	}
}

func TestWebhookRefusalIsNotRetriedForever(t *testing.T) {
	var (
		mu       sync.Mutex
		requests int
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		requests++
		mu.Unlock()
		http.Error(w, "bad token", http.StatusForbidden)
	}))
	defer srv.Close()
	env := newEnv(t)
	opts := env.opts()
	opts.Webhook = srv.URL
	l := openLog(t, openStore(t, env.db, false), opts)
	if _, err := l.Record(context.Background(), event(1)); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if mu.Lock(); requests != 1 || l.Stats().ForwardDropped != 1 {
		t.Fatalf("%d requests, stats %+v", requests, l.Stats())
	}
	mu.Unlock()
}

func TestForwardingNeverBlocksRecording(t *testing.T) {
	// A receiver that takes the request and never answers.
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	env := newEnv(t)
	opts := env.opts()
	opts.Webhook = srv.URL
	opts.ForwardQueueSize = 8
	l := openLog(t, openStore(t, env.db, false), opts)
	ctx := context.Background()
	start := time.Now()
	for i := range 100 {
		if _, err := l.Record(ctx, event(i)); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("recording took %v behind a stuck receiver", d)
	}
	if l.Stats().ForwardDropped == 0 {
		t.Fatalf("nothing counted as not forwarded: %+v", l.Stats())
	}
	closeCtx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	start = time.Now()
	if err := l.Close(closeCtx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Close took %v with a stuck receiver and a 200ms deadline", d)
	}
	if got := l.Stats().ForwardDropped; got != 100 {
		t.Fatalf("%d events counted as not forwarded, want all 100", got)
	}
}

func TestForwardTargetsAreChecked(t *testing.T) {
	env := newEnv(t)
	s := openStore(t, env.db, false)
	for _, o := range []Options{
		{Syslog: "syslog.example:514"},
		{Syslog: "http://syslog.example:514"},
		{Syslog: "udp://syslog.example"},
		{Webhook: "ftp://siem.example/"},
		{Webhook: "://"},
	} {
		o.KeyPath = env.key
		if l, err := Open(context.Background(), s, o); err == nil {
			_ = l.Close(context.Background())
			t.Errorf("Open accepted %+v", o)
		}
	}
}
