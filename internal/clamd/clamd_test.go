package clamd_test

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/cssc-project/cssc/internal/clamd"
	"github.com/cssc-project/cssc/internal/clamd/clamdtest"
)

func TestNewAddress(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{in: "unix:///run/clamav/clamd.ctl", want: "unix:///run/clamav/clamd.ctl"},
		{in: "/run/clamav/clamd.ctl", want: "unix:///run/clamav/clamd.ctl"},
		{in: "tcp://127.0.0.1:3310", want: "tcp://127.0.0.1:3310"},
		{in: "tcp://127.0.0.1", err: "want tcp://HOST:PORT"},
		{in: "unix://", err: "empty"},
		{in: "clamd.sock", err: "want unix://"},
		{in: "http://x:1", err: "want unix://"},
	}
	for _, tt := range tests {
		c, err := clamd.New(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("New(%q) = %v, want error containing %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("New(%q): %v", tt.in, err)
		}
		if c.Address() != tt.want {
			t.Errorf("New(%q).Address() = %q, want %q", tt.in, c.Address(), tt.want)
		}
	}
}

func TestParseVersion(t *testing.T) {
	tests := []struct {
		in      string
		engine  string
		version string
		db      string
		date    time.Time
		bad     bool
	}{
		{in: "ClamAV 1.4.6", engine: "ClamAV", version: "1.4.6"},
		{in: "ClamAV 1.4.6/27470/Mon Nov 30 09:35:31 2026", engine: "ClamAV", version: "1.4.6", db: "27470",
			date: time.Date(2026, 11, 30, 9, 35, 31, 0, time.UTC)},
		{in: "ClamAV 0.103.11/26000/Tue Sep  5 07:21:02 2023", engine: "ClamAV", version: "0.103.11", db: "26000",
			date: time.Date(2023, 9, 5, 7, 21, 2, 0, time.UTC)},
		{in: "ClamAV 1.4.6/27470", engine: "ClamAV", version: "1.4.6", db: "27470"},
		{in: "ClamAV", bad: true},
		{in: "", bad: true},
		{in: "ClamAV 1.4.6/x1/Mon Nov 30 09:35:31 2026", bad: true},
		{in: "ClamAV 1.4.6/27470/yesterday", bad: true},
	}
	for _, tt := range tests {
		v, err := clamd.ParseVersion(tt.in)
		if tt.bad {
			var pe *clamd.ProtocolError
			if !errors.As(err, &pe) {
				t.Errorf("ParseVersion(%q) = %+v, %v; want a protocol error", tt.in, v, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("ParseVersion(%q): %v", tt.in, err)
		}
		if v.Engine != tt.engine || v.EngineVersion != tt.version || v.DatabaseVersion != tt.db || !v.DatabaseDate.Equal(tt.date) {
			t.Errorf("ParseVersion(%q) = %+v", tt.in, v)
		}
	}
}

func TestScanProtocol(t *testing.T) {
	payload := make([]byte, 3*clamd.ChunkSize+17)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	tests := []struct {
		name    string
		answer  func(conn net.Conn, data []byte)
		want    string // signature
		wantErr string
		errIs   error
	}{
		{name: "clean", answer: func(c net.Conn, _ []byte) { _, _ = io.WriteString(c, "stream: OK\x00") }},
		{name: "found", answer: func(c net.Conn, _ []byte) { _, _ = io.WriteString(c, "stream: Win.Test.EICAR_HDB-1 FOUND\x00") }, want: "Win.Test.EICAR_HDB-1"},
		{name: "limits heuristic is a signature", answer: func(c net.Conn, _ []byte) {
			_, _ = io.WriteString(c, "stream: Heuristics.Limits.Exceeded.MaxFiles FOUND\x00")
		}, want: "Heuristics.Limits.Exceeded.MaxFiles"},
		{name: "clamd error", answer: func(c net.Conn, _ []byte) { _, _ = io.WriteString(c, "stream: Can't create temporary file ERROR\x00") }, wantErr: "clamd answered: stream: Can't create temporary file ERROR"},
		{name: "size limit", answer: func(c net.Conn, _ []byte) { _, _ = io.WriteString(c, "INSTREAM size limit exceeded. ERROR\x00") }, errIs: clamd.ErrTooLarge},
		{name: "garbage", answer: func(c net.Conn, _ []byte) { _, _ = io.WriteString(c, "hello\x00") }, wantErr: `unexpected answer "hello"`},
		{name: "empty signature", answer: func(c net.Conn, _ []byte) { _, _ = io.WriteString(c, "stream:  FOUND\x00") }, wantErr: "protocol error"},
		{name: "cut short", answer: func(c net.Conn, _ []byte) { _, _ = io.WriteString(c, "stream: O") }, wantErr: `unexpected answer "stream: O"`},
		{name: "closed without answer", answer: func(net.Conn, []byte) {}, wantErr: "connection closed without an answer"},
		{name: "two answers", answer: func(c net.Conn, _ []byte) { _, _ = io.WriteString(c, "stream: OK\x00stream: OK\x00") }, wantErr: "protocol error"},
		{name: "endless answer", answer: func(c net.Conn, _ []byte) { _, _ = c.Write(bytes.Repeat([]byte("A"), 64<<10)) }, wantErr: "protocol error"},
	}
	methods := map[string]func(c *clamd.Client, ctx context.Context, data []byte) (clamd.Result, error){
		"Scan": func(c *clamd.Client, ctx context.Context, data []byte) (clamd.Result, error) {
			return c.Scan(ctx, bytes.NewReader(data))
		},
		"ScanBytes": func(c *clamd.Client, ctx context.Context, data []byte) (clamd.Result, error) {
			return c.ScanBytes(ctx, data)
		},
	}
	for _, tt := range tests {
		for method, scan := range methods {
			t.Run(tt.name+"/"+method, func(t *testing.T) {
				got := make(chan []byte, 1)
				addr := clamdtest.StartServer(t, func(conn net.Conn, r io.Reader, cmd string) {
					if cmd != "INSTREAM" {
						_, _ = io.WriteString(conn, "UNKNOWN COMMAND\x00")
						return
					}
					data, err := clamdtest.ReadStream(r)
					if err != nil {
						got <- nil
						return
					}
					got <- data
					tt.answer(conn, data)
				})
				c, err := clamd.New(addr)
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				res, err := scan(c, ctx, payload)
				select {
				case data := <-got:
					if !bytes.Equal(data, payload) {
						t.Fatalf("clamd received %d bytes, want the %d sent", len(data), len(payload))
					}
				case <-ctx.Done():
					t.Fatalf("clamd received nothing (Scan = %+v, %v)", res, err)
				}
				switch {
				case tt.errIs != nil:
					if !errors.Is(err, tt.errIs) {
						t.Fatalf("Scan = %+v, %v; want %v", res, err, tt.errIs)
					}
				case tt.wantErr != "":
					if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
						t.Fatalf("Scan = %+v, %v; want error containing %q", res, err, tt.wantErr)
					}
				default:
					if err != nil {
						t.Fatalf("Scan: %v", err)
					}
					if res.Signature != tt.want || res.Bytes != int64(len(payload)) {
						t.Fatalf("Scan = %+v, want signature %q and %d bytes", res, tt.want, len(payload))
					}
				}
			})
		}
	}
}

func TestScanTimesOut(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	addr := clamdtest.StartServer(t, func(conn net.Conn, r io.Reader, cmd string) {
		_, _ = clamdtest.ReadStream(r)
		<-release // never answers in time
	})
	c, _ := clamd.New(addr)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := c.Scan(ctx, strings.NewReader("x"))
	if err == nil || !strings.Contains(err.Error(), "timed out") || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Scan = %v, want a timeout", err)
	}
}

