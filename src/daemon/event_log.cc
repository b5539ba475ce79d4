#include "daemon/event_log.h"

namespace haven::daemon {

void EventLog::append(std::string vm, nlohmann::json status) {
  std::lock_guard lock(m_mutex);
  int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  m_events.push_back({m_next++, now, std::move(vm), std::move(status)});
  if (m_events.size() > kKeep) m_events.pop_front();
  m_added.notify_all();
}

std::vector<Event> EventLog::after(uint64_t after, std::chrono::milliseconds timeout) {
  std::unique_lock lock(m_mutex);
  m_added.wait_for(lock, timeout, [&] { return m_closed || m_next - 1 > after; });
  std::vector<Event> events;
  for (const Event& event : m_events)
    if (event.seq > after) events.push_back(event);
  return events;
}

uint64_t EventLog::last_seq() const {
  std::lock_guard lock(m_mutex);
  return m_next - 1;
}

void EventLog::close() {
  std::lock_guard lock(m_mutex);
  m_closed = true;
  m_added.notify_all();
}

bool EventLog::closed() const {
  std::lock_guard lock(m_mutex);
  return m_closed;
}

nlohmann::json event_to_json(const Event& event) {
  return {{"seq", event.seq}, {"time", event.time}, {"vm", event.vm}, {"status", event.status}};
}

}  // namespace haven::daemon
