package clamdtest

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cssc-project/cssc/internal/malware"
)

// Fake is a scripted stand-in for clamd, for what a real clamd cannot be
// made to do on demand (an old official database, a hang, a broken
// answer). Answer gets the command ("VERSION", "INSTREAM", …) and, for
// INSTREAM, the streamed bytes, and returns the answer (sent with a null
// terminator); it may block.
type Fake struct {
	// Addr is the fake's address ("unix://…").
	Addr string
}

// StartFake serves answer on a unix socket until the test ends.
func StartFake(t testing.TB, answer func(cmd string, stream []byte) string) *Fake {
	t.Helper()
	addr := StartServer(t, func(conn net.Conn, r io.Reader, cmd string) {
		var stream []byte
		if cmd == "INSTREAM" {
			var err error
			if stream, err = ReadStream(r); err != nil {
				return
			}
		}
		_, _ = io.WriteString(conn, answer(cmd, stream)+"\x00")
	})
	return &Fake{Addr: addr}
}

// StartServer serves handle on a unix socket until the test ends and
// returns its address ("unix://…"). For each connection handle gets the
// command, without its "z" prefix and null terminator, and a reader of
// what the client sends after it; it writes whatever it likes to conn,
// which is closed when it returns.
func StartServer(t testing.TB, handle func(conn net.Conn, r io.Reader, cmd string)) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "fake-clamd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	sock := filepath.Join(dir, "clamd.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer func() { _ = conn.Close() }()
				br := bufio.NewReader(conn)
				cmd, err := br.ReadString(0)
				if err != nil {
					return
				}
				handle(conn, br, strings.TrimSuffix(strings.TrimPrefix(cmd, "z"), "\x00"))
			}()
		}
	}()
	return "unix://" + sock
}

// ReadStream reads INSTREAM chunks up to the zero-length one.
func ReadStream(r io.Reader) ([]byte, error) {
	var out bytes.Buffer
	for {
		var hdr [4]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return nil, err
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n == 0 {
			return out.Bytes(), nil
		}
		if _, err := io.CopyN(&out, r, int64(n)); err != nil {
			return nil, err
		}
	}
}

// ProbeAnswer is what a clamd configured as cssc requires (AlertExceedsMax
// and AlertEncrypted) answers to cssc's probes; ok is false for any other
// stream. Fakes use it to pass the probes.
func ProbeAnswer(stream []byte) (answer string, ok bool) {
	switch {
	case bytes.Equal(stream, malware.LimitsProbe()):
		return "stream: Heuristics.Limits.Exceeded.MaxRecursion FOUND", true
	case bytes.Equal(stream, malware.EncryptedProbe()):
		return "stream: Heuristics.Encrypted.Zip FOUND", true
	}
	return "", false
}
