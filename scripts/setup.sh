#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine for Tank (idempotent; run as root):
# the Debian packages running Tank needs, npm dependencies (builds native/ and node addons offline
# against Node's own headers), and the bundled `tank` CLI.
#   --test   also what only the tests use (the README's test command passes it; .ci/run runs that):
#            etcd, qemu and a stock kernel (cgroup v2 driver), chromium (dashboard browser tests),
#            skopeo/umoci/htpasswd/openssl (registry fixtures), dnsmasq, tmux, jq, procps.
set -euo pipefail
tests=false
for arg in "$@"; do
  case "$arg" in
    --test) tests=true ;;
    *) echo "usage: scripts/setup.sh [--test]" >&2; exit 2 ;;
  esac
done
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
# node-gyp must build addons against the installed Node headers (no header download here).
export npm_config_nodedir=/usr npm_config_build_from_source=true npm_config_update_notifier=false
# Running Tank: the compilers and headers for native/ and the node addons, netlink/nft tools for pod
# networks, busybox-static for the example images (loaded into the cache below).
pkgs=(gcc make g++ python3 libc6-dev libseccomp-dev iproute2 nftables busybox-static)
if $tests; then
  # docker-registry: the tests' registries (and scripts/local-registry.ts).
  pkgs+=(docker-registry etcd-server etcd-client apache2-utils skopeo umoci jq openssl tmux procps qemu-system-x86 chromium dnsmasq)
fi
missing=()
for p in "${pkgs[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # dnsmasq is a test upstream and the DNS bench's peer, never a host service: if its package
  # started one just now, stop it (tests start their own inside network namespaces).
  if [[ " ${missing[*]} " == *" dnsmasq "* ]] && [ -x /etc/init.d/dnsmasq ]; then
    /etc/init.d/dnsmasq stop >/dev/null 2>&1 || true
  fi
fi
# apt may start docker-registry's own service on some machines; Tank's tests start their own.
if [ ! -d node_modules ] || [ package.json -nt node_modules/.package-lock.json ] || [ ! -x native/tank-helper ]; then
  echo "setup: npm install"
  npm install --no-audit --no-fund --loglevel=error 2>&1 | grep -v 'Unknown \(user\|env\) config' || true
  [ -d node_modules/effect ] || { echo "setup: npm install failed" >&2; exit 1; }
fi
# Host ids for pods in user namespaces (hostUsers: false): 16384 ranges of 65536, far above the
# host's own users (as podman's setup adds its users' entries). Kept if an entry already exists.
for f in /etc/subuid /etc/subgid; do
  grep -q '^tank:' "$f" 2>/dev/null || echo "tank:1073741824:1073741824" >> "$f"
done
# A stock Debian kernel for the cgroup-v2 driver test under qemu (this host is a v1/v2 hybrid).
if $tests; then
  test/cgroups/qemu/run-v2.sh check 2>/dev/null || test/cgroups/qemu/run-v2.sh fetch
fi
make -s -C native
node scripts/build.mjs
# The example images (busybox-static; the README's quick start and the REPL's example use them) into
# the default data dir's image cache, so they run offline (pods pull only what is not cached).
examples="$(mktemp -d)"
trap 'rm -rf "$examples"' EXIT
npx tsx scripts/example-images.ts "$examples/examples.tar" >/dev/null
node bin/tank.mjs load -i "$examples/examples.tar"
echo "setup: done"
