package server_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cssc-project/cssc/internal/server"
	"github.com/cssc-project/cssc/internal/server/servertest"
)

// cred is how a test request authenticates: Basic, a bearer token, or nothing.
type cred struct {
	user, pass string
	bearer     string
}

func (c cred) apply(req *http.Request) {
	switch {
	case c.bearer != "":
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	case c.user != "":
		req.SetBasicAuth(c.user, c.pass)
	}
}

type client struct {
	t    *testing.T
	base string
}

func (c client) do(method, path string, who cred, body []byte, header ...string) (*http.Response, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	who.apply(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// api calls the REST API and decodes a 2xx answer into out.
func (c client) api(method, path string, who cred, in, out any) {
	c.t.Helper()
	var body []byte
	if in != nil {
		body, _ = json.Marshal(in)
	}
	resp, b := c.do(method, path, who, body, "Content-Type", "application/json")
	if resp.StatusCode/100 != 2 {
		c.t.Fatalf("%s %s: %s: %s", method, path, resp.Status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}

func digestOf(b []byte) string { return fmt.Sprintf("sha256:%x", sha256.Sum256(b)) }

// pushImage pushes a one-layer image to repo:tag as who; it returns the
// manifest digest and the layer digest.
func (c client) pushImage(who cred, repo, tag string, layer []byte) (string, string) {
	c.t.Helper()
	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	for _, b := range [][]byte{config, layer} {
		resp, body := c.do("POST", "/v2/"+repo+"/blobs/uploads/?digest="+digestOf(b), who, b, "Content-Type", "application/octet-stream")
		if resp.StatusCode != http.StatusCreated {
			c.t.Fatalf("push blob to %s: %s: %s", repo, resp.Status, body)
		}
	}
	m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":%q,"size":%d}]}`,
		digestOf(config), len(config), digestOf(layer), len(layer))
	resp, body := c.do("PUT", "/v2/"+repo+"/manifests/"+tag, who, []byte(m), "Content-Type", "application/vnd.oci.image.manifest.v1+json")
	if resp.StatusCode != http.StatusCreated {
		c.t.Fatalf("push manifest to %s:%s: %s: %s", repo, tag, resp.Status, body)
	}
	return digestOf([]byte(m)), digestOf(layer)
}

// startSecured starts an initialised server with anonymous pull allowed on
// team/** and (to show the built-in rule wins) quarantine/**.
func startSecured(t *testing.T) (*servertest.Server, client, cred) {
	t.Helper()
	dir := t.TempDir()
	servertest.Init(t, dir)
	cfg := servertest.Config(dir)
	cfg.AnonymousPull = []string{"team/**", "quarantine/**"}
	cfg.LoginMaxFailures = 1000 // the matrix fails many logins on purpose
	srv := servertest.Start(t, cfg)
	return srv, client{t: t, base: srv.URL}, cred{user: "admin", pass: servertest.AdminPassword}
}

// TestAuthorizationMatrix asserts allow or deny for every kind of identity
// on every registry endpoint in every area, and on the REST API.
func TestAuthorizationMatrix(t *testing.T) {
	_, c, admin := startSecured(t)

	secrets := map[string]string{}
	mk := func(name, kind string, grants []map[string]string, extra map[string]any) {
		in := map[string]any{"name": name, "kind": kind, "grants": grants}
		for k, v := range extra {
			in[k] = v
		}
		var out map[string]string
		c.api("POST", "/api/v1/users", admin, in, &out)
		secrets[name] = out["secret"]
	}
	g := func(pairs ...string) []map[string]string {
		var out []map[string]string
		for i := 0; i < len(pairs); i += 2 {
			out = append(out, map[string]string{"role": pairs[i], "scope": pairs[i+1]})
		}
		return out
	}
	mk("reader", "user", g("pull", "team/**", "pull", "golden/**", "pull", "quarantine/**"), nil)
	mk("writer", "user", g("push", "team/**", "push", "golden/**", "push", "quarantine/**"), nil)
	mk("deleter", "user", g("delete", "team/**", "delete", "golden/**", "delete", "quarantine/**"), nil)
	mk("acquire", "robot", nil, map[string]any{"pipeline": true})
	mk("ci", "robot", g("pull", "golden/**"), nil)
	mk("expired", "robot", g("pull", "**"), map[string]any{"expires": time.Now().Add(-time.Hour).Format(time.RFC3339)})
	mk("gone", "user", g("delete", "**"), nil)
	mk("retired", "robot", g("delete", "**"), nil)
	c.api("POST", "/api/v1/users/gone/disable", admin, nil, nil)
	c.api("POST", "/api/v1/users/retired/disable", admin, nil, nil)

	// Content in each area, pushed by the admin (golden/ by break glass).
	layers := map[string]string{}
	for _, area := range []string{"team", "golden", "quarantine"} {
		_, layers[area] = c.pushImage(admin, area+"/app", "v1", []byte("layer of "+area))
	}

	const all, pullOnly, none = "pull,push,delete", "pull", ""
	type want map[string]string // area -> allowed actions
	identities := []struct {
		name    string
		who     cred
		allowed want
		// unauthenticated: denials are 401 (log in), not 403.
		unauthenticated bool
	}{
		{"admin", admin, want{"team": all, "golden": all, "quarantine": all}, false},
		{"acquire (pipeline)", cred{user: "acquire", pass: secrets["acquire"]}, want{"team": none, "golden": all, "quarantine": all}, false},
		{"reader", cred{user: "reader", pass: secrets["reader"]}, want{"team": pullOnly, "golden": pullOnly, "quarantine": none}, false},
		{"writer", cred{user: "writer", pass: secrets["writer"]}, want{"team": "pull,push", "golden": pullOnly, "quarantine": none}, false},
		{"deleter", cred{user: "deleter", pass: secrets["deleter"]}, want{"team": all, "golden": pullOnly, "quarantine": none}, false},
		{"ci robot", cred{user: "ci", pass: secrets["ci"]}, want{"team": none, "golden": pullOnly, "quarantine": none}, false},
		{"anonymous (team/** and quarantine/** anonymous-pull)", cred{}, want{"team": pullOnly, "golden": none, "quarantine": none}, true},
		{"expired robot", cred{user: "expired", pass: secrets["expired"]}, want{}, true},
		{"disabled user", cred{user: "gone", pass: secrets["gone"]}, want{}, true},
		{"revoked robot", cred{user: "retired", pass: secrets["retired"]}, want{}, true},
		{"wrong password", cred{user: "reader", pass: "not-the-secret"}, want{}, true},
		{"unknown user", cred{user: "nobody", pass: "whatever-password"}, want{}, true},
		{"garbage bearer token", cred{bearer: "eyJhbGciOi.not.a-token"}, want{}, true},
	}
	type endpoint struct {
		action, method, path string
		body                 []byte
		header               []string
	}
	manifest := func(area string) []byte {
		_, b := c.do("GET", "/v2/"+area+"/app/manifests/v1", admin, nil, "Accept", "application/vnd.oci.image.manifest.v1+json")
		return b
	}
	missing := "sha256:" + strings.Repeat("0", 64)
	endpoints := func(area string) []endpoint {
		repo := "/v2/" + area + "/app"
		return []endpoint{
			{"pull", "GET", repo + "/manifests/v1", nil, []string{"Accept", "application/vnd.oci.image.manifest.v1+json"}},
			{"pull", "HEAD", repo + "/manifests/v1", nil, nil},
			{"pull", "GET", repo + "/blobs/" + layers[area], nil, nil},
			{"pull", "HEAD", repo + "/blobs/" + layers[area], nil, nil},
			{"pull", "GET", repo + "/tags/list", nil, nil},
			{"pull", "GET", repo + "/referrers/" + missing, nil, nil},
			{"push", "POST", repo + "/blobs/uploads/", nil, nil},
			{"push", "PUT", repo + "/manifests/matrix", manifest(area), []string{"Content-Type", "application/vnd.oci.image.manifest.v1+json"}},
			{"delete", "DELETE", repo + "/manifests/no-such-tag", nil, nil},
			{"delete", "DELETE", repo + "/blobs/" + missing, nil, nil},
		}
	}
	unexpected := 0
	for _, id := range identities {
		for _, area := range []string{"team", "golden", "quarantine"} {
			for _, ep := range endpoints(area) {
				resp, body := c.do(ep.method, ep.path, id.who, ep.body, ep.header...)
				allowed := slices.Contains(strings.Split(id.allowed[area], ","), ep.action)
				denied := resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden
				switch {
				case allowed && denied:
					t.Errorf("%s: %s %s: %s, want allowed: %s", id.name, ep.method, ep.path, resp.Status, body)
				case !allowed && !denied:
					unexpected++
					t.Errorf("UNEXPECTED ALLOW: %s: %s %s: %s", id.name, ep.method, ep.path, resp.Status)
				case !allowed && id.unauthenticated && resp.StatusCode != http.StatusUnauthorized:
					t.Errorf("%s: %s %s: %s, want 401", id.name, ep.method, ep.path, resp.Status)
				case !allowed && !id.unauthenticated && resp.StatusCode != http.StatusForbidden:
					t.Errorf("%s: %s %s: %s, want 403", id.name, ep.method, ep.path, resp.Status)
				case !allowed && ep.method != "HEAD" && !strings.Contains(string(body), map[bool]string{true: "UNAUTHORIZED", false: "DENIED"}[id.unauthenticated]):
					t.Errorf("%s: %s %s: body %s lacks the error code", id.name, ep.method, ep.path, body)
				}
				if resp.StatusCode == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
					t.Errorf("%s: %s %s: 401 without a challenge", id.name, ep.method, ep.path)
				}
			}
		}
	}
	if unexpected > 0 {
		t.Fatalf("%d unexpected allows", unexpected)
	}

	t.Run("catalog shows only what the caller may pull", func(t *testing.T) {
		for _, tt := range []struct {
			who  cred
			want []string
		}{
			{admin, []string{"golden/app", "quarantine/app", "team/app"}},
			{cred{user: "reader", pass: secrets["reader"]}, []string{"golden/app", "team/app"}},
			{cred{user: "ci", pass: secrets["ci"]}, []string{"golden/app"}},
			{cred{user: "acquire", pass: secrets["acquire"]}, []string{"golden/app", "quarantine/app"}},
		} {
			var out struct {
				Repositories []string `json:"repositories"`
			}
			resp, b := c.do("GET", "/v2/_catalog", tt.who, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: catalog: %s", tt.who.user, resp.Status)
			}
			_ = json.Unmarshal(b, &out)
			if !slices.Equal(out.Repositories, tt.want) {
				t.Errorf("%s: catalog %v, want %v", tt.who.user, out.Repositories, tt.want)
			}
		}
		// Paging filters without losing or repeating names.
		resp, b := c.do("GET", "/v2/_catalog?n=1", cred{user: "ci", pass: secrets["ci"]}, nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "golden/app") {
			t.Errorf("paged catalog for ci: %s %s", resp.Status, b)
		}
	})

	t.Run("no mount of a blob the caller cannot pull", func(t *testing.T) {
		_, secret := c.pushImage(admin, "quarantine/secret", "v1", []byte("only in quarantine"))
		writer := cred{user: "writer", pass: secrets["writer"]}
		for _, q := range []string{"?mount=" + secret + "&from=quarantine/secret", "?mount=" + secret} {
			resp, body := c.do("POST", "/v2/team/stolen/blobs/uploads/"+q, writer, nil)
			if resp.StatusCode != http.StatusAccepted {
				t.Errorf("writer mount %s: %s %s, want 202 (a new upload session)", q, resp.Status, body)
			}
		}
		resp, _ := c.do("HEAD", "/v2/team/stolen/blobs/"+secret, writer, nil)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("quarantined blob visible in team/stolen after the mount attempts: %s", resp.Status)
		}
		// A blob the caller may read is mounted.
		resp, body := c.do("POST", "/v2/team/copy/blobs/uploads/?mount="+layers["team"]+"&from=team/app", writer, nil)
		if resp.StatusCode != http.StatusCreated {
			t.Errorf("writer mount from team/app: %s %s, want 201", resp.Status, body)
		}
		resp, _ = c.do("POST", "/v2/team/copy2/blobs/uploads/?mount="+secret, admin, nil)
		if resp.StatusCode != http.StatusCreated {
			t.Errorf("admin mount without from: %s, want 201", resp.Status)
		}
	})

	t.Run("REST API: admin only, except whoami and own tokens", func(t *testing.T) {
		reader := cred{user: "reader", pass: secrets["reader"]}
		for _, ep := range []struct{ method, path, body string }{
			{"GET", "/api/v1/users", ""},
			{"POST", "/api/v1/users", `{"name":"mallory","kind":"user","grants":[{"role":"admin","scope":"**"}]}`},
			{"POST", "/api/v1/users/admin/disable", ""},
			{"POST", "/api/v1/users/reader/grants", `{"role":"admin","scope":"**"}`},
			{"POST", "/api/v1/users/admin/reset-secret", ""},
			{"POST", "/api/v1/keys/token/rotate", ""},
			{"POST", "/api/v1/gc?dry_run=true", ""},
			{"GET", "/api/v1/audit", ""},
			{"GET", "/api/v1/tokens?all=true", ""},
		} {
			resp, b := c.do(ep.method, ep.path, reader, []byte(ep.body), "Content-Type", "application/json")
			if ep.path == "/api/v1/tokens?all=true" {
				// Allowed, but shows only the caller's own tokens.
				if resp.StatusCode != http.StatusOK || strings.Contains(string(b), `"owner":"admin"`) {
					t.Errorf("reader lists tokens: %s %s", resp.Status, b)
				}
				continue
			}
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("reader %s %s: %s %s, want 403", ep.method, ep.path, resp.Status, b)
			}
			resp, _ = c.do(ep.method, ep.path, cred{}, []byte(ep.body), "Content-Type", "application/json")
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("anonymous %s %s: %s, want 401", ep.method, ep.path, resp.Status)
			}
		}
		var who map[string]any
		c.api("GET", "/api/v1/whoami", reader, nil, &who)
		if who["name"] != "reader" || who["admin"] != false {
			t.Errorf("whoami: %v", who)
		}
		c.api("POST", "/api/v1/gc?dry_run=true", admin, nil, nil)
	})
}

