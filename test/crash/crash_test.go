// Package crash checks what survives when a client or the server dies in
// the middle of a write, with the real cssc binary in a subprocess.
package crash

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

const mib = 1 << 20

// binary is the cssc built once for the package.
var binary string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	root, err := repoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash tests:", err)
		return 2
	}
	tmp, err := os.MkdirTemp("", "cssc-crash-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash tests:", err)
		return 2
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	binary = filepath.Join(tmp, "cssc")
	build := exec.Command("go", "build", "-o", binary, "./cmd/cssc")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "crash tests: go build ./cmd/cssc: %v\n%s", err, out)
		return 2
	}
	return m.Run()
}

// repoRoot walks up from the working directory to go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// syncBuffer collects a subprocess's output.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// server is a `cssc serve` subprocess.
type server struct {
	cmd    *exec.Cmd
	url    string
	host   string
	output *syncBuffer
	done   chan struct{} // closed when the process has exited
	err    error         // its exit status, once done
}

// client sends each request on a new connection, so nothing idles on the
// server when it stops.
var client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// startServer runs `cssc serve` on dir and waits until /readyz answers 200.
func startServer(t *testing.T, dir string) *server {
	t.Helper()
	var last string
	for range 3 { // another process may take the free port first
		s, ok, out := tryStart(t, dir)
		if ok {
			return s
		}
		last = out
		if !strings.Contains(out, "address already in use") {
			break
		}
	}
	t.Fatalf("cssc serve did not become ready:\n%s", last)
	return nil
}

func tryStart(t *testing.T, dir string) (*server, bool, string) {
	t.Helper()
	addr := freeAddr(t)
	s := &server{url: "http://" + addr, host: addr, output: &syncBuffer{}, done: make(chan struct{})}
	s.cmd = exec.Command(binary, "serve", "--data-dir", dir, "--addr", addr, "--log-level", "warn", "--shutdown-timeout", "5s")
	s.cmd.Stdout = s.output
	s.cmd.Stderr = s.output
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(s.kill)
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return nil, false, s.output.String()
		default:
		}
		resp, err := client.Get(s.url + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, true, ""
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.kill()
	return nil, false, "timed out\n" + s.output.String()
}

// kill SIGKILLs the server (if still running) and waits for it.
func (s *server) kill() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
}

// stop SIGTERMs the server and expects a clean exit.
func (s *server) stop(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		s.kill()
		t.Fatalf("cssc serve did not stop on SIGTERM:\n%s", s.output.String())
	}
	if s.err != nil {
		t.Fatalf("cssc serve exited with %v after SIGTERM:\n%s", s.err, s.output.String())
	}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) String() string { return fmt.Sprintf("%d %s", r.status, r.body) }

