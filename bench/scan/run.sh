#!/usr/bin/env bash
# bench/scan/run.sh: SBOM generation and vulnerability scanning of a Debian
# image, cssc beside osv-scanner (v2.5.0, offline, same OSV data) and syft
# (v1.20.0, SBOM only), same machine, same run; then the rescan rate of
# stored SBOMs. Extra arguments go to the Go program, e.g.
#   bench/scan/run.sh --rounds 5
#   bench/scan/run.sh --rounds 3 --profile-dir /tmp/prof
#   bench/scan/run.sh --prepare-only --no-big   (the inputs only; bench/malware)
#
# The Debian root file system is made once with debootstrap (root, network
# to deb.debian.org) and cached, with the images and OSV data the Go
# program derives from it, in .bench-cache/scan/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/../.."
CACHE=.bench-cache/scan
ROOTFS=$CACHE/rootfs
SUITE=bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
PACKAGES=ca-certificates,curl,openssl,python3-minimal

if [[ ! -f $ROOTFS/.complete ]]; then
	command -v debootstrap >/dev/null || {
		echo "bench/scan: debootstrap is needed (apt-get install -y debootstrap)" >&2; exit 2; }
	[[ $(id -u) == 0 ]] || { echo "bench/scan: debootstrap needs root" >&2; exit 2; }
	rm -rf "$ROOTFS" "$ROOTFS.tmp"
	mkdir -p "$CACHE"
	echo "bench/scan: debootstrap --variant=minbase --include=$PACKAGES $SUITE (once)" >&2
	debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOTFS.tmp" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 || {
		tail -20 "$CACHE/debootstrap.log" >&2; exit 2; }
	# What a slim image leaves out: apt's caches and lists, documentation
	# other than the copyright files, manual pages, translations; and the
	# device nodes debootstrap made.
	(
		cd "$ROOTFS.tmp"
		rm -rf var/cache/apt/* var/lib/apt/lists/* usr/share/man/* usr/share/locale/* usr/share/info/* var/log/*
		find usr/share/doc -mindepth 2 ! -name copyright ! -type d -delete
		find usr/share/doc -mindepth 1 -type d -empty -delete
		find dev -mindepth 1 -delete
	)
	touch "$ROOTFS.tmp/.complete"
	mv "$ROOTFS.tmp" "$ROOTFS"
fi

# --prepare-only (bench/malware uses it): make the cached inputs and stop.
if [[ ${1:-} == --prepare-only ]]; then
	shift
	exec go run ./bench/scan --prepare-only --rootfs "$ROOTFS" --cache "$CACHE" "$@"
fi

[[ -x /usr/bin/time ]] || { echo "bench/scan: GNU time is needed (apt-get install -y time)" >&2; exit 2; }
make build >/dev/null
OSV_SCANNER=$(scripts/tools.sh --path osv-scanner)
SYFT=$(scripts/tools.sh --path syft)
go run ./bench/scan --cssc bin/cssc --osv-scanner "$OSV_SCANNER" --syft "$SYFT" \
	--rootfs "$ROOTFS" --cache "$CACHE" "$@"