// getToken runs the token flow's GET with Basic credentials.
func getToken(c client, who cred, scopes ...string) (string, *http.Response) {
	c.t.Helper()
	q := url.Values{"service": {"cssc"}, "scope": scopes}
	resp, b := c.do("GET", "/token?"+q.Encode(), who, nil)
	var out struct {
		Token string `json:"token"`
	}
	_ = json.Unmarshal(b, &out)
	return out.Token, resp
}

func TestTokensNarrowAndExpire(t *testing.T) {
	_, c, admin := startSecured(t)
	var out map[string]string
	c.api("POST", "/api/v1/users", admin, map[string]any{"name": "writer", "kind": "user",
		"grants": []map[string]string{{"role": "push", "scope": "team/**"}}}, &out)
	writer := cred{user: "writer", pass: out["secret"]}
	c.pushImage(admin, "team/app", "v1", []byte("layer"))

	t.Run("registry token scope", func(t *testing.T) {
		tok, resp := getToken(c, writer, "repository:team/app:pull")
		if resp.StatusCode != http.StatusOK || tok == "" {
			t.Fatalf("token: %s", resp.Status)
		}
		if resp, _ := c.do("GET", "/v2/team/app/tags/list", cred{bearer: tok}, nil); resp.StatusCode != http.StatusOK {
			t.Errorf("pull with a pull token: %s", resp.Status)
		}
		resp, _ = c.do("POST", "/v2/team/app/blobs/uploads/", cred{bearer: tok}, nil)
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `scope="repository:team/app:pull,push"`) {
			t.Errorf("push with a pull token: %s %q, want 401 asking for push", resp.Status, resp.Header.Get("WWW-Authenticate"))
		}
		if resp, _ := c.do("GET", "/v2/team/other/tags/list", cred{bearer: tok}, nil); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("pull of another repository with a token for team/app: %s", resp.Status)
		}
		// Asking for more than granted yields the granted subset only.
		tok, _ = getToken(c, writer, "repository:team/app:pull,push,delete", "repository:quarantine/x:pull")
		if resp, _ := c.do("DELETE", "/v2/team/app/manifests/nope", cred{bearer: tok}, nil); resp.StatusCode != http.StatusForbidden {
			t.Errorf("delete with an over-asked token: %s, want 403", resp.Status)
		}
		if resp, _ := c.do("POST", "/v2/team/app/blobs/uploads/", cred{bearer: tok}, nil); resp.StatusCode != http.StatusAccepted {
			t.Errorf("push with a push token: %s", resp.Status)
		}
		// A disabled user's token stops working at once.
		c.api("POST", "/api/v1/users/writer/disable", admin, nil, nil)
		if resp, _ := c.do("GET", "/v2/team/app/tags/list", cred{bearer: tok}, nil); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("token of a disabled user: %s, want 401", resp.Status)
		}
		if _, resp := getToken(c, writer, "repository:team/app:pull"); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("token for a disabled user: %s, want 401", resp.Status)
		}
		c.api("POST", "/api/v1/users/writer/enable", admin, nil, nil)
	})

	t.Run("API token narrowed, revoked and expired", func(t *testing.T) {
		var tok struct {
			ID    string `json:"id"`
			Token string `json:"token"`
		}
		c.api("POST", "/api/v1/tokens", writer, map[string]any{"name": "ci", "role": "pull", "scope": "team/**"}, &tok)
		bearer := cred{bearer: tok.Token}
		if resp, _ := c.do("GET", "/v2/team/app/tags/list", bearer, nil); resp.StatusCode != http.StatusOK {
			t.Errorf("pull with a pull API token: %s", resp.Status)
		}
		if resp, _ := c.do("POST", "/v2/team/app/blobs/uploads/", bearer, nil); resp.StatusCode/100 == 2 {
			t.Errorf("push with a pull API token: %s", resp.Status)
		}
		c.api("DELETE", "/api/v1/tokens/"+tok.ID, writer, nil, nil)
		if resp, _ := c.do("GET", "/v2/team/app/tags/list", bearer, nil); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("revoked API token: %s, want 401", resp.Status)
		}
		c.api("POST", "/api/v1/tokens", writer, map[string]any{"name": "short", "expires": time.Now().Add(1500 * time.Millisecond).Format(time.RFC3339Nano)}, &tok)
		if resp, _ := c.do("GET", "/v2/team/app/tags/list", cred{bearer: tok.Token}, nil); resp.StatusCode != http.StatusOK {
			t.Errorf("fresh API token: %s", resp.Status)
		}
		time.Sleep(1600 * time.Millisecond)
		if resp, _ := c.do("GET", "/v2/team/app/tags/list", cred{bearer: tok.Token}, nil); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("expired API token: %s, want 401", resp.Status)
		}
	})

	t.Run("refresh token", func(t *testing.T) {
		form := url.Values{"grant_type": {"password"}, "username": {"writer"}, "password": {writer.pass},
			"service": {"cssc"}, "scope": {"repository:team/app:pull"}, "access_type": {"offline"}, "client_id": {"test"}}
		resp, b := c.do("POST", "/token", cred{}, []byte(form.Encode()), "Content-Type", "application/x-www-form-urlencoded")
		var out struct {
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
		}
		if err := json.Unmarshal(b, &out); err != nil || resp.StatusCode != http.StatusOK || out.RefreshToken == "" {
			t.Fatalf("password grant: %s %s", resp.Status, b)
		}
		form = url.Values{"grant_type": {"refresh_token"}, "refresh_token": {out.RefreshToken}, "service": {"cssc"}, "scope": {"repository:team/app:pull,push"}}
		resp, b = c.do("POST", "/token", cred{}, []byte(form.Encode()), "Content-Type", "application/x-www-form-urlencoded")
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "access_token") {
			t.Fatalf("refresh grant: %s %s", resp.Status, b)
		}
		// A refresh token is not a registry token.
		if resp, _ := c.do("GET", "/v2/team/app/tags/list", cred{bearer: out.RefreshToken}, nil); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("refresh token used as access token: %s", resp.Status)
		}
		form.Set("refresh_token", out.RefreshToken+"x")
		if resp, _ := c.do("POST", "/token", cred{}, []byte(form.Encode()), "Content-Type", "application/x-www-form-urlencoded"); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("forged refresh token: %s", resp.Status)
		}
	})

	t.Run("key rotation keeps issued tokens valid", func(t *testing.T) {
		tok, _ := getToken(c, writer, "repository:team/app:pull")
		c.api("POST", "/api/v1/keys/token/rotate", admin, nil, nil)
		if resp, _ := c.do("GET", "/v2/team/app/tags/list", cred{bearer: tok}, nil); resp.StatusCode != http.StatusOK {
			t.Errorf("token signed before one rotation: %s", resp.Status)
		}
		fresh, _ := getToken(c, writer, "repository:team/app:pull")
		if resp, _ := c.do("GET", "/v2/team/app/tags/list", cred{bearer: fresh}, nil); resp.StatusCode != http.StatusOK {
			t.Errorf("token signed by the new key: %s", resp.Status)
		}
	})
}

