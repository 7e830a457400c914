package main

// BenchmarkManifestGet runs the same load as the command, with the servers
// in the benchmark's process (internal/server/servertest), so that a CPU
// profile sees the server's side:
//
//	go test ./bench/auth -run '^$' -bench ManifestGet -benchtime 5s -args -profile-dir /tmp/prof
//	go tool pprof -top /tmp/prof/api-token.prof
//
// -profile-dir profiles each variant's measured loop alone (the last run
// of each), leaving out the setup (hashing secrets, pushing), which
// -cpuprofile would mix in.

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/cssc-project/cssc/internal/auth"
	"github.com/cssc-project/cssc/internal/server/servertest"
)

var profileDir = flag.String("profile-dir", "", "write a CPU profile of each variant's measured loop here")

func BenchmarkManifestGet(b *testing.B) {
	ctx := context.Background()
	const conc = 8
	newServer := func(secured bool) *server {
		dir := b.TempDir()
		if secured {
			servertest.Init(b, dir)
		}
		ts := servertest.Start(b, servertest.Config(dir))
		srv := &server{name: "open", dir: dir, addr: ts.Host, client: &http.Client{Transport: &http.Transport{
			MaxIdleConnsPerHost: 2 * conc, MaxIdleConns: 4 * conc, DisableCompression: true,
		}}}
		var a authn.Authenticator = authn.Anonymous
		if secured {
			srv.name = "secured"
			a = &authn.Basic{Username: "admin", Password: servertest.AdminPassword}
		}
		if err := pushImage(ctx, srv.addr, a); err != nil {
			b.Fatal(err)
		}
		return srv
	}
	openSrv, secSrv := newServer(false), newServer(true)

	var created map[string]string
	apiCall(b, secSrv, "admin", servertest.AdminPassword, "/api/v1/users",
		auth.NewIdentity{Name: robotName, Kind: auth.KindRobot, Grants: []auth.Grant{{Role: auth.RolePull, Pattern: "bench/**"}}}, &created)
	secret := created["secret"]
	var tok auth.Token
	apiCall(b, secSrv, robotName, secret, "/api/v1/tokens", auth.NewToken{Name: "bench"}, &tok)
	regTok, err := registryToken(ctx, secSrv, robotName, secret)
	if err != nil {
		b.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.SetBasicAuth(robotName, secret)

	for _, c := range []struct {
		name, authorization string
		srv                 *server
	}{
		{"open", "", openSrv},
		{"basic", req.Header.Get("Authorization"), secSrv},
		{"registry-token", "Bearer " + regTok, secSrv},
		{"api-token", "Bearer " + tok.Secret, secSrv},
	} {
		b.Run(c.name, func(b *testing.B) {
			u := "http://" + c.srv.addr + "/v2/" + repo + "/manifests/" + tag
			b.SetParallelism((conc + 1) / 2) // × GOMAXPROCS (2) goroutines
			if *profileDir != "" {
				stop := startProfile(b, filepath.Join(*profileDir, c.name+".prof"))
				defer stop()
			}
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
					req.Header.Set("Accept", acceptManifests)
					if c.authorization != "" {
						req.Header.Set("Authorization", c.authorization)
					}
					resp, err := c.srv.client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Errorf("GET: %s", resp.Status)
						return
					}
				}
			})
		})
	}
}

// apiCall POSTs in as JSON to the REST API with Basic credentials.
func apiCall(b *testing.B, srv *server, user, password, path string, in, out any) {
	b.Helper()
	body, _ := json.Marshal(in)
	req, _ := http.NewRequest(http.MethodPost, "http://"+srv.addr+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(user, password)
	resp, err := srv.client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		b.Fatalf("POST %s: %s: %s", path, resp.Status, strings.TrimSpace(string(msg)))
	}
	if err := json.Unmarshal(msg, out); err != nil {
		b.Fatal(fmt.Errorf("POST %s: %w", path, err))
	}
}

// startProfile starts a CPU profile into path and returns what stops it.
func startProfile(b *testing.B, path string) func() {
	b.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		b.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}
}
