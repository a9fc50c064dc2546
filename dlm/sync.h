// dlm/sync.h: a synchronous wrapper over the asynchronous Lockspace API
// (docs/dlm.md §4, §7 rule 6).
//
// SyncLock drives one lock and waits for each completion. For a locally mastered
// resource the completion is delivered on the calling thread before Lockspace::Lock()
// returns, so a SyncLock lock+unlock never hops threads.
//
// Thread safety: one SyncLock is used by one thread at a time. Never call it from inside
// a dlm callback (it would wait for a callback that only the caller can deliver).
#pragma once

#include <memory>

#include "common/mutex.h"
#include "dlm/lockspace.h"

namespace cohort::dlm {

class SyncLock {
 public:
  // REQUIRES: ls outlives this object.
  explicit SyncLock(Lockspace* ls);
  SyncLock(const SyncLock&) = delete;
  SyncLock& operator=(const SyncLock&) = delete;

  // Requests the lock and waits for its completion. `req.on_complete` is replaced;
  // `req.on_blocking` is kept. Returns the completion's status (or the refusal of the
  // call). After a failure the object may be reused for a new Lock().
  Status Lock(LockRequest req);
  // Converts and waits. The returned status is the completion's.
  Status Convert(const ConvertRequest& req);
  // Unlocks and waits.
  Status Unlock(uint32_t flags = 0, const Lvb* lvb = nullptr);

  LockId id() const { return id_; }
  // The last completion received.
  const Completion& last() const { return last_; }

 private:
  struct Waiter {
    Mutex mu{LockRank::kUnranked, "dlm.sync"};
    CondVar cv{&mu};
    bool done GUARDED_BY(mu) = false;
    Completion c GUARDED_BY(mu);
  };
  void Arm();
  Status Wait();

  Lockspace* const ls_;
  std::shared_ptr<Waiter> waiter_;
  LockId id_ = kNoLock;
  Completion last_;
};

}  // namespace cohort::dlm
