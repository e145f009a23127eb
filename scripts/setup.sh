#!/usr/bin/env bash
# zkjobs set-up: idempotent; run first by both README commands (`npm run demo`, `npm test`).
# Installs what a fresh machine lacks: pnpm, the workspace's packages (frozen lockfile),
# Debian's ZooKeeper server with its JVM, openssl (the TLS tests' certificates), for the
# interoperability tests Curator, a JDK and Kazoo, Chromium for the dashboard's browser test, and
# for the host-partition tests nftables (as root). Prints what to do when it cannot install.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PNPM_VERSION="12.21.0"
say() { printf 'zkjobs setup: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

command -v node >/dev/null 2>&1 || die "Node.js 20.19 or newer is required (https://nodejs.org); install it and run again."
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' \
  || die "Node.js $(node --version) is too old: zkjobs needs 20.19 or newer."

if ! command -v pnpm >/dev/null 2>&1; then
  say "installing pnpm@${PNPM_VERSION} (npm i -g)"
  npm i -g "pnpm@${PNPM_VERSION}" >/dev/null 2>&1 \
    || die "could not install pnpm. Install it yourself: npm i -g pnpm@${PNPM_VERSION}"
fi

pnpm install --frozen-lockfile --reporter=silent

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo "$@"; else return 1; fi; }
apt_install() {
  command -v apt-get >/dev/null 2>&1 || return 1
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || return 1
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

zk_jar="${ZK_CLASSPATH_DIR:-/usr/share/java}/zookeeper.jar"
if [ ! -f "$zk_jar" ] || ! command -v java >/dev/null 2>&1; then
  say "installing Debian's zookeeper package and its JVM (apt-get install zookeeper)"
  if ! apt_install zookeeper; then
    if [ -n "${ZK_CONNECT:-}" ]; then
      say "ZooKeeper could not be installed; using ZK_CONNECT=${ZK_CONNECT} for the shared server (tests that start their own servers will be skipped)."
    else
      die "cannot install ZooKeeper here (needs root and apt-get). Install Debian's 'zookeeper' package (ZooKeeper 3.8 with a Java 11+ runtime), or set ZK_CONNECT=host:port,... to an existing ensemble."
    fi
  fi
fi
# The interoperability tests (test/core/interop) run the real Apache Curator 5.4 (Java, compiled
# with javac at test time) and Kazoo 2.8 (Debian's /usr/bin/python3) beside zkjobs.
java_dir="${ZK_CLASSPATH_DIR:-/usr/share/java}"
interop_missing=()
for jar in curator-recipes curator-x-discovery; do
  [ -f "$java_dir/$jar.jar" ] || interop_missing+=("$jar")
done
command -v javac >/dev/null 2>&1 || interop_missing+=(javac)
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import kazoo' >/dev/null 2>&1 || interop_missing+=(kazoo)
if [ "${#interop_missing[@]}" -gt 0 ]; then
  say "installing Curator, a JDK and Kazoo for the interoperability tests (missing: ${interop_missing[*]})"
  apt_install libcurator-recipes-java libcurator-discovery-java default-jdk-headless python3-kazoo \
    || say "could not install them (needs root and apt-get): the tests in test/core/interop will fail until libcurator-recipes-java, libcurator-discovery-java, default-jdk-headless and python3-kazoo are installed."
fi
# The TLS tests make a CA and certificates at test time with openssl.
if ! command -v openssl >/dev/null 2>&1; then
  say "installing openssl (apt-get install openssl), for the TLS tests' certificates"
  apt_install openssl || say "openssl could not be installed; the TLS tests will fail until it is (install openssl to run them)."
fi
# The dashboard's browser test drives Debian's Chromium with playwright-core (which downloads no browser).
if [ ! -x /usr/bin/chromium ]; then
  say "installing Debian's chromium for the dashboard's browser test"
  apt_install chromium \
    || say "could not install chromium (needs root and apt-get): test/e2e/dashboard.test.ts will fail until Debian's chromium is at /usr/bin/chromium."
fi
# The host-partition tests (TestingNetwork in @zkjobs/core/testing) cut links between network
# namespaces with nftables drop rules (bridge family); they need root and the nft command.
if ! command -v nft >/dev/null 2>&1 && [ ! -x /usr/sbin/nft ]; then
  if [ "$(id -u)" = 0 ]; then
    say "installing nftables for the host-partition tests (apt-get install nftables)"
    apt_install nftables || say "could not install nftables: the host-partition tests (test/faults/hosts.test.ts, test/harness/network.test.ts) will fail until it is installed."
  else
    say "not root: the host-partition tests need root and nftables, and will say so and be skipped."
  fi
fi
say "ready"
