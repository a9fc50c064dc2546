// common/mutex.h: Mutex, MutexLock and CondVar with clang thread-safety annotations and a
// debug-build lock-rank check (common/lock_rank.h).
//
// Use these instead of std::mutex in all Cohort code so that every guarded field can name
// its guard (GUARDED_BY) and the compiler checks it (STYLE.md principle 6).
//
// Thread safety: a Mutex is, of course, shared between threads; the rank bookkeeping is
// thread-local.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "common/lock_rank.h"
#include "common/thread_annotations.h"

namespace cohort {

class CAPABILITY("mutex") Mutex {
 public:
  explicit Mutex(LockRank rank = LockRank::kUnranked, const char* name = "mutex")
      : rank_(rank), name_(name) {}
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ACQUIRE() {
    CheckRankBeforeAcquire();
    mu_.lock();
    NoteAcquired();
  }
  void Unlock() RELEASE() {
    NoteReleased();
    mu_.unlock();
  }
  bool TryLock() TRY_ACQUIRE(true) {
    // A try-lock cannot deadlock, so it is exempt from the order check.
    if (!mu_.try_lock()) return false;
    NoteAcquired();
    return true;
  }
  // Documents (and, for the analysis, asserts) that the caller holds the mutex.
  void AssertHeld() const ASSERT_CAPABILITY(this) {}

  LockRank rank() const { return rank_; }
  const char* name() const { return name_; }

 private:
  friend class CondVar;
#ifdef COHORT_LOCK_RANK_CHECK
  void CheckRankBeforeAcquire() const;
  void NoteAcquired();
  void NoteReleased();
#else
  void CheckRankBeforeAcquire() const {}
  void NoteAcquired() {}
  void NoteReleased() {}
#endif

  std::mutex mu_;
  const LockRank rank_;
  const char* const name_;
};

// Holds a Mutex for a scope.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ACQUIRE(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() RELEASE() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

// A condition variable bound to one Mutex (LevelDB port::CondVar style).
class CondVar {
 public:
  explicit CondVar(Mutex* mu) : mu_(mu) {}
  // REQUIRES: the bound Mutex is held; it is released while waiting and held again on
  // return. (Not annotated: the analysis cannot name the caller's mutex through
  // `mu_`, as in LevelDB's port::CondVar.)
  void Wait();
  // As Wait(), but gives up after `d`. Returns false on timeout.
  bool WaitFor(std::chrono::nanoseconds d);
  void Signal() { cv_.notify_one(); }
  void SignalAll() { cv_.notify_all(); }

 private:
  Mutex* const mu_;
  std::condition_variable cv_;
};

// The ranks of the ranked mutexes the calling thread holds, innermost last, as text
// ("fs.inode(120) dlm.lockspace(300)"), for failure messages.
std::string HeldLockRanksForDebug();

}  // namespace cohort