func TestUnreachable(t *testing.T) {
	c, _ := clamd.New("unix:///nonexistent/clamd.sock")
	if _, err := c.Version(context.Background()); err == nil || !strings.Contains(err.Error(), "connect to clamd at unix:///nonexistent/clamd.sock") {
		t.Fatalf("Version = %v, want a connect error naming the address", err)
	}
	if _, err := c.Scan(context.Background(), strings.NewReader("x")); err == nil {
		t.Fatal("Scan of an unreachable clamd succeeded")
	}
}

// TestRealClamd talks to a real clamd with the test database.
func TestRealClamd(t *testing.T) {
	for _, tcp := range []bool{false, true} {
		name := "unix"
		if tcp {
			name = "tcp"
		}
		t.Run(name, func(t *testing.T) {
			d := clamdtest.Start(t, clamdtest.Options{TCP: tcp, Config: []string{"StreamMaxLength 1M"}})
			c, err := clamd.New(d.Addr)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			v, err := c.Version(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if v.Engine != "ClamAV" || v.EngineVersion == "" || v.DatabaseVersion != "" || !v.DatabaseDate.IsZero() {
				t.Fatalf("Version = %+v; want ClamAV without an official database", v)
			}
			var zipped bytes.Buffer
			zw := zip.NewWriter(&zipped)
			w, _ := zw.Create("dir/eicar.com")
			_, _ = w.Write(clamdtest.EICAR())
			_ = zw.Close()
			big := make([]byte, 2<<20)
			rnd := rand.New(rand.NewPCG(1, 2))
			for i := range big {
				big[i] = byte(rnd.Uint32())
			}
			tests := []struct {
				name  string
				data  []byte
				want  string
				errIs error
			}{
				{name: "clean", data: []byte("just a text file\n")},
				{name: "empty", data: nil},
				{name: "eicar", data: clamdtest.EICAR(), want: clamdtest.EICARHash},
				{name: "eicar with a byte more is another file", data: append(clamdtest.EICAR(), '\n')},
				{name: "marker", data: []byte("aaa " + clamdtest.Marker + " bbb"), want: clamdtest.MarkerSig},
				{name: "eicar in zip", data: zipped.Bytes(), want: clamdtest.EICARHash},
				{name: "over StreamMaxLength", data: big, errIs: clamd.ErrTooLarge},
			}
			for _, tt := range tests {
				res, err := c.Scan(ctx, bytes.NewReader(tt.data))
				if res2, err2 := c.ScanBytes(ctx, tt.data); res2.Signature != res.Signature || (err2 == nil) != (err == nil) {
					t.Errorf("%s: ScanBytes = %+v, %v; Scan = %+v, %v", tt.name, res2, err2, res, err)
				}
				if tt.errIs != nil {
					if !errors.Is(err, tt.errIs) {
						t.Errorf("%s: Scan = %+v, %v; want %v", tt.name, res, err, tt.errIs)
					}
					continue
				}
				if err != nil {
					t.Errorf("%s: Scan: %v", tt.name, err)
					continue
				}
				if res.Signature != tt.want {
					t.Errorf("%s: Scan found %q, want %q", tt.name, res.Signature, tt.want)
				}
			}
		})
	}
}

// FuzzParseVersion: whatever a daemon answers, ParseVersion returns a
// version with an engine or a protocol error, and never panics.
func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{"ClamAV 1.4.6", "ClamAV 1.4.6/27470/Mon Nov 30 09:35:31 2026", "ClamAV 1.4.6/27470", "/", "a b/1/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := clamd.ParseVersion(s)
		if err != nil {
			var pe *clamd.ProtocolError
			if !errors.As(err, &pe) || pe.Reply != s {
				t.Fatalf("ParseVersion(%q) error %v is not a protocol error naming the answer", s, err)
			}
			return
		}
		if v.Engine == "" || v.EngineVersion == "" || v.Raw != s {
			t.Fatalf("ParseVersion(%q) = %+v", s, v)
		}
		if v.DatabaseVersion != "" && strings.Trim(v.DatabaseVersion, "0123456789") != "" {
			t.Fatalf("ParseVersion(%q): database version %q is not a number", s, v.DatabaseVersion)
		}
	})
}

