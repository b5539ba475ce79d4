#!/bin/bash
# havend and `haven vm` end to end, on this machine's /dev/kvm with tiny guests: a real daemon
# on a temporary socket, guests defined, started, paused, stopped, killed from outside,
# adopted by a restarted daemon, three at once; the REST API's errors (400 naming the field,
# 404, 409) checked on the wire with curl.
#
#   havend_api_test.sh HAVEND HAVEN GUESTS_DIR        (exit 77: no /dev/kvm here)
set -uo pipefail
havend=$1 haven=$2 guests=$3
[ -c /dev/kvm ] && [ -r /dev/kvm ] || { echo "skip: no usable /dev/kvm"; exit 77; }
command -v curl >/dev/null || { echo "FAIL: needs curl (tools/install-deps)"; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/haven-havend-test.XXXXXX")
export HAVEN_SOCKET=$work/run/havend.sock  # run/ does not exist: havend makes it
daemon_pid=
cleanup() {
  [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null
  # The guests outlive havend by design: kill this test's VMMs (by their command line, from
  # /proc: the rig's busybox has no pkill).
  local process
  for process in /proc/[0-9]*; do
    case "$(tr '\0' ' ' 2>/dev/null <"$process/cmdline")" in
      *"haven-vmm --config $work/"*) kill -KILL "${process#/proc/}" 2>/dev/null ;;
    esac
  done
  rm -rf "$work"
}
trap cleanup EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }
api() { curl -s --unix-socket "$HAVEN_SOCKET" "$@"; }

# Whether this host lets root use cgroups with the cpu and memory controllers, found out from
# /proc/self/mounts, not from havend: where it does, havend must have found them too.
host_has_cgroups() {
  [ "$(id -u)" = 0 ] || return 1
  local cpu='' memory='' source point type options rest controller
  while read -r source point type options rest; do
    [ -w "$point" ] || continue
    case $type in
      cgroup2)
        for controller in $(cat "$point/cgroup.controllers" 2>/dev/null); do
          [ "$controller" = cpu ] && cpu=1
          [ "$controller" = memory ] && memory=1
        done ;;
      cgroup)
        case ",$options," in *,cpu,*) cpu=1 ;; esac
        case ",$options," in *,memory,*) memory=1 ;; esac ;;
    esac
  done </proc/self/mounts
  [ -n "$cpu" ] && [ -n "$memory" ]
}

# until SECONDS COMMAND...: retries COMMAND every 50 ms until it succeeds or time runs out.
until_true() {
  local deadline=$((SECONDS + $1))
  shift
  while ! "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -ge "$deadline" ] && return 1
    sleep 0.05
  done
}
state_is() { "$haven" vm show "$1" | grep -q "^state: *$2\$"; }
console_has() { api "http://havend/v1/vms/$1/console" | grep -q "$2"; }

token=haven-test-token-$RANDOM$RANDOM$RANDOM
umask 077
echo "$token" >"$work/token"
start_daemon() {
  "$havend" --state "$work/state" --socket "$HAVEN_SOCKET" --listen 127.0.0.1:0 \
    --allow-path "$work" --allow-path "$guests" \
    --token-file "$work/token" >>"$work/havend.log" 2>&1 &
  daemon_pid=$!
  until_true 10 "$haven" vm ls || { cat "$work/havend.log"; echo "FAIL: havend did not come up"; exit 1; }
}
start_daemon

# The TCP API is HTTPS, with a self-signed certificate havend made in its state directory, and
# wants the bearer token; a token file others can read is refused.
port=$(sed -n 's|.*API on https://127.0.0.1:\([0-9]*\).*|\1|p' "$work/havend.log" | tail -n 1)
cert=$work/state/tls/cert.pem
code() { curl -s -o /dev/null -w '%{http_code}' --cacert "$cert" "$@" "https://127.0.0.1:$port/v1/vms"; }
fingerprint=$(sed -n 's|.*made a self-signed TLS certificate for the TCP API: .* (\(SHA256:[0-9A-F:]*\)).*|\1|p' \
  "$work/havend.log")
[ -n "$fingerprint" ] && grep -q "API on https://127.0.0.1:$port .*$fingerprint" "$work/havend.log" &&
  ok "a self-signed certificate was made and its fingerprint logged" ||
  fail "no certificate fingerprint in the log: $(cat "$work/havend.log")"
if command -v openssl >/dev/null; then
  [ "SHA256:${fingerprint#SHA256:}" = "SHA256:$(openssl x509 -noout -fingerprint -sha256 -in "$cert" | sed 's/.*=//')" ] &&
    ok "the logged fingerprint is the certificate's" || fail "fingerprint $fingerprint is not $cert's"
