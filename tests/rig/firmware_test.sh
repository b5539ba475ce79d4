#!/bin/sh
# Firmware boot INSIDE the nested rig (busybox sh): guests that bring their own boot loader,
# booted through Debian's SeaBIOS and OVMF (issue 17).
#   - GRUB on an MBR disk (BIOS) and on a GPT disk with an ESP (UEFI), each to its initramfs;
#   - a hybrid GRUB ISO as the CD-ROM under both firmwares, also beside a blank disk with
#     --boot cdrom (an installer's case), the guest mounting the CD;
#   - a blank disk: exit 7 naming the disk and why, under both firmwares;
#   - a guest rebooting itself is restarted (--on-reboot restart) and boots again;
#   - memtest86+'s ISO (a BIOS guest drawing on the text screen) and a FreeDOS floppy typed into;
#   - under havend: a UEFI guest counting is snapshotted, killed and restored (the count goes
#     on, its UEFI variables come along), backed up running (the backup carries its variables),
#     then stopped with the ACPI power button;
#   - backups: a GRUB disk's backup passes `backup verify --boot --firmware bios`;
#   - whole Debian 12 systems (when the rig has the drives): the BIOS disk backed up from its
#     block device (--name host1) and instantly restored as a firmware VM boots to its login
#     prompt with no failed unit and powers off cleanly on `vm stop` (a physical machine
#     virtualized), and boot verification of that snapshot passes; the UEFI disk under havend
#     boots to its login prompt, adds a boot entry with efibootmgr, and after `vm stop` and
#     `vm start` the entry is still there.
# Data: /data/grub-bios.img, grub-uefi.img, grub-hybrid.iso, memtest86+x64.iso, freedos.img
# (optional); drives /dev/vda (debian-bios.img) and /dev/vdb (debian-uefi.img), optional.
#
#   sh firmware_test.sh PART...   PART: bios, uefi-disk, uefi-cdrom, uefi-cdrom-first,
#                                 uefi-blank, uefi-havend, uefi-debian (tools/rig/run-tests
#                                 boots the rig once for the BIOS part and once for each UEFI
#                                 part, most of them one OVMF boot: docs/RIG.md says why)
set -u
out=/tmp/firmware-rig.out
. "$(dirname "$0")/lib.sh"

# copy FILE: a private, writable copy of a data file in /tmp (sparse: the images are mostly holes).
copy() {
  dest=/tmp/$(basename "$1")
  /haven/bin/cp --sparse=always "$1" "$dest" && echo "$dest"
}
json_field() { sed -n "s/.*\"$1\": *\"\{0,1\}\([^,\"]*\).*/\1/p" | head -n 1; }
control_disk() {  # control_disk FILE ACTION: the guest initramfs's control disk (tools/rig/guest-init)
  printf 'HAVEN-CONTROL\n%s\n' "$2" >"$1" && truncate -s 1M "$1"
}
# guest_ok NAME EFI: the last boot reached the initramfs, started by UEFI (yes) or not (no).
guest_ok() {
  has "$1" HAVEN-GUEST-READY || return 1
  [ "$(marker HAVEN-GUEST-EFI)" = "$2" ] || { fail "$1: HAVEN-GUEST-EFI=$(marker HAVEN-GUEST-EFI), wanted $2"; return 1; }
  echo "ok: $1"
}

truncate -s 64M /tmp/blank.img

# Memory: 512 MiB under OVMF, which with 256 MiB trips the outer QEMU's bug (docs/RIG.md) on
# nearly every boot in the rig.
memory_for() { if [ "$1" = uefi ]; then echo 512M; else echo 256M; fi; }
efi_for() { if [ "$1" = uefi ]; then echo yes; else echo no; fi; }
# cdrom FIRMWARE: the hybrid ISO alone; cdrom_first FIRMWARE: beside a blank disk, --boot cdrom
# (an installer's case); nothing_to_boot FIRMWARE: a blank disk alone (exit 7 naming the disk
# and why).
cdrom() {
  name="$1: a hybrid ISO as the CD-ROM"
  boot "$name" 0 --firmware "$1" --cdrom /data/grub-hybrid.iso --memory "$(memory_for "$1")" &&
    has "$name" "HAVEN-GUEST-CDROM=haven cd marker" && guest_ok "$name" "$(efi_for "$1")"
}
cdrom_first() {
  name="$1: a blank disk and an ISO, --boot cdrom"
  boot "$name" 0 --firmware "$1" --disk path=/tmp/blank.img --cdrom /data/grub-hybrid.iso \
    --boot cdrom --memory "$(memory_for "$1")" && guest_ok "$name" "$(efi_for "$1")"
}
nothing_to_boot() {
  name="$1: nothing to boot"
  boot "$name" 7 --firmware "$1" --disk path=/tmp/blank.img --memory "$(memory_for "$1")" \
    --boot-timeout 20 &&
    has "$name" "disk 0 (/tmp/blank.img): it is blank" && echo "ok: $name"
}

