package match_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/openvex/go-vex/pkg/vex"

	"github.com/cssc-project/cssc/internal/inventory"
	"github.com/cssc-project/cssc/internal/match"
)

// vexDoc writes an OpenVEX document with the given statements.
func vexDoc(id, timestamp string, statements ...map[string]any) string {
	b, err := json.Marshal(map[string]any{
		"@context": "https://openvex.dev/ns/v0.2.0", "@id": id, "author": "Security Team",
		"timestamp": timestamp, "version": 1, "statements": statements,
	})
	if err != nil {
		panic(err)
	}
	return string(b)
}

// stmt is a statement about vuln for one product (with optional
// subcomponents); extra adds fields (justification, timestamp, …).
func stmt(vuln, status string, product map[string]any, extra map[string]any) map[string]any {
	s := map[string]any{"vulnerability": map[string]any{"name": vuln}, "status": status, "products": []any{product}}
	for k, v := range extra {
		s[k] = v
	}
	return s
}

func product(id string, subcomponents ...string) map[string]any {
	p := map[string]any{"@id": id}
	var subs []any
	for _, s := range subcomponents {
		subs = append(subs, map[string]any{"@id": s})
	}
	if subs != nil {
		p["subcomponents"] = subs
	}
	return p
}

var notAffected = map[string]any{"justification": "vulnerable_code_not_in_execute_path", "impact_statement": "TLS is not used"}

const ociImage = "pkg:oci/app@sha256%3A1111111111111111111111111111111111111111111111111111111111111111"

func TestVEXSuppression(t *testing.T) {
	inv := inventory.Inventory{
		Subject: inventory.Subject{Name: "registry.example/team/app:1.0", Digest: imageDigest},
		Packages: []inventory.Package{
			deb("libssl3", "3.0.11-1~deb12u1", "openssl"),
			deb("openssl", "3.0.11-1~deb12u1", ""),
			gomod("golang.org/x/net", "v0.15.0"),
		},
	}
	const t1, t2 = "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"
	tests := []struct {
		name string
		docs []string
		// suppressed: "ID package status document"
		suppressed []string
	}{
		{
			name: "image digest with a package subcomponent",
			docs: []string{vexDoc("https://vex.example/1", t1,
				stmt("DSA-5532-1", "not_affected", product(imageDigest, "pkg:deb/debian/libssl3"), notAffected))},
			suppressed: []string{"DSA-5532-1 libssl3 not_affected https://vex.example/1"},
		},
		{
			name: "pkg:oci purl by digest, alias id, whole image",
			docs: []string{vexDoc("https://vex.example/2", t1,
				stmt("GO-2023-2102", "fixed", product(ociImage), nil))},
			suppressed: []string{"CVE-2023-39325 golang.org/x/net fixed https://vex.example/2"},
		},
		{
			name: "vulnerability aliases in the statement",
			docs: []string{vexDoc("https://vex.example/2b", t1, map[string]any{
				"vulnerability": map[string]any{"name": "rapid-reset", "aliases": []string{"GHSA-4374-p667-p6c8"}},
				"status":        "fixed", "products": []any{product("registry.example/team/app@" + imageDigest)}})},
			suppressed: []string{"CVE-2023-39325 golang.org/x/net fixed https://vex.example/2b"},
		},
		{
			name: "another image",
			docs: []string{vexDoc("https://vex.example/3", t1,
				stmt("DSA-5532-1", "not_affected", product("sha256:2222222222222222222222222222222222222222222222222222222222222222"), notAffected))},
		},
		{
			name: "a later under_investigation overrides",
			docs: []string{
				vexDoc("https://vex.example/4a", t1, stmt("DSA-5532-1", "not_affected", product(imageDigest), notAffected)),
				vexDoc("https://vex.example/4b", t2, stmt("DSA-5532-1", "under_investigation", product(imageDigest), nil)),
			},
		},
		{
			name: "an earlier under_investigation is overridden",
			docs: []string{
				vexDoc("https://vex.example/5a", t2, stmt("DSA-5532-1", "not_affected", product(imageDigest), notAffected)),
				vexDoc("https://vex.example/5b", t1, stmt("DSA-5532-1", "under_investigation", product(imageDigest), nil)),
			},
			suppressed: []string{
				"DSA-5532-1 libssl3 not_affected https://vex.example/5a",
				"DSA-5532-1 openssl not_affected https://vex.example/5a",
			},
		},
		{
			name: "statement timestamp beats document timestamp",
			docs: []string{vexDoc("https://vex.example/6", t1,
				stmt("DSA-5532-1", "affected", product(imageDigest), map[string]any{"action_statement": "upgrade", "timestamp": t2}),
				stmt("DSA-5532-1", "not_affected", product(imageDigest), notAffected))},
		},
		{
			name: "product is the package itself",
			docs: []string{vexDoc("https://vex.example/7", t1,
				stmt("CVE-2023-39325", "not_affected", product("pkg:golang/golang.org/x/net@v0.15.0"), notAffected))},
			suppressed: []string{"CVE-2023-39325 golang.org/x/net not_affected https://vex.example/7"},
		},
		{
			name: "package of another version",
			docs: []string{vexDoc("https://vex.example/8", t1,
				stmt("CVE-2023-39325", "not_affected", product("pkg:golang/golang.org/x/net@v0.14.0"), notAffected))},
		},
		{
			name: "repository_url of the image",
			docs: []string{vexDoc("https://vex.example/9", t1,
				stmt("CVE-2023-39325", "fixed", product("pkg:oci/app?repository_url=registry.example/team/app"), nil))},
			suppressed: []string{"CVE-2023-39325 golang.org/x/net fixed https://vex.example/9"},
		},
		{
			name: "repository_url with another tag",
			docs: []string{vexDoc("https://vex.example/10", t1,
				stmt("CVE-2023-39325", "fixed", product("pkg:oci/app?repository_url=registry.example/team/app&tag=2.0"), nil))},
		},
		{
			name: "pkg:oci without digest or repository is not the image",
			docs: []string{vexDoc("https://vex.example/11", t1,
				stmt("CVE-2023-39325", "fixed", product("pkg:oci/app"), nil))},
		},
		{
			name: "affected does not suppress",
			docs: []string{vexDoc("https://vex.example/12", t1,
				stmt("DSA-5532-1", "affected", product(imageDigest), map[string]any{"action_statement": "upgrade"}))},
		},
		{
			name: "upstream ids are other vulnerabilities",
			docs: []string{vexDoc("https://vex.example/13", t1,
				stmt("CVE-2023-5363", "not_affected", product(imageDigest), notAffected))},
		},
		{
			name: "image by sha-256 hash",
			docs: []string{vexDoc("https://vex.example/14", t1, map[string]any{
				"vulnerability": map[string]any{"name": "DSA-5532-1"}, "status": "fixed",
				"products": []any{map[string]any{"hashes": map[string]string{"sha-256": strings.TrimPrefix(imageDigest, "sha256:")},
					"subcomponents": []any{map[string]any{"identifiers": map[string]string{"purl": "pkg:deb/debian/openssl@3.0.11-1~deb12u1"}}}}}})},
			suppressed: []string{"DSA-5532-1 openssl fixed https://vex.example/14"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var docs []*vex.VEX
			for _, d := range tt.docs {
				doc, err := match.ParseVEX(strings.NewReader(d))
				if err != nil {
					t.Fatal(err)
				}
				docs = append(docs, doc)
			}
			src := newMemSource(t, testCoverage(), testRecords()...)
			rep, err := match.Run(context.Background(), src, inv, match.Options{VEX: docs})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range rep.Suppressed {
				got = append(got, s.ID+" "+s.Package.Name+" "+s.Status+" "+s.Document)
				if s.Status == "not_affected" && (s.Justification != "vulnerable_code_not_in_execute_path" || s.ImpactStatement != "TLS is not used") {
					t.Errorf("suppressed %s: justification %q, impact %q", s.ID, s.Justification, s.ImpactStatement)
				}
			}
			sameJSON(t, got, tt.suppressed)
			// Without VEX there are 5 findings: DSA and DEBIAN-CVE for two
			// packages, and x/net's.
			if n := len(rep.Findings) + len(rep.Suppressed); n != 5 {
				t.Errorf("%d findings + suppressed, want 5", n)
			}
		})
	}
}