fi
curl -s -o /dev/null -m 5 "http://127.0.0.1:$port/v1/vms"
plain=$?  # 52 (empty reply) or 56 (reset); 7 would be nothing listening
{ [ "$plain" = 52 ] || [ "$plain" = 56 ]; } && ok "plain HTTP gets no answer on the TCP port" ||
  fail "plain HTTP: curl exit $plain"
out=$("$havend" --state "$work/state3" --socket "$work/third.sock" --listen 127.0.0.1:0 \
  --token-file "$work/token" --tls-cert "$cert" 2>&1)
[ $? = 2 ] && [[ $out == *"--tls-cert and --tls-key go together"* ]] &&
  ok "--tls-cert without --tls-key is refused" || fail "--tls-cert alone: $out"
out=$("$havend" --state "$work/state3" --socket "$work/third.sock" --listen 127.0.0.1:0 \
  --token-file "$work/token" --tls-cert "$cert" --tls-key "$work/token" 2>&1)
[ $? = 2 ] && [[ $out == *"TLS key $work/token: not an unencrypted PEM private key"* ]] &&
  ok "a --tls-key that is no key is refused, naming it" || fail "--tls-key junk: $out"
[ "$(code)" = 401 ] && [ "$(code -H 'Authorization: Bearer wrong-token-0123456789')" = 401 ] &&
  [ "$(code -H "Authorization: Bearer $token")" = 200 ] && ok "TCP needs the bearer token" ||
  fail "TCP on port '$port': $(code) without the token, $(code -H "Authorization: Bearer $token") with it"
cp "$work/token" "$work/open-token"
chmod 644 "$work/open-token"
out=$("$havend" --state "$work/state2" --socket "$work/other.sock" --listen 127.0.0.1:0 \
  --token-file "$work/open-token" 2>&1)
[ $? = 2 ] && [[ $out == *"chmod 600"* ]] && ok "a readable token file is refused" ||
  fail "open token file: $out"

# One havend per state directory and per socket: a second one is refused, the first goes on.
out=$("$havend" --state "$work/state" --socket "$work/second.sock" 2>&1)
[ $? = 1 ] && [[ $out == *"state directory $work/state is in use by another havend (pid $daemon_pid)"* ]] &&
  ok "a second havend on the state directory is refused" || fail "second havend, same state: $out"
out=$("$havend" --state "$work/state2" --socket "$HAVEN_SOCKET" 2>&1)
[ $? = 1 ] && [[ $out == *"socket $HAVEN_SOCKET is in use by another havend"* ]] &&
  "$haven" vm ls >/dev/null && ok "a second havend on the socket is refused" ||
  fail "second havend, same socket: $out"

# Definitions and the API's errors.
"$haven" vm create idle --kernel "$guests/idle.elf" --memory 64M >/dev/null || fail "create idle"
"$haven" vm create hello --kernel "$guests/hello.elf" --memory 64M >/dev/null || fail "create hello"
out=$("$haven" vm create idle --kernel "$guests/idle.elf" 2>&1)
[ $? = 1 ] && [[ $out == *"exists"* ]] && ok "a taken name is refused" || fail "duplicate: $out"
out=$("$haven" vm create bad --kernel "$guests/idle.elf" --memory 64Q 2>&1)
[ $? = 2 ] && [[ $out == *"--memory"* ]] && ok "a bad flag is a usage error" || fail "bad: $out"
body=$(api -w ' %{http_code}' -X POST http://havend/v1/vms \
  -d "{\"name\": \"raw\", \"kernel\": \"$guests/idle.elf\", \"memory\": \"64Q\"}")
[[ $body == *'"field":"memory"'* && $body == *" 400" ]] && ok "400 names the field" ||
  fail "bad memory over the API: $body"
