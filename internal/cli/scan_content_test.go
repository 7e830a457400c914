package cli

import (
	"archive/zip"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/cssc-project/cssc/internal/clamd/clamdtest"
	"github.com/cssc-project/cssc/internal/imagefs/imagetest"
	"github.com/cssc-project/cssc/internal/server/servertest"
)

// contentScan is the part of the JSON report the malware and secret tests
// read.
type contentScan struct {
	Scanners []string `json:"scanners"`
	Complete bool     `json:"complete"`
	Findings []any    `json:"findings"`
	Malware  *struct {
		Status   string   `json:"status"`
		Error    string   `json:"error"`
		Warnings []string `json:"warnings"`
		Engine   struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		} `json:"engine"`
		Findings []struct {
			Layer       int    `json:"layer"`
			LayerDigest string `json:"layer_digest"`
			Path        string `json:"path"`
			Signature   string `json:"signature"`
		} `json:"findings"`
		Problems []struct {
			Path   string `json:"path"`
			Reason string `json:"reason"`
		} `json:"problems"`
	} `json:"malware"`
	Secrets *struct {
		Status   string `json:"status"`
		Findings []struct {
			RuleID      string `json:"rule_id"`
			Source      string `json:"source"`
			Path        string `json:"path"`
			LayerDigest string `json:"layer_digest"`
			Line        int    `json:"line"`
			Fingerprint string `json:"fingerprint"`
		} `json:"findings"`
		Allowlisted int `json:"allowlisted"`
	} `json:"secrets"`
}

// writeLayout saves img as an OCI layout and returns its cssc reference.
func writeLayout(t *testing.T, img v1.Image) string {
	t.Helper()
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	return "oci:" + dir
}

func layerDigests(t *testing.T, img v1.Image) []string {
	t.Helper()
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range ls {
		d, err := l.Digest()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d.String())
	}
	return out
}

func decodeContent(t *testing.T, stdout string) contentScan {
	t.Helper()
	var s contentScan
	if err := json.Unmarshal([]byte(stdout), &s); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, stdout)
	}
	return s
}

