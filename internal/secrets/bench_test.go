package secrets

import (
	"fmt"
	"strings"
	"testing"
)

// benchText is about 64 KiB of configuration-like text: nginx, YAML, an
// env file and a shell script, with many of the words gitleaks' keyword
// prefilter reacts to (key, token, secret, password, auth) and two real
// findings per block.
func benchText(s fakes) []byte {
	var b strings.Builder
	for i := 0; b.Len() < 64<<10; i++ {
		fmt.Fprintf(&b, `server {
    listen 443 ssl;
    server_name app%d.example.com;
    ssl_certificate /etc/ssl/certs/app.pem;
    ssl_certificate_key /etc/ssl/private/app.key;
    location /api/ { proxy_pass http://backend:8080; proxy_set_header Authorization $http_authorization; }
}
database:
  host: db-%d.internal
  user: app
  password: ${DB_PASSWORD}
  pool: 20
auth:
  token_ttl: 3600
  secret_name: app-secret-%d
  api_key_header: X-Api-Key
# env
LOG_LEVEL=info
CACHE_KEY_PREFIX=app:%d:
GITHUB_TOKEN=%s
aws_secret_access_key=%s
#!/bin/sh
set -eu
for f in /etc/app/conf.d/*.conf; do echo "loading $f"; done
exec /usr/bin/app --config /etc/app/config.yaml "$@"
`, i, i, i, i, s.github, s.awsSecret)
	}
	return []byte(b.String())
}

func BenchmarkFile(b *testing.B) {
	s := testSecrets(b)
	d := newDetector(b, Options{})
	data := benchText(s)
	loc := layerLoc("/etc/app/config.txt")
	if got, _ := d.File(loc, data); len(got) == 0 {
		b.Fatal("no findings in the benchmark text")
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		d.File(loc, data)
	}
}

// BenchmarkFileClean is the same kind of text without secrets, the
// common case.
func BenchmarkFileClean(b *testing.B) {
	d := newDetector(b, Options{})
	data := benchText(fakes{github: "${GITHUB_TOKEN}", awsSecret: "${AWS_SECRET}"})
	loc := layerLoc("/etc/app/config.txt")
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		d.File(loc, data)
	}
}
