package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	gv1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// acquireStory is the Acquire pipeline end to end: a local "upstream"
// registry with five sample images (clean, vulnerable, malware, signed
// upstream, signed by the wrong key), cssc serve running the pipeline
// with a real clamd and the demo's OSV records, and cssc acquire on each.
// keyDir holds the enterprise key (made by the signing step), db the
// vulnerability database (made by the analysis step).
func acquireStory(ctx context.Context, bin, work, keyDir, db string) error {
	dir := filepath.Join(work, "acquire")
	env := append(os.Environ(), "CSSC_KEY_PASSPHRASE=demo passphrase")
	run := func(args ...string) (string, string, error) {
		cmd := exec.CommandContext(ctx, bin, append(args, "--log-level", "warn")...)
		cmd.Env = env
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return stdout.String(), stderr.String(), err
	}
	mustRun := func(args ...string) (string, error) {
		out, errOut, err := run(args...)
		if err != nil {
			return "", fmt.Errorf("cssc %s: %w: %s", strings.Join(args, " "), err, errOut)
		}
		return out, nil
	}

	// The upstream registry and its images.
	upAddr, err := freeAddr()
	if err != nil {
		return err
	}
	stopUp, err := startServerWith(ctx, bin, upAddr, env, "--data-dir", filepath.Join(dir, "upstream"))
	if err != nil {
		return err
	}
	defer stopUp()
	base, err := filesLayer(map[string]string{"usr/lib/os-release": demoOSRelease,
		"var/lib/dpkg/status": "Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\nSource: zlib\nVersion: 1:1.2.13.dfsg-1\n"},
		map[string]string{"etc/os-release": "../usr/lib/os-release"})
	if err != nil {
		return err
	}
	vulnerableBase, err := filesLayer(map[string]string{"usr/lib/os-release": demoOSRelease,
		"var/lib/dpkg/status": "Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\nSource: zlib\nVersion: 1:1.2.11.dfsg-4\n"},
		map[string]string{"etc/os-release": "../usr/lib/os-release"})
	if err != nil {
		return err
	}
	images := []struct {
		name, what string
		layers     []string // extra files: path=body
		base       gv1.Layer
	}{
		{"clean", "a clean Debian 12 image", []string{"app/hello.txt=hello\n"}, base},
		{"vulnerable", "zlib 1.2.11 with a critical vulnerability (CVE-2022-37434) fixed in 1.2.13", []string{"app/hello.txt=hello\n"}, vulnerableBase},
		{"malware", "the EICAR test file", []string{"app/eicar.com=" + eicar()}, base},
		{"signed", "signed upstream by the publisher (cosign)", []string{"app/signed.txt=signed\n"}, base},
		{"badsig", "signed upstream by someone else", []string{"app/forged.txt=forged\n"}, base},
	}
	for _, im := range images {
		extra := map[string]string{}
		for _, kv := range im.layers {
			k, v, _ := strings.Cut(kv, "=")
			extra[k] = v
		}
		l, err := filesLayer(extra, nil)
		if err != nil {
			return err
		}
		img, err := mutate.AppendLayers(empty.Image, im.base, l)
		if err != nil {
			return err
		}
		if img, err = mutate.Config(img, gv1.Config{User: "1000", Cmd: []string{"/app/run"}}); err != nil {
			return err
		}
		ref, err := name.ParseReference(upAddr + "/demo/" + im.name + ":1.0")
		if err != nil {
			return err
		}
		if err := remote.Write(ref, img, remote.WithContext(ctx)); err != nil {
			return fmt.Errorf("push %s: %w", ref, err)
		}
	}
	for _, args := range [][]string{
		{"key", "generate", "--name", "publisher", "--key-dir", filepath.Join(dir, "upstream-keys")},
		{"sign", upAddr + "/demo/signed:1.0", "--key", "publisher", "--key-dir", filepath.Join(dir, "upstream-keys"), "--format", "cosign"},
		{"sign", upAddr + "/demo/badsig:1.0", "--key", "intruder", "--key-dir", keyDir, "--format", "cosign"},
	} {
		if _, err := mustRun(args...); err != nil {
			return err
		}
	}
	pub, err := mustRun("key", "export", "--name", "publisher", "--public", "--key-dir", filepath.Join(dir, "upstream-keys"))
	if err != nil {
		return err
	}
	pubFile := filepath.Join(dir, "publisher.pub")
	if err := os.WriteFile(pubFile, []byte(pub), 0o644); err != nil {
		return err
	}
	var lines []string
	for _, im := range images {
		lines = append(lines, fmt.Sprintf("%s/demo/%s:1.0  %s", upAddr, im.name, im.what))
	}
	step("an \"upstream\" registry on %s with five sample images:\n%s", upAddr, indent(strings.Join(lines, "\n")))

	// The pipeline.
	sock, stopClamd, err := startClamd(ctx, filepath.Join(dir, "clamd"))
	if err != nil {
		return err
	}
	defer stopClamd()
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	args := []string{"--data-dir", filepath.Join(dir, "cssc"), "--signing-key", "enterprise", "--key-dir", keyDir,
		"--clamd", sock, "--db-dir", db, "--lifecycle-max", "8760h"}
	stop, err := startServerWith(ctx, bin, addr, env, args...)
	if err != nil {
		return err
	}
	defer stop()
	step("cssc serve %s: registry and acquire pipeline, signing with the enterprise key, malware scan by clamd", strings.Join(args, " "))
	server := "http://" + addr
	if _, err := mustRun("upstream", "add", "demo-upstream", "--registry", upAddr, "--repository", "demo/*",
		"--signature-policy", "if-present", "--cosign-key", pubFile, "--server", server); err != nil {
		return err
	}
	step("cssc upstream add demo-upstream --registry %s --repository 'demo/*' --cosign-key publisher.pub (signatures: if-present)", upAddr)
	_, errOut, err := run("acquire", upAddr+"/dmeo/clean:1.0", "--server", server)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		return fmt.Errorf("acquire of a typo-squatted name: want exit 2, got %v", err)
	}
	step("a typo is refused before anything is copied (exit 2):\n%s", indent(errOut))

	for _, im := range images {
		src := upAddr + "/demo/" + im.name + ":1.0"
		out, errOut, err := run("acquire", src, "--wait", "--server", server)
		code := 0
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		} else if err != nil {
			return fmt.Errorf("cssc acquire %s: %w: %s", src, err, errOut)
		}
		want := 0
		if im.name != "clean" && im.name != "signed" {
			want = 1
		}
		if code != want {
			return fmt.Errorf("cssc acquire %s: exit %d, want %d:\n%s%s", src, code, want, errOut, out)
		}
		step("cssc acquire %s --wait (exit %d):\n%s", src, code, indent(errOut+out))
	}
	list, err := mustRun("acquisitions", "list", "--server", server)
	if err != nil {
		return err
	}
	step("cssc acquisitions list:\n%s", indent(list))

	// The golden image verifies with the enterprise trust policy made by
	// the signing step, and carries its reports.
	golden := addr + "/golden/demo/signed:1.0"
	verify := []string{"verify", golden, "--policy", filepath.Join(work, "signing", "trustpolicy.json"),
		"--trust-store", filepath.Join(work, "signing", "truststore")}
	out, err := mustRun(verify...)
	if err != nil {
		return err
	}
	step("cssc verify %s (the enterprise signature added by the pipeline):\n%s", golden, indent(out))
	var recs struct {
		Acquisitions []struct {
			ID, State string
			Source    string `json:"source"`
		} `json:"acquisitions"`
	}
	out, err = mustRun("acquisitions", "list", "--server", server, "--format", "json")
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(out), &recs); err != nil {
		return err
	}
	for _, r := range recs.Acquisitions {
		if strings.HasSuffix(r.Source, "/demo/vulnerable:1.0") {
			show, err := mustRun("acquisitions", "show", r.ID, "--server", server)
			if err != nil {
				return err
			}
			step("cssc acquisitions show %s (why it was blocked, the risk score broken down, every step):\n%s", r.ID, indent(show))
		}
	}
	step("where to look: golden/ holds only what passed (%s/golden/demo/{clean,signed}:1.0); quarantine/ keeps the rest with their reasons (admins and the pipeline only); `cssc audit list --action acquire.promote` has the evidence", addr)
	return nil
}
