package crash

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cssc-project/cssc/internal/acquire"
	"github.com/cssc-project/cssc/internal/acquire/acquiretest"
	"github.com/cssc-project/cssc/internal/audit"
	"github.com/cssc-project/cssc/internal/clamd/clamdtest"
	"github.com/cssc-project/cssc/internal/imagefs/imagetest"
	"github.com/cssc-project/cssc/internal/server/servertest"
)

// The enterprise key the pipeline signs with, and its passphrase.
const (
	signingKey     = "enterprise"
	keyPassphrase  = "crash-test-key-passphrase"
	notarySigType  = "application/vnd.cncf.notary.signature"
	acquireTimeout = time.Minute
)

// attachedKinds are the kinds the pipeline attaches to a promoted
// single-platform image, besides its signature.
var attachedKinds = []string{
	acquire.KindLifecycle, acquire.KindProvenance, acquire.KindSARIF, acquire.KindCycloneDX,
	acquire.KindSPDX, acquire.KindScanReport, acquire.KindVSA,
}

// acquireEnv is what every acquisition of the test shares: a clamd, a
// vulnerability database, the enterprise key and an upstream registry,
// reached directly and through a throttling proxy.
type acquireEnv struct {
	keyDir, dbDir, clamd string
	upstream             *servertest.Server
	// slowHost is the proxy in front of upstream that serves blobs slowly.
	slowHost string
}

func setupAcquire(t *testing.T) *acquireEnv {
	t.Helper()
	e := &acquireEnv{keyDir: t.TempDir(), dbDir: acquiretest.ImportDB(t)}
	e.clamd = clamdtest.Start(t, clamdtest.Options{}).Addr
	gen := exec.Command(binary, "key", "generate", "--name", signingKey, "--key-dir", e.keyDir)
	gen.Env = pipelineEnv("")
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("cssc key generate: %v\n%s", err, out)
	}
	e.upstream = servertest.Start(t, servertest.Config(filepath.Join(t.TempDir(), "upstream")))
	proxy := httptest.NewServer(throttledProxy(t, e.upstream.URL, 160<<10, 20*time.Millisecond))
	t.Cleanup(proxy.Close)
	e.slowHost = strings.TrimPrefix(proxy.URL, "http://")
	return e
}

// throttledProxy forwards to target, serving blob bodies at most chunk
// bytes per pause.
func throttledProxy(t *testing.T, target string, chunk int, pause time.Duration) http.Handler {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorLog = log.New(io.Discard, "", 0) // the pipeline's connection dies with the server
	rp.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.Method == http.MethodGet && strings.Contains(resp.Request.URL.Path, "/blobs/") {
			resp.Body = &slowReader{rc: resp.Body, chunk: chunk, pause: pause}
		}
		return nil
	}
	return rp
}

type slowReader struct {
	rc    io.ReadCloser
	chunk int
	pause time.Duration
}

func (r *slowReader) Read(p []byte) (int, error) {
	if len(p) > r.chunk {
		p = p[:r.chunk]
	}
	time.Sleep(r.pause)
	return r.rc.Read(p)
}

func (r *slowReader) Close() error { return r.rc.Close() }

// debianImage is a Debian 12 image without openssl, with extra layers on
// top.
func debianImage(t *testing.T, extra ...v1.Layer) v1.Image {
	t.Helper()
	return imagetest.Image(t, append([]v1.Layer{acquiretest.DebianLayer(t, acquiretest.CleanStatus)}, extra...)...)
}

// pipelineEnv is the test's environment for a cssc subprocess, with the
// key passphrase and, when hook is "NAME=step", that crash hook.
func pipelineEnv(hook string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "CSSC_TEST_CRASH_") || strings.HasPrefix(kv, "CSSC_KEY_PASSPHRASE") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "CSSC_KEY_PASSPHRASE="+keyPassphrase)
	if hook != "" {
		env = append(env, hook)
	}
	return env
}

