package imagefs_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/cssc-project/cssc/internal/imagefs"
	"github.com/cssc-project/cssc/internal/imagefs/imagetest"
)

type e = imagetest.Entry

// extractAll builds an image of the given layers (bottom first) and
// extracts every regular file of its final filesystem.
func extractAll(t *testing.T, layers ...[]e) (*imagefs.Tree, error) {
	t.Helper()
	var ls []v1.Layer
	for _, l := range layers {
		ls = append(ls, imagetest.Layer(t, l...))
	}
	im, err := imagefs.FromV1("test", imagetest.Image(t, ls...))
	if err != nil {
		t.Fatal(err)
	}
	return imagefs.Extract(context.Background(), im, imagefs.Limits{}, t.TempDir(), func(imagefs.Entry, func() []byte) bool { return true })
}

func content(t *testing.T, tree *imagefs.Tree, p string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(tree.Root, filepath.FromSlash(strings.TrimPrefix(p, "/"))))
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return string(b)
}

func TestLayersApplyInOrder(t *testing.T) {
	tree, err := extractAll(t,
		[]e{
			{Name: "etc/", Type: tar.TypeDir},
			{Name: "etc/a", Body: "a0"},
			{Name: "etc/gone", Body: "deleted above"},
			{Name: "opt/old/x", Body: "hidden by an opaque dir"},
			{Name: "opt/old/y", Body: "hidden by an opaque dir"},
			{Name: "srv/dir/f", Body: "under a dir that becomes a file"},
			{Name: "./usr/lib/os-release", Body: "ID=debian\n"},
			{Name: "/abs/path", Body: "absolute names are root-relative"},
		},
		[]e{
			{Name: "etc/a", Body: "a1"},
			{Name: "etc/.wh.gone"},
			{Name: "opt/old/.wh..wh..opq"},
			{Name: "opt/old/z", Body: "new"},
			{Name: "srv/dir", Body: "now a file"},
			{Name: "etc/os-release", Type: tar.TypeSymlink, Linkname: "../usr/lib/os-release"},
			{Name: "bin/hard", Type: tar.TypeLink, Linkname: "etc/a"},
		},
	)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/abs/path", "/bin/hard", "/etc/a", "/opt/old/z", "/srv/dir", "/usr/lib/os-release"}
	if got := tree.Files(); !slices.Equal(got, want) {
		t.Fatalf("files = %v, want %v", got, want)
	}
	if c := content(t, tree, "/etc/a"); c != "a1" {
		t.Errorf("/etc/a = %q, want the upper layer's a1", c)
	}
	if c := content(t, tree, "/bin/hard"); c != "a1" {
		t.Errorf("/bin/hard (hard link to etc/a) = %q, want a1", c)
	}
	lower, upper := tree.Layers[0].Digest, tree.Layers[1].Digest
	for p, layer := range map[string]string{"/etc/a": upper, "/usr/lib/os-release": lower, "/opt/old/z": upper, "/bin/hard": upper} {
		if n, _ := tree.Lookup(p); n.LayerDigest != layer {
			t.Errorf("%s attributed to %s, want %s", p, n.LayerDigest, layer)
		}
	}
	if r, err := tree.Resolve("/etc/os-release"); err != nil || r != "/usr/lib/os-release" {
		t.Errorf("Resolve(/etc/os-release) = %q, %v", r, err)
	}
}

func TestHostileEntriesAreRefused(t *testing.T) {
	for _, tt := range []struct {
		name  string
		entry e
	}{
		{"dot-dot in the name", e{Name: "../../etc/passwd", Body: "x"}},
		{"dot-dot after a dir", e{Name: "usr/../../x", Body: "x"}},
		{"absolute dot-dot", e{Name: "/../x", Body: "x"}},
		{"hard link out of the root", e{Name: "x", Type: tar.TypeLink, Linkname: "../../../etc/shadow"}},
		{"a name longer than PATH_MAX", e{Name: strings.Repeat("a", 5000), Type: tar.TypeSymlink, Linkname: "x"}},
		{"a name 300 levels deep", e{Name: strings.Repeat("a/", 300) + "x", Type: tar.TypeSymlink, Linkname: "x"}},
		{"a link target longer than PATH_MAX", e{Name: "x", Type: tar.TypeSymlink, Linkname: strings.Repeat("a/", 3000)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := extractAll(t, []e{tt.entry})
			if !errors.Is(err, imagefs.ErrUnsafe) {
				t.Fatalf("err = %v, want ErrUnsafe", err)
			}
		})
	}
}

