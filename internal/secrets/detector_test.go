package secrets

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/rs/zerolog"
	"github.com/zricethezav/gitleaks/v8/logging"
)

func TestFile(t *testing.T) {
	s := testSecrets(t)
	d := newDetector(t, Options{})
	tests := []struct {
		name    string
		path    string
		content string
		want    func(loc Finding) []Finding
	}{{
		name: "aws key pair",
		path: "/root/.aws/credentials",
		content: "[default]\n" +
			"aws_access_key_id=" + s.awsID + "\n" +
			"aws_secret_access_key=" + s.awsSecret + "\n",
		want: func(loc Finding) []Finding {
			return []Finding{
				want(d, loc, "aws-access-token", 2, s.awsID),
				want(d, loc, "generic-api-key", 3, s.awsSecret),
			}
		},
	}, {
		name:    "RSA private key after other lines",
		path:    "/home/app/.ssh/id_rsa",
		content: "# deploy key\n\n" + s.rsaPEM,
		want: func(loc Finding) []Finding {
			return []Finding{want(d, loc, "private-key", 3, strings.TrimSpace(s.rsaPEM))}
		},
	}, {
		name:    "EC private key",
		path:    "/etc/ssl/private/server.key",
		content: s.ecPEM,
		want: func(loc Finding) []Finding {
			return []Finding{want(d, loc, "private-key", 1, strings.TrimSpace(s.ecPEM))}
		},
	}, {
		name:    "github token, no trailing newline",
		path:    "/app/.env",
		content: "PORT=8080\nGITHUB_TOKEN=" + s.github,
		want: func(loc Finding) []Finding {
			return []Finding{want(d, loc, "github-pat", 2, s.github)}
		},
	}, {
		name:    "a gitleaks:allow comment does not hide a secret",
		path:    "/app/settings.py",
		content: "TOKEN = \"" + s.github + "\"  # gitleaks:allow\n",
		want: func(loc Finding) []Finding {
			return []Finding{want(d, loc, "github-pat", 1, s.github)}
		},
	}, {
		name:    "same token twice on a line is one finding",
		path:    "/app/run.sh",
		content: "echo " + s.github + " " + s.github + "\n",
		want: func(loc Finding) []Finding {
			return []Finding{want(d, loc, "github-pat", 1, s.github)}
		},
	}, {
		name:    "base64-encoded token (gitleaks decoding)",
		path:    "/app/k8s-secret.yaml",
		content: "data:\n  token: " + b64(s.github) + "\n",
		want: func(loc Finding) []Finding {
			// generic-api-key matches the encoded text, github-pat the
			// decoded token.
			return []Finding{
				want(d, loc, "generic-api-key", 2, b64(s.github)),
				want(d, loc, "github-pat", 2, s.github),
			}
		},
	}, {
		// gitleaks has no rule for it: cssc's url-password rule.
		name:    "password in a postgres URL",
		path:    "/app/config.ini",
		content: "[db]\nurl = postgres://app:" + s.pgPassword + "@db.internal:5432/app\n",
		want: func(loc Finding) []Finding {
			return []Finding{want(d, loc, "url-password", 2, s.pgPassword)}
		},
	}, {
		name: "placeholders in URLs are not passwords",
		path: "/usr/share/doc/app/README",
		content: "DATABASE_URL=postgres://app:${DB_PASSWORD}@db/app\nsee http://user:password@example.com/ or\n" +
			"ftp://anonymous:guest@ftp.example.org and amqp://guest:<password>@mq:5672\nhttps://example.com/a:b@c\n",
		want: func(Finding) []Finding { return nil },
	}, {
		name:    "AWS documentation example key: dropped by gitleaks' allowlist",
		path:    "/usr/share/doc/awscli/README",
		content: "aws_access_key_id=AKIAIOSFODNN7EXAMPLE\n",
		want:    func(Finding) []Finding { return nil },
	}, {
		name:    "node_modules: skipped by gitleaks' path allowlist",
		path:    "/app/node_modules/pkg/.env",
		content: "GITHUB_TOKEN=" + s.github + "\n",
		want:    func(Finding) []Finding { return nil },
	}, {
		name:    "clean file",
		path:    "/etc/nginx/nginx.conf",
		content: "worker_processes auto;\nevents { worker_connections 1024; }\n",
		want:    func(Finding) []Finding { return nil },
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loc := layerLoc(tt.path)
			got, allowlisted := d.File(loc, []byte(tt.content))
			if w := tt.want(loc); !reflect.DeepEqual(got, w) {
				t.Errorf("File:\n got %+v\nwant %+v", got, w)
			}
			if allowlisted != 0 {
				t.Errorf("allowlisted = %d, want 0", allowlisted)
			}
			assertNoSecret(t, s, got)
		})
	}
}

