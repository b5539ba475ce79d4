#!/bin/sh
# Runs INSIDE the nested rig (started by `bench/run-rig-bench firmware`). Side by side, in this
# one run: the same GRUB disk booted through firmware by Haven and by QEMU/KVM, to the guest
# initramfs's HAVEN-GUEST-READY (it then powers off):
#   bios  grub-bios.img (MBR, GRUB i386-pc) under Debian's SeaBIOS (bios-256k.bin)
#   uefi  grub-uefi.img (GPT + ESP, GRUB x86_64-efi) under Debian's OVMF (OVMF_CODE_4M.fd and a
#         fresh copy of OVMF_VARS_4M.fd per QEMU run; Haven copies the template itself)
# Both: the disk as virtio-blk (read-only for both: the guest writes nothing to it, and a stray
# write must not change the next run's disk), 1 vCPU, 256 MiB, serial console on stdout.
# QEMU: -M pc (an i440FX/PIIX PC, as Haven's machine is) for both firmwares, graphics=off so
# that SeaBIOS puts its console on the serial port (Haven gives it etc/sercon-port; OVMF uses
# the serial port by itself), -nodefaults, -accel kvm -cpu host, its default cache and aio.
# The runs alternate Haven, QEMU, Haven, QEMU... For each: time from the process's start to
# its first byte on stdout (the firmware's first serial output; the VMMs' own messages go to
# stderr, kept apart), to HAVEN-GUEST-READY, to its exit, and its peak RSS (ru_maxrss, as in
# boot_compare.sh). Prints medians and Haven/QEMU ratios. A run that fails (no marker within
# BENCH_TIMEOUT seconds, a non-zero exit, the wrong firmware) fails the bench.
# env: BENCH_RUNS (3), BENCH_TIMEOUT (600 s per boot), BENCH_FIRMWARES ("bios uefi").
set -u
runs=${BENCH_RUNS:-3}
limit=${BENCH_TIMEOUT:-600}
firmwares=${BENCH_FIRMWARES:-bios uefi}
memory=256M
marker=HAVEN-GUEST-READY
images=/bench
seabios=/usr/share/seabios/bios-256k.bin
ovmf_code=/usr/share/OVMF/OVMF_CODE_4M.fd
ovmf_vars=/usr/share/OVMF/OVMF_VARS_4M.fd
qemu="qemu-system-x86_64 -L /qemu -accel kvm -cpu host -nodefaults -no-user-config -display none
  -M pc,graphics=off -smp 1 -m $memory -serial stdio -no-reboot"
metrics="first_output marker exit rss"

for file in "$seabios" "$ovmf_code" "$ovmf_vars" "$images/grub-bios.img" "$images/grub-uefi.img"; do
  [ -f "$file" ] || { echo "bench: no $file in the rig" >&2; exit 1; }
done

