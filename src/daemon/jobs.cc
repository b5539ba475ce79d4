#include "daemon/jobs.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <vector>

#include <fmt/format.h>

#include "base/hex.h"
#include "store/crypto.h"

namespace haven::daemon {
namespace {

int64_t now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

constexpr size_t kKeptJobs = 100;

}  // namespace

Jobs::~Jobs() {
  std::list<Runner> runners;
  {
    MutexLock lock(m_mutex);
    runners.swap(m_runners);
  }
  runners.clear();  // joins
}

std::string Jobs::start(const std::string& kind, const std::string& vm, Work work) {
  MutexLock lock(m_mutex);
  prune();
  // Unique across daemon restarts too, so a client following a job never gets another's.
  std::array<uint8_t, 6> random{};
  (void)store::random_bytes(random);
  const uint64_t seq = m_next++;
  std::string id = fmt::format("{}-{}-{}", kind, seq, to_hex(random.data(), random.size()));
  Job& job = m_jobs[id];
  job.id = id;
  job.seq = seq;
  job.kind = kind;
  job.vm = vm;
  job.started_at = now();
  auto done_flag = std::make_shared<std::atomic<bool>>(false);
  std::jthread thread([this, id, work = std::move(work), done_flag] {
    Report report = [this, id](nlohmann::json progress) {
      MutexLock reporting(m_mutex);
      m_jobs[id].progress = std::move(progress);
    };
    Result<nlohmann::json> result = make_error("the job did not run");
    try {
      result = work(report);
    } catch (const std::exception& error) {  // a bug, but not the daemon's end
      result = make_error("internal error: {}", error.what());
    } catch (...) {  // nor is a throw of something that is not an exception
      result = make_error("internal error: the job threw something that is not an exception");
    }
    {
      MutexLock ending(m_mutex);
      Job& done = m_jobs[id];
      done.ended_at = now();
      if (result) {
        done.state = "succeeded";
        done.result = std::move(*result);
      } else {
        done.state = "failed";
        done.error = result.error().message();
      }
    }
    m_ended.notify_all();
    done_flag->store(true);
  });
  m_runners.push_back({std::move(thread), std::move(done_flag)});
  return id;
}

void Jobs::prune() {
  // The oldest ended jobs go, by the order they were started in.
  std::vector<std::pair<uint64_t, std::string>> ended;
  for (const auto& [id, job] : m_jobs)
    if (job.state != "running") ended.emplace_back(job.seq, id);
  if (ended.size() > kKeptJobs) {
    std::ranges::sort(ended);
    for (size_t i = 0; i < ended.size() - kKeptJobs; ++i) m_jobs.erase(ended[i].second);
  }
  // Threads of ended jobs are joined here (they take no lock any more), never by themselves.
  std::erase_if(m_runners, [](const Runner& runner) { return runner.done->load(); });
}

nlohmann::json Jobs::describe(const Job& job) {
  nlohmann::json out = {
      {"id", job.id},       {"kind", job.kind},         {"vm", job.vm},
      {"state", job.state}, {"progress", job.progress}, {"started_at", job.started_at}};
  if (job.state == "succeeded") out["result"] = job.result;
  if (job.state == "failed") out["error"] = job.error;
  if (job.ended_at) out["ended_at"] = job.ended_at;
  return out;
}

std::optional<nlohmann::json> Jobs::find(const std::string& id) const {
  MutexLock lock(m_mutex);
  auto found = m_jobs.find(id);
  if (found == m_jobs.end()) return std::nullopt;
  return describe(found->second);
}

std::optional<nlohmann::json> Jobs::wait(const std::string& id,
                                         std::chrono::milliseconds wait) const {
  MutexUniqueLock lock(m_mutex);
  m_ended.wait_for(lock.native(), wait, [&]() HAVEN_REQUIRES(m_mutex) {
    auto found = m_jobs.find(id);
    return found == m_jobs.end() || found->second.state != "running";
  });
  auto found = m_jobs.find(id);
  if (found == m_jobs.end()) return std::nullopt;
  return describe(found->second);
}

nlohmann::json Jobs::list() const {
  MutexLock lock(m_mutex);
  std::vector<const Job*> jobs;
  for (const auto& [id, job] : m_jobs) jobs.push_back(&job);
  std::ranges::sort(jobs, {}, &Job::seq);
  nlohmann::json out = nlohmann::json::array();
  for (const Job* job : jobs) out.push_back(describe(*job));
  return out;
}

}  // namespace haven::daemon
