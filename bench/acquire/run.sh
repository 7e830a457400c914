#!/usr/bin/env bash
# bench/acquire/run.sh: the acquire pipeline end to end (`cssc acquire
# --wait` of a ~100 MB image from a local upstream) beside a plain `crane
# copy` of an image of the same shape, round by round in the same run; then
# 100 small images acquired at once (throughput, failures, the server's peak
# memory). Extra arguments go to the Go program, e.g.
#   bench/acquire/run.sh --rounds 3 --workers 2
# crane (v0.22.1) is built pinned by scripts/tools.sh; the malware scan needs
# clamd (apt-get install clamav-daemon; without it pass --clamd=false and every
# image is blocked by the default policy).
set -euo pipefail
cd "$(dirname "$0")/../.."
make build >/dev/null
CRANE=$(scripts/tools.sh --path crane)
WORK=$(mktemp -d /tmp/cssc-acquire-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
go build -o "$WORK/acquire-bench" ./bench/acquire
"$WORK/acquire-bench" --cssc bin/cssc --crane "$CRANE" --work "$WORK" "$@"
