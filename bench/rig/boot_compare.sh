#!/bin/sh
# Runs INSIDE the nested rig (started by bench/run-rig-bench). Side by side, in this one run:
#  1. a tiny guest that powers off at once: haven-vmm vs QEMU microvm, process start to exit
#     (QEMU with isa-debug-exit on the same port), plus Haven's own start-to-first-exit time;
#  2. Debian's stock kernel to the guest init's marker: Haven vs QEMU microvm vs QEMU q35,
#     same kernel, initramfs, memory and CPUs.
# Prints a table and the ratios; the JSON lines of haven-boot-timer go to /tmp/bench.jsonl.
set -u
runs=${BENCH_RUNS:-5}
tiny_runs=${BENCH_TINY_RUNS:-20}
kernel=/guest/vmlinuz
initrd=/guest/initrd.cpio.gz
cmdline="console=ttyS0 panic=-1 quiet"
memory=512M
cpus=2
qemu="qemu-system-x86_64 -L /qemu -accel kvm -cpu host -nodefaults -no-user-config -display none"
results=/tmp/bench.jsonl
: >"$results"

field() { sed -n "s/.*\"$2\":\([0-9.]*\).*/\1/p" "$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

# measure LABEL MARKER RUNS STATUS COMMAND...: appends the timer's JSON to $results, keeps it in
# /tmp/LABEL. Every run must exit with STATUS (the timer checks): a failed run is not a fast one,
# and fails the bench at the end (the other measurements still run, to show what they can).
failed=
measure() {
  label=$1 marker=$2 count=$3 status=$4
  shift 4
  if haven-boot-timer --label "$label" --marker "$marker" --runs "$count" --expect-status "$status" \
    -- "$@" >"/tmp/$label.json"; then
    cat "/tmp/$label.json" >>"$results"
  else
    echo "bench: $label failed" >&2
    echo '{}' >"/tmp/$label.json"
    failed="$failed $label"
  fi
}

echo "== tiny guest: process start to exit, $tiny_runs runs each, medians"
printf '{"kernel": "/tests/guests/poweroff.elf", "memory": "64M", "cpus": 1, "console": "none"}\n' \
  >/tmp/tiny.json
measure haven-tiny "" "$tiny_runs" 0 haven-vmm --config /tmp/tiny.json
measure haven-tiny-first-exit "first exit" "$tiny_runs" 0 haven-vmm -v --config /tmp/tiny.json
first_exit=$(haven-vmm -v --config /tmp/tiny.json 2>&1 | sed -n 's/.*first exit \([0-9.]*\) ms.*/\1/p')
# isa-debug-exit: QEMU exits with (0x34 << 1) | 1 = 105 for the guest's write of 0x34.
measure qemu-microvm-tiny "" "$tiny_runs" 105 $qemu -M microvm,acpi=off -m 64M \
  -device isa-debug-exit,iobase=0x600,iosize=1 -kernel /tests/guests/poweroff.elf
h=$(field /tmp/haven-tiny.json median_exit_ms)
q=$(field /tmp/qemu-microvm-tiny.json median_exit_ms)
echo "  haven-vmm       exit after ${h} ms, RSS $(field /tmp/haven-tiny.json median_rss_kib) KiB (first guest exit ${first_exit} ms after start, one sample)"
echo "  qemu microvm    exit after ${q} ms, RSS $(field /tmp/qemu-microvm-tiny.json median_rss_kib) KiB"
echo "  ratio qemu-microvm/haven: $(ratio "$q" "$h")"

echo "== stock kernel to HAVEN-GUEST-READY ($cpus CPUs, $memory), $runs runs each, medians"
measure haven-stock HAVEN-GUEST-READY "$runs" 0 haven run --kernel "$kernel" --initrd "$initrd" \
  --cmdline "$cmdline" --memory "$memory" --cpus "$cpus"
measure qemu-microvm-stock HAVEN-GUEST-READY "$runs" 0 $qemu -M microvm -smp "$cpus" -m "$memory" \
  -serial stdio -no-reboot -kernel "$kernel" -initrd "$initrd" -append "$cmdline"
measure qemu-q35-stock HAVEN-GUEST-READY "$runs" 0 $qemu -M q35 -smp "$cpus" -m "$memory" \
  -serial stdio -no-reboot -kernel "$kernel" -initrd "$initrd" -append "$cmdline"
h=$(field /tmp/haven-stock.json median_marker_ms)
m=$(field /tmp/qemu-microvm-stock.json median_marker_ms)
q=$(field /tmp/qemu-q35-stock.json median_marker_ms)
for label in haven-stock qemu-microvm-stock qemu-q35-stock; do
  printf '  %-20s marker %10s ms  exit %10s ms  RSS %8s KiB\n' "$label" \
    "$(field /tmp/$label.json median_marker_ms)" "$(field /tmp/$label.json median_exit_ms)" \
    "$(field /tmp/$label.json median_rss_kib)"
done
echo "  ratio qemu-microvm/haven: $(ratio "$m" "$h")   ratio qemu-q35/haven: $(ratio "$q" "$h")"
if [ -n "$failed" ]; then
  echo "bench: FAILED:$failed (their ratios are n/a)" >&2
  exit 1
fi
