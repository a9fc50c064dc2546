// common/mutex.cc: the lock-rank bookkeeping and CondVar of common/mutex.h.
#include "common/mutex.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace cohort {
namespace {

#ifdef COHORT_LOCK_RANK_CHECK
// The ranked mutexes this thread holds, in acquisition order.
thread_local std::vector<const Mutex*> t_held;
#endif

}  // namespace

#ifdef COHORT_LOCK_RANK_CHECK
void Mutex::CheckRankBeforeAcquire() const {
  if (rank_ == LockRank::kUnranked) return;
  for (const Mutex* h : t_held) {
    if (h == this) {
      std::fprintf(stderr, "lock rank violation: re-acquiring %s(%d) already held\n", name_,
                   static_cast<int>(rank_));
      std::abort();
    }
    if (static_cast<int>(h->rank_) >= static_cast<int>(rank_)) {
      std::fprintf(stderr,
                   "lock rank violation: acquiring %s(%d) while holding %s(%d); "
                   "see common/lock_rank.h and docs/locking.md\n",
                   name_, static_cast<int>(rank_), h->name_, static_cast<int>(h->rank_));
      std::abort();
    }
  }
}

void Mutex::NoteAcquired() {
  if (rank_ != LockRank::kUnranked) t_held.push_back(this);
}

void Mutex::NoteReleased() {
  if (rank_ == LockRank::kUnranked) return;
  for (auto it = t_held.end(); it != t_held.begin();) {
    --it;
    if (*it == this) {
      t_held.erase(it);
      return;
    }
  }
}
#endif

std::string HeldLockRanksForDebug() {
  std::string s;
#ifdef COHORT_LOCK_RANK_CHECK
  for (const Mutex* h : t_held) {
    if (!s.empty()) s += ' ';
    s += h->name();
    s += '(' + std::to_string(static_cast<int>(h->rank())) + ')';
  }
#endif
  return s;
}

void CondVar::Wait() {
  mu_->NoteReleased();
  std::unique_lock<std::mutex> lk(mu_->mu_, std::adopt_lock);
  cv_.wait(lk);
  lk.release();
  mu_->NoteAcquired();
}

bool CondVar::WaitFor(std::chrono::nanoseconds d) {
  mu_->NoteReleased();
  std::unique_lock<std::mutex> lk(mu_->mu_, std::adopt_lock);
  bool signalled = cv_.wait_for(lk, d) == std::cv_status::no_timeout;
  lk.release();
  mu_->NoteAcquired();
  return signalled;
}

}  // namespace cohort
