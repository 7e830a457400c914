// Command verify-bench measures `cssc verify` beside `notation verify` and
// `cosign verify` on the same image, in the same run.
//
// It starts `cssc serve` on 127.0.0.1 in a temporary directory, pushes one
// small image, generates a key with `cssc key generate` and signs the
// image three times with `cssc sign`: Notary Project JWS, Notary Project
// COSE and cosign (legacy .sig tag). notation gets the key's CA in its
// trust store and a strict trust policy; cosign gets the public key.
//
// Each round (--rounds, order reversed every other round) runs, as
// separate processes, each after one untimed run:
//
//   - notation verify              (verifies one Notary signature; stops at the first that passes)
//   - cosign verify --key … --insecure-ignore-tlog
//   - cssc verify --policy … --cosign-key … --no-cache  (all three signatures, cold)
//   - cssc verify --policy … --no-cache                  (the two Notary ones, as notation's side)
//   - cssc verify --cosign-key … --no-cache              (the cosign one, as cosign's side)
//   - cssc verify … with its verification cache warm     (a process, for information)
//   - cssc version, notation version, cosign version     (process start-up alone)
//
// and, in this process, the library call the server and an admission
// webhook make (sign.Verifier with a MemoryCache): cold and warm, --calls
// times each, giving the time per image.
//
//	go run ./bench/verify --cssc bin/cssc --notation NOTATION --cosign COSIGN --rounds 10
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/cssc-project/cssc/bench/internal/benchutil"
	"github.com/cssc-project/cssc/internal/sign"
	"github.com/cssc-project/cssc/internal/sign/notary"
	"github.com/cssc-project/cssc/internal/sign/sigstore"
)

type settings struct {
	cssc, notation, cosign string
	work                   string
	rounds, calls          int
}

func main() {
	var s settings
	flag.StringVar(&s.cssc, "cssc", "bin/cssc", "cssc binary")
	flag.StringVar(&s.notation, "notation", "", "notation binary (scripts/tools.sh --path notation)")
	flag.StringVar(&s.cosign, "cosign", "", "cosign binary (scripts/tools.sh --path cosign)")
	flag.StringVar(&s.work, "work", "", "working directory (default: a new temporary one, removed at the end)")
	flag.IntVar(&s.rounds, "rounds", 10, "timed rounds of the command-line runs; medians are reported")
	flag.IntVar(&s.calls, "calls", 2000, "in-process verifications per measure (warm cache)")
	flag.Parse()
	if err := run(context.Background(), s); err != nil {
		fmt.Fprintln(os.Stderr, "verify-bench:", err)
		os.Exit(1)
	}
}

// bench is the prepared scene.
type bench struct {
	s                  settings
	env                []string
	ref                string // host/repo@digest
	policy, trustStore string
	publicKey          string
	cacheDir           string
}

