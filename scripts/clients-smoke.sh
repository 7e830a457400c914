#!/usr/bin/env bash
# scripts/clients-smoke.sh: the real client CLIs against a fresh `cssc serve`,
# twice: in open mode (a data directory never initialised), then against an
# initialised one, where every client logs in (crane auth login, oras login,
# skopeo login, cosign login, ctr --user) as a robot that may push team/**,
# and where wrong passwords, a pull-only robot pushing and a non-admin
# pulling from quarantine/ must fail.
# crane, oras and cosign are built pinned by scripts/tools.sh; skopeo and
# containerd's ctr are used when installed (apt-get install skopeo containerd).
# Every step checks its result; the first mismatch stops the script.
set -euo pipefail
cd "$(dirname "$0")/.."
make build >/dev/null
CSSC=$PWD/bin/cssc
CRANE=$(scripts/tools.sh --path crane)
ORAS=$(scripts/tools.sh --path oras)
COSIGN=$(scripts/tools.sh --path cosign)

T=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT
ok() { echo "ok   $*"; }
fail() { echo "FAIL $*" >&2; exit 1; }
# fails CMD...: CMD must exit non-zero; its output goes to $T/last.err
# (and, with SMOKE_VERBOSE=1, its last lines to the terminal).
fails() {
	if "$@" >"$T/last.err" 2>&1; then fail "expected to fail: $*"; fi
	if [[ -n "${SMOKE_VERBOSE:-}" ]]; then tail -n 2 "$T/last.err" | cut -c1-220 | sed 's/^/     | /'; fi
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# serve DATA_DIR: starts cssc on a free port and sets R to its host:port.
serve() {
	R=127.0.0.1:$(free_port)
	"$CSSC" serve --data-dir "$1" --addr "$R" --log-level warn &
	PIDS+=($!)
	for _ in $(seq 100); do curl -fs "http://$R/readyz" >/dev/null && return; sleep 0.1; done
	fail "cssc did not start on $R"
}

# Credentials of every client live here, never in the user's own files
# (skopeo reads REGISTRY_AUTH_FILE, and so do crane and cosign after
# DOCKER_CONFIG).
export DOCKER_CONFIG=$T/docker REGISTRY_AUTH_FILE=$T/docker/config.json CSSC_LOGIN_FILE=$T/cssc-logins.json
mkdir -p "$DOCKER_CONFIG" "$T/empty"
# anonymous CMD...: CMD runs with no credentials file at all.
anonymous() { DOCKER_CONFIG=$T/empty REGISTRY_AUTH_FILE=$T/empty/auth.json "$@"; }
cd "$T"

HAVE_SKOPEO=; HAVE_CTR=
if command -v skopeo >/dev/null; then HAVE_SKOPEO=1; else echo "---- skopeo not installed: apt-get install -y skopeo"; fi
if command -v containerd >/dev/null && command -v ctr >/dev/null; then
	HAVE_CTR=1
	printf 'version = 2\nroot = "%s/ctr/root"\nstate = "%s/ctr/state"\n[grpc]\n  address = "%s/ctr/sock"\n' "$T" "$T" "$T" > ctr.toml
	containerd --config ctr.toml >ctr.log 2>&1 &
	PIDS+=($!)
	for _ in $(seq 50); do [[ -S "$T/ctr/sock" ]] && break; sleep 0.1; done
	[[ -S "$T/ctr/sock" ]] || fail "containerd did not start: $(tail -5 ctr.log)"
else
	echo "---- containerd not installed: apt-get install -y containerd"
fi
ctr_() { ctr -a "$T/ctr/sock" "$@"; }

echo hello > hello.txt && tar cf layer.tar hello.txt
echo '{"spdxVersion":"SPDX-2.3"}' > sbom.json
export COSIGN_PASSWORD=smoke COSIGN_EXPERIMENTAL=1
"$COSIGN" generate-key-pair >/dev/null 2>&1

# registry_checks: push, pull, copy, attach, sign with every client against
# $R, with the credentials in $DOCKER_CONFIG (none in open mode) and, for
# ctr, $CTR_USER (name:secret, or empty). $P prefixes the output lines.
registry_checks() {
	local ctr_auth=()
	[[ -n "$CTR_USER" ]] && ctr_auth=(--user "$CTR_USER")
	"$CRANE" append -f layer.tar -t "$R/team/app:1.0" >/dev/null 2>&1 || fail "$P crane append/push"
	D=$("$CRANE" digest "$R/team/app:1.0"); ok "$P crane append/push $D"
	"$CRANE" copy "$R/team/app:1.0" "$R/team/copy:1.0" >/dev/null 2>&1
	[[ $("$CRANE" digest "$R/team/copy:1.0") == "$D" ]] || fail "$P crane copy changed the digest"; ok "$P crane copy (cross-repo mount)"
	rm -f img.tar
	"$CRANE" pull "$R/team/app:1.0" img.tar && [[ -s img.tar ]] || fail "$P crane pull"; ok "$P crane pull"
	[[ $("$CRANE" ls "$R/team/app") == "1.0" ]] || fail "$P crane ls"; ok "$P crane ls"
	"$CRANE" catalog "$R" | grep -qx team/copy || fail "$P crane catalog"; ok "$P crane catalog"

	"$ORAS" attach --plain-http --artifact-type application/spdx+json "$R/team/app:1.0" sbom.json >/dev/null
	"$ORAS" attach --plain-http --artifact-type application/vnd.example.report "$R/team/app:1.0" sbom.json >/dev/null
	n=$("$ORAS" discover --plain-http --format json --artifact-type application/spdx+json "$R/team/app:1.0" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d.get("referrers") or d.get("manifests") or []))')
	[[ "$n" == 1 ]] || fail "$P oras discover --artifact-type found $n referrers, want 1"; ok "$P oras attach + discover with artifactType filter"
	"$ORAS" push --plain-http "$R/team/art:v1" sbom.json >/dev/null
	rm -rf out
	"$ORAS" pull --plain-http -o out "$R/team/art:v1" >/dev/null && cmp -s out/sbom.json sbom.json || fail "$P oras pull"; ok "$P oras push/pull"

	"$COSIGN" sign --yes --key cosign.key --tlog-upload=false --registry-referrers-mode=oci-1-1 "$R/team/app@$D" >/dev/null 2>&1 || fail "$P cosign sign (OCI 1.1 referrers)"
	"$COSIGN" verify --key cosign.pub --insecure-ignore-tlog --experimental-oci11 "$R/team/app@$D" >/dev/null 2>&1 || fail "$P cosign verify (OCI 1.1 referrers)"
	ok "$P cosign sign/verify --registry-referrers-mode=oci-1-1"
	"$COSIGN" sign --yes --key cosign.key --tlog-upload=false "$R/team/app@$D" >/dev/null 2>&1 || fail "$P cosign sign (tag scheme)"
	"$COSIGN" verify --key cosign.pub --insecure-ignore-tlog "$R/team/app@$D" >/dev/null 2>&1 || fail "$P cosign verify (tag scheme)"
	ok "$P cosign sign/verify (sha256-<hex>.sig tag)"

	if [[ -n "$HAVE_SKOPEO" ]]; then
		rm -rf ocidir
		skopeo copy --src-tls-verify=false --dest-tls-verify=false "docker://$R/team/app:1.0" "docker://$R/team/skopeo:1.0" >/dev/null
		skopeo copy --src-tls-verify=false "docker://$R/team/app:1.0" oci:ocidir:x >/dev/null
		skopeo copy --dest-tls-verify=false oci:ocidir:x "docker://$R/team/fromoci:1" >/dev/null
		[[ $("$CRANE" digest "$R/team/skopeo:1.0") == "$D" ]] || fail "$P skopeo copy changed the digest"
		ok "$P skopeo copy registry→registry, registry→oci, oci→registry"
	fi

	if [[ -n "$HAVE_CTR" ]]; then
		ctr_ images pull --plain-http "${ctr_auth[@]}" "$R/team/app:1.0" >/dev/null
		ctr_ images push --plain-http "${ctr_auth[@]}" "$R/team/ctr:1" "$R/team/app:1.0" >/dev/null
		[[ $("$CRANE" digest "$R/team/ctr:1") == "$D" ]] || fail "$P ctr push changed the digest"
		ok "$P containerd ctr pull/push"
	fi
}

