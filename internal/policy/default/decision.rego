# The cssc default decision policy (docs/POLICY.md).
#
# deny is a set of human-readable reasons; the image passes when it is
# empty. warn never blocks. Missing or failed evidence denies: a scan that
# did not complete is not "clean".
package cssc.decision

# Risk score thresholds per checkpoint; data.cssc.thresholds overrides
# them one by one.
default_thresholds := {"import": 70, "promote": 70, "deploy": 70, "run": 70}

thresholds := object.union(default_thresholds, data.cssc.thresholds)

thresholds := default_thresholds if not data.cssc.thresholds

# Images older than this many days get a warning (0 turns it off);
# data.cssc.max_age_days overrides it.
default max_age_days := 365

max_age_days := data.cssc.max_age_days

signature_policies := {"required", "if-present", "skip"}

# An image in golden/ that no longer passes (a rescan after new
# vulnerability data) is flagged; with data.cssc.demote_on_failure set to
# true it is also taken out of golden/ (it stays in quarantine/).
default demote := false

demote if {
	count(deny) > 0
	data.cssc.demote_on_failure == true
}

now_ns := time.parse_rfc3339_ns(input.now)

# --- the decision time -------------------------------------------------

deny contains "the input has no valid decision time (now)" if not now_ns

# --- malware -----------------------------------------------------------

malware_status := object.get(input, ["findings", "malware", "status"], "")

deny contains sprintf("malware %s found in %s (layer %d)", [f.signature, f.path, f.layer]) if {
	some f in input.findings.malware.findings
}

deny contains "malware was found" if {
	malware_status == "infected"
	count(object.get(input, ["findings", "malware", "findings"], [])) == 0
}

deny contains sprintf("the malware scan did not complete (status %s): the image is not known to be clean", [status_text(malware_status)]) if {
	not malware_status in {"clean", "infected"}
}

# --- secrets -----------------------------------------------------------

secrets_status := object.get(input, ["findings", "secrets", "status"], "")

secrets_count := object.get(input, ["findings", "secrets", "count"], 0)

deny contains sprintf("%d secret(s) found (rules: %s)", [secrets_count, rules]) if {
	secrets_found
	rules := concat(", ", sort(object.get(input, ["findings", "secrets", "rules"], [])))
}

secrets_found if secrets_status == "found"

secrets_found if secrets_count > 0

deny contains sprintf("the secret scan did not complete (status %s): the image is not known to be free of secrets", [status_text(secrets_status)]) if {
	not secrets_status in {"clean", "found"}
}

status_text(s) := s if s != ""

status_text("") := "missing"

# --- vulnerabilities ---------------------------------------------------

deny contains sprintf("critical %s in %s %s has a fix (%s)", [v.id, v.package, v.version, fixed_text(v)]) if {
	some v in input.findings.vulnerabilities
	critical_with_fix(v)
	not excepted(v)
}

warn contains sprintf("critical %s in %s %s has a fix (%s) but is excepted until %s by %s: %s", [v.id, v.package, v.version, fixed_text(v), e.expires, e.approver, e.reason]) if {
	some v in input.findings.vulnerabilities
	critical_with_fix(v)
	some e in live_exceptions
	exception_covers(e, v)
}

critical_with_fix(v) if {
	lower(v.severity) == "critical"
	fixable(v)
}

fixable(v) if v.fix_available == true

fixable(v) if count(object.get(v, "fixed", [])) > 0

fixed_text(v) := concat(", ", v.fixed) if count(object.get(v, "fixed", [])) > 0

fixed_text(v) := "version not given" if count(object.get(v, "fixed", [])) == 0

# --- exceptions --------------------------------------------------------

# An exception applies only until it expires, even when the input still
# carries it.
live_exceptions contains e if {
	some e in input.exceptions
	time.parse_rfc3339_ns(e.expires) > now_ns
}

excepted(v) if {
	some e in live_exceptions
	exception_covers(e, v)
}

exception_covers(e, v) if {
	vuln_ids(v) & exception_ids(e) != set()
	exception_package(e, v)
}

vuln_ids(v) := ({v.id} | {a | some a in object.get(v, "aliases", [])}) | {u | some u in object.get(v, "upstream", [])}

exception_ids(e) := {e.vulnerability} | {a | some a in object.get(e, "aliases", [])}

exception_package(e, _) if count(object.get(e, "packages", [])) == 0

exception_package(e, v) if v.package in e.packages

# --- vulnerability data ------------------------------------------------

uncovered := object.get(input, ["findings", "vulnerability_data", "uncovered"], [])

