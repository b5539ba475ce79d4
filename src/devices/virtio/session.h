#pragma once

// One run of a device, from DRIVER_OK to reset: the activation (queues, guest memory,
// interrupts), the worker thread serving it, and whether the ring broke. Every device holds
// one; it keeps the "report once, stop serving" and "interrupt if the driver wants it" rules in
// one place.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "devices/virtio/device.h"
#include "devices/virtio/worker.h"

namespace haven::devices::virtio {

class Session {
 public:
  ~Session() { stop(); }

  // Takes the activation; serve() then starts the worker (when the queues it needs are on).
  void begin(Activation activation);
  Result<void> serve(std::string name, std::vector<Worker::Watch> watches);
  // The same with a thread body of the device's own (see Worker::start_custom).
  Result<void> serve_custom(std::string name, std::function<void(Worker&)> body);
  // Joins the worker and forgets the activation. Safe to call when not running.
  void stop();
  // Joins the worker but keeps the activation (queues and their positions): a snapshot pauses
  // the device this way, and the device's serve call starts a new worker on resume.
  void pause() {
    if (m_worker) m_worker->stop();  // before letting go: its last handlers use worker()
    m_worker.reset();
  }
  // Each queue's position (nullopt: not enabled); meaningful while paused.
  std::vector<std::optional<QueuePosition>> positions() const;

  bool has_queue(uint16_t index) const {
    return index < m_activation.queues.size() && m_activation.queues[index].has_value();
  }
  Virtqueue& queue(uint16_t index) { return *m_activation.queues[index]; }
  int notify_fd(uint16_t index) const { return m_activation.notify_fds[index]; }
  const memory::GuestMemory& memory() const { return *m_activation.memory; }
  uint64_t features() const { return m_activation.features; }
  Worker& worker() { return *m_worker; }

  bool broken() const { return m_broken; }
  // The ring broke: the transport is told once and the worker stops after this batch.
  void fail(const Error& error);
  // After a batch on queue `index`: raises its interrupt if the driver asked for one.
  void notify(uint16_t index);

 private:
  Activation m_activation;
  bool m_broken = false;
  std::unique_ptr<Worker> m_worker;
};

}  // namespace haven::devices::virtio