# ---- pass 1: open mode (never initialised: no authentication, loopback only)
serve "$T/open"
P="[open]   " CTR_USER='' registry_checks

# ---- pass 2: authentication on
ADMIN_PW=smoke-admin-password-$RANDOM
CSSC_ADMIN_PASSWORD=$ADMIN_PW "$CSSC" admin init --data-dir "$T/secured" 2>/dev/null
serve "$T/secured"
P="[secured]"
admin() { CSSC_USERNAME=admin CSSC_PASSWORD=$ADMIN_PW "$CSSC" "$@" --server "http://$R"; }
PUSHER=$(admin robot add ci-push --role push --scope 'team/**' 2>/dev/null)
PULLER=$(admin robot add ci-pull --role pull --scope 'team/**' 2>/dev/null)
[[ -n "$PUSHER" && -n "$PULLER" ]] || fail "$P cssc robot add printed no secret"
ok "$P cssc admin init, robot add ci-push (push team/**) and ci-pull (pull team/**)"

# Without credentials nothing works.
anonymous fails "$CRANE" append -f layer.tar -t "$R/team/app:1.0"
anonymous fails "$CRANE" catalog "$R"
ok "$P anonymous push and catalog refused"

# Every client logs in as the pushing robot; they share $DOCKER_CONFIG/config.json.
"$CRANE" auth login "$R" -u ci-push -p "$PUSHER" >/dev/null 2>&1 || fail "$P crane auth login"
grep -q "$R" "$DOCKER_CONFIG/config.json" || fail "$P crane auth login wrote no credentials"
printf '%s\n' "$PUSHER" | "$ORAS" login --plain-http -u ci-push --password-stdin "$R" >/dev/null || fail "$P oras login"
printf '%s\n' "$PUSHER" | "$COSIGN" login "$R" -u ci-push --password-stdin >/dev/null 2>&1 || fail "$P cosign login"
logins="crane auth login, oras login, cosign login"
if [[ -n "$HAVE_SKOPEO" ]]; then
	printf '%s\n' "$PUSHER" | skopeo login --tls-verify=false -u ci-push --password-stdin "$R" >/dev/null || fail "$P skopeo login"
	logins+=", skopeo login"
