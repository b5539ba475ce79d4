#!/bin/sh
# Backups, instant restore and boot verification with Debian's stock kernel, INSIDE the nested
# rig (busybox sh), under one havend:
#   - a running guest writes files on an ext4 disk with changed-block tracking; a backup of it
#     running reads the whole disk, the next reads only the chunks the guest wrote (counted);
#   - stopped cleanly, it is backed up once more, and that snapshot restores to the disk's bytes;
#   - boot verification boots the snapshot in a throwaway VM and sees it come up;
#   - instant restore boots a new guest on it with the background fill held back: the guest
#     reads its files back from chunks fetched on demand and writes a new one; let go on, the
#     fill completes, and the local image holds the snapshot's files and the new one;
#   - from a repository whose packs are damaged, instant restore still boots, and the guest's
#     reads fail with an I/O error (logged on the host) instead of anything crashing.
set -u
out=/tmp/protect-rig.out
. "$(dirname "$0")/lib.sh"
state=/tmp/protect-state
export HAVEN_SOCKET=/tmp/protect.sock
repo=/tmp/protect-repo

console_has() { grep -q "$2" "$state/logs/$1.console" 2>/dev/null; }
state_is() { haven vm show "$1" | grep -q "^state: *$2\$"; }
show() {
  for guest in "$@"; do
    tail -n 15 "$state/logs/$guest.console" 2>/dev/null | sed "s/^/$guest console| /"
    tail -n 8 "$state/logs/$guest.vmm.log" 2>/dev/null | sed "s/^/$guest vmm| /"
  done >"$out"
  sed 's/^/havend| /' /tmp/protect-havend.log | tail -n 8 >>"$out"
}
# type_into NAME LINE: types LINE into the guest's console (attached in the background).
type_into() {
  printf '%s\n' "$2" | haven vm console "$1" >/dev/null 2>&1 &
  typer=$!
}
typed() {  # typed NAME MARKER SECONDS: waits for MARKER, then detaches the typist
  until_true "$3" console_has "$1" "$2"
  found=$?
  kill "$typer" 2>/dev/null
  return $found
}
json_field() { sed -n "s/.*\"$1\": *\"\{0,1\}\([^,\"]*\).*/\1/p" | head -n 1; }

havend --state "$state" --socket "$HAVEN_SOCKET" --allow-path /guest --allow-path /tmp \
  >/tmp/protect-havend.log 2>&1 &
daemon=$!
until_true 30 haven vm ls || { echo "FAIL: havend did not start"; cat /tmp/protect-havend.log; exit 1; }
haven repo init "$repo" >/dev/null || fail "repo init"
cp /data/disk.img /tmp/p1.img
haven vm create p1 --kernel /guest/vmlinuz --initrd /guest/initrd.cpio.gz --memory 256M \
  --disk "path=/tmp/p1.img,cbt=on" --cmdline "$base_cmdline haven.action=shell" >/dev/null &&
  haven vm start p1 >/dev/null || fail "create and start p1"
until_true 300 console_has p1 HAVEN-GUEST-READY || { show p1; fail "p1 did not boot"; }

name="backup of a running guest: the first reads everything"
type_into p1 'mkdir -p /mnt && mount -t ext4 /dev/vda /mnt && dd if=/dev/urandom of=/mnt/f1 bs=64k count=32 2>/dev/null && sha256sum /mnt/f1 >/mnt/f1.sum && sync && echo HAVEN-RIG-WROTE-$((1+0))'
typed p1 HAVEN-RIG-WROTE-1 60 || { show p1; fail "$name: no file written"; }
first=$(haven backup create --json --repo "$repo" --vm p1 2>&1)
read=$(echo "$first" | json_field read_bytes)
# Everything the 64 MiB disk holds: at least the 4 MiB host file and the guest's 2 MiB f1, at
# most the whole disk.
if echo "$first" | grep -q '"incremental": false' && echo "$first" | grep -q '"running": true' &&
  [ -n "$read" ] && [ "$read" -ge 6291456 ] && [ "$read" -le 67108864 ]; then
  echo "$name: read $read bytes"
  echo "ok: $name"
else
  echo "$first" >>"$out"
  fail "$name: $first"
fi

name="the next backup of the running guest reads only the chunks it wrote"
type_into p1 'dd if=/dev/urandom of=/mnt/f2 bs=64k count=16 2>/dev/null && sha256sum /mnt/f2 >/mnt/f2.sum && sync && echo HAVEN-RIG-WROTE-$((1+1))'
typed p1 HAVEN-RIG-WROTE-2 60 || { show p1; fail "$name: no file written"; }
second=$(haven backup create --json --repo "$repo" --vm p1 2>&1)
changed=$(echo "$second" | json_field changed_blocks)
read=$(echo "$second" | json_field read_bytes)
if echo "$second" | grep -q '"incremental": true' && [ -n "$changed" ] &&
  [ "$read" = $((changed * 65536)) ] && [ "$read" -ge 1048576 ] && [ "$read" -le 12582912 ]; then
  echo "$name: $changed changed chunks, $read bytes read of 64 MiB (the guest wrote 1 MiB + metadata and journal)"
  echo "ok: $name"
else
  fail "$name: $second"
fi

