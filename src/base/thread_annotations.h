#pragma once

// Clang's thread-safety analysis (-Wthread-safety, on in every clang build: the fuzz build in
// CI compiles every library with it). State shared between threads names the mutex that
// guards it, and functions name the mutex they need held, take or must not hold; clang then
// refuses code that touches the state without it. Under GCC these expand to nothing.
//
//   Mutex m_mutex;
//   int m_count HAVEN_GUARDED_BY(m_mutex) = 0;
//   void bump() { MutexLock lock(m_mutex); ++m_count; }
//   void bump_locked() HAVEN_REQUIRES(m_mutex);

#if defined(__clang__)
#define HAVEN_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define HAVEN_THREAD_ANNOTATION(x)
#endif

#define HAVEN_CAPABILITY(name) HAVEN_THREAD_ANNOTATION(capability(name))
#define HAVEN_SCOPED_CAPABILITY HAVEN_THREAD_ANNOTATION(scoped_lockable)
#define HAVEN_GUARDED_BY(mutex) HAVEN_THREAD_ANNOTATION(guarded_by(mutex))
#define HAVEN_PT_GUARDED_BY(mutex) HAVEN_THREAD_ANNOTATION(pt_guarded_by(mutex))
#define HAVEN_REQUIRES(...) HAVEN_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define HAVEN_ACQUIRE(...) HAVEN_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define HAVEN_RELEASE(...) HAVEN_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define HAVEN_ACQUIRE_SHARED(...) HAVEN_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define HAVEN_RELEASE_SHARED(...) HAVEN_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
#define HAVEN_REQUIRES_SHARED(...) HAVEN_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
#define HAVEN_TRY_ACQUIRE(...) HAVEN_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define HAVEN_EXCLUDES(...) HAVEN_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define HAVEN_RETURN_CAPABILITY(x) HAVEN_THREAD_ANNOTATION(lock_returned(x))
#define HAVEN_NO_THREAD_SAFETY_ANALYSIS HAVEN_THREAD_ANNOTATION(no_thread_safety_analysis)
