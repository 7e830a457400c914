// Package clamd is a client for the ClamAV daemon's socket protocol
// (clamd(8), "COMMANDS"): PING, VERSION and INSTREAM, each on its own
// connection, with the null-terminated ("z"-prefixed) command form.
//
// INSTREAM sends a file as chunks, each a 4-byte big-endian length and
// that many bytes, ended by a zero-length chunk; clamd answers
// "stream: OK", "stream: <signature> FOUND" or "<message> ERROR", and
// closes the connection with "INSTREAM size limit exceeded. ERROR" when
// the stream passes its StreamMaxLength.
package clamd

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"
)

// ErrTooLarge is returned by Scan when the file is longer than clamd's
// StreamMaxLength: it was not scanned.
var ErrTooLarge = errors.New("larger than clamd's StreamMaxLength: not scanned")

// ReplyError is clamd's own error answer ("… ERROR"), e.g. when it could
// not create a temporary file.
type ReplyError struct{ Reply string }

func (e *ReplyError) Error() string { return "clamd answered: " + e.Reply }

// ProtocolError is an answer that does not follow the protocol.
type ProtocolError struct{ Reply string }

func (e *ProtocolError) Error() string {
	return fmt.Sprintf("clamd protocol error: unexpected answer %q", e.Reply)
}

// maxReply bounds an answer; clamd's are far shorter (VERSIONCOMMANDS,
// the longest used here, is about 200 bytes).
const maxReply = 16 << 10

// ChunkSize is the INSTREAM chunk length: large enough that the framing
// costs nothing, small enough to stream.
const ChunkSize = 64 << 10

// Client talks to one clamd. It is safe for concurrent use: every call
// opens its own connection.
type Client struct {
	network string
	address string
	dialer  net.Dialer
}

// New returns a client for addr: "unix:///run/clamav/clamd.ctl",
// "tcp://127.0.0.1:3310", or a bare socket path.
func New(addr string) (*Client, error) {
	c := &Client{dialer: net.Dialer{Timeout: 10 * time.Second}}
	switch {
	case strings.HasPrefix(addr, "unix://"):
		c.network, c.address = "unix", strings.TrimPrefix(addr, "unix://")
	case strings.HasPrefix(addr, "tcp://"):
		c.network, c.address = "tcp", strings.TrimPrefix(addr, "tcp://")
		if _, _, err := net.SplitHostPort(c.address); err != nil {
			return nil, fmt.Errorf("clamd address %q: want tcp://HOST:PORT: %w", addr, err)
		}
	case strings.HasPrefix(addr, "/"):
		c.network, c.address = "unix", addr
	default:
		return nil, fmt.Errorf("clamd address %q: want unix:///path/to/clamd.sock, tcp://HOST:PORT or an absolute socket path", addr)
	}
	if c.address == "" {
		return nil, fmt.Errorf("clamd address %q: empty", addr)
	}
	return c, nil
}

// Address is the daemon's address as a URL ("unix:///…", "tcp://…").
func (c *Client) Address() string { return c.network + "://" + c.address }

// Ping checks that clamd answers.
func (c *Client) Ping(ctx context.Context) error {
	reply, err := c.command(ctx, "PING")
	if err != nil {
		return err
	}
	if reply != "PONG" {
		return &ProtocolError{Reply: reply}
	}
	return nil
}

// Version is what clamd says of itself and its signature database.
type Version struct {
	// Engine is "ClamAV"; EngineVersion e.g. "1.4.6".
	Engine        string
	EngineVersion string
	// DatabaseVersion is the official daily database's version, e.g.
	// "27470"; empty when clamd reports none (custom databases only).
	DatabaseVersion string
	// DatabaseDate is that database's build time; zero when not reported.
	DatabaseDate time.Time
	// Raw is the whole answer.
	Raw string
}

// Version asks clamd for its version and database version.
func (c *Client) Version(ctx context.Context) (Version, error) {
	reply, err := c.command(ctx, "VERSION")
	if err != nil {
		return Version{}, err
	}
	return ParseVersion(reply)
}

