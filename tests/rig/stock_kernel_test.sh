#!/bin/sh
# Integration tests that boot Debian's stock kernel with Haven. They run INSIDE the nested rig
# (real KVM on an emulated EPYC), started by tools/rig/run-tests; busybox sh, no bash.
# /guest/vmlinuz is the stock bzImage, /guest/vmlinux the same kernel as an ELF (PVH entry),
# /guest/initrd.cpio.gz the busybox guest whose /init prints HAVEN-GUEST-* markers.
set -u
out=/tmp/stock-kernel.out
. "$(dirname "$0")/lib.sh"

# mem_between NAME LOW_KIB HIGH_KIB: the guest's MemTotal is in range.
mem_between() {
  kib=$(sed -n 's/.*HAVEN-GUEST-MEM-KIB=\([0-9]*\).*/\1/p' "$out" | head -n 1)
  if [ -z "$kib" ] || [ "$kib" -lt "$2" ] || [ "$kib" -gt "$3" ]; then
    fail "$1: guest MemTotal ${kib:-?} KiB not in [$2, $3]"
    return 1
  fi
}

for image in vmlinuz vmlinux; do
  name="stock $image, 2 CPUs, 512M"
  if boot "$name" 0 --kernel /guest/$image --initrd /guest/initrd.cpio.gz --cpus 2 \
    --memory 512M --cmdline "$base_cmdline"; then
    has "$name" "HAVEN-GUEST-CPUS=2" && has "$name" "HAVEN-GUEST-READY" &&
      has "$name" "HAVEN-GUEST-PCI=0x1b36:0x0008" &&
      mem_between "$name" 440000 524288 && echo "ok: $name"
  fi
done

# Above 4 GiB: RAM split around the PCI hole; the guest must see (nearly) all of it. The rig
# has less than 5 GiB, which the guest never touches: allowed explicitly.
name="stock vmlinuz, 1 CPU, 5G"
if boot "$name" 0 --kernel /guest/vmlinuz --initrd /guest/initrd.cpio.gz --cpus 1 \
  --memory 5G --memory-overcommit 100 --cmdline "$base_cmdline"; then
  has "$name" "HAVEN-GUEST-READY" && mem_between "$name" 5000000 5242880 && echo "ok: $name"
fi

# The same machine from a JSON VM config.
cat >/tmp/vm.json <<JSON
{"kernel": "/guest/vmlinuz", "initrd": "/guest/initrd.cpio.gz", "cmdline": "$base_cmdline",
 "memory": "384M", "cpus": 2}
JSON
name="stock vmlinuz from a JSON config"
if boot "$name" 0 --config /tmp/vm.json; then
  has "$name" "HAVEN-GUEST-CPUS=2" && mem_between "$name" 300000 393216 && echo "ok: $name"
fi

name="guest kernel panic"
if boot "$name" 4 --kernel /guest/vmlinuz --initrd /guest/initrd.cpio.gz --memory 256M \
  --cmdline "$base_cmdline haven.action=panic"; then
  has "$name" "the guest kernel panicked" && echo "ok: $name"
fi

name="guest triple fault (reboot=t)"
if boot "$name" 3 --kernel /guest/vmlinuz --initrd /guest/initrd.cpio.gz --memory 256M \
  --cmdline "$base_cmdline haven.action=reboot reboot=t"; then
  has "$name" "triple fault on vCPU 0 (rip=" && echo "ok: $name"
fi

name="guest reboot, default method, on_reboot exit"
if boot "$name" 5 --kernel /guest/vmlinuz --initrd /guest/initrd.cpio.gz --memory 256M \
  --cpus 2 --cmdline "$base_cmdline haven.action=reboot"; then
  has "$name" "the guest asked for a reset" && echo "ok: $name"
fi

# --on-reboot restart: the guest reboots, Haven builds the machine afresh, the guest boots again
# (and again): once two READY markers are out, SIGTERM stops Haven (128+15). The test waits
# for the markers rather than a fixed time: a boot takes 12 s here when the host is idle and
# over 40 s when it is busy (a fixed 45 s window failed in CI that way).
name="guest reboot with --on-reboot restart"
start=$(date +%s)
haven run --kernel /guest/vmlinuz --initrd /guest/initrd.cpio.gz --memory 256M \
  --on-reboot restart --cmdline "$base_cmdline haven.action=reboot" </dev/null >"$out" 2>&1 &
pid=$!
while kill -0 "$pid" 2>/dev/null && [ "$(grep -c HAVEN-GUEST-READY "$out")" -lt 2 ] &&
  [ $(($(date +%s) - start)) -lt 240 ]; do
  sleep 1
done
kill -TERM "$pid" 2>/dev/null
waited=0
while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt 20 ]; do
  sleep 1
  waited=$((waited + 1))
done
kill -0 "$pid" 2>/dev/null && { show_stuck "$pid"; kill -KILL "$pid"; }
wait "$pid"
status=$?
boots=$(grep -c HAVEN-GUEST-READY "$out")
echo "$name: $boots boots, exit $status after $(($(date +%s) - start)) s"
if [ "$boots" -ge 2 ] && [ "$status" = 143 ]; then
  echo "ok: $name"
else
  fail "$name: $boots boots (want >= 2), exit $status (want 143, SIGTERM)"
fi

[ "$failures" = 0 ] || { echo "$failures stock-kernel check(s) failed"; exit 1; }
echo "all stock-kernel checks passed"
