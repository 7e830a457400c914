#!/usr/bin/env bash
# bench/verify/run.sh: `cssc verify` beside `notation verify` and `cosign
# verify` on one image signed three times (Notary JWS, Notary COSE, cosign),
# cold and with the verification cache warm. Extra arguments go to the Go
# program, e.g.
#   bench/verify/run.sh --rounds 20
# notation (v1.3.2) and cosign (v2.6.5) are built pinned by scripts/tools.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
make build >/dev/null
NOTATION=$(scripts/tools.sh --path notation)
COSIGN=$(scripts/tools.sh --path cosign)
WORK=$(mktemp -d /tmp/cssc-verify-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
go build -o "$WORK/verify-bench" ./bench/verify
"$WORK/verify-bench" --cssc bin/cssc --notation "$NOTATION" --cosign "$COSIGN" --work "$WORK" "$@"
