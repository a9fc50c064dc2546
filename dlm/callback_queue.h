// dlm/callback_queue.h: the queue of pending completion (AST) and blocking (BAST)
// callbacks, filled under the lockspace mutex and drained outside it
// (docs/dlm.md §7, §13).
//
// Thread safety: Push() and Drain() may be called from any thread. Only one thread
// delivers at a time; a Drain() that finds another deliverer active returns at once and
// the active deliverer delivers its entries too, so callbacks keep their queue order.
#pragma once

#include <vector>
#include <memory>

#include "common/mutex.h"
#include "dlm/types.h"

namespace cohort::dlm {

// The callbacks of one lock, shared by the lock and its queued deliveries.
struct LockCallbacks {
  CompletionFn on_complete;
  BlockingFn on_blocking;
};

class CallbackQueue {
 public:
  CallbackQueue() = default;
  CallbackQueue(const CallbackQueue&) = delete;
  CallbackQueue& operator=(const CallbackQueue&) = delete;

  void PushCompletion(std::shared_ptr<const LockCallbacks> cb, const Completion& c)
      EXCLUDES(mu_);
  void PushBlocking(std::shared_ptr<const LockCallbacks> cb, LockId id, LockMode mode)
      EXCLUDES(mu_);
  // Delivers queued callbacks on the calling thread until the queue is empty, unless
  // another thread is delivering. REQUIRES: the caller holds no dlm mutex.
  void Drain() EXCLUDES(mu_);
  // Number of queued, undelivered callbacks.
  size_t size() const EXCLUDES(mu_);

 private:
  struct Entry {
    std::shared_ptr<const LockCallbacks> cb;
    bool blocking = false;
    LockMode mode = LockMode::kNone;
    Completion c;
  };
  mutable Mutex mu_{LockRank::kDlmCallbackQueue, "dlm.callbacks"};
  std::vector<Entry> queue_ GUARDED_BY(mu_);
  bool delivering_ GUARDED_BY(mu_) = false;
  // The batch being delivered; touched only by the one active deliverer (delivering_),
  // outside mu_. Kept to reuse its capacity.
  std::vector<Entry> batch_;
};

}  // namespace cohort::dlm
