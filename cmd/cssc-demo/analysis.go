package main

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	gv1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// The demo's small Debian-like image: os-release, a dpkg database, and a
// Python package in a second layer.
const (
	demoOSRelease = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n"
	demoDpkg      = "Package: libssl3\nStatus: install ok installed\nArchitecture: amd64\nSource: openssl\nVersion: 3.0.11-1~deb12u2\n\n" +
		"Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\nSource: zlib\nVersion: 1:1.2.13.dfsg-1\n\n"
	demoPython = "Metadata-Version: 2.1\nName: urllib3\nVersion: 1.26.5\nLicense: MIT\n"
)

// demoRecords are OSV records, as osv.dev publishes them, that the demo
// imports into a fresh vulnerability database.
var demoRecords = map[string]string{
	"DEBIAN-CVE-2024-0727.json": `{"id":"DEBIAN-CVE-2024-0727","modified":"2024-06-01T00:00:00Z","upstream":["CVE-2024-0727"],
	  "summary":"openssl: NULL dereference in PKCS12 parsing",
	  "affected":[{"package":{"ecosystem":"Debian:12","name":"openssl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.0.13-1~deb12u1"}]}]}]}`,
	"DEBIAN-CVE-2018-25032.json": `{"id":"DEBIAN-CVE-2018-25032","modified":"2024-06-01T00:00:00Z",
	  "affected":[{"package":{"ecosystem":"Debian:12","name":"zlib"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1:1.2.11.dfsg-4"}]}]}]}`,
	"DEBIAN-CVE-2022-37434.json": `{"id":"DEBIAN-CVE-2022-37434","modified":"2024-06-01T00:00:00Z","upstream":["CVE-2022-37434"],
	  "summary":"zlib: heap-based buffer over-read and overflow in inflate via a large gzip header extra field",
	  "severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
	  "affected":[{"package":{"ecosystem":"Debian:12","name":"zlib"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1:1.2.13.dfsg-1"}]}]}]}`,
	"GHSA-g4mx-q9vg-27p4.json": `{"id":"GHSA-g4mx-q9vg-27p4","modified":"2024-06-01T00:00:00Z","aliases":["CVE-2023-45803"],
	  "summary":"urllib3's request body not stripped after redirect",
	  "severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}],
	  "affected":[{"package":{"ecosystem":"PyPI","name":"urllib3"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.26.18"}]}]}]}`,
}

// analysis pushes a small Debian-like image, writes its SBOM, imports OSV
// records into a new vulnerability database and scans the image.
func analysis(ctx context.Context, bin, addr, work string) error {
	base, err := filesLayer(map[string]string{"usr/lib/os-release": demoOSRelease, "var/lib/dpkg/status": demoDpkg},
		map[string]string{"etc/os-release": "../usr/lib/os-release"})
	if err != nil {
		return err
	}
	app, err := filesLayer(map[string]string{"usr/lib/python3/dist-packages/urllib3-1.26.5.dist-info/METADATA": demoPython}, nil)
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(empty.Image, base, app)
	if err != nil {
		return err
	}
	ref := addr + "/demo/app:1.0"
	r, err := name.ParseReference(ref)
	if err != nil {
		return err
	}
	if err := remote.Write(r, img, remote.WithContext(ctx)); err != nil {
		return fmt.Errorf("push %s: %w", ref, err)
	}
	sbomFile := filepath.Join(work, "app.cdx.json")
	if out, err := exec.CommandContext(ctx, bin, "sbom", ref, "--format", "cyclonedx-json", "-o", sbomFile, "--log-level", "warn").CombinedOutput(); err != nil {
		return fmt.Errorf("cssc sbom: %w: %s", err, out)
	}
	table, err := exec.CommandContext(ctx, bin, "sbom", "--sbom", sbomFile, "--format", "table").Output()
	if err != nil {
		return fmt.Errorf("cssc sbom --sbom: %w", exitDetail(err))
	}
	step("pushed %s; cssc sbom wrote its CycloneDX SBOM, read back as a table:\n%s", ref, indent(string(table)))

	records := filepath.Join(work, "osv")
	if err := os.MkdirAll(records, 0o755); err != nil {
		return err
	}
	for n, body := range demoRecords {
		if err := os.WriteFile(filepath.Join(records, n), []byte(body), 0o644); err != nil {
			return err
		}
	}
	db := filepath.Join(work, "vulndb")
	if out, err := exec.CommandContext(ctx, bin, "db", "import", "--db-dir", db, records).CombinedOutput(); err != nil {
		return fmt.Errorf("cssc db import: %w: %s", err, out)
	}
	step("cssc db import: %d OSV records (in real use: osv.dev's exports, or cssc db update)", len(demoRecords))

	cmd := exec.CommandContext(ctx, bin, "scan", ref, "--db-dir", db)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		return fmt.Errorf("cssc scan: want exit 1 (findings), got %v: %s", err, stderr.String())
	}
	step("cssc scan %s (exit 1: vulnerabilities found; zlib's is fixed in the installed version, so not listed):\n%s", ref, indent(stdout.String()))
	return nil
}

// filesLayer is a layer of regular files and symlinks (name → target).
func filesLayer(files, links map[string]string) (gv1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for n, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			return nil, err
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			return nil, err
		}
	}
	for n, target := range links {
		if err := tw.WriteHeader(&tar.Header{Name: n, Linkname: target, Mode: 0o777, Typeflag: tar.TypeSymlink}); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
}

func indent(s string) string {
	return "      " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n      ")
}
