// Clang thread-safety annotations [leveldb port/thread_annotations.h]. With
// clang and -Wthread-safety (the CMake build adds it for clang) the compiler
// checks that guarded fields are only touched with their mutex held; with
// gcc they expand to nothing and remain documentation.
//
// std::mutex carries no capability attribute in libstdc++, so the checks
// bite where a field is declared GUARDED_BY a provisioner::Mutex below.
#pragma once

#include <mutex>

#if defined(__clang__)
#define PROV_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define PROV_THREAD_ANNOTATION(x)
#endif

#define GUARDED_BY(x) PROV_THREAD_ANNOTATION(guarded_by(x))
#define PT_GUARDED_BY(x) PROV_THREAD_ANNOTATION(pt_guarded_by(x))
#define REQUIRES(...) PROV_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define EXCLUDES(...) PROV_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define ACQUIRE(...) PROV_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define RELEASE(...) PROV_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define CAPABILITY(x) PROV_THREAD_ANNOTATION(capability(x))
#define SCOPED_CAPABILITY PROV_THREAD_ANNOTATION(scoped_lockable)

namespace provisioner {

// A std::mutex that clang's analysis understands.
class CAPABILITY("mutex") Mutex {
 public:
  void lock() ACQUIRE() { mu_.lock(); }
  void unlock() RELEASE() { mu_.unlock(); }
  std::mutex& native() { return mu_; }

 private:
  std::mutex mu_;
};

// std::lock_guard for Mutex, visible to the analysis.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
  ~MutexLock() RELEASE() { mu_.unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& mu_;
};

}  // namespace provisioner