fi
ok "$P $logins as ci-push"
CTR_USER="ci-push:$PUSHER" registry_checks

# The pull-only robot pulls but never pushes, with any client.
mkdir -p puller
PULLCFG=$T/puller
TAGS_BEFORE=$("$CRANE" ls "$R/team/app")
DOCKER_CONFIG=$PULLCFG "$CRANE" auth login "$R" -u ci-pull -p "$PULLER" >/dev/null 2>&1
[[ $(DOCKER_CONFIG=$PULLCFG "$CRANE" digest "$R/team/app:1.0") == "$D" ]] || fail "$P ci-pull cannot pull"
# cosign also takes credentials as flags (no config file at all here).
anonymous "$COSIGN" verify --key cosign.pub --insecure-ignore-tlog \
	--registry-username ci-pull --registry-password "$PULLER" "$R/team/app@$D" >/dev/null 2>&1 || fail "$P cosign verify --registry-username ci-pull"
anonymous fails "$COSIGN" verify --key cosign.pub --insecure-ignore-tlog "$R/team/app@$D"
ok "$P ci-pull verifies with cosign --registry-username/--registry-password (and not without credentials)"
DOCKER_CONFIG=$PULLCFG fails "$CRANE" append -f layer.tar -t "$R/team/pushed-by-puller:1"
DOCKER_CONFIG=$PULLCFG fails "$CRANE" tag "$R/team/app:1.0" by-puller
fails "$ORAS" push --plain-http -u ci-pull -p "$PULLER" "$R/team/art:by-puller" sbom.json
# (A key of its own: cosign skips a signature the image already has.)
COSIGN_PASSWORD=other "$COSIGN" generate-key-pair --output-key-prefix other >/dev/null 2>&1
DOCKER_CONFIG=$PULLCFG COSIGN_PASSWORD=other fails "$COSIGN" sign --yes --key other.key --tlog-upload=false "$R/team/app@$D"
grep -Eq 'DENIED|UNAUTHORIZED|401|403' "$T/last.err" || fail "$P cosign sign as ci-pull: no DENIED/UNAUTHORIZED in: $(cat "$T/last.err")"
pushes="crane, oras, cosign"
if [[ -n "$HAVE_SKOPEO" ]]; then
	fails skopeo copy --src-tls-verify=false --dest-tls-verify=false --dest-creds "ci-pull:$PULLER" "docker://$R/team/app:1.0" "docker://$R/team/by-puller:1"
	pushes+=", skopeo"
