package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/cssc-project/cssc/internal/imagefs/imagetest"
	"github.com/cssc-project/cssc/internal/sbom"
	"github.com/cssc-project/cssc/internal/server/servertest"
)

// debianImage is a Debian 12 image with a Python package in a second layer.
func debianImage(t *testing.T) v1.Image {
	t.Helper()
	return imagetest.Image(t,
		imagetest.Layer(t, imagetest.DebianBase()...),
		imagetest.Layer(t, imagetest.Entry{Name: "usr/local/lib/python3.11/site-packages/urllib3-1.26.5.dist-info/METADATA", Body: imagetest.Urllib3Metadata}),
	)
}

// The SBOM of the same image is the same whether it is read from a
// registry, an OCI layout or a docker save archive.
func TestSBOMFromEverySource(t *testing.T) {
	img := debianImage(t)
	dir := t.TempDir()

	ts := servertest.Start(t, servertest.Config(filepath.Join(dir, "data")))
	regRef := ts.Host + "/team/debian:12"
	ref, err := name.ParseReference(regRef)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}

	lp, err := layout.Write(filepath.Join(dir, "layout"), empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "12"})); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(dir, "debian.tar")
	if err := tarball.WriteToFile(archive, ref, img); err != nil {
		t.Fatal(err)
	}

	for _, src := range []string{regRef, "oci:" + filepath.Join(dir, "layout") + ":12", "docker-archive:" + archive} {
		t.Run(strings.SplitN(src, ":", 2)[0], func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "sbom.json")
			code, _, stderr := run(t, "sbom", src, "--format", "cyclonedx-json", "-o", out)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			f, err := os.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			inv, format, err := sbom.Decode(f)
			if err != nil || format != sbom.FormatCycloneDXJSON {
				t.Fatalf("decode: %v %s", err, format)
			}
			got := map[string]string{}
			for _, p := range inv.Packages {
				got[p.Name] = p.Version + " " + p.Ecosystem
			}
			want := map[string]string{"libssl3": "3.0.11-1~deb12u2 Debian:12", "bash": "5.2.15-2+b2 Debian:12",
				"libuuid1": "2.38.1-5+b1 Debian:12", "urllib3": "1.26.5 PyPI"}
			for n, v := range want {
				if got[n] != v {
					t.Errorf("%s = %q, want %q", n, got[n], v)
				}
			}
			if len(got) != len(want) {
				t.Errorf("packages %v, want %v", got, want)
			}
			if inv.OS == nil || inv.OS.ID != "debian" || inv.OS.VersionID != "12" {
				t.Errorf("OS %+v", inv.OS)
			}
		})
	}
}

func TestSBOMErrorsAreClear(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"sbom"}, "needs an IMAGE"},
		{[]string{"sbom", "oci:/nonexistent/dir"}, "open OCI layout /nonexistent/dir"},
		{[]string{"sbom", "docker-archive:/nonexistent.tar"}, "open docker archive"},
		{[]string{"sbom", "Bad Reference!"}, "parse image reference"},
		{[]string{"sbom", "x", "--format", "xml"}, "unknown SBOM format"},
		{[]string{"sbom", "--sbom", "/nonexistent.json"}, "read SBOM"},
	} {
		code, _, stderr := run(t, tt.args...)
		if code != 2 || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", tt.args, code, stderr, tt.want)
		}
	}
}

// An SBOM read back (--sbom) converts between formats without losing
// packages.
func TestSBOMConvert(t *testing.T) {
	dir := t.TempDir()
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(debianImage(t)); err != nil {
		t.Fatal(err)
	}
	spdx := filepath.Join(t.TempDir(), "a.spdx.json")
	if code, _, stderr := run(t, "sbom", "oci:"+dir, "-o", spdx); code != 0 {
		t.Fatalf("sbom: %s", stderr)
	}
	var doc map[string]any
	b, _ := os.ReadFile(spdx)
	if err := json.Unmarshal(b, &doc); err != nil || doc["spdxVersion"] != "SPDX-2.3" {
		t.Fatalf("default format is not SPDX 2.3 JSON: %v %v", err, doc["spdxVersion"])
	}
	code, table, stderr := run(t, "sbom", "--sbom", spdx, "--format", "table")
	if code != 0 {
		t.Fatalf("convert: %s", stderr)
	}
	for _, n := range []string{"libssl3", "bash", "libuuid1", "urllib3", "openssl"} {
		if !strings.Contains(table, n) {
			t.Errorf("table lacks %s:\n%s", n, table)
		}
	}
}
