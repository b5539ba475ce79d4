// Fuzzes what restoring a snapshot reads from disk: the input is a candidate snapshot.json,
// parsed the way `haven-vmm --restore` parses it, and then, as device state, put into freshly
// built legacy devices and a PCI root. A snapshot file is the user's own, but it is still
// input from disk: any of it may be missing, mistyped, out of range or too long, and restoring
// must answer with an error, never crash, overflow or read past a buffer.
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "devices/legacy/cmos_rtc.h"
#include "devices/legacy/uart_8250.h"
#include "devices/pci/host_bridge.h"
#include "devices/pci/pci_root.h"
#include "vmm/snapshot_file.h"

namespace {

const std::string& scratch_dir() {
  static const std::string dir = [] {
    char path[] = "/tmp/haven-snapshot-fuzz.XXXXXX";
    if (!::mkdtemp(path)) std::abort();
    return std::string(path);
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace haven;
  // The whole file, through the snapshot reader.
  std::string file = scratch_dir() + "/" + vmm::kSnapshotFileName;
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) std::abort();
  if (size && ::write(fd, data, size) != static_cast<ssize_t>(size)) std::abort();
  ::close(fd);
  (void)vmm::read_snapshot_file(scratch_dir());

  // The same bytes as device state.
  auto state = nlohmann::json::parse(data, data + size, nullptr, false);
  if (state.is_discarded()) return 0;
  devices::legacy::Uart8250 uart([](std::span<const uint8_t>) {}, [](bool) {});
  (void)uart.restore_state(state);
  devices::legacy::CmosRtc cmos([] { return int64_t{0}; });
  (void)cmos.restore_state(state);
  devices::pci::PciRoot root([](devices::GuestRequest) {});
  (void)root.add(0, std::make_shared<devices::pci::HostBridge>());
  (void)root.restore_state(state);
  return 0;
}
