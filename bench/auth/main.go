// Command auth-bench measures what authentication and the audit trail cost
// on the registry's hot path: the manifest GET-by-tag rate of a cssc server
// with both off (open mode, never initialised, with pull auditing sampled
// away: --audit-pull-sampling 1000000000) beside one initialised with
// `cssc admin init` (authentication on, every pull audited), in the same
// run, on the same machine. The goal is ≤ 10 % slower. The secured server
// is measured with the three ways clients present credentials:
//
//   - Basic: name and secret on every request (what a script with curl does);
//   - registry token: a bearer token obtained once from /token through the
//     401 challenge (what docker, crane and containerd do);
//   - API token: `cssc token create`'s cssc_… token as a bearer token.
//
// A third server, in open mode with every pull audited, shows what the
// audit trail alone costs.
//
// Each round gives every variant --duration (20 s) of load from
// --concurrency keep-alive clients, in turns of --slice (1 s) whose order
// rotates and reverses, so that the background load of a shared machine,
// which moves over seconds, falls on all variants alike. (A checked secret
// is cached for 10 s and checked again in the background in its last 2 s
// when used then, as continuous load does; a turn that misses that window
// waits for one argon2id check, about 35 ms, now and then.) The table gives the median rate over rounds, the median
// of the ratios to "off" within each cycle of turns (neighbours in time)
// and the middle half of those ratios; a second table gives each server's
// CPU time per GET (its asynchronous audit writes included; the client
// runs on the same cores, so the rate understates the server's own
// overhead). At the end it checks that every pull served was recorded in
// the audit trail.
//
//	go run ./bench/auth --cssc bin/cssc --rounds 5
package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	_ "modernc.org/sqlite"

	"github.com/cssc-project/cssc/bench/internal/benchutil"
)

type settings struct {
	csscBin     string
	concurrency int
	rounds      int
	duration    time.Duration
	slice       time.Duration
	warmup      time.Duration
	only        string
	keep        bool
}

const (
	repo          = "bench/app"
	tag           = "1.0"
	adminPassword = "bench-admin-password"
	robotName     = "bench-pull"
)

