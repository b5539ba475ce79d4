#pragma once

// Long work the API starts (a guest's backup): each job runs on its own thread and clients
// follow it with GET /v1/jobs/ID, which shows its progress while it runs and its result or
// one-line error when it ended. Jobs live in the daemon's memory; the last 100 ended ones
// are kept.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/mutex.h"

namespace haven::daemon {

class Jobs {
 public:
  // What a job reports as it goes (replaces the previous report).
  using Report = std::function<void(nlohmann::json progress)>;
  using Work = std::function<Result<nlohmann::json>(const Report& report)>;

  Jobs() = default;
  ~Jobs();  // waits for running jobs
  Jobs(const Jobs&) = delete;
  Jobs& operator=(const Jobs&) = delete;

  // Starts `work` on a new thread; returns the job's id.
  std::string start(const std::string& kind, const std::string& vm, Work work);
  // {"id", "kind", "vm", "state": "running|succeeded|failed", "progress", "result", "error",
  //  "started_at", "ended_at"}, or nullopt for an unknown id.
  std::optional<nlohmann::json> find(const std::string& id) const;
  // The same, once the job has ended or `wait` has passed (a long poll).
  std::optional<nlohmann::json> wait(const std::string& id, std::chrono::milliseconds wait) const;
  // Oldest first.
  nlohmann::json list() const;

 private:
  struct Job {
    std::string id, kind, vm, state = "running", error;
    nlohmann::json progress = nlohmann::json::object(), result;
    int64_t started_at = 0, ended_at = 0;
    uint64_t seq = 0;  // the order jobs were started in (ids sort as text: backup-10 < backup-9)
  };
  static nlohmann::json describe(const Job& job);
  void prune() HAVEN_REQUIRES(m_mutex);

  mutable Mutex m_mutex;
  mutable std::condition_variable m_ended;
  std::map<std::string, Job> m_jobs HAVEN_GUARDED_BY(m_mutex);
  uint64_t m_next HAVEN_GUARDED_BY(m_mutex) = 1;
  struct Runner {
    std::jthread thread;
    std::shared_ptr<std::atomic<bool>> done;  // set as the thread ends, after its last lock
  };
  std::list<Runner> m_runners HAVEN_GUARDED_BY(m_mutex);  // last: joined before the jobs go
};

}  // namespace haven::daemon