# havend, for the parts that need it.
state=/tmp/firmware-havend
export HAVEN_SOCKET=/tmp/firmware-havend.sock
console_has() { grep -q "$2" "$state/logs/$1.console" 2>/dev/null; }
show() {
  for guest in "$@"; do
    tail -n 15 "$state/logs/$guest.console" 2>/dev/null | sed "s/^/$guest console| /"
    tail -n 8 "$state/logs/$guest.vmm.log" 2>/dev/null | sed "s/^/$guest vmm| /"
  done >"$out"
  sed 's/^/havend| /' /tmp/firmware-havend.log | tail -n 8 >>"$out"
}
# debian_up NAME: a Debian guest of tools/rig/build-firmware-guests reached its login prompt
# and reported its state; debian_ok TEST NAME: with no failed unit.
debian_up() {
  until_true 400 console_has "$1" HAVEN-FAILED-UNITS= && until_true 60 console_has "$1" "login:" &&
    return 0
  show "$1"
  fail "$1: no login prompt"
  return 1
}
debian_ok() {
  if console_has "$2" HAVEN-FAILED-UNITS=none && console_has "$2" HAVEN-SYSTEM-STATE=running; then
    echo "ok: $1"
  else
    show "$2"
    fail "$1: $(grep -a -o 'HAVEN-[A-Z-]*=[^ ]*' "$state/logs/$2.console" | tr -d '\r' | tr '\n' ' ')"
  fi
}
daemon=
start_havend() {
  # Guests' files: disks, snapshots and repositories in /tmp, the Debian disk on /dev/vdb
  # (in the parts that have it).
  debian_disk=
  [ -b /dev/vdb ] && debian_disk="--allow-path /dev/vdb"
  # $debian_disk unquoted: no words, or two
  havend --state "$state" --socket "$HAVEN_SOCKET" --allow-path /tmp $debian_disk \
    >/tmp/firmware-havend.log 2>&1 &
  daemon=$!
  until_true 30 haven vm ls || { echo "FAIL: havend did not start"; cat /tmp/firmware-havend.log; exit 1; }
}
stop_havend() {
  kill "$daemon"
  wait "$daemon"
}

