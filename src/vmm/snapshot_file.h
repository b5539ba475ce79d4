#pragma once

// A snapshot of a running VM is a directory:
//   snapshot.json  format and version, the VM config, KVM's VM and vCPU state, the devices'
//                  state, the memory layout and which disks were copied. Written last (and
//                  atomically): a directory without it holds an unfinished snapshot, which
//                  restore refuses. Its random `id` marks the memory too.
//   memory         guest RAM, region after region, sparse (pages of zeros are holes), then
//                  a 64-byte mark naming the snapshot's id (restore refuses RAM saved by
//                  another snapshot). Restore maps it copy-on-write, so it must not change
//                  while a restored guest runs (a new snapshot into the same directory
//                  replaces the file by rename, which leaves running guests their old copy).
//   disk-N.img     writable disk N as it was at that instant (read-only disks are referred
//                  to by path).
//   nvram.fd       a UEFI guest's variable store (boot entries...) at that instant.
//   lock           flock()ed by the snapshot being written: one at a time per directory.

#include <cstdint>
#include <string>
#include <vector>

#include "base/error.h"
#include "devices/device_state.h"
#include "kvm/cpu_state.h"
#include "vmm/snapshot_layout.h"

namespace haven::vmm {

struct SnapshotRegion {
  uint64_t guest_address = 0;
  uint64_t size = 0;
  uint64_t file_offset = 0;
};

// The whole of snapshot.json: the summary havend reads (config, copies) and the VMM's state.
struct Snapshot : SnapshotSummary {
  kvm::VmState vm;
  std::vector<kvm::VcpuState> vcpus;
  devices::DeviceState devices;
  std::vector<SnapshotRegion> memory;
};

Result<void> write_snapshot_file(const std::string& dir, const Snapshot& snapshot);
// Reads and checks dir/snapshot.json (format, version, sizes of every KVM structure).
Result<Snapshot> read_snapshot_file(const std::string& dir);

}  // namespace haven::vmm