fi
if [[ -n "$HAVE_CTR" ]]; then
	fails ctr_ images push --plain-http --user "ci-pull:$PULLER" "$R/team/by-puller:1" "$R/team/app:1.0"
	pushes+=", ctr"
fi
DOCKER_CONFIG=$PULLCFG fails "$CRANE" digest "$R/team/pushed-by-puller:1"
[[ $("$CRANE" ls "$R/team/app") == "$TAGS_BEFORE" ]] || fail "$P a pull-only robot changed the tags of team/app"
ok "$P ci-pull pulls, and cannot push ($pushes all exit non-zero, nothing written)"

# quarantine/ is for the pipeline and admins: a robot cannot pull from it.
mkdir -p admincfg
DOCKER_CONFIG=$T/admincfg "$CRANE" auth login "$R" -u admin -p "$ADMIN_PW" >/dev/null 2>&1
DOCKER_CONFIG=$T/admincfg "$CRANE" copy "$R/team/app:1.0" "$R/quarantine/x:1" >/dev/null 2>&1 || fail "$P admin push to quarantine/x"
[[ $(DOCKER_CONFIG=$T/admincfg "$CRANE" digest "$R/quarantine/x:1") == "$D" ]] || fail "$P admin cannot read quarantine/x"
for who in ci-push ci-pull; do
	cfg=$DOCKER_CONFIG; [[ $who == ci-pull ]] && cfg=$PULLCFG
	DOCKER_CONFIG=$cfg fails "$CRANE" pull "$R/quarantine/x:1" q.tar
	grep -Eq 'DENIED|403' "$T/last.err" || fail "$P crane pull of quarantine/x as $who: no DENIED/403 in: $(cat "$T/last.err")"
done
fails "$ORAS" pull --plain-http -o q "$R/quarantine/x:1"
grep -Eqi 'DENIED|403' "$T/last.err" || fail "$P oras pull of quarantine/x as ci-push: no DENIED/403 in: $(cat "$T/last.err")"
if [[ -n "$HAVE_SKOPEO" ]]; then
	fails skopeo copy --src-tls-verify=false "docker://$R/quarantine/x:1" oci:qdir:x
	grep -Eqi 'DENIED|403' "$T/last.err" || fail "$P skopeo copy of quarantine/x as ci-push: no DENIED/403 in: $(cat "$T/last.err")"
fi
if [[ -n "$HAVE_CTR" ]]; then
	fails ctr_ images pull --plain-http --user "ci-push:$PUSHER" "$R/quarantine/x:1"
	grep -Eqi 'DENIED|403' "$T/last.err" || fail "$P ctr pull of quarantine/x as ci-push: no DENIED/403 in: $(cat "$T/last.err")"
fi
ok "$P admin pushes quarantine/x; robots pulling it get DENIED/403"

# Wrong passwords fail, at login where the client checks and at first use.
fails "$ORAS" login --plain-http -u ci-push -p wrong-password "$R"
ok "$P oras login with a wrong password fails"
if [[ -n "$HAVE_SKOPEO" ]]; then
	fails skopeo login --tls-verify=false --authfile "$T/wrong.json" -u ci-push -p wrong-password "$R"
	ok "$P skopeo login with a wrong password fails"
fi
mkdir -p wrong
DOCKER_CONFIG=$T/wrong "$CRANE" auth login "$R" -u ci-push -p wrong-password >/dev/null 2>&1
DOCKER_CONFIG=$T/wrong fails "$CRANE" digest "$R/team/app:1.0"
grep -Eq 'UNAUTHORIZED|401' "$T/last.err" || fail "$P crane with a wrong password: no UNAUTHORIZED/401 in: $(cat "$T/last.err")"
ok "$P crane with a wrong password fails (UNAUTHORIZED)"
if [[ -n "$HAVE_CTR" ]]; then
	fails ctr_ images pull --plain-http --user "ci-push:wrong-password" "$R/team/app:1.0"
	ok "$P ctr --user with a wrong password fails"
fi

# Those few wrong passwords do not lock the robot out (checked past the
# server's 10 s cache of verified credentials, so the password is checked again).
sleep 11
[[ $("$CRANE" digest "$R/team/app:1.0") == "$D" ]] || fail "$P ci-push no longer works after wrong passwords"
ok "$P ci-push still works after those wrong passwords"
echo "all client checks passed (open mode and with authentication)"
