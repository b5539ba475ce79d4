#!/bin/sh
# Runs INSIDE the nested rig (started by `bench/run-rig-bench firmware-debian`). Side by side, in
# this one run: whole Debian 12 systems booted through firmware to their serial `login:` prompt
# by Haven, by QEMU -M pc and by QEMU -M q35 (issue 17):
#   bios  debian-bios.img (MBR, GRUB i386-pc, ext4 root) as /dev/vda, Debian's SeaBIOS
#         (bios-256k.bin)
#   uefi  debian-uefi.img (GPT, FAT16 ESP with GRUB x86_64-efi, ext4 root) as /dev/vdb, Debian's
#         OVMF (OVMF_CODE_4M.fd; a fresh copy of OVMF_VARS_4M.fd per QEMU run, and Haven's
#         default: a variable store copied from that template in memory, each run)
# (tools/rig/build-firmware-guests --full; run-rig-bench attaches both as the outer machine's
# virtio disks.) All three: the disk as virtio-blk (PCI), each VMM's default caching, the same
# CPUs (1, or 2 when the outer machine has 2: HAVEN_RIG_CPUS; BENCH_CPUS overrides), 1 GiB,
# serial console on stdout. QEMU: -accel kvm -cpu host -nodefaults, graphics=off (SeaBIOS's
# console on the serial port, as Haven's etc/sercon-port does; OVMF uses it by itself), and
# under OVMF -global kvm-pit.lost_tick_policy=discard (BENCH_QEMU_PIT; below).
#
# The same disk every run. The guest writes to its root disk (journal, random seed, the UEFI
# disk's boot entry...), so a read-only disk would boot a different system (systemd remounting
# / read-write fails), and the outer machine's overlay of the image cannot be reset from in
# here. So each run gets a fresh device-mapper snapshot of the untouched disk: a non-persistent
# `snapshot` target over /dev/vdX, its copy-on-write store a loop device on a sparse file in
# this machine's tmpfs (RAM), made before the run and thrown away after it. Reads of unwritten
# blocks go straight to /dev/vdX; what the guest writes lands in RAM; the next run starts
# from the pristine disk again. It costs every VMM the same thin layer. The whole disk is read
# once first (warming the host's cache of the image), and this machine's caches are dropped
# before each run, so every run reads its disk the same way.
#
# The runs alternate Haven, QEMU pc, QEMU q35, Haven... For each: time from the VMM's start to
# its first byte on stdout (the firmware's first serial output; the VMMs' own messages go to
# stderr, kept apart), to the milestones its console shows (the firmware handing over to the
# boot loader: SeaBIOS's "Booting from Hard Disk", OVMF's "BdsDxe: starting"; GRUB starting
# the entry: "Booting `"; on UEFI GRUB jumping to the kernel: "Booting in blind mode"; the
# Debian kernel and initramfs run with `quiet`, so nothing more before getty), to `login:`,
# and its peak RSS up to then (ru_maxrss). At `login:` the VMM is killed: nothing after is
# measured. Prints per-run lines (with what the guest wrote: the snapshot's use, in sectors),
# medians, and Haven/QEMU-pc and Haven/QEMU-q35 ratios, the failures each guest showed
# (systemd's "[FAILED]" lines; the image's HAVEN-FAILED-UNITS= report when it came before
# login:) and run 1's console timeline of each VMM (each line's time: when its text began).
# A run without `login:` within BENCH_TIMEOUT seconds, or with the wrong firmware on its
# console, fails the bench.
# env: BENCH_RUNS (3), BENCH_TIMEOUT (900 s a boot), BENCH_FIRMWARES ("bios uefi"), BENCH_CPUS,
# BENCH_QEMU_PIT (discard; delay is QEMU's default).
set -u
runs=${BENCH_RUNS:-3}
limit=${BENCH_TIMEOUT:-900}
firmwares=${BENCH_FIRMWARES:-bios uefi}
cpus=${BENCH_CPUS:-$(grep -c '^processor' /proc/cpuinfo)}
[ "$cpus" -gt 2 ] && cpus=2
memory=1G
marker=login:
modules=/bench/modules
seabios=/usr/share/seabios/bios-256k.bin
ovmf_code=/usr/share/OVMF/OVMF_CODE_4M.fd
ovmf_vars=/usr/share/OVMF/OVMF_VARS_4M.fd
qemu="qemu-system-x86_64 -L /qemu -accel kvm -cpu host -nodefaults -no-user-config -display none
  -smp $cpus -m $memory -serial stdio -no-reboot"
