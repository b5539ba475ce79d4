#pragma once

// What havend and the CLI read of a VM snapshot directory (its layout is described in
// vmm/snapshot_file.h): the file names, the VM config and which disks and variable store
// were copied. The VMM's own state in the same file (KVM's VM and vCPU state, the devices',
// the memory layout) is read only by haven-vmm, through vmm/snapshot_file.h, so that the
// callers of a VMM need not link devices and KVM.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "vmm/vm_config.h"

namespace haven::vmm {

inline constexpr const char* kSnapshotFileName = "snapshot.json";
inline constexpr const char* kSnapshotMemoryName = "memory";
inline constexpr const char* kSnapshotNvramName = "nvram.fd";
// flock()ed by the snapshot being written into the directory.
inline constexpr const char* kSnapshotLockName = "lock";
inline constexpr uint32_t kSnapshotVersion = 1;

// "disk-N.img".
std::string snapshot_disk_name(size_t index);

struct SnapshotSummary {
  // Random, 32 hex digits, also marked in the memory image (memory_image.h), so a restore
  // finds parts that do not belong together; empty in snapshots from before it.
  std::string id;
  VmConfig config;
  // Per disk of `config`: the copy's file name in the snapshot directory, or nullopt for a
  // read-only disk (used in place).
  std::vector<std::optional<std::string>> disk_copies;
  // A UEFI guest's variable store: its copy's file name in the snapshot directory.
  std::optional<std::string> nvram_copy;
};

// Reads and checks dir/snapshot.json's format, version, config and copies, and that the VMM's
// state is there in shape (one state per vCPU, the devices, the memory regions) without
// decoding it: haven-vmm does, when it restores. A directory without the file is an error
// that says the snapshot is missing or unfinished.
Result<SnapshotSummary> read_snapshot_summary(const std::string& dir);

// The parts vmm/snapshot_file.cc builds on: dir/snapshot.json parsed (not checked), the
// summary's fields checked out of a parsed document, and written into one.
Result<nlohmann::json> read_snapshot_document(const std::string& dir);
Result<SnapshotSummary> parse_snapshot_summary(const nlohmann::json& doc);
nlohmann::json snapshot_summary_document(const SnapshotSummary& summary);

}  // namespace haven::vmm