func main() {
	var s settings
	flag.StringVar(&s.csscBin, "cssc", "bin/cssc", "cssc binary")
	flag.IntVar(&s.concurrency, "concurrency", 8, "parallel clients (each keeps its connection alive)")
	flag.IntVar(&s.rounds, "rounds", 3, "repetitions; the median is reported")
	flag.DurationVar(&s.duration, "duration", 20*time.Second, "measured time per variant and round")
	flag.DurationVar(&s.slice, "slice", time.Second, "variants take turns in slices this long")
	flag.DurationVar(&s.warmup, "warmup", time.Second, "unmeasured time per variant before the first round")
	flag.StringVar(&s.only, "only", "", "measure only these variants (comma-separated: audit,basic,regtoken,apitoken; off, the baseline, is always kept)")
	flag.BoolVar(&s.keep, "keep", false, "keep the data directories (printed) for inspection")
	flag.Parse()
	if s.slice <= 0 || s.slice > s.duration {
		s.slice = s.duration
	}
	if err := run(context.Background(), s); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// server is one running `cssc serve`.
type server struct {
	name, label string
	dir         string
	addr        string
	cmd         *exec.Cmd
	client      *http.Client
	served      atomic.Int64 // manifest GETs answered 200 in the measured slices
	allServed   atomic.Int64 // and in total
	cpu0        float64      // CPU seconds used when the measurement started
	cpuPerGET   float64      // µs
}

// variant is one way of calling one server.
type variant struct {
	name, short string
	srv         *server
	// authorization returns the Authorization header for a round ("": none).
	authorization func(ctx context.Context) (string, error)
}

func run(ctx context.Context, s settings) error {
	root, err := os.MkdirTemp("", "bench-auth-")
	if err != nil {
		return err
	}
	if s.keep {
		fmt.Fprintln(os.Stderr, "data directories under", root)
	} else {
		defer func() { _ = os.RemoveAll(root) }()
	}
	loginFile := filepath.Join(root, "logins.json") // never the user's own

	bareSrv, err := startServer(ctx, s, "off", filepath.Join(root, "off"), "--audit-pull-sampling", "1000000000")
	if err != nil {
		return err
	}
	bareSrv.label = "off: open mode, pull audit sampled away"
	defer bareSrv.stop()
	openSrv, err := startServer(ctx, s, "audit", filepath.Join(root, "open"))
	if err != nil {
		return err
	}
	openSrv.label = "open mode, every pull audited"
	defer openSrv.stop()

	securedDir := filepath.Join(root, "secured")
	if _, err := cssc(ctx, s.csscBin, []string{"CSSC_ADMIN_PASSWORD=" + adminPassword}, "admin", "init", "--data-dir", securedDir); err != nil {
		return err
	}
	secSrv, err := startServer(ctx, s, "secured", securedDir)
	if err != nil {
		return err
	}
	secSrv.label = "secured, every pull audited (all three credential styles)"
	defer secSrv.stop()
	servers := []*server{bareSrv, openSrv, secSrv}

	// One small image per server (a 2-layer random image, ~8 KiB).
	for _, srv := range servers {
		var a authn.Authenticator = authn.Anonymous
		if srv == secSrv {
			a = &authn.Basic{Username: "admin", Password: adminPassword}
		}
		if err := pushImage(ctx, srv.addr, a); err != nil {
			return fmt.Errorf("push to %s: %w", srv.name, err)
		}
	}

	// Sanity: open mode answers without credentials, the secured server not.
	if st, err := getStatus(ctx, openSrv, ""); err != nil || st != http.StatusOK {
		return fmt.Errorf("open server, no credentials: %d %v (want 200)", st, err)
	}
	if st, err := getStatus(ctx, secSrv, ""); err != nil || st != http.StatusUnauthorized {
		return fmt.Errorf("secured server, no credentials: %d %v (want 401)", st, err)
	}

	// The secured server is called by a robot that may pull bench/**, as
	// a CI job or a node would be.
	adminEnv := []string{"CSSC_USERNAME=admin", "CSSC_PASSWORD=" + adminPassword, "CSSC_LOGIN_FILE=" + loginFile}
	secret, err := cssc(ctx, s.csscBin, adminEnv, "robot", "add", robotName, "--role", "pull", "--scope", "bench/**", "--server", "http://"+secSrv.addr)
	if err != nil {
		return err
	}
	robotEnv := []string{"CSSC_USERNAME=" + robotName, "CSSC_PASSWORD=" + secret, "CSSC_LOGIN_FILE=" + loginFile}
	apiToken, err := cssc(ctx, s.csscBin, robotEnv, "token", "create", "--name", "bench", "--expires", "1d", "--server", "http://"+secSrv.addr)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(apiToken, "cssc_") {
		return fmt.Errorf("cssc token create printed %q, want cssc_…", apiToken)
	}

	none := func(context.Context) (string, error) { return "", nil }
	fixed := func(v string) func(context.Context) (string, error) {
		return func(context.Context) (string, error) { return v, nil }
	}
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.SetBasicAuth(robotName, secret)
	basic := req.Header.Get("Authorization")
	variants := []variant{
		{"off: no authentication, pulls not audited", "off", bareSrv, none},
		{"audit only: open mode, every pull audited", "audit", openSrv, none},
		{"secured, Basic on every request", "basic", secSrv, fixed(basic)},
		{"secured, registry token from /token", "regtoken", secSrv, func(ctx context.Context) (string, error) {
			tok, err := registryToken(ctx, secSrv, robotName, secret)
			return "Bearer " + tok, err
		}},
		{"secured, API token (cssc_…)", "apitoken", secSrv, fixed("Bearer " + apiToken)},
	}
	if s.only != "" {
		keep := strings.Split(s.only, ",")
		variants = slices.DeleteFunc(variants, func(v variant) bool { return v.short != "off" && !slices.Contains(keep, v.short) })
	}

	// Warm up every variant (connections, caches, the first secret check).
	for _, v := range variants {
		hdr, err := v.authorization(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", v.name, err)
		}
		if _, err := slice(ctx, s, v, hdr, s.warmup); err != nil {
			return fmt.Errorf("warm-up, %s: %w", v.name, err)
		}
	}
	for _, srv := range servers {
		waitAuditIdle(srv.dir)
		if srv.cpu0, err = cpuSeconds(srv.cmd.Process.Pid); err != nil {
			return err
		}
		srv.served.Store(0)
	}

	// Each round gives every variant s.duration in turns of s.slice, in an
	// order that rotates (and reverses every other cycle): the background
	// load of a shared host, which moves over seconds, falls on all alike.
	// There is no warm-up per turn.
	rates := make([][]float64, len(variants))      // [variant][round]
	cycleRates := make([][]float64, len(variants)) // [variant][round×cycle]
	cycles := max(1, int(s.duration/s.slice))
	for round := range s.rounds {
		counts := make([]int64, len(variants))
		spent := make([]time.Duration, len(variants))
		// Credentials once per round: a registry token is fetched once
		// and reused, as clients do until it expires (5 min).
		hdrs := make([]string, len(variants))
		for i, v := range variants {
			if hdrs[i], err = v.authorization(ctx); err != nil {
				return fmt.Errorf("%s: %w", v.name, err)
			}
		}
		for c := range cycles {
			order := make([]int, len(variants))
			for i := range order {
				order[i] = (i + c + round) % len(variants)
			}
			if (c+round)%2 == 1 {
				slices.Reverse(order)
			}
			for _, i := range order {
				v := variants[i]
				start := time.Now()
				n, err := slice(ctx, s, v, hdrs[i], s.slice)
				took := time.Since(start)
				spent[i] += took
				if err != nil {
					return fmt.Errorf("round %d, %s: %w", round+1, v.name, err)
				}
				cycleRates[i] = append(cycleRates[i], float64(n)/took.Seconds())
				counts[i] += n
				v.srv.served.Add(n)
			}
		}
		line := fmt.Sprintf("round %d:", round+1)
		for i := range variants {
			r := float64(counts[i]) / spent[i].Seconds()
			rates[i] = append(rates[i], r)
			line += fmt.Sprintf("  %s %.0f/s", variants[i].short, r)
		}
		fmt.Fprintln(os.Stderr, line)
	}
	for _, srv := range servers {
		waitAuditIdle(srv.dir)
		cpu1, err := cpuSeconds(srv.cmd.Process.Pid)
		if err != nil {
			return err
		}
		srv.cpuPerGET = (cpu1 - srv.cpu0) / float64(max(1, srv.served.Load())) * 1e6
	}

	med := make([]float64, len(variants))
	for i := range variants {
		med[i] = benchutil.Median(rates[i])
	}
	// The ratio to the baseline (off) within each cycle (turns next to each
	// other, so the same seconds of the machine), then its median over all
	// cycles of all rounds: steadier than the ratio of the medians.
	cycleRatios := func(i int) []float64 {
		r := make([]float64, len(cycleRates[i]))
		for k := range r {
			r[k] = cycleRates[i][k] / cycleRates[0][k]
		}
		slices.Sort(r)
		return r
	}
	pairedRatio := func(i int) float64 { return benchutil.Median(cycleRatios(i)) }
	// The middle half of the per-cycle ratios: how much they scatter.
	middleHalf := func(i int) string {
		r := cycleRatios(i)
		return fmt.Sprintf("%.3f–%.3f", r[len(r)/4], r[(3*len(r))/4])
	}
	fmt.Printf("\nmanifest GET by tag, %d clients, %d rounds of %s per variant in turns of %s (medians over rounds)\n\n",
		s.concurrency, s.rounds, s.duration, s.slice)
	fmt.Printf("| variant | GET/s | range over rounds | / off (median of per-cycle ratios) | middle half of per-cycle ratios |\n|---|---:|---:|---:|---:|\n")
	for i, v := range variants {
		fmt.Printf("| %s | %.0f | %.0f–%.0f | %.3f | %s |\n", v.name, med[i], slices.Min(rates[i]), slices.Max(rates[i]), pairedRatio(i), middleHalf(i))
	}
	fmt.Printf("\n| server | GETs served | server CPU per GET (its audit writes included) |\n|---|---:|---:|\n")
	for _, srv := range servers {
		if srv.served.Load() > 0 {
			fmt.Printf("| %s | %d | %.0f µs |\n", srv.label, srv.served.Load(), srv.cpuPerGET)
		}
	}
	fmt.Println()
	for i, v := range variants {
		slower := (1 - pairedRatio(i)) * 100
		switch v.srv {
		case secSrv:
			verdict := "meets the ≤ 10 % goal"
			if slower > 10 {
				verdict = "MISSES the ≤ 10 % goal"
			}
			fmt.Printf("%s: %.1f %% slower than off (%s)\n", v.name, slower, verdict)
		case openSrv:
			fmt.Printf("%s (the audit trail's own cost): %.1f %% slower than off\n", v.name, slower)
		}
	}

	// Every pull served must be in the audit trail (stop the servers first:
	// closing the trail writes what is queued). Warm-ups and the checks
	// above count as served too.
	fmt.Println()
	for _, srv := range []*server{openSrv, secSrv} {
		srv.stop()
		n, err := countPulls(srv.dir)
		if err != nil {
			fmt.Printf("audit trail of %s: could not count pulls: %v\n", srv.name, err)
			continue
		}
		served := srv.allServed.Load()
		fmt.Printf("audit trail of %s: %d pulls recorded for %d served (%d missing)\n", srv.name, n, served, served-n)
	}
	return nil
}

// slice runs the GET load of v with hdr for d and returns how many GETs
// were answered.
func slice(ctx context.Context, s settings, v variant, hdr string, d time.Duration) (int64, error) {
	u := "http://" + v.srv.addr + "/v2/" + repo + "/manifests/" + tag
	var n atomic.Int64
	end := time.Now().Add(d)
	err := benchutil.Parallel(s.concurrency, func() error {
		for time.Now().Before(end) {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			req.Header.Set("Accept", acceptManifests)
			if hdr != "" {
				req.Header.Set("Authorization", hdr)
			}
			resp, err := v.srv.client.Do(req)
			if err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("GET %s: %s", u, resp.Status)
			}
			n.Add(1)
			v.srv.allServed.Add(1)
		}
		return nil
	})
	return n.Load(), err
}