vmms="haven qemu-pc qemu-q35"
# QEMU's in-kernel PIT under OVMF: missed ticks dropped, as Haven's machine does for a UEFI guest
# (KVM_REINJECT_CONTROL, docs/RIG.md), so that both guests get the same timer; QEMU's default,
# delay, delivers late ticks back to back. (Neither made the rig's outer-QEMU crash rarer: most
# of QEMU's OVMF boots in the rig end in it, docs/PERFORMANCE.md.)
qemu_uefi_pit=${BENCH_QEMU_PIT:-discard}
snap=bench-disk
carried=/bench/carried-runs # records of runs an earlier rig boot finished (run-rig-bench)
export DM_DISABLE_UDEV=1 # no udev here: dmsetup makes /dev/mapper/* itself

for file in "$seabios" "$ovmf_code" "$ovmf_vars"; do
  [ -f "$file" ] || { echo "bench: no $file in the rig" >&2; exit 1; }
done
command -v dmsetup >/dev/null || { echo "bench: no dmsetup in the rig" >&2; exit 1; }
for module in dm-mod dm-bufio dm-snapshot; do
  [ -d "/sys/module/$(echo "$module" | tr - _)" ] && continue
  insmod "$modules/$module.ko" || { echo "bench: insmod $module failed" >&2; exit 1; }
done

field() { sed -n "s/.*\"$2\":\([0-9.]*\).*/\1/p" "$1"; }
median() { sort -n "$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b > 0) printf "%.2f", a / b; else print "n/a" }'; }
# clean: console text without escape sequences and carriage returns (busybox sed knows no \x1b).
esc=$(printf '\033')
clean() { tr -d '\r' | sed "s/${esc}\[[0-9;?=]*[A-Za-z]//g; s/${esc}[()][A-Z0-9]//g; s/${esc}[c78=>]//g; s/${esc}//g"; }
# milestone TIMES REGEX: the time (ms) of the first console line matching REGEX, or nothing.
milestone() { clean <"$1" | grep -m 1 -E "^[0-9]+	.*($2)" | cut -f 1; }
# The milestones of FIRMWARE: "name|regex" lines, in boot order.
milestones() {
  if [ "$1" = bios ]; then
    echo 'handover|Booting from Hard Disk'
  else
    echo 'handover|BdsDxe: starting'
  fi
  echo 'grub|Booting `'
  [ "$1" = uefi ] && echo 'kernel|Booting in blind mode'
}
milestone_name() {
  case "$1" in
    handover) [ "$2" = bios ] && echo '"Booting from Hard Disk" (SeaBIOS done)' ||
      echo '"BdsDxe: starting" (OVMF done)' ;;
    grub) echo 'GRUB "Booting `Debian..."' ;;
    kernel) echo 'GRUB "Booting in blind mode"' ;;
  esac
}

# snap_up ORIGIN: a fresh snapshot of ORIGIN at /dev/mapper/$snap; snap_down: gone again.
snap_up() {
  rm -f /tmp/bench-cow.img
  dd if=/dev/zero of=/tmp/bench-cow.img bs=1M count=0 seek=1024 2>/dev/null
  loop=$(losetup -f) && losetup "$loop" /tmp/bench-cow.img || return 1
  sectors=$(blockdev --getsz "$1") || return 1
  echo "0 $sectors snapshot $1 $loop N 8" | dmsetup create "$snap" || return 1
  [ -b "/dev/mapper/$snap" ] || dmsetup mknodes "$snap"
  [ -b "/dev/mapper/$snap" ]
}
# snap_used: the copy-on-write store's use, "USED/TOTAL" sectors (what the guest wrote).
snap_used() { dmsetup status "$snap" | awk '{ print $4 }'; }
snap_down() {
  dmsetup remove "$snap" 2>/dev/null || { sleep 1; dmsetup remove "$snap"; }
  losetup -d "$loop"
  rm -f /tmp/bench-cow.img
}