// ParseVersion reads a VERSION answer: "ClamAV 1.4.6/27470/Mon Nov 30
// 09:35:31 2026", or "ClamAV 1.4.6" without official databases.
func ParseVersion(reply string) (Version, error) {
	v := Version{Raw: reply}
	parts := strings.SplitN(reply, "/", 3)
	engine, ver, ok := strings.Cut(parts[0], " ")
	if !ok || engine == "" || ver == "" {
		return Version{}, &ProtocolError{Reply: reply}
	}
	v.Engine, v.EngineVersion = engine, ver
	if len(parts) == 1 {
		return v, nil
	}
	v.DatabaseVersion = parts[1]
	if v.DatabaseVersion == "" || strings.Trim(v.DatabaseVersion, "0123456789") != "" {
		return Version{}, &ProtocolError{Reply: reply}
	}
	if len(parts) == 3 {
		// clamd writes the date with ctime(3) in its local time zone
		// and no zone name; read it as UTC (off by at most a day, far
		// below any useful maximum age).
		t, err := time.Parse(time.ANSIC, strings.TrimSpace(parts[2]))
		if err != nil {
			return Version{}, &ProtocolError{Reply: reply}
		}
		v.DatabaseDate = t
	}
	return v, nil
}

// Result is clamd's verdict on one stream.
type Result struct {
	// Signature names what was found; empty when the stream is clean.
	// Heuristic results, e.g. "Heuristics.Limits.Exceeded.MaxFileSize"
	// (AlertExceedsMax), are signatures too: the caller judges them.
	Signature string
	// Bytes is how many bytes were sent.
	Bytes int64
}

// Found reports whether clamd found something.
func (r Result) Found() bool { return r.Signature != "" }

// Scan sends r to clamd with INSTREAM and returns its verdict. ctx bounds
// the whole exchange (sending and clamd's scan). The result is clean only
// when clamd said "stream: OK" after reading every byte.
func (c *Client) Scan(ctx context.Context, r io.Reader) (Result, error) {
	var res Result
	conn, stop, err := c.dial(ctx)
	if err != nil {
		return res, err
	}
	defer stop()
	werr := func() error {
		buf := make([]byte, 4+ChunkSize)
		copy(buf, "zINSTREAM\x00")
		if _, err := conn.Write(buf[:len("zINSTREAM\x00")]); err != nil {
			return err
		}
		for {
			n, eof, rerr := fill(r, buf[4:])
			if rerr != nil {
				return &ReadError{Err: rerr}
			}
			if n > 0 {
				binary.BigEndian.PutUint32(buf[:4], uint32(n))
				if _, err := conn.Write(buf[:4+n]); err != nil {
					return err
				}
				res.Bytes += int64(n)
			}
			if eof {
				break
			}
		}
		_, err := conn.Write([]byte{0, 0, 0, 0})
		return err
	}()
	var re *ReadError
	if errors.As(werr, &re) {
		return res, re
	}
	return c.verdict(ctx, conn, res, werr)
}

// ScanBytes is Scan of data held in memory: it is sent as it is, in
// ChunkSize chunks, without copying.
func (c *Client) ScanBytes(ctx context.Context, data []byte) (Result, error) {
	res := Result{Bytes: int64(len(data))}
	conn, stop, err := c.dial(ctx)
	if err != nil {
		return Result{}, err
	}
	defer stop()
	n := (len(data) + ChunkSize - 1) / ChunkSize
	hdrs := make([]byte, 4*(n+1))
	bufs := make(net.Buffers, 0, 2*n+2)
	bufs = append(bufs, []byte("zINSTREAM\x00"))
	for i := 0; i < n; i++ {
		chunk := data[i*ChunkSize : min(len(data), (i+1)*ChunkSize)]
		hdr := hdrs[4*i : 4*i+4]
		binary.BigEndian.PutUint32(hdr, uint32(len(chunk)))
		bufs = append(bufs, hdr, chunk)
	}
	bufs = append(bufs, hdrs[4*n:]) // the zero-length chunk
	_, werr := bufs.WriteTo(conn)
	return c.verdict(ctx, conn, res, werr)
}