const acceptManifests = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, " +
	"application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json"

// cpuSeconds is the user+system CPU time a process has used.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; fields after ")" are fixed.
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	utime, _ := strconv.ParseFloat(f[11], 64) // field 14
	stime, _ := strconv.ParseFloat(f[12], 64) // field 15
	return (utime + stime) / 100, nil         // USER_HZ is 100 on Linux
}

// waitAuditIdle waits until the server's audit trail stops growing, so
// that one variant's queued audit writes do not run during the next
// variant's measurement. It reads the database read-only (WAL); if it
// cannot, it waits a fixed second.
func waitAuditIdle(dir string) {
	db, err := openMeta(dir)
	if err != nil {
		time.Sleep(time.Second)
		return
	}
	defer func() { _ = db.Close() }()
	last := int64(-1)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		var n sql.NullInt64
		if err := db.QueryRow(`SELECT max(seq) FROM audit_events`).Scan(&n); err != nil {
			time.Sleep(time.Second)
			return
		}
		if n.Int64 == last {
			return
		}
		last = n.Int64
		time.Sleep(300 * time.Millisecond) // longer than the flush interval (200 ms)
	}
}

func openMeta(dir string) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "query_only(1)")
	return sql.Open("sqlite", "file:"+filepath.Join(dir, "meta.db")+"?mode=ro&"+q.Encode())
}

