#pragma once

// Firmware code mapped read-only into the guest (SeaBIOS's image below 4 GiB, OVMF's code
// volume): reads come from the memory slot and never reach this device; writes, which a
// read-only slot turns into MMIO exits, are dropped, as a ROM drops them.

#include <atomic>
#include <span>

#include "base/log.h"
#include "devices/bus.h"

namespace haven::devices::firmware {

class Rom final : public BusDevice {
 public:
  explicit Rom(std::span<const uint8_t> image) : m_image(image) {}
  std::string_view name() const override { return "firmware-rom"; }
  void read(uint64_t offset, std::span<uint8_t> data) override {
    for (size_t i = 0; i < data.size(); ++i)
      data[i] = offset + i < m_image.size() ? m_image[offset + i] : 0xff;
  }
  void write(uint64_t offset, std::span<const uint8_t>) override {
    if (!m_warned.exchange(true)) log::debug("firmware ROM: the guest wrote at +{:#x}", offset);
  }

 private:
  std::span<const uint8_t> m_image;
  std::atomic<bool> m_warned{false};
};

}  // namespace haven::devices::firmware