func run(ctx context.Context, s settings) error {
	if s.notation == "" || s.cosign == "" {
		return errors.New("--notation and --cosign are required")
	}
	if s.work == "" {
		dir, err := os.MkdirTemp("", "cssc-verify-bench-")
		if err != nil {
			return err
		}
		defer func() { _ = os.RemoveAll(dir) }()
		s.work = dir
	}
	b := &bench{s: s}
	stop, err := b.prepare(ctx)
	if stop != nil {
		defer stop()
	}
	if err != nil {
		return err
	}
	type measure struct {
		name string
		args []string
		bin  string
	}
	csscArgs := func(extra ...string) []string {
		return append([]string{"verify", b.ref, "--log-level", "error"}, extra...)
	}
	notaryArgs := []string{"--policy", b.policy, "--trust-store", b.trustStore}
	cosignKey := []string{"--cosign-key", b.publicKey}
	measures := []measure{
		{"notation verify", []string{"verify", "--insecure-registry", b.ref}, s.notation},
		{"cosign verify", []string{"verify", "--key", b.publicKey, "--insecure-ignore-tlog", "--allow-http-registry", b.ref}, s.cosign},
		{"cssc verify, all 3 (cold)", csscArgs(append(append([]string{"--no-cache"}, notaryArgs...), cosignKey...)...), s.cssc},
		{"cssc verify, Notary (cold)", csscArgs(append([]string{"--no-cache"}, notaryArgs...)...), s.cssc},
		{"cssc verify, cosign (cold)", csscArgs(append([]string{"--no-cache"}, cosignKey...)...), s.cssc},
		{"cssc verify, all 3 (warm cache)", csscArgs(append(append([]string{"--cache-dir", b.cacheDir}, notaryArgs...), cosignKey...)...), s.cssc},
		// Process start-up alone, for reading the figures above.
		{"cssc version", []string{"version"}, s.cssc},
		{"notation version", []string{"version"}, s.notation},
		{"cosign version", []string{"version"}, s.cosign},
	}
	times := make(map[string][]float64)
	for _, m := range measures { // untimed: warms the page cache, checks each passes, fills the cache
		if _, err := b.timeRun(m.bin, m.args); err != nil {
			return fmt.Errorf("%s: %w", m.name, err)
		}
	}
	for round := 0; round < s.rounds; round++ {
		for i := range measures {
			m := measures[i]
			if round%2 == 1 {
				m = measures[len(measures)-1-i]
			}
			d, err := b.timeRun(m.bin, m.args)
			if err != nil {
				return fmt.Errorf("%s: %w", m.name, err)
			}
			times[m.name] = append(times[m.name], d.Seconds()*1000)
		}
	}
	lib, err := b.library(ctx)
	if err != nil {
		return err
	}
	med := func(n string) float64 { return benchutil.Median(times[n]) }
	fmt.Printf("\n| command (median of %d runs) | ms |\n|---|---:|\n", s.rounds)
	for _, m := range measures {
		fmt.Printf("| %s | %.1f |\n", m.name, med(m.name))
	}
	both := med("notation verify") + med("cosign verify")
	fmt.Printf("\n| ratio | value | goal |\n|---|---:|---:|\n")
	fmt.Printf("| cssc all 3 cold / (notation + cosign) | %.2f | ≤ 0.5 |\n", med("cssc verify, all 3 (cold)")/both)
	fmt.Printf("| cssc Notary cold / notation | %.2f | |\n", med("cssc verify, Notary (cold)")/med("notation verify"))
	fmt.Printf("| cssc cosign cold / cosign | %.2f | |\n", med("cssc verify, cosign (cold)")/med("cosign verify"))
	fmt.Printf("\n| in-process sign.Verifier, all 3 | per image |\n|---|---:|\n")
	fmt.Printf("| cold (registry reads and verification), median of %d | %.2f ms |\n", len(lib.cold), benchutil.Median(lib.cold))
	fmt.Printf("| warm (MemoryCache hit), mean of %d | %.1f µs |\n", s.calls, lib.warm)
	fmt.Printf("| warm (FileCache hit), mean of %d | %.1f µs |\n", s.calls, lib.warmFile)
	return nil
}

// timeRun runs bin with args and returns its wall time; it must exit 0.
func (b *bench) timeRun(bin string, args []string) (time.Duration, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = b.env
	start := time.Now()
	out, err := cmd.CombinedOutput()
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w\n%s", filepath.Base(bin), strings.Join(args, " "), err, benchutil.Tail(string(out), 20))
	}
	return d, nil
}

