#!/usr/bin/env bash
# scripts/tools.sh - build pinned external tools once into .tools/ (git-ignored).
#
# Usage:
#   scripts/tools.sh NAME...        build the named tools (or "all"); one line per tool on stdout:
#                                     tools: NAME VERSION cached
#                                     tools: NAME VERSION built in Ns
#   scripts/tools.sh --path NAME    print the absolute path of NAME's binary (building it first if
#                                   missing; the status line then goes to stderr), e.g.
#                                     CONF=$(scripts/tools.sh --path conformance)
#   scripts/tools.sh --list         print the known tool names and pinned versions
#
# Binaries live at .tools/NAME-VERSION/NAME, so bumping a pin below builds a fresh copy and an
# unchanged pin never rebuilds. Builds happen in a temp dir under .tools/ and the finished binary
# is renamed into place, so an interrupted build never leaves a half-written binary behind.
# Go's own output is kept quiet and only shown (on stderr) if a build fails.
set -euo pipefail

# ---- pinned versions -------------------------------------------------------------------------
CONFORMANCE_VERSION=v0.0.0-20260831232431-97274622c111 # github.com/opencontainers/distribution-spec/conformance
REGISTRY_VERSION=v3.1.2                                # github.com/distribution/distribution/v3 (cmd/registry)
STATICCHECK_VERSION=v0.8.2                             # honnef.co/go/tools (= staticcheck 2026.2.2)
CRANE_VERSION=v0.22.1                                  # github.com/google/go-containerregistry (cmd/crane)
ORAS_VERSION=v1.3.6                                    # oras.land/oras (cmd/oras)
COSIGN_VERSION=v2.6.5                                  # github.com/sigstore/cosign/v2 (cmd/cosign)
OSV_SCANNER_VERSION=v2.5.0                             # github.com/google/osv-scanner/v2 (cmd/osv-scanner)
SYFT_VERSION=v1.20.0                                   # github.com/anchore/syft (cmd/syft)
NOTATION_VERSION=v1.3.2                                # github.com/notaryproject/notation (cmd/notation; the proxy lists no versions and refuses go install, an exact download works)
# ----------------------------------------------------------------------------------------------

TOOLS=(conformance registry staticcheck crane oras cosign osv-scanner syft notation)

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
TOOLS_DIR="$ROOT/.tools"

# Build environment: independent of the caller's workspace / module flags, static binaries.
export GOWORK=off
export GOFLAGS=-buildvcs=false
export CGO_ENABLED=0
unset GOOS GOARCH GOBIN

die() { echo "tools: error: $*" >&2; exit 1; }

# tool_spec NAME: sets VERSION MODULE PKG (package dir inside MODULE) LDFLAGS METHOD.
#   METHOD=install: `go install MODULE/PKG@VERSION`, falling back to a module copy if refused.
#   METHOD=copy:    `go build` inside a writable copy of the downloaded module.
tool_spec() {
	LDFLAGS="" METHOD=install
	case "$1" in
	conformance)
		VERSION=$CONFORMANCE_VERSION MODULE=github.com/opencontainers/distribution-spec/conformance PKG=.
		METHOD=copy ;;
	registry)
		VERSION=$REGISTRY_VERSION MODULE=github.com/distribution/distribution/v3 PKG=./cmd/registry
		LDFLAGS="-X github.com/distribution/distribution/v3/version.version=$REGISTRY_VERSION" ;;
	staticcheck)
		VERSION=$STATICCHECK_VERSION MODULE=honnef.co/go/tools PKG=./cmd/staticcheck ;;
	crane)
		VERSION=$CRANE_VERSION MODULE=github.com/google/go-containerregistry PKG=./cmd/crane ;;
	oras)
		VERSION=$ORAS_VERSION MODULE=oras.land/oras PKG=./cmd/oras ;;
	cosign)
		VERSION=$COSIGN_VERSION MODULE=github.com/sigstore/cosign/v2 PKG=./cmd/cosign ;;
	osv-scanner)
		VERSION=$OSV_SCANNER_VERSION MODULE=github.com/google/osv-scanner/v2 PKG=./cmd/osv-scanner ;;
	syft)
		VERSION=$SYFT_VERSION MODULE=github.com/anchore/syft PKG=./cmd/syft
		LDFLAGS="-X main.version=${SYFT_VERSION#v}" ;;
	notation)
		VERSION=$NOTATION_VERSION MODULE=github.com/notaryproject/notation PKG=./cmd/notation
		LDFLAGS="-X github.com/notaryproject/notation/internal/version.Version=$NOTATION_VERSION -X github.com/notaryproject/notation/internal/version.BuildMetadata="
		METHOD=copy ;;
	*)
		echo "tools: unknown tool '$1' (known: ${TOOLS[*]})" >&2
		exit 2 ;;
	esac
}

bin_path() { printf '%s/%s-%s/%s\n' "$TOOLS_DIR" "$1" "$VERSION" "$1"; }