body=$(api -w ' %{http_code}' -X POST http://havend/v1/vms -d '{"name": "x", "kernel": "/k", "cpus": 1, "color": 1}')
[[ $body == *"color"* && $body == *" 400" ]] && ok "unknown fields are 400" || fail "unknown: $body"
body=$(api -w ' %{http_code}' http://havend/v1/vms/nobody)
[[ $body == *"no VM named 'nobody'"* && $body == *" 404" ]] && ok "unknown guest is 404" || fail "404: $body"
"$haven" vm ls --json | grep -q '"state": "stopped"' && ok "ls --json" || fail "ls --json"

# A guest that powers itself off.
"$haven" vm start hello >/dev/null || fail "start hello"
if until_true 20 state_is hello stopped; then
  "$haven" vm show hello | grep -q "reason: *the guest powered off" && ok "hello powered off" ||
    fail "hello: $("$haven" vm show hello)"
  console_has hello HAVEN-TINY-GUEST-HELLO && ok "hello's console was logged" || fail "console"
else
  fail "hello never stopped: $("$haven" vm show hello)"
fi

# A guest that runs until told: console, 409s, pause/resume, metrics, events.
"$haven" vm start idle >/dev/null || fail "start idle"
until_true 20 console_has idle HAVEN-TINY-GUEST-READY && ok "idle runs" || fail "idle: no READY"
body=$(api -w ' %{http_code}' -X DELETE http://havend/v1/vms/idle)
[[ $body == *" 409" ]] && ok "a running guest cannot be deleted (409)" || fail "delete: $body"
body=$(api -w ' %{http_code}' -X POST -d '' http://havend/v1/vms/idle/start)
[[ $body == *" 409" ]] && ok "starting a running guest is 409" || fail "start twice: $body"
"$haven" vm pause idle | grep -q "idle: paused" && state_is idle paused && ok "pause" || fail "pause"
"$haven" vm resume idle | grep -q "idle: running" && ok "resume" || fail "resume"
"$haven" vm show --json idle | grep -q '"rss_bytes"' && ok "metrics in show" || fail "metrics"
# The stream does not end by itself: curl gives up after 2 s (status 28), what came is kept.
events=$(api "http://havend/v1/events?since=0" -m 2)
[[ $events == *'"state":"paused"'* ]] && ok "events stream" ||
  fail "events: no paused event"

# Killed from outside havend: crashed, not running.
pid=$("$haven" vm show --json idle | sed -n 's/.*"pid": \([0-9]*\).*/\1/p' | head -n 1)
# But first: every thread of a running VMM is under its seccomp filter, with no_new_privs, and
# it dumps no core (src/jail/vmm_confinement.h).
confined=1
for task in /proc/"$pid"/task/*; do
  [ -e "$task/status" ] || continue  # a thread that just ended
  # Two filters: the allowlist, and the one that takes sockets away once the VMM's listen.
  grep -q "^Seccomp:[[:space:]]*2$" "$task/status" &&
    grep -q "^Seccomp_filters:[[:space:]]*2$" "$task/status" &&
    grep -q "^NoNewPrivs:[[:space:]]*1$" \
    "$task/status" || { confined=0; echo "not confined: $task"; grep -E "^(Name|Seccomp|NoNewPrivs)" "$task/status"; }
done
[ -n "$pid" ] && [ "$confined" = 1 ] && grep -q "^Max core file size *0 *0 " /proc/"$pid"/limits &&
  ok "every VMM thread is filtered (Seccomp 2, two filters, NoNewPrivs 1, no core)" ||
  fail "VMM $pid is not confined"
kill -KILL "$pid"
until_true 10 state_is idle crashed && "$haven" vm show idle | grep -q "killed by signal 9" &&
  ok "SIGKILL from outside is a crash" || fail "after SIGKILL: $("$haven" vm show idle)"

# The daemon goes away, the guest does not; a new daemon adopts it.
"$haven" vm start idle >/dev/null || fail "restart idle"
pid=$("$haven" vm show --json idle | sed -n 's/.*"pid": \([0-9]*\).*/\1/p' | head -n 1)
kill -TERM "$daemon_pid"
wait "$daemon_pid"
kill -0 "$pid" 2>/dev/null && ok "the guest outlives havend" || fail "the guest died with havend"
start_daemon
state_is idle running && ok "a new havend adopts it" || fail "not adopted: $("$haven" vm show idle)"
[ "$(grep -c "API on https://127.0.0.1:[0-9]* .*$fingerprint" "$work/havend.log")" = 2 ] &&
  ok "a restarted havend serves the same certificate" || fail "the certificate changed on restart"
# idle.elf has no ACPI: the power button goes unanswered, and after --timeout SIGTERM stops it.
"$haven" vm stop idle --timeout 1 | grep -q "stopped on request" && ok "stop" || fail "stop"

# The console both ways: what is typed reaches the guest (echo.elf answers in upper case).
"$haven" vm create echo --kernel "$guests/echo.elf" --memory 32M >/dev/null || fail "create echo"
"$haven" vm start echo >/dev/null || fail "start echo"
printf 'ping\n' | "$haven" vm console echo >"$work/console.out" 2>&1 &
console_pid=$!
until_true 20 console_has echo PING && ok "console input reaches the guest" ||
  fail "no echo: $(api http://havend/v1/vms/echo/console)"
"$haven" vm kill echo >/dev/null || fail "kill echo"
wait "$console_pid" && grep -q PING "$work/console.out" && ok "vm console ends with the guest" ||
  fail "vm console: $(cat "$work/console.out")"
"$haven" vm rm echo >/dev/null || fail "rm echo"

# Limits: the VMM runs in cgroups haven/NAME holding them (where cgroups are usable).
"$haven" vm create lim --kernel "$guests/idle.elf" --memory 64M --cpu-quota 0.5 \
  --memory-limit 200M >/dev/null || fail "create lim"
if grep -q "cgroups: cpu: v" "$work/havend.log"; then
  "$haven" vm start lim >/dev/null || fail "start lim"
  # start answers once the VMM is forked; joining cgroups (v1 waits for an RCU grace period)
  # and exec come after: the guest's first line says it is done.
  until_true 20 console_has lim HAVEN-TINY-GUEST-READY || fail "lim never ran"
  pid=$("$haven" vm show --json lim | sed -n 's/.*"pid": \([0-9]*\).*/\1/p' | head -n 1)
  grep -q "/haven/lim" "/proc/$pid/cgroup" && ok "the VMM is in its cgroups" ||
    fail "cgroups of $pid: $(cat "/proc/$pid/cgroup")"
  quota=$(cat /sys/fs/cgroup/cpu/haven/lim/cpu.cfs_quota_us /sys/fs/cgroup/haven/lim/cpu.max \
    /sys/fs/cgroup/unified/haven/lim/cpu.max 2>/dev/null)
  [[ $quota == 50000* ]] && ok "cpu quota 0.5 applied" || fail "quota: '$quota'"
  "$haven" vm stop lim --timeout 1 >/dev/null || fail "stop lim"
  [ ! -d /sys/fs/cgroup/cpu/haven/lim ] && [ ! -d /sys/fs/cgroup/haven/lim ] &&
    ok "its cgroups are gone with it" || fail "cgroup left behind"
elif host_has_cgroups; then
  fail "this host has cgroups with cpu and memory, havend found none: $(grep cgroups "$work/havend.log")"
else
  echo "skip: limits (no cgroups with the cpu and memory controllers here)"
fi
"$haven" vm rm lim >/dev/null || fail "rm lim"

# More guest RAM than the host may commit is refused (409 naming memory).
"$haven" vm create huge --kernel "$guests/idle.elf" --memory 1000G >/dev/null || fail "create huge"
out=$("$haven" vm start huge 2>&1)
[ $? = 1 ] && [[ $out == *"memory: starting 'huge'"* ]] && ok "overcommit refused" ||
  fail "huge: $out"
body=$(api -w ' %{http_code}' -X POST -d '' http://havend/v1/vms/huge/start)
[[ $body == *'"field":"memory"'* && $body == *" 409" ]] && ok "overcommit is 409" || fail "$body"
"$haven" vm rm huge >/dev/null || fail "rm huge"

# Snapshots. counter.elf prints "COUNT <memory> <register>": a restore that lost memory or
# registers prints two different numbers, one that booted afresh starts again at 1.
truncate -s 16M "$work/counter.img"
"$haven" vm create counter --kernel "$guests/counter.elf" --memory 32M \
  --disk "path=$work/counter.img" >/dev/null || fail "create counter"
"$haven" vm start counter >/dev/null || fail "start counter"
until_true 20 console_has counter "COUNT 00000003 00000003" || fail "counter does not count"
metrics=$(api http://havend/v1/vms/counter/metrics)
[[ $metrics == *'"vcpu_seconds":'* && $metrics == *'"name":"virtio-blk"'* &&
  $metrics == *'"disk_write_bytes":'* ]] && ok "metrics from the VMM: vCPU time, devices" ||
  fail "metrics: $metrics"
# A disk another guest writes is refused, naming that guest.
"$haven" vm create thief --kernel "$guests/idle.elf" --memory 32M \
  --disk "path=$work/counter.img" >/dev/null || fail "create thief"
body=$(api -w ' %{http_code}' -X POST -d '' http://havend/v1/vms/thief/start)
[[ $body == *"is in use by guest 'counter'"* && $body == *" 409" ]] &&
  ok "a disk is written by one guest at a time (409)" || fail "shared disk: $body"
"$haven" vm rm thief >/dev/null || fail "rm thief"
before_running=$(api http://havend/v1/vms/counter/console | grep -a '^COUNT [0-9a-f]* [0-9a-f]*$' |
  tail -n 1 | cut -d' ' -f2)
out=$("$haven" vm snapshot counter "$work/snap-running" 2>&1)
[[ $out == *"snapshot in $work/snap-running"* ]] && state_is counter running &&
  ok "snapshot of a running guest, which carries on" || fail "snapshot: $out"
"$haven" vm pause counter >/dev/null || fail "pause counter"
"$haven" vm snapshot --json counter "$work/snap" >"$work/snap.json" || fail "snapshot while paused"
state_is counter paused && ok "a paused guest stays paused through a snapshot" || fail "not paused"
for file in snapshot.json memory disk-0.img; do
  [ -f "$work/snap/$file" ] || fail "snapshot has no $file"
done
last=$(api http://havend/v1/vms/counter/console | grep -a '^COUNT [0-9a-f]* [0-9a-f]*$' | tail -n 1 | cut -d' ' -f2)
"$haven" vm kill counter >/dev/null || fail "kill counter"
out=$("$haven" vm restore "$work/snap" --name counter2 2>&1)
[[ $out == *"counter2: running"* ]] && ok "restore into a new VMM" || fail "restore: $out"
next=$(printf '%08x' $((16#$last + 2)))
until_true 20 console_has counter2 "COUNT $next $next" &&
  ! api http://havend/v1/vms/counter2/console | grep -aq "^COUNT 00000001 " &&
  ok "the restored guest counts on from $last, memory and registers agreeing" ||
  fail "after restore (last count $last): $(api http://havend/v1/vms/counter2/console | head -c 300)"
"$haven" vm show counter2 | grep -q "disk: *$work/state/disks/counter2/disk-0.img" &&
  ok "the restored guest runs on a copy of the snapshot's disk" ||
  fail "disk: $("$haven" vm show counter2 | grep disk)"
out=$("$haven" vm restore "$work/snap" --name counter2 2>&1)
[ $? = 1 ] && [[ $out == *"exists"* ]] && ok "restore to a taken name is refused" || fail "$out"
body=$(api -w ' %{http_code}' -X POST http://havend/v1/restore \
  -d "{\"snapshot\": \"$work/nothing\", \"name\": \"x\"}")
[[ $body == *'"field":"snapshot"'* && $body == *" 400" ]] && ok "restore of no snapshot is 400" ||
  fail "restore nothing: $body"
# The snapshot taken while the guest ran (havend paused it for the copy and let it go on),
# restored: it counts on from where it was, never from 1, memory and registers agreeing.
# counts_past NAME N: the guest's last count is at least N (hex), both halves equal.
counts_past() {
  local line
  line=$(api "http://havend/v1/vms/$1/console" | grep -a '^COUNT [0-9a-f]* [0-9a-f]*$' | tail -n 1)
  set -- "$2" $line
  [ "$#" = 4 ] && [ "$3" = "$4" ] && [ $((16#$3)) -ge $((16#$1)) ]
}
"$haven" vm kill counter2 >/dev/null || fail "kill counter2"
out=$("$haven" vm restore "$work/snap-running" --name counter3 2>&1)
[[ $out == *"counter3: running"* ]] &&
  until_true 30 counts_past counter3 "$(printf '%x' $((16#$before_running + 1)))" &&
  ! api http://havend/v1/vms/counter3/console | grep -aq "^COUNT 00000001 " &&
  ok "a snapshot of a running guest restores and counts on from $before_running" ||
  fail "restore of the running snapshot: $out $(api http://havend/v1/vms/counter3/console | head -c 300)"
"$haven" vm kill counter3 >/dev/null || fail "kill counter3"
for name in counter counter2 counter3; do "$haven" vm rm "$name" >/dev/null || fail "rm $name"; done
[ ! -e "$work/state/disks/counter2" ] && ok "rm removes the restored guest's disk copy" ||
  fail "left: $(ls "$work/state/disks/counter2")"

# Backups through havend (changed-block tracking): a stopped guest's disk is read whole the
# first time and not at all the second (nothing changed); a running guest's disk is backed up
# through its VMM's point-in-time view, incrementally, and restores to the same bytes.
"$haven" repo init "$work/repo" >/dev/null || fail "repo init"
# Sizes in bytes: busybox's head (the rig) takes no M suffix.
head -c $((3 << 20)) /dev/urandom >"$work/data.img" && truncate -s $((8 << 20)) "$work/data.img"
"$haven" vm create saved --kernel "$guests/idle.elf" --memory 32M \
  --disk "path=$work/data.img,cbt=on" >/dev/null || fail "create saved"
read_of() { sed -n 's/.*"read_bytes": *\([0-9]*\).*/\1/p' | head -n 1; }
first=$("$haven" backup create --json --repo "$work/repo" --vm saved 2>&1)
[[ $first == *'"incremental": false'* ]] && [ "$(read_of <<<"$first")" = 3145728 ] &&
  ok "first backup of a stopped guest reads all its data (3 of 8 MiB: the rest is a hole)" || fail "first backup: $first"
second=$("$haven" backup create --json --repo "$work/repo" --vm saved 2>&1)
[[ $second == *'"incremental": true'* ]] && [ "$(read_of <<<"$second")" = 0 ] &&
  ok "second backup reads nothing: no write since the first" || fail "second backup: $second"
touch "$work/data.img"  # changed behind tracking's back (offline): the bitmap is not trusted
out=$("$haven" backup create --json --repo "$work/repo" --vm saved 2>&1)
[[ $out == *'"incremental": false'* ]] && [ "$(read_of <<<"$out")" = 3145728 ] &&
  ok "a disk changed after its bitmap was saved is read whole" || fail "stale bitmap: $out"
"$haven" vm start saved >/dev/null || fail "start saved"
third=$("$haven" backup create --json --repo "$work/repo" --vm saved 2>&1)
[[ $third == *'"incremental": true'* && $third == *'"running": true'* ]] && state_is saved running &&
  ok "backup of the running guest: incremental, through its VMM, the guest runs on" ||
  fail "running backup: $third $(tail -n 5 "$work/state/logs/saved.vmm.log")"
id=$(sed -n 's/.*"id": *"\([0-9a-f]*\)".*/\1/p' <<<"$third" | head -n 1)
"$haven" backup restore --repo "$work/repo" -q "$id" "$work/restored.img" &&
  cmp -s "$work/data.img" "$work/restored.img" && ok "it restores to the disk's bytes" ||
  fail "restore of $id differs"
# A guest with three disks: read-only (skipped), tracked, untracked; both views in one pause.
# (Its read-only disk is its own: one that the running guest 'saved' writes is refused.)
truncate -s 4M "$work/second.img" && truncate -s 2M "$work/third.img" && truncate -s 1M "$work/ro.img"
"$haven" vm create two --kernel "$guests/idle.elf" --memory 32M --disk "path=$work/ro.img,readonly=on" \
  --disk "path=$work/second.img,cbt=on" --disk "path=$work/third.img" >/dev/null || fail "create two"
"$haven" vm start two >/dev/null || fail "start two"
out=$("$haven" backup create --json --repo "$work/repo" --vm two 2>&1)
[ "$(grep -c '"running": true' <<<"$out")" = 2 ] && [[ $out == *'"disk": 1'* && $out == *'"disk": 2'* ]] &&
  [ "$(grep -c 'backup view taken' "$work/state/logs/two.vmm.log")" = 2 ] &&
  ok "a running guest's two writable disks: one snapshot each (the read-only one skipped)" ||
  fail "two disks: $out"
"$haven" vm kill two >/dev/null && "$haven" vm rm two >/dev/null || fail "rm two"
body=$(api -w ' %{http_code}' -X POST http://havend/v1/vms/saved/backup -d '{}')
[[ $body == *'"field":"repo"'* && $body == *" 400" ]] && ok "a backup without a repo is 400" ||
  fail "no repo: $body"

# Boot verification: the snapshot's own VM config (idle.elf) boots in a throwaway VM; the
# result is stored with the snapshot; a marker that never shows fails it (exit 3).
out=$("$haven" backup verify --boot --repo "$work/repo" "$id" --ready TINY-GUEST-READY \
  --timeout 20 2>&1)
[ $? = 0 ] && [[ $out == *"ok: snapshot $id boots"* ]] &&
  "$haven" backup show --repo "$work/repo" "$id" | grep -q "^boot_check: *passed" &&
  ok "boot verification passes and is recorded with the snapshot" || fail "verify --boot: $out"
out=$("$haven" backup verify --boot --repo "$work/repo" "$id" --ready NEVER-PRINTED --timeout 1 2>&1)
[ $? = 3 ] && [[ $out == *"'NEVER-PRINTED' did not appear within 1 s"* ]] &&
  "$haven" backup show --repo "$work/repo" "$id" | grep -q "^boot_check: *FAILED" &&
  ok "a guest that never shows the marker fails boot verification" || fail "verify --boot: $out"
[ -z "$(ls "${TMPDIR:-/tmp}" | grep haven-boot-verify)" ] && ok "nothing left of the throwaway VM" ||
  fail "left: $(ls "${TMPDIR:-/tmp}" | grep haven-boot-verify)"

# Instant restore: a new guest runs at once on a disk that fills itself from the snapshot.
out=$("$haven" restore --repo "$work/repo" "$id" --name saved2 --instant --wait 2>&1)
[[ $out == *"saved2: running from snapshot $id"* && $out == *"restore complete"* ]] &&
  state_is saved2 running && ok "instant restore: the guest runs while its disk fills" ||
  fail "instant restore: $out"
cmp -s "$work/data.img" "$work/state/disks/saved2/disk-0.img" &&
  ok "the filled disk equals the snapshot" || fail "the filled disk differs"
"$haven" vm show saved2 | grep -q "^restore: .* of 128 chunks (100 %), complete" &&
  ok "vm show reports the fill" || fail "vm show: $("$haven" vm show saved2)"
# A backup of the restored guest restores whole into a plain guest (no restore left in it).
out=$("$haven" backup create --json --repo "$work/repo" --vm saved2 2>&1)
id2=$(sed -n 's/.*"id": *"\([0-9a-f]*\)".*/\1/p' <<<"$out" | head -n 1)
"$haven" restore --repo "$work/repo" "$id2" --name saved7 >/dev/null &&
  until_true 10 state_is saved7 running &&
  cmp -s "$work/data.img" "$work/state/disks/saved7/disk-0.img" &&
  ! "$haven" vm show --json saved7 | grep -q restore_repo &&
  ok "a whole restore of a restored guest's backup runs on a plain disk" ||
  fail "whole restore: $out $("$haven" vm show saved7 2>&1 | tail -n 3)"
# An encrypted repository: the passphrase goes to havend, the VMM gets the unlocked keys in a
# memfd (never the passphrase in its environment).
HAVEN_PASSPHRASE=test-secret "$haven" repo init --encrypt "$work/erepo" >/dev/null || fail "init erepo"
out=$(HAVEN_PASSPHRASE=test-secret "$haven" backup create --json --repo "$work/erepo" --vm saved 2>&1)
eid=$(sed -n 's/.*"id": *"\([0-9a-f]*\)".*/\1/p' <<<"$out" | head -n 1)
out=$(HAVEN_PASSPHRASE=test-secret "$haven" restore --repo "$work/erepo" "$eid" --name saved5 \
  --instant --wait 2>&1)
pid=$("$haven" vm show --json saved5 | sed -n 's/.*"pid": \([0-9]*\).*/\1/p' | head -n 1)
[[ $out == *"restore complete"* ]] && cmp -s "$work/data.img" "$work/state/disks/saved5/disk-0.img" &&
  ok "instant restore from an encrypted repository" || fail "encrypted instant restore: $out"
# The secret itself, searched where another user or a crash report could read it: the running
# VMM's command line and environment (read while it is known to be alive, so an empty or stale
# pid cannot pass).
if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ -r "/proc/$pid/environ" ] &&
  grep -aq "haven-vmm" "/proc/$pid/cmdline"; then
  ! grep -aq "test-secret" "/proc/$pid/cmdline" "/proc/$pid/environ" && kill -0 "$pid" &&
    ok "the passphrase is in neither the VMM's command line nor its environment" ||
    fail "the passphrase is visible in /proc/$pid"
else
  fail "no live VMM for saved5 to search for the passphrase (pid '$pid')"
fi
out=$(HAVEN_PASSPHRASE=test-secret "$haven" backup verify --boot --repo "$work/erepo" "$eid" \
  --ready TINY-GUEST-READY --timeout 20 2>&1)
[ $? = 0 ] && ok "boot verification from an encrypted repository" || fail "verify --boot: $out"
out=$(HAVEN_PASSPHRASE=wrong "$haven" restore --repo "$work/erepo" "$eid" --name saved6 --instant 2>&1)
[ $? = 2 ] && [[ $out == *"passphrase"* || $out == *"authentic"* ]] &&
  ok "a wrong passphrase is refused" || fail "wrong passphrase: $out"

# A fill held back fetches nothing the guest does not read, until it is let go on.
"$haven" restore --repo "$work/repo" "$id" --name saved4 --instant --fill-paused >/dev/null ||
  fail "instant restore with the fill paused"
"$haven" vm show saved4 | grep -q "^restore: .*: 0 of 128 chunks (0 %), fill paused" &&
  ok "a paused fill fetches nothing" || fail "paused fill: $("$haven" vm show saved4 | grep restore)"
# Prune keeps a snapshot a restoring guest fills from, whatever its rules say.
"$haven" backup create -q --repo "$work/repo" --vm saved || fail "a newer backup of saved"
out=$("$haven" backup prune --repo "$work/repo" --keep-last 1 --dry-run 2>&1)
grep -q "^keep    $id .*held: instant restore of guest 'saved4'" <<<"$out" &&
  ok "prune keeps a snapshot an instant restore fills from" || fail "prune with a hold: $out"
"$haven" vm fill saved4 --resume >/dev/null || fail "vm fill --resume"
until_true 20 sh -c "'$haven' vm show saved4 | grep -q '^restore: .*complete'" &&
  cmp -s "$work/data.img" "$work/state/disks/saved4/disk-0.img" &&
  ok "resumed, the fill completes" || fail "resumed fill: $("$haven" vm show saved4 | grep restore)"
# A damaged chunk: the fill reports it and the VMM logs which; nothing crashes.
cp -a "$work/repo" "$work/damaged"
pack=$(find "$work/damaged/packs" -type f | head -n 1)
printf '\xff\xff\xff\xff' | dd of="$pack" bs=1 seek=100000 conv=notrunc status=none
"$haven" restore --repo "$work/damaged" "$id" --name saved3 --instant >/dev/null ||
  fail "instant restore from the damaged repository"
until_true 20 grep -q "restore incomplete" "$work/state/logs/saved3.vmm.log" &&
  grep -q "hydrating block [0-9]* (disk offset [0-9]*): chunk [0-9]* of snapshot $id" \
    "$work/state/logs/saved3.vmm.log" && state_is saved3 running &&
  "$haven" vm show saved3 | grep -q "^restore: .*could not be fetched" &&
  ok "a damaged chunk: counted, logged with its disk offset, the guest runs on" ||
  fail "damaged: $(tail -n 5 "$work/state/logs/saved3.vmm.log")"
# Once the fills completed, their holds have ended: a prune removes them with the snapshot.
out=$("$haven" backup prune --repo "$work/repo" --keep-last 1 --dry-run 2>&1)
grep -q "^would remove  *$id" <<<"$out" && [ -n "$(ls "$work/repo/holds")" ] &&
  ok "once the fill completed, a dry-run prune would remove the snapshot" ||
  fail "dry-run prune after the fills: $out"
out=$("$haven" backup prune --repo "$work/repo" --keep-last 1 2>&1)
grep -q "^remove  *$id" <<<"$out" && [ -z "$(ls "$work/repo/holds")" ] &&
  ok "once the fill completed, prune removes the snapshot and the ended holds" ||
  fail "prune after the fills: $out $(ls "$work/repo/holds")"
for name in saved saved2 saved3 saved4 saved5 saved7; do
  "$haven" vm kill "$name" >/dev/null || fail "kill $name"
  "$haven" vm rm "$name" >/dev/null || fail "rm $name"
done

# Three guests at once; stopping one leaves the others running.
for n in 1 2 3; do
  "$haven" vm create "g$n" --kernel "$guests/idle.elf" --memory 32M >/dev/null &&
    "$haven" vm start "g$n" >/dev/null || fail "g$n"
done
"$haven" vm stop g2 --timeout 1 >/dev/null || fail "stop g2"
state_is g1 running && state_is g3 running && state_is g2 stopped && ok "three guests, one stopped" ||
  fail "three guests: $("$haven" vm ls)"
for n in 1 3; do "$haven" vm kill "g$n" >/dev/null || fail "kill g$n"; done
for name in g1 g2 g3 idle hello; do "$haven" vm rm "$name" >/dev/null || fail "rm $name"; done
[ "$("$haven" vm ls --json)" = "[]" ] && ok "all removed" || fail "left: $("$haven" vm ls)"
# The daemon's own lock, audit log and TLS certificate stay.
left=$(find "$work/state" ! -type d ! -path "$work/state/havend.lock" ! -path "$work/state/audit.log" \
  ! -path "$work/state/tls/*")
[ -z "$left" ] && ok "nothing of the removed guests left on disk" || fail "files left: $left"

[ "$failures" = 0 ] || { echo "$failures check(s) failed"; sed 's/^/  havend| /' "$work/havend.log" | tail -n 20; exit 1; }
echo "all havend checks passed"