func TestLoginRateLimit(t *testing.T) {
	dir := t.TempDir()
	servertest.Init(t, dir)
	srv := servertest.Start(t, servertest.Config(dir))
	c, admin := client{t: t, base: srv.URL}, cred{user: "admin", pass: servertest.AdminPassword}
	for i := 0; i < 10; i++ {
		if resp, _ := c.do("GET", "/v2/", cred{user: "admin", pass: fmt.Sprintf("guess-%d", i)}, nil); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("guess %d: %s", i, resp.Status)
		}
	}
	// Now even the right password is refused for a while, and an unknown
	// account is answered the same way as a known one.
	resp, body := c.do("GET", "/v2/", admin, nil)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("right password after 10 failures: %s %s, want 429", resp.Status, body)
	}
	for i := 0; i < 10; i++ {
		c.do("GET", "/v2/", cred{user: "ghost", pass: fmt.Sprintf("guess-%d", i)}, nil)
	}
	resp2, body2 := c.do("GET", "/v2/", cred{user: "ghost", pass: "x"}, nil)
	if resp2.StatusCode != resp.StatusCode || !bytes.Equal(body2, body) {
		t.Errorf("unknown account answered differently: %s %s vs %s %s", resp2.Status, body2, resp.Status, body)
	}
}

func TestOpenMode(t *testing.T) {
	dir := t.TempDir()
	srv := servertest.Start(t, servertest.Config(dir))
	c := client{t: t, base: srv.URL}
	c.pushImage(cred{}, "quarantine/x", "v1", []byte("open"))
	if resp, _ := c.do("GET", "/v2/quarantine/x/manifests/v1", cred{}, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("open mode pull: %s", resp.Status)
	}
	srv.Stop()
	cfg := servertest.Config(t.TempDir())
	cfg.Addr = "0.0.0.0:0"
	if _, err := serverNew(t, cfg); err == nil || !strings.Contains(err.Error(), "open mode") {
		t.Errorf("open mode on 0.0.0.0: %v, want a refusal", err)
	}
	servertest.Init(t, cfg.DataDir)
	if _, err := serverNew(t, cfg); err == nil || !strings.Contains(err.Error(), "plain HTTP") {
		t.Errorf("plain HTTP on 0.0.0.0: %v, want a refusal", err)
	}
}

func serverNew(t *testing.T, cfg server.Config) (*server.Server, error) {
	return server.NewForTest(t, cfg)
}