// startPipeline runs `cssc serve` with the acquire pipeline on dir (open
// mode) and waits until /readyz answers 200.
func (e *acquireEnv) startPipeline(t *testing.T, dir, hook string) *server {
	t.Helper()
	var last string
	for range 3 { // another process may take the free port first
		addr := freeAddr(t)
		s := &server{url: "http://" + addr, host: addr, output: &syncBuffer{}, done: make(chan struct{})}
		s.cmd = exec.Command(binary, "serve", "--data-dir", dir, "--addr", addr, "--log-level", "warn", "--shutdown-timeout", "5s",
			"--signing-key", signingKey, "--key-dir", e.keyDir, "--clamd", e.clamd, "--db-dir", e.dbDir,
			"--acquire-backoff", "100ms")
		s.cmd.Env = pipelineEnv(hook)
		s.cmd.Stdout, s.cmd.Stderr = s.output, s.output
		if err := s.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() {
			s.err = s.cmd.Wait()
			close(s.done)
		}()
		t.Cleanup(s.kill)
		if s.waitReady() {
			return s
		}
		s.kill()
		last = s.output.String()
		if !strings.Contains(last, "address already in use") {
			break
		}
	}
	t.Fatalf("cssc serve with the pipeline did not become ready:\n%s", last)
	return nil
}

// allowUpstreams adds the upstream, direct and slow, to the allow-list of
// a new data directory. (With the API: --upstream-allow refuses every
// entry, see the report.)
func (e *acquireEnv) allowUpstreams(t *testing.T, s *server) {
	t.Helper()
	for n, host := range map[string]string{"direct": e.upstream.Host, "slow": e.slowHost} {
		body, _ := json.Marshal(map[string]any{
			"name": n, "registry": host, "repositories": []string{"demo/*"}, "insecure": true, "signaturePolicy": "if-present",
		})
		if r := s.do(t, http.MethodPost, "/api/v1/upstreams", body, "Content-Type", "application/json"); r.status != http.StatusCreated {
			t.Fatalf("add upstream %s: %v", host, r)
		}
	}
}

func (s *server) waitReady() bool {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return false
		default:
		}
		resp, err := client.Get(s.url + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// getJSON GETs path into out; an error (not a test failure) when the
// server does not answer 200, as happens while it dies.
func (s *server) getJSON(path string, out any) error {
	resp, err := client.Get(s.url + path)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("GET %s: %w: %s", path, err, b)
	}
	return nil
}

func (s *server) submit(t *testing.T, source string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"source": source})
	r := s.do(t, http.MethodPost, "/api/v1/acquisitions", body, "Content-Type", "application/json")
	var rec acquire.Record
	if r.status != http.StatusAccepted || json.Unmarshal(r.body, &rec) != nil || rec.ID == "" {
		t.Fatalf("submit %s: %v", source, r)
	}
	return rec.ID
}

func (s *server) record(t *testing.T, id string) *acquire.Record {
	t.Helper()
	var rec acquire.Record
	if err := s.getJSON("/api/v1/acquisitions/"+id, &rec); err != nil {
		t.Fatalf("%v\n%s", err, s.output.String())
	}
	return &rec
}

