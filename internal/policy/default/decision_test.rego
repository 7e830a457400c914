# Tests of the default policy: `cssc policy test` (or `opa test`) runs them.
package cssc.decision_test

import data.cssc.decision

clean := {
	"checkpoint": "promote",
	"now": "2026-06-01T00:00:00Z",
	"image": {"reference": "r.example/quarantine/app:1", "digest": "sha256:aa", "repository": "quarantine/app", "created": "2026-05-01T00:00:00Z"},
	"upstream": {"registry": "docker.io", "repository": "library/app", "reference": "1", "signature_policy": "if-present"},
	"findings": {
		"vulnerabilities": [],
		"vulnerability_data": {"complete": true},
		"malware": {"status": "clean"},
		"secrets": {"status": "clean", "count": 0},
	},
	"risk": {"version": "1", "total": 10, "level": "low", "breakdown": []},
	"signatures": {"upstream": {"found": false, "verified": false}},
	"sbom": {"present": false},
	"provenance": {"present": false},
	"base_os": {"name": "Debian", "version": "12", "eol": "2028-06-30T00:00:00Z", "state": "supported"},
	"exceptions": [],
}

crit := {"id": "CVE-2024-1234", "aliases": ["GHSA-xxxx"], "package": "openssl", "version": "3.0.1", "ecosystem": "Debian:12", "severity": "critical", "fixed": ["3.0.2"], "fix_available": true}

with_vuln(v) := json.patch(clean, [{"op": "add", "path": "/findings/vulnerabilities/-", "value": v}])

test_clean_allows if {
	count(decision.deny) == 0 with input as clean
	count(decision.warn) == 0 with input as clean
}

test_missing_now_denies if {
	decision.deny == {"the input has no valid decision time (now)"} with input as object.remove(clean, ["now"])
}

test_malware_found_denies if {
	inp := json.patch(clean, [{"op": "replace", "path": "/findings/malware", "value": {"status": "infected", "findings": [{"path": "/x", "layer": 2, "signature": "Eicar-Test"}]}}])
	decision.deny == {"malware Eicar-Test found in /x (layer 2)"} with input as inp
}

test_malware_scan_error_denies if {
	inp := json.patch(clean, [{"op": "replace", "path": "/findings/malware", "value": {"status": "error"}}])
	decision.deny == {"the malware scan did not complete (status error): the image is not known to be clean"} with input as inp
}

test_malware_missing_denies if {
	inp := json.patch(clean, [{"op": "remove", "path": "/findings/malware"}])
	decision.deny == {"the malware scan did not complete (status missing): the image is not known to be clean"} with input as inp
}

test_secrets_found_denies if {
	inp := json.patch(clean, [{"op": "replace", "path": "/findings/secrets", "value": {"status": "found", "count": 2, "rules": ["private-key", "aws-access-token"]}}])
	decision.deny == {"2 secret(s) found (rules: aws-access-token, private-key)"} with input as inp
}

test_secrets_error_denies if {
	inp := json.patch(clean, [{"op": "replace", "path": "/findings/secrets", "value": {"status": "error", "count": 0}}])
	decision.deny == {"the secret scan did not complete (status error): the image is not known to be free of secrets"} with input as inp
}

test_critical_with_fix_denies if {
	decision.deny == {"critical CVE-2024-1234 in openssl 3.0.1 has a fix (3.0.2)"} with input as with_vuln(crit)
}

test_critical_without_fix_allows if {
	v := json.patch(crit, [{"op": "replace", "path": "/fixed", "value": []}, {"op": "replace", "path": "/fix_available", "value": false}])
	count(decision.deny) == 0 with input as with_vuln(v)
}

test_high_with_fix_allows if {
	v := json.patch(crit, [{"op": "replace", "path": "/severity", "value": "high"}])
	count(decision.deny) == 0 with input as with_vuln(v)
}

test_active_exception_by_alias_allows if {
	e := {"vulnerability": "GHSA-xxxx", "products": ["sha256:aa"], "status": "not_affected", "reason": "not reachable", "approver": "alice", "expires": "2026-07-01T00:00:00Z"}
	inp := json.patch(with_vuln(crit), [{"op": "add", "path": "/exceptions/-", "value": e}])
	count(decision.deny) == 0 with input as inp
	decision.warn == {"critical CVE-2024-1234 in openssl 3.0.1 has a fix (3.0.2) but is excepted until 2026-07-01T00:00:00Z by alice: not reachable"} with input as inp
}