// do sends a request; hdr is name, value pairs.
func (s *server) do(t *testing.T, method, path string, body []byte, hdr ...string) response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	u := path
	if strings.HasPrefix(path, "/") {
		u = s.url + path
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// pushBlob uploads data monolithically into repo.
func (s *server) pushBlob(t *testing.T, repo string, data []byte) digest.Digest {
	t.Helper()
	d := digest.FromBytes(data)
	if r := s.do(t, http.MethodPost, "/v2/"+repo+"/blobs/uploads/?digest="+d.String(), data); r.status != http.StatusCreated {
		t.Fatalf("push blob: %v", r)
	}
	return d
}

// startUpload opens an upload session and returns its Location and id.
func (s *server) startUpload(t *testing.T, repo string) (string, string) {
	t.Helper()
	r := s.do(t, http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil)
	if r.status != http.StatusAccepted || r.header.Get("Location") == "" || r.header.Get("Docker-Upload-UUID") == "" {
		t.Fatalf("start upload: %v", r)
	}
	return r.header.Get("Location"), r.header.Get("Docker-Upload-UUID")
}

// patch sends a chunk at offset; it returns the response.
func (s *server) patch(t *testing.T, loc string, offset int64, chunk []byte) response {
	t.Helper()
	return s.do(t, http.MethodPatch, loc, chunk,
		"Content-Type", "application/octet-stream",
		"Content-Range", fmt.Sprintf("%d-%d", offset, offset+int64(len(chunk))-1))
}

// uploadSize reads an upload's stored size from GET on the session: -1
// when the session is unknown.
func (s *server) uploadSize(t *testing.T, loc string) int64 {
	t.Helper()
	r := s.do(t, http.MethodGet, loc, nil)
	if r.status == http.StatusNotFound {
		return -1
	}
	if r.status != http.StatusNoContent {
		t.Fatalf("upload status: %v", r)
	}
	return parseRange(t, r.header.Get("Range"))
}

// parseRange turns "0-<last>" into the number of bytes stored ("0-0" is
// what an empty upload says).
func parseRange(t *testing.T, rng string) int64 {
	t.Helper()
	a, b, ok := strings.Cut(rng, "-")
	if !ok || a != "0" {
		t.Fatalf("bad Range %q", rng)
	}
	last, err := strconv.ParseInt(b, 10, 64)
	if err != nil {
		t.Fatalf("bad Range %q", rng)
	}
	if last == 0 {
		return 0 // ambiguous 0-0: resuming from 0 is always safe
	}
	return last + 1
}

// resume sends data[from:] at from, retrying while the session is still
// held by a request the server has not finished (416 with the Range).
func (s *server) resume(t *testing.T, loc string, data []byte, from int64) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := s.patch(t, loc, from, data[from:])
		if r.status == http.StatusAccepted {
			if got := parseRange(t, r.header.Get("Range")); got != int64(len(data)) {
				t.Fatalf("after resuming: Range %q, want 0-%d", r.header.Get("Range"), len(data)-1)
			}
			return r.header.Get("Location")
		}
		if r.status != http.StatusRequestedRangeNotSatisfiable || time.Now().After(deadline) {
			t.Fatalf("resume at %d: %v", from, r)
		}
		from = parseRange(t, r.header.Get("Range"))
		time.Sleep(20 * time.Millisecond)
	}
}

func randomBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for i := 0; i < n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

// checkBlob GETs a blob and compares its bytes.
func (s *server) checkBlob(t *testing.T, repo string, want []byte) {
	t.Helper()
	d := digest.FromBytes(want)
	r := s.do(t, http.MethodGet, "/v2/"+repo+"/blobs/"+d.String(), nil)
	if r.status != http.StatusOK || !bytes.Equal(r.body, want) {
		t.Fatalf("GET blob %s: status %d, %d bytes (want %d), digest of body %s", d, r.status, len(r.body), len(want), digest.FromBytes(r.body))
	}
}

