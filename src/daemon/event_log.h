#pragma once

// State changes of every guest, numbered, kept in memory (the last kKeep) for the events
// stream: a client asks for what came after the last number it saw and waits for more.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/mutex.h"

namespace haven::daemon {

struct Event {
  uint64_t seq;
  int64_t time;  // seconds since the epoch
  std::string vm;
  nlohmann::json status;  // the guest's status after the change
};

class EventLog {
 public:
  static constexpr size_t kKeep = 1024;

  void append(std::string vm, nlohmann::json status);
  // Events with seq > `after`; waits up to `timeout` for one when there is none yet.
  std::vector<Event> after(uint64_t after, std::chrono::milliseconds timeout);
  uint64_t last_seq() const;
  // Wakes every waiter (the daemon is stopping).
  void close();
  bool closed() const;

 private:
  mutable Mutex m_mutex;
  std::condition_variable m_added;
  std::deque<Event> m_events HAVEN_GUARDED_BY(m_mutex);
  uint64_t m_next HAVEN_GUARDED_BY(m_mutex) = 1;
  bool m_closed HAVEN_GUARDED_BY(m_mutex) = false;
};

nlohmann::json event_to_json(const Event& event);

}  // namespace haven::daemon