// prepare starts the server, pushes and signs the image, and writes the
// verifiers' configuration. The returned function stops the server.
func (b *bench) prepare(ctx context.Context) (func(), error) {
	w := b.s.work
	xdg := filepath.Join(w, "xdg")
	b.env = append(os.Environ(), "XDG_CONFIG_HOME="+xdg, "XDG_CACHE_HOME="+filepath.Join(w, "cache"),
		"HOME="+w, "DOCKER_CONFIG="+filepath.Join(w, "docker"), "CSSC_KEY_PASSPHRASE=bench passphrase")
	b.cacheDir = filepath.Join(w, "verify-cache")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	_ = l.Close()
	srv := exec.Command(b.s.cssc, "serve", "--data-dir", filepath.Join(w, "data"), "--addr", addr, "--log-level", "error")
	srv.Env = b.env
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("start cssc serve: %w", err)
	}
	stop := func() { _ = srv.Process.Signal(os.Interrupt); _ = srv.Wait() }
	if err := waitHTTP("http://" + addr + "/v2/"); err != nil {
		return stop, err
	}
	img, err := random.Image(4096, 3)
	if err != nil {
		return stop, err
	}
	ref, err := name.ParseReference(addr + "/bench/app:v1")
	if err != nil {
		return stop, err
	}
	if err := remote.Write(ref, img, remote.WithContext(ctx)); err != nil {
		return stop, fmt.Errorf("push %s: %w", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		return stop, err
	}
	b.ref = ref.Context().String() + "@" + d.String()
	keyDir := filepath.Join(w, "keys")
	csscRun := func(args ...string) (string, error) {
		cmd := exec.Command(b.s.cssc, append(args, "--log-level", "error")...)
		cmd.Env = b.env
		out, err := cmd.Output()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return "", fmt.Errorf("cssc %s: %w: %s", strings.Join(args, " "), err, ee.Stderr)
			}
			return "", fmt.Errorf("cssc %s: %w", strings.Join(args, " "), err)
		}
		return string(out), nil
	}
	steps := [][]string{
		{"key", "generate", "--name", "bench", "--key-dir", keyDir},
		{"sign", b.ref, "--key", "bench", "--key-dir", keyDir, "--format", "notation-jws"},
		{"sign", b.ref, "--key", "bench", "--key-dir", keyDir, "--format", "notation-cose"},
		{"sign", b.ref, "--key", "bench", "--key-dir", keyDir, "--format", "cosign"},
	}
	for _, st := range steps {
		if _, err := csscRun(st...); err != nil {
			return stop, err
		}
	}
	ca, err := csscRun("key", "export", "--name", "bench", "--cert", "--key-dir", keyDir)
	if err != nil {
		return stop, err
	}
	pub, err := csscRun("key", "export", "--name", "bench", "--public", "--key-dir", keyDir)
	if err != nil {
		return stop, err
	}
	b.trustStore = filepath.Join(xdg, "notation", "truststore")
	b.policy = filepath.Join(xdg, "notation", "trustpolicy.json") // what notation v1.3.2 reads
	b.publicKey = filepath.Join(w, "bench.pub")
	files := map[string]string{
		filepath.Join(b.trustStore, "x509", "ca", "bench", "ca.pem"): ca,
		b.policy: `{"version":"1.0","trustPolicies":[{"name":"all","registryScopes":["*"],` +
			`"signatureVerification":{"level":"strict"},"trustStores":["ca:bench"],"trustedIdentities":["*"]}]}`,
		b.publicKey: pub,
	}
	for p, c := range files {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return stop, err
		}
		if err := os.WriteFile(p, []byte(c), 0o600); err != nil {
			return stop, err
		}
	}
	return stop, nil
}

func waitHTTP(url string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			_ = resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cssc serve did not answer %s: %w", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type libTimes struct {
	cold           []float64 // ms per verification
	warm, warmFile float64   // µs per verification
}

// library times sign.Verifier in this process, as the server and the
// admission webhook call it.
func (b *bench) library(ctx context.Context) (libTimes, error) {
	var lt libTimes
	nc, err := notary.NewChecker(b.policy, b.trustStore)
	if err != nil {
		return lt, err
	}
	sc, err := sigstore.New(sigstore.Options{CosignKey: b.publicKey})
	if err != nil {
		return lt, err
	}
	t, err := sign.Resolve(ctx, b.ref, sign.RemoteOptions{})
	if err != nil {
		return lt, err
	}
	v := &sign.Verifier{Checkers: []sign.Checker{nc, sc}}
	for i := 0; i < 50; i++ {
		start := time.Now()
		r, err := v.Verify(ctx, t)
		if err != nil {
			return lt, err
		}
		if !r.Passed || len(r.Signatures) != 3 {
			return lt, fmt.Errorf("in-process verification: passed %v with %d signatures, want 3 verified", r.Passed, len(r.Signatures))
		}
		lt.cold = append(lt.cold, time.Since(start).Seconds()*1000)
	}
	for _, c := range []sign.Cache{&sign.MemoryCache{}, sign.FileCache{Dir: filepath.Join(b.s.work, "lib-cache")}} {
		v := &sign.Verifier{Checkers: []sign.Checker{nc, sc}, Cache: c, TTL: time.Hour}
		if _, err := v.Verify(ctx, t); err != nil {
			return lt, err
		}
		start := time.Now()
		for i := 0; i < b.s.calls; i++ {
			r, err := v.Verify(ctx, t)
			if err != nil {
				return lt, err
			}
			if !r.Cached {
				return lt, errors.New("warm verification did not come from the cache")
			}
		}
		per := time.Since(start).Seconds() * 1e6 / float64(b.s.calls)
		if _, ok := c.(*sign.MemoryCache); ok {
			lt.warm = per
		} else {
			lt.warmFile = per
		}
	}
	return lt, nil
}
