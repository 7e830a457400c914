package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	gv1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/cssc-project/cssc/internal/clamd/clamdproc"
)

// eicar is the EICAR anti-virus test file, assembled at run time so that
// no file of the project is itself the test file.
func eicar() string {
	return `X5O!P%@AP[4\PZX54(P^)7CC)7}$` + "EICAR-STANDARD-" + "ANTIVIRUS-TEST-FILE!$H+H*"
}

// contentScan pushes an image that ships the EICAR test file in a lower
// layer (deleted in the next one) and a token in its build history, and
// runs cssc scan --malware --secrets on it against a clamd started here.
func contentScan(ctx context.Context, bin, addr, work string) error {
	lower, err := filesLayer(map[string]string{"etc/os-release": demoOSRelease, "tmp/installer/eicar.com": eicar()}, nil)
	if err != nil {
		return err
	}
	upper, err := filesLayer(map[string]string{"tmp/installer/.wh.eicar.com": "", "app/config.yaml": "listen: :8080\n"}, nil)
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(empty.Image, lower, upper)
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.Config.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
	// A GitLab token passed as a build argument stays in the history.
	cf.History = []gv1.History{
		{CreatedBy: "ADD rootfs.tar /"},
		{CreatedBy: "/bin/sh -c rm /tmp/installer/eicar.com && install-app"},
		{CreatedBy: "|1 GITLAB_TOKEN=glpat-xT4kP9mQ2vR7wZ1bN6cD /bin/sh -c make release", EmptyLayer: true},
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return err
	}
	ref := addr + "/demo/leaky:1.0"
	r, err := name.ParseReference(ref)
	if err != nil {
		return err
	}
	if err := remote.Write(r, img, remote.WithContext(ctx)); err != nil {
		return fmt.Errorf("push %s: %w", ref, err)
	}

	sock, stop, err := startClamd(ctx, filepath.Join(work, "clamd"))
	if err != nil {
		return err
	}
	defer stop()
	cmd := exec.CommandContext(ctx, bin, "scan", ref, "--malware", "--secrets", "--clamd", sock)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		return fmt.Errorf("cssc scan --malware --secrets: want exit 1 (findings), got %v: %s", err, stderr.String())
	}
	if strings.Contains(stdout.String(), "xT4kP9mQ2vR7wZ1bN6cD") {
		return errors.New("cssc scan printed the secret")
	}
	step("clamd started with a demo signature database (the EICAR test file's hash)")
	step("cssc scan %s --malware --secrets (exit 1): the EICAR file deleted by layer 2 still ships in layer 1; the token in the build history is named by rule and fingerprint, never shown:\n%s", ref, indent(stdout.String()))
	return nil
}

// startClamd starts clamd in dir with a one-signature database and
// returns its address and a function that stops it.
func startClamd(ctx context.Context, dir string) (string, func(), error) {
	db := filepath.Join(dir, "db")
	if err := os.MkdirAll(db, 0o755); err != nil {
		return "", nil, err
	}
	sum := md5.Sum([]byte(eicar()))
	sig := fmt.Sprintf("%s:%d:Demo.EICAR\n", hex.EncodeToString(sum[:]), len(eicar()))
	if err := os.WriteFile(filepath.Join(db, "demo.hdb"), []byte(sig), 0o644); err != nil {
		return "", nil, err
	}
	sock := filepath.Join(dir, "clamd.sock")
	conf := strings.Join([]string{
		"DatabaseDirectory " + db, "LocalSocket " + sock, "FixStaleSocket yes", "Foreground yes",
		"LogFile " + filepath.Join(dir, "clamd.log"), "TemporaryDirectory " + dir,
		"AlertExceedsMax yes", "AlertEncrypted yes", "OfficialDatabaseOnly no", "SelfCheck 0",
	}, "\n") + "\n"
	if err := os.WriteFile(filepath.Join(dir, "clamd.conf"), []byte(conf), 0o644); err != nil {
		return "", nil, err
	}
	addr := "unix://" + sock
	p, err := clamdproc.Start(ctx, "", filepath.Join(dir, "clamd.conf"), addr, filepath.Join(dir, "clamd.out"), 60*time.Second)
	if err != nil {
		return "", nil, fmt.Errorf("%w (make demo installs clamav-daemon)", err)
	}
	return addr, p.Kill, nil
}
