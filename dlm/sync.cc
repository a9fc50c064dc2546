// dlm/sync.cc: see sync.h.
#include "dlm/sync.h"

namespace cohort::dlm {

SyncLock::SyncLock(Lockspace* ls) : ls_(ls), waiter_(std::make_shared<Waiter>()) {}

void SyncLock::Arm() {
  MutexLock l(&waiter_->mu);
  waiter_->done = false;
}

Status SyncLock::Wait() {
  ls_->DrainCallbacks();
  {
    MutexLock l(&waiter_->mu);
    while (!waiter_->done) waiter_->cv.Wait();
    last_ = waiter_->c;
  }
  if (last_.status == Code::kOk) return Status::OK();
  return Status(last_.status, "dlm completion");
}

Status SyncLock::Lock(LockRequest req) {
  std::shared_ptr<Waiter> w = waiter_;
  req.on_complete = [w](const Completion& c) {
    MutexLock l(&w->mu);
    w->c = c;
    w->done = true;
    w->cv.Signal();
  };
  Arm();
  const uint32_t flags = req.flags;
  Result<LockId> id = ls_->Lock(std::move(req));
  if (!id.ok()) return id.status();
  id_ = *id;
  Status s = Wait();
  if (!s.ok() && !(flags & kConvert)) id_ = kNoLock;
  return s;
}

Status SyncLock::Convert(const ConvertRequest& req) {
  Arm();
  COHORT_RETURN_IF_ERROR(ls_->Convert(id_, req));
  return Wait();
}

Status SyncLock::Unlock(uint32_t flags, const Lvb* lvb) {
  Arm();
  COHORT_RETURN_IF_ERROR(ls_->Unlock(id_, flags, lvb));
  Status s = Wait();
  id_ = kNoLock;
  return s;
}

}  // namespace cohort::dlm