# one FIRMWARE VMM RUN: boots once to login:, appends its metrics to /tmp/fd-FIRMWARE-VMM.*.
one() {
  fw=$1 vmm=$2 i=$3
  label=fd-$fw-$vmm
  origin=/dev/vda
  [ "$fw" = uefi ] && origin=/dev/vdb
  sync
  echo 3 >/proc/sys/vm/drop_caches
  snap_up "$origin" || { echo "bench: no snapshot of $origin (dmsetup)" >&2; return 1; }
  disk=/dev/mapper/$snap
  if [ "$vmm" = haven ]; then
    set -- haven run --firmware "$fw" --disk "path=$disk" --cpus "$cpus" --memory "$memory"
  else
    if [ "$fw" = bios ]; then
      set -- -bios "$seabios"
    else
      cp "$ovmf_vars" /tmp/fd-vars.fd
      set -- -drive "if=pflash,format=raw,unit=0,readonly=on,file=$ovmf_code" \
        -drive "if=pflash,format=raw,unit=1,file=/tmp/fd-vars.fd" \
        -global "kvm-pit.lost_tick_policy=$qemu_uefi_pit"
    fi
    # shellcheck disable=SC2086 # $qemu is a word list
    set -- $qemu -M "${vmm#qemu-},graphics=off" "$@" \
      -drive "file=$disk,if=none,id=disk0,format=raw" -device virtio-blk-pci,drive=disk0
  fi
  : >"/tmp/$label.err"
  haven-boot-timer --label "$label" --marker "$marker" --kill-at-marker --runs 1 \
    --timeout "$limit" --stderr "/tmp/$label.err" --log "/tmp/$label.log" \
    --timestamps "/tmp/$label.ts" -- "$@" >"/tmp/$label.json"
  status=$?
  used=$(snap_used)
  snap_down
  if [ "$status" != 0 ]; then
    echo "bench: $fw $vmm run $i failed (no $marker within $limit s?); its console and stderr:" >&2
    tail -c 2000 "/tmp/$label.log" >&2
    tail -n 20 "/tmp/$label.err" >&2
    return 1
  fi
  want=SeaBIOS
  [ "$fw" = uefi ] && want=BdsDxe
  if ! grep -q "$want" "/tmp/$label.log" || { [ "$fw" = uefi ] && grep -q SeaBIOS "/tmp/$label.log"; }; then
    echo "bench: $fw $vmm run $i: no \"$want\" on the console: the wrong firmware?" >&2
    return 1
  fi
  cat "/tmp/$label.json" >>/tmp/bench.jsonl
  times=
  for entry in $(milestones "$fw" | tr ' ' '~'); do
    t=$(milestone "/tmp/$label.ts" "$(echo "${entry#*|}" | tr '~' ' ')")
    times="$times ${entry%%|*}=${t:--}"
  done
  # systemd's "[FAILED] Failed to start ..." (shown even with quiet), and the test image's own
  # report of failed units when it came before login:
  failed=$(clean <"/tmp/$label.log" | grep -c 'FAILED\]')
  report=$(clean <"/tmp/$label.log" | sed -n 's/.*HAVEN-FAILED-UNITS=\([^ ]*\).*/\1/p' | head -n 1)
  # The run's record, on the console too: run-rig-bench hands the records of a rig boot that
  # crashed (the outer QEMU's bug) to the next one, which goes on from there.
  rec="BENCH-RUN $fw $vmm $i first=$(field "/tmp/$label.json" median_first_output_ms)$times"
  rec="$rec login=$(field "/tmp/$label.json" median_marker_ms)"
  rec="$rec rss=$(field "/tmp/$label.json" median_rss_kib) failed=$failed units=${report:--} cow=$used"
  echo "$rec"
  record "$rec" ""
  if [ "$i" = 1 ]; then
    clean <"/tmp/$label.ts" | grep '	.*[A-Za-z]\{3\}' | cut -c 1-100 | head -n 40 \
      >"/tmp/$label.first.ts"
    sed "s/^/BENCH-TS $fw $vmm /" "/tmp/$label.first.ts"
  fi
  return 0
}

# record "BENCH-RUN FW VMM RUN first=MS handover=MS ... login=MS rss=KIB failed=N units=U cow=C"
#   [NOTE]: appends the run's figures to /tmp/fd-FW-VMM.KEY, prints its line, marks it done.
record() {
  note=${2:-}
  # shellcheck disable=SC2086 # a word list
  set -- $1
  fw=$2 vmm=$3 i=$4 label=fd-$2-$3
  shift 4
  line="  $(printf '%-4s %-8s run %s:' "$fw" "$vmm" "$i")"
  for pair in "$@"; do
    key=${pair%%=*} value=${pair#*=}
    [ "$value" = - ] || echo "$value" >>"/tmp/$label.$key"
    case "$key" in
      first | login) line="$line $(printf '%s %6.0f ms' "$key" "$value")" ;;
      rss) line="$line  RSS $value KiB" ;;
      failed) line="$line  [FAILED] $value" ;;
      *) line="$line $key $value" ;;
    esac
  done
  echo "$line$note"
  touch "/tmp/fd-done-$fw-$vmm-$i"
}

