package acquiretest

import (
	"archive/tar"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/cssc-project/cssc/internal/imagefs/imagetest"
	"github.com/cssc-project/cssc/internal/keys"
	"github.com/cssc-project/cssc/internal/server/servertest"
	"github.com/cssc-project/cssc/internal/sign/notary"
	"github.com/cssc-project/cssc/internal/sign/signtest"
)

// files lists each layer's regular files and symlinks: name to body or
// "-> target".
func files(t *testing.T, img v1.Image) []map[string]string {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]string
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		tr := tar.NewReader(rc)
		for {
			hdr, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			switch hdr.Typeflag {
			case tar.TypeSymlink:
				m[hdr.Name] = "-> " + hdr.Linkname
			case tar.TypeReg:
				b, err := io.ReadAll(tr)
				if err != nil {
					t.Fatal(err)
				}
				m[hdr.Name] = string(b)
			}
		}
		_ = rc.Close()
		out = append(out, m)
	}
	return out
}

func TestDebianImage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status string
		extra  []imagetest.Entry
	}{
		{"clean", CleanStatus, nil},
		{"vulnerable with a file", imagetest.DpkgStatus, []imagetest.Entry{{Name: "etc/motd", Body: "hello\n"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := files(t, DebianImage(t, tc.status, tc.extra...))
			if want := 1 + min(len(tc.extra), 1); len(got) != want {
				t.Fatalf("%d layers, want %d", len(got), want)
			}
			base := got[0]
			if base["var/lib/dpkg/status"] != tc.status || base["usr/lib/os-release"] != imagetest.DebianOSRelease ||
				base["etc/os-release"] != "-> ../usr/lib/os-release" || len(base) != 3 {
				t.Errorf("base layer %q", base)
			}
			for _, e := range tc.extra {
				if got[1][e.Name] != e.Body {
					t.Errorf("extra layer %q, want %s in it", got[1], e.Name)
				}
			}
		})
	}
}

func TestPush(t *testing.T) {
	reg := servertest.Start(t, servertest.Config(t.TempDir()))
	img := DebianImage(t, CleanStatus)
	ref := reg.Host + "/demo/app:1.0"
	dgst := Push(t, ref, img)
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Head(r)
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest.String() != dgst {
		t.Errorf("%s is %s, Push said %s", ref, desc.Digest, dgst)
	}
}

func TestPublicKeyFile(t *testing.T) {
	key := signtest.NewKey(t, keys.ECDSAP256)
	p := PublicKeyFile(t, key.Public())
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	block, rest := pem.Decode(b)
	if block == nil || block.Type != "PUBLIC KEY" || len(rest) != 0 {
		t.Fatalf("%s is not one PEM public key: %q", p, b)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if eq, ok := pub.(interface{ Equal(crypto.PublicKey) bool }); !ok || !eq.Equal(key.Public()) {
		t.Errorf("%s holds another key", p)
	}
}

// The trust policy is one notation-go accepts, with ca's certificate in
// its trust store.
func TestTrustPolicy(t *testing.T) {
	ca := signtest.NewCA(t, "test CA", keys.ECDSAP256)
	p := TrustPolicy(t, ca)
	if _, err := notary.NewChecker(p, filepath.Dir(p)); err != nil {
		t.Fatalf("notation-go refuses the trust policy: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(filepath.Dir(p), "x509", "ca", "enterprise", "enterprise.pem"))
	if err != nil || string(b) != string(ca.PEM()) {
		t.Errorf("trust store: %v, holds %q", err, b)
	}
}
