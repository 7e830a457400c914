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
				cmd = strings.TrimSuffix(strings.TrimPrefix(cmd, "z"), "\x00")
				var stream []byte
				if cmd == "INSTREAM" {
					var buf bytes.Buffer
					for {
						var hdr [4]byte
						if _, err := io.ReadFull(br, hdr[:]); err != nil {
							return
						}
						n := binary.BigEndian.Uint32(hdr[:])
						if n == 0 {
							break
						}
						if _, err := io.CopyN(&buf, br, int64(n)); err != nil {
							return
						}
					}
					stream = buf.Bytes()
				}
				_, _ = io.WriteString(conn, answer(cmd, stream)+"\x00")
			}()
		}
	}()
	return &Fake{Addr: "unix://" + sock}
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
