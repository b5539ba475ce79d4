#include "devices/virtio/device.h"

#include <algorithm>

namespace haven::devices::virtio {

void read_config_bytes(std::span<const uint8_t> config, uint64_t offset, std::span<uint8_t> data) {
  std::fill(data.begin(), data.end(), 0);
  for (size_t i = 0; i < data.size(); ++i)
    if (offset + i < config.size()) data[i] = config[offset + i];
}

}  // namespace haven::devices::virtio
