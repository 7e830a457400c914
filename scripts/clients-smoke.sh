#!/usr/bin/env bash
# scripts/clients-smoke.sh: the real client CLIs against a fresh `cssc serve`.
# crane, oras and cosign are built pinned by scripts/tools.sh; skopeo and
# containerd's ctr are used when installed (apt-get install skopeo containerd).
# Every step checks its result; the first mismatch stops the script.
set -euo pipefail
cd "$(dirname "$0")/.."
make build >/dev/null
CRANE=$(scripts/tools.sh --path crane)
ORAS=$(scripts/tools.sh --path oras)
COSIGN=$(scripts/tools.sh --path cosign)

T=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$T"; }
trap cleanup EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
R=127.0.0.1:$PORT
bin/cssc serve --data-dir "$T/data" --addr "$R" --log-level warn &
PIDS+=($!)
for _ in $(seq 100); do curl -fs "http://$R/readyz" >/dev/null && break; sleep 0.1; done
ok() { echo "ok   $*"; }
fail() { echo "FAIL $*" >&2; exit 1; }
cd "$T"

echo hello > hello.txt && tar cf layer.tar hello.txt
"$CRANE" append -f layer.tar -t "$R/team/app:1.0" >/dev/null 2>&1
D=$("$CRANE" digest "$R/team/app:1.0"); ok "crane append/push $D"
"$CRANE" copy "$R/team/app:1.0" "$R/team/copy:1.0" >/dev/null 2>&1
[[ $("$CRANE" digest "$R/team/copy:1.0") == "$D" ]] || fail "crane copy changed the digest"; ok "crane copy (cross-repo mount)"
"$CRANE" pull "$R/team/app:1.0" img.tar && [[ -s img.tar ]] || fail "crane pull"; ok "crane pull"
[[ $("$CRANE" ls "$R/team/app") == "1.0" ]] || fail "crane ls"; ok "crane ls"
"$CRANE" catalog "$R" | grep -qx team/copy || fail "crane catalog"; ok "crane catalog"

echo '{"spdxVersion":"SPDX-2.3"}' > sbom.json
"$ORAS" attach --plain-http --artifact-type application/spdx+json "$R/team/app:1.0" sbom.json >/dev/null
"$ORAS" attach --plain-http --artifact-type application/vnd.example.report "$R/team/app:1.0" sbom.json >/dev/null
n=$("$ORAS" discover --plain-http --format json --artifact-type application/spdx+json "$R/team/app:1.0" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d.get("referrers") or d.get("manifests") or []))')
[[ "$n" == 1 ]] || fail "oras discover --artifact-type found $n referrers, want 1"; ok "oras attach + discover with artifactType filter"
"$ORAS" push --plain-http "$R/team/art:v1" sbom.json >/dev/null
"$ORAS" pull --plain-http -o out "$R/team/art:v1" >/dev/null && cmp -s out/sbom.json sbom.json || fail "oras pull"; ok "oras push/pull"

export COSIGN_PASSWORD=smoke COSIGN_EXPERIMENTAL=1
"$COSIGN" generate-key-pair >/dev/null 2>&1
"$COSIGN" sign --yes --key cosign.key --tlog-upload=false --registry-referrers-mode=oci-1-1 "$R/team/app@$D" >/dev/null 2>&1
"$COSIGN" verify --key cosign.pub --insecure-ignore-tlog --experimental-oci11 "$R/team/app@$D" >/dev/null 2>&1 || fail "cosign verify (OCI 1.1 referrers)"
ok "cosign sign/verify --registry-referrers-mode=oci-1-1"
"$COSIGN" sign --yes --key cosign.key --tlog-upload=false "$R/team/app@$D" >/dev/null 2>&1
"$COSIGN" verify --key cosign.pub --insecure-ignore-tlog "$R/team/app@$D" >/dev/null 2>&1 || fail "cosign verify (tag scheme)"
ok "cosign sign/verify (sha256-<hex>.sig tag)"

if command -v skopeo >/dev/null; then
	skopeo copy --src-tls-verify=false --dest-tls-verify=false "docker://$R/team/app:1.0" "docker://$R/team/skopeo:1.0" >/dev/null
	skopeo copy --src-tls-verify=false "docker://$R/team/app:1.0" oci:ocidir:x >/dev/null
	skopeo copy --dest-tls-verify=false oci:ocidir:x "docker://$R/team/fromoci:1" >/dev/null
	[[ $("$CRANE" digest "$R/team/skopeo:1.0") == "$D" ]] || fail "skopeo copy changed the digest"
	ok "skopeo copy registry→registry, registry→oci, oci→registry"
else
	echo "---- skopeo not installed: apt-get install -y skopeo"
fi

if command -v containerd >/dev/null && command -v ctr >/dev/null; then
	printf 'version = 2\nroot = "%s/ctr/root"\nstate = "%s/ctr/state"\n[grpc]\n  address = "%s/ctr/sock"\n' "$T" "$T" "$T" > ctr.toml
	containerd --config ctr.toml >ctr.log 2>&1 &
	PIDS+=($!)
	for _ in $(seq 50); do [[ -S "$T/ctr/sock" ]] && break; sleep 0.1; done
	ctr -a "$T/ctr/sock" images pull --plain-http "$R/team/app:1.0" >/dev/null
	ctr -a "$T/ctr/sock" images push --plain-http "$R/team/ctr:1" "$R/team/app:1.0" >/dev/null
	[[ $("$CRANE" digest "$R/team/ctr:1") == "$D" ]] || fail "ctr push changed the digest"
	ok "containerd ctr pull/push"
else
	echo "---- containerd not installed: apt-get install -y containerd"
fi
echo "all client checks passed"
