#!/bin/sh
# Boots a stock Debian kernel under qemu (TCG) with cgroup_no_v1=all, so memory/pids/cpu are on
# cgroup2 — impossible on this hybrid host itself (reference/infra.md §5) — and runs the bundled
# guest program (guest.ts) with this machine's node inside a busybox initramfs.
#
#   run-v2.sh fetch            download the kernel (apt-get download; needs the Debian mirror)
#   run-v2.sh check            exit 0 if qemu and the kernel are present, 1 otherwise
#   run-v2.sh run BUNDLE.mjs [HELPER [PROBE]]
#                              boot and run BUNDLE.mjs; the guest's console goes to stdout. HELPER
#                              (native/tank-helper) becomes /bin/tank-helper and $TANK_HELPER in the
#                              guest, PROBE (a static devopen probe) /bin/devopen
#
# Cache: $TANK_QEMU_CACHE (default /var/cache/tank-test/qemu). Needs qemu-system-x86 (apt).
set -eu
CACHE=${TANK_QEMU_CACHE:-/var/cache/tank-test/qemu}
KERNEL=$CACHE/vmlinuz

case "${1:-}" in
fetch)
  mkdir -p "$CACHE"
  pkg=$(apt-cache depends linux-image-amd64 | sed -n 's/.*Depends: \(linux-image-[0-9].*\)/\1/p' | head -1)
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && apt-get download "$pkg" >/dev/null && dpkg-deb -x ./*.deb x)
  cp "$tmp"/x/boot/vmlinuz-* "$KERNEL"
  echo "kernel: $pkg -> $KERNEL"
  ;;
check)
  command -v qemu-system-x86_64 >/dev/null && [ -s "$KERNEL" ] && [ -x /bin/busybox ]
  ;;
run)
  bundle=$2
  helper=${3:-}
  probe=${4:-}
  work=$(mktemp -d /tmp/tank-qemu-XXXXXX)
  trap 'rm -rf "$work"' EXIT
  root=$work/root
  mkdir -p "$root/bin" "$root/proc" "$root/sys" "$root/dev" "$root/tmp" "$root/lib64" "$root/lib/x86_64-linux-gnu"
  cp /bin/busybox "$root/bin/busybox"
  node=$(readlink -f "$(command -v node)")
  cp "$node" "$root/bin/node"
  # node's shared libraries, at the paths its loader expects
  ldd "$node" | awk '/=>/ { print $3 } /ld-linux/ { print $1 }' | while read -r lib; do
    [ -f "$lib" ] && mkdir -p "$root$(dirname "$lib")" && cp -L "$lib" "$root$lib"
  done
  cp "$bundle" "$root/guest.mjs"
  if [ -n "$helper" ]; then
    cp "$helper" "$root/bin/tank-helper"
    # its shared libraries (libc and the loader, normally copied for node already)
    ldd "$helper" | awk '/=>/ { print $3 } /ld-linux/ { print $1 }' | while read -r lib; do
      if [ -f "$lib" ] && [ ! -f "$root$lib" ]; then mkdir -p "$root$(dirname "$lib")" && cp -L "$lib" "$root$lib"; fi
    done
  fi
  [ -z "$probe" ] || cp "$probe" "$root/bin/devopen"
  cat > "$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t tmpfs tmpfs /tmp
echo "TANK-GUEST kernel $(uname -r); cgroup2 controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
[ -x /bin/tank-helper ] && export TANK_HELPER=/bin/tank-helper
cd /tmp && /bin/node /guest.mjs
echo "TANK-GUEST done $?"
poweroff -f
INIT
  chmod +x "$root/init"
  (cd "$root" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1 > "$work/initrd")
  timeout 240 qemu-system-x86_64 -accel tcg -m 1024 -smp 1 -nographic -no-reboot \
    -kernel "$KERNEL" -initrd "$work/initrd" \
    -append "console=ttyS0 cgroup_no_v1=all panic=-1 quiet loglevel=3" </dev/null
  ;;
*)
  echo "usage: $0 fetch|check|run BUNDLE.mjs" >&2
  exit 2
  ;;
esac
