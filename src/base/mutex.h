#pragma once

// A std::mutex that clang's thread-safety analysis knows (base/thread_annotations.h):
// libstdc++'s mutex and lock_guard carry no annotations, so state guarded by them cannot be
// checked. Lock it with MutexLock (a lock_guard), or with MutexUniqueLock where a
// std::condition_variable waits on it.

#include <condition_variable>
#include <mutex>
#include <shared_mutex>

#include "base/thread_annotations.h"

namespace haven {

class HAVEN_CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() HAVEN_ACQUIRE() { m_mutex.lock(); }
  void unlock() HAVEN_RELEASE() { m_mutex.unlock(); }
  bool try_lock() HAVEN_TRY_ACQUIRE(true) { return m_mutex.try_lock(); }

 private:
  friend class MutexUniqueLock;
  std::mutex m_mutex;
};

// Holds `mutex` for its scope.
class HAVEN_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mutex) HAVEN_ACQUIRE(mutex) : m_mutex(mutex) { m_mutex.lock(); }
  ~MutexLock() HAVEN_RELEASE() { m_mutex.unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& m_mutex;
};

// Holds `mutex` for its scope and lets a std::condition_variable wait on it (the wait lets
// go of the mutex and takes it back before it returns, so the analysis' view holds).
class HAVEN_SCOPED_CAPABILITY MutexUniqueLock {
 public:
  explicit MutexUniqueLock(Mutex& mutex) HAVEN_ACQUIRE(mutex) : m_lock(mutex.m_mutex) {}
  ~MutexUniqueLock() HAVEN_RELEASE() = default;
  MutexUniqueLock(const MutexUniqueLock&) = delete;
  MutexUniqueLock& operator=(const MutexUniqueLock&) = delete;

  std::unique_lock<std::mutex>& native() { return m_lock; }

 private:
  std::unique_lock<std::mutex> m_lock;
};

// A reader-writer mutex: many readers (SharedLock) or one writer (ExclusiveLock).
class HAVEN_CAPABILITY("mutex") SharedMutex {
 public:
  SharedMutex() = default;
  SharedMutex(const SharedMutex&) = delete;
  SharedMutex& operator=(const SharedMutex&) = delete;

  void lock() HAVEN_ACQUIRE() { m_mutex.lock(); }
  void unlock() HAVEN_RELEASE() { m_mutex.unlock(); }
  void lock_shared() HAVEN_ACQUIRE_SHARED() { m_mutex.lock_shared(); }
  void unlock_shared() HAVEN_RELEASE_SHARED() { m_mutex.unlock_shared(); }

 private:
  std::shared_mutex m_mutex;
};

class HAVEN_SCOPED_CAPABILITY ExclusiveLock {
 public:
  explicit ExclusiveLock(SharedMutex& mutex) HAVEN_ACQUIRE(mutex) : m_mutex(mutex) {
    m_mutex.lock();
  }
  ~ExclusiveLock() HAVEN_RELEASE() { m_mutex.unlock(); }
  ExclusiveLock(const ExclusiveLock&) = delete;
  ExclusiveLock& operator=(const ExclusiveLock&) = delete;

 private:
  SharedMutex& m_mutex;
};

class HAVEN_SCOPED_CAPABILITY SharedLock {
 public:
  explicit SharedLock(SharedMutex& mutex) HAVEN_ACQUIRE_SHARED(mutex) : m_mutex(mutex) {
    m_mutex.lock_shared();
  }
  ~SharedLock() HAVEN_RELEASE() { m_mutex.unlock_shared(); }
  SharedLock(const SharedLock&) = delete;
  SharedLock& operator=(const SharedLock&) = delete;

 private:
  SharedMutex& m_mutex;
};

}  // namespace haven
