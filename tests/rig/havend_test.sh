#!/bin/sh
# havend with Debian's stock kernel, INSIDE the nested rig (busybox sh): three guests at once
# under one daemon, each with a disk of its own; typing into one's console; stopping one
# leaves the others running; a VMM killed with SIGKILL is reported as crashed; a guest that
# powers itself off is stopped, and its disk is sound afterwards. A snapshot: a guest counting
# in a loop (on its console and into a file on its disk) is snapshotted, its VMM killed, and
# the snapshot restored in a new one: the count goes on, the disk and the console still work.
set -u
out=/tmp/havend-rig.out
. "$(dirname "$0")/lib.sh"
state=/tmp/havend-state
export HAVEN_SOCKET=/tmp/havend.sock

console_has() { grep -q "$2" "$state/logs/$1.console" 2>/dev/null; }
booted() { console_has "$1" HAVEN-GUEST-READY && console_has "$1" HAVEN-GUEST-VDA-DONE; }
state_is() { haven vm show "$1" | grep -q "^state: *$2\$"; }
show_all() {
  haven vm ls >"$out" 2>&1
  for n in 1 2 3; do tail -n 5 "$state/logs/s$n.console" 2>/dev/null | sed "s/^/s$n| /" >>"$out"; done
  sed 's/^/havend| /' /tmp/havend.log | tail -n 10 >>"$out"
}

havend --state "$state" --socket "$HAVEN_SOCKET" --allow-path /guest --allow-path /tmp \
  >/tmp/havend.log 2>&1 &
daemon=$!
until_true 30 haven vm ls || { echo "FAIL: havend did not start"; cat /tmp/havend.log; exit 1; }

start=$(date +%s)
for n in 1 2 3; do
  cp /data/disk.img "/tmp/d$n.img"
  # s1, snapshotted below, has 2 vCPUs and so a disk of 2 request queues.
  cpus=1
  [ "$n" = 1 ] && cpus=2
  haven vm create "s$n" --kernel /guest/vmlinuz --initrd /guest/initrd.cpio.gz --memory 256M \
    --cpus "$cpus" --disk "path=/tmp/d$n.img" \
    --cmdline "$base_cmdline haven.action=shell haven.disktest=1" \
    >/dev/null && haven vm start "s$n" >/dev/null || fail "create and start s$n"
done
name="three stock guests at once, a disk each"
if until_true 300 booted s1 && until_true 60 booted s2 && until_true 60 booted s3; then
  echo "$name: booted after $(($(date +%s) - start)) s"
  [ "$(haven vm ls | grep -c ' running ')" = 3 ] && echo "ok: $name" ||
    { show_all; fail "$name: not all running"; }
else
  show_all
  fail "$name: not all booted"
fi

name="typing into a guest's console"
printf 'echo HAVEN-RIG-TYPED-$((6*7))\n' | haven vm console s1 >/tmp/console-s1.out 2>&1 &
typing=$!
if until_true 60 console_has s1 HAVEN-RIG-TYPED-42; then echo "ok: $name"; else
  show_all
  fail "$name: no answer in s1's console"
fi

name="stopping one guest leaves the others running"
haven vm stop s2 --timeout 60 >/dev/null || fail "$name: stop s2"
if state_is s2 stopped && state_is s1 running && state_is s3 running; then echo "ok: $name"; else
  show_all
  fail "$name"
fi
name="stop presses the ACPI power button and the guest shuts down"
if console_has s2 HAVEN-GUEST-POWER-BUTTON && haven vm show s2 | grep -q "shut down on request"; then
  echo "ok: $name"
else
  show_all
  fail "$name: $(haven vm show s2 | grep reason)"
fi

name="a VMM killed with SIGKILL is a crash"
pid=$(haven vm show --json s3 | sed -n 's/.*"pid": \([0-9]*\).*/\1/p' | head -n 1)
kill -KILL "$pid"
if until_true 20 state_is s3 crashed && haven vm show s3 | grep -q "killed by signal 9"; then
  echo "ok: $name"
else
  show_all
  fail "$name"
