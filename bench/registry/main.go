// Command registry-bench measures cssc's registry side by side with the
// CNCF distribution registry on the same machine, in the same run: blob push
// and pull throughput, pushing many small manifests, the manifest GET rate,
// and peak memory while a large blob streams in. It prints a Markdown table
// of medians and ratios (cssc / distribution; higher is better for cssc
// except memory).
//
//	go run ./bench/registry --cssc bin/cssc --registry .tools/registry-v3.1.2/registry
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/cssc-project/cssc/bench/internal/benchutil"
)

type settings struct {
	csscBin, registryBin   string
	blobMiB, bigMiB        int
	manifests, getRequests int
	concurrency, rounds    int
}

func main() {
	var s settings
	flag.StringVar(&s.csscBin, "cssc", "bin/cssc", "cssc binary")
	flag.StringVar(&s.registryBin, "registry", "", "CNCF distribution registry binary (v3.1.2)")
	flag.IntVar(&s.blobMiB, "blob-mib", 256, "size of the blob pushed and pulled")
	flag.IntVar(&s.bigMiB, "big-mib", 1024, "size of the blob streamed for the memory check")
	flag.IntVar(&s.manifests, "manifests", 1000, "small manifests pushed")
	flag.IntVar(&s.getRequests, "get-requests", 20000, "manifest GETs for the rate")
	flag.IntVar(&s.concurrency, "concurrency", 8, "parallel clients for manifest push and GET")
	flag.IntVar(&s.rounds, "rounds", 3, "repetitions; the median is reported")
	flag.Parse()
	if s.registryBin == "" {
		fmt.Fprintln(os.Stderr, "--registry is required (scripts/tools.sh --path registry)")
		os.Exit(2)
	}
	if err := run(context.Background(), s); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// target is one registry under test.
type target struct {
	name  string
	start func(dir, addr string) *exec.Cmd
}

type result struct {
	pushMBs, pullMBs, manifestPushPerS, getPerS float64
	peakRSSMiB, idleRSSMiB                      float64
}

func run(ctx context.Context, s settings) error {
	targets := []target{
		{"cssc", func(dir, addr string) *exec.Cmd {
			return exec.Command(s.csscBin, "serve", "--data-dir", dir, "--addr", addr, "--log-level", "error")
		}},
		{"distribution", func(dir, addr string) *exec.Cmd {
			cfg := filepath.Join(dir, "config.yml")
			_ = os.MkdirAll(dir, 0o755)
			_ = os.WriteFile(cfg, []byte(fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s/root
  cache:
    blobdescriptor: inmemory
  delete:
    enabled: true
http:
  addr: %s
`, dir, addr)), 0o644)
			cmd := exec.Command(s.registryBin, "serve", cfg)
			// Its OpenTelemetry exporter would otherwise retry a collector
			// that is not there, costing it CPU in the measurement.
			cmd.Env = append(os.Environ(), "OTEL_TRACES_EXPORTER=none", "OTEL_SDK_DISABLED=true")
			return cmd
		}},
	}
	blob := make([]byte, s.blobMiB<<20)
	rng := rand.New(rand.NewChaCha8([32]byte{1}))
	for i := 0; i < len(blob); i += 8 {
		v := rng.Uint64()
		for j := 0; j < 8 && i+j < len(blob); j++ {
			blob[i+j] = byte(v >> (8 * j))
		}
	}
	results := map[string][]result{}
	for round := 0; round < s.rounds; round++ {
		// Alternate the order so neither registry always runs on a warmer machine.
		order := slices.Clone(targets)
		if round%2 == 1 {
			slices.Reverse(order)
		}
		for _, t := range order {
			r, err := measure(ctx, s, t, blob, round)
			if err != nil {
				return fmt.Errorf("%s round %d: %w", t.name, round+1, err)
			}
			fmt.Fprintf(os.Stderr, "round %d %-12s push %.0f MB/s, pull %.0f MB/s, %.0f manifests/s, %.0f GET/s, peak RSS %.0f MiB\n",
				round+1, t.name, r.pushMBs, r.pullMBs, r.manifestPushPerS, r.getPerS, r.peakRSSMiB)
			results[t.name] = append(results[t.name], r)
		}
	}
	c, d := median(results["cssc"]), median(results["distribution"])
	fmt.Printf("| measure (median of %d) | cssc | distribution v3.1.2 | cssc / distribution |\n|---|---:|---:|---:|\n", s.rounds)
	row := func(name string, a, b float64, unit string) {
		fmt.Printf("| %s | %.0f %s | %.0f %s | %.2f× |\n", name, a, unit, b, unit, a/b)
	}
	row(fmt.Sprintf("push %d MiB blob (POST, streamed PATCH, PUT; %d per round)", s.blobMiB, blobsPerRound), c.pushMBs, d.pushMBs, "MB/s")
	row(fmt.Sprintf("pull %d MiB blob (%d per round)", s.blobMiB, 2*blobsPerRound), c.pullMBs, d.pullMBs, "MB/s")
	row(fmt.Sprintf("push %d small manifests (%d clients)", s.manifests, s.concurrency), c.manifestPushPerS, d.manifestPushPerS, "/s")
	row(fmt.Sprintf("manifest GET by tag (%d clients, %d requests)", s.concurrency, s.getRequests), c.getPerS, d.getPerS, "/s")
	row(fmt.Sprintf("peak RSS while streaming a %d MiB blob in", s.bigMiB), c.peakRSSMiB, d.peakRSSMiB, "MiB")
	row("RSS after start, before any request", c.idleRSSMiB, d.idleRSSMiB, "MiB")
	return nil
}

// blobsPerRound is how many distinct blobs each round pushes.
const blobsPerRound = 3

func median(rs []result) result {
	pick := func(f func(result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		return benchutil.Median(v)
	}
	return result{
		pushMBs:          pick(func(r result) float64 { return r.pushMBs }),
		pullMBs:          pick(func(r result) float64 { return r.pullMBs }),
		manifestPushPerS: pick(func(r result) float64 { return r.manifestPushPerS }),
		getPerS:          pick(func(r result) float64 { return r.getPerS }),
		peakRSSMiB:       pick(func(r result) float64 { return r.peakRSSMiB }),
		idleRSSMiB:       pick(func(r result) float64 { return r.idleRSSMiB }),
	}
}

// measure starts a fresh instance of t and runs every measurement on it.
func measure(ctx context.Context, s settings, t target, blob []byte, round int) (result, error) {
	var r result
	dir, err := os.MkdirTemp("", "bench-"+t.name+"-")
	if err != nil {
		return r, err
	}
	defer func() { _ = os.RemoveAll(dir) }()

	// Memory first, on a fresh process: VmHWM is the process's lifetime peak.
	addr, proc, err := start(ctx, t, filepath.Join(dir, "mem"))
	if err != nil {
		return r, err
	}
	r.idleRSSMiB = rssMiB(proc.Process.Pid, "VmRSS")
	err = pushStream(ctx, addr, "bench/big", s.bigMiB, round)
	r.peakRSSMiB = stop(proc)
	if err != nil {
		return r, fmt.Errorf("stream %d MiB: %w", s.bigMiB, err)
	}

	addr, proc, err = start(ctx, t, filepath.Join(dir, "data"))
	if err != nil {
		return r, err
	}
	defer func() { stop(proc) }()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: s.concurrency * 2, DisableCompression: true}}

	// Several distinct blobs per round, each pulled twice: one transfer is
	// too noisy on a shared 2-core machine. The round reports the medians.
	var pushes, pulls []float64
	for k := range blobsPerRound {
		data := bytes.Clone(blob)
		copy(data, fmt.Sprintf("round-%d-%d-%s", round, k, t.name))
		d := digest.SHA256.FromBytes(data)
		start := time.Now()
		if err := pushBlob(ctx, client, addr, "bench/blob", d, bytes.NewReader(data), int64(len(data))); err != nil {
			return r, fmt.Errorf("push blob: %w", err)
		}
		pushes = append(pushes, float64(len(data))/1e6/time.Since(start).Seconds())
		for range 2 {
			start = time.Now()
			n, err := pullBlob(ctx, client, addr, "bench/blob", d)
			if err != nil {
				return r, fmt.Errorf("pull blob: %w", err)
			}
			if n != int64(len(data)) {
				return r, fmt.Errorf("pulled %d bytes, want %d", n, len(data))
			}
			pulls = append(pulls, float64(n)/1e6/time.Since(start).Seconds())
		}
	}
	r.pushMBs, r.pullMBs = benchutil.Median(pushes), benchutil.Median(pulls)

	tags, elapsed, err := pushManifests(ctx, client, addr, "bench/manifests", s.manifests, s.concurrency)
	if err != nil {
		return r, fmt.Errorf("push manifests: %w", err)
	}
	r.manifestPushPerS = float64(s.manifests) / elapsed.Seconds()

	elapsed, err = getManifests(ctx, client, addr, "bench/manifests", tags, s.getRequests, s.concurrency)
	if err != nil {
		return r, fmt.Errorf("get manifests: %w", err)
	}
	r.getPerS = float64(s.getRequests) / elapsed.Seconds()
	return r, nil
}

func start(ctx context.Context, t target, dir string) (string, *exec.Cmd, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	addr := l.Addr().String()
	_ = l.Close()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, err
	}
	cmd := t.start(dir, addr)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start %s: %w", t.name, err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/v2/", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return addr, cmd, nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop(cmd)
	return "", nil, fmt.Errorf("%s did not start on %s", t.name, addr)
}

// stop ends a registry and returns its peak resident memory (MiB).
func stop(cmd *exec.Cmd) float64 {
	hwm := rssMiB(cmd.Process.Pid, "VmHWM")
	_ = cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
	return hwm
}

// rssMiB reads a memory figure (VmRSS, VmHWM) of a process from /proc.
func rssMiB(pid int, field string) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return -1
}

// pushBlob uploads as crane and containerd do: POST a session, stream the
// body in one PATCH, close with PUT ?digest=.
func pushBlob(ctx context.Context, c *http.Client, addr, repo string, d digest.Digest, body io.Reader, size int64) error {
	loc, err := do(ctx, c, http.MethodPost, "http://"+addr+"/v2/"+repo+"/blobs/uploads/", nil, -1, "", http.StatusAccepted)
	if err != nil {
		return err
	}
	u := abs(addr, loc)
	loc, err = do(ctx, c, http.MethodPatch, u, body, size, "application/octet-stream", http.StatusAccepted)
	if err != nil {
		return err
	}
	u = abs(addr, loc)
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	_, err = do(ctx, c, http.MethodPut, u+sep+"digest="+d.String(), nil, 0, "application/octet-stream", http.StatusCreated)
	return err
}

// pushStream streams a blob of mib MiB made of a repeated random block, so
// the client holds 16 MiB whatever the size, and the server must stream.
func pushStream(ctx context.Context, addr, repo string, mib, round int) error {
	block := make([]byte, 16<<20)
	rng := rand.New(rand.NewPCG(uint64(round), 7))
	for i := range block {
		block[i] = byte(rng.Uint32())
	}
	n := mib / 16
	h := sha256.New()
	for i := 0; i < n; i++ {
		h.Write(block)
	}
	d := digest.NewDigest(digest.SHA256, h)
	pr, pw := io.Pipe()
	go func() {
		for i := 0; i < n; i++ {
			if _, err := pw.Write(block); err != nil {
				return
			}
		}
		_ = pw.Close()
	}()
	c := &http.Client{}
	return pushBlob(ctx, c, addr, repo, d, pr, int64(n)*int64(len(block)))
}

func pullBlob(ctx context.Context, c *http.Client, addr, repo string, d digest.Digest) (int64, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/v2/"+repo+"/blobs/"+d.String(), nil)
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET blob: %s", resp.Status)
	}
	// io.Discard's own ReadFrom reads 8 KiB at a time, which would make the
	// client the bottleneck; a large buffer measures the server.
	return io.CopyBuffer(struct{ io.Writer }{io.Discard}, resp.Body, make([]byte, 1<<20))
}

// pushManifests pushes n distinct small image manifests (one config, one
// layer, shared) under tags t0…, from conc clients.
func pushManifests(ctx context.Context, c *http.Client, addr, repo string, n, conc int) ([]string, time.Duration, error) {
	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	layer := []byte("small layer")
	for _, b := range [][]byte{config, layer} {
		if err := pushBlob(ctx, c, addr, repo, digest.SHA256.FromBytes(b), bytes.NewReader(b), int64(len(b))); err != nil {
			return nil, 0, err
		}
	}
	tags := make([]string, n)
	bodies := make([][]byte, n)
	for i := range n {
		tags[i] = "t" + strconv.Itoa(i)
		bodies[i] = []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
			`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},`+
			`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}],`+
			`"annotations":{"bench.index":"%d"}}`,
			digest.SHA256.FromBytes(config), len(config), digest.SHA256.FromBytes(layer), len(layer), i))
	}
	var next atomic.Int64
	start := time.Now()
	err := benchutil.Parallel(conc, func() error {
		for {
			i := int(next.Add(1) - 1)
			if i >= n {
				return nil
			}
			if _, err := do(ctx, c, http.MethodPut, "http://"+addr+"/v2/"+repo+"/manifests/"+tags[i],
				bytes.NewReader(bodies[i]), int64(len(bodies[i])), "application/vnd.oci.image.manifest.v1+json", http.StatusCreated); err != nil {
				return err
			}
		}
	})
	return tags, time.Since(start), err
}

func getManifests(ctx context.Context, c *http.Client, addr, repo string, tags []string, total, conc int) (time.Duration, error) {
	var next atomic.Int64
	start := time.Now()
	err := benchutil.Parallel(conc, func() error {
		for {
			i := int(next.Add(1) - 1)
			if i >= total {
				return nil
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/v2/"+repo+"/manifests/"+tags[i%len(tags)], nil)
			req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
			resp, err := c.Do(req)
			if err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("GET manifest %s: %s", tags[i%len(tags)], resp.Status)
			}
		}
	})
	return time.Since(start), err
}

// do sends one request and returns its Location header.
func do(ctx context.Context, c *http.Client, method, url string, body io.Reader, size int64, ctype string, want int) (string, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return "", err
	}
	if size >= 0 {
		req.ContentLength = size
		if size == 0 {
			req.Body = http.NoBody
		}
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != want {
		return "", fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, msg)
	}
	return resp.Header.Get("Location"), nil
}

func abs(addr, loc string) string {
	if strings.HasPrefix(loc, "http://") || strings.HasPrefix(loc, "https://") {
		return loc
	}
	return "http://" + addr + loc
}
