#include "block/stack.h"

#include <sys/eventfd.h>

#include <algorithm>

#include "base/sys.h"
#include "base/thread_kind.h"

namespace haven::block {

Result<std::unique_ptr<Stack>> Stack::create(std::string name) {
  auto ready = TRY(with_context(sys::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), "{}", name));
  return std::make_unique<Stack>(std::move(name), std::move(ready));
}

Stack::Stack(std::string name, UniqueFd ready_fd)
    : m_name(std::move(name)), m_ready_fd(std::move(ready_fd)) {}

Stack::~Stack() {
  if (!m_worker.joinable()) return;
  m_worker.request_stop();
  m_changed.notify_all();
  m_worker.join();
}

void Stack::queue(Job job) {
  // Started by the first job: a disk whose requests never wait (most) keeps no thread.
  if (!m_worker.joinable())
    m_worker = std::jthread([this](std::stop_token stop) {
      enter_thread_kind(ThreadKind::device_worker);
      work(stop);
    });
  {
    MutexLock lock(m_mutex);
    m_jobs.push_back(std::move(job));
  }
  m_changed.notify_all();
}

void Stack::add(std::shared_ptr<Layer> layer) {
  m_layers.push_back(std::move(layer));
}

void Stack::remove(const Layer* layer) {
  std::erase_if(m_layers, [&](const auto& held) { return held.get() == layer; });
}

bool Stack::before(uint64_t tag, const Io& io) {
  size_t first = 0;
  while (first < m_layers.size() && m_layers[first]->admit(io)) ++first;
  if (first == m_layers.size()) return true;
  queue({tag, Phase::before, io, m_layers, first});
  return false;
}

void Stack::finished(const Io& io, bool landed) {
  for (const auto& layer : m_layers) layer->finished(io, landed);
}

bool Stack::after_flush(uint64_t tag) {
  if (std::none_of(m_layers.begin(), m_layers.end(),
                   [](const auto& layer) { return layer->keeps_state(); }))
    return true;
  queue({tag, Phase::after_flush, Io{Io::Kind::flush, 0, 0}, m_layers, 0});
  return false;
}

std::vector<Stack::Ready> Stack::take_ready() {
  std::vector<Done> done;
  {
    MutexLock lock(m_mutex);
    done.swap(m_done);
  }
  std::vector<Ready> ready;
  ready.reserve(done.size());
  for (Done& job : done) {
    for (const auto& layer : job.taken) layer->finished(job.io, false);
    ready.push_back(std::move(job.ready));
  }
  return ready;
}

void Stack::wait_idle() {
  MutexUniqueLock lock(m_mutex);
  m_changed.wait(lock.native(),
                 [&]() HAVEN_REQUIRES(m_mutex) { return m_jobs.empty() && !m_busy; });
}

void Stack::cancel() {
  {
    MutexLock lock(m_mutex);
    for (Job& job : m_jobs) {
      Done done;
      done.ready.tag = job.tag;
      done.ready.phase = job.phase;
      done.ready.result = make_error("{}: called off (the disk was reset)", m_name);
      done.io = job.io;
      if (job.phase == Phase::before)
        done.taken.assign(job.layers.begin(),
                          job.layers.begin() + static_cast<ptrdiff_t>(job.first));
      m_done.push_back(std::move(done));
    }
    m_jobs.clear();
  }
  m_changed.notify_all();
  ::eventfd_write(m_ready_fd.get(), 1);
}

Stack::Done Stack::run(Job& job) {
  Done done;
  done.ready.tag = job.tag;
  done.ready.phase = job.phase;
  done.io = job.io;
  if (job.phase == Phase::after_flush) {
    for (const auto& layer : job.layers)
      if (layer->keeps_state())
        if (auto persisted = layer->persist(); !persisted) {
          done.ready.result = with_context(std::move(persisted), "{}", m_name);
          break;
        }
    return done;
  }
  for (size_t index = job.first; index < job.layers.size(); ++index) {
    if (auto prepared = job.layers[index]->prepare(job.io); !prepared) {
      done.ready.result = std::move(prepared);
      // Those that took it already give it back (on the I/O thread, in take_ready()).
      done.taken.assign(job.layers.begin(), job.layers.begin() + static_cast<ptrdiff_t>(index));
      break;
    }
  }
  return done;
}

void Stack::work(std::stop_token stop) {
  while (true) {
    Job job;
    {
      MutexUniqueLock lock(m_mutex);
      m_changed.wait(lock.native(), stop,
                     [&]() HAVEN_REQUIRES(m_mutex) { return !m_jobs.empty(); });
      if (stop.stop_requested()) return;
      job = std::move(m_jobs.front());
      m_jobs.pop_front();
      m_busy = true;
    }
    Done done = run(job);
    {
      MutexLock lock(m_mutex);
      m_done.push_back(std::move(done));
      m_busy = false;
    }
    m_changed.notify_all();
    ::eventfd_write(m_ready_fd.get(), 1);
  }
}

}  // namespace haven::block