// waitFinal waits for the acquisition to reach a final state.
func (s *server) waitFinal(t *testing.T, id string) *acquire.Record {
	t.Helper()
	deadline := time.Now().Add(acquireTimeout)
	for {
		rec := s.record(t, id)
		if rec.State.Final() {
			return rec
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(rec, "", "  ")
			t.Fatalf("acquisition %s not final after %s:\n%s\nserver output:\n%s", id, acquireTimeout, b, s.output.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// awaitCrash waits for the server to kill itself with the hook. It fails
// the test if the acquisition ends and the server lives on.
func (s *server) awaitCrash(t *testing.T, id string) {
	t.Helper()
	deadline := time.After(acquireTimeout)
	var finalSince time.Time
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-s.done:
			var ee *exec.ExitError
			if !errors.As(s.err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL || !strings.Contains(s.output.String(), "killing the server now") {
				t.Fatalf("server ended with %v, want the crash hook's SIGKILL:\n%s", s.err, s.output.String())
			}
			return
		case <-deadline:
			t.Fatalf("server still running after %s; the hook did not fire:\n%s", acquireTimeout, s.output.String())
		case <-tick.C:
			var rec acquire.Record
			if s.getJSON("/api/v1/acquisitions/"+id, &rec) != nil || !rec.State.Final() {
				continue
			}
			// After notify is saved the record is final a moment before
			// the hook kills.
			if finalSince.IsZero() {
				finalSince = time.Now()
			} else if time.Since(finalSince) > 5*time.Second {
				b, _ := json.MarshalIndent(rec, "", "  ")
				t.Fatalf("acquisition completed and the server did not crash:\n%s\nserver output:\n%s", b, s.output.String())
			}
		}
	}
}

// referrers lists the referrers of dgst in repo.
func (s *server) referrers(t *testing.T, repo, dgst string) []ocispec.Descriptor {
	t.Helper()
	var idx ocispec.Index
	if err := s.getJSON("/v2/"+repo+"/referrers/"+dgst, &idx); err != nil {
		t.Fatal(err)
	}
	return idx.Manifests
}

// tagDigest is the digest repo:tag names, "" when there is no such tag.
func (s *server) tagDigest(t *testing.T, repo, tag string) string {
	t.Helper()
	r := s.do(t, http.MethodHead, "/v2/"+repo+"/manifests/"+tag, nil, "Accept", ocispec.MediaTypeImageManifest+","+ocispec.MediaTypeImageIndex)
	switch r.status {
	case http.StatusNotFound:
		return ""
	case http.StatusOK:
		return r.header.Get("Docker-Content-Digest")
	}
	t.Fatalf("HEAD %s:%s: %v", repo, tag, r)
	return ""
}

// referrerCounts counts referrers by kind: the dev.cssc.kind annotation,
// "signature" for Notary signatures, else "other:<artifactType>".
func referrerCounts(refs []ocispec.Descriptor) map[string]int {
	out := map[string]int{}
	for _, d := range refs {
		switch {
		case d.Annotations[acquire.AnnotationKind] != "":
			out[d.Annotations[acquire.AnnotationKind]]++
		case d.ArtifactType == notarySigType:
			out[acquire.KindSignature]++
		default:
			out["other:"+d.ArtifactType]++
		}
	}
	return out
}

func sortedKinds(counts map[string]int) []string {
	var out []string
	for k := range counts {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// goldenSnapshot is what golden/ holds after a crash: the tag's digest
// ("" when absent) and its referrers' kinds.
type goldenSnapshot struct {
	digest string
	kinds  map[string]int
}

// inspectGolden looks at golden/repo:tag with the pipeline off (a plain
// registry on the data directory), so nothing resumes meanwhile. A tag
// that exists must be signed.
func inspectGolden(t *testing.T, dir, repo, tag string) goldenSnapshot {
	t.Helper()
	s := startServer(t, dir)
	defer s.stop(t)
	var g goldenSnapshot
	if g.digest = s.tagDigest(t, "golden/"+repo, tag); g.digest == "" {
		return g
	}
	g.kinds = referrerCounts(s.referrers(t, "golden/"+repo, g.digest))
	if g.kinds[acquire.KindSignature] == 0 {
		t.Errorf("after the crash golden/%s:%s (%s) exists without its signature; referrers %v", repo, tag, g.digest, g.kinds)
	}
	return g
}

// checkAcquiredOnce asserts the acquisition of source promoted the image
// exactly once: one record, one referrer per kind in golden, one
// signature, one acquire.promote event.
func checkAcquiredOnce(t *testing.T, s *server, rec *acquire.Record, source, repo, tag string) {
	t.Helper()
	dump := func() string {
		b, _ := json.MarshalIndent(rec, "", "  ")
		return string(b)
	}
	if rec.State != acquire.StatePromoted {
		t.Fatalf("state %s, want promoted; record:\n%s\nserver output:\n%s", rec.State, dump(), s.output.String())
	}
	var list struct {
		Acquisitions []acquire.Record `json:"acquisitions"`
	}
	if err := s.getJSON("/api/v1/acquisitions", &list); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range list.Acquisitions {
		if r.Source == source {
			ids = append(ids, r.ID)
		}
	}
	if len(ids) != 1 {
		t.Errorf("acquisition records for %s: %v, want exactly one", source, ids)
	}

	// The record lists each kind once on the image.
	recKinds := map[string]int{}
	for _, r := range rec.Referrers {
		if r.Subject == rec.Digest {
			recKinds[r.Kind]++
		}
	}
	want := map[string]int{acquire.KindSignature: 1}
	for _, k := range attachedKinds {
		want[k] = 1
	}
	if !mapsEqual(recKinds, want) {
		t.Errorf("record's referrers of the image by kind: %v, want %v; record:\n%s", recKinds, want, dump())
	}

	// golden/ holds the image under its tag, with exactly one of each.
	golden := "golden/" + repo
	if d := s.tagDigest(t, golden, tag); d != rec.Digest {
		t.Errorf("%s:%s is %q, want the record's digest %s", golden, tag, d, rec.Digest)
	}
	if got := referrerCounts(s.referrers(t, golden, rec.Digest)); !mapsEqual(got, want) {
		t.Errorf("referrers of %s@%s by kind: %v, want exactly one each of %v; record:\n%s", golden, rec.Digest, got, sortedKinds(want), dump())
	}

	// The audit trail tells of one promotion (the promote step) and one
	// promoted outcome (the notify step).
	for _, action := range []string{"acquire.promote", "acquire.promoted"} {
		if ev := auditEvents(t, s, action, rec.Digest); len(ev) != 1 {
			b, _ := json.MarshalIndent(ev, "", "  ")
			t.Errorf("%d %s audit events for %s, want 1:\n%s\nrecord:\n%s", len(ev), action, rec.Digest, b, dump())
		}
	}
}

// auditEvents lists the audit events with action for dgst.
func auditEvents(t *testing.T, s *server, action, dgst string) []audit.Entry {
	t.Helper()
	var ans struct {
		Events []audit.Entry `json:"events"`
	}
	if err := s.getJSON("/api/v1/audit?limit=1000&action="+url.QueryEscape(action), &ans); err != nil {
		t.Fatal(err)
	}
	var out []audit.Entry
	for _, e := range ans.Events {
		if e.Action == action && e.Digest == dgst {
			out = append(out, e)
		}
	}
	return out
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestAcquireCrashAtEveryStep kills the server at each step of an
// acquisition, right after the step was saved and right before, then
// restarts it: the acquisition resumes and promotes the image exactly
// once, and golden/ never shows an incomplete image in between.
func TestAcquireCrashAtEveryStep(t *testing.T) {
	e := setupAcquire(t)
	const repo, tag = "demo/app", "1.0"
	source := e.upstream.Host + "/" + repo + ":" + tag
	dgst := acquiretest.Push(t, source, debianImage(t, imagetest.Layer(t, imagetest.Entry{Name: "etc/motd", Body: "crash test\n"})))

	// Without a crash the image is promoted: the baseline.
	t.Run("no-crash", func(t *testing.T) {
		s := e.startPipeline(t, t.TempDir(), "")
		e.allowUpstreams(t, s)
		rec := s.waitFinal(t, s.submit(t, source))
		if rec.Digest != dgst {
			t.Fatalf("record digest %s, want the upstream's %s", rec.Digest, dgst)
		}
		checkAcquiredOnce(t, s, rec, source, repo, tag)
	})
	if t.Failed() {
		t.FailNow()
	}

	for _, step := range acquire.Steps {
		for _, hook := range []struct{ name, env string }{
			{"after-save", "CSSC_TEST_CRASH_AFTER_STEP"},
			{"before-save", "CSSC_TEST_CRASH_BEFORE_SAVE"},
		} {
			t.Run(string(step)+"/"+hook.name, func(t *testing.T) {
				dir := t.TempDir()
				s := e.startPipeline(t, dir, hook.env+"="+string(step))
				e.allowUpstreams(t, s)
				id := s.submit(t, source)
				s.awaitCrash(t, id)

				snap := inspectGolden(t, dir, repo, tag)

				s = e.startPipeline(t, dir, "")
				rec := s.waitFinal(t, id)
				checkAcquiredOnce(t, s, rec, source, repo, tag)
				if snap.digest != "" {
					// golden/ had the image at the crash: already whole.
					if snap.digest != rec.Digest {
						t.Errorf("after the crash golden/%s:%s was %s, finally %s", repo, tag, snap.digest, rec.Digest)
					}
					final := referrerCounts(s.referrers(t, "golden/"+repo, rec.Digest))
					if !slices.Equal(sortedKinds(snap.kinds), sortedKinds(final)) {
						t.Errorf("after the crash golden/%s:%s had referrers %v, finally %v", repo, tag, snap.kinds, final)
					}
				}
				t.Logf("golden after the crash: %q %v", snap.digest, sortedKinds(snap.kinds))
			})
		}
	}
}

// TestAcquireCrashDuringImport kills the server while it copies a 20 MB
// image from a slow upstream; after a restart the acquisition completes
// exactly once.
func TestAcquireCrashDuringImport(t *testing.T) {
	e := setupAcquire(t)
	const repo, tag = "demo/big", "1.0"
	// Layers of different sizes finish at different times, so progress
	// shows bytes done well before the copy ends.
	var layers []v1.Layer
	for i, size := range []int{2 * mib, 6 * mib, 12 * mib} {
		layers = append(layers, imagetest.Layer(t, imagetest.Entry{Name: fmt.Sprintf("data/blob%d", i), Body: string(randomBytes(uint64(100+i), size))}))
	}
	dgst := acquiretest.Push(t, e.upstream.Host+"/"+repo+":"+tag, debianImage(t, layers...))
	source := e.slowHost + "/" + repo + ":" + tag

	dir := t.TempDir()
	s := e.startPipeline(t, dir, "")
	e.allowUpstreams(t, s)
	id := s.submit(t, source)
	var seen acquire.Progress
	waitFor(t, "copy progress", acquireTimeout, func() bool {
		rec := s.record(t, id)
		if rec.State.Final() || len(rec.Steps) > 0 {
			t.Fatalf("the import finished before the kill (state %s, %d steps); the test proves nothing", rec.State, len(rec.Steps))
		}
		seen = rec.Progress
		return seen.BytesDone > 0
	})
	s.kill()
	if seen.BytesDone >= seen.BytesTotal {
		t.Fatalf("killed at progress %+v: the copy was complete", seen)
	}
	t.Logf("killed at %d of %d bytes", seen.BytesDone, seen.BytesTotal)
	if snap := inspectGolden(t, dir, repo, tag); snap.digest != "" {
		t.Fatalf("golden/%s:%s exists after a crash during the import", repo, tag)
	}

	s = e.startPipeline(t, dir, "")
	rec := s.waitFinal(t, id)
	if rec.Digest != dgst {
		t.Errorf("record digest %s, want the upstream's %s", rec.Digest, dgst)
	}
	checkAcquiredOnce(t, s, rec, source, repo, tag)
	// The whole image arrived in golden/.
	var m ocispec.Manifest
	if err := s.getJSON("/v2/golden/"+repo+"/manifests/"+tag, &m); err != nil {
		t.Fatal(err)
	}
	for _, l := range m.Layers {
		if r := s.do(t, http.MethodHead, "/v2/golden/"+repo+"/blobs/"+l.Digest.String(), nil); r.status != http.StatusOK || r.header.Get("Content-Length") != fmt.Sprint(l.Size) {
			t.Errorf("layer %s in golden: %v (Content-Length %s, want %d)", l.Digest, r.status, r.header.Get("Content-Length"), l.Size)
		}
	}
	// Every blob file is whole: none was kept half-written from the copy
	// the kill cut.
	checkBlobFiles(t, dir)
}
