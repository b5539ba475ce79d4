#pragma once

// A disk's block stack: the layers (layer.h) a guest's request passes before it reaches the
// image file, in the order they were added, with a worker thread for their slow work. The
// device's I/O thread hands each request to before(): a request no layer needs to wait for
// goes on at once; one that waits (a chunk to fetch, a block to copy aside) is prepared on the
// worker, and the I/O thread goes on serving the others meanwhile: a guest's read of a present
// block never waits behind a fetch of another. When the worker is done, ready_fd() becomes
// readable and take_ready() hands the request back. A flush that landed waits the same way
// while the layers make their state durable (after_flush()).
//
// The worker runs one job at a time, in the order they came: a write that waits for a block's
// copy is prepared after the copy an earlier write started, and sees it done.

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/error.h"
#include "base/mutex.h"
#include "base/unique_fd.h"
#include "block/layer.h"

namespace haven::block {

class Stack {
 public:
  enum class Phase : uint8_t {
    before,       // before the request's I/O: on success it goes to the image
    after_flush,  // a flush landed and the layers' state was made durable: it completes
  };
  // A request the worker is done with, identified by the caller's tag.
  struct Ready {
    uint64_t tag = 0;
    Phase phase = Phase::before;
    Result<void> result;
  };

  // `name` (the image's path) prefixes the worker's errors.
  static Result<std::unique_ptr<Stack>> create(std::string name);
  ~Stack();  // the jobs not started are dropped: wait_idle() first to see them through
  Stack(const Stack&) = delete;
  Stack& operator=(const Stack&) = delete;

  // Adds a layer below those there. Only while no request is in the stack (the device paused
  // or not yet serving).
  void add(std::shared_ptr<Layer> layer);
  void remove(const Layer* layer);
  bool empty() const { return m_layers.empty(); }

  // Before `io` goes to the image. True: it may go now. False: the worker prepares it, and
  // take_ready() hands `tag` back later (phase before).
  bool before(uint64_t tag, const Io& io);
  // After `io` ended, landed or not (every request before() let through or handed back
  // prepared).
  void finished(const Io& io, bool landed);
  // After a flush landed. True: it may complete now. False: the worker makes the layers'
  // state durable, and take_ready() hands `tag` back later (phase after_flush).
  bool after_flush(uint64_t tag);

  // Readable when take_ready() has something (an eventfd, never read: poll it for changes).
  int ready_fd() const { return m_ready_fd.get(); }
  // What the worker finished since the last call. A request that failed its preparation has
  // been taken back by the layers that had already taken it (finished(io, false)).
  std::vector<Ready> take_ready();
  // Blocks until the worker has finished every job handed to it.
  void wait_idle();
  // Calls off the jobs the worker has not started (a reset): they come back from take_ready()
  // failed, taken back by the layers that had taken them.
  void cancel();

  Stack(std::string name, UniqueFd ready_fd);

 private:
  struct Job {
    uint64_t tag = 0;
    Phase phase = Phase::before;
    Io io;
    std::vector<std::shared_ptr<Layer>> layers;  // as they were when the job was made
    size_t first = 0;                            // the first layer that did not take it
  };
  struct Done {
    Ready ready;
    Io io;
    std::vector<std::shared_ptr<Layer>> taken;  // to take back when the job failed
  };

  // Hands `job` to the worker, starting it the first time (from the I/O thread).
  void queue(Job job);
  void work(std::stop_token stop);
  Done run(Job& job);

  std::string m_name;
  UniqueFd m_ready_fd;
  std::vector<std::shared_ptr<Layer>> m_layers;  // the I/O thread's (and add/remove's)
  Mutex m_mutex;
  std::condition_variable_any m_changed;  // a job queued, or one done
  std::deque<Job> m_jobs HAVEN_GUARDED_BY(m_mutex);
  bool m_busy HAVEN_GUARDED_BY(m_mutex) = false;  // the worker runs a job
  std::vector<Done> m_done HAVEN_GUARDED_BY(m_mutex);
  std::jthread m_worker;  // started by the first job; last: stops before the rest goes
};

}  // namespace haven::block
