# Shared settings of the nested rig scripts. Sourced, not run.
#
# The rig: Debian's stock kernel booted under QEMU's software emulator (TCG) with an emulated
# AMD EPYC that has SVM and nested paging, so /dev/kvm inside it is real hardware-style KVM.
# Haven runs inside it and boots stock guest kernels there. See docs/RIG.md.

set -euo pipefail

RIG_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$RIG_DIR/../.." && pwd)
CACHE=${HAVEN_RIG_CACHE:-$REPO/.cache/rig}
KERNEL_DIR=$CACHE/kernel

rig_die() {
  echo "rig: $*" >&2
  exit 1
}

rig_need() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 ||
      rig_die "needs '$tool' (install the rig's packages: tools/install-deps)"
  done
}

# The module file of kernel module $1 in the fetched kernel tree.
rig_module_path() {
  local found
  found=$(find "$KERNEL_DIR/modules" -name "$1.ko" -o -name "$1.ko.xz" | head -n 1)
  [ -n "$found" ] || rig_die "kernel module $1 not found in $KERNEL_DIR/modules"
  echo "$found"
}

# Modules $@ and everything they depend on, dependencies first, one per line.
rig_modules_with_deps() {
  local seen=" " order=()
  visit() {
    local mod=$1 dep
    case "$seen" in *" $mod "*) return ;; esac
    seen="$seen$mod "
    for dep in $(modinfo -F depends "$(rig_module_path "$mod")" | tr ',' ' '); do
      visit "$dep"
    done
    order+=("$mod")
  }
  local m
  for m in "$@"; do visit "$m"; done
  printf '%s\n' "${order[@]}"
}

# Copies an executable and the shared libraries `ldd` lists into root $2, at the same paths.
rig_copy_with_libs() {
  local binary=$1 root=$2 lib
  install -D -m 0755 "$binary" "$root/haven/bin/$(basename "$binary")"
  for lib in $(ldd "$binary" | grep -o '/[^ ]*'); do
    [ -e "$root$lib" ] || install -D -m 0755 "$lib" "$root$lib"
  done
}

# A newc cpio (gzip -1) of directory $1 into file $2.
rig_cpio() {
  (cd "$1" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet) | gzip -1 >"$2"
}
