#!/bin/bash
# End-to-end test of `haven repo` and `haven backup` as a user runs them: an ext4 disk image
# made with mke2fs -d from a few hundred MiB of mixed files is backed up into an encrypted
# repository, 1 % of its 4 KiB blocks are overwritten in 64 KiB runs (as in
# ../shared/ENVIRONMENT.md's baseline), it is backed up again, and both snapshots are
# restored and compared byte for byte. Then: a backup killed with SIGKILL midway leaves a
# repository that verifies and takes the next backup; a damaged pack makes verify fail and
# name the snapshot and offset; a wrong passphrase is one clear line.
#
#   backup_e2e_test.sh HAVEN [WORKDIR]
set -euo pipefail
haven=$1
work=$(mktemp -d "${2:-${TMPDIR:-/tmp}}/haven-backup-e2e.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
fail() { echo "FAIL: $*" >&2; exit 1; }
export HAVEN_PASSPHRASE="e2e passphrase"

# The disk: system files (text, binaries, compressed docs) and 64 MiB of random bytes.
mkdir content
cp -r /usr/share/doc /usr/include content/ 2>/dev/null || true
head -c 64M /dev/urandom >content/random.bin
used=$(du -sm content | cut -f1)
size=$((used * 2 + 256))
truncate -s "${size}M" disk.img
mke2fs -q -t ext4 -d content disk.img
rm -rf content
echo "disk: ${size} MiB image, ${used} MiB of files"

"$haven" repo init repo --encrypt >/dev/null
"$haven" backup create --repo repo disk.img --name vm1 --json >first.json
cp --sparse=always disk.img disk-1.img

# 1 % of the 4 KiB blocks, in 64 KiB runs at random 4 KiB-aligned offsets.
blocks=$((size * 256))
runs=$((blocks / 100 / 16))
python3 - "$blocks" "$runs" <<'PY'
import os, random, sys
blocks, runs = int(sys.argv[1]), int(sys.argv[2])
random.seed(1)
with open("disk.img", "r+b") as f:
    for _ in range(runs):
        f.seek(random.randrange(blocks - 16) * 4096)
        f.write(os.urandom(65536))
PY
changed=$((runs * 65536))
"$haven" backup create --repo repo disk.img --name vm1 --json >second.json
new_bytes=$(python3 -c 'import json,sys; print(json.load(open("second.json"))["stored_bytes"])')
echo "1 % change: ${changed} bytes overwritten, the repository grew by ${new_bytes} bytes of chunks"
[ "$new_bytes" -le $((changed * 2)) ] || fail "growth ${new_bytes} > 2 x ${changed}"

ids=$("$haven" backup list --repo repo --json |
  python3 -c 'import json,sys; print(" ".join(s["id"] for s in json.load(sys.stdin)["snapshots"]))')
set -- $ids
[ $# = 2 ] || fail "backup list shows $# snapshots, want 2"
"$haven" backup restore --repo repo "$1" restored-1.img -q
"$haven" backup restore --repo repo "$2" restored-2.img -q
cmp disk-1.img restored-1.img || fail "the first snapshot does not restore byte for byte"
cmp disk.img restored-2.img || fail "the second snapshot does not restore byte for byte"
rm -f disk-1.img restored-1.img restored-2.img
"$haven" backup verify --repo repo --all -q || fail "verify of a healthy repository failed"

# A backup of new data killed with SIGKILL once it has a pack in flight.
head -c 192M /dev/urandom >other.img
"$haven" backup create --repo repo other.img --name other -q &
victim=$!
in_flight=
for _ in $(seq 1 2000); do
  if compgen -G "repo/tmp/pack-*" >/dev/null; then in_flight=1; break; fi
  kill -0 "$victim" 2>/dev/null || break
  sleep 0.005 # polling a condition, bounded: 10 s at most
done
[ -n "$in_flight" ] || fail "the backup ended (or never wrote) before a pack was in flight"
kill -9 "$victim"
set +e
wait "$victim"
status=$?
set -e
[ "$status" = 137 ] || fail "the backup was not killed midway: it exited $status"
compgen -G "repo/tmp/pack-*" >/dev/null || fail "the killed backup left no partial pack behind"
"$haven" backup verify --repo repo --all -q || fail "verify after a killed backup failed"
"$haven" backup create --repo repo other.img --name other -q || fail "backup after a kill failed"
! compgen -G "repo/tmp/pack-*" >/dev/null || fail "the next backup left the partial pack in tmp/"
other=$("$haven" backup list --repo repo --json |
  python3 -c 'import json,sys; print([s["id"] for s in json.load(sys.stdin)["snapshots"] if s["name"] == "other"][-1])')
"$haven" backup restore --repo repo "$other" other-restored.img -q
cmp other.img other-restored.img || fail "the backup after the kill does not restore"
rm -f other.img other-restored.img

# The CLI's contract: usage errors exit 2 with one line naming what is wrong, a snapshot that is
# not there exits 1, and --json output has the documented shape (docs/CLI.md).
expect_status() {  # expect_status STATUS WHAT COMMAND...: runs it, checks its exit status
  local want=$1 what=$2 status
  shift 2
  set +e
  "$@" >cli.out 2>&1
  status=$?
  set -e
  [ "$status" = "$want" ] || fail "$what: exit $status, want $want: $(cat cli.out)"
  [ "$want" = 0 ] || [ "$(wc -l <cli.out)" -le 2 ] || fail "$what: more than one line: $(cat cli.out)"
}
expect_status 2 "prune without a --keep rule" "$haven" backup prune --repo repo
grep -q -- "--keep" cli.out || fail "prune without rules does not name --keep: $(cat cli.out)"
expect_status 2 "an unknown option" "$haven" backup create --repo repo --no-such-option disk.img
expect_status 2 "a missing --repo" "$haven" backup list
expect_status 1 "a snapshot that is not there" "$haven" backup show --repo repo 0123456789abcdef
expect_status 0 "prune --dry-run --json" "$haven" backup prune --repo repo --keep-last 1 --dry-run --json
python3 - cli.out <<'PY' || fail "prune --json: $(cat cli.out)"
import json, sys
out = json.load(open(sys.argv[1]))
assert out["dry_run"] is True
for key in ("packs_removed", "packs_rewritten", "bytes_freed", "bytes_rewritten"):
    assert isinstance(out[key], int), key
assert isinstance(out["garbage_kept"], bool)
names = {}
for snapshot in out["keep"]:
    assert snapshot["reason"].startswith("last"), snapshot
    names[snapshot["name"]] = names.get(snapshot["name"], 0) + 1
assert names == {"vm1": 1, "other": 1}, names  # the newest of each name
assert len(out["keep"]) + len(out["remove"]) == 3, out
for snapshot in out["keep"] + out["remove"]:
    for key in ("id", "name", "time", "size"):
        assert key in snapshot, (key, snapshot)
PY
expect_status 0 "list --json" "$haven" backup list --repo repo --json
python3 - cli.out <<'PY' || fail "list --json: $(cat cli.out)"
import json, sys
snapshots = json.load(open(sys.argv[1]))["snapshots"]
assert len(snapshots) == 3, snapshots
times = [s["time"] for s in snapshots]
assert times == sorted(times), "oldest first"
for snapshot in snapshots:
    assert len(snapshot["id"]) == 16 and int(snapshot["id"], 16) >= 0
    assert snapshot["size"] > 0 and isinstance(snapshot["name"], str)
PY
[ "$(find repo/snapshots -type f | wc -l)" = 3 ] || fail "a dry run removed a snapshot"

# Damage: one byte in the middle of the first pack.
pack=$(find repo/packs -type f | sort | head -1)
python3 - "$pack" <<'PY'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(0, 2); middle = f.tell() // 2
    f.seek(middle); byte = f.read(1)
    f.seek(middle); f.write(bytes([byte[0] ^ 1]))
PY
set +e
"$haven" backup verify --repo repo --all >verify.out 2>&1
status=$?
set -e
[ "$status" = 3 ] || fail "verify of a damaged pack exited $status, want 3"
grep -q "^BAD snapshot [0-9a-f]\{16\} offset [0-9]*: chunk" verify.out ||
  fail "verify did not name the snapshot and offset: $(cat verify.out)"

# A wrong passphrase.
set +e
HAVEN_PASSPHRASE=wrong "$haven" backup list --repo repo >wrong.out 2>&1
status=$?
set -e
[ "$status" = 1 ] && grep -q "wrong passphrase" wrong.out ||
  fail "a wrong passphrase gave exit $status: $(cat wrong.out)"
echo "ok: backup, 1 % incremental, restore, killed backup, damage and passphrase checks"
