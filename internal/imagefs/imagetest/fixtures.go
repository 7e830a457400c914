package imagetest

import (
	"archive/tar"
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// DebianOSRelease is Debian 12's /usr/lib/os-release.
const DebianOSRelease = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
`

// DpkgStatus is a dpkg status database: libssl3 (source openssl), bash,
// libuuid1 (source util-linux at another version) and a package removed
// with only its configuration files left (not installed).
const DpkgStatus = `Package: libssl3
Status: install ok installed
Architecture: amd64
Source: openssl
Version: 3.0.11-1~deb12u2
Description: Secure Sockets Layer toolkit - shared libraries

Package: bash
Status: install ok installed
Architecture: amd64
Version: 5.2.15-2+b2
Description: GNU Bourne Again SHell

Package: libuuid1
Status: install ok installed
Architecture: amd64
Source: util-linux (2.38.1-5)
Version: 2.38.1-5+b1
Description: Universally Unique ID library

Package: removed-pkg
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0
Description: configuration files only: not installed
`

// Urllib3Metadata is the METADATA of urllib3 1.26.5 in site-packages.
const Urllib3Metadata = `Metadata-Version: 2.1
Name: urllib3
Version: 1.26.5
Summary: HTTP library
License: MIT
`

// DebianBase is a Debian 12 base layer: os-release (as the usual symlink)
// and DpkgStatus.
func DebianBase() []Entry {
	return []Entry{
		{Name: "usr/lib/os-release", Body: DebianOSRelease},
		{Name: "etc/os-release", Type: tar.TypeSymlink, Linkname: "../usr/lib/os-release"},
		{Name: "var/lib/dpkg/status", Body: DpkgStatus},
	}
}

// GoBinary builds a small linux/amd64 program that uses
// github.com/google/uuid v1.6.0 (a module this repository already depends
// on, so it is in the module cache: no network) and returns its bytes.
// repoRoot is the path to this repository's root (for its go.sum).
func GoBinary(t testing.TB, repoRoot string) string {
	t.Helper()
	const mod = "github.com/google/uuid v1.6.0"
	dir := t.TempDir()
	files := map[string]string{
		"go.mod":  "module example.com/app\n\ngo 1.22\n\nrequire github.com/google/uuid v1.6.0\n",
		"go.sum":  goSumLines(t, filepath.Join(repoRoot, "go.sum"), mod),
		"main.go": "package main\n\nimport \"github.com/google/uuid\"\n\nfunc main() { println(uuid.NewString()) }\n",
	}
	for n, c := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build a test binary: %v", err)
	}
	cmd := exec.Command(goTool, "build", "-trimpath", "-o", "app", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOPROXY=off", "GOFLAGS=-mod=mod", "GOWORK=off", "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "app"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// GoVersion is the version the Go toolchain running the tests reports
// for binaries it builds ("1.26.8").
func GoVersion() string { return strings.TrimPrefix(runtime.Version(), "go") }

func goSumLines(t testing.TB, goSum, modVersion string) string {
	t.Helper()
	f, err := os.Open(goSum)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), modVersion+" ") || strings.HasPrefix(sc.Text(), modVersion+"/go.mod ") {
			out.WriteString(sc.Text() + "\n")
		}
	}
	if out.Len() == 0 {
		t.Fatalf("%s has no %s", goSum, modVersion)
	}
	return out.String()
}