test_exception_by_upstream_id_allows if {
	v := json.patch(crit, [{"op": "replace", "path": "/id", "value": "DEBIAN-CVE-2024-1234"}, {"op": "add", "path": "/upstream", "value": ["CVE-2024-1234"]}])
	e := {"vulnerability": "CVE-2024-1234", "products": ["sha256:aa"], "status": "not_affected", "reason": "r", "approver": "alice", "expires": "2026-07-01T00:00:00Z"}
	inp := json.patch(with_vuln(v), [{"op": "add", "path": "/exceptions/-", "value": e}])
	count(decision.deny) == 0 with input as inp
}

test_expired_exception_denies if {
	e := {"vulnerability": "CVE-2024-1234", "products": ["sha256:aa"], "status": "not_affected", "reason": "r", "approver": "alice", "expires": "2026-05-01T00:00:00Z"}
	inp := json.patch(with_vuln(crit), [{"op": "add", "path": "/exceptions/-", "value": e}])
	decision.deny == {"critical CVE-2024-1234 in openssl 3.0.1 has a fix (3.0.2)"} with input as inp
}

test_exception_for_other_package_denies if {
	e := {"vulnerability": "CVE-2024-1234", "products": ["sha256:aa"], "packages": ["libssl"], "status": "not_affected", "reason": "r", "approver": "alice", "expires": "2026-07-01T00:00:00Z"}
	inp := json.patch(with_vuln(crit), [{"op": "add", "path": "/exceptions/-", "value": e}])
	decision.deny == {"critical CVE-2024-1234 in openssl 3.0.1 has a fix (3.0.2)"} with input as inp
}

test_risk_above_threshold_denies if {
	inp := json.patch(clean, [{"op": "replace", "path": "/risk/total", "value": 71}])
	decision.deny == {"risk score 71 is above the promote threshold 70"} with input as inp
}

test_risk_at_threshold_allows if {
	inp := json.patch(clean, [{"op": "replace", "path": "/risk/total", "value": 70}])
	count(decision.deny) == 0 with input as inp
}

test_checkpoint_threshold_from_data if {
	inp := json.patch(clean, [{"op": "replace", "path": "/risk/total", "value": 60}, {"op": "replace", "path": "/checkpoint", "value": "deploy"}])
	decision.deny == {"risk score 60 is above the deploy threshold 50"} with input as inp with data.cssc.thresholds as {"deploy": 50}
	count(decision.deny) == 0 with input as json.patch(inp, [{"op": "replace", "path": "/checkpoint", "value": "promote"}]) with data.cssc.thresholds as {"deploy": 50}
}

test_unknown_checkpoint_denies if {
	inp := json.patch(clean, [{"op": "replace", "path": "/checkpoint", "value": "build"}])
	decision.deny == {"unknown checkpoint build"} with input as inp
}

test_no_risk_score_denies if {
	inp := json.patch(clean, [{"op": "remove", "path": "/risk/version"}])
	decision.deny == {"the image has no risk score"} with input as inp
}

test_base_os_eol_denies if {
	inp := json.patch(clean, [{"op": "replace", "path": "/base_os", "value": {"name": "Debian", "version": "10", "eol": "2024-06-30T00:00:00Z", "state": "supported"}}])
	decision.deny == {"base OS Debian 10 is past the end of its free security support (2024-06-30)"} with input as inp
}

test_base_os_near_eol_warns if {
	inp := json.patch(clean, [{"op": "replace", "path": "/base_os", "value": {"name": "Ubuntu", "version": "22.04", "eol": "2026-07-01T00:00:00Z", "state": "near-eol"}}])
	count(decision.deny) == 0 with input as inp
	decision.warn == {"base OS Ubuntu 22.04 reaches the end of its free security support on 2026-07-01"} with input as inp
}

test_missing_vulnerability_data_denies if {
	inp := json.patch(clean, [{"op": "replace", "path": "/findings/vulnerability_data", "value": {"complete": false, "uncovered": ["npm", "Alpine:v3.20"]}}])
	decision.deny == {"vulnerability data is missing for Alpine:v3.20, npm"} with input as inp
}