field() { sed -n "s/.*\"$2\":\([0-9.]*\).*/\1/p" "$1"; }
median() { sort -n "$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
# first_text LOG: the first line of console text with a word in it (escape sequences dropped).
first_text() {
  tr -d '\r' <"$1" | tr '\033' '\n' | sed 's/^\[[0-9;?]*[A-Za-z]//' | grep -m 1 '[A-Za-z]\{4\}' | cut -c 1-60
}

# one FIRMWARE VMM RUN: boots once, appends each metric to /tmp/fw-FIRMWARE-VMM.METRIC.
one() {
  fw=$1 vmm=$2 i=$3
  label=fw-$fw-$vmm
  image=$images/grub-$fw.img
  if [ "$vmm" = haven ]; then
    set -- haven run --firmware "$fw" --disk "path=$image,readonly=on" --cpus 1 --memory "$memory"
  else
    if [ "$fw" = bios ]; then
      set -- -bios "$seabios"
    else
      cp "$ovmf_vars" /tmp/fw-vars.fd
      set -- -drive "if=pflash,format=raw,unit=0,readonly=on,file=$ovmf_code" \
        -drive "if=pflash,format=raw,unit=1,file=/tmp/fw-vars.fd"
    fi
    # shellcheck disable=SC2086 # $qemu is a word list
    set -- $qemu "$@" -drive "file=$image,if=none,id=disk0,format=raw,readonly=on" \
      -device virtio-blk-pci,drive=disk0
  fi
  : >"/tmp/$label.err"
  if ! haven-boot-timer --label "$label" --marker "$marker" --runs 1 --timeout "$limit" \
    --stderr "/tmp/$label.err" --log "/tmp/$label.log" -- "$@" >"/tmp/$label.json"; then
    echo "bench: $fw $vmm run $i failed (no $marker within $limit s?); its console and stderr:" >&2
    tail -c 2000 "/tmp/$label.log" >&2
    tail -n 20 "/tmp/$label.err" >&2
    return 1
  fi
  status=$(sed -n 's/.*"exit_status":\[\([0-9]*\)\].*/\1/p' "/tmp/$label.json")
  efi=$(tr -d '\r' <"/tmp/$label.log" | sed -n 's/.*HAVEN-GUEST-EFI=\([a-z]*\).*/\1/p' | head -n 1)
  want=no
  [ "$fw" = uefi ] && want=yes
  if [ "$status" != 0 ] || [ "$efi" != "$want" ]; then
    echo "bench: $fw $vmm run $i: exit status $status, HAVEN-GUEST-EFI=$efi (wanted 0, $want)" >&2
    tail -n 20 "/tmp/$label.err" >&2
    return 1
  fi
  cat "/tmp/$label.json" >>/tmp/bench.jsonl
  for metric in first_output marker exit rss; do
    case "$metric" in
      rss) field "/tmp/$label.json" median_rss_kib ;;
      *) field "/tmp/$label.json" "median_${metric}_ms" ;;
    esac >>"/tmp/$label.$metric"
  done
  [ "$i" = 1 ] && cp "/tmp/$label.log" "/tmp/$label.first.log"
  printf '  %-5s %-5s run %s: first byte %8.0f ms  ready %8.0f ms  exit %8.0f ms  RSS %7s KiB\n' \
    "$fw" "$vmm" "$i" "$(field "/tmp/$label.json" median_first_output_ms)" \
    "$(field "/tmp/$label.json" median_marker_ms)" "$(field "/tmp/$label.json" median_exit_ms)" \
    "$(field "/tmp/$label.json" median_rss_kib)"
}

: >/tmp/bench.jsonl
for fw in $firmwares; do
  case "$fw" in
    bios) what="SeaBIOS bios-256k.bin, grub-bios.img (MBR, GRUB i386-pc)" ;;
    uefi) what="OVMF_CODE_4M.fd, grub-uefi.img (GPT + ESP, GRUB x86_64-efi)" ;;
    *) echo "bench: unknown firmware '$fw' in BENCH_FIRMWARES" >&2; exit 2 ;;
  esac
  echo "== $fw: $what; Haven vs QEMU -M pc, 1 vCPU, $memory; $runs runs each, alternating"
  for vmm in haven qemu; do
    for metric in $metrics; do : >"/tmp/fw-$fw-$vmm.$metric"; done
  done
  i=0
  while [ "$i" -lt "$runs" ]; do
    i=$((i + 1))
    one "$fw" haven "$i" || exit 1
    one "$fw" qemu "$i" || exit 1
  done
  echo "  first console text: haven \"$(first_text "/tmp/fw-$fw-haven.first.log")\""
  echo "                      qemu  \"$(first_text "/tmp/fw-$fw-qemu.first.log")\""
  printf '  %-34s %10s %10s %12s\n' "medians of $runs" haven qemu haven/qemu
  for metric in $metrics; do
    case "$metric" in
      first_output) name="(a) first serial byte (ms)" ;;
      marker) name="(b) $marker (ms)" ;;
      exit) name="    VMM exit (ms)" ;;
      rss) name="(c) VMM peak RSS (KiB)" ;;
    esac
    h=$(median "/tmp/fw-$fw-haven.$metric")
    q=$(median "/tmp/fw-$fw-qemu.$metric")
    printf '  %-34s %10.0f %10.0f %12s\n' "$name" "$h" "$q" "$(ratio "$h" "$q")"
  done
done
