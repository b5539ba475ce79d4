#!/bin/sh
# Boots each tiny guest with `haven run` and checks what a user would see: the console output,
# the exit status, and the one-line error. Exit 77 (skipped) where the host has no /dev/kvm.
#
#   tiny_guests_test.sh HAVEN GUESTS_DIR HAVEN_VMM_TESTHOOKS
set -u
haven=$1
guests=$2
testhooks=${3:-}  # haven-vmm with the test-only forbidden-syscall trigger (src/jail)
if ! [ -e /dev/kvm ]; then
  echo "skip: no /dev/kvm on this host (the nested rig runs this test: tools/rig/run-tests)"
  exit 77
fi
failures=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# expect NAME STATUS TEXT [haven run options...]: boots guest NAME, wants exit STATUS and TEXT
# somewhere in the combined output.
expect() {
  local name=$1 want_status=$2 want_text=$3
  shift 3
  local memory="--memory 64M"  # unless the check gives its own
  case " $* " in *" --memory "*) memory= ;; esac
  # shellcheck disable=SC2086 # $memory is two words or none
  timeout -k 10 60 "$haven" run --kernel "$guests/$name.elf" $memory "$@" </dev/null >"$out" 2>&1
  local status=$?
  if [ "$status" != "$want_status" ] || ! grep -qF -- "$want_text" "$out"; then
    echo "FAIL: $name: exit $status (want $want_status), output (want '$want_text'):"
    sed 's/^/  | /' "$out"
    failures=$((failures + 1))
  else
    echo "ok: $name exits $status with '$want_text'"
  fi
}

expect poweroff 0 ""
expect hello 0 "HAVEN-TINY-GUEST-HELLO"
expect hello 0 "HAVEN-TINY-GUEST-HELLO" --cpus 4
expect panic 4 "panicked"
if [ -d /sys/module/kvm_pvm ]; then  # as haven detects PVM
  # PVM reports an unhandlable exception as an emulation failure (see tiny_program_test.cc);
  # real KVM, as in the rig, must call it a triple fault.
  expect triple_fault 3 "on vCPU 0 (rip="
else
  expect triple_fault 3 "triple fault on vCPU 0 (rip="
fi
expect hello 2 "--memory: " --memory 12Q
expect hello 2 "cpus" --cpus 0
expect hello 2 "x this host's" --memory 1T  # far more than any host running this test has
expect missing 2 "missing.elf: No such file"

# The same machine from a JSON VM config file, console to a file.
config=$(mktemp)
console=$(mktemp)
printf '{"kernel": "%s", "memory": "32M", "cpus": 2, "console": "file:%s"}\n' \
  "$guests/hello.elf" "$console" >"$config"
if "$haven" run --config "$config" </dev/null && grep -q HAVEN-TINY-GUEST-HELLO "$console"; then
  echo "ok: hello from a JSON config, console to a file"
else
  echo "FAIL: hello from a JSON config; console file holds:"
  sed 's/^/  | /' "$console"
  failures=$((failures + 1))
fi
rm -f "$config" "$console"

# The seccomp filter (src/jail/vmm_confinement.h): a thread of each kind that makes a forbidden
# system call ends the VMM with status 8 and one line naming the thread and the call. The
# trigger lives only in haven-vmm-testhooks.
[ -x "$testhooks" ] || { echo "FAIL: no haven-vmm-testhooks given (third argument)"; failures=$((failures + 1)); }
for pair in "main:main" "vcpu:vCPU" "worker:device worker"; do
  [ -x "$testhooks" ] || break
  kind=${pair%%:*}
  want="the ${pair#*:} thread made a system call its seccomp filter forbids: unshare"
  HAVEN_VMM=$testhooks HAVEN_TEST_FORBIDDEN_SYSCALL=$kind timeout -k 10 60 "$haven" run \
    --kernel "$guests/hello.elf" --memory 64M </dev/null >"$out" 2>&1
  status=$?
  if [ "$status" = 8 ] && grep -qF "$want" "$out"; then
    echo "ok: a forbidden call on the $kind thread exits 8 with '$want'"
  else
    echo "FAIL: forbidden call on the $kind thread: exit $status (want 8), output (want '$want'):"
    sed 's/^/  | /' "$out"
    failures=$((failures + 1))
  fi
done
# Without the trigger, the same build boots the guest: the hook changes nothing else.
if [ -x "$testhooks" ] && HAVEN_VMM=$testhooks timeout -k 10 60 "$haven" run --kernel "$guests/hello.elf" \
  --memory 64M </dev/null 2>&1 | grep -q HAVEN-TINY-GUEST-HELLO; then
  echo "ok: haven-vmm-testhooks without a trigger runs hello"
else
  echo "FAIL: haven-vmm-testhooks without a trigger did not run hello"
  failures=$((failures + 1))
fi

[ "$failures" = 0 ] || { echo "$failures tiny-guest check(s) failed"; exit 1; }
