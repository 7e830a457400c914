// Package clamdtest starts a real clamd for tests, with a signature
// database the test writes (no download is possible or wanted): an MD5
// hash signature of the EICAR test file and a body signature of Marker.
package clamdtest

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cssc-project/cssc/internal/clamd/clamdproc"
)

// The signature names clamd reports for the test database (clamd appends
// ".UNOFFICIAL" to signatures outside the official databases).
const (
	// EICARHash is the MD5 hash signature of the whole EICAR file.
	EICARHash = "Test.EICAR.HDB.UNOFFICIAL"
	// MarkerSig is the body signature of Marker, found anywhere in a file.
	MarkerSig = "Test.Marker.NDB.UNOFFICIAL"
)

// Marker is a harmless byte string the test database flags wherever it
// appears in a file.
const Marker = "CSSC-TEST-MALWARE-MARKER-5a1b"

// EICAR returns the 68-byte EICAR anti-virus test file. It is assembled
// at run time so that no source file of the project is itself the test
// file.
func EICAR() []byte {
	return []byte(`X5O!P%@AP[4\PZX54(P^)7CC)7}$` + "EICAR-STANDARD-" + "ANTIVIRUS-TEST-FILE!$H+H*")
}

// Options shape the daemon.
type Options struct {
	// Config are extra clamd.conf lines, e.g. "MaxFiles 100".
	Config []string
	// TCP listens on 127.0.0.1 (a free port) instead of a unix socket.
	TCP bool
	// NoAlertExceedsMax runs clamd as it runs by default: passing what
	// its limits cut short as clean (cssc must refuse it).
	NoAlertExceedsMax bool
	// NoAlertEncrypted runs clamd passing encrypted archives and
	// documents as clean, as it does by default.
	NoAlertEncrypted bool
}

// Daemon is a running clamd.
type Daemon struct {
	// Addr is its address for clamd.New ("unix://…" or "tcp://…").
	Addr string
	// Dir holds its configuration, database, socket and log.
	Dir  string
	proc *clamdproc.Process
}

// Start writes a database and configuration into a temporary directory,
// starts clamd, waits until it answers PING and stops it when the test
// ends. It fails the test with instructions when clamd is not installed.
func Start(t testing.TB, opts Options) *Daemon {
	t.Helper()
	bin, err := clamdproc.Binary()
	if err != nil {
		t.Fatalf("%v (make test installs it)", err)
	}
	// A unix socket path must be short (108 bytes): t.TempDir can be long.
	dir, err := os.MkdirTemp("", "clamd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := WriteDatabase(filepath.Join(dir, "db")); err != nil {
		t.Fatal(err)
	}
	d := &Daemon{Dir: dir}
	conf := []string{
		"DatabaseDirectory " + filepath.Join(dir, "db"),
		"Foreground yes",
		"LogFile " + filepath.Join(dir, "clamd.log"),
		"TemporaryDirectory " + dir,
		"MaxThreads 8",
		"SelfCheck 0",
		"OfficialDatabaseOnly no",
	}
	// cssc requires both: without them clamd passes what exceeds its
	// limits, and encrypted archives, as clean.
	if !opts.NoAlertExceedsMax {
		conf = append(conf, "AlertExceedsMax yes")
	}
	if !opts.NoAlertEncrypted {
		conf = append(conf, "AlertEncrypted yes")
	}
	if opts.TCP {
		port := freePort(t)
		conf = append(conf, "TCPSocket "+port, "TCPAddr 127.0.0.1")
		d.Addr = "tcp://127.0.0.1:" + port
	} else {
		sock := filepath.Join(dir, "clamd.sock")
		conf = append(conf, "LocalSocket "+sock, "FixStaleSocket yes")
		d.Addr = "unix://" + sock
	}
	conf = append(conf, opts.Config...)
	cfg := filepath.Join(dir, "clamd.conf")
	if err := os.WriteFile(cfg, []byte(strings.Join(conf, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	proc, err := clamdproc.Start(context.Background(), bin, cfg, d.Addr, filepath.Join(dir, "clamd.out"), 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	d.proc = proc
	t.Cleanup(proc.Kill)
	return d
}

// Kill stops the daemon at once (SIGKILL), as a crash would.
func (d *Daemon) Kill() { d.proc.Kill() }

// WriteDatabase writes the test signatures into dir.
func WriteDatabase(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	e := EICAR()
	sum := md5.Sum(e)
	files := map[string]string{
		"eicar.hdb":  fmt.Sprintf("%s:%d:Test.EICAR.HDB\n", hex.EncodeToString(sum[:]), len(e)),
		"marker.ndb": "Test.Marker.NDB:0:*:" + hex.EncodeToString([]byte(Marker)) + "\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			return fmt.Errorf("write clamd test database: %w", err)
		}
	}
	return nil
}

func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
}