// A symlink pointing out of the image resolves inside it (as in a
// container): the host's file is never read.
func TestSymlinkCannotReachTheHost(t *testing.T) {
	hostDir := t.TempDir()
	secret := filepath.Join(hostDir, "os-release")
	if err := os.WriteFile(secret, []byte("ID=host-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tree, err := extractAll(t, []e{
		{Name: "etc/os-release", Type: tar.TypeSymlink, Linkname: "../../../../../../../.." + secret},
		{Name: "evil", Type: tar.TypeSymlink, Linkname: "/"},
		{Name: "evil/etc/passwd", Body: "written through a symlink"},
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := tree.Resolve("/etc/os-release")
	if err != nil {
		t.Fatal(err)
	}
	if r != secret { // the same path, but inside the image
		t.Errorf("resolved to %q, want %q inside the image", r, secret)
	}
	if _, ok := tree.Lookup(r); ok {
		t.Errorf("%s found in the image: the host file leaked in", r)
	}
	// Nothing under Root is a symlink.
	err = filepath.WalkDir(tree.Root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&os.ModeSymlink != 0 {
			t.Errorf("%s is a symlink", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// zeros is a layer of one file of n zero bytes, gzip-compressed.
func zeros(t *testing.T, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "zeros", Mode: 0o644, Size: int64(n), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(make([]byte, n)); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return imagetest.Gzip(t, buf.Bytes())
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

type discard struct{ files int }

func (discard) StartLayer(imagefs.LayerInfo) error { return nil }
func (d *discard) Entry(_ imagefs.Entry, r io.Reader) error {
	d.files++
	_, err := io.Copy(io.Discard, r)
	return err
}

// A decompression bomb stops as soon as it crosses a limit: the rest of
// the blob is never read.
func TestBombsStopEarly(t *testing.T) {
	bomb := zeros(t, 256<<20) // 256 MiB of zeros: ~250 KiB compressed
	for _, tt := range []struct {
		name string
		lim  imagefs.Limits
	}{
		{"ratio", imagefs.Limits{MaxRatio: 100, RatioFloor: 1 << 20}},
		{"total size", imagefs.Limits{MaxBytes: 4 << 20}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cr := &countingReader{r: bytes.NewReader(bomb)}
			err := imagefs.WalkLayer(context.Background(), imagefs.LayerInfo{}, cr, tt.lim, &discard{})
			if !errors.Is(err, imagefs.ErrLimit) {
				t.Fatalf("err = %v, want ErrLimit", err)
			}
			if cr.n > len(bomb)/4 {
				t.Errorf("read %d of %d compressed bytes before stopping", cr.n, len(bomb))
			}
		})
	}
	// A small layer that compresses as well is fine: the ratio is checked
	// only past RatioFloor (64 MiB by default).
	if err := imagefs.WalkLayer(context.Background(), imagefs.LayerInfo{}, bytes.NewReader(zeros(t, 8<<20)), imagefs.Limits{}, &discard{}); err != nil {
		t.Errorf("default limits: %v", err)
	}
}

func TestFileCountLimit(t *testing.T) {
	var entries []e
	for i := range 50 {
		entries = append(entries, e{Name: "f" + strings.Repeat("x", i), Body: "x"})
	}
	layer := imagetest.Tar(t, entries...)
	err := imagefs.WalkLayer(context.Background(), imagefs.LayerInfo{}, bytes.NewReader(layer), imagefs.Limits{MaxFiles: 10}, &discard{})
	if !errors.Is(err, imagefs.ErrLimit) {
		t.Fatalf("err = %v, want ErrLimit", err)
	}
}

func TestDigestIsVerified(t *testing.T) {
	layer := imagetest.Gzip(t, imagetest.Tar(t, e{Name: "a", Body: "a"}))
	sum := sha256.Sum256(layer)
	good := "sha256:" + hex.EncodeToString(sum[:])
	if err := imagefs.WalkLayer(context.Background(), imagefs.LayerInfo{Digest: good}, bytes.NewReader(layer), imagefs.Limits{}, &discard{}); err != nil {
		t.Fatalf("right digest: %v", err)
	}
	bad := "sha256:" + strings.Repeat("0", 64)
	err := imagefs.WalkLayer(context.Background(), imagefs.LayerInfo{Digest: bad}, bytes.NewReader(layer), imagefs.Limits{}, &discard{})
	if !errors.Is(err, imagefs.ErrUnsafe) || !strings.Contains(err.Error(), good) {
		t.Fatalf("wrong digest: err = %v, want ErrUnsafe naming %s", err, good)
	}
	// A truncated blob is an error too, never a shorter layer.
	err = imagefs.WalkLayer(context.Background(), imagefs.LayerInfo{Digest: good}, bytes.NewReader(layer[:len(layer)-10]), imagefs.Limits{}, &discard{})
	if err == nil {
		t.Fatal("truncated layer accepted")
	}
}

func TestResolveLink(t *testing.T) {
	for _, tt := range []struct{ link, target, want string }{
		{"/etc/os-release", "../usr/lib/os-release", "/usr/lib/os-release"},
		{"/etc/os-release", "/usr/lib/os-release", "/usr/lib/os-release"},
		{"/a/b/c", "../../../../../x", "/x"},
		{"/a", ".", "/"},
	} {
		if got := imagefs.ResolveLink(tt.link, tt.target); got != tt.want {
			t.Errorf("ResolveLink(%q, %q) = %q, want %q", tt.link, tt.target, got, tt.want)
		}
	}
}

// A decision by content: want sees the file's first bytes, and the file
// extracted is whole (the bytes looked at are not lost).
func TestWantByContent(t *testing.T) {
	elf := "\x7fELF" + strings.Repeat("x", 2000)
	im, err := imagefs.FromV1("test", imagetest.Image(t, imagetest.Layer(t,
		e{Name: "bin/tool", Body: elf},
		e{Name: "models/weights.bin", Body: strings.Repeat("w", 3000)},
		e{Name: "empty", Body: ""},
	)))
	if err != nil {
		t.Fatal(err)
	}
	var heads []string
	tree, err := imagefs.Extract(context.Background(), im, imagefs.Limits{}, t.TempDir(), func(en imagefs.Entry, head func() []byte) bool {
		h := head()
		heads = append(heads, fmt.Sprintf("%s:%d", en.Path, len(h)))
		return bytes.HasPrefix(h, []byte("\x7fELF"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := tree.Files(); !slices.Equal(got, []string{"/bin/tool"}) {
		t.Fatalf("files %v, want only the ELF one", got)
	}
	if c := content(t, tree, "/bin/tool"); c != elf {
		t.Errorf("extracted %d bytes, want the whole %d", len(c), len(elf))
	}
	want := []string{"/bin/tool:512", "/models/weights.bin:512", "/empty:0"}
	if !slices.Equal(heads, want) {
		t.Errorf("heads %v, want %v", heads, want)
	}
}

// dockerArchive writes a docker save archive of one image with the given
// layer tars (stored gzip-compressed or plain) and returns its path; the
// layer files are named as docker names them and deduplicated by links.
func dockerArchive(t *testing.T, compressed bool, layers ...[]byte) string {
	t.Helper()
	var diffIDs, files []string
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	write := func(name string, b []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	for i, l := range layers {
		sum := sha256.Sum256(l)
		diffIDs = append(diffIDs, `"sha256:`+hex.EncodeToString(sum[:])+`"`)
		stored := l
		if compressed {
			stored = imagetest.Gzip(t, l)
		}
		name := fmt.Sprintf("layer%d/layer.tar", i)
		files = append(files, `"`+name+`"`)
		write(name, stored)
	}
	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[` + strings.Join(diffIDs, ",") + `]}}`)
	sum := sha256.Sum256(config)
	configName := hex.EncodeToString(sum[:]) + ".json"
	write(configName, config)
	write("manifest.json", []byte(`[{"Config":"`+configName+`","RepoTags":["test:1"],"Layers":[`+strings.Join(files, ",")+`]}]`))
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "image.tar")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// A docker save archive is read from its layer files, compressed or not,
// each verified against the config's diff ID.
func TestDockerArchive(t *testing.T) {
	base := imagetest.Tar(t, e{Name: "etc/os-release", Body: "ID=debian\n"})
	top := imagetest.Tar(t, e{Name: "app/x", Body: "x"})
	for _, compressed := range []bool{false, true} {
		imgs, err := imagefs.Open(context.Background(), "docker-archive:"+dockerArchive(t, compressed, base, top), imagefs.OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		tree, err := imagefs.Extract(context.Background(), imgs[0], imagefs.Limits{}, t.TempDir(), func(imagefs.Entry, func() []byte) bool { return true })
		if err != nil {
			t.Fatalf("compressed=%v: %v", compressed, err)
		}
		if got := tree.Files(); !slices.Equal(got, []string{"/app/x", "/etc/os-release"}) {
			t.Errorf("compressed=%v: files %v", compressed, got)
		}
		if sum := sha256.Sum256(top); tree.Layers[1].Digest != "sha256:"+hex.EncodeToString(sum[:]) {
			t.Errorf("compressed=%v: layer named %s, want its diff ID", compressed, tree.Layers[1].Digest)
		}
	}
	// A layer whose content is not what the config says is refused.
	evil := dockerArchive(t, false, base, top)
	b, err := os.ReadFile(evil)
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.Replace(b, []byte("ID=debian"), []byte("ID=evilos"), 1)
	if err := os.WriteFile(evil, b, 0o644); err != nil {
		t.Fatal(err)
	}
	imgs, err := imagefs.Open(context.Background(), "docker-archive:"+evil, imagefs.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = imagefs.Extract(context.Background(), imgs[0], imagefs.Limits{}, t.TempDir(), func(imagefs.Entry, func() []byte) bool { return true })
	if !errors.Is(err, imagefs.ErrUnsafe) {
		t.Fatalf("tampered layer: err = %v, want ErrUnsafe", err)
	}
}

// sparseLayer is a tar whose one entry is a PAX 1.0 sparse file of
// realsize bytes, all hole: archive/tar's writer does not make these, so
// the PAX header block is written by hand.
func sparseLayer(t *testing.T, realsize int64) []byte {
	t.Helper()
	record := func(k, v string) string { // "LEN k=v\n", LEN counting itself
		body := " " + k + "=" + v + "\n"
		n := len(body) + 1
		for n != len(body)+len(fmt.Sprint(n)) {
			n = len(body) + len(fmt.Sprint(n))
		}
		return fmt.Sprint(n) + body
	}
	pax := record("GNU.sparse.major", "1") + record("GNU.sparse.minor", "0") +
		record("GNU.sparse.name", "big.jar") + record("GNU.sparse.realsize", fmt.Sprint(realsize))
	sparseMap := "1\n0\n0\n" + strings.Repeat("\x00", 506) // one data region (offset 0, 0 bytes), in a block
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []struct{ name, body string }{{"PaxHeaders/big.jar", pax}, {"big.jar", sparseMap}} {
		if err := tw.WriteHeader(&tar.Header{Name: h.name, Mode: 0o644, Size: int64(len(h.body)), Typeflag: tar.TypeReg, Format: tar.FormatUSTAR}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(h.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	b[156] = 'x' // the first entry is the PAX header of the second
	copy(b[148:156], "        ")
	sum := 0
	for _, c := range b[:512] {
		sum += int(c)
	}
	copy(b[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return b
}

// A sparse entry (whose holes archive/tar would expand past the limits
// counted under it) is refused.
func TestSparseEntriesAreRefused(t *testing.T) {
	layer := sparseLayer(t, 1<<40) // 1 TiB of holes in a 2 KiB layer
	d := &discard{}
	err := imagefs.WalkLayer(context.Background(), imagefs.LayerInfo{}, bytes.NewReader(layer), imagefs.Limits{}, d)
	if !errors.Is(err, imagefs.ErrUnsafe) || !strings.Contains(err.Error(), "sparse") {
		t.Fatalf("err = %v (entries %d), want ErrUnsafe: sparse", err, d.files)
	}
}