part_bios() {
  bios_disk=$(copy /data/grub-bios.img)
  name="BIOS: GRUB on an MBR disk"
  boot "$name" 0 --firmware bios --disk "path=$bios_disk" --memory 256M &&
    has "$name" SeaBIOS && guest_ok "$name" no
  cdrom bios
  cdrom_first bios
  nothing_to_boot bios

  name="BIOS: a guest that reboots is restarted and boots again"
  control_disk /tmp/control.img reboot-once
  boot "$name" 0 --firmware bios --disk "path=$bios_disk" --disk path=/tmp/control.img \
    --on-reboot restart --memory 256M &&
    has "$name" HAVEN-GUEST-BOOT=2 && echo "ok: $name"

  name="BIOS: memtest86+ from its ISO draws on the text screen"
  haven run --firmware bios --cdrom /data/memtest86+x64.iso --memory 256M </dev/null >"$out" 2>&1 &
  memtest=$!
  if until_true 120 grep -qi "memtest86+" "$out"; then echo "ok: $name"; else fail "$name"; fi
  kill "$memtest" 2>/dev/null
  wait "$memtest"

  name="BIOS: a FreeDOS floppy, typed into"
  if [ -f /data/freedos.img ]; then
    rm -f /tmp/dos-in
    mkfifo /tmp/dos-in
    haven run --firmware bios --floppy /data/freedos.img --memory 64M </tmp/dos-in >"$out" 2>&1 &
    dos=$!
    exec 3>/tmp/dos-in
    if until_true 120 grep -q 'A:\\>' "$out"; then
      # One short line at once: SeaBIOS's serial console turns the UART's bytes into BIOS keys
      # through a 16-byte buffer, and DOS's keyboard buffer holds 15 keys.
      printf 'echo DOS-OK\r' >&3
      if until_true 120 grep -q '^DOS-OK' "$out"; then echo "ok: $name"; else
        fail "$name: no answer to the typed command"; fi
    else
      fail "$name: no A:\\> prompt"
    fi
    kill "$dos"
    exec 3>&-
    wait "$dos"
  else
    echo "skip: $name (no freedos.img: ../shared/guests is not on this machine)"
  fi

  repo=/tmp/firmware-repo
  haven repo init "$repo" >/dev/null || fail "repo init"
  name="backup verify --boot --firmware bios: a GRUB disk's backup boots"
  snap=$(haven backup create --json --repo "$repo" "$bios_disk" --name grub-bios 2>"$out" |
    json_field id)
  if [ -n "$snap" ] && haven backup verify --boot --firmware bios --repo "$repo" "$snap" \
    --ready HAVEN-GUEST-READY --timeout 240 >>"$out" 2>&1; then
    echo "ok: $name"
  else
    fail "$name (snapshot '${snap:-none}')"
  fi

  name="P2V: a Debian BIOS machine's whole disk, backed up and instantly restored, boots to login"
  if [ -b /dev/vda ]; then
    start_havend
    start=$(date +%s)
    p2v=$(haven backup create --json --repo "$repo" /dev/vda --name host1 2>"$out" | json_field id)
    echo "$name: backup of /dev/vda took $(($(date +%s) - start)) s"
    start=$(date +%s)
    if [ -n "$p2v" ] && haven restore --instant --firmware bios --repo "$repo" "$p2v" \
      --name host1-vm --memory 1G >>"$out" 2>&1; then
      debian_up host1-vm && echo "$name: login after $(($(date +%s) - start)) s" &&
        debian_ok "$name" host1-vm
      name="P2V: the restored Debian machine powers off cleanly on vm stop"
      if haven vm stop host1-vm --timeout 120 >/dev/null &&
        haven vm show host1-vm | grep -q "shut down on request"; then
        echo "ok: $name"
      else
        show host1-vm
        fail "$name"
      fi
      haven vm kill host1-vm >/dev/null 2>&1
    else
      fail "$name: backup or restore (snapshot '${p2v:-none}')"
    fi
    stop_havend
    name="P2V: boot verification of the machine's snapshot passes"
    start=$(date +%s)
    if [ -n "$p2v" ] && haven backup verify --boot --firmware bios --repo "$repo" "$p2v" \
      --ready login: --timeout 400 >"$out" 2>&1; then
      echo "$name: $(($(date +%s) - start)) s"
      echo "ok: $name"
    else
      fail "$name"
    fi
  else
    echo "skip: $name (no /dev/vda: the rig has no Debian disks)"
  fi
}

part_uefi_disk() {
  uefi_disk=$(copy /data/grub-uefi.img)
  name="UEFI: GRUB on a GPT disk's ESP"
  boot "$name" 0 --firmware uefi --disk "path=$uefi_disk" --memory 512M &&
    has "$name" BdsDxe && guest_ok "$name" yes
}
part_uefi_cdrom() { cdrom uefi; }
part_uefi_cdrom_first() { cdrom_first uefi; }
part_uefi_blank() { nothing_to_boot uefi; }