// checkBlobFiles asserts every file under dir/blobs/ is named after the
// hash of its content.
func checkBlobFiles(t *testing.T, dir string) int {
	t.Helper()
	base := filepath.Join(dir, "blobs")
	n := 0
	err := filepath.WalkDir(base, func(p string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		n++
		rel, _ := filepath.Rel(base, p)
		parts := strings.Split(rel, string(filepath.Separator))
		if len(parts) != 3 || !strings.HasPrefix(parts[2], parts[1]) || len(parts[1]) != 2 {
			t.Errorf("unexpected file in blobs/: %s", rel)
			return nil
		}
		want := digest.NewDigestFromEncoded(digest.Algorithm(parts[0]), parts[2])
		if err := want.Validate(); err != nil {
			t.Errorf("blob file %s: %v", rel, err)
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer func() { _ = f.Close() }()
		got, err := want.Algorithm().FromReader(f)
		if err != nil {
			return err
		}
		if got != want {
			t.Errorf("blob file %s holds content hashing to %s", rel, got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func uploadFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, "uploads"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// waitFor polls cond until it holds or fails the test after timeout.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestClientKilledMidUpload: the client's connection dies in the middle of
// a chunk; the server keeps what arrived and the upload resumes.
func TestClientKilledMidUpload(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	const repo = "crash/client"
	data := randomBytes(1, 12*mib)
	loc, _ := s.startUpload(t, repo)

	r := s.patch(t, loc, 0, data[:4*mib])
	if r.status != http.StatusAccepted || r.header.Get("Range") != fmt.Sprintf("0-%d", 4*mib-1) {
		t.Fatalf("first chunk: %v, Range %q", r, r.header.Get("Range"))
	}
	loc = r.header.Get("Location")

	// A chunk announced as 8 MiB of which only 2 MiB arrive.
	conn, err := net.Dial("tcp", s.host)
	if err != nil {
		t.Fatal(err)
	}
	head := fmt.Sprintf("PATCH %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/octet-stream\r\n"+
		"Content-Length: %d\r\nContent-Range: %d-%d\r\n\r\n", loc, s.host, 8*mib, 4*mib, 12*mib-1)
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(data[4*mib : 6*mib]); err != nil {
		t.Fatal(err)
	}
	if err := conn.Close(); err != nil {
		t.Fatal(err)
	}

	// The server notices the cut, keeps the 2 MiB that arrived and records
	// them. It never loses the first chunk meanwhile.
	var stored int64
	waitFor(t, "the interrupted chunk to be recorded", 15*time.Second, func() bool {
		stored = s.uploadSize(t, loc)
		if stored < 4*mib {
			t.Fatalf("upload has %d bytes after an interrupted chunk, want at least the first %d", stored, 4*mib)
		}
		return stored == 6*mib
	})

	loc = s.resume(t, loc, data, stored)
	d := digest.FromBytes(data)
	if r := s.do(t, http.MethodPut, loc+"?digest="+d.String(), nil); r.status != http.StatusCreated || r.header.Get("Docker-Content-Digest") != d.String() {
		t.Fatalf("finish: %v", r)
	}
	s.checkBlob(t, repo, data)
	if n := checkBlobFiles(t, dir); n != 1 {
		t.Fatalf("%d blob files, want 1", n)
	}
	if files := uploadFiles(t, dir); len(files) != 0 {
		t.Fatalf("upload files left after the upload finished: %v", files)
	}
}

// slowBody feeds a request body from data in small pieces, pausing between
// them, until data ends or the body is closed.
func slowBody(data []byte, piece int, pause time.Duration) *io.PipeReader {
	pr, pw := io.Pipe()
	go func() {
		for off := 0; off < len(data); off += piece {
			end := min(off+piece, len(data))
			if _, err := pw.Write(data[off:end]); err != nil {
				return
			}
			time.Sleep(pause)
		}
		_ = pw.Close()
	}()
	return pr
}

// sendAsync starts a request with a known Content-Length whose body comes
// from body; the result arrives on the channel.
func sendAsync(method, u string, body *io.PipeReader, length int64, hdr ...string) <-chan error {
	done := make(chan error, 1)
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		done <- err
		return done
	}
	req.ContentLength = length
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	go func() {
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			err = fmt.Errorf("request finished: %s", resp.Status)
		}
		_ = body.CloseWithError(errors.New("request over"))
		done <- err
	}()
	return done
}

func fileSize(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return -1
	}
	return fi.Size()
}

// TestServerKilledMidWrite: the server is SIGKILLed while a large chunk and
// a monolithic upload stream in. After a restart nothing half-written is
// served, every stored blob is whole, the session resumes, and an offline
// collection leaves no upload files behind.
func TestServerKilledMidWrite(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	const repo = "crash/server"

	// Some complete blobs before the crash.
	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	configD := s.pushBlob(t, repo, config)
	unused := randomBytes(2, 1000)
	unusedD := s.pushBlob(t, repo, unused)

	// An upload session with a first chunk recorded.
	data := randomBytes(3, 65*mib)
	dataD := digest.FromBytes(data)
	loc, id := s.startUpload(t, repo)
	r := s.patch(t, loc, 0, data[:mib])
	if r.status != http.StatusAccepted {
		t.Fatalf("first chunk: %v", r)
	}
	loc = r.header.Get("Location")

	// The next 64 MiB stream in slowly.
	chunk := slowBody(data[mib:], 256<<10, 5*time.Millisecond)
	chunkDone := sendAsync(http.MethodPatch, s.url+loc, chunk, 64*mib,
		"Content-Type", "application/octet-stream", "Content-Range", fmt.Sprintf("%d-%d", mib, 65*mib-1))
	// And a monolithic upload whose body stops after 1 MiB of 8.
	mono := randomBytes(4, 8*mib)
	monoBody, monoW := io.Pipe()
	killed := make(chan struct{})
	go func() {
		if _, err := monoW.Write(mono[:mib]); err == nil {
			<-killed
		}
		_ = monoW.Close()
	}()
	monoDone := sendAsync(http.MethodPost, s.url+"/v2/"+repo+"/blobs/uploads/?digest="+digest.FromBytes(mono).String(), monoBody, int64(len(mono)),
		"Content-Type", "application/octet-stream")

	// Kill once both writes are on disk: the session's file has grown past
	// its recorded chunk and the monolithic upload has its own file.
	uploadPath := filepath.Join(dir, "uploads", id)
	waitFor(t, "the streamed chunk to reach the disk", 20*time.Second, func() bool {
		return fileSize(uploadPath) > 3*mib && len(uploadFiles(t, dir)) == 2
	})
	s.kill()
	close(killed)
	if fileSize(uploadPath) >= 65*mib {
		t.Fatalf("the whole chunk arrived before the kill; the test proves nothing")
	}
	for _, c := range []<-chan error{chunkDone, monoDone} {
		select {
		case err := <-c:
			if err == nil || strings.HasPrefix(err.Error(), "request finished") {
				t.Fatalf("request in flight at the kill: %v, want a transport error", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("request in flight at the kill did not end")
		}
	}
	leftovers := uploadFiles(t, dir)
	if len(leftovers) != 2 {
		t.Fatalf("upload files after the kill: %v, want the session's and the monolithic upload's", leftovers)
	}

	// Restart on the same directory.
	s = startServer(t, dir)
	if r := s.do(t, http.MethodHead, "/v2/"+repo+"/blobs/"+dataD.String(), nil); r.status != http.StatusNotFound {
		t.Fatalf("HEAD of the blob being written at the kill: %v, want 404", r)
	}
	if r := s.do(t, http.MethodHead, "/v2/"+repo+"/blobs/"+digest.FromBytes(mono).String(), nil); r.status != http.StatusNotFound {
		t.Fatalf("HEAD of the monolithic blob cut at the kill: %v, want 404", r)
	}
	if n := checkBlobFiles(t, dir); n != 2 {
		t.Fatalf("%d blob files after the restart, want 2", n)
	}
	for d, want := range map[digest.Digest][]byte{configD: config, unusedD: unused} {
		if r := s.do(t, http.MethodGet, "/v2/"+repo+"/blobs/"+d.String(), nil); r.status != 200 || !bytes.Equal(r.body, want) {
			t.Fatalf("blob pushed before the kill: %v", r)
		}
	}
	// The start-up clean-up dropped the monolithic upload's file (no
	// session) and kept the session's.
	if files := uploadFiles(t, dir); len(files) != 1 || files[0] != id {
		t.Fatalf("upload files after the restart: %v, want only %s", files, id)
	}

	// The session resumes from what it recorded (or, if the server forgot
	// it, the upload starts again).
	from := s.uploadSize(t, loc)
	switch {
	case from < 0:
		loc, _ = s.startUpload(t, repo)
		from = 0
	case from > 65*mib:
		t.Fatalf("session records %d bytes, more than were sent", from)
	}
	t.Logf("resuming at byte %d after the kill (the file had %d)", from, fileSize(uploadPath))
	loc = s.resume(t, loc, data, from)
	if r := s.do(t, http.MethodPut, loc+"?digest="+dataD.String(), nil); r.status != http.StatusCreated || r.header.Get("Docker-Content-Digest") != dataD.String() {
		t.Fatalf("finish after the restart: %v", r)
	}
	s.checkBlob(t, repo, data)

	// A manifest keeps the blob through collection; unused is not referenced.
	manifest := ocispec.Manifest{
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: configD, Size: int64(len(config))},
		Layers:    []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayer, Digest: dataD, Size: int64(len(data))}},
	}
	manifest.SchemaVersion = 2
	mb, _ := json.Marshal(manifest)
	if r := s.do(t, http.MethodPut, "/v2/"+repo+"/manifests/v1", mb, "Content-Type", ocispec.MediaTypeImageManifest); r.status != http.StatusCreated {
		t.Fatalf("push manifest: %v", r)
	}
	// An abandoned session with bytes, for the collector.
	abandoned, abandonedID := s.startUpload(t, repo)
	if r := s.patch(t, abandoned, 0, []byte("never finished")); r.status != http.StatusAccepted {
		t.Fatalf("abandoned upload: %v", r)
	}
	if files := uploadFiles(t, dir); len(files) != 1 || files[0] != abandonedID {
		t.Fatalf("upload files before gc: %v, want only %s", files, abandonedID)
	}
	s.stop(t)

	// Offline collection.
	gc := exec.Command(binary, "gc", "--data-dir", dir, "--upload-max-age", "1ns", "--log-level", "warn")
	var stdout, stderr bytes.Buffer
	gc.Stdout, gc.Stderr = &stdout, &stderr
	if err := gc.Run(); err != nil {
		t.Fatalf("cssc gc: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	wantLine := fmt.Sprintf("gc removed: 1 blob links, 1 blobs (%d bytes), 1 abandoned uploads, 0 leftover files", len(unused))
	if got := strings.TrimSpace(stdout.String()); got != wantLine {
		t.Fatalf("cssc gc said %q, want %q (stderr: %s)", got, wantLine, stderr.String())
	}
	if files := uploadFiles(t, dir); len(files) != 0 {
		t.Fatalf("upload files after gc: %v", files)
	}
	if n := checkBlobFiles(t, dir); n != 2 {
		t.Fatalf("%d blob files after gc, want 2 (config and layer)", n)
	}

	// A restarted server still serves the image.
	s = startServer(t, dir)
	s.checkBlob(t, repo, data)
	s.checkBlob(t, repo, config)
	if r := s.do(t, http.MethodGet, "/v2/"+repo+"/manifests/v1", nil, "Accept", ocispec.MediaTypeImageManifest); r.status != 200 || !bytes.Equal(r.body, mb) {
		t.Fatalf("manifest after gc: %v", r)
	}
	if r := s.do(t, http.MethodHead, "/v2/"+repo+"/blobs/"+unusedD.String(), nil); r.status != http.StatusNotFound {
		t.Fatalf("collected blob: %v, want 404", r)
	}
	if r := s.do(t, http.MethodGet, abandoned, nil); r.status != http.StatusNotFound {
		t.Fatalf("collected upload session: %v, want 404", r)
	}
}

// TestSecondServerRefused: a second `cssc serve` on a data directory in use
// exits with an error that says so, and the first keeps serving.
func TestSecondServerRefused(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	d := s.pushBlob(t, "crash/lock", []byte("still here"))

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	second := exec.CommandContext(ctx, binary, "serve", "--data-dir", dir, "--addr", freeAddr(t), "--log-level", "warn")
	var out syncBuffer
	second.Stdout, second.Stderr = &out, &out
	err := second.Run()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() <= 0 {
		t.Fatalf("second cssc serve: %v, want a non-zero exit\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "in use") {
		t.Fatalf("second cssc serve said %q, want it to say the data directory is in use", out.String())
	}
	// The lock file still names the first server.
	lock, err := os.ReadFile(filepath.Join(dir, "lock"))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(lock))
	if !sc.Scan() || !regexp.MustCompile(`^pid `+strconv.Itoa(s.cmd.Process.Pid)+` serving `+regexp.QuoteMeta(s.host)+`$`).MatchString(sc.Text()) {
		t.Fatalf("lock file says %q, want the first server", lock)
	}
	if r := s.do(t, http.MethodGet, "/v2/crash/lock/blobs/"+d.String(), nil); r.status != 200 || string(r.body) != "still here" {
		t.Fatalf("first server after the refused second: %v", r)
	}
}
