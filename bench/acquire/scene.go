package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cssc-project/cssc/bench/internal/benchutil"
	"github.com/cssc-project/cssc/internal/clamd/clamdproc"
)

// process is a server this program started: a cssc serve or clamd.
type process struct {
	name   string
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
}

// Pid is the process id, for /proc.
func (p *process) Pid() int { return p.cmd.Process.Pid }

// stop asks the process to end (SIGINT), kills it after 30 s, and waits.
func (p *process) stop() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// startProcess runs bin with args, its output in the file log; it is
// killed if this program dies.
func startProcess(name, bin string, args, env []string, log string) (*process, error) {
	out, err := os.Create(log)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = out.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, log: log, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); _ = out.Close(); close(p.exited) }()
	return p, nil
}

// logTail is the end of the process's output, for error messages.
func (p *process) logTail() string {
	b, _ := os.ReadFile(p.log)
	return benchutil.Tail(string(b), 3000)
}

// freeAddr is a free 127.0.0.1 address.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String(), nil
}

// startServe starts `cssc serve` on a free address with extra flags and
// waits until it answers /readyz.
func (s *scene) startServe(ctx context.Context, label, dataDir string, extra ...string) (*process, string, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	args := append([]string{"serve", "--data-dir", dataDir, "--addr", addr, "--log-level", s.set.serverLog}, extra...)
	p, err := startProcess("cssc serve ("+label+")", s.set.cssc, args, s.env, filepath.Join(s.set.work, label+".log"))
	if err != nil {
		return nil, "", err
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/readyz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, addr, nil
			}
		}
		select {
		case <-p.exited:
			return nil, "", fmt.Errorf("%s exited at start:\n%s", p.name, p.logTail())
		case <-ctx.Done():
			p.stop()
			return nil, "", ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, "", fmt.Errorf("%s did not become ready at %s:\n%s", p.name, addr, p.logTail())
		}
	}
}

// scene is what every part of the bench shares: the upstream registry,
// clamd, the signing key and the vulnerability database.
type scene struct {
	set      settings
	env      []string
	upstream *process
	upAddr   string
	clamd    *clamdproc.Process
	clamdURL string // "" when malware scanning is off
	keyDir   string
	dbDir    string
}

// osvRecord is the bench's vulnerability data: openssl before
// 3.0.13-1~deb12u1 (the images have that version: not affected).
const osvRecord = `{"id":"DEBIAN-CVE-2024-0727","modified":"2024-06-01T00:00:00Z","upstream":["CVE-2024-0727"],
 "severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
 "affected":[{"package":{"ecosystem":"Debian:12","name":"openssl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.0.13-1~deb12u1"}]}]}]}`

// marker is a harmless byte string the bench's clamd database flags (no
// image holds it: the database only has to be real and loaded).
const marker = "CSSC-BENCH-MALWARE-MARKER-7c2d"

// prepare starts clamd and the upstream, generates the signing key and
// imports the vulnerability data. The returned function stops what was
// started.
func prepare(ctx context.Context, set settings) (*scene, func(), error) {
	s := &scene{set: set, keyDir: filepath.Join(set.work, "keys"), dbDir: filepath.Join(set.work, "db")}
	s.env = append(os.Environ(),
		"XDG_CONFIG_HOME="+filepath.Join(set.work, "xdg"), "XDG_CACHE_HOME="+filepath.Join(set.work, "cache"),
		"HOME="+set.work, "DOCKER_CONFIG="+filepath.Join(set.work, "docker"),
		"CSSC_KEY_PASSPHRASE=bench passphrase")
	var stops []func()
	stop := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	if set.clamd {
		if _, err := clamdproc.Binary(); err != nil {
			fmt.Fprintf(os.Stderr, "acquire-bench: %v: running without a malware scan\n", err)
			s.set.clamd = false
		}
	}
	if s.set.clamd {
		if err := s.startClamd(ctx); err != nil {
			return nil, stop, err
		}
		stops = append(stops, func() { s.clamd.Stop(10 * time.Second) })
	}
	if _, err := s.cssc(ctx, "key", "generate", "--name", "bench", "--key-dir", s.keyDir); err != nil {
		return nil, stop, err
	}
	osv := filepath.Join(set.work, "osv")
	if err := os.MkdirAll(osv, 0o755); err != nil {
		return nil, stop, err
	}
	if err := os.WriteFile(filepath.Join(osv, "DEBIAN-CVE-2024-0727.json"), []byte(osvRecord), 0o644); err != nil {
		return nil, stop, err
	}
	if _, err := s.cssc(ctx, "db", "import", osv, "--db-dir", s.dbDir); err != nil {
		return nil, stop, err
	}
	up, addr, err := s.startServe(ctx, "upstream", filepath.Join(set.work, "upstream"))
	if err != nil {
		return nil, stop, err
	}
	s.upstream, s.upAddr = up, addr
	stops = append(stops, up.stop)
	return s, stop, nil
}

