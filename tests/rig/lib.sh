# Helpers the rig's test scripts source (busybox sh, inside the nested rig). The caller sets
# $out (where each boot's output goes) first; failures counts failed checks.
failures=0
base_cmdline="console=ttyS0 panic=-1 quiet"

# fail MESSAGE: count a failure and show the end of the last boot's output.
fail() {
  echo "FAIL: $*"
  sed 's/^/  | /' "$out" | tail -n 40
  failures=$((failures + 1))
}

# show_stuck PID: what a process that outlived its time is doing (each thread's state, kernel
# wait channel and kernel stack) and the end of the kernel log, so a hang says where it is.
show_stuck() {
  for process in $1 $(pidof haven-vmm); do
    echo "  process $process: $(tr '\0' ' ' <"/proc/$process/cmdline" 2>/dev/null)"
    for task in /proc/"$process"/task/*; do
      [ -d "$task" ] || continue
      echo "  thread ${task##*/} $(grep '^State' "$task/status" 2>/dev/null)" \
        "wchan $(cat "$task/wchan" 2>/dev/null)"
      sed 's/^/    /' "$task/stack" 2>/dev/null
    done
  done
  dmesg 2>/dev/null | tail -n 20 | sed 's/^/  dmesg: /'
}

# watched SECONDS COMMAND...: runs COMMAND (output in $out) for at most SECONDS; past that it
# shows what the process is doing, sends SIGTERM, then SIGKILL 10 s later. Its status is
# COMMAND's, or 124 after a timeout. A process that survives SIGKILL (stuck in the kernel) is
# left behind with a FAIL line instead of hanging the whole run. Polling once a second here is a
# time limit, not synchronisation.
watched() {
  limit=$1
  shift
  "$@" </dev/null >"$out" 2>&1 &
  pid=$!
  waited=0
  while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt "$limit" ]; do
    sleep 1
    waited=$((waited + 1))
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "TIMEOUT: still running after $limit s: $*"
    show_stuck "$pid"
    kill -TERM "$pid" 2>/dev/null
    waited=0
    while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt 10 ]; do
      sleep 1
      waited=$((waited + 1))
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "TIMEOUT: SIGTERM did not stop it; sending SIGKILL"
      show_stuck "$pid"
      kill -KILL "$pid" 2>/dev/null
      sleep 5
      if kill -0 "$pid" 2>/dev/null; then
        echo "FAIL: process $pid survived SIGKILL (stuck in the kernel); leaving it"
        show_stuck "$pid"
        failures=$((failures + 1))
        return 124
      fi
    fi
    wait "$pid"
    return 124
  fi
  wait "$pid"
}

# boot NAME WANT_STATUS [haven run options...]: one boot, output in $out, status checked.
boot() {
  name=$1 want=$2
  shift 2
  start=$(date +%s)
  watched 240 haven run "$@"
  status=$?
  echo "$name: exit $status after $(($(date +%s) - start)) s"
  [ "$status" = "$want" ] || { fail "$name: exit status $status, wanted $want"; return 1; }
}

# has NAME TEXT: the last boot's output contains TEXT.
has() {
  grep -qF -- "$2" "$out" || { fail "$1: no '$2' in the output"; return 1; }
}

# marker NAME: the value the guest printed as NAME=VALUE (its console ends lines with CR LF).
marker() {
  tr -d '\r' <"$out" | sed -n "s/.*$1=\([^ ]*\).*/\1/p" | head -n 1
}

# until_true SECONDS COMMAND...: retries COMMAND every half second until it succeeds; 1 when
# time runs out (a time limit, not synchronisation: each retry checks the effect itself).
until_true() {
  deadline=$(($(date +%s) + $1))
  shift
  while ! "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -ge "$deadline" ] && return 1
    sleep 0.5
  done
}
