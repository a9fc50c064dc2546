// fs/core/glock.cc: glocks over the DLM (docs/locking.md §2).
#include "fs/core/glock.h"

#include <algorithm>

#include "common/logging.h"

namespace cohort::fs {
namespace {

// Position of a glock type in the cluster lock order (docs/locking.md §2.2).
int TypeOrder(GlockType t) {
  switch (t) {
    case GlockType::kRecovery: return -1;
    case GlockType::kRename: return 0;
    case GlockType::kInode: return 1;
    case GlockType::kOpen: return 2;
    case GlockType::kGroupTable: return 3;
    case GlockType::kGroup: return 4;
    case GlockType::kStatfs: return 5;
    case GlockType::kJournal: return 6;
    case GlockType::kFlock: return 7;
  }
  return 8;
}

std::string MakeName(GlockType t, uint64_t n) {
  std::string s(9, '\0');
  s[0] = static_cast<char>(t);
  for (int i = 0; i < 8; ++i) s[1 + i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return s;
}

int ModeRank(dlm::LockMode m) {
  return m == dlm::LockMode::kNone ? -1 : static_cast<int>(m);
}

}  // namespace

// ------------------------------------------------------------------------- placement

net::NodeId GlockPlacement::operator()(std::string_view key) const {
  // A top-level glock key is [len = 9][type u8][number u64 LE] (docs/locking.md §2.1).
  if (key.size() != 10 || static_cast<uint8_t>(key[0]) != 9 || ag_blocks == 0 ||
      max_nodes == 0) {
    return net::kNoNode;
  }
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(static_cast<uint8_t>(key[2 + i])) << (8 * i);
  uint64_t g;
  switch (static_cast<GlockType>(key[1])) {
    case GlockType::kInode:
    case GlockType::kOpen:
      if (n < ag_start) return net::kNoNode;
      g = (n - ag_start) / ag_blocks;
      break;
    case GlockType::kGroup:
      g = n;
      break;
    default:
      return net::kNoNode;
  }
  uint64_t node = g % max_nodes + 1;
  return node <= net::kMaxNodeId ? static_cast<net::NodeId>(node) : net::kNoNode;
}

// ---------------------------------------------------------------------------- holder

GlockHolder& GlockHolder::operator=(GlockHolder&& o) noexcept {
  if (this != &o) {
    Release();
    gl_ = o.gl_;
    mode_ = o.mode_;
    o.gl_ = nullptr;
  }
  return *this;
}

void GlockHolder::Release() {
  if (gl_ == nullptr) return;
  Glock* gl = gl_;
  gl_ = nullptr;
  gl->ReleaseHolder(mode_);
}

// ----------------------------------------------------------------------------- glock

Glock::Glock(GlockManager* mgr, GlockType t, uint64_t n)
    : mgr_(mgr), type_(t), number_(n), name_(MakeName(t, n)) {}

std::string Glock::ToString() const {
  return std::string(1, static_cast<char>(type_)) + ":" + std::to_string(number_);
}

bool Glock::exclusive() const {
  MutexLock l(&mu_);
  return granted_ == dlm::LockMode::kEX;
}

bool Glock::Needs(HolderMode m) const {
  if (m == HolderMode::kExclusive) return granted_ != dlm::LockMode::kEX;
  return ModeRank(granted_) < ModeRank(dlm::LockMode::kPR);
}

bool Glock::LocallyCompatible(HolderMode m) const {
  if (exclusive_held_) return false;
  if (m == HolderMode::kExclusive) return shared_ == 0;
  return true;
}

void Glock::ReleaseHolder(HolderMode m) {
  bool enqueue = false;
  {
    MutexLock l(&mu_);
    if (m == HolderMode::kShared) {
      if (shared_ > 0) --shared_;
    } else {
      exclusive_held_ = false;
    }
    last_used_ = mgr_->clock_->Now();
    if (shared_ == 0 && !exclusive_held_ && demote_to_ != dlm::LockMode::kNone && !queued_) {
      queued_ = true;
      enqueue = true;
    }
    cv_.SignalAll();
  }
  if (enqueue) mgr_->Enqueue(this);
}

bool Glock::HoldAdmits(HolderMode m, Nanos now, Nanos min_hold) const {
  return !demoting_ && !Needs(m) && now < granted_at_ + min_hold;
}

std::string Glock::DumpLocked() const {
  std::string s = ToString() + " dlm=" +
                  (granted_ == dlm::LockMode::kNone ? "--" : dlm::ModeName(granted_));
  s += " sh=" + std::to_string(shared_) + " ex=" + (exclusive_held_ ? "1" : "0");
  if (dlm_busy_) s += " busy";
  if (prepare_to_ != dlm::LockMode::kNone) s += std::string(" prepare->") + dlm::ModeName(prepare_to_);
  if (demote_to_ != dlm::LockMode::kNone) s += std::string(" demote->") + dlm::ModeName(demote_to_);
  if (demoting_) s += " demoting";
  if (waiters_) s += " waiters=" + std::to_string(waiters_);
  s += " demotions=" + std::to_string(demotions_);
  return s;
}

// --------------------------------------------------------------------------- manager

GlockManager::GlockManager(dlm::Lockspace* ls, GlockCallbacks* callbacks, Clock* clock,
                           GlockOptions options)
    : ls_(ls), callbacks_(callbacks), clock_(clock ? clock : Clock::Real()),
      options_(options) {
  worker_ = std::thread([this] { WorkerLoop(); });
}

GlockManager::~GlockManager() { Shutdown(); }

Glock* GlockManager::Get(GlockType t, uint64_t number) {
  MutexLock l(&table_mu_);
  auto key = std::make_pair(static_cast<uint8_t>(t), number);
  auto it = table_.find(key);
  if (it != table_.end()) return it->second.get();
  auto gl = std::unique_ptr<Glock>(new Glock(this, t, number));
  Glock* p = gl.get();
  table_.emplace(key, std::move(gl));
  return p;
}

Result<GlockHolder> GlockManager::Acquire(Glock* gl, HolderMode m, bool try_only,
                                          bool recovery) {
  {
    MutexLock l(&table_mu_);
    if (shut_down_) return Status::Aborted("glock manager shut down");
    if (withdrawn_.load()) return Status::IOError("filesystem withdrawn: " + withdraw_reason_);
  }
  bool lost = false;  // a conversion deadlock demoted us: caches must go
  gl->mu_.Lock();
  ++gl->waiters_;
  while (true) {
    bool demote_blocks = gl->demoting_ ||
                         (gl->demote_to_ != dlm::LockMode::kNone &&
                          !gl->HoldAdmits(m, clock_->Now(), options_.min_hold));
    if (demote_blocks || !gl->LocallyCompatible(m) || (gl->dlm_busy_)) {
      if (try_only && !gl->dlm_busy_) {
        --gl->waiters_;
        gl->mu_.Unlock();
        return Status::WouldBlock(gl->ToString() + " busy on this node");
      }
      gl->cv_.Wait();
      continue;
    }
    if (gl->Needs(m)) {
      dlm::LockMode want =
          m == HolderMode::kShared ? dlm::LockMode::kPR : dlm::LockMode::kEX;
      gl->dlm_busy_ = true;
      gl->last_error_ = Code::kOk;
      gl->mu_.Unlock();
      Status s = RequestDlm(gl, want, try_only);
      gl->mu_.Lock();
      if (!s.ok()) {
        gl->dlm_busy_ = false;
        --gl->waiters_;
        gl->cv_.SignalAll();
        gl->mu_.Unlock();
        Kick(gl);  // a demotion that found the DLM busy waits for this
        return s.WithContext("glock " + gl->ToString());
      }
      while (gl->dlm_busy_) gl->cv_.Wait();
      if (gl->granted_ == dlm::LockMode::kNL) lost = true;
      if (gl->last_error_ != Code::kOk) {
        Code err = gl->last_error_;
        --gl->waiters_;
        gl->cv_.SignalAll();
        gl->mu_.Unlock();
        if (lost) callbacks_->InvalidateGlock(gl);
        return Status(err, "glock " + gl->ToString());
      }
      if (lost) {
        // Dropped to NL by CONVDEADLK: invalidate with no mutex held, then retry.
        gl->mu_.Unlock();
        callbacks_->InvalidateGlock(gl);
        lost = false;
        gl->mu_.Lock();
      }
      continue;
    }
    if (withdrawn_.load(std::memory_order_acquire)) {
      --gl->waiters_;
      gl->cv_.SignalAll();
      gl->mu_.Unlock();
      return Status::IOError("filesystem withdrawn");
    }
    if (!recovery && frozen_.load(std::memory_order_acquire) &&
        (freeze_all_.load(std::memory_order_acquire) ||
         gl->grant_epoch_ == freeze_epoch_.load(std::memory_order_acquire))) {
      if (aborting_.load(std::memory_order_acquire)) {
        --gl->waiters_;
        gl->cv_.SignalAll();
        gl->mu_.Unlock();
        return Status::Aborted("unmounting while frozen");
      }
      gl->cv_.Wait();  // granted since the freeze: wait for the thaw (Thaw signals)
      continue;
    }
    if (m == HolderMode::kShared) {
      ++gl->shared_;
    } else {
      gl->exclusive_held_ = true;
    }
    gl->last_used_ = clock_->Now();
    gl->idle_hint_ = false;
    --gl->waiters_;
    gl->mu_.Unlock();
    return GlockHolder(gl, m);
  }
}

bool GlockManager::KnownUnlocked(Glock* gl) const {
  if (withdrawn_.load(std::memory_order_acquire) || frozen_.load(std::memory_order_acquire)) {
    return false;
  }
  {
    MutexLock l(&gl->mu_);
    if (gl->granted_ != dlm::LockMode::kNone || gl->dlm_busy_ || gl->lkid_ != dlm::kNoLock) {
      return false;
    }
  }
  return ls_->KnownUnlocked(gl->name());
}

Result<std::vector<GlockHolder>> GlockManager::AcquireMany(std::vector<Want> wants) {
  std::sort(wants.begin(), wants.end(), [](const Want& a, const Want& b) {
    int ta = TypeOrder(a.gl->type()), tb = TypeOrder(b.gl->type());
    if (ta != tb) return ta < tb;
    return a.gl->number() < b.gl->number();
  });
  std::vector<Want> merged;
  for (const Want& w : wants) {
    if (!merged.empty() && merged.back().gl == w.gl) {
      if (w.mode == HolderMode::kExclusive) merged.back().mode = HolderMode::kExclusive;
      continue;
    }
    merged.push_back(w);
  }
  std::vector<GlockHolder> held;
  held.reserve(merged.size());
  for (const Want& w : merged) {
    auto h = Acquire(w.gl, w.mode);
    if (!h.ok()) return h.status();  // `held` releases what we took
    held.push_back(std::move(*h));
  }
  return held;
}

Status GlockManager::RequestDlm(Glock* gl, dlm::LockMode want, bool try_only) {
  dlm::LockId lkid;
  {
    MutexLock l(&gl->mu_);
    lkid = gl->lkid_;
  }
  uint32_t flags = try_only ? (dlm::kNoQueue | dlm::kNoQueueBast) : 0;
  if (lkid == dlm::kNoLock) {
    dlm::LockRequest req;
    req.name = gl->name();
    req.mode = want;
    req.flags = flags;
    req.on_complete = [this, gl](const dlm::Completion& c) { OnCompletion(gl, c); };
    req.on_blocking = [this, gl](dlm::LockId, dlm::LockMode m) { OnBlocking(gl, m); };
    auto id = ls_->Lock(std::move(req));
    if (!id.ok()) return id.status();
    MutexLock l(&gl->mu_);
    if (gl->lkid_ == dlm::kNoLock && gl->dlm_busy_) gl->lkid_ = *id;
    return Status::OK();
  }
  dlm::ConvertRequest cr;
  cr.mode = want;
  // Two nodes converting PR -> EX at once would deadlock; CONVDEADLK demotes one of
  // them to NL instead, and Acquire then invalidates and retries.
  cr.flags = flags | dlm::kConvDeadlk;
  return ls_->Convert(lkid, cr);
}

void GlockManager::OnCompletion(Glock* gl, const dlm::Completion& c) {
  bool enqueue = false;
  {
    MutexLock l(&gl->mu_);
    CompleteLocked(gl, c);
    // A demotion that found the DLM busy returned and waits for this completion: queue
    // it again (else a waiter that started the request would wait for it forever).
    if (!gl->queued_ && !gl->demoting_ && (gl->demote_to_ != dlm::LockMode::kNone ||
                                           gl->prepare_to_ != dlm::LockMode::kNone)) {
      gl->queued_ = true;
      enqueue = true;
    }
  }
  if (enqueue) Enqueue(gl);
}

void GlockManager::CompleteLocked(Glock* gl, const dlm::Completion& c) {
  if (c.unlocked) {
    gl->lkid_ = dlm::kNoLock;
    gl->granted_ = dlm::LockMode::kNone;
  } else {
    if (gl->lkid_ == dlm::kNoLock) gl->lkid_ = c.id;
    gl->granted_ = c.demoted ? dlm::LockMode::kNL : c.granted;
    if (c.status == Code::kOk) {
      gl->granted_at_ = clock_->Now();
      gl->grant_epoch_ = freeze_epoch_.load(std::memory_order_acquire);
    }
    if (gl->granted_ == dlm::LockMode::kNone) gl->lkid_ = dlm::kNoLock;
  }
  gl->last_error_ = c.status;
  gl->dlm_busy_ = false;
  gl->cv_.SignalAll();
}

uint64_t GlockManager::Freeze(bool all) {
  MutexLock l(&table_mu_);  // Freeze and Thaw change epoch and flags together
  uint64_t e = freeze_epoch_.fetch_add(1, std::memory_order_acq_rel) + 1;
  if (all) freeze_all_.store(true, std::memory_order_release);
  frozen_.store(true, std::memory_order_release);
  return e;
}

void GlockManager::Thaw(uint64_t epoch) {
  {
    MutexLock l(&table_mu_);
    if (freeze_epoch_.load(std::memory_order_acquire) != epoch) return;  // a newer freeze
    frozen_.store(false, std::memory_order_release);
    freeze_all_.store(false, std::memory_order_release);
  }
  WakeAll();
}

void GlockManager::Withdraw(std::string reason) {
  {
    MutexLock l(&table_mu_);
    if (withdrawn_.load()) return;
    withdraw_reason_ = std::move(reason);
    withdrawn_.store(true, std::memory_order_release);
  }
  WakeAll();
}

void GlockManager::AbortWaiters() {
  aborting_.store(true, std::memory_order_release);
  WakeAll();
}

void GlockManager::WakeAll() {
  MutexLock l(&table_mu_);
  for (auto& [key, gl] : table_) {
    MutexLock g(&gl->mu_);
    gl->cv_.SignalAll();
  }
}

void GlockManager::OnBlocking(Glock* gl, dlm::LockMode mode) {
  bool enqueue = false;
  {
    MutexLock l(&gl->mu_);
    if (gl->granted_ == dlm::LockMode::kNone || gl->granted_ == dlm::LockMode::kNL) return;
    if (dlm::ModesCompatible(gl->granted_, mode)) return;  // stale BAST
    dlm::LockMode target = dlm::ModesCompatible(dlm::LockMode::kPR, mode) &&
                                   gl->granted_ == dlm::LockMode::kEX
                               ? dlm::LockMode::kPR
                               : dlm::LockMode::kNL;
    if (target == dlm::LockMode::kPR) {
      if (gl->demote_to_ == dlm::LockMode::kNone) gl->demote_to_ = target;
    } else if (gl->demote_to_ != dlm::LockMode::kNL) {
      // Giving up PR: the prepare phase first, with holders still admitted.
      gl->prepare_to_ = target;
    }
    if (!gl->queued_) {
      gl->queued_ = true;
      enqueue = true;
    }
  }
  if (enqueue) Enqueue(gl);
}

void GlockManager::Enqueue(Glock* gl) {
  MutexLock l(&work_mu_);
  work_.push_back(gl);
  work_cv_.Signal();
}

void GlockManager::WorkerLoop() {
  Nanos next_scan = clock_->Now() + options_.worker_period;
  Nanos next_idle_scan = next_scan;
  while (true) {
    std::deque<Glock*> batch;
    {
      MutexLock l(&work_mu_);
      if (stop_) return;
      if (work_.empty()) {
        Nanos wait = next_scan - clock_->Now();
        if (!delayed_.empty()) wait = std::min(wait, delayed_.begin()->first - clock_->Now());
        if (wait > 0) (void)work_cv_.WaitFor(std::chrono::nanoseconds(wait));
      }
      if (stop_) return;
      batch.swap(work_);
      Nanos now = clock_->Now();
      while (!delayed_.empty() && delayed_.begin()->first <= now) {
        batch.push_back(delayed_.begin()->second);
        delayed_.erase(delayed_.begin());
      }
    }
    for (Glock* gl : batch) {
      dlm::LockMode to, prep;
      {
        MutexLock l(&gl->mu_);
        gl->queued_ = false;
        to = gl->demote_to_;
        prep = gl->prepare_to_;
      }
      if (to != dlm::LockMode::kNone) {
        Demote(gl, to);
      } else if (prep != dlm::LockMode::kNone) {
        Prepare(gl, prep);
      }
    }
    Nanos now = clock_->Now();
    if (now >= next_scan) {
      next_scan = now + options_.worker_period;
      ls_->Tick();
      // The idle scan walks every glock: once a second is plenty for a 30 s idle time.
      if (now >= next_idle_scan) {
        next_idle_scan = now + std::max<Nanos>(options_.worker_period, kNanosPerSecond);
        ReleaseIdle();
      }
    }
  }
}

void GlockManager::Kick(Glock* gl) {
  bool enqueue = false;
  {
    MutexLock l(&gl->mu_);
    if (!gl->queued_ && (gl->prepare_to_ != dlm::LockMode::kNone ||
                         gl->demote_to_ != dlm::LockMode::kNone)) {
      gl->queued_ = true;
      enqueue = true;
    }
  }
  if (enqueue) Enqueue(gl);
}

void GlockManager::MarkIdle(Glock* gl) {
  {
    MutexLock l(&gl->mu_);
    if (gl->shared_ > 0 || gl->exclusive_held_) return;  // in use: not idle
    gl->idle_hint_ = true;
  }
  Kick(gl);  // a demotion waiting out the grace time goes now
}

void GlockManager::Prepare(Glock* gl, dlm::LockMode to) {
  {
    MutexLock l(&gl->mu_);
    if (gl->prepare_to_ == dlm::LockMode::kNone) return;
    if (!gl->dlm_busy_ && (gl->granted_ == dlm::LockMode::kNone ||
                           ModeRank(gl->granted_) <= ModeRank(to))) {
      gl->prepare_to_ = dlm::LockMode::kNone;  // nothing left to give up
      gl->cv_.SignalAll();
      return;
    }
  }
  // Holders are still admitted while the callback runs (docs/locking.md §3 rule 2).
  if (!callbacks_->PrepareDemote(gl)) {
    MutexLock l(&work_mu_);
    delayed_.emplace(clock_->Now() + options_.prepare_poll, gl);
    work_cv_.Signal();
    return;
  }
  bool enqueue = false;
  {
    MutexLock l(&gl->mu_);
    if (gl->prepare_to_ != dlm::LockMode::kNone) {
      // From here on new holders wait until the demotion is done.
      if (gl->demote_to_ == dlm::LockMode::kNone ||
          ModeRank(gl->prepare_to_) < ModeRank(gl->demote_to_)) {
        gl->demote_to_ = gl->prepare_to_;
      }
      gl->prepare_to_ = dlm::LockMode::kNone;
      if (!gl->queued_) {
        gl->queued_ = true;
        enqueue = true;
      }
    }
  }
  if (enqueue) Enqueue(gl);
}

void GlockManager::Demote(Glock* gl, dlm::LockMode to) {
  dlm::LockMode from = dlm::LockMode::kNone;
  dlm::LockId lkid = dlm::kNoLock;
  Nanos retry_at = 0;
  {
    MutexLock l(&gl->mu_);
    if (gl->shared_ > 0 || gl->exclusive_held_ || gl->dlm_busy_ || gl->demoting_) {
      return;  // the last holder / the completion re-queues it
    }
    Nanos now = clock_->Now();
    Nanos hold_end = gl->granted_at_ + options_.min_hold;
    Nanos idle_end = gl->last_used_ + options_.idle_grace;
    if (now < hold_end && now < idle_end && !gl->idle_hint_) {
      // In use here and inside the hold time (ping-pong guard): holders are still
      // admitted; retry when it has been idle for the grace time or the hold time is
      // over. An idle glock goes at once (docs/locking.md §2.6).
      retry_at = std::min(hold_end, idle_end);
    } else {
      from = gl->granted_;
      lkid = gl->lkid_;
      if (from == dlm::LockMode::kNone || lkid == dlm::kNoLock ||
          ModeRank(from) <= ModeRank(to)) {
        gl->demote_to_ = dlm::LockMode::kNone;
        gl->cv_.SignalAll();
        return;
      }
      gl->demoting_ = true;
    }
  }
  if (retry_at != 0) {
    MutexLock l(&work_mu_);
    delayed_.emplace(retry_at, gl);
    work_cv_.Signal();
    return;
  }
  if (from == dlm::LockMode::kEX) {
    Status s = callbacks_->SyncGlock(gl);
    if (!s.ok()) COHORT_LOG_ERROR("glock {}: sync before demote failed: {}", gl->ToString(),
                                  s.ToString());
  }
  // At shutdown nothing will use the caches again: skip the invalidation (it would cost
  // a cache scan per glock).
  bool shutting_down;
  {
    MutexLock l(&table_mu_);
    shutting_down = shut_down_;
  }
  if (ModeRank(to) < ModeRank(dlm::LockMode::kPR) && !shutting_down) {
    callbacks_->InvalidateGlock(gl);
  }
  Status s;
  {
    MutexLock l(&gl->mu_);
    gl->dlm_busy_ = true;
  }
  if (to == dlm::LockMode::kNL) {
    s = ls_->Unlock(lkid);
  } else {
    dlm::ConvertRequest cr;
    cr.mode = to;
    s = ls_->Convert(lkid, cr);
  }
  bool enqueue = false;
  {
    MutexLock l(&gl->mu_);
    if (!s.ok()) {
      COHORT_LOG_ERROR("glock {}: demote to {} failed: {}", gl->ToString(), dlm::ModeName(to),
                       s.ToString());
      gl->dlm_busy_ = false;
    }
    while (gl->dlm_busy_) gl->cv_.Wait();
    gl->demoting_ = false;
    gl->demote_to_ = dlm::LockMode::kNone;
    ++gl->demotions_;
    gl->cv_.SignalAll();
    // A request to give up PR that came while we gave up EX: its prepare phase is next.
    if (gl->prepare_to_ != dlm::LockMode::kNone && !gl->queued_) {
      gl->queued_ = true;
      enqueue = true;
    }
  }
  if (enqueue) Enqueue(gl);
}

void GlockManager::ReleaseIdle() {
  std::vector<Glock*> idle;
  Nanos now = clock_->Now();
  {
    MutexLock l(&table_mu_);
    for (auto& [key, gl] : table_) {
      MutexLock g(&gl->mu_);
      if (gl->granted_ != dlm::LockMode::kNone && gl->shared_ == 0 && !gl->exclusive_held_ &&
          !gl->dlm_busy_ && gl->waiters_ == 0 && gl->demote_to_ == dlm::LockMode::kNone &&
          gl->prepare_to_ == dlm::LockMode::kNone &&
          now - gl->last_used_ > options_.idle_release) {
        gl->prepare_to_ = dlm::LockMode::kNL;
        idle.push_back(gl.get());
      }
    }
  }
  // Through the prepare phase, as for a BAST: the kernel's dentries must go too.
  for (Glock* gl : idle) Prepare(gl, dlm::LockMode::kNL);
}

void GlockManager::Shutdown() {
  {
    MutexLock l(&table_mu_);
    if (shut_down_) return;
    shut_down_ = true;
  }
  {
    MutexLock l(&work_mu_);
    stop_ = true;
    work_cv_.SignalAll();
  }
  if (worker_.joinable()) worker_.join();
  std::vector<Glock*> all;
  {
    MutexLock l(&table_mu_);
    for (auto& [key, gl] : table_) all.push_back(gl.get());
  }
  for (Glock* gl : all) {
    dlm::LockMode from;
    {
      MutexLock l(&gl->mu_);
      from = gl->granted_;
      if (from == dlm::LockMode::kNone) continue;
      gl->demote_to_ = dlm::LockMode::kNL;
      gl->granted_at_ = 0;  // no minimum hold at unmount
    }
    Demote(gl, dlm::LockMode::kNL);
  }
}

std::string GlockManager::Dump() const {
  std::string out;
  MutexLock l(&table_mu_);
  for (const auto& [key, gl] : table_) {
    MutexLock g(&gl->mu_);
    out += gl->DumpLocked();
    out += '\n';
  }
  return out;
}

size_t GlockManager::size() const {
  MutexLock l(&table_mu_);
  return table_.size();
}

uint64_t GlockManager::demotions() const {
  uint64_t n = 0;
  MutexLock l(&table_mu_);
  for (const auto& [key, gl] : table_) {
    MutexLock g(&gl->mu_);
    n += gl->demotions_;
  }
  return n;
}

}  // namespace cohort::fs
