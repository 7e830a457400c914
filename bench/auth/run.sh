#!/usr/bin/env bash
# bench/auth/run.sh: the manifest GET rate of cssc with authentication and
# the audit trail on (an initialised data directory) beside open mode, same
# machine, same run. Extra arguments go to the Go program, e.g.
#   bench/auth/run.sh --rounds 5 --concurrency 16
set -euo pipefail
cd "$(dirname "$0")/../.."
make build >/dev/null
go run ./bench/auth --cssc bin/cssc "$@"