func TestBinaryFile(t *testing.T) {
	d := newDetector(t, Options{})
	content := []byte("\x30\x82\x0a\x00 not really PKCS#12 \x00")
	loc := layerLoc("/app/certs/client.p12")
	got, allowlisted := d.BinaryFile(loc, content)
	w := []Finding{want(d, loc, "pkcs12-file", 0, string(content))}
	if !reflect.DeepEqual(got, w) || allowlisted != 0 {
		t.Errorf("BinaryFile = %+v, %d; want %+v, 0", got, allowlisted, w)
	}
	if got, _ := d.BinaryFile(layerLoc("/usr/bin/ls"), content); got != nil {
		t.Errorf("BinaryFile(/usr/bin/ls) = %+v, want none", got)
	}
}

func TestConfig(t *testing.T) {
	s := testSecrets(t)
	d := newDetector(t, Options{})
	layers := []string{"sha256:" + strings.Repeat("01", 32), "sha256:" + strings.Repeat("02", 32), "sha256:" + strings.Repeat("03", 32)}
	cf := &v1.ConfigFile{
		Config: v1.Config{
			Env: []string{
				"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
				"GITHUB_TOKEN=" + s.github,
				"AWS_SECRET_ACCESS_KEY=" + s.awsSecret,
			},
			Labels: map[string]string{
				"org.opencontainers.image.source": "https://example.com/app",
				"com.example.deploy-key":          s.awsID,
			},
			Entrypoint: []string{"/bin/sh", "-c"},
			Cmd:        []string{"curl", "-H", "Authorization: token " + s.github, "https://api.example.com"},
		},
		History: []v1.History{
			{CreatedBy: "/bin/sh -c #(nop) ADD file:0123 in / "},                                         // layer 0
			{CreatedBy: "/bin/sh -c #(nop) ENV GITLAB_TOKEN=" + s.gitlab, EmptyLayer: true},              // no layer
			{CreatedBy: "|1 NPM_TOKEN=" + s.npm + " /bin/sh -c npm ci"},                                  // layer 1
			{CreatedBy: "RUN /bin/sh -c set -e \\\n  && echo ok \\\n  && export TOKEN=" + s.github + ""}, // layer 2
			{CreatedBy: "/bin/sh -c #(nop)  CMD [\"app\"]", EmptyLayer: true},
		},
	}
	cfgLoc := func(path string, layer int) Finding {
		f := Finding{Source: SourceConfig, Path: path, Layer: layer}
		if layer >= 0 {
			f.LayerDigest = layers[layer]
		}
		return f
	}
	wantFindings := []Finding{
		want(d, cfgLoc("Env[GITHUB_TOKEN]", -1), "github-pat", 1, s.github),
		want(d, cfgLoc("Env[AWS_SECRET_ACCESS_KEY]", -1), "generic-api-key", 1, s.awsSecret),
		want(d, cfgLoc("Labels[com.example.deploy-key]", -1), "aws-access-token", 1, s.awsID),
		want(d, cfgLoc("Cmd", -1), "github-pat", 1, s.github),
		want(d, cfgLoc("history[1].created_by", -1), "gitlab-pat", 1, s.gitlab),
		want(d, cfgLoc("history[2].created_by", 1), "npm-access-token", 1, s.npm),
		want(d, cfgLoc("history[3].created_by", 2), "github-pat", 3, s.github),
	}
	got, allowlisted := d.Config(cf, layers)
	if !reflect.DeepEqual(got, wantFindings) || allowlisted != 0 {
		t.Errorf("Config:\n got %+v, %d\nwant %+v, 0", got, allowlisted, wantFindings)
	}
	assertNoSecret(t, s, got)

	// History entries beyond the layers given have no layer.
	got, _ = d.Config(&v1.ConfigFile{History: cf.History}, layers[:1])
	if len(got) != 3 || got[1].Layer != -1 || got[1].LayerDigest != "" || got[2].Layer != -1 {
		t.Errorf("Config with one layer: %+v", got)
	}
	if got, n := d.Config(nil, nil); got != nil || n != 0 {
		t.Errorf("Config(nil) = %+v, %d", got, n)
	}
}