func countPulls(dir string) (int64, error) {
	db, err := openMeta(dir)
	if err != nil {
		return 0, err
	}
	defer func() { _ = db.Close() }()
	var n int64
	err = db.QueryRow(`SELECT coalesce(sum(count), 0) FROM audit_events WHERE action = 'pull' AND decision = 'allow'`).Scan(&n)
	return n, err
}

// cssc runs the CLI with extra environment and returns its standard output,
// trimmed.
func cssc(ctx context.Context, bin string, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("cssc %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

func startServer(ctx context.Context, s settings, label, dir string, extra ...string) (*server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	_ = l.Close()
	args := append([]string{"serve", "--data-dir", dir, "--addr", addr, "--log-level", "error"}, extra...)
	cmd := exec.Command(s.csscBin, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s server: %w", label, err)
	}
	srv := &server{name: label, dir: dir, addr: addr, cmd: cmd, client: &http.Client{Transport: &http.Transport{
		MaxIdleConnsPerHost: 2 * s.concurrency, MaxIdleConns: 4 * s.concurrency, DisableCompression: true,
	}}}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/readyz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return srv, nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	srv.stop()
	return nil, fmt.Errorf("%s server did not start on %s", label, addr)
}

// stop ends the server gracefully (it closes its audit trail); twice is harmless.
func (srv *server) stop() {
	if srv.cmd.ProcessState != nil {
		return
	}
	_ = srv.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = srv.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = srv.cmd.Process.Kill()
		<-done
	}
}

func pushImage(ctx context.Context, addr string, a authn.Authenticator) error {
	img, err := random.Image(4096, 2)
	if err != nil {
		return err
	}
	ref, err := name.ParseReference(addr+"/"+repo+":"+tag, name.Insecure)
	if err != nil {
		return err
	}
	return remote.Write(ref, img, remote.WithAuth(a), remote.WithContext(ctx))
}

func getStatus(ctx context.Context, srv *server, authorization string) (int, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+srv.addr+"/v2/"+repo+"/manifests/"+tag, nil)
	req.Header.Set("Accept", acceptManifests)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := srv.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		srv.allServed.Add(1)
	}
	return resp.StatusCode, nil
}

