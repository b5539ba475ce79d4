#!/bin/sh
# Runs INSIDE the nested rig (started by `bench/run-rig-bench instant`). Instant restore against
# a whole restore, in this one run, of a guest whose boot READS its disk: Debian's stock kernel
# with the rig's initramfs and haven.readtest=MIB (tools/rig/guest-init), which reads the first
# MIB MiB of /dev/vda, prints their SHA-256, then HAVEN-GUEST-READ-DONE, and powers off. The
# disk (BENCH_DISK_MIB, a quarter of it random bytes at its start, the rest a hole) is backed up
# into an encrypted repository once; then, BENCH_RUNS times each:
#   instant: `haven restore --instant` (the guest starts at once; what it reads is fetched from
#            the repository on demand while the rest fills in the background)
#   whole:   `haven restore` (the disk restored whole first, then the guest started)
# each timed by haven-boot-timer from the command to the guest's first console byte and to
# HAVEN-GUEST-READ-DONE (the console followed with `haven vm console`), the checksum compared
# with the source's. Prints medians and ratios.
set -u
runs=${BENCH_RUNS:-3}
read_mib=${BENCH_READ_MIB:-64}
disk_mib=${BENCH_DISK_MIB:-512}
data_mib=$((disk_mib / 4))
[ "$read_mib" -le "$data_mib" ] || { echo "bench: BENCH_READ_MIB is over the disk's data" >&2; exit 1; }
cmdline="console=ttyS0 panic=-1 quiet haven.readtest=$read_mib"
export HAVEN_SOCKET=/tmp/instant.sock HAVEN_PASSPHRASE=bench
repo=/tmp/instant-repo
state=/tmp/instant-state

havend --state "$state" --socket "$HAVEN_SOCKET" --no-cgroups --allow-path /guest --allow-path /tmp \
  >/tmp/instant-havend.log 2>&1 &
daemon=$!
i=0
until haven vm ls >/dev/null 2>&1; do
  i=$((i + 1))
  [ "$i" -lt 300 ] || { echo "bench: havend did not start" >&2; cat /tmp/instant-havend.log; exit 1; }
  sleep 0.1
done

dd if=/dev/urandom of=/tmp/source.img bs=1M count="$data_mib" 2>/dev/null
truncate -s "${disk_mib}M" /tmp/source.img
want=$(dd if=/tmp/source.img bs=1M count="$read_mib" 2>/dev/null | sha256sum | cut -d' ' -f1)
haven repo init --encrypt "$repo" >/dev/null || exit 1
snapshot=$(haven backup create --json --repo "$repo" /tmp/source.img --name source |
  sed -n 's/.*"id": *"\([0-9a-f]*\)".*/\1/p' | head -n 1)
[ -n "$snapshot" ] || { echo "bench: the backup failed" >&2; exit 1; }
rm -f /tmp/source.img  # restores come from the repository only
echo "== a ${disk_mib} MiB disk (${data_mib} MiB of data), the guest reading ${read_mib} MiB at boot;" \
  "snapshot $snapshot; $runs runs each"

field() { sed -n "s/.*\"$2\":\[\([0-9.]*\)\].*/\1/p" "$1"; }
# gone VM: a failed run's guest may still run (the timer killed only the console): kill and
# remove it, so it takes neither memory nor CPU from the runs after it.
gone() {
  haven vm kill "$1" >/dev/null 2>&1
  haven vm rm "$1" >/dev/null 2>&1
}
# run KIND I: one restore and boot; appends "first read_done" (ms) to /tmp/KIND.times.
failed=
run() {
  kind=$1 vm=$1-$2
  flags=
  [ "$kind" = instant ] && flags=--instant
  if ! haven-boot-timer --label "$vm" --marker HAVEN-GUEST-READ-DONE --runs 1 --timeout 300 \
    --log "/tmp/$vm.log" -- sh -c "haven restore --repo $repo $snapshot --name $vm $flags \
      --kernel /guest/vmlinuz --initrd /guest/initrd.cpio.gz --cmdline '$cmdline' \
      --memory 256M >/dev/null && exec haven vm console $vm" >"/tmp/$vm.json"; then
    echo "bench: $vm failed; its console:" >&2
    tail -c 2000 "/tmp/$vm.log" >&2
    failed="$failed $vm"
    gone "$vm"
    return 1
  fi
  sum=$(tr -d '\r' <"/tmp/$vm.log" | sed -n 's/^HAVEN-GUEST-READ-SHA256=\([0-9a-f]*\)$/\1/p')
  if [ "$sum" != "$want" ]; then
    echo "bench: $vm read '$sum', the disk holds $want" >&2
    failed="$failed $vm"
    gone "$vm"
    return 1
  fi
  printf '%.0f %.0f\n' "$(field "/tmp/$vm.json" first_output_ms)" \
    "$(field "/tmp/$vm.json" marker_ms)" >>"/tmp/$kind.times"
  haven vm rm "$vm" >/dev/null || { echo "bench: vm rm $vm failed" >&2; failed="$failed $vm"; }
}
: >/tmp/instant.times
: >/tmp/whole.times
i=0
while [ "$i" -lt "$runs" ]; do  # alternated, so drift in the host affects both alike
  i=$((i + 1))
  run instant "$i"
  run whole "$i"
done
kill "$daemon"

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.0f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
for kind in instant whole; do
  eval "${kind}_first=\$(cut -d' ' -f1 /tmp/$kind.times | median)"
  eval "${kind}_done=\$(cut -d' ' -f2 /tmp/$kind.times | median)"
  echo "  $kind runs (first output, read done; ms): $(tr '\n' ';' </tmp/$kind.times)"
done
printf '%-34s %12s %12s %12s\n' "medians (ms)" instant whole "whole/instant"
printf '%-34s %12s %12s %12s\n' "to the guest's first output" "$instant_first" "$whole_first" \
  "$(ratio "$whole_first" "$instant_first")"
printf '%-34s %12s %12s %12s\n' "to the end of its ${read_mib} MiB read" "$instant_done" "$whole_done" \
  "$(ratio "$whole_done" "$instant_done")"
if [ -n "$failed" ]; then
  echo "bench: FAILED:$failed" >&2
  exit 1
fi
