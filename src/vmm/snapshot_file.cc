#include "vmm/snapshot_file.h"

#include "base/atomic_file.h"

namespace haven::vmm {
namespace {

using devices::DeviceState;
using devices::state_field;
using devices::state_struct;
using devices::state_struct_field;
using json = nlohmann::json;

constexpr size_t kMaxEntries = 4096;  // CPUID entries, MSRs

json vcpu_to_json(const kvm::VcpuState& state) {
  json msrs = json::array();
  for (const kvm::MsrEntry& msr : state.msrs) msrs.push_back({msr.index, msr.value});
  return {
      {"cpuid", devices::state_bytes(std::span(reinterpret_cast<const uint8_t*>(state.cpuid.data()),
                                               state.cpuid.size() * sizeof(kvm_cpuid_entry2)))},
      {"mp_state", state_struct(state.mp_state)},
      {"regs", state_struct(state.regs)},
      {"sregs", state_struct(state.sregs)},
      {"xsave", state_struct(state.xsave)},
      {"xcrs", state_struct(state.xcrs)},
      {"debugregs", state_struct(state.debugregs)},
      {"lapic", state_struct(state.lapic)},
      {"msrs", msrs},
      {"events", state_struct(state.events)}};
}

Result<kvm::VcpuState> vcpu_from_json(const json& doc) {
  kvm::VcpuState state;
  auto cpuid =
      TRY(devices::state_byte_vector(doc, "cpuid", kMaxEntries * sizeof(kvm_cpuid_entry2)));
  if (cpuid.size() % sizeof(kvm_cpuid_entry2))
    return make_error("'cpuid' is not a whole number of entries");
  state.cpuid.resize(cpuid.size() / sizeof(kvm_cpuid_entry2));
  std::memcpy(state.cpuid.data(), cpuid.data(), cpuid.size());
  state.mp_state = TRY(state_struct_field<kvm_mp_state>(doc, "mp_state"));
  state.regs = TRY(state_struct_field<kvm_regs>(doc, "regs"));
  state.sregs = TRY(state_struct_field<kvm_sregs>(doc, "sregs"));
  state.xsave = TRY(state_struct_field<kvm_xsave>(doc, "xsave"));
  state.xcrs = TRY(state_struct_field<kvm_xcrs>(doc, "xcrs"));
  state.debugregs = TRY(state_struct_field<kvm_debugregs>(doc, "debugregs"));
  state.lapic = TRY(state_struct_field<kvm_lapic_state>(doc, "lapic"));
  state.events = TRY(state_struct_field<kvm_vcpu_events>(doc, "events"));
  if (!doc.contains("msrs") || !doc["msrs"].is_array() || doc["msrs"].size() > kMaxEntries)
    return make_error("'msrs' is not a list of [index, value] pairs");
  for (const json& pair : doc["msrs"]) {
    if (!pair.is_array() || pair.size() != 2 || !pair[0].is_number_unsigned() ||
        !pair[1].is_number_unsigned() || pair[0].get<uint64_t>() > UINT32_MAX)
      return make_error("'msrs' is not a list of [index, value] pairs");
    state.msrs.push_back({pair[0].get<uint32_t>(), pair[1].get<uint64_t>()});
  }
  return state;
}

json vm_to_json(const kvm::VmState& state) {
  return {{"clock", state_struct(state.clock)},
          {"pic_master", state_struct(state.pic_master)},
          {"pic_slave", state_struct(state.pic_slave)},
          {"ioapic", state_struct(state.ioapic)},
          {"pit", state_struct(state.pit)}};
}

Result<kvm::VmState> vm_from_json(const json& doc) {
  kvm::VmState state;
  state.clock = TRY(state_struct_field<kvm_clock_data>(doc, "clock"));
  state.pic_master = TRY(state_struct_field<kvm_irqchip>(doc, "pic_master"));
  state.pic_slave = TRY(state_struct_field<kvm_irqchip>(doc, "pic_slave"));
  state.ioapic = TRY(state_struct_field<kvm_irqchip>(doc, "ioapic"));
  state.pit = TRY(state_struct_field<kvm_pit_state2>(doc, "pit"));
  if (state.pic_master.chip_id != KVM_IRQCHIP_PIC_MASTER ||
      state.pic_slave.chip_id != KVM_IRQCHIP_PIC_SLAVE ||
      state.ioapic.chip_id != KVM_IRQCHIP_IOAPIC)
    return make_error("the irqchip states are not the PICs and the IOAPIC");
  return state;
}

Result<Snapshot> parse(const json& doc) {
  Snapshot snapshot;
  // The summary also checked the VMM state's shape: 'vm' and 'devices' are objects, 'memory'
  // a list, and 'vcpus' a list of one state per vCPU of the config. Here it is decoded.
  static_cast<SnapshotSummary&>(snapshot) = TRY(parse_snapshot_summary(doc));
  snapshot.vm = TRY(with_context(vm_from_json(doc["vm"]), "vm"));
  for (size_t i = 0; i < doc["vcpus"].size(); ++i)
    snapshot.vcpus.push_back(TRY(with_context(vcpu_from_json(doc["vcpus"][i]), "vCPU {}", i)));
  snapshot.devices = doc["devices"];
  for (const json& region : doc["memory"])
    snapshot.memory.push_back({TRY(state_field<uint64_t>(region, "guest_address")),
                               TRY(state_field<uint64_t>(region, "size")),
                               TRY(state_field<uint64_t>(region, "file_offset"))});
  return snapshot;
}

}  // namespace

Result<void> write_snapshot_file(const std::string& dir, const Snapshot& snapshot) {
  json vcpus = json::array();
  for (const kvm::VcpuState& vcpu : snapshot.vcpus) vcpus.push_back(vcpu_to_json(vcpu));
  json memory = json::array();
  for (const SnapshotRegion& region : snapshot.memory)
    memory.push_back({{"guest_address", region.guest_address},
                      {"size", region.size},
                      {"file_offset", region.file_offset}});
  json doc = snapshot_summary_document(snapshot);
  doc["vm"] = vm_to_json(snapshot.vm);
  doc["vcpus"] = vcpus;
  doc["devices"] = snapshot.devices;
  doc["memory"] = memory;
  std::string text = doc.dump(1) + "\n";
  return write_file_atomic(dir + "/" + kSnapshotFileName,
                           std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

Result<Snapshot> read_snapshot_file(const std::string& dir) {
  json doc = TRY(read_snapshot_document(dir));
  return with_context(parse(doc), "{}/{}", dir, kSnapshotFileName);
}

}  // namespace haven::vmm
