package extract_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/cssc-project/cssc/internal/extract"
)

// rpmDatabase makes a real rpm database (SQLite, as rpm 4.16+ writes it)
// holding one package, with Debian's rpm tools (make test installs them).
func rpmDatabase(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"rpm", "rpmbuild"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed to build a test rpm database: apt-get install rpm (make test installs it)", tool)
		}
	}
	dir := t.TempDir()
	spec := filepath.Join(dir, "demo.spec")
	if err := os.WriteFile(spec, []byte("Name: openssl-libs\nVersion: 3.0.7\nRelease: 27.el9\nEpoch: 1\nSummary: test\nLicense: Apache-2.0\nBuildArch: noarch\n\n%description\ntest\n\n%files\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env = append(os.Environ(), "HOME="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	top, db := filepath.Join(dir, "top"), filepath.Join(dir, "db")
	run("rpmbuild", "-bb", "--define", "_topdir "+top, "--define", "_source_filedigest_algorithm 8", spec)
	run("rpm", "--dbpath", db, "--initdb")
	run("rpm", "-i", "--justdb", "--nodeps", "--nosignature", "--ignorearch", "--ignoreos", "--dbpath", db,
		filepath.Join(top, "RPMS", "noarch", "openssl-libs-3.0.7-27.el9.noarch.rpm"))
	b, err := os.ReadFile(filepath.Join(db, "rpmdb.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRPMImage(t *testing.T) {
	img := build(t, []e{
		{Name: "etc/os-release", Body: "NAME=\"Rocky Linux\"\nID=\"rocky\"\nVERSION_ID=\"9.4\"\nPRETTY_NAME=\"Rocky Linux 9.4 (Blue Onyx)\"\n"},
		{Name: "var/lib/rpm/rpmdb.sqlite", Body: rpmDatabase(t)},
	})
	inv, err := extract.Image(context.Background(), img, extract.Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Packages) != 1 {
		t.Fatalf("packages %v, want openssl-libs", names(inv))
	}
	p := inv.Packages[0]
	// The epoch is part of the version advisories compare; OSV publishes
	// Rocky Linux per major release.
	if p.Name != "openssl-libs" || p.Version != "1:3.0.7-27.el9" || p.Ecosystem != "Rocky Linux:9" || p.SourceName != "" ||
		p.Locations[0] != "/var/lib/rpm/rpmdb.sqlite" || p.Layer != inv.Layers[0].Digest || p.PURL == "" {
		t.Errorf("package %+v", p)
	}
	if inv.OS == nil || inv.OS.ID != "rocky" {
		t.Errorf("OS %+v", inv.OS)
	}
}