# A UEFI guest under havend counting is snapshotted, killed and restored (its variables come
# along), then stopped with the ACPI power button.
part_uefi_havend() {
  start_havend
  name="havend: a counting UEFI guest, snapshotted and restored in a new VMM"
  control_disk /tmp/count.img count
  copy /data/grub-uefi.img >/dev/null
  haven vm create f1 --firmware uefi --disk path=/tmp/grub-uefi.img --disk path=/tmp/count.img \
    --memory 512M >/dev/null && haven vm start f1 >/dev/null || fail "$name: create and start f1"
  if until_true 240 console_has f1 HAVEN-GUEST-COUNT=3 && haven vm pause f1 >/dev/null &&
    haven vm snapshot f1 /tmp/snap-f1 >"$out" 2>&1; then
    [ -f /tmp/snap-f1/nvram.fd ] || fail "$name: the snapshot has no UEFI variables"
    last=$(grep -o 'HAVEN-GUEST-COUNT=[0-9]*' "$state/logs/f1.console" | tail -n 1 | cut -d= -f2)
    haven vm kill f1 >/dev/null || fail "$name: kill f1"
    haven vm restore /tmp/snap-f1 --name f2 >>"$out" 2>&1 || fail "$name: restore"
    if until_true 60 console_has f2 "HAVEN-GUEST-COUNT=$((last + 3))"; then
      if console_has f2 HAVEN-GUEST-READY; then
        show f2
        fail "$name: the guest booted again instead of continuing"
      else
        echo "ok: $name (from $last)"
      fi
    else
      show f1 f2
      fail "$name: no count after $last"
    fi
  else
    show f1
    fail "$name: no snapshot"
  fi

  name="havend: a running UEFI guest's backup carries its variables"
  repo=/tmp/firmware-uefi-repo
  haven repo init "$repo" >/dev/null || fail "$name: repo init"
  backup=$(haven backup create --json --repo "$repo" --vm f2 2>&1)
  snap=$(echo "$backup" | json_field id)
  if [ -n "$snap" ] && haven backup show --repo "$repo" "$snap" | grep -q '^uefi_variables: *[1-9]'; then
    echo "ok: $name"
  else
    echo "$backup" >"$out"
    fail "$name"
  fi

  name="havend: stop presses the power button of a firmware guest"
  if haven vm stop f2 --timeout 60 >/dev/null && console_has f2 HAVEN-GUEST-POWER-BUTTON; then
    echo "ok: $name"
  else
    show f2
    fail "$name"
  fi
  stop_havend
}

# A Debian UEFI guest under havend adds a boot entry with efibootmgr; after vm stop (a clean
# power-off) and vm start the entry is still there.
part_uefi_debian() {
  name="UEFI: Debian 12 on GPT boots to login with no failed unit"
  if [ ! -b /dev/vdb ]; then
    echo "skip: $name (no /dev/vdb: the rig has no Debian disks)"
    return
  fi
  start_havend
  start=$(date +%s)
  haven vm create deb --firmware uefi --disk path=/dev/vdb --memory 512M >/dev/null &&
    haven vm start deb >/dev/null || fail "$name: create and start"
  if debian_up deb; then
    echo "$name: login after $(($(date +%s) - start)) s"
    debian_ok "$name" deb
    name="UEFI: a boot entry efibootmgr wrote survives vm stop and start"
    console_has deb HAVEN-NVRAM=created || fail "$name: $(grep -a -o 'HAVEN-NVRAM=[a-z]*' "$state/logs/deb.console")"
    if haven vm stop deb --timeout 120 >/dev/null && haven vm show deb | grep -q "shut down on request"; then
      echo "ok: UEFI: Debian powers off cleanly on vm stop"
      haven vm start deb >/dev/null || fail "$name: start again"
      if until_true 400 console_has deb HAVEN-NVRAM=present; then echo "ok: $name"; else
        show deb
        fail "$name"
      fi
    else
      show deb
      fail "UEFI: Debian powers off cleanly on vm stop"
    fi
    haven vm kill deb >/dev/null 2>&1
  fi
  stop_havend
}

[ $# -gt 0 ] || { echo "usage: firmware_test.sh PART..."; exit 2; }
for part in "$@"; do
  case "$part" in
    bios | uefi-disk | uefi-cdrom | uefi-cdrom-first | uefi-blank | uefi-havend | uefi-debian)
      "part_$(echo "$part" | tr - _)" ;;
    *) echo "firmware_test.sh: unknown part $part"; exit 2 ;;
  esac
done
echo "firmware: $failures failed"
[ "$failures" = 0 ]