deny contains sprintf("vulnerability data is missing for %s", [concat(", ", sort(uncovered))]) if {
	count(uncovered) > 0
}

deny contains "vulnerability data is incomplete: the image is not known to be free of vulnerabilities" if {
	object.get(input, ["findings", "vulnerability_data", "complete"], false) != true
	count(uncovered) == 0
}

# --- risk score --------------------------------------------------------

checkpoint := object.get(input, "checkpoint", "")

deny contains sprintf("unknown checkpoint %s", [status_text(checkpoint)]) if {
	not thresholds[checkpoint]
}

deny contains "the image has no risk score" if {
	object.get(input, ["risk", "version"], "") == ""
}

deny contains sprintf("risk score %d is above the %s threshold %d", [input.risk.total, checkpoint, threshold]) if {
	threshold := thresholds[checkpoint]
	input.risk.total > threshold
}

# --- base OS -----------------------------------------------------------

os_eol := object.get(input, ["base_os", "eol"], "")

os_name := trim_space(sprintf("%s %s", [object.get(input, ["base_os", "name"], ""), object.get(input, ["base_os", "version"], "")]))

deny contains sprintf("base OS %s is past the end of its free security support (%s)", [os_name, eol_text]) if {
	os_past_eol
	eol_text := date_text(os_eol)
}

os_past_eol if input.base_os.state == "eol"

os_past_eol if {
	os_eol != ""
	time.parse_rfc3339_ns(os_eol) <= now_ns
}

date_text("") := "date unknown"

date_text(s) := substring(s, 0, 10) if s != ""

warn contains sprintf("base OS %s reaches the end of its free security support on %s", [os_name, date_text(os_eol)]) if {
	input.base_os.state == "near-eol"
	not os_past_eol
}

warn contains "the base OS is unknown: its end of life cannot be checked" if {
	object.get(input, ["base_os", "state"], "unknown") in {"", "unknown"}
}

# --- upstream signatures -----------------------------------------------

signature_policy := p if {
	p := object.get(input, ["upstream", "signature_policy"], "")
	p != ""
}

signature_policy := "if-present" if object.get(input, ["upstream", "signature_policy"], "") == ""

upstream_signature := object.get(input, ["signatures", "upstream"], {})

deny contains sprintf("unknown upstream signature policy %s", [signature_policy]) if {
	not signature_policy in signature_policies
}

deny contains "the upstream signature policy is required but the image has no upstream signature" if {
	signature_policy == "required"
	object.get(upstream_signature, "found", false) != true
}

deny contains sprintf("the upstream signature did not verify: %s", [object.get(upstream_signature, "error", "no reason given")]) if {
	signature_policy in {"required", "if-present"}
	object.get(upstream_signature, "found", false) == true
	object.get(upstream_signature, "verified", false) != true
}

# --- age ---------------------------------------------------------------

# An unset or zero created date (including the Unix epoch that
# reproducible builds write) is unknown age, never old.
created_ns := ns if {
	ns := time.parse_rfc3339_ns(input.image.created)
	ns > 0
}

warn contains sprintf("the image is %d days old (more than %d)", [age_days, max_age_days]) if {
	max_age_days > 0
	age_days := floor((now_ns - created_ns) / (((24 * 60) * 60) * 1000000000))
	age_days > max_age_days
}

# --- attached metadata (A4) ------------------------------------------------

# Licences the attached SBOM must not list (data.cssc.denied_licenses, SPDX
# IDs). An expression with OR leaves a choice and is not denied; one with
# AND or WITH is denied when it names a denied licence.
default denied_licenses := []

denied_licenses := data.cssc.denied_licenses

deny contains sprintf("the attached SBOM lists the denied licence %s", [l]) if {
	some l in object.get(input, ["sbom", "licenses"], [])
	not contains(l, " OR ")
	some id in regex.split(`[\s()]+`, l)
	id in denied_licenses
}

# Builders the provenance must name (data.cssc.allowed_builders); empty
# accepts any provenance, or none.
default allowed_builders := []

allowed_builders := data.cssc.allowed_builders

deny contains sprintf("the provenance names builder %q, which data.cssc.allowed_builders does not allow", [b]) if {
	count(allowed_builders) > 0
	object.get(input, ["provenance", "present"], false) == true
	b := object.get(input, ["provenance", "builder_id"], "")
	not b in allowed_builders
}

deny contains "the image has no provenance, and data.cssc.allowed_builders requires one" if {
	count(allowed_builders) > 0
	object.get(input, ["provenance", "present"], false) != true
}
