#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine for Tank (idempotent; run as root):
# Debian packages the runtime and the tests use (chromium: the dashboard's browser tests), npm dependencies (builds native/ and node addons
# offline against Node's own headers), and the bundled `tank` CLI.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
# node-gyp must build addons against the installed Node headers (no header download here).
export npm_config_nodedir=/usr npm_config_build_from_source=true npm_config_update_notifier=false
pkgs=(docker-registry busybox-static libseccomp-dev libc6-dev etcd-server etcd-client apache2-utils skopeo umoci jq openssl iproute2 tmux gcc make g++ python3 procps qemu-system-x86 chromium nftables dnsmasq)
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
test/cgroups/qemu/run-v2.sh check 2>/dev/null || test/cgroups/qemu/run-v2.sh fetch
make -s -C native
node scripts/build.mjs
echo "setup: done"
