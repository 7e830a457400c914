// Command cssc-demo is what `make demo` runs: it starts `cssc serve` on a
// fresh data directory (open mode), pushes a small generated image and a
// two-platform index with go-containerregistry, attaches an SBOM with
// oras-go as an OCI 1.1 referrer, pulls everything back and checks every
// digest; then it turns authentication on (`cssc admin init`), restarts,
// and shows a robot account, a denied push, the quarantine rule and the
// audit trail verified online and offline. It uses no network beyond
// 127.0.0.1.
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	gv1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	orasremote "oras.land/oras-go/v2/registry/remote"
)

func main() {
	bin := flag.String("cssc", "./bin/cssc", "path of the cssc binary")
	dataDir := flag.String("data-dir", "", "data directory (default: a new temporary one)")
	flag.Parse()
	if err := run(context.Background(), *bin, *dataDir); err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

func step(format string, args ...any) { fmt.Printf("==> "+format+"\n", args...) }

func run(ctx context.Context, bin, dataDir string) error {
	if dataDir == "" {
		tmp, err := os.MkdirTemp("", "cssc-demo-")
		if err != nil {
			return err
		}
		defer func() { _ = os.RemoveAll(tmp) }()
		dataDir = filepath.Join(tmp, "data")
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	stop, err := startServer(ctx, bin, dataDir, addr)
	if err != nil {
		return err
	}
	defer func() { stop() }()

	// 1. A small image: one layer with a file, built in memory.
	layer, err := fileLayer("hello.txt", "hello from cssc\n")
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return err
	}
	img, err = mutate.Config(img, gv1.Config{Cmd: []string{"/bin/cat", "/hello.txt"}})
	if err != nil {
		return err
	}
	ref, err := name.ParseReference(addr + "/demo/hello:1.0")
	if err != nil {
		return err
	}
	if err := remote.Write(ref, img, remote.WithContext(ctx)); err != nil {
		return fmt.Errorf("push %s: %w", ref, err)
	}
	want, _ := img.Digest()
	step("pushed %s (%s)", ref, want)

	got, err := remote.Image(ref, remote.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("pull %s: %w", ref, err)
	}
	gotDigest, _ := got.Digest()
	if gotDigest != want {
		return fmt.Errorf("pulled digest %s, pushed %s", gotDigest, want)
	}
	layers, _ := got.Layers()
	rc, err := layers[0].Uncompressed()
	if err != nil {
		return err
	}
	text, err := readTarFile(rc, "hello.txt")
	if err != nil {
		return err
	}
	step("pulled it back: digest matches, hello.txt says %q", strings.TrimSpace(text))

	// 2. A multi-platform index of two variants.
	arm, err := mutate.ConfigFile(img, &gv1.ConfigFile{Architecture: "arm64", OS: "linux"})
	if err != nil {
		return err
	}
	amd, err := mutate.ConfigFile(img, &gv1.ConfigFile{Architecture: "amd64", OS: "linux"})
	if err != nil {
		return err
	}
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: amd, Descriptor: gv1.Descriptor{Platform: &gv1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: gv1.Descriptor{Platform: &gv1.Platform{OS: "linux", Architecture: "arm64"}}},
	)
	idxRef, _ := name.ParseReference(addr + "/demo/hello:multi")
	if err := remote.WriteIndex(idxRef, idx, remote.WithContext(ctx)); err != nil {
		return fmt.Errorf("push index: %w", err)
	}
	armImg, err := remote.Image(idxRef, remote.WithPlatform(gv1.Platform{OS: "linux", Architecture: "arm64"}))
	if err != nil {
		return fmt.Errorf("pull arm64 from index: %w", err)
	}
	cf, _ := armImg.ConfigFile()
	step("pushed a two-platform index %s; pulled the %s/%s variant", idxRef, cf.OS, cf.Architecture)

	// 3. An SBOM attached as an OCI 1.1 referrer, then found again.
	repo, err := orasremote.NewRepository(addr + "/demo/hello")
	if err != nil {
		return err
	}
	repo.PlainHTTP = true
	subject, err := repo.Resolve(ctx, "1.0")
	if err != nil {
		return err
	}
	sbom := []byte(`{"spdxVersion":"SPDX-2.3","name":"demo/hello","SPDXID":"SPDXRef-DOCUMENT"}`)
	sbomDesc := content.NewDescriptorFromBytes("application/spdx+json", sbom)
	if err := repo.Push(ctx, sbomDesc, bytes.NewReader(sbom)); err != nil {
		return fmt.Errorf("push sbom: %w", err)
	}
	artifact, err := oras.PackManifest(ctx, repo, oras.PackManifestVersion1_1, "application/spdx+json", oras.PackManifestOptions{
		Subject: &subject, Layers: []ocispec.Descriptor{sbomDesc},
	})
	if err != nil {
		return fmt.Errorf("attach sbom: %w", err)
	}
	var found []ocispec.Descriptor
	if err := repo.Referrers(ctx, subject, "application/spdx+json", func(r []ocispec.Descriptor) error {
		found = append(found, r...)
		return nil
	}); err != nil {
		return fmt.Errorf("list referrers: %w", err)
	}
	if len(found) != 1 || found[0].Digest != artifact.Digest {
		return fmt.Errorf("referrers API returned %v, want %s", found, artifact.Digest)
	}
	step("attached an SBOM (%s) to %s and found it through the referrers API", artifact.Digest, subject.Digest)

	// 4. What the registry now holds, and its own view of itself.
	var cat struct{ Repositories []string }
	if err := getJSON(ctx, "http://"+addr+"/v2/_catalog", &cat); err != nil {
		return err
	}
	var tags struct{ Tags []string }
	if err := getJSON(ctx, "http://"+addr+"/v2/demo/hello/tags/list", &tags); err != nil {
		return err
	}
	step("catalog %v, tags of demo/hello %v", cat.Repositories, tags.Tags)
	out, err := exec.CommandContext(ctx, bin, "gc", "--data-dir", dataDir, "--dry-run", "--log-level", "warn").CombinedOutput()
	if err != nil {
		return fmt.Errorf("cssc gc: %w: %s", err, out)
	}
	step("%s", strings.TrimSpace(string(out)))

	// 5. Image analysis: SBOM and vulnerability scan.
	if err := analysis(ctx, bin, addr, filepath.Dir(dataDir)); err != nil {
		return err
	}
	// 5b. Malware and secrets, layer by layer.
	if err := contentScan(ctx, bin, addr, filepath.Dir(dataDir)); err != nil {
		return err
	}

	// 5c. Signing and verification.
	if err := signing(ctx, bin, ref.String(), idxRef.String(), filepath.Dir(dataDir)); err != nil {
		return err
	}

	// 5d. The Acquire pipeline: upstream → quarantine → checks → golden.
	work := filepath.Dir(dataDir)
	if err := acquireStory(ctx, bin, work, filepath.Join(work, "signing", "keys"), filepath.Join(work, "vulndb")); err != nil {
		return err
	}

	// 6. Turn authentication on, and see it at work.
	stop()
	if err := secured(ctx, bin, dataDir, addr, ref); err != nil {
		return err
	}
	step("demo finished: registry, index, referrers, gc, SBOM, vulnerability, malware and secret scans, signing and verification, the acquire pipeline, access control and the audit trail all work")
	return nil
}

