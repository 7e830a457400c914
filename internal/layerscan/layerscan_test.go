package layerscan_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/cssc-project/cssc/internal/clamd"
	"github.com/cssc-project/cssc/internal/clamd/clamdtest"
	"github.com/cssc-project/cssc/internal/imagefs"
	"github.com/cssc-project/cssc/internal/imagefs/imagetest"
	"github.com/cssc-project/cssc/internal/layerscan"
	"github.com/cssc-project/cssc/internal/malware"
	"github.com/cssc-project/cssc/internal/secrets"
)

func zipOf(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for name, body := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func tgzOf(t *testing.T, name string, body []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	gw := gzip.NewWriter(&b)
	tw := tar.NewWriter(gw)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	_, _ = tw.Write(body)
	_ = tw.Close()
	_ = gw.Close()
	return b.Bytes()
}

func file(name string, body []byte) imagetest.Entry {
	return imagetest.Entry{Name: name, Body: string(body)}
}

// built is a test image and its layers' digests.
type built struct {
	img     *imagefs.Image
	digests []string
}

func build(t *testing.T, layers ...[]imagetest.Entry) built {
	t.Helper()
	var ls []v1.Layer
	var ds []string
	for _, entries := range layers {
		l := imagetest.Layer(t, entries...)
		d, err := l.Digest()
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ds = append(ds, d.String())
	}
	img, err := imagefs.FromV1("test/image", imagetest.Image(t, ls...))
	if err != nil {
		t.Fatal(err)
	}
	return built{img: img, digests: ds}
}

func newClient(t *testing.T, addr string) *clamd.Client {
	t.Helper()
	c, err := clamd.New(addr)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestMalware scans images the test builds with a real clamd.
func TestMalware(t *testing.T) {
	d := clamdtest.Start(t, clamdtest.Options{Config: []string{"MaxFiles 200"}})
	c := newClient(t, d.Addr)
	eicar := clamdtest.EICAR()
	inZip := zipOf(t, map[string][]byte{"docs/readme.txt": []byte("hello"), "bin/eicar.com": eicar})
	zipInZip := zipOf(t, map[string][]byte{"inner.zip": inZip})
	big := bytes.Repeat([]byte("0123456789abcdef"), (layerscan.DefaultBufferSize+1<<20)/16)
	big = append(big, []byte(clamdtest.Marker)...)
	many := map[string][]byte{}
	for i := range 300 {
		many[fmt.Sprintf("f%03d.txt", i)] = []byte(fmt.Sprint(i))
	}
	type want struct {
		layer int
		path  string
		sig   string
	}
	tests := []struct {
		name     string
		layers   [][]imagetest.Entry
		status   malware.Status
		findings []want
		problems []want // sig holds a part of the reason
		files    int64
	}{
		{
			name:   "clean",
			layers: [][]imagetest.Entry{{file("etc/os-release", []byte("ID=debian\n")), file("bin/sh", []byte("#!fake\n"))}},
			status: malware.Clean, files: 2,
		},
		{
			name: "eicar beside clean files, plain, in a zip, in a zip in a zip, in a tar.gz",
			layers: [][]imagetest.Entry{{
				file("etc/hostname", []byte("box\n")),
				file("tmp/eicar.com", eicar),
				file("srv/a.zip", inZip),
				file("srv/nested.jar", zipInZip),
				file("srv/b.tar.gz", tgzOf(t, "x/eicar.com", eicar)),
				file("srv/marker.txt", []byte("some text "+clamdtest.Marker+" more text\n")),
			}},
			status: malware.Infected, files: 6,
			findings: []want{
				{0, "/tmp/eicar.com", clamdtest.EICARHash},
				{0, "/srv/a.zip", clamdtest.EICARHash},
				{0, "/srv/nested.jar", clamdtest.EICARHash},
				{0, "/srv/b.tar.gz", clamdtest.EICARHash},
				{0, "/srv/marker.txt", clamdtest.MarkerSig},
			},
		},
		{
			name: "added in a lower layer, deleted in an upper one",
			layers: [][]imagetest.Entry{
				{file("app/run.sh", []byte("#!/bin/sh\n")), file("app/eicar.com", eicar)},
				{imagetest.Entry{Name: "app/.wh.eicar.com"}, file("app/config", []byte("x=1\n"))},
			},
			status: malware.Infected, files: 3,
			findings: []want{{0, "/app/eicar.com", clamdtest.EICARHash}},
		},
		{
			name: "a file over the buffer size is streamed from the layer",
			layers: [][]imagetest.Entry{
				{file("data/clean", []byte("x"))},
				{file("data/big.bin", big)},
			},
			status: malware.Infected, files: 2,
			findings: []want{{1, "/data/big.bin", clamdtest.MarkerSig}},
		},
		{
			name:   "an archive over clamd's limits is an error",
			layers: [][]imagetest.Entry{{file("srv/many.zip", zipOf(t, many)), file("tmp/eicar.com", eicar)}},
			status: malware.Error, files: 2,
			findings: []want{{0, "/tmp/eicar.com", clamdtest.EICARHash}},
			problems: []want{{0, "/srv/many.zip", "not fully scanned (Heuristics.Limits.Exceeded.MaxFiles)"}},
		},
		{
			name:   "an encrypted archive is an error",
			layers: [][]imagetest.Entry{{file("srv/sealed.zip", malware.EncryptedProbe()), file("etc/hostname", []byte("box\n"))}},
			status: malware.Error, files: 2,
			problems: []want{{0, "/srv/sealed.zip", "not scanned (Heuristics.Encrypted.Zip): the file is encrypted"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := build(t, tt.layers...)
			res, err := layerscan.Run(context.Background(), b.img, layerscan.Options{Clamd: c})
			if err != nil {
				t.Fatal(err)
			}
			if res.Secrets != nil {
				t.Fatal("a secret scan ran that was not asked for")
			}
			m := res.Malware
			if m.Status != tt.status || m.Files != tt.files || m.Layers != len(tt.layers) {
				t.Fatalf("status %s, %d files, %d layers (error %q, problems %+v); want %s, %d, %d",
					m.Status, m.Files, m.Layers, m.Error, m.Problems, tt.status, tt.files, len(tt.layers))
			}
			if m.Engine.Name != "ClamAV" || m.Engine.Version == "" || m.Engine.Address != d.Addr {
				t.Errorf("engine %+v", m.Engine)
			}
			if len(m.Warnings) != 1 || !strings.Contains(m.Warnings[0], "database date unknown") {
				t.Errorf("warnings %q, want the unknown database date", m.Warnings)
			}
			if len(m.Findings) != len(tt.findings) {
				t.Fatalf("findings %+v, want %+v", m.Findings, tt.findings)
			}
			for i, w := range tt.findings {
				f := m.Findings[i]
				if f.Layer != w.layer || f.LayerDigest != b.digests[w.layer] || f.Path != w.path || f.Signature != w.sig {
					t.Errorf("finding %d = %+v, want %+v in %s", i, f, w, b.digests[w.layer])
				}
			}
			if len(m.Problems) != len(tt.problems) {
				t.Fatalf("problems %+v, want %+v", m.Problems, tt.problems)
			}
			for i, w := range tt.problems {
				p := m.Problems[i]
				if p.Layer != w.layer || p.LayerDigest != b.digests[w.layer] || p.Path != w.path || !strings.Contains(p.Reason, w.sig) {
					t.Errorf("problem %d = %+v, want %+v", i, p, w)
				}
			}
		})
	}
}

func TestTooLargeForClamd(t *testing.T) {
	d := clamdtest.Start(t, clamdtest.Options{Config: []string{"StreamMaxLength 1M"}})
	for _, size := range []int{2 << 20, 6 << 20} { // held in memory, and streamed
		b := build(t, []imagetest.Entry{file("ok.txt", []byte("fine")), file("huge.bin", bytes.Repeat([]byte{'b'}, size))})
		res, err := layerscan.Run(context.Background(), b.img, layerscan.Options{Clamd: newClient(t, d.Addr)})
		if err != nil {
			t.Fatal(err)
		}
		m := res.Malware
		if m.Status != malware.Error || len(m.Problems) != 1 || m.Problems[0].Path != "/huge.bin" ||
			!strings.Contains(m.Problems[0].Reason, "not scanned (too large") || m.Files != 1 {
			t.Fatalf("size %d: %+v", size, m)
		}
	}
}

// TestClamdWithoutAlerts: a real clamd that would pass what its limits
// cut short, or encrypted archives, as clean is refused before any file
// is sent.
func TestClamdWithoutAlerts(t *testing.T) {
	for _, tt := range []struct {
		opts clamdtest.Options
		want string
	}{
		{clamdtest.Options{NoAlertExceedsMax: true}, `set "AlertExceedsMax yes"`},
		{clamdtest.Options{NoAlertEncrypted: true}, `set "AlertEncrypted yes"`},
	} {
		d := clamdtest.Start(t, tt.opts)
		b := build(t, []imagetest.Entry{file("tmp/eicar.com", clamdtest.EICAR())})
		res, err := layerscan.Run(context.Background(), b.img, layerscan.Options{Clamd: newClient(t, d.Addr)})
		if err != nil {
			t.Fatal(err)
		}
		m := res.Malware
		if m.Status != malware.Error || !strings.Contains(m.Error, tt.want) || m.Files != 0 || len(m.Findings) != 0 {
			t.Fatalf("%+v: %+v", tt.opts, m)
		}
	}
}

// TestClamdHangs: a clamd that takes every file but judges none stops the
// scan after a few files, whether it still answers PING or not.
func TestClamdHangs(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	var entries []imagetest.Entry
	for i := range 40 {
		entries = append(entries, file(fmt.Sprintf("f/%02d", i), []byte(fmt.Sprint(i))))
	}
	b := build(t, entries)
	for _, tt := range []struct {
		name string
		ping bool
		want string
	}{
		{"answers PING", true, "clamd judged none of 3 files in a row within 200ms"},
		{"PING hangs too", false, "clamd stopped answering during the scan"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var scans atomic.Int64
			f := clamdtest.StartFake(t, func(cmd string, data []byte) string {
				switch {
				case cmd == "VERSION":
					return "ClamAV 1.4.6"
				case cmd == "PING" && tt.ping:
					return "PONG"
				}
				if a, ok := clamdtest.ProbeAnswer(data); ok {
					return a
				}
				scans.Add(1)
				<-release
				return "stream: OK"
			})
			res, err := layerscan.Run(context.Background(), b.img, layerscan.Options{Clamd: newClient(t, f.Addr), FileTimeout: 200 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			m := res.Malware
			if m.Status != malware.Error || !strings.Contains(m.Error, tt.want) {
				t.Fatalf("status %s, error %q; want %q", m.Status, m.Error, tt.want)
			}
			if n := scans.Load(); n > int64(3+2*layerscan.DefaultWorkers) { // of 40
				t.Errorf("%d files were sent to a clamd that judges none", n)
			}
		})
	}
}

func TestClamdUnreachable(t *testing.T) {
	b := build(t, []imagetest.Entry{file("a", []byte("a"))})
	res, err := layerscan.Run(context.Background(), b.img, layerscan.Options{Clamd: newClient(t, "unix:///nonexistent/clamd.sock")})
	if err != nil {
		t.Fatal(err)
	}
	m := res.Malware
	if m.Status != malware.Error || !strings.Contains(m.Error, "clamd is not reachable") || m.Files != 0 {
		t.Fatalf("%+v", m)
	}
}

// killAfter is a clamd client whose daemon is killed after n scans.
type killAfter struct {
	*clamd.Client
	d     *clamdtest.Daemon
	n     int64
	count atomic.Int64
}

func (k *killAfter) Scan(ctx context.Context, r io.Reader) (clamd.Result, error) {
	k.count1()
	return k.Client.Scan(ctx, r)
}

func (k *killAfter) ScanBytes(ctx context.Context, data []byte) (clamd.Result, error) {
	k.count1()
	return k.Client.ScanBytes(ctx, data)
}

func (k *killAfter) count1() {
	if k.count.Add(1) == k.n {
		k.d.Kill()
		time.Sleep(50 * time.Millisecond)
	}
}

func TestClamdStoppedMidScan(t *testing.T) {
	d := clamdtest.Start(t, clamdtest.Options{})
	var entries []imagetest.Entry
	for i := range 200 {
		entries = append(entries, file(fmt.Sprintf("f/%03d", i), []byte(fmt.Sprint("file ", i))))
	}
	b := build(t, entries, []imagetest.Entry{file("tmp/eicar.com", clamdtest.EICAR())})
	k := &killAfter{Client: newClient(t, d.Addr), d: d, n: 20}
	res, err := layerscan.Run(context.Background(), b.img, layerscan.Options{Clamd: k})
	if err != nil {
		t.Fatal(err)
	}
	m := res.Malware
	if m.Status != malware.Error || !strings.Contains(m.Error, "clamd failed during the scan") || m.Files >= 200 {
		t.Fatalf("status %s, error %q, %d files", m.Status, m.Error, m.Files)
	}
	if got := k.count.Load(); got > 20+int64(layerscan.DefaultWorkers)+1 {
		t.Errorf("%d files were sent after clamd went down; the scan should stop", got-20)
	}
}

// TestFakeClamd covers what a real clamd cannot be made to do on demand.
func TestFakeClamd(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	tests := []struct {
		name    string
		version string
		scan    func(data []byte) string
		status  malware.Status
		errPart string
		problem string
		warn    string
		probeOK bool // the fake answers the limits probe as tt.scan says
	}{
		{name: "fresh official database", version: "ClamAV 1.4.6/27470/Wed Dec  2 09:35:31 2026",
			scan: func([]byte) string { return "stream: OK" }, status: malware.Clean},
		{name: "stale database", version: "ClamAV 1.4.6/27400/Mon Nov 16 09:35:31 2026",
			scan: func([]byte) string { return "stream: OK" }, status: malware.Error, errPart: "signature database 27400 of 2026-11-16 is 17.1 days old"},
		{name: "custom databases only", version: "ClamAV 1.4.6",
			scan: func([]byte) string { return "stream: OK" }, status: malware.Clean, warn: "database date unknown"},
		{name: "garbage version", version: "hello",
			scan: func([]byte) string { return "stream: OK" }, status: malware.Error, errPart: "clamd is not reachable: clamd protocol error"},
		{name: "protocol error during the scan", version: "ClamAV 1.4.6/27470/Wed Dec  2 09:35:31 2026",
			scan: func([]byte) string { return "what?" }, status: malware.Error, errPart: "clamd failed during the scan"},
		{name: "clamd's own error is a problem", version: "ClamAV 1.4.6/27470/Wed Dec  2 09:35:31 2026",
			scan: func([]byte) string { return "stream: Can't allocate memory ERROR" }, status: malware.Error, problem: "Can't allocate memory ERROR"},
		{name: "limits probe passed as clean: AlertExceedsMax is off", version: "ClamAV 1.4.6/27470/Wed Dec  2 09:35:31 2026", probeOK: true,
			scan: func([]byte) string { return "stream: OK" }, status: malware.Error, errPart: `set "AlertExceedsMax yes"`},
		{name: "limits probe fails", version: "ClamAV 1.4.6/27470/Wed Dec  2 09:35:31 2026", probeOK: true,
			scan: func([]byte) string { return "stream: Out of memory ERROR" }, status: malware.Error, errPart: "clamd failed the limits probe"},
		{name: "a hang is a timeout", version: "ClamAV 1.4.6/27470/Wed Dec  2 09:35:31 2026",
			scan: func([]byte) string { <-release; return "stream: OK" }, status: malware.Error, problem: "timed out after 300ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := clamdtest.StartFake(t, func(cmd string, data []byte) string {
				if cmd == "VERSION" {
					return tt.version
				}
				if cmd == "PING" {
					return "PONG"
				}
				if a, ok := clamdtest.ProbeAnswer(data); ok && !tt.probeOK {
					return a
				}
				return tt.scan(data)
			})
			b := build(t, []imagetest.Entry{file("a", []byte("a"))})
			res, err := layerscan.Run(context.Background(), b.img, layerscan.Options{
				Clamd: newClient(t, f.Addr), Now: func() time.Time { return now }, FileTimeout: 300 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			m := res.Malware
			if m.Status != tt.status || (tt.errPart == "") != (m.Error == "") || !strings.Contains(m.Error, tt.errPart) {
				t.Fatalf("status %s, error %q; want %s, %q", m.Status, m.Error, tt.status, tt.errPart)
			}
			if tt.problem != "" && (len(m.Problems) != 1 || !strings.Contains(m.Problems[0].Reason, tt.problem)) {
				t.Fatalf("problems %+v, want %q", m.Problems, tt.problem)
			}
			if tt.problem == "" && len(m.Problems) != 0 {
				t.Fatalf("problems %+v", m.Problems)
			}
			if tt.warn != "" && (len(m.Warnings) != 1 || !strings.Contains(m.Warnings[0], tt.warn)) {
				t.Fatalf("warnings %q, want %q", m.Warnings, tt.warn)
			}
		})
	}
}

// TestSecrets covers layer files, a secret deleted in a later layer, the
// configuration, and the scan running beside the malware scan.
func TestSecrets(t *testing.T) {
	d := clamdtest.Start(t, clamdtest.Options{})
	det, err := secrets.New(secrets.Options{})
	if err != nil {
		t.Fatal(err)
	}
	token := "ghp_" + strings.Repeat("aB3dE5gH7jK9mN1pQ3sT5vX7zA9cE1gI3kM5", 1)[:36]
	l0 := []imagetest.Entry{
		file("app/main.py", []byte("print('hi')\n")),
		file("root/.config/gh/hosts.yml", []byte("github.com:\n    oauth_token: "+token+"\n")),
		file("bin/tool", append([]byte("\x7fELF\x02\x01\x01\x00"), []byte(token)...)),
	}
	l1 := []imagetest.Entry{{Name: "root/.config/gh/.wh.hosts.yml"}, file("tmp/eicar.com", clamdtest.EICAR())}
	b := build(t, l0, l1)
	cf, err := b.img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf.Config.Env = append(cf.Config.Env, "GITHUB_TOKEN="+token)
	vimg, err := mutate.ConfigFile(b.img.Image, cf)
	if err != nil {
		t.Fatal(err)
	}
	img, err := imagefs.FromV1("test/image", vimg)
	if err != nil {
		t.Fatal(err)
	}
	res, err := layerscan.Run(context.Background(), img, layerscan.Options{Clamd: newClient(t, d.Addr), Secrets: det})
	if err != nil {
		t.Fatal(err)
	}
	if res.Malware.Status != malware.Infected || len(res.Malware.Findings) != 1 || res.Malware.Findings[0].Layer != 1 {
		t.Fatalf("malware %+v", res.Malware)
	}
	s := res.Secrets
	if s.Status != secrets.Found || len(s.Findings) != 2 || s.SkippedBinary != 1 || s.Files != 3 {
		t.Fatalf("secrets %+v", s)
	}
	f0, f1 := s.Findings[0], s.Findings[1]
	if f0.Source != secrets.SourceLayer || f0.Path != "/root/.config/gh/hosts.yml" || f0.Layer != 0 || f0.LayerDigest != b.digests[0] || f0.Line != 2 || f0.RuleID != "github-pat" {
		t.Errorf("file finding %+v", f0)
	}
	if f1.Source != secrets.SourceConfig || f1.Path != "Env[GITHUB_TOKEN]" || f1.RuleID != "github-pat" || f1.Fingerprint != f0.Fingerprint {
		t.Errorf("config finding %+v (file's fingerprint %s)", f1, f0.Fingerprint)
	}
	if strings.Contains(fmt.Sprintf("%+v", s), token[4:]) {
		t.Fatal("the result holds the secret")
	}
}
