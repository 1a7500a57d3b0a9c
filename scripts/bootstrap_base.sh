#!/usr/bin/env bash
# Build the sandbox's base image without any container registry: debootstrap a
# minimal Debian (python3 + pytest + hypothesis from Debian's own packages)
# and `docker import` it. Idempotent: an existing base tag is reused.
#
# usage: scripts/bootstrap_base.sh [TAG]   (env: CODEREFL_DEBIAN_MIRROR, CODEREFL_DEBIAN_SUITE)
set -euo pipefail

tag=${1:-coderefl-sandbox-base:bookworm}
suite=${CODEREFL_DEBIAN_SUITE:-bookworm}

if docker image inspect "$tag" >/dev/null 2>&1 && [ -z "${CODEREFL_REBUILD_BASE:-}" ]; then
    echo "base image $tag already present"
    exit 0
fi

# The mirror apt already uses on this machine (deb822 or one-line format).
mirror=${CODEREFL_DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
    mirror=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | grep -i debian | head -n1 || true)
fi
if [ -z "$mirror" ]; then
    mirror=$(grep -hsE '^deb[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '{print $2}' | grep -v security | grep -i debian | head -n1 || true)
fi
mirror=${mirror:-http://deb.debian.org/debian}

command -v debootstrap >/dev/null 2>&1 || { echo "debootstrap missing: apt-get install debootstrap" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "debootstrap needs root" >&2; exit 1; }

root=$(mktemp -d /tmp/coderefl-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "debootstrap $suite from $mirror into $root"
debootstrap --variant=minbase --include=python3,python3-pytest,python3-hypothesis \
    "$suite" "$root" "$mirror" >"$root.log" 2>&1 || { tail -n 30 "$root.log" >&2; exit 1; }
rm -f "$root.log"

# Smaller and more deterministic: no apt lists or caches, no docs.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
       "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/* "$root"/tmp/*

echo "importing as $tag"
tar -C "$root" -c . | docker import --change 'CMD ["/usr/bin/python3"]' - "$tag" >/dev/null
echo "base image $tag ready"