func TestScanMalware(t *testing.T) {
	d := clamdtest.Start(t, clamdtest.Options{Config: []string{"MaxFiles 100"}})
	eicar := string(clamdtest.EICAR())
	var zipped bytes.Buffer
	zw := zip.NewWriter(&zipped)
	w, _ := zw.Create("lib/eicar.com")
	_, _ = w.Write([]byte(eicar))
	_ = zw.Close()
	infected := imagetest.Image(t,
		imagetest.Layer(t, imagetest.Entry{Name: "etc/os-release", Body: "ID=debian\n"}, imagetest.Entry{Name: "tmp/eicar.com", Body: eicar}),
		imagetest.Layer(t, imagetest.Entry{Name: "tmp/.wh.eicar.com"}, imagetest.Entry{Name: "app/lib.jar", Body: zipped.String()}),
	)
	clean := imagetest.Image(t, imagetest.Layer(t, imagetest.Entry{Name: "etc/os-release", Body: "ID=debian\n"}))
	var many bytes.Buffer
	zw = zip.NewWriter(&many)
	for i := range 150 {
		w, _ := zw.Create(fmt.Sprintf("f%d", i))
		_, _ = w.Write([]byte{byte(i)})
	}
	_ = zw.Close()
	overLimits := imagetest.Image(t, imagetest.Layer(t, imagetest.Entry{Name: "srv/many.zip", Body: many.String()}))
	stale := clamdtest.StartFake(t, func(cmd string, data []byte) string {
		switch {
		case cmd == "VERSION":
			return "ClamAV 1.4.6/27000/Mon Jun  1 09:00:00 2026"
		}
		if a, ok := clamdtest.ProbeAnswer(data); ok {
			return a
		}
		return "stream: OK"
	})
	noAlert := clamdtest.Start(t, clamdtest.Options{NoAlertExceedsMax: true})

	infectedRef := writeLayout(t, infected)
	digests := layerDigests(t, infected)
	// No vulnerability database: --malware alone needs none.
	noDB := filepath.Join(t.TempDir(), "no-db")

	code, stdout, stderr := run(t, "scan", infectedRef, "--malware", "--clamd", d.Addr, "--format", "json", "--db-dir", noDB)
	if code != 1 {
		t.Fatalf("infected image: exit %d, want 1: %s", code, stderr)
	}
	s := decodeContent(t, stdout)
	if !slices.Equal(s.Scanners, []string{"malware"}) || s.Secrets != nil || s.Malware == nil || s.Malware.Status != "infected" || !s.Complete {
		t.Fatalf("report: scanners %v, malware %+v, complete %v", s.Scanners, s.Malware, s.Complete)
	}
	type hit struct {
		layer  int
		digest string
		path   string
		sig    string
	}
	var got []hit
	for _, f := range s.Malware.Findings {
		got = append(got, hit{f.Layer, f.LayerDigest, f.Path, f.Signature})
	}
	want := []hit{{0, digests[0], "/tmp/eicar.com", clamdtest.EICARHash}, {1, digests[1], "/app/lib.jar", clamdtest.EICARHash}}
	if !slices.Equal(got, want) {
		t.Errorf("malware findings %+v, want %+v", got, want)
	}
	if s.Malware.Engine.Name != "ClamAV" || len(s.Malware.Warnings) != 1 || !strings.Contains(s.Malware.Warnings[0], "database date unknown") {
		t.Errorf("engine %+v, warnings %q", s.Malware.Engine, s.Malware.Warnings)
	}
	if !strings.Contains(stderr, "2 files with malware found") {
		t.Errorf("stderr %q does not say what was found", stderr)
	}

	// The table and SARIF name the file, layer and signature too.
	code, stdout, _ = run(t, "scan", infectedRef, "--malware", "--clamd", d.Addr, "--db-dir", noDB)
	if code != 1 || !strings.Contains(stdout, "/app/lib.jar") || !strings.Contains(stdout, clamdtest.EICARHash) {
		t.Errorf("table: exit %d:\n%s", code, stdout)
	}
	code, stdout, _ = run(t, "scan", infectedRef, "--malware", "--clamd", d.Addr, "--format", "sarif", "--db-dir", noDB)
	if code != 1 || !strings.Contains(stdout, `"malware:`+clamdtest.EICARHash+`"`) || !strings.Contains(stdout, digests[1]) {
		t.Errorf("sarif: exit %d:\n%s", code, stdout)
	}

	tests := []struct {
		name   string
		ref    string
		args   []string
		code   int
		status string
		msg    string // in stderr
	}{
		{name: "clean", ref: writeLayout(t, clean), args: []string{"--clamd", d.Addr}, code: 0, status: "clean"},
		{name: "clamd not reachable", ref: infectedRef, args: []string{"--clamd", "unix:///nonexistent/clamd.sock"}, code: 2, status: "error", msg: "clamd is not reachable"},
		{name: "archive over clamd's limits", ref: writeLayout(t, overLimits), args: []string{"--clamd", d.Addr}, code: 2, status: "error", msg: "not fully scanned (Heuristics.Limits.Exceeded.MaxFiles)"},
		{name: "clamd without AlertExceedsMax", ref: writeLayout(t, clean), args: []string{"--clamd", noAlert.Addr}, code: 2, status: "error", msg: `set "AlertExceedsMax yes"`},
		{name: "stale database", ref: writeLayout(t, clean), args: []string{"--clamd", stale.Addr}, code: 2, status: "error", msg: "signature database 27000 of 2026-06-01"},
		{name: "stale database, check off", ref: writeLayout(t, clean), args: []string{"--clamd", stale.Addr, "--clamd-max-age", "0"}, code: 0, status: "clean"},
		{name: "stale database, longer max age", ref: writeLayout(t, clean), args: []string{"--clamd", stale.Addr, "--clamd-max-age", "3650d"}, code: 0, status: "clean"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"scan", tt.ref, "--malware", "--format", "json", "--db-dir", noDB}, tt.args...)
			code, stdout, stderr := run(t, args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d: %s", code, tt.code, stderr)
			}
			s := decodeContent(t, stdout)
			if s.Malware == nil || s.Malware.Status != tt.status {
				t.Fatalf("malware %+v, want status %s", s.Malware, tt.status)
			}
			if !strings.Contains(stderr, tt.msg) {
				t.Errorf("stderr %q, want it to say %q", stderr, tt.msg)
			}
			if tt.code == 2 && s.Complete {
				t.Error("a report in error says it is complete")
			}
		})
	}
}

