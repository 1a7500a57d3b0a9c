#!/usr/bin/env bash
# Install Docker's engine and debootstrap from Debian when missing, start
# dockerd when no daemon answers, and wait until it does. Idempotent.
set -euo pipefail

need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
if [ "${#need[@]}" -gt 0 ]; then
    echo "installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

if docker info >/dev/null 2>&1; then
    echo "docker engine already running"
    exit 0
fi

log=${DOCKERD_LOG:-/tmp/coderefl-dockerd.log}
echo "starting dockerd (log: $log)"
nohup dockerd >"$log" 2>&1 &
for _ in $(seq 1 60); do
    if docker info >/dev/null 2>&1; then
        echo "docker engine is up"
        exit 0
    fi
    sleep 1
done
echo "dockerd did not come up within 60 s; last lines of $log:" >&2
tail -n 20 "$log" >&2
exit 1