func TestAllowlist(t *testing.T) {
	s := testSecrets(t)
	env := "GITHUB_TOKEN=" + s.github + "\naws_secret_access_key=" + s.awsSecret + "\n"
	fpGitHub := Fingerprint([]byte(s.github))
	tests := []struct {
		name        string
		yaml        string
		path        string
		wantRules   []string
		allowlisted int
	}{
		{"by path", "allow:\n  - path: /usr/share/doc/**\n    reason: upstream examples\n",
			"/usr/share/doc/app/examples/.env", nil, 2},
		{"by path with * in a segment", "allow:\n  - path: /app/*.env\n    reason: fixtures\n",
			"/app/test.env", nil, 2},
		{"* does not cross /", "allow:\n  - path: /app/*.env\n    reason: fixtures\n",
			"/app/sub/test.env", []string{"github-pat", "generic-api-key"}, 0},
		{"** matches zero segments", "allow:\n  - path: /srv/**/fixture.env\n    reason: fixtures\n",
			"/srv/fixture.env", nil, 2},
		{"by rule", "allow:\n  - rule: generic-api-key\n    reason: too noisy\n",
			"/app/.env", []string{"github-pat"}, 1},
		{"by fingerprint", "allow:\n  - fingerprint: " + fpGitHub + "\n    reason: revoked test token\n",
			"/app/.env", []string{"generic-api-key"}, 1},
		{"path and rule must both match", "allow:\n  - path: /app/**\n    rule: github-pat\n    reason: x\n",
			"/app/.env", []string{"generic-api-key"}, 1},
		{"entry that does not match", "allow:\n  - path: /other/**\n    rule: github-pat\n    reason: x\n  - fingerprint: sha256:0123456789abcdef\n    reason: y\n",
			"/app/.env", []string{"github-pat", "generic-api-key"}, 0},
		{"empty allowlist", "allow: []\n", "/app/.env", []string{"github-pat", "generic-api-key"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDetector(t, Options{AllowlistFile: writeFile(t, "allow.yaml", tt.yaml)})
			got, allowlisted := d.File(layerLoc(tt.path), []byte(env))
			var rules []string
			for _, f := range got {
				rules = append(rules, f.RuleID)
			}
			if !reflect.DeepEqual(rules, tt.wantRules) || allowlisted != tt.allowlisted {
				t.Errorf("File = %v, %d allowlisted; want %v, %d", rules, allowlisted, tt.wantRules, tt.allowlisted)
			}
		})
	}

	// Configuration findings match on their field path.
	d := newDetector(t, Options{AllowlistFile: writeFile(t, "allow.yaml",
		"allow:\n  - path: Env[GITHUB_*]\n    reason: CI placeholder\n")})
	cf := &v1.ConfigFile{Config: v1.Config{Env: []string{"GITHUB_TOKEN=" + s.github, "MY_TOKEN=" + s.github}}}
	got, allowlisted := d.Config(cf, nil)
	if len(got) != 1 || got[0].Path != "Env[MY_TOKEN]" || allowlisted != 1 {
		t.Errorf("Config = %+v, %d allowlisted; want Env[MY_TOKEN] kept, 1 allowlisted", got, allowlisted)
	}
}

func TestAllowlistErrors(t *testing.T) {
	tests := []struct {
		name, yaml, wantErr string
	}{
		{"unknown key", "allow:\n  - path: /a\n    reason: r\n    comment: c\n", "field comment not found"},
		{"unknown top-level key", "allowed:\n  - path: /a\n", "field allowed not found"},
		{"no reason", "allow:\n  - path: /a\n", "allow[0]: no reason given"},
		{"blank reason", "allow:\n  - rule: github-pat\n    reason: \"  \"\n", "allow[0]: no reason given"},
		{"no selector", "allow:\n  - path: /a\n    reason: r\n  - reason: r\n", "allow[1]: needs at least one of path, rule, fingerprint"},
		{"relative layer path", "allow:\n  - path: usr/share/**\n    reason: r\n", "must be absolute"},
		{"** inside a segment", "allow:\n  - path: /usr/**doc\n    reason: r\n", "** must be a whole path segment"},
		{"trailing slash", "allow:\n  - path: /usr/share/\n    reason: r\n", "ending in /"},
		{"double slash", "allow:\n  - path: /usr//share\n    reason: r\n", "empty path segment"},
		{"bad fingerprint", "allow:\n  - fingerprint: sha256:ABC\n    reason: r\n", "want sha256: and 16 lowercase hex digits"},
		{"unknown rule", "allow:\n  - rule: no-such-rule\n    reason: r\n", `rule "no-such-rule" is not a rule`},
		{"not YAML", "allow: [\n", "did not find expected"},
		{"two documents", "allow: []\n---\nallow: []\n", "more than one YAML document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, "allow.yaml", tt.yaml)
			_, err := New(Options{AllowlistFile: p})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), p) {
				t.Fatalf("New: %v; want an error naming %s and containing %q", err, p, tt.wantErr)
			}
		})
	}
	if _, err := New(Options{AllowlistFile: "/nonexistent/allow.yaml"}); err == nil || !strings.Contains(err.Error(), "/nonexistent/allow.yaml") {
		t.Errorf("missing allowlist: %v", err)
	}
}

