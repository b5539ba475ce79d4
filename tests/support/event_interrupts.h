#pragma once

// A virtio device's interrupts as eventfd writes, for tests and benchmarks that play the
// driver and wait on the eventfd.

#include <sys/eventfd.h>

#include "devices/virtio/device.h"

namespace haven::testing {

class EventInterrupts final : public devices::virtio::Interrupts {
 public:
  explicit EventInterrupts(int fd) : m_fd(fd) {}
  void queue(uint16_t) override { ::eventfd_write(m_fd, 1); }
  void config_changed() override {}

 private:
  int m_fd;
};

}  // namespace haven::testing
