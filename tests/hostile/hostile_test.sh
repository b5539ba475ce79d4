#!/bin/bash
# Hostile and careless input, end to end, as a suite that grows with each finding (issue 19):
# racing API calls, a second daemon, tampered VM snapshots and damaged repositories. Each must
# be refused with the right status or one clear line, and nothing may report success for data
# that is wrong, or answer 500 for what is the request's fault. Needs no /dev/kvm: no guest
# runs here.
#
#   hostile_test.sh HAVEND HAVEN
set -uo pipefail
havend=$1 haven=$2
command -v curl >/dev/null || { echo "FAIL: needs curl (tools/install-deps)"; exit 1; }
command -v python3 >/dev/null || { echo "FAIL: needs python3"; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/haven-hostile-test.XXXXXX")
socket=$work/run/havend.sock
daemon_pid=
cleanup() {
  [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }
api() { curl -s --unix-socket "$socket" "$@"; }
# codes FILE: the HTTP statuses in FILE, counted, as "201x1 409x19".
codes() { sort "$1" | uniq -c | awk '{printf "%s%sx%s", (NR > 1 ? " " : ""), $2, $1}'; }

mkdir "$work/images" && : >"$work/images/vmlinuz"
"$havend" --state "$work/state" --socket "$socket" --no-cgroups --allow-path "$work" \
  >"$work/havend.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 200); do api -o /dev/null http://havend/v1/vms && break; sleep 0.05; done
api -o /dev/null http://havend/v1/vms || { cat "$work/havend.log"; echo "FAIL: no havend"; exit 1; }

# --- Racing API calls: whoever loses a race is told so (409, 404), never 500.
# race FILE CURL-ARGS...: 20 of the same request at once, their statuses into FILE.
race() {
  local file=$1 pids=()
  shift
  for _ in $(seq 20); do
    api -o /dev/null -w '%{http_code}\n' "$@" >>"$file" &
    pids+=($!)
  done
  wait "${pids[@]}"  # not the daemon
}
race "$work/creates" -X POST http://havend/v1/vms -d "{\"name\": \"race\", \"kernel\": \"$work/images/vmlinuz\"}"
[ "$(codes "$work/creates")" = "201x1 409x19" ] && ok "20 racing creates of one name: one 201, 19 409" ||
  fail "racing creates: $(codes "$work/creates")"
race "$work/deletes" -X DELETE http://havend/v1/vms/race
[ "$(codes "$work/deletes")" = "204x1 404x19" ] && ok "20 racing deletes: one 204, 19 404" ||
  fail "racing deletes: $(codes "$work/deletes")"

# --- The API hands out no host files (issue 21): havend is root, the client need not be.
# status_of CURL-ARGS...: the HTTP status of one request.
status_of() { api -o "$work/answer" -w '%{http_code}' "$@"; }
code=$(status_of -X POST http://havend/v1/vms \
  -d "{\"name\": \"thief\", \"kernel\": \"$work/images/vmlinuz\", \"disks\": [{\"path\": \"/etc/shadow\"}]}")
[ "$code" = 403 ] && grep -q '"field":"disks\[0\].path"' "$work/answer" &&
  ok "a disk of /etc/shadow is refused (403)" || fail "disk /etc/shadow: $code $(cat "$work/answer")"
ln -s /etc/shadow "$work/images/shadow.img"
code=$(status_of -X POST http://havend/v1/vms \
  -d "{\"name\": \"thief\", \"kernel\": \"$work/images/shadow.img\"}")
[ "$code" = 403 ] && grep -q '"field":"kernel"' "$work/answer" &&
  ok "a link out of an allowed directory is refused (403)" || fail "link: $code $(cat "$work/answer")"
code=$(status_of -X POST http://havend/v1/vms -d "{\"name\": \"held\", \"kernel\": \"$work/images/vmlinuz\"}")
[ "$code" = 201 ] || fail "create held: $code $(cat "$work/answer")"
code=$(status_of -X POST http://havend/v1/vms/held/snapshot -d '{"dir": "/etc"}')
[ "$code" = 403 ] && ok "a snapshot into /etc is refused (403)" || fail "snapshot /etc: $code"
code=$(status_of -X POST http://havend/v1/vms/held/backup -d '{"repo": "/root"}')
[ "$code" = 403 ] && ok "a backup into /root is refused (403)" || fail "backup /root: $code"
api -o /dev/null -X DELETE http://havend/v1/vms/held

# --- A second daemon on the same state directory or socket is refused; the first goes on.
# (timeout: a second daemon that wrongly started would serve for ever.)
out=$(timeout 10 "$havend" --state "$work/state" --socket "$work/other.sock" --no-cgroups 2>&1)
[ $? = 1 ] && [[ $out == *"is in use by another havend (pid $daemon_pid)"* ]] &&
  ok "a second havend on the state directory" || fail "second havend, same state: $out"
out=$(timeout 10 "$havend" --state "$work/state2" --socket "$socket" --no-cgroups 2>&1)
[ $? = 1 ] && [[ $out == *"socket $socket is in use by another havend"* ]] &&
  api -o /dev/null http://havend/v1/vms && ok "a second havend on the socket" ||
  fail "second havend, same socket: $out"

# --- A damaged definition file: havend starts, lists the guest as broken, keeps the file.
kill "$daemon_pid" && wait "$daemon_pid"
printf '{"name": "bad", "cpus": ' >"$work/state/vms/bad.json"
"$havend" --state "$work/state" --socket "$socket" --no-cgroups --allow-path "$work" \
  >>"$work/havend.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 200); do api -o /dev/null http://havend/v1/vms && break; sleep 0.05; done
body=$(api http://havend/v1/vms)
[[ $body == *'"state":"broken"'* && $body == *"bad.json"* ]] && [ -f "$work/state/vms/bad.json" ] &&
  ok "a damaged definition: havend starts, the guest is broken, the file kept" ||
  fail "damaged definition: $body"
code=$(api -o /dev/null -w '%{http_code}' -X POST -d '' http://havend/v1/vms/bad/start)
[ "$code" = 409 ] && ok "a broken guest cannot start (409)" || fail "start broken: $code"

# --- A tampered VM snapshot: a disk copy that is a link to a host file is not copied.
mkdir "$work/snap"
cat >"$work/snap/snapshot.json" <<JSON
{"format": "haven-vm-snapshot", "version": 1, "id": "00112233445566778899aabbccddeeff",
 "config": {"kernel": "/boot/vmlinuz", "memory": "256M", "disks": [{"path": "/images/root.img"}]},
 "disk_copies": ["disk-0.img"], "vm": {}, "vcpus": [{}], "devices": {}, "memory": []}
JSON
echo "host secret" >"$work/secret"
ln -s "$work/secret" "$work/snap/disk-0.img"
body=$(api -w ' %{http_code}' -X POST http://havend/v1/restore \
  -d "{\"snapshot\": \"$work/snap\", \"name\": \"stolen\"}")
[[ $body == *"symbolic link"* && $body == *" 400" ]] && [ ! -e "$work/state/disks/stolen" ] &&
  [ "$(api -o /dev/null -w '%{http_code}' http://havend/v1/vms/stolen)" = 404 ] &&
  ok "a snapshot whose disk is a link to a host file is refused, nothing made" ||
  fail "linked disk copy: $body"

# --- Damaged repositories.
cd "$work" || exit 1
head -c 1M /dev/urandom >disk.img
"$haven" repo init repo --compression 0 >/dev/null || fail "repo init"
"$haven" backup create --repo repo disk.img --name d -q || fail "backup"
# An index entry claiming a 1 GiB blob: the opening fails naming the file, nothing allocates it
# (an unencrypted repository authenticates its index too: the change itself is refused).
cp -a repo repo-index
python3 - repo-index <<'PY'
import glob, struct, sys
path = glob.glob(sys.argv[1] + "/index/*")[0]
data = bytearray(open(path, "rb").read())
assert data[0] == 0xb7 and data[2] == 4, "an uncompressed, unsealed, authenticated index blob"
data[8 + 56:8 + 60] = struct.pack("<I", 1 << 30)
open(path, "wb").write(data)
PY
out=$("$haven" backup list --repo repo-index 2>&1)
status=$?
[ $status != 0 ] && [ "$(wc -l <<<"$out")" = 1 ] && [[ $out == *"authentication failed"* ]] &&
  [[ $out == *"repo repair"* ]] &&
  ok "an index entry claiming 1 GiB: refused in one line, exit $status" ||
  fail "huge index length: $out"
# `repo repair` rebuilds that index from the packs' own lists, and a lost one too.
"$haven" repo repair repo-index -q >repair.out 2>&1 && grep -q "^BAD index file" repair.out &&
  "$haven" backup restore --repo repo-index "$("$haven" backup list --repo repo-index --json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["snapshots"][0]["id"])')" \
    index-restored.img -q && cmp -s disk.img index-restored.img &&
  ok "repo repair replaces a damaged index file; the snapshot restores" ||
  fail "repair of a damaged index: $(cat repair.out)"
rm -f repo-index/index/* index-restored.img
"$haven" repo repair repo-index -q >/dev/null 2>&1 && "$haven" backup verify --repo repo-index --all -q &&
  ok "repo repair rebuilds a deleted index" || fail "repair of a deleted index"
# Two chunk ids swapped in a manifest: refused, not restored as wrong data.
cp -a repo repo-swap
python3 - repo-swap <<'PY'
import glob, sys
path = glob.glob(sys.argv[1] + "/snapshots/*")[0]
data = bytearray(open(path, "rb").read())
end = len(data) - 32  # the ids blob's tag
a, b = end - 64, end - 32
data[a:end] = data[b:end] + data[a:b]
open(path, "wb").write(data)
PY
id=$(basename repo-swap/snapshots/*)
"$haven" backup restore --repo repo-swap "$id" swapped.img -q 2>swap.err
status=$?
"$haven" backup verify --repo repo-swap --all >/dev/null 2>&1
vstatus=$?
[ $status != 0 ] && [ ! -e swapped.img ] && [ $vstatus != 0 ] &&
  grep -q "authentication failed" swap.err &&
  ok "swapped chunk ids in a manifest: restore and verify refuse (authentication)" ||
  fail "swapped ids: restore exit $status, verify exit $vstatus: $(cat swap.err)"
# A damaged pack: verify names the snapshot and offset it costs (exit 3).
first=$("$haven" backup list --repo repo --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["snapshots"][0]["id"])')
pack=$(find repo/packs -type f | head -n 1)
python3 - "$pack" <<'PY'
import sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
data[len(data) // 2] ^= 1
open(path, "wb").write(data)
PY
"$haven" backup verify --repo repo --all >verify.out 2>&1
status=$?
[ $status = 3 ] && grep -q "^BAD snapshot ${first:0:16} offset [0-9]*: chunk" verify.out &&
  ok "verify finds the damage (exit 3), naming snapshot and offset" ||
  fail "verify of a damaged pack: exit $status: $(cat verify.out)"
"$haven" backup restore --repo repo "$first" restored.img -q 2>restore.err
status=$?
[ $status != 0 ] && [ ! -e restored.img ] && [ "$(wc -l <restore.err)" = 1 ] &&
  ok "a damaged snapshot's restore fails in one line and writes nothing (exit $status)" ||
  fail "restore of a damaged snapshot: exit $status: $(cat restore.err)"
# verify marked the damaged chunk: the next backup stores it again, and all restores again.
grep -q "marked" verify.out && ok "verify marks the damaged chunk" || fail "no mark: $(cat verify.out)"
# repo repair drops it and names the snapshot that lost data (exit 3).
"$haven" repo repair repo -q >repair.out 2>&1
status=$?
[ $status = 3 ] && grep -q "^LOST data in snapshot $first" repair.out &&
  ok "repo repair names the snapshot that lost data (exit 3)" ||
  fail "repair of a damaged pack: exit $status: $(cat repair.out)"
"$haven" backup create --repo repo disk.img --name d -q || fail "the next backup"
"$haven" backup verify --repo repo --all -q && ok "after the next backup, every snapshot verifies" ||
  fail "verify after the next backup: $("$haven" backup verify --repo repo --all 2>&1 | tail -n 3)"
"$haven" backup restore --repo repo "$first" restored.img -q && cmp -s disk.img restored.img &&
  ok "the damaged snapshot restores again, byte for byte" || fail "restore of $first"
"$haven" repo repair repo -q && ok "after that, repo repair finds every snapshot whole" ||
  fail "repair after the next backup"

[ "$failures" = 0 ] && echo "all hostile-input checks passed" || echo "$failures hostile-input check(s) failed"
[ "$failures" = 0 ]