test_incomplete_vulnerability_data_denies if {
	inp := json.patch(clean, [{"op": "replace", "path": "/findings/vulnerability_data", "value": {"complete": false}}])
	decision.deny == {"vulnerability data is incomplete: the image is not known to be free of vulnerabilities"} with input as inp
}

test_unsigned_if_present_allows if {
	count(decision.deny) == 0 with input as clean
}

test_failed_signature_if_present_denies if {
	inp := json.patch(clean, [{"op": "replace", "path": "/signatures/upstream", "value": {"found": true, "verified": false, "error": "signature does not match"}}])
	decision.deny == {"the upstream signature did not verify: signature does not match"} with input as inp
}

test_required_missing_signature_denies if {
	inp := json.patch(clean, [{"op": "replace", "path": "/upstream/signature_policy", "value": "required"}])
	decision.deny == {"the upstream signature policy is required but the image has no upstream signature"} with input as inp
}

test_skip_ignores_failed_signature if {
	inp := json.patch(clean, [{"op": "replace", "path": "/upstream/signature_policy", "value": "skip"}, {"op": "replace", "path": "/signatures/upstream", "value": {"found": true, "verified": false}}])
	count(decision.deny) == 0 with input as inp
}

test_unknown_signature_policy_denies if {
	inp := json.patch(clean, [{"op": "replace", "path": "/upstream/signature_policy", "value": "maybe"}])
	decision.deny == {"unknown upstream signature policy maybe"} with input as inp
}

test_zero_created_is_unknown_age if {
	inp := json.patch(clean, [{"op": "replace", "path": "/image/created", "value": "1970-01-01T00:00:00Z"}])
	count(decision.deny) == 0 with input as inp
	count(decision.warn) == 0 with input as inp
}

test_old_image_warns if {
	inp := json.patch(clean, [{"op": "replace", "path": "/image/created", "value": "2024-06-01T00:00:00Z"}])
	count(decision.deny) == 0 with input as inp
	decision.warn == {"the image is 730 days old (more than 365)"} with input as inp
}

test_demote_only_when_asked_and_denied if {
	not decision.demote with input as with_vuln(crit)
	decision.demote with input as with_vuln(crit) with data.cssc.demote_on_failure as true
	not decision.demote with input as clean with data.cssc.demote_on_failure as true
}

test_denied_licence_denies if {
	inp := json.patch(clean, [{"op": "add", "path": "/sbom", "value": {"present": true, "licenses": ["MIT", "GPL-3.0-only WITH Classpath-exception-2.0"]}}])
	decision.deny == {"the attached SBOM lists the denied licence GPL-3.0-only WITH Classpath-exception-2.0"} with input as inp with data.cssc.denied_licenses as ["GPL-3.0-only"]
	count(decision.deny) == 0 with input as inp
}

test_licence_choice_allows if {
	inp := json.patch(clean, [{"op": "add", "path": "/sbom", "value": {"present": true, "licenses": ["GPL-3.0-only OR MIT"]}}])
	count(decision.deny) == 0 with input as inp with data.cssc.denied_licenses as ["GPL-3.0-only"]
}

test_required_builder if {
	good := json.patch(clean, [{"op": "add", "path": "/provenance", "value": {"present": true, "builder_id": "https://github.com/actions/runner"}}])
	bad := json.patch(clean, [{"op": "add", "path": "/provenance", "value": {"present": true, "builder_id": "https://evil.example/builder"}}])
	none := json.patch(clean, [{"op": "add", "path": "/provenance", "value": {"present": false}}])
	count(decision.deny) == 0 with input as good with data.cssc.allowed_builders as ["https://github.com/actions/runner"]
	decision.deny == {"the provenance names builder \"https://evil.example/builder\", which data.cssc.allowed_builders does not allow"} with input as bad with data.cssc.allowed_builders as ["https://github.com/actions/runner"]
	decision.deny == {"the image has no provenance, and data.cssc.allowed_builders requires one"} with input as none with data.cssc.allowed_builders as ["https://github.com/actions/runner"]
	count(decision.deny) == 0 with input as bad
}
