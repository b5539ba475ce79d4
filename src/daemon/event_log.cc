#include "daemon/event_log.h"

namespace haven::daemon {

void EventLog::append(std::string vm, nlohmann::json status) {
  MutexLock lock(m_mutex);
  int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  m_events.push_back({m_next++, now, std::move(vm), std::move(status)});
  if (m_events.size() > kKeep) m_events.pop_front();
  m_added.notify_all();
}

std::vector<Event> EventLog::after(uint64_t after, std::chrono::milliseconds timeout) {
  MutexUniqueLock lock(m_mutex);
  m_added.wait_for(lock.native(), timeout,
                   [&]() HAVEN_REQUIRES(m_mutex) { return m_closed || m_next - 1 > after; });
  std::vector<Event> events;
  for (const Event& event : m_events)
    if (event.seq > after) events.push_back(event);
  return events;
}

uint64_t EventLog::last_seq() const {
  MutexLock lock(m_mutex);
  return m_next - 1;
}

void EventLog::close() {
  MutexLock lock(m_mutex);
  m_closed = true;
  m_added.notify_all();
}

bool EventLog::closed() const {
  MutexLock lock(m_mutex);
  return m_closed;
}

nlohmann::json event_to_json(const Event& event) {
  return {{"seq", event.seq}, {"time", event.time}, {"vm", event.vm}, {"status", event.status}};
}

}  // namespace haven::daemon
