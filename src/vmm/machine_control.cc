// The part of Machine that havend drives through the control socket: pause and resume,
// snapshots, statistics, backup views of the disks, the fill of restoring disks.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <string_view>

#include <nlohmann/json.hpp>

#include "arch/x86/layout.h"
#include "base/atomic_file.h"
#include "base/file_extents.h"
#include "base/file_lock.h"
#include "base/hex.h"
#include "base/log.h"
#include "base/sys.h"
#include "kvm/cpu_state.h"
#include "vmm/machine.h"
#include "vmm/memory_image.h"

namespace haven::vmm {

namespace x86 = arch::x86;

Result<void> Machine::pause() {
  if (m_paused) return {};
  m_gate->close();
  kick_vcpus();
  if (!m_gate->wait_parked(std::chrono::seconds(5))) {
    m_gate->open();
    return make_error("the vCPUs did not stop within 5 s");
  }
  // No vCPU runs now, so no new doorbells: the devices finish what they have and stop.
  for (auto& device : m_virtio) device->pause();
  m_paused = true;
  return {};
}

void Machine::resume() {
  if (!m_paused) return;
  for (auto& device : m_virtio) device->resume();
  m_paused = false;
  m_gate->open();
}

devices::DeviceState Machine::save_devices() {
  devices::DeviceState state = {
      {"uart", m_uart->save_state()}, {"cmos", m_cmos->save_state()}, {"pci", m_pci->save_state()}};
  state["i8042"] = m_i8042->save_state();
  if (m_fw_cfg) state["fw_cfg"] = m_fw_cfg->save_state();
  if (m_pflash) state["pflash"] = m_pflash->save_state();
  return state;
}

Result<void> Machine::restore_devices(const devices::DeviceState& state) {
  for (const char* name : {"uart", "cmos", "pci"})
    if (!state.contains(name)) return make_error("device state has no '{}'", name);
  TRY(with_context(m_uart->restore_state(state["uart"]), "serial port"));
  TRY(with_context(m_cmos->restore_state(state["cmos"]), "CMOS RTC"));
  TRY(with_context(m_pci->restore_state(state["pci"]), "PCI"));
  // Snapshots from before the keyboard controller kept state have none: its power-on state.
  if (state.contains("i8042"))
    TRY(with_context(m_i8042->restore_state(state["i8042"]), "keyboard controller"));
  if (m_fw_cfg && state.contains("fw_cfg"))
    TRY(with_context(m_fw_cfg->restore_state(state["fw_cfg"]), "fw_cfg"));
  if (m_pflash && state.contains("pflash"))
    TRY(with_context(m_pflash->restore_state(state["pflash"]), "UEFI variable store"));
  return {};
}

Result<SnapshotResult> Machine::snapshot(const std::string& dir) {
  using Clock = std::chrono::steady_clock;
  auto began = Clock::now();
  if (dir.empty() || dir.front() != '/')
    return field_error(ErrorKind::invalid, "dir", "the snapshot directory must be absolute");
  // Its copy would lack the chunks not fetched yet (and the list of which those are).
  for (size_t i = 0; i < m_disks.size(); ++i)
    if (m_disks[i]->restoring())
      return field_error(ErrorKind::conflict, "state",
                         "disk {} ({}) is still being restored from a backup; snapshot "
                         "the guest once its fill completes",
                         i, m_disks[i]->path());
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return errno_error("mkdir {}", dir);
  // The directory is this snapshot's until it is written: two at once would mix their parts.
  std::string lock_path = dir + "/" + kSnapshotLockName;
  auto lock = TRY(sys::open(lock_path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!TRY(sys::try_lock(lock.get(), sys::LockMode::exclusive, lock_path)))
    return field_error(ErrorKind::conflict, "dir",
                       "{} is being written by another snapshot ({}); choose another directory",
                       dir, sys::describe_lock_holders(lock.get()));
  // An older snapshot here stops being one before any of its files is replaced.
  std::string manifest = dir + "/" + kSnapshotFileName;
  if (::unlink(manifest.c_str()) != 0 && errno != ENOENT) return errno_error("remove {}", manifest);

  bool was_paused = m_paused;
  TRY(pause());
  auto paused_at = Clock::now();
  SnapshotResult result;
  Snapshot snapshot;
  std::array<uint8_t, 16> id{};
  TRY(sys::random_bytes(id));
  snapshot.id = to_hex(id.data(), id.size());
  auto capture = [&]() -> Result<void> {
    snapshot.config = m_config;
    // A disk's queues are written when more than one: unwritten means one (as in snapshots
    // from before the field, which older Havens can then still read).
    for (DiskConfig& disk : snapshot.config.disks)
      if (disk.queues == 1) disk.queues = 0;
    snapshot.vm = TRY(kvm::save_vm_state(m_vm));
    for (const kvm::Vcpu& vcpu : m_vcpus)
      snapshot.vcpus.push_back(
          TRY(with_context(kvm::save_vcpu_state(vcpu, m_msr_indices), "vCPU {}", vcpu.id())));
    snapshot.devices = save_devices();
    auto image = TRY(write_memory_image(m_memory, dir + "/" + kSnapshotMemoryName, snapshot.id));
    snapshot.memory = image.regions;
    result.memory_bytes = image.data_bytes;
    // Writable disks are copied while the guest stands still (the devices have finished every
    // request, and their writes are in the page cache the copy reads).
    for (size_t i = 0; i < m_config.disks.size(); ++i) {
      const DiskConfig& disk = m_config.disks[i];
      if (disk.readonly) {
        snapshot.disk_copies.emplace_back();
        continue;
      }
      std::string name = snapshot_disk_name(i);
      std::string target = dir + "/" + name, temporary = target + ".tmp";
      ::unlink(temporary.c_str());
      result.disk_bytes += TRY(with_context(copy_sparse_file(disk.path, temporary), "disk {}", i));
      if (::rename(temporary.c_str(), target.c_str()) != 0)
        return errno_error("rename {} to {}", temporary, target);
      snapshot.disk_copies.push_back(name);
    }
    // The UEFI variables, as the flash holds them now (the guest stands still).
    if (m_pflash) {
      TRY(with_context(
          write_file_atomic(dir + "/" + kSnapshotNvramName, m_nvram.bytes(), false, 0600),
          "UEFI variable store"));
      snapshot.nvram_copy = kSnapshotNvramName;
    }
    return {};
  };
  auto captured = capture();
  if (!was_paused) resume();
  auto resumed_at = Clock::now();
  TRY(captured);
  TRY(write_snapshot_file(dir, snapshot));
  using Ms = std::chrono::duration<double, std::milli>;
  result.paused_ms = Ms(resumed_at - paused_at).count();
  result.total_ms = Ms(Clock::now() - began).count();
  return result;
}

nlohmann::json Machine::stats() const {
  using json = nlohmann::json;
  // KVM's names (x86); a kernel without one of them just leaves it out.
  static constexpr std::string_view kVcpuStats[] = {
      "exits",        "io_exits",         "mmio_exits",       "halt_exits",     "irq_exits",
      "signal_exits", "irq_window_exits", "nmi_window_exits", "irq_injections", "halt_wakeup"};
  json vcpus = json::array();
  for (size_t i = 0; i < m_vcpus.size(); ++i) {
    json vcpu = {{"id", m_vcpus[i].id()}};
    timespec used{};
    if (i < m_vcpu_clocks.size() && ::clock_gettime(m_vcpu_clocks[i], &used) == 0)
      vcpu["cpu_seconds"] = static_cast<double>(used.tv_sec) + used.tv_nsec / 1e9;
    if (m_vcpu_stats[i])
      if (auto values = m_vcpu_stats[i]->read(kVcpuStats))
        for (const auto& [name, value] : *values) vcpu[name] = value;
    vcpus.push_back(std::move(vcpu));
  }
  json devices = json::array();
  for (const auto& device : m_virtio) {
    json entry = device->counters();
    entry["name"] = device->name();
    entry["slot"] = device->slot();
    devices.push_back(std::move(entry));
  }
  return {{"ok", true}, {"vcpus", vcpus}, {"devices", devices}};
}

Result<control::BackupBeginAnswer> Machine::begin_backup(
    const control::BackupBeginRequest& request) {
  std::vector<devices::virtio::Block*> disks;
  for (const control::BackupDisk& part : request.disks) {
    if (part.disk >= m_disks.size())
      return field_error(ErrorKind::invalid, "disks", "{} is not a disk index (the guest has {})",
                         part.disk, m_disks.size());
    disks.push_back(m_disks[part.disk]);
  }
  // Paused, so no request is in flight while a view or a bitmap changes hands; every disk's
  // view is taken in the same pause, so together they are the guest's disks at one instant.
  bool was_paused = m_paused;
  TRY(pause());
  control::BackupBeginAnswer answer;
  Result<void> done = {};
  for (size_t i = 0; i < disks.size() && done; ++i) {
    const control::BackupDisk& part = request.disks[i];
    auto view = disks[i]->begin_backup(part.state, part.data, part.baseline, part.granularity);
    if (!view) {
      for (size_t j = 0; j < i; ++j) disks[j]->end_backup(false, {});
      done = std::unexpected(std::move(view).error());
      break;
    }
    answer.views.push_back({view->incremental, view->disk_bytes, view->granularity,
                            view->wanted_blocks, disks[i]->path()});
    log::info("{}: backup view taken ({} of {} blocks wanted, {})", disks[i]->path(),
              view->wanted_blocks, (view->disk_bytes + view->granularity - 1) / view->granularity,
              view->incremental ? "incremental" : "full");
  }
  // A UEFI guest's variables from the same instant as its disks, when asked for.
  if (done && !request.nvram.empty() && m_nvram.size() > 0) {
    done = with_context(write_file_atomic(request.nvram, m_nvram.bytes(), false, 0600),
                        "backup_begin: nvram copy {}", request.nvram);
    if (!done)
      for (auto* disk : disks) disk->end_backup(false, {});
    else
      answer.nvram = request.nvram;
  }
  if (!was_paused) resume();
  TRY(done);
  return answer;
}

Result<void> Machine::end_backup(const control::BackupEndRequest& request) {
  if (request.disk >= m_disks.size())
    return field_error(ErrorKind::invalid, "disk", "{} is not a disk index (the guest has {})",
                       request.disk, m_disks.size());
  devices::virtio::Block* disk = m_disks[request.disk];
  bool was_paused = m_paused;
  TRY(pause());
  disk->end_backup(request.commit, request.baseline);
  log::info("{}: backup {}", disk->path(),
            request.commit ? "committed as " + request.baseline : std::string("abandoned"));
  if (!was_paused) resume();
  return {};
}

nlohmann::json Machine::handle_control(const nlohmann::json& request) {
  auto answer = control_answer(request);
  return answer ? std::move(*answer) : control_error_answer(answer.error());
}

Result<nlohmann::json> Machine::control_answer(const nlohmann::json& request) {
  switch (TRY(control::op_of(request))) {
    case control::Op::status:
      return control::to_json(control::StatusAnswer{m_paused, control::kVersion});
    case control::Op::stats:
      return stats();
    case control::Op::pause:
      TRY(pause());
      log::info("guest paused");
      return control::ok();
    case control::Op::resume:
      resume();
      log::info("guest resumed");
      return control::ok();
    case control::Op::power_button:
      // A PC's fixed power button (an SCI), or an edge on the GED's interrupt: the guest's
      // ACPI button driver sees a press.
      if (m_pm)
        m_pm->press_power_button();
      else
        for (bool level : {true, false}) TRY(m_vm.set_irq_line(x86::kPowerButtonGsi, level));
      log::info("power button pressed");
      return control::ok();
    case control::Op::snapshot: {
      auto asked = TRY(control::snapshot_request_from_json(request));
      auto taken = TRY(snapshot(asked.dir));
      log::info("snapshot written to {}: {} MiB of memory, {} MiB of disk, guest paused {:.1f} ms",
                asked.dir, taken.memory_bytes >> 20, taken.disk_bytes >> 20, taken.paused_ms);
      return control::to_json(control::SnapshotAnswer{taken.memory_bytes, taken.disk_bytes,
                                                      taken.paused_ms, taken.total_ms});
    }
    case control::Op::fill: {
      auto asked = TRY(control::fill_request_from_json(request));
      uint64_t restoring = 0;
      for (auto* disk : m_disks) restoring += disk->pause_fill(asked.paused);
      if (restoring == 0)
        return field_error(ErrorKind::conflict, "fill", "no disk of this guest is being restored");
      log::info("background fill of {} restoring disk(s) {}", restoring,
                asked.paused ? "paused" : "going on");
      return control::to_json(control::FillAnswer{restoring});
    }
    case control::Op::backup_begin: {
      auto asked = TRY(control::backup_begin_request_from_json(request));
      return control::to_json(TRY(begin_backup(asked)));
    }
    case control::Op::backup_end: {
      auto asked = TRY(control::backup_end_request_from_json(request));
      TRY(end_backup(asked));
      return control::ok();
    }
  }
  return make_error("unhandled op");
}

}  // namespace haven::vmm
