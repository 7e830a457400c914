#!/usr/bin/env bash
# bench/registry/run.sh: cssc beside the CNCF distribution registry (v3.1.2),
# same machine, same run. Extra arguments go to the Go program, e.g.
#   bench/registry/run.sh --rounds 5 --blob-mib 512
set -euo pipefail
cd "$(dirname "$0")/../.."
make build >/dev/null
REGISTRY=$(scripts/tools.sh --path registry)
go run ./bench/registry --cssc bin/cssc --registry "$REGISTRY" "$@"