# row NAME METRIC: the medians of METRIC for the three VMMs and Haven's ratios to both QEMUs.
row() {
  h=$(median "/tmp/fd-$fw-haven.$2" 2>/dev/null)
  p=$(median "/tmp/fd-$fw-qemu-pc.$2" 2>/dev/null)
  q=$(median "/tmp/fd-$fw-qemu-q35.$2" 2>/dev/null)
  printf '  %-44s %9.0f %9.0f %9.0f %10s %10s\n' "$1" "$h" "$p" "$q" "$(ratio "$h" "$p")" \
    "$(ratio "$h" "$q")"
}

: >/tmp/bench.jsonl
for fw in $firmwares; do
  case "$fw" in
    bios) what="SeaBIOS bios-256k.bin, debian-bios.img (/dev/vda)"; origin=/dev/vda ;;
    uefi) what="OVMF_CODE_4M.fd, debian-uefi.img (/dev/vdb)"; origin=/dev/vdb ;;
    *) echo "bench: unknown firmware '$fw' in BENCH_FIRMWARES" >&2; exit 2 ;;
  esac
  [ -b "$origin" ] || { echo "bench: no $origin (run-rig-bench attaches the Debian disks)" >&2; exit 1; }
  header=$(dd if="$origin" bs=512 skip=1 count=1 2>/dev/null | head -c 8)
  if { [ "$fw" = uefi ] && [ "$header" != "EFI PART" ]; } || { [ "$fw" = bios ] && [ "$header" = "EFI PART" ]; }; then
    echo "bench: $origin is not the $fw disk (sector 1: '$header')" >&2
    exit 1
  fi
  echo "== $fw: $what; Haven vs QEMU -M pc vs QEMU -M q35, $cpus vCPU, $memory, to \"$marker\";" \
    "$runs runs each, alternating"
  start=$(cut -d' ' -f1 /proc/uptime)
  dd if="$origin" of=/dev/null bs=1M 2>/dev/null
  echo "  read $origin once to warm the host's cache: $(awk -v a="$start" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { printf "%.0f", b - a }') s"
  for vmm in $vmms; do
    rm -f /tmp/fd-"$fw"-"$vmm".* /tmp/fd-done-"$fw"-"$vmm"-*
  done
  # The runs an earlier rig boot finished before the outer QEMU crashed (run-rig-bench).
  if [ -f "$carried" ]; then
    tr -d '\r' <"$carried" | grep "^BENCH-RUN $fw " | while read -r rec; do
      record "$rec" "  (an earlier rig boot)"
    done
    for vmm in $vmms; do
      tr -d '\r' <"$carried" | sed -n "s/^BENCH-TS $fw $vmm //p" >>"/tmp/fd-$fw-$vmm.first.ts"
    done
  fi
  i=0
  while [ "$i" -lt "$runs" ]; do
    i=$((i + 1))
    for vmm in $vmms; do
      [ -e "/tmp/fd-done-$fw-$vmm-$i" ] && continue
      one "$fw" "$vmm" "$i" || exit 1
    done
  done
  printf '  %-44s %9s %9s %9s %10s %10s\n' "medians of $runs (ms; RSS KiB)" haven qemu-pc qemu-q35 \
    haven/pc haven/q35
  row "(a) first serial byte (firmware)" first
  for entry in $(milestones "$fw" | tr ' ' '~'); do
    name=${entry%%|*}
    # only a milestone every run of every VMM showed
    n=$(cat /tmp/fd-"$fw"-*."$name" 2>/dev/null | wc -l)
    [ "$n" = $((runs * 3)) ] && row "    $(milestone_name "$name" "$fw")" "$name"
  done
  row "(b) login:" login
  row "(c) VMM peak RSS to login:" rss
  echo "  systemd's \"[FAILED]\" lines on the console, per run; the image's HAVEN-FAILED-UNITS= when" \
    "it came before login:"
  for vmm in $vmms; do
    echo "    $vmm: [FAILED] $(tr '\n' ' ' <"/tmp/fd-$fw-$vmm.failed"); HAVEN-FAILED-UNITS=" \
      "$(sort "/tmp/fd-$fw-$vmm.units" 2>/dev/null | uniq -c | awk '{ printf "%s%s x%s", n++ ? ", " : "", $2, $1 }')"
  done
  for vmm in $vmms; do
    echo "  run 1 of $vmm, console lines with text (ms from the VMM's start):"
    sed 's/^/    /' "/tmp/fd-$fw-$vmm.first.ts"
  done
done