// TestScanClamdStoppedMidScan kills the real clamd while cssc scan runs:
// a proxy in front of it counts connections and kills the daemon when the
// tenth file is sent.
func TestScanClamdStoppedMidScan(t *testing.T) {
	d := clamdtest.Start(t, clamdtest.Options{})
	var entries []imagetest.Entry
	for i := range 100 {
		entries = append(entries, imagetest.Entry{Name: fmt.Sprintf("data/%03d.txt", i), Body: fmt.Sprint("file ", i)})
	}
	ref := writeLayout(t, imagetest.Image(t, imagetest.Layer(t, entries...)))
	dir, err := os.MkdirTemp("", "clamd-proxy-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	sock := filepath.Join(dir, "proxy.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	target := strings.TrimPrefix(d.Addr, "unix://")
	go func() {
		for n := 1; ; n++ {
			c, err := l.Accept()
			if err != nil {
				return
			}
			if n == 13 { // VERSION, the two probes, then ten files
				d.Kill()
			}
			go func() {
				defer func() { _ = c.Close() }()
				up, err := net.Dial("unix", target)
				if err != nil {
					return
				}
				defer func() { _ = up.Close() }()
				go func() { _, _ = io.Copy(up, c) }()
				_, _ = io.Copy(c, up)
			}()
		}
	}()
	code, stdout, stderr := run(t, "scan", ref, "--malware", "--clamd", "unix://"+sock, "--format", "json", "--db-dir", filepath.Join(t.TempDir(), "no-db"))
	if code != 2 || !strings.Contains(stderr, "clamd failed during the scan") {
		t.Fatalf("exit %d, want 2 saying clamd failed: %s", code, stderr)
	}
	s := decodeContent(t, stdout)
	if s.Malware == nil || s.Malware.Status != "error" || s.Complete {
		t.Fatalf("malware %+v, complete %v", s.Malware, s.Complete)
	}
}

// randomToken returns n characters of [A-Za-z0-9] from a fixed seed, so
// the repository holds no live-looking secret.
func randomToken(seed uint64, n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	r := mrand.New(mrand.NewPCG(seed, seed+1))
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

func TestScanSecrets(t *testing.T) {
	keyID := "AKIA" + strings.ToUpper(randomToken(1, 16))
	secretKey := randomToken(2, 40)
	ghToken := "ghp_" + randomToken(3, 36)
	glToken := "glpat-" + randomToken(4, 20)
	dbPassword := randomToken(5, 14)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
	pemBody := strings.Split(pemKey, "\n")[1]

	base := imagetest.Image(t,
		imagetest.Layer(t,
			imagetest.Entry{Name: "root/.aws/credentials", Body: "[default]\naws_access_key_id = " + keyID + "\naws_secret_access_key = " + secretKey + "\n"},
			imagetest.Entry{Name: "etc/ssl/private/server.key", Body: pemKey},
			imagetest.Entry{Name: "usr/share/doc/app/example.key", Body: pemKey},
			imagetest.Entry{Name: "app/main.py", Body: "print('hello')\nDB = 'postgres://app:" + dbPassword + "@db.internal/app'\n"},
		),
	)
	cf, err := base.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Config.Env = []string{"PATH=/usr/bin", "GITHUB_TOKEN=" + ghToken}
	cf.History = []v1.History{
		{CreatedBy: "/bin/sh -c #(nop) ADD dir:1234 in / "},
		{CreatedBy: "|1 GITLAB_TOKEN=" + glToken + " /bin/sh -c make deploy", EmptyLayer: true},
	}
	img, err := mutate.ConfigFile(base, cf)
	if err != nil {
		t.Fatal(err)
	}
	ref := writeLayout(t, img)
	digests := layerDigests(t, img)
	noDB := filepath.Join(t.TempDir(), "no-db")
	allow := filepath.Join(t.TempDir(), "allow.yaml")
	if err := os.WriteFile(allow, []byte("allow:\n  - path: /usr/share/doc/**\n    reason: example keys shipped with the docs\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	secretsOf := []string{keyID, secretKey, ghToken, glToken, pemBody, dbPassword}

	for _, format := range []string{"json", "sarif", "table"} {
		code, stdout, stderr := run(t, "scan", ref, "--secrets", "--secrets-allowlist", allow, "--format", format, "--db-dir", noDB)
		if code != 1 {
			t.Fatalf("%s: exit %d, want 1: %s", format, code, stderr)
		}
		for _, secret := range secretsOf {
			if strings.Contains(stdout, secret) || strings.Contains(stderr, secret) {
				t.Fatalf("%s: the report shows a secret (%.8s…)", format, secret)
			}
		}
		if format != "json" {
			continue
		}
		s := decodeContent(t, stdout)
		if !slices.Equal(s.Scanners, []string{"secrets"}) || s.Malware != nil || s.Secrets == nil || s.Secrets.Status != "found" {
			t.Fatalf("scanners %v, secrets %+v", s.Scanners, s.Secrets)
		}
		var got []string
		for _, f := range s.Secrets.Findings {
			if f.Source == "layer" && f.LayerDigest != digests[0] {
				t.Errorf("finding %+v: layer %s, want %s", f, f.LayerDigest, digests[0])
			}
			if !strings.HasPrefix(f.Fingerprint, "sha256:") {
				t.Errorf("finding %+v has no fingerprint", f)
			}
			got = append(got, fmt.Sprintf("%s %s %s:%d", f.Source, f.RuleID, f.Path, f.Line))
		}
		want := []string{
			"layer aws-access-token /root/.aws/credentials:2",
			"layer generic-api-key /root/.aws/credentials:3",
			"layer private-key /etc/ssl/private/server.key:1",
			"layer url-password /app/main.py:2",
			"config github-pat Env[GITHUB_TOKEN]:1",
			"config gitlab-pat history[1].created_by:1",
		}
		if !slices.Equal(got, want) {
			t.Errorf("secret findings:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
		if s.Secrets.Allowlisted != 1 {
			t.Errorf("allowlisted %d, want 1 (the documentation's example key)", s.Secrets.Allowlisted)
		}
	}

	// Without the allowlist the documentation's key is reported too.
	code, stdout, _ := run(t, "scan", ref, "--secrets", "--format", "json", "--db-dir", noDB)
	s := decodeContent(t, stdout)
	if code != 1 || s.Secrets == nil || len(s.Secrets.Findings) != 7 {
		t.Fatalf("without allowlist: exit %d, %+v", code, s.Secrets)
	}
}

// TestScanAll runs the three scanners on one image.
func TestScanAll(t *testing.T) {
	d := clamdtest.Start(t, clamdtest.Options{})
	db := importRecords(t)
	base := scanImage(t)
	img, err := mutate.AppendLayers(base, imagetest.Layer(t, imagetest.Entry{Name: "tmp/eicar.com", Body: string(clamdtest.EICAR())},
		imagetest.Entry{Name: "app/.env", Body: "GITHUB_TOKEN=ghp_" + randomToken(9, 36) + "\n"}))
	if err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := run(t, "scan", writeLayout(t, img), "--all", "--clamd", d.Addr, "--db-dir", db, "--format", "json")
	if code != 1 {
		t.Fatalf("exit %d, want 1: %s", code, stderr)
	}
	s := decodeContent(t, stdout)
	if !slices.Equal(s.Scanners, []string{"vulnerabilities", "malware", "secrets"}) || len(s.Findings) != len(wantFindings) ||
		s.Malware == nil || len(s.Malware.Findings) != 1 || s.Secrets == nil || len(s.Secrets.Findings) != 1 {
		t.Fatalf("scanners %v, %d vulnerabilities, malware %+v, secrets %+v", s.Scanners, len(s.Findings), s.Malware, s.Secrets)
	}
	if !strings.Contains(stderr, "vulnerabilities, 1 file with malware, 1 secret found") {
		t.Errorf("stderr %q", stderr)
	}
}

// TestScanAllDownloadsLayersOnce: with --all, the inventory and the layer
// scan both read every layer; from a registry, each layer is downloaded
// once.
func TestScanAllDownloadsLayersOnce(t *testing.T) {
	d := clamdtest.Start(t, clamdtest.Options{})
	db := importRecords(t)
	img, err := mutate.AppendLayers(scanImage(t), imagetest.Layer(t, imagetest.Entry{Name: "tmp/eicar.com", Body: string(clamdtest.EICAR())}))
	if err != nil {
		t.Fatal(err)
	}
	ts := servertest.Start(t, servertest.Config(filepath.Join(t.TempDir(), "data")))
	target, err := url.Parse("http://" + ts.Host)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	gets := map[string]int{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	counting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
			mu.Lock()
			gets[path.Base(r.URL.Path)]++
			mu.Unlock()
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(counting.Close)
	host := strings.TrimPrefix(counting.URL, "http://")
	r, err := name.ParseReference(host + "/team/app:1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	clear(gets)
	mu.Unlock()
	code, _, stderr := run(t, "scan", r.String(), "--all", "--clamd", d.Addr, "--db-dir", db, "--format", "json")
	if code != 1 {
		t.Fatalf("exit %d, want 1: %s", code, stderr)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, l := range layerDigests(t, img) {
		if gets[l] != 1 {
			t.Errorf("layer %s downloaded %d times, want once (all GETs: %v)", l, gets[l], gets)
		}
	}
}

func TestScanContentFlagErrors(t *testing.T) {
	tests := []struct {
		args []string
		msg  string
	}{
		{[]string{"scan", "--sbom", "x.json", "--malware"}, "--sbom scans vulnerabilities only"},
		{[]string{"scan", "oci:/nonexistent", "--malware", "--clamd", "clamd.sock"}, "--clamd: clamd address"},
		{[]string{"scan", "oci:/nonexistent", "--secrets-allowlist", "a.yaml"}, "need --secrets"},
		{[]string{"scan", "oci:/nonexistent", "--secrets", "--secrets-allowlist", "/nonexistent/a.yaml"}, "/nonexistent/a.yaml"},
		{[]string{"scan", "oci:/nonexistent", "--malware", "--clamd-max-age", "a week"}, "want a number of days"},
		{[]string{"scan", "oci:/nonexistent", "--malware", "--clamd-workers", "0"}, "--clamd-workers 0"},
	}
	for _, tt := range tests {
		code, _, stderr := run(t, tt.args...)
		if code == 0 || !strings.Contains(stderr, tt.msg) {
			t.Errorf("%v: exit %d, %q; want an error saying %q", tt.args, code, stderr, tt.msg)
		}
	}
}