func TestCustomConfig(t *testing.T) {
	s := testSecrets(t)
	const urlRule = `
[[rules]]
id = "acme-token"
description = "ACME Corp. internal API token"
regex = '''\b(acme_[0-9a-f]{32})\b'''
secretGroup = 1
keywords = ["acme_"]
`
	acme := "acme_" + hex.EncodeToString([]byte(s.pgPassword + "0123456789abcdef"))[:32]
	content := "ACME_API=" + acme + "\nGITHUB_TOKEN=" + s.github + "\n"
	def := newDetector(t, Options{})
	defRules := def.Engine().Rules
	tests := []struct {
		name      string
		toml      string
		wantRules int
		wantIDs   []string
	}{
		{"extra rule on top of the defaults", "[extend]\nuseDefault = true\n" + urlRule,
			defRules + 1, []string{"acme-token", "github-pat"}},
		{"own rules only", urlRule, 1, []string{"acme-token"}},
		{"a default rule disabled", "[extend]\nuseDefault = true\ndisabledRules = [\"github-pat\"]\n" + urlRule,
			// generic-api-key, which github-pat overrides, now reports the token.
			defRules, []string{"acme-token", "generic-api-key"}},
		{"a default rule given an allowlist", "[extend]\nuseDefault = true\n" + urlRule +
			"\n[[rules]]\nid = \"github-pat\"\n[[rules.allowlists]]\nregexes = ['''^" + s.github + "$''']\n",
			defRules + 1, []string{"acme-token", "generic-api-key"}},
		{"a global allowlist aimed at a default rule", "[extend]\nuseDefault = true\n" + urlRule +
			"\n[[allowlists]]\ntargetRules = [\"github-pat\"]\nregexes = ['''^" + s.github + "$''']\n",
			defRules + 1, []string{"acme-token", "generic-api-key"}},
		{"a global allowlist", "[extend]\nuseDefault = true\n" + urlRule +
			"\n[[allowlists]]\nregexes = ['''^" + s.github + "$''']\n",
			defRules + 1, []string{"acme-token"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, "gitleaks.toml", tt.toml)
			// Loading twice gives the same rules: no state is kept between loads.
			for range 2 {
				d := newDetector(t, Options{ConfigFile: p})
				if e := d.Engine(); e.Rules != tt.wantRules || e.Config != p {
					t.Fatalf("Engine = %+v, want %d rules and config %s", e, tt.wantRules, p)
				}
				got, _ := d.File(layerLoc("/app/.env"), []byte(content))
				var ids []string
				for _, f := range got {
					ids = append(ids, f.RuleID)
				}
				if !reflect.DeepEqual(ids, tt.wantIDs) {
					t.Fatalf("rules found %v, want %v", ids, tt.wantIDs)
				}
				if got[0].Fingerprint != Fingerprint([]byte(acme)) || got[0].Line != 1 {
					t.Errorf("acme-token finding %+v: want line 1 and the password's fingerprint", got[0])
				}
			}
		})
	}
}