// registryToken follows the Docker token flow as docker and crane do: an
// unauthenticated GET gets a 401 whose challenge names the token endpoint,
// service and scope; a GET there with Basic credentials returns the token.
func registryToken(ctx context.Context, srv *server, user, password string) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+srv.addr+"/v2/"+repo+"/manifests/"+tag, nil)
	resp, err := srv.client.Do(req)
	if err != nil {
		return "", err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	ch := resp.Header.Get("WWW-Authenticate")
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(ch, "Bearer ") {
		return "", fmt.Errorf("unauthenticated GET: %s, WWW-Authenticate %q (want 401 and a Bearer challenge)", resp.Status, ch)
	}
	params := parseChallenge(strings.TrimPrefix(ch, "Bearer "))
	realm, err := url.Parse(params["realm"])
	if err != nil || params["realm"] == "" {
		return "", fmt.Errorf("challenge %q: no usable realm", ch)
	}
	q := realm.Query()
	q.Set("service", params["service"])
	q.Set("scope", params["scope"])
	realm.RawQuery = q.Encode()
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, realm.String(), nil)
	req.SetBasicAuth(user, password)
	resp, err = srv.client.Do(req)
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	var out struct {
		Token string `json:"token"`
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return "", fmt.Errorf("GET %s: %s: %s", realm, resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Token == "" {
		return "", fmt.Errorf("token endpoint answered no token (%v)", err)
	}
	return out.Token, nil
}

// parseChallenge reads k="v",k="v" (values without escaped quotes).
func parseChallenge(s string) map[string]string {
	out := map[string]string{}
	for s != "" {
		k, rest, ok := strings.Cut(s, "=")
		if !ok {
			break
		}
		k = strings.TrimSpace(k)
		var v string
		if strings.HasPrefix(rest, `"`) {
			v, rest, _ = strings.Cut(rest[1:], `"`)
			rest = strings.TrimPrefix(strings.TrimSpace(rest), ",")
		} else {
			v, rest, _ = strings.Cut(rest, ",")
		}
		out[k] = v
		s = strings.TrimSpace(rest)
	}
	return out
}