// verdict reads clamd's answer to an INSTREAM whose sending ended with
// werr.
func (c *Client) verdict(ctx context.Context, conn net.Conn, res Result, werr error) (Result, error) {
	// clamd may have answered and closed while we were sending (size
	// limit): its answer explains the failed write.
	reply, rerr := readReply(conn)
	if rerr != nil {
		if werr != nil {
			return res, c.netErr(ctx, "INSTREAM", werr)
		}
		return res, c.netErr(ctx, "INSTREAM", rerr)
	}
	if reply == "INSTREAM size limit exceeded. ERROR" {
		return res, ErrTooLarge
	}
	if werr != nil {
		return res, c.netErr(ctx, "INSTREAM", werr)
	}
	switch {
	case reply == "stream: OK":
		return res, nil
	case strings.HasPrefix(reply, "stream: ") && strings.HasSuffix(reply, " FOUND"):
		res.Signature = strings.TrimSuffix(strings.TrimPrefix(reply, "stream: "), " FOUND")
		if res.Signature == "" {
			return res, &ProtocolError{Reply: reply}
		}
		return res, nil
	case strings.HasSuffix(reply, " ERROR"):
		return res, &ReplyError{Reply: reply}
	}
	return res, &ProtocolError{Reply: reply}
}

// ReadError is Scan's failure to read the file it was given (not clamd's
// fault); nothing was judged.
type ReadError struct{ Err error }

func (e *ReadError) Error() string { return "read the file to scan: " + e.Err.Error() }

func (e *ReadError) Unwrap() error { return e.Err }

// fill reads into buf until it is full or r ends. Only io.EOF ends r: any
// other error, io.ErrUnexpectedEOF included (a truncated tar entry), is
// an error, never the end of a clean file.
func fill(r io.Reader, buf []byte) (n int, eof bool, err error) {
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err == io.EOF {
			return n, true, nil
		}
		if err != nil {
			return n, false, err
		}
	}
	return n, false, nil
}

// command sends a short command and returns the answer.
func (c *Client) command(ctx context.Context, cmd string) (string, error) {
	conn, stop, err := c.dial(ctx)
	if err != nil {
		return "", err
	}
	defer stop()
	if _, err := io.WriteString(conn, "z"+cmd+"\x00"); err != nil {
		return "", c.netErr(ctx, cmd, err)
	}
	reply, err := readReply(conn)
	if err != nil {
		return "", c.netErr(ctx, cmd, err)
	}
	return reply, nil
}

// dial connects, ties the connection's deadline to ctx, and returns a
// function that closes it.
func (c *Client) dial(ctx context.Context) (net.Conn, func(), error) {
	conn, err := c.dialer.DialContext(ctx, c.network, c.address)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to clamd at %s: %w", c.Address(), err)
	}
	if d, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(d)
	}
	unhook := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	return conn, func() { unhook(); _ = conn.Close() }, nil
}

// netErr explains a failed exchange, preferring the context's reason
// (a timeout or cancellation) over the socket's.
func (c *Client) netErr(ctx context.Context, cmd string, err error) error {
	cerr := ctx.Err()
	if _, ok := ctx.Deadline(); ok && cerr == nil && errors.Is(err, os.ErrDeadlineExceeded) {
		// The connection's deadline is the context's: it may fire a
		// moment before the context's own timer.
		cerr = context.DeadlineExceeded
	}
	if cerr != nil {
		if errors.Is(cerr, context.DeadlineExceeded) {
			return fmt.Errorf("clamd %s at %s: timed out: %w", cmd, c.Address(), cerr)
		}
		return fmt.Errorf("clamd %s at %s: %w", cmd, c.Address(), cerr)
	}
	return fmt.Errorf("clamd %s at %s: %w", cmd, c.Address(), err)
}

// readReply reads one null-terminated answer (at most maxReply bytes).
// An answer cut short by the connection closing is an error.
func readReply(r io.Reader) (string, error) {
	var buf bytes.Buffer
	chunk := make([]byte, 512)
	for buf.Len() <= maxReply {
		n, err := r.Read(chunk)
		if n > 0 {
			buf.Write(chunk[:n])
			if i := bytes.IndexByte(buf.Bytes(), 0); i >= 0 {
				if i != buf.Len()-1 {
					return "", &ProtocolError{Reply: buf.String()}
				}
				return string(buf.Bytes()[:i]), nil
			}
		}
		if err == io.EOF {
			if buf.Len() == 0 {
				return "", errors.New("connection closed without an answer")
			}
			return "", &ProtocolError{Reply: buf.String()}
		}
		if err != nil {
			return "", err
		}
	}
	return "", &ProtocolError{Reply: buf.String()[:64] + "…"}
}