func TestConfigFileErrors(t *testing.T) {
	tests := []struct {
		name, toml, wantErr string
	}{
		{"not TOML", "[[rules]\nid = 1", "parse TOML"},
		{"unknown key", "[extend]\nusedefaults = true\n", "usedefaults"},
		{"bad regex", "[[rules]]\nid = \"x\"\nregex = '''(['''\n", "error parsing regexp"},
		{"rule without regex or path", "[[rules]]\nid = \"x\"\n", "both |regex| and |path| are empty"},
		{"rule defined twice", "[[rules]]\nid = \"x\"\nregex = 'a'\n[[rules]]\nid = \"x\"\nregex = 'b'\n", `rule "x" is defined twice`},
		{"extend path", "[extend]\npath = \"other.toml\"\n", "[extend] path is not supported"},
		{"extend url", "[extend]\nurl = \"https://example.com/x.toml\"\n", "[extend] url is not supported"},
		{"unknown disabled rule", "[extend]\nuseDefault = true\ndisabledRules = [\"nope\"]\n", `"nope" is not a default gitleaks rule`},
		{"no rules", "title = \"empty\"\n", "no rules"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, "gitleaks.toml", tt.toml)
			_, err := New(Options{ConfigFile: p})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), p) {
				t.Fatalf("New: %v; want an error naming %s and containing %q", err, p, tt.wantErr)
			}
		})
	}
	if _, err := New(Options{ConfigFile: "/nonexistent/gitleaks.toml"}); err == nil || !strings.Contains(err.Error(), "/nonexistent/gitleaks.toml") {
		t.Errorf("missing config: %v", err)
	}
	if _, err := New(Options{MaxFileSize: -1}); err == nil {
		t.Errorf("negative MaxFileSize: no error")
	}
}

func TestEngine(t *testing.T) {
	allow := writeFile(t, "allow.yaml", "allow: []\n")
	d := newDetector(t, Options{AllowlistFile: allow})
	e := d.Engine()
	if e.Name != "gitleaks" || e.Version != "v8.30.1" || e.Rules != len(d.gl.Config.Rules) || e.Rules < 200 ||
		e.Config != "" || e.Allowlist != allow {
		t.Errorf("Engine = %+v", e)
	}
	if d.MaxFileSize() != DefaultMaxFileSize {
		t.Errorf("MaxFileSize = %d, want %d", d.MaxFileSize(), DefaultMaxFileSize)
	}
	if d := newDetector(t, Options{MaxFileSize: 4096}); d.MaxFileSize() != 4096 {
		t.Errorf("MaxFileSize = %d, want 4096", d.MaxFileSize())
	}
	// gitleaks' logger (which would print secrets at trace level) is off.
	if lvl := logging.Logger.GetLevel(); lvl != zerolog.Disabled {
		t.Errorf("gitleaks log level = %v, want disabled", lvl)
	}
}

func TestFingerprint(t *testing.T) {
	// SHA-256("abc") = ba7816bf8f01cfea414140de5dae2223…
	if got := Fingerprint([]byte("abc")); got != "sha256:ba7816bf8f01cfea" {
		t.Errorf("Fingerprint(abc) = %s", got)
	}
}

