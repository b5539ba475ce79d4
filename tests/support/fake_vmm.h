#pragma once

// A stand-in for haven-vmm, for tests of the code that starts and supervises it: a real
// process that behaves as the guest's kernel path in its config says. Its `sleep` is in the
// process group the supervisor's setsid() made, which a test kills when it ends.

#include <sys/stat.h>

#include <fstream>
#include <string>

namespace haven::testing {

constexpr const char* kFakeVmm = R"SH(#!/bin/sh
config=$(cat "$2")
case "$config" in
  *crash*) echo "haven-vmm: error: triple fault on vCPU 0 (rip=0x10)" >&2; exit 3 ;;
  *deaf*) trap '' TERM; echo ready; sleep 1000 & wait; wait ;;
  *slow*) trap 'sleep 0.2; exit 143' TERM; echo ready; sleep 1000 & wait ;;
  *) trap 'exit 143' TERM; echo ready; sleep 1000 & wait ;;
esac
)SH";

// Writes the fake VMM to `path`, executable.
inline void write_fake_vmm(const std::string& path) {
  std::ofstream(path) << kFakeVmm;
  ::chmod(path.c_str(), 0755);
}

}  // namespace haven::testing