fi

name="snapshot of a counting guest, restored in a new VMM"
# type_into NAME LINE: types LINE into the guest's console. `haven vm console` stays attached
# until the guest ends, so it runs in the background; $typer is killed once the effect shows.
type_into() {
  printf '%s\n' "$2" | haven vm console "$1" >/dev/null 2>&1 &
  typer=$!
}
type_into s1 'mount /dev/vda /mnt && (i=0; while true; do i=$((i+1)); echo HAVEN-COUNT-$i; echo $i >/mnt/count; sleep 0.2; done) &'
last=
until_true 60 console_has s1 HAVEN-COUNT-5
kill "$typer" 2>/dev/null
if console_has s1 HAVEN-COUNT-5 && haven vm pause s1 >/dev/null &&
  haven vm snapshot s1 /tmp/snap-s1 >>"$out" 2>&1; then
  last=$(grep -o 'HAVEN-COUNT-[0-9]*' "$state/logs/s1.console" | tail -n 1 | cut -d- -f3)
  haven vm kill s1 >/dev/null || fail "$name: kill s1"
  start=$(date +%s)
  haven vm restore /tmp/snap-s1 --name s4 >>"$out" 2>&1 || fail "$name: restore"
  if until_true 60 console_has s4 "HAVEN-COUNT-$((last + 3))"; then
    echo "$name: counting again $(($(date +%s) - start)) s after the restore, from $last"
    if console_has s4 HAVEN-GUEST-READY || grep -qE 'HAVEN-COUNT-1([^0-9]|$)' "$state/logs/s4.console"; then
      show_all
      fail "$name: the guest booted again instead of continuing"
    else
      echo "ok: $name"
    fi
  else
    show_all
    tail -n 20 "$state/logs/s4.vmm.log" >>"$out" 2>/dev/null
    fail "$name: no count after $last"
  fi
else
  show_all
  fail "$name: no snapshot (count ${last:-none})"
fi
name="the restored guest's disk and console work"
type_into s4 'kill $!; sync; echo HAVEN-FILE-COUNT-$(cat /mnt/count); umount /mnt && echo HAVEN-RIG-UMOUNTED-$((6*7))'
if until_true 60 console_has s4 HAVEN-RIG-UMOUNTED-42; then
  # The count on disk is the console's last (or the one before: the loop may be killed between
  # its echo and its write), past where the snapshot was taken: the restored guest's writes
  # reached its disk.
  console_count=$(grep -o 'HAVEN-COUNT-[0-9][0-9]*' "$state/logs/s4.console" | tail -n 1 | cut -d- -f3)
  file_count=$(grep -o 'HAVEN-FILE-COUNT-[0-9][0-9]*' "$state/logs/s4.console" | tail -n 1 | cut -d- -f4)
  if [ -n "$file_count" ] && [ -n "$console_count" ] && [ -n "$last" ] &&
    [ "$file_count" -gt "$last" ] && [ "$file_count" -le "$console_count" ] &&
    [ "$file_count" -ge $((console_count - 1)) ]; then
    echo "$name: the disk says $file_count, the console $console_count, the snapshot $last"
    echo "ok: $name"
  else
    show_all
    fail "$name: the disk says '$file_count', the console '$console_count', the snapshot '$last'"
  fi
else
  show_all
  fail "$name: no answer from s4"
fi
kill "$typer" 2>/dev/null

name="a guest that powers off is stopped, its disk sound"
printf 'exit\n' | haven vm console s4 >/dev/null 2>&1
if until_true 60 state_is s4 stopped && haven vm show s4 | grep -q "the guest powered off"; then
  if e2fsck -fn "$state/disks/s4/disk-0.img" >>"$out" 2>&1; then echo "ok: $name"; else
    fail "$name: e2fsck"
  fi
else
  show_all
  fail "$name"
fi
wait "$typing" 2>/dev/null

kill "$daemon"
wait "$daemon" 2>/dev/null
[ "$failures" = 0 ] || { echo "$failures havend check(s) failed"; exit 1; }
echo "all havend checks passed"