func TestParseVEXErrors(t *testing.T) {
	valid := stmt("CVE-1", "not_affected", product(imageDigest), notAffected)
	tests := []struct {
		name, doc, err string
	}{
		{"not JSON", "{", "parse OpenVEX document: unexpected end of JSON input"},
		{"not OpenVEX", `{"@context":"https://cyclonedx.org","@id":"x"}`, `parse OpenVEX document: @context "https://cyclonedx.org" is not OpenVEX (https://openvex.dev/ns)`},
		{"no id", vexDoc("", "2026-01-01T00:00:00Z", valid), "OpenVEX document has no @id"},
		{"not_affected without justification", vexDoc("d", "2026-01-01T00:00:00Z", stmt("CVE-1", "not_affected", product(imageDigest), nil)),
			`OpenVEX document d, statement 1: either justification or impact statement must be defined when using status "not_affected"`},
		{"unknown status", vexDoc("d", "2026-01-01T00:00:00Z", valid, stmt("CVE-1", "ignored", product(imageDigest), nil)),
			`OpenVEX document d, statement 2: invalid status value "ignored", must be one of [not_affected, affected, fixed, under_investigation]`},
		{"unknown justification", vexDoc("d", "2026-01-01T00:00:00Z", stmt("CVE-1", "not_affected", product(imageDigest), map[string]any{"justification": "trust_me"})),
			`OpenVEX document d, statement 1: invalid justification value "trust_me", must be one of [component_not_present, vulnerable_code_not_present, vulnerable_code_not_in_execute_path, vulnerable_code_cannot_be_controlled_by_adversary, inline_mitigations_already_exist]`},
		{"no products", vexDoc("d", "2026-01-01T00:00:00Z", map[string]any{"vulnerability": map[string]any{"name": "CVE-1"}, "status": "fixed"}),
			"OpenVEX document d, statement 1: no products"},
		{"no vulnerability", vexDoc("d", "2026-01-01T00:00:00Z", map[string]any{"status": "fixed", "products": []any{product(imageDigest)}}),
			"OpenVEX document d, statement 1: no vulnerability"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := match.ParseVEX(strings.NewReader(tt.doc))
			if err == nil || err.Error() != tt.err {
				t.Errorf("err = %v\nwant %s", err, tt.err)
			}
		})
	}
}