name="a cleanly stopped guest's backup restores to its disk's bytes"
type_into p1 'umount /mnt && exit'
until_true 60 state_is p1 stopped || { show p1; fail "$name: p1 did not stop"; }
kill "$typer" 2>/dev/null
third=$(haven backup create --json --repo "$repo" --vm p1 2>&1)
snap=$(echo "$third" | json_field id)
if echo "$third" | grep -q '"incremental": true' && [ -n "$snap" ] &&
  haven backup restore -q --repo "$repo" "$snap" /tmp/p1-restored.img >>"$out" 2>&1 &&
  cmp /tmp/p1.img /tmp/p1-restored.img >>"$out" 2>&1; then
  echo "$name: snapshot $snap, $(echo "$third" | json_field read_bytes) bytes read"
  echo "ok: $name"
else
  fail "$name: $third"
fi
rm -f /tmp/p1-restored.img

name="boot verification boots the snapshot in a throwaway VM"
if haven backup verify --boot --repo "$repo" "$snap" --ready HAVEN-GUEST-READY --timeout 240 \
  >"$out" 2>&1 && haven backup show --repo "$repo" "$snap" | grep -q '^boot_check: *passed'; then
  echo "$name: $(grep '^ok:' "$out")"
  echo "ok: $name"
else
  fail "$name"
fi

name="instant restore: the guest reads its files back before the fill"
start=$(date +%s)
haven restore --instant --fill-paused --repo "$repo" "$snap" --name p2 >>"$out" 2>&1 ||
  fail "$name: restore"
until_true 300 console_has p2 HAVEN-GUEST-READY || { show p2; fail "$name: p2 did not boot"; }
booted=$(($(date +%s) - start))
type_into p2 'mkdir -p /mnt && mount -t ext4 /dev/vda /mnt && sha256sum -c /mnt/f1.sum && sha256sum -c /mnt/f2.sum && echo HAVEN-RIG-READ-$((6*7)) && dd if=/dev/urandom of=/mnt/f3 bs=64k count=8 2>/dev/null && sha256sum /mnt/f3 >/mnt/f3.sum && sync && echo HAVEN-RIG-WROTE-$((1+2))'
if typed p2 HAVEN-RIG-WROTE-3 120 && console_has p2 HAVEN-RIG-READ-42 &&
  haven vm show p2 | grep -q "^restore: .* of 1024 chunks .*fill paused"; then
  echo "$name: booted in $booted s; $(haven vm show p2 | grep '^restore:')"
  echo "ok: $name"
else
  show p2
  fail "$name"
fi

name="let go on, the fill completes: the image holds the snapshot and the new writes"
haven vm fill p2 --resume >>"$out" 2>&1 || fail "$name: vm fill --resume"
if until_true 120 sh -c "haven vm show p2 | grep -q '^restore: .*complete'"; then
  type_into p2 'umount /mnt && exit'
  until_true 60 state_is p2 stopped || { show p2; fail "$name: p2 did not stop"; }
  kill "$typer" 2>/dev/null
  image=$state/disks/p2/disk-0.img
  ok=1
  e2fsck -fn "$image" >>"$out" 2>&1 || ok=
  for file in f1 f2 f3; do
    debugfs -R "dump /$file /tmp/$file" "$image" >/dev/null 2>&1
    want=$(debugfs -R "cat /$file.sum" "$image" 2>/dev/null | cut -d' ' -f1)
    [ -n "$want" ] && [ "$(sha256sum "/tmp/$file" | cut -d' ' -f1)" = "$want" ] || ok=
  done
  debugfs -R "dump /f1 /tmp/f1-original" /tmp/p1.img >/dev/null 2>&1
  cmp -s /tmp/f1 /tmp/f1-original || ok=
  rm -f /tmp/f1 /tmp/f2 /tmp/f3 /tmp/f1-original
  if [ -n "$ok" ]; then echo "ok: $name"; else fail "$name: files differ or e2fsck failed"; fi
else
  show p2
  fail "$name: $(haven vm show p2 | grep '^restore:')"
fi

name="damaged chunks: the guest's reads fail with an I/O error, the VMM logs them, nothing crashes"
cp -a "$repo" /tmp/protect-damaged
for pack in $(find /tmp/protect-damaged/packs -type f); do  # all but each pack's magic
  size=$(wc -c <"$pack")
  head -c 8 "$pack" >/tmp/pack && head -c $((size - 8)) /dev/urandom >>/tmp/pack &&
    mv /tmp/pack "$pack"
done
haven restore --instant --fill-paused --repo /tmp/protect-damaged "$snap" --name p3 >>"$out" 2>&1 ||
  fail "$name: restore"
until_true 300 console_has p3 HAVEN-GUEST-READY || { show p3; fail "$name: p3 did not boot"; }
type_into p3 'dd if=/dev/vda of=/dev/null bs=64k count=64 || echo HAVEN-RIG-EIO-$((6*7)); echo HAVEN-RIG-ALIVE-$((6*7))'
if typed p3 HAVEN-RIG-ALIVE-42 60 && console_has p3 HAVEN-RIG-EIO-42 &&
  grep -q "block [0-9]* (disk offset [0-9]*): chunk [0-9]* of snapshot $snap.*I/O error" \
    "$state/logs/p3.vmm.log" && state_is p3 running; then
  echo "$name: $(grep -m 1 'I/O error' "$state/logs/p3.vmm.log")"
  echo "ok: $name"
else
  show p3
  fail "$name"
fi
haven vm kill p3 >/dev/null 2>&1

kill "$daemon"
wait "$daemon" 2>/dev/null
[ "$failures" = 0 ] || { echo "$failures protection check(s) failed"; exit 1; }
echo "all protection checks passed"
