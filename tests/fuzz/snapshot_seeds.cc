// Not a fuzz target: writes seeds for haven_fuzz_snapshot_state into DIR: a well-formed
// snapshot.json (two vCPUs, the legacy devices' and a PCI root's real state) and the device
// states alone, so the fuzzer starts from inputs that get past the first checks.
#include <cstdio>
#include <fstream>
#include <string>

#include "devices/legacy/cmos_rtc.h"
#include "devices/legacy/uart_8250.h"
#include "devices/pci/host_bridge.h"
#include "devices/pci/pci_root.h"
#include "vmm/snapshot_file.h"

int main(int argc, char** argv) {
  using namespace haven;
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  std::string dir = argv[1];
  devices::legacy::Uart8250 uart([](std::span<const uint8_t>) {}, [](bool) {});
  const uint8_t typed[] = {'h', 'i'};
  uart.enqueue_input(typed);
  devices::legacy::CmosRtc cmos([] { return int64_t{1795737600}; });
  devices::pci::PciRoot root([](devices::GuestRequest) {});
  (void)root.add(0, std::make_shared<devices::pci::HostBridge>());
  devices::DeviceState device_state = {
      {"uart", uart.save_state()}, {"cmos", cmos.save_state()}, {"pci", root.save_state()}};

  vmm::Snapshot snapshot;
  snapshot.config.kernel = "/boot/vmlinuz";
  snapshot.config.cpus = 2;
  snapshot.config.disks.push_back({"/var/lib/disk.img", false, false});
  snapshot.vm.pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
  snapshot.vm.pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
  snapshot.vm.ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
  for (int i = 0; i < 2; ++i) {
    kvm::VcpuState vcpu;
    vcpu.cpuid.resize(2);
    vcpu.msrs = {{0x10, 123456}, {0x1b, 0xfee00900}};
    snapshot.vcpus.push_back(vcpu);
  }
  snapshot.devices = device_state;
  snapshot.memory = {{0, 0x80000000, 0}};
  snapshot.disk_copies = {vmm::snapshot_disk_name(0)};
  if (auto written = vmm::write_snapshot_file(dir, snapshot); !written) {
    std::fprintf(stderr, "%s\n", written.error().message().c_str());
    return 1;
  }
  std::ofstream(dir + "/device-state.json") << device_state.dump();
  return 0;
}