func TestIsText(t *testing.T) {
	pe := make([]byte, 0x80)
	copy(pe, "MZ")
	pe[0x3c] = 0x40
	copy(pe[0x40:], "PE\x00\x00")
	latin1 := []byte("Caf\xe9 cr\xe8me br\xfbl\xe9e, " + strings.Repeat("plain ascii text ", 4))
	tests := []struct {
		name string
		data []byte
		want bool
	}{
		{"empty", nil, true},
		{"ascii", []byte("key = value\n\tindented\r\n"), true},
		{"utf-8", []byte("héllo wörld — ✓ 日本語\n"), true},
		{"latin-1 with a few high bytes", latin1, true},
		{"ansi colours", []byte("\x1b[31mred\x1b[0m\n"), true},
		{"NUL byte", []byte("abc\x00def"), false},
		{"NUL after 8 KiB is not looked at", append([]byte(strings.Repeat("a", 8<<10)), 0), true},
		{"ELF", []byte("\x7fELF\x02\x01\x01"), false},
		{"zip", []byte("PK\x03\x04\x14"), false},
		{"gzip", []byte("\x1f\x8b\x08"), false},
		{"PE", pe, false},
		{"MZ text is text", []byte("MZ is a postal code prefix\n" + strings.Repeat("x", 64)), true},
		{"random high bytes", []byte(strings.Repeat("\xff\xfe\x81\x92", 64)), false},
		{"many control characters", []byte(strings.Repeat("a\x01\x02\x03", 64)), false},
		{"UTF-8 character cut at 8 KiB", append([]byte(strings.Repeat("a", 8<<10-1)), "é"...), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsText(tt.data); got != tt.want {
				t.Errorf("IsText = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestConcurrentUse(t *testing.T) {
	s := testSecrets(t)
	d := newDetector(t, Options{})
	files := []string{
		"aws_access_key_id=" + s.awsID + "\naws_secret_access_key=" + s.awsSecret + "\n",
		s.rsaPEM,
		"token: " + b64(s.github) + "\n", // exercises gitleaks' decoding path
		"GITLAB_TOKEN=" + s.gitlab + "\nNPM_TOKEN=" + s.npm + "\n",
	}
	cf := &v1.ConfigFile{Config: v1.Config{Env: []string{"GITHUB_TOKEN=" + s.github}},
		History: []v1.History{{CreatedBy: "|1 NPM_TOKEN=" + s.npm + " /bin/sh -c npm ci"}}}
	wantFiles := make([][]Finding, len(files))
	for i, c := range files {
		wantFiles[i], _ = d.File(layerLoc(fmt.Sprintf("/f%d", i)), []byte(c))
		if len(wantFiles[i]) == 0 {
			t.Fatalf("file %d: no findings", i)
		}
	}
	wantCfg, _ := d.Config(cf, []string{"sha256:00"})

	const workers = 8
	var wg sync.WaitGroup
	errs := make(chan string, workers*len(files))
	for w := range workers {
		wg.Go(func() {
			for j := range len(files) * 3 {
				i := (w + j) % len(files)
				got, _ := d.File(layerLoc(fmt.Sprintf("/f%d", i)), []byte(files[i]))
				if !reflect.DeepEqual(got, wantFiles[i]) {
					errs <- fmt.Sprintf("file %d: %+v", i, got)
				}
			}
			if got, _ := d.Config(cf, []string{"sha256:00"}); !reflect.DeepEqual(got, wantCfg) {
				errs <- fmt.Sprintf("config: %+v", got)
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestNothingShowsTheSecret scans every test secret in files and in the
// configuration and checks the findings, printed and as JSON, hold none.
func TestNothingShowsTheSecret(t *testing.T) {
	s := testSecrets(t)
	d := newDetector(t, Options{})
	var all []Finding
	for i, secret := range s.all() {
		got, _ := d.File(layerLoc(fmt.Sprintf("/app/secret%d.txt", i)), []byte("password = \""+secret+"\"\napi_key: "+secret+"\n"))
		all = append(all, got...)
	}
	got, _ := d.Config(&v1.ConfigFile{
		Config: v1.Config{
			// The last three put the secret into the key: an entry without
			// "=", one with ": ", a token as a label key.
			Env:    []string{"GITHUB_TOKEN=" + s.github, "AWS_SECRET_ACCESS_KEY=" + s.awsSecret, s.github, "TOKEN: " + s.github},
			Labels: map[string]string{"gh." + s.github: "x", "org.example.title": "app"},
		},
		History: []v1.History{{CreatedBy: "ENV GITLAB_TOKEN=" + s.gitlab}},
	}, nil)
	var paths []string
	for _, f := range got {
		paths = append(paths, f.Path)
	}
	for _, want := range []string{"Env[GITHUB_TOKEN]", "Env[#2]", "Env[#3]", "Labels[#0]"} {
		if !slices.Contains(paths, want) {
			t.Errorf("configuration findings %q lack %s", paths, want)
		}
	}
	all = append(all, got...)
	if len(all) < 10 {
		t.Fatalf("only %d findings: the test would prove little", len(all))
	}
	assertNoSecret(t, s, all)
}

// assertNoSecret fails if any secret appears in the findings, printed with
// %+v or %#v, or marshalled as JSON.
func assertNoSecret(t *testing.T, s fakes, findings []Finding) {
	t.Helper()
	js, err := json.Marshal(findings)
	if err != nil {
		t.Fatal(err)
	}
	outputs := []string{string(js), fmt.Sprintf("%+v", findings), fmt.Sprintf("%#v", findings)}
	for _, out := range outputs {
		for _, secret := range s.all() {
			if strings.Contains(out, secret) {
				t.Fatalf("a secret appears in the findings: %s", out)
			}
			// Nor a long part of one (a redacted or cut line would show one).
			for i := 0; i+12 <= len(secret); i += 4 {
				if strings.Contains(out, secret[i:i+12]) {
					t.Fatalf("part of a secret appears in the findings: %s", out)
				}
			}
		}
	}
}
