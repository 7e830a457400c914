package server_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/cssc-project/cssc/internal/server"
	"github.com/cssc-project/cssc/internal/server/servertest"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestHealthReadyAndMetrics(t *testing.T) {
	srv := servertest.Start(t, servertest.Config(t.TempDir()))
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, body := get(t, srv.URL+path); code != http.StatusOK || !strings.Contains(body, "ok") {
			t.Errorf("%s: %d %q", path, code, body)
		}
	}
	// Push one blob so the metrics have something to count.
	blob := []byte("metrics blob")
	d := digest.FromBytes(blob)
	resp, err := http.Post(srv.URL+"/v2/team/app/blobs/uploads/?digest="+d.String(), "application/octet-stream", bytes.NewReader(blob))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("push blob: %s", resp.Status)
	}
	if code, _ := get(t, srv.URL+"/v2/team/app/blobs/"+d.String()); code != http.StatusOK {
		t.Fatalf("get blob: %d", code)
	}
	code, body := get(t, srv.URL+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		`cssc_http_requests_total{code="201",method="POST",route="upload"} 1`,
		`cssc_http_requests_total{code="200",method="GET",route="blob"} 1`,
		`cssc_http_request_duration_seconds_count{method="GET",route="blob"} 1`,
		`cssc_storage_bytes 12`,
		`cssc_http_received_bytes_total 12`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestGCThroughAPI(t *testing.T) {
	srv := servertest.Start(t, servertest.Config(t.TempDir()))
	resp, err := http.Post(srv.URL+"/api/v1/gc?dry_run=true", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"dry_run":true`) {
		t.Fatalf("gc: %s %s", resp.Status, b)
	}
}

func TestSecondServerOnSameDataDirIsRefused(t *testing.T) {
	dir := t.TempDir()
	servertest.Start(t, servertest.Config(dir))
	cfg := servertest.Config(dir)
	_, err := server.NewForTest(t, cfg)
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second server: err = %v, want 'in use'", err)
	}
}
