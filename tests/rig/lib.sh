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

# boot NAME WANT_STATUS [haven run options...]: one boot, output in $out, status checked.
boot() {
  name=$1 want=$2
  shift 2
  start=$(date +%s)
  timeout 240 haven run "$@" </dev/null >"$out" 2>&1
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
