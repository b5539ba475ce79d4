#include "devices/virtio/session.h"

namespace haven::devices::virtio {

void Session::begin(Activation activation) {
  stop();
  m_activation = std::move(activation);
}

Result<void> Session::serve(std::string name, std::vector<Worker::Watch> watches) {
  // Held before it runs: a queue kicked while the device was paused is readable at once, and
  // its handler may reach the worker through worker().
  m_worker = TRY(Worker::create(std::move(name), std::move(watches)));
  m_worker->run();
  return {};
}

Result<void> Session::serve_custom(std::string name, std::function<void(Worker&)> body) {
  // Held before it runs, as above: the body may fail the session (fail() reads m_worker).
  m_worker = TRY(Worker::create_custom(std::move(name), std::move(body)));
  m_worker->run();
  return {};
}

void Session::stop() {
  if (m_worker) m_worker->stop();  // before letting go: its last handlers use worker()
  m_worker.reset();
  m_activation = {};
  m_broken = false;
}

std::vector<std::optional<QueuePosition>> Session::positions() const {
  std::vector<std::optional<QueuePosition>> result;
  for (const auto& queue : m_activation.queues)
    result.push_back(queue ? std::optional(queue->position()) : std::nullopt);
  return result;
}

void Session::fail(const Error& error) {
  if (m_broken) return;
  m_broken = true;
  if (m_activation.fail) m_activation.fail(error.message());
  if (m_worker) m_worker->stop_soon();
}

void Session::notify(uint16_t index) {
  auto wanted = queue(index).should_notify();
  if (!wanted) return fail(wanted.error());
  if (*wanted) m_activation.interrupts->queue(index);
}

}  // namespace haven::devices::virtio