// truncated reads n bytes, then fails as archive/tar does for a cut entry.
type truncated struct{ n int }

func (t *truncated) Read(p []byte) (int, error) {
	if t.n == 0 {
		return 0, io.ErrUnexpectedEOF
	}
	k := min(len(p), t.n)
	t.n -= k
	return k, nil
}

// A reader that fails is never a clean file, even with
// io.ErrUnexpectedEOF, which io.ReadFull would take for the end.
func TestScanReadErrorIsNotTheEnd(t *testing.T) {
	addr := clamdtest.StartServer(t, func(conn net.Conn, r io.Reader, cmd string) {
		if _, err := clamdtest.ReadStream(r); err == nil {
			_, _ = io.WriteString(conn, "stream: OK\x00")
		}
	})
	c, _ := clamd.New(addr)
	for _, n := range []int{0, 1000, clamd.ChunkSize, 3 * clamd.ChunkSize / 2} {
		res, err := c.Scan(context.Background(), &truncated{n: n})
		var re *clamd.ReadError
		if !errors.As(err, &re) || !errors.Is(err, io.ErrUnexpectedEOF) || res.Found() {
			t.Errorf("%d bytes then ErrUnexpectedEOF: Scan = %+v, %v; want a read error", n, res, err)
		}
	}
}
