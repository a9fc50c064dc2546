// dlm/callback_queue.cc: see callback_queue.h (docs/dlm.md §7).
#include "dlm/callback_queue.h"

namespace cohort::dlm {

void CallbackQueue::PushCompletion(std::shared_ptr<const LockCallbacks> cb,
                                   const Completion& c) {
  if (!cb || !cb->on_complete) return;
  MutexLock l(&mu_);
  queue_.push_back(Entry{std::move(cb), false, LockMode::kNone, c});
}

void CallbackQueue::PushBlocking(std::shared_ptr<const LockCallbacks> cb, LockId id,
                                 LockMode mode) {
  if (!cb || !cb->on_blocking) return;
  MutexLock l(&mu_);
  Entry e;
  e.cb = std::move(cb);
  e.blocking = true;
  e.mode = mode;
  e.c.id = id;
  queue_.push_back(std::move(e));
}

void CallbackQueue::Drain() {
  mu_.Lock();
  if (delivering_ || queue_.empty()) {
    mu_.Unlock();
    return;
  }
  delivering_ = true;
  while (!queue_.empty()) {
    batch_.swap(queue_);  // FIFO: everything queued so far, in order
    mu_.Unlock();
    // Callbacks run with no dlm lock held (docs/dlm.md §7 rule 5).
    for (Entry& e : batch_) {
      if (e.blocking) {
        e.cb->on_blocking(e.c.id, e.mode);
      } else {
        e.cb->on_complete(e.c);
      }
    }
    batch_.clear();
    mu_.Lock();
  }
  delivering_ = false;
  mu_.Unlock();
}

size_t CallbackQueue::size() const {
  MutexLock l(&mu_);
  return queue_.size();
}

}  // namespace cohort::dlm
