package server_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cssc-project/cssc/internal/audit"
)

// TestAuditTrailOfRequests checks that state changes, denials, logins and
// pulls reach the audit trail with actor, source, request id and target,
// and that the trail verifies.
func TestAuditTrailOfRequests(t *testing.T) {
	_, c, admin := startSecured(t)
	var out map[string]string
	c.api("POST", "/api/v1/users", admin, map[string]any{"name": "dev", "kind": "user",
		"grants": []map[string]string{{"role": "push", "scope": "team/**"}}}, &out)
	dev := cred{user: "dev", pass: out["secret"]}

	manifest, _ := c.pushImage(dev, "team/app", "v1", []byte("layer"))
	c.pushImage(admin, "golden/app", "v1", []byte("golden layer"))
	c.pushImage(admin, "quarantine/app", "v1", []byte("quarantined layer"))
	resp, _ := c.do("GET", "/v2/quarantine/app/manifests/v1", dev, nil)
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("quarantine pull by dev: %s", resp.Status)
	}
	pullResp, _ := c.do("GET", "/v2/team/app/manifests/v1", dev, nil, "Accept", "application/vnd.oci.image.manifest.v1+json")
	pullID := pullResp.Header.Get("X-Request-Id")
	if pullID == "" {
		t.Fatal("pull answered without X-Request-Id")
	}
	c.do("GET", "/v2/", cred{user: "dev", pass: "wrong-password"}, nil)
	if resp, _ := c.do("DELETE", "/v2/team/app/manifests/v1", admin, nil); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("delete tag: %s", resp.Status)
	}

	// Pulls and denials are written in batches: wait for them.
	find := func(pred func(audit.Event) bool) *audit.Event {
		deadline := time.Now().Add(5 * time.Second)
		for {
			var list struct {
				Events []audit.Event `json:"events"`
			}
			c.api("GET", "/api/v1/audit?limit=1000", admin, nil, &list)
			for i := range list.Events {
				if pred(list.Events[i]) {
					return &list.Events[i]
				}
			}
			if time.Now().After(deadline) {
				return nil
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	checks := []struct {
		name string
		pred func(audit.Event) bool
	}{
		{"server start with its security settings", func(e audit.Event) bool {
			return e.Action == "server.start" && strings.Contains(e.Target, "open_mode=false")
		}},
		{"user created by admin", func(e audit.Event) bool {
			return e.Action == "user.add" && e.Actor == "admin" && strings.HasPrefix(e.Target, "dev push on team/**")
		}},
		{"manifest push by dev, with digest and tag", func(e audit.Event) bool {
			return e.Action == "manifest.push" && e.Actor == "dev" && e.Repo == "team/app" && e.Tag == "v1" && e.Digest == manifest &&
				e.Decision == audit.Allow && e.RequestID != "" && strings.HasPrefix(e.Source, "127.0.0.1:")
		}},
		{"blob push", func(e audit.Event) bool { return e.Action == "blob.push" && e.Repo == "team/app" && e.Digest != "" }},
		{"admin break-glass push to golden/, as a warning", func(e audit.Event) bool {
			return e.Action == "manifest.push" && e.Repo == "golden/app" && e.Severity == "warning" && strings.Contains(e.Reason, "break-glass")
		}},
		{"denied quarantine pull, with the reason", func(e audit.Event) bool {
			return e.Decision == audit.Deny && e.Actor == "dev" && e.Repo == "quarantine/app" && strings.Contains(e.Reason, "quarantine/")
		}},
		{"pull, with the request id its answer carried", func(e audit.Event) bool {
			return e.Action == "pull" && e.Actor == "dev" && e.Repo == "team/app" && e.Digest == manifest &&
				e.Count == 1 && e.RequestID == pullID
		}},
		{"failed login", func(e audit.Event) bool { return e.Action == "login" && e.Decision == audit.Deny && e.Actor == "dev" }},
		{"tag delete", func(e audit.Event) bool { return e.Action == "tag.delete" && e.Tag == "v1" && e.Actor == "admin" }},
	}
	for _, ch := range checks {
		if find(ch.pred) == nil {
			t.Errorf("no audit event: %s", ch.name)
		}
	}
	var rep audit.Report
	c.api("GET", "/api/v1/audit/verify", admin, nil, &rep)
	if !rep.OK || rep.Events < int64(len(checks)) {
		t.Errorf("audit verify: %+v", rep)
	}
}
