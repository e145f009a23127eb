#!/usr/bin/env bash
# zkjobs bench set-up: idempotent. Installs what the peer baselines need and a fresh machine
# lacks: Debian's redis-server (BullMQ's backend) and python3-kazoo (Kazoo's LockingQueue, run
# with Debian's own /usr/bin/python3). ZooKeeper and the workspace come from scripts/setup.sh,
# which `pnpm bench` runs first. A peer that cannot be installed is skipped by the runner and
# reported as missing in the results; this script only says so.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf 'zkjobs bench setup: %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo "$@"; else return 1; fi; }
updated=0
apt_install() {
  command -v apt-get >/dev/null 2>&1 || return 1
  if [ "$updated" = 0 ]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || return 1
    updated=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

redis_bin="${REDIS_SERVER:-$(command -v redis-server || echo /usr/bin/redis-server)}"
if [ ! -x "$redis_bin" ]; then
  say "installing Debian's redis-server (apt-get install redis-server)"
  apt_install redis-server || say "could not install redis-server: the BullMQ baseline will be skipped (install Debian's 'redis-server', or set REDIS_SERVER=/path/to/redis-server)."
fi
# Debian's package starts a system service on 6379; the bench starts its own server on a free
# loopback port and never uses that one.

py="${BENCH_PYTHON:-/usr/bin/python3}"
if [ ! -x "$py" ] || ! "$py" -c 'import kazoo' >/dev/null 2>&1; then
  say "installing Debian's python3-kazoo (apt-get install python3 python3-kazoo)"
  apt_install python3 python3-kazoo || say "could not install python3-kazoo: the Kazoo baseline will be skipped (install Debian's 'python3-kazoo')."
fi
say "ready"