# is_cached NAME BIN: binary present; for staticcheck also built by the current Go release
# (staticcheck type-checks with its own go/types, so it must not be older than the project's Go).
is_cached() {
	[[ -x "$2" ]] || return 1
	if [[ "$1" == staticcheck ]]; then
		local built want
		built=$(cd "$TOOLS_DIR" && go version "$2" 2>/dev/null) || return 1
		want=$(cd "$TOOLS_DIR" && go env GOVERSION) || return 1
		[[ "${built##*: }" == "$want" ]] || return 1
	fi
	return 0
}

TMP=""
cleanup() { if [[ -n "$TMP" && -d "$TMP" ]]; then chmod -R u+w "$TMP" 2>/dev/null || true; rm -rf "$TMP"; fi; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# build_copy NAME OUT LOG: go build inside a writable copy of MODULE@VERSION.
build_copy() {
	local name=$1 out=$2 log=$3 json dir
	json=$(cd "$TMP" && go mod download -json "$MODULE@$VERSION" 2>>"$log") || {
		echo "$json" >>"$log"; return 1; }
	dir=$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
	[[ -n "$dir" && -d "$dir" ]] || { echo "no module Dir in: $json" >>"$log"; return 1; }
	cp -R "$dir" "$TMP/src"
	chmod -R u+w "$TMP/src"
	(cd "$TMP/src" && go build -trimpath -ldflags "$LDFLAGS" -o "$out" "$PKG") >>"$log" 2>&1
}

# build_install NAME OUT LOG: GOBIN=... go install MODULE/PKG@VERSION.
build_install() {
	local name=$1 out=$2 log=$3 pkgpath=$MODULE
	[[ "$PKG" == "." ]] || pkgpath="$MODULE/${PKG#./}"
	mkdir -p "$TMP/bin"
	(cd "$TMP" && GOBIN="$TMP/bin" go install -trimpath -ldflags "$LDFLAGS" "$pkgpath@$VERSION") >>"$log" 2>&1 &&
		mv -f "$TMP/bin/$name" "$out"
}

# ensure NAME FD: build NAME if needed; status line goes to file descriptor FD.
ensure() {
	local name=$1 fd=$2 bin start log out lockfd=""
	tool_spec "$name"
	bin=$(bin_path "$name")
	if is_cached "$name" "$bin"; then
		echo "tools: $name $VERSION cached" >&"$fd"
		return 0
	fi
	command -v go >/dev/null || die "go not found in PATH"
	mkdir -p "$TOOLS_DIR"
	# Serialize concurrent builds of the same tool (e.g. make -j); re-check after the lock.
	if command -v flock >/dev/null; then
		exec {lockfd}>"$TOOLS_DIR/.$name.lock"
		flock "$lockfd"
		if is_cached "$name" "$bin"; then
			exec {lockfd}>&-
			echo "tools: $name $VERSION cached" >&"$fd"
			return 0
		fi
	fi
	start=$SECONDS
	TMP=$(mktemp -d "$TOOLS_DIR/.tmp-$name-XXXXXX")
	log="$TMP/build.log"
	out="$TMP/$name.out"
	: >"$log"
	if [[ "$METHOD" == install ]]; then
		if ! build_install "$name" "$out" "$log"; then
			{ echo "--- go install $MODULE/${PKG#./}@$VERSION failed; retrying from a module copy:"; } >>"$log"
			build_copy "$name" "$out" "$log" || {
				cat "$log" >&2; die "building $name $VERSION failed (log above)"; }
		fi
	else
		build_copy "$name" "$out" "$log" || { cat "$log" >&2; die "building $name $VERSION failed (log above)"; }
	fi
	[[ -x "$out" ]] || { cat "$log" >&2; die "building $name $VERSION produced no binary"; }
	mkdir -p "$(dirname "$bin")"
	mv -f "$out" "$bin" # same filesystem: atomic rename
	cleanup
	TMP=""
	[[ -z "$lockfd" ]] || exec {lockfd}>&-
	echo "tools: $name $VERSION built in $((SECONDS - start))s" >&"$fd"
}

usage() {
	cat >&2 <<EOF
usage: scripts/tools.sh NAME...        build tools (${TOOLS[*]} | all)
       scripts/tools.sh --path NAME    print absolute path of NAME's binary (builds if missing)
       scripts/tools.sh --list         list tools and pinned versions
EOF
	exit 2
}

[[ $# -gt 0 ]] || usage
case "$1" in
--path)
	[[ $# -eq 2 ]] || usage
	ensure "$2" 2 # status line to stderr so $(...) captures only the path
	tool_spec "$2"
	bin_path "$2"
	;;
--list)
	for t in "${TOOLS[@]}"; do tool_spec "$t"; echo "$t $VERSION"; done
	;;
-h | --help) usage ;;
-*) usage ;;
*)
	names=()
	for a in "$@"; do
		if [[ "$a" == all ]]; then names+=("${TOOLS[@]}"); else tool_spec "$a"; names+=("$a"); fi
	done
	for n in "${names[@]}"; do ensure "$n" 1; done
	;;
esac
