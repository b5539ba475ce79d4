#!/bin/sh
# Virtio device tests (rng, blk, net, console) with Debian's stock kernel, run INSIDE the
# nested rig by tools/rig/run-tests (busybox sh). The guest's /init (tools/rig/guest-init) prints markers.
# Inputs made on the host: /data/disk.img (ext4 with /host-file), /data/ro.img (random bytes,
# its SHA-256 in /data/ro.sha256).
set -u
out=/tmp/virtio.out
. "$(dirname "$0")/lib.sh"

ro_sha=$(cut -d' ' -f1 /data/ro.sha256)

# disk_boot NAME EXTRA_CMDLINE: rng + a writable ext4 disk + a read-only raw disk; 2 vCPUs, so
# each disk has 2 request queues.
disk_boot() {
  name=$1
  cp /data/disk.img /tmp/disk.img
  rm -f /tmp/hvc.out
  boot "$name" 0 --kernel /guest/vmlinuz --initrd /guest/initrd.cpio.gz --memory 256M --cpus 2 \
    --rng --disk path=/tmp/disk.img --disk path=/data/ro.img,readonly=on \
    --virtio-console file:/tmp/hvc.out --cmdline "$base_cmdline haven.disktest=1 $2" || return 1
  grep -q "HAVEN-GUEST-HVC=hello from hvc0" /tmp/hvc.out ||
    { fail "$name: nothing from the guest's /dev/hvc0 in the virtio console file"; return 1; }
  has "$name" "HAVEN-GUEST-HWRNG-BYTES=64" &&
    has "$name" "HAVEN-GUEST-DISKS=vda:131072:0 vdb:2048:1" &&
    has "$name" "HAVEN-GUEST-VDA-QUEUES=2" &&
    has "$name" "HAVEN-GUEST-HOST-FILE=made on the host" &&
    has "$name" "HAVEN-GUEST-FSTRIM=ok" &&
    has "$name" "HAVEN-GUEST-VDA-DONE" &&
    has "$name" "HAVEN-GUEST-VDB-WRITE=refused" &&
    has "$name" "HAVEN-GUEST-VDB-SHA256=$ro_sha" || return 1
  # After power-off, the host checks what the guest left on the disk.
  if ! e2fsck -fn /tmp/disk.img >>"$out" 2>&1; then
    fail "$name: e2fsck -fn found problems"
    return 1
  fi
  written=$(debugfs -R "cat /guest-file" /tmp/disk.img 2>/dev/null)
  [ "$written" = "written by the guest" ] || { fail "$name: debugfs read '$written'"; return 1; }
  debugfs -R "dump /guest-blob /tmp/blob" /tmp/disk.img >/dev/null 2>&1
  blob=$(sha256sum /tmp/blob | cut -d' ' -f1)
  [ "$blob" = "$(marker HAVEN-GUEST-BLOB-SHA256)" ] ||
    { fail "$name: the guest's 8 MiB file reads back as $blob on the host"; return 1; }
  [ "$(sha256sum /data/ro.img | cut -d' ' -f1)" = "$ro_sha" ] ||
    { fail "$name: the read-only image changed"; return 1; }
}

name="virtio rng + disks, MSI-X"
if disk_boot "$name" ""; then
  vectors=$(marker HAVEN-GUEST-VIRTIO-MSI-VECTORS)
  if [ "${vectors:-0}" -ge 3 ]; then echo "ok: $name ($vectors MSI-X vectors)"; else
    fail "$name: only ${vectors:-0} virtio MSI vectors"; fi
fi

name="virtio rng + disks, INTx (pci=nomsi)"
if disk_boot "$name" "pci=nomsi"; then
  vectors=$(marker HAVEN-GUEST-VIRTIO-MSI-VECTORS)
  if [ "${vectors:-1}" = 0 ]; then echo "ok: $name"; else
    fail "$name: $vectors MSI vectors despite pci=nomsi"; fi
fi

# virtio-net: a TAP in a network namespace of its own, the host side serving HTTP.
name="virtio-net on a TAP"
cat >/tmp/net-test.sh <<'NET'
set -e
ip link set lo up
tunctl -t haven-tap0 >/dev/null
ip addr add 10.0.2.1/24 dev haven-tap0
ip link set haven-tap0 up
mkdir -p /tmp/www/cgi-bin
dd if=/dev/urandom of=/tmp/www/blob bs=1M count=16 2>/dev/null
sha256sum /tmp/www/blob | cut -d' ' -f1 >/tmp/blob.sha256
printf '#!/bin/sh\nhead -c "$CONTENT_LENGTH" >/tmp/uploaded\necho "Content-Type: text/plain"\necho\nsha256sum /tmp/uploaded | cut -d" " -f1\n' \
  >/tmp/www/cgi-bin/upload
chmod +x /tmp/www/cgi-bin/upload
httpd -p 10.0.2.1:8080 -h /tmp/www
set +e
timeout -k 10 240 haven run --kernel /guest/vmlinuz --initrd /guest/initrd.cpio.gz --memory 256M \
  --net tap=haven-tap0,mac=52:54:00:12:34:56 --cmdline "console=ttyS0 panic=-1 quiet haven.nettest=1" \
  </dev/null
NET
start=$(date +%s)
watched 300 unshare -n sh /tmp/net-test.sh
status=$?
echo "$name: exit $status after $(($(date +%s) - start)) s"
if [ "$status" = 0 ] && has "$name" "HAVEN-GUEST-MAC=52:54:00:12:34:56" &&
  has "$name" "HAVEN-GUEST-PING=ok" && has "$name" "HAVEN-GUEST-UPLOAD=match"; then
  got=$(marker HAVEN-GUEST-DOWNLOAD-SHA256)
  if [ "$got" = "$(cat /tmp/blob.sha256)" ]; then echo "ok: $name"; else
    fail "$name: the guest downloaded $got"; fi
elif [ "$status" != 0 ]; then
  fail "$name: exit status $status"
fi

name="missing disk image"
if boot "$name" 2 --kernel /guest/vmlinuz --disk path=/nonexistent.img; then
  has "$name" "/nonexistent.img" && echo "ok: $name"
fi

[ "$failures" = 0 ] || { echo "$failures virtio check(s) failed"; exit 1; }
echo "all virtio checks passed"