// startServer starts `cssc serve` and waits until it is ready; stop is
// safe to call twice.
func startServer(ctx context.Context, bin, dataDir, addr string) (stop func(), err error) {
	step("starting: %s serve --data-dir %s --addr %s", bin, dataDir, addr)
	return startServerWith(ctx, bin, addr, nil, "--data-dir", dataDir)
}

// startServerWith starts `cssc serve --addr addr` with more arguments and
// the environment env (nil: this process's).
func startServerWith(ctx context.Context, bin, addr string, env []string, args ...string) (stop func(), err error) {
	srv := exec.Command(bin, append([]string{"serve", "--addr", addr, "--log-level", "warn"}, args...)...)
	srv.Stdout, srv.Stderr, srv.Env = os.Stdout, os.Stderr, env
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("start cssc: %w", err)
	}
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			_ = srv.Process.Signal(os.Interrupt)
			_ = srv.Wait()
		}
	}
	if err := waitReady(ctx, "http://"+addr); err != nil {
		stop()
		return nil, err
	}
	return stop, nil
}

// secured initialises the data directory, restarts the server and shows
// credentials, roles, the quarantine rule and the audit trail.
func secured(ctx context.Context, bin, dataDir, addr string, ref name.Reference) error {
	out, err := exec.CommandContext(ctx, bin, "admin", "init", "--data-dir", dataDir).Output()
	if err != nil {
		return fmt.Errorf("cssc admin init: %w", exitDetail(err))
	}
	adminSecret := strings.TrimSpace(string(out))
	step("cssc admin init: authentication is on; admin's one-time secret captured from standard output")
	stop, err := startServer(ctx, bin, dataDir, addr)
	if err != nil {
		return err
	}
	defer stop()
	env := append(os.Environ(), "CSSC_SERVER=http://"+addr, "CSSC_USERNAME=admin", "CSSC_PASSWORD="+adminSecret,
		"CSSC_LOGIN_FILE="+filepath.Join(filepath.Dir(dataDir), "logins.json"))
	cssc := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, bin, append(args, "--log-level", "warn")...)
		cmd.Env = env
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("cssc %s: %w", strings.Join(args, " "), exitDetail(err))
		}
		return strings.TrimSpace(string(out)), nil
	}

	if _, err := remote.Image(ref, remote.WithContext(ctx)); !isStatus(err, http.StatusUnauthorized) {
		return fmt.Errorf("anonymous pull after init: %v, want 401", err)
	}
	step("anonymous pull of %s: 401, as it should be", ref)
	ciSecret, err := cssc("robot", "add", "ci", "--role", "pull", "--scope", "demo/**", "--expires", "90d")
	if err != nil {
		return err
	}
	ci := remote.WithAuth(&authn.Basic{Username: "ci", Password: ciSecret})
	if _, err := remote.Image(ref, ci, remote.WithContext(ctx)); err != nil {
		return fmt.Errorf("pull as robot ci: %w", err)
	}
	step("cssc robot add ci --role pull --scope 'demo/**': the robot pulls %s through the token flow", ref)
	img, err := remote.Image(ref, ci, remote.WithContext(ctx))
	if err != nil {
		return err
	}
	pushRef := ref.Context().Tag("from-robot")
	if err := remote.Write(pushRef, img, ci, remote.WithContext(ctx)); !isStatus(err, http.StatusForbidden) {
		return fmt.Errorf("push as pull-only robot: %v, want 403", err)
	}
	step("the pull-only robot's push: 403 DENIED")
	qref, _ := name.ParseReference(addr + "/quarantine/hello:1.0")
	admin := remote.WithAuth(&authn.Basic{Username: "admin", Password: adminSecret})
	if err := remote.Write(qref, img, admin, remote.WithContext(ctx)); err != nil {
		return fmt.Errorf("admin push to quarantine: %w", err)
	}
	if _, err := exec.CommandContext(ctx, bin, "robot", "grant", "ci", "--role", "pull", "--scope", "quarantine/**").Output(); err == nil {
		return errors.New("cssc robot grant without credentials succeeded")
	}
	if _, err := cssc("robot", "grant", "ci", "--role", "pull", "--scope", "quarantine/**"); err != nil {
		return err
	}
	if _, err := remote.Image(qref, ci, remote.WithContext(ctx)); !isStatus(err, http.StatusForbidden) {
		return fmt.Errorf("quarantine pull by a robot granted pull on quarantine/**: %v, want 403", err)
	}
	step("even granted pull on quarantine/**, robot ci cannot pull %s: 403 DENIED (built-in rule)", qref)

	events, err := cssc("audit", "list", "--actor", "ci")
	if err != nil {
		return err
	}
	step("cssc audit list --actor ci: %d events (pulls, denials)", len(strings.Split(events, "\n"))-1)
	verdict, err := cssc("audit", "verify")
	if err != nil {
		return err
	}
	step("cssc audit verify (online): %s", firstLine(verdict))
	stop()
	cmd := exec.CommandContext(ctx, bin, "audit", "verify", "--data-dir", dataDir)
	out, err = cmd.Output()
	if err != nil {
		return fmt.Errorf("offline audit verify: %w", exitDetail(err))
	}
	step("cssc audit verify --data-dir (offline, as an auditor would on a copy): %s", firstLine(string(out)))
	return nil
}

func isStatus(err error, status int) bool {
	var te *transport.Error
	return errors.As(err, &te) && te.StatusCode == status
}

func exitDetail(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) && len(ee.Stderr) > 0 {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(ee.Stderr)))
	}
	return err
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}

func fileLayer(name, body string) (gv1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
		return nil, err
	}
	if _, err := tw.Write([]byte(body)); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
}

func readTarFile(rc io.ReadCloser, name string) (string, error) {
	defer func() { _ = rc.Close() }()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err != nil {
			return "", fmt.Errorf("find %s in layer: %w", name, err)
		}
		if h.Name == name {
			b, err := io.ReadAll(io.LimitReader(tr, 1<<20))
			return string(b), err
		}
	}
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String(), nil
}

func waitReady(ctx context.Context, base string) error {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("cssc did not become ready within 15s")
}

func getJSON(ctx context.Context, url string, v any) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
