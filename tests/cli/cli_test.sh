#!/bin/bash
# The `haven` command's contract with people and scripts (issue 20): every command answers
# --help, mistakes exit 2 with one line that says what is wrong and where help is, failures
# exit 1 with one line that names what failed, and --json prints what scripts parse. The
# backup commands' part is in tests/store/backup_e2e_test.sh. Needs no /dev/kvm: no guest
# starts here (havend runs, its guests stay defined only).
#
#   cli_test.sh HAVEN HAVEND
set -uo pipefail
haven=$(realpath "$1") havend=$(realpath "$2")
command -v python3 >/dev/null || { echo "FAIL: needs python3"; exit 1; }
# Physical (pwd -P): the relative-path check compares with what `haven` gets from getcwd.
work=$(cd "$(mktemp -d "${TMPDIR:-/tmp}/haven-cli-test.XXXXXX")" && pwd -P)
socket=$work/havend.sock
daemon_pid=
cleanup() {
  [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }

# run ARGS...: runs haven; its status in $status, its output in $out, its errors in $err.
run() {
  "$haven" "$@" >"$work/out" 2>"$work/err"
  status=$?
  out=$(cat "$work/out") err=$(cat "$work/err")
}
# expect STATUS 'ERROR TEXT' ARGS...: haven ARGS exits STATUS with nothing on stdout and one
# line on stderr, "haven: error: ...", that holds ERROR TEXT.
expect() {
  local want=$1 text=$2
  shift 2
  run "$@"
  local lines
  lines=$(printf '%s' "$err" | grep -c '')
  if [ "$status" = "$want" ] && [ -z "$out" ] && [ "$lines" = 1 ] &&
    [[ $err == "haven: error: "*"$text"* ]]; then
    ok "haven $* -> $want: $err"
  else
    fail "haven $*: status $status (want $want), stdout '${out:0:200}', stderr '$err'" \
      "(want one line with '$text')"
  fi
}
# json_check 'PYTHON EXPRESSION over v' ARGS...: haven ARGS exits 0 and prints JSON for which
# the expression is true.
json_check() {
  local check=$1
  shift
  run "$@"
  if [ "$status" = 0 ] && printf '%s' "$out" | python3 -c "
import json, sys
v = json.load(sys.stdin)
sys.exit(0 if ($check) else 1)" 2>/dev/null; then
    ok "haven $* --json: $check"
  else
    fail "haven $*: status $status, output '${out:0:300}', stderr '$err' (want JSON with $check)"
  fi
}

# --- Every command and subcommand answers --help (exit 0, a usage on stdout); the walk
# follows each help's list of subcommands, so a new command is covered when it is added.
helps=0
walk() {
  local text
  text=$("$haven" "$@" --help 2>&1)
  local rc=$?
  helps=$((helps + 1))
  if [ $rc != 0 ] || [[ $text != *"Usage:"* ]]; then
    fail "haven $* --help: status $rc: ${text:0:200}"
    return
  fi
  local sub
  for sub in $(printf '%s\n' "$text" | awk '/^Subcommands:/ { on = 1; next }
                                            on && /^  [a-z]/ { print $1 } on && /^$/ { on = 0 }'); do
    walk "$@" "$sub"
  done
}
walk
# run, repo, repo init, repo repair, backup and its 7, vm and its 13, restore: 27 at least.
[ "$helps" -ge 27 ] && ok "--help on $helps commands" || fail "--help walked only $helps commands"
run --version
[ "$status" = 0 ] && [[ $out == "haven "* ]] && ok "--version: $out" || fail "--version: $status $out"

# --- Mistakes in the command line: exit 2, one line, the command's --help named.
expect 2 '`haven` needs a command: run, repo, backup, vm, restore (see `haven --help`)'
expect 2 "'bogus' is not a command or option of \`haven\`" bogus
expect 2 "'bogus' is not a command or option of \`haven vm\`" vm bogus
expect 2 '`haven backup` needs a command' backup
expect 2 'NAME is required (see `haven vm show --help`)' vm show
expect 2 '--bogus' vm ls --bogus
expect 2 '--repo is required' backup list
expect 2 'DIR is required' repo init
expect 2 '--kernel: a kernel is required, or --firmware' run
expect 2 "--memory: '12Q' has an unknown unit" run --kernel /etc/hostname --memory 12Q
expect 2 '--cpus: 0 is out of range' run --kernel /etc/hostname --cpus 0
expect 2 "--cpus: 'x' is not a number" run --kernel /etc/hostname --cpus x
expect 2 "--firmware: 'bogus' is not one of" run --firmware bogus
expect 2 '--kernel: /nonexistent/vmlinuz: No such file or directory' run --kernel /nonexistent/vmlinuz
expect 2 "--chunk-size: '3K' is not a power of two" repo init "$work/repo-bad" --chunk-size 3K
expect 2 'give one of --pause and --resume' vm fill some --pause --resume --socket "$socket"
expect 2 "--disk" vm create x --kernel /etc/hostname --disk readonly=on --socket "$socket"

# --- No daemon: exit 1, the socket and the system's reason named.
expect 1 "cannot reach havend at $work/none.sock: No such file or directory" \
  vm ls --socket "$work/none.sock"
: >"$work/plain"
expect 1 "cannot reach havend at $work/plain: Connection refused" vm ls --socket "$work/plain"
HAVEN_SOCKET=$work/env.sock expect 1 "cannot reach havend at $work/env.sock" vm ls

# --- Repositories.
json_check 'v["path"].endswith("/repo") and v["encrypted"] is False and v["chunk_size"] == 65536
            and v["append_only"] is False' repo init "$work/repo" --json
expect 1 "$work/repo" repo init "$work/repo"
json_check 'v == {"snapshots": []}' backup list --repo "$work/repo" --json

# --- Guests through havend (defined, never started: no /dev/kvm needed).
mkdir "$work/images" && echo kernel >"$work/images/vmlinuz"
"$havend" --state "$work/state" --socket "$socket" --no-cgroups --allow-path "$work/images" \
  >"$work/havend.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 200); do [ -S "$socket" ] && "$haven" vm ls --socket "$socket" >/dev/null 2>&1 && break
  sleep 0.05; done
"$haven" vm ls --socket "$socket" >/dev/null 2>&1 || { cat "$work/havend.log"; echo "FAIL: no havend"; exit 1; }
export HAVEN_SOCKET=$socket
json_check 'v == []' vm ls --json
run vm ls
[ "$status" = 0 ] && [[ $out == "NAME "*STATE* ]] && ok "vm ls: a table with a header" ||
  fail "vm ls: $status '$out'"
json_check 'v["name"] == "web" and v["cpus"] == 2 and v["memory"] == "256M" and
            v["kernel"] == "'"$work/images/vmlinuz"'"' vm create web --kernel "$work/images/vmlinuz" --cpus 2 \
  --memory 256M --json
# Relative paths are the caller's: made absolute before havend sees them.
(cd "$work/images" && "$haven" vm create rel --kernel vmlinuz >/dev/null 2>&1)
json_check 'v["kernel"] == "'"$work/images/vmlinuz"'"' vm show rel --json
expect 1 "name: 'web' exists" vm create web --kernel "$work/images/vmlinuz"
expect 1 "kernel: /etc/hostname is outside the directories havend may use" \
  vm create thief --kernel /etc/hostname
expect 2 "name: 'bad/name' may hold only" vm create bad/name --kernel "$work/images/vmlinuz"
json_check 'sorted(g["name"] for g in v) == ["rel", "web"] and
            all(g["state"] == "stopped" for g in v)' vm ls --json
json_check 'v["name"] == "web" and v["state"] == "stopped" and "metrics" in v and
            "status" in v' vm show web --json
run vm show web
[ "$status" = 0 ] && [[ $out == *"name:       web"* && $out == *"state:      stopped"* ]] &&
  ok "vm show: the guest as text" || fail "vm show: $status '$out'"
expect 1 "no VM named 'ghost'" vm show ghost
expect 1 "no VM named 'ghost'" vm start ghost
expect 1 "'web' is stopped" vm stop web
expect 1 "'web' is stopped" vm pause web
# The option of `vm` after its subcommand as well as before it.
unset HAVEN_SOCKET
json_check 'len(v) == 2' vm ls --json --socket "$socket"
json_check 'len(v) == 2' vm --socket "$socket" ls --json
export HAVEN_SOCKET=$socket
json_check 'v == {"name": "web", "removed": True}' vm rm web --json
run vm rm rel
[ "$status" = 0 ] && [ "$out" = "removed rel" ] && ok "vm rm: removed rel" || fail "vm rm: $status '$out'"
expect 1 "no VM named 'web'" vm rm web
json_check 'v == []' vm ls --json

[ $failures = 0 ] && echo "all passed" || echo "$failures FAILED"
[ $failures = 0 ]