// startClamd starts clamd on a unix socket with a one-signature database
// the bench writes, configured as cssc requires (AlertExceedsMax,
// AlertEncrypted) and with limits above the images' largest file.
func (s *scene) startClamd(ctx context.Context) error {
	bin, err := clamdproc.Binary()
	if err != nil {
		return err
	}
	// A unix socket path must be short (108 bytes).
	dir := filepath.Join(s.set.work, "clamd")
	db := filepath.Join(dir, "db")
	if err := os.MkdirAll(db, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(db, "marker.ndb"), []byte("Bench.Marker.NDB:0:*:"+hex.EncodeToString([]byte(marker))+"\n"), 0o644); err != nil {
		return fmt.Errorf("write clamd database: %w", err)
	}
	sock := filepath.Join(dir, "clamd.sock")
	conf := []string{
		"DatabaseDirectory " + db,
		"Foreground yes",
		"LocalSocket " + sock,
		"FixStaleSocket yes",
		"LogFile " + filepath.Join(dir, "clamd.log"),
		"TemporaryDirectory " + dir,
		"MaxThreads 8",
		"SelfCheck 0",
		"OfficialDatabaseOnly no",
		"AlertExceedsMax yes",
		"AlertEncrypted yes",
		"StreamMaxLength 200M",
		"MaxFileSize 400M",
		"MaxScanSize 1000M",
	}
	cfg := filepath.Join(dir, "clamd.conf")
	if err := os.WriteFile(cfg, []byte(strings.Join(conf, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	p, err := clamdproc.Start(ctx, bin, cfg, "unix://"+sock, filepath.Join(dir, "clamd.out"), 60*time.Second)
	if err != nil {
		return err
	}
	s.clamd, s.clamdURL = p, "unix://"+sock
	return nil
}

// cssc runs a cssc command to its end and returns its output.
func (s *scene) cssc(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, s.set.cssc, args...)
	cmd.Env = s.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("cssc %s: %w\n%s", strings.Join(args, " "), err, benchutil.Tail(string(out), 2000))
	}
	return out, nil
}

// startPipeline starts a cssc serve running the acquire pipeline on a
// fresh data directory and allows acquisitions from the upstream's
// bench/* (POST /api/v1/upstreams, as `cssc upstream add` does).
func (s *scene) startPipeline(ctx context.Context, label string, workers int) (*process, string, error) {
	args := []string{
		"--signing-key", "bench", "--key-dir", s.keyDir,
		"--db-dir", s.dbDir,
		"--acquire-workers", strconv.Itoa(workers),
	}
	if s.clamdURL != "" {
		args = append(args, "--clamd", s.clamdURL)
		if s.set.clamdWorkers > 0 {
			args = append(args, "--clamd-workers", strconv.Itoa(s.set.clamdWorkers))
		}
	}
	p, addr, err := s.startServe(ctx, label, filepath.Join(s.set.work, label), args...)
	if err != nil {
		return nil, "", err
	}
	body, err := json.Marshal(map[string]any{"name": "bench", "registry": s.upAddr, "repositories": []string{"bench/*"}})
	if err != nil {
		p.stop()
		return nil, "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/api/v1/upstreams", bytes.NewReader(body))
	if err != nil {
		p.stop()
		return nil, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.stop()
		return nil, "", fmt.Errorf("add upstream: %w", err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		p.stop()
		return nil, "", fmt.Errorf("add upstream: HTTP %d: %s", resp.StatusCode, benchutil.Tail(string(b), 300))
	}
	return p, addr, nil
}
