#!/bin/sh
# Runs INSIDE the nested rig (started by `bench/run-rig-bench disk`). Side by side, in this one
# run: the guest init's timed dd runs on /dev/vda (haven.ddbench=MIB, see tools/rig/guest-init)
# with Debian's stock kernel on Haven's virtio-blk and on QEMU q35's virtio-blk-pci (aio=io_uring
# and aio=threads), same kernel, initramfs, image, memory and CPUs. The image lives in the
# outer machine's tmpfs (it has no disk), so both VMMs read and write the page cache; the
# guest uses O_DIRECT, so every request crosses the VMM. Prints medians and ratios.
set -u
runs=${BENCH_RUNS:-3}
mib=${BENCH_DD_MIB:-32}
kernel=/guest/vmlinuz
initrd=/guest/initrd.cpio.gz
cmdline="console=ttyS0 panic=-1 quiet haven.ddbench=$mib"
memory=512M
cpus=2
image=/tmp/bench.img
qemu="qemu-system-x86_64 -L /qemu -accel kvm -cpu host -nodefaults -no-user-config -display none"
metrics="SEQREAD-1M SEQWRITE-1M READ-4K-QD1 READ-4K-X4"

dd if=/dev/urandom of="$image" bs=1M count="$mib" 2>/dev/null

# run LABEL COMMAND...: boots RUNS times, keeps each metric's seconds in /tmp/LABEL.METRIC.
run() {
  label=$1
  shift
  for metric in $metrics; do : >"/tmp/$label.$metric"; done
  i=0
  while [ "$i" -lt "$runs" ]; do
    i=$((i + 1))
    start=$(cut -d' ' -f1 /proc/uptime)
    if ! timeout -k 30 600 "$@" </dev/null >"/tmp/$label.out" 2>&1; then
      echo "bench: $label run $i failed or hung (10 min); its output:" >&2
      tail -20 "/tmp/$label.out" >&2
      return 1
    fi
    for metric in $metrics; do
      value=$(tr -d '\r' <"/tmp/$label.out" | sed -n "s/^HAVEN-GUEST-DD-$metric=\([0-9.]*\)$/\1/p")
      if [ -z "$value" ]; then
        echo "bench: $label run $i gave no $metric; its output:" >&2
        tail -20 "/tmp/$label.out" >&2
        return 1
      fi
      echo "$value" >>"/tmp/$label.$metric"
    done
    echo "  $label run $i: $(awk -v a="$start" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { printf "%.0f", b - a }') s"
  done
  # The guest's clocksource and disk interrupts (the last run's), to explain a difference.
  tr -d '\r' <"/tmp/$label.out" | sed -n "s/^HAVEN-GUEST-\(CLOCKSOURCE\|IRQ\)=/  $label \1: /p"
}

median() { sort -n "$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# rate LABEL METRIC: MB/s for the 1 MiB runs, IOPS for the 4 KiB ones, from the median seconds.
rate() {
  seconds=$(median "/tmp/$1.$2")
  case "$2" in
    *-1M) awk -v s="$seconds" -v m="$mib" 'BEGIN { printf "%.1f", m * 1.048576 / s }' ;;
    READ-4K-QD1) awk -v s="$seconds" -v m="$mib" 'BEGIN { printf "%.0f", m * 64 / s }' ;;
    READ-4K-X4) awk -v s="$seconds" -v m="$mib" 'BEGIN { printf "%.0f", m * 256 / s }' ;;
  esac
}

echo "== dd inside the guest on /dev/vda, O_DIRECT, $mib MiB image, $runs runs each, medians"
run haven haven run --kernel "$kernel" --initrd "$initrd" --cmdline "$cmdline" \
  --memory "$memory" --cpus "$cpus" --disk "path=$image" || exit 1
for aio in io_uring threads; do
  run "qemu-$aio" $qemu -M q35 -smp "$cpus" -m "$memory" -serial stdio -no-reboot \
    -kernel "$kernel" -initrd "$initrd" -append "$cmdline" \
    -drive "file=$image,if=none,id=d0,format=raw,cache=writeback,aio=$aio" \
    -device virtio-blk-pci,drive=d0 || exit 1
done

printf '  %-30s %12s %16s %16s %10s %10s\n' "workload" "haven" "qemu io_uring" "qemu threads" \
  "h/q-uring" "h/q-thr"
for metric in $metrics; do
  case "$metric" in
    *-1M) unit="MB/s" ;;
    *) unit="IOPS" ;;
  esac
  h=$(rate haven "$metric")
  u=$(rate qemu-io_uring "$metric")
  t=$(rate qemu-threads "$metric")
  printf '  %-30s %12s %16s %16s %10s %10s\n' "$metric ($unit)" "$h" "$u" "$t" \
    "$(awk -v a="$h" -v b="$u" 'BEGIN { printf "%.2f", a / b }')" \
    "$(awk -v a="$h" -v b="$t" 'BEGIN { printf "%.2f", a / b }')"
done
