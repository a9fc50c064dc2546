// fs/core/glock.h: glocks, the filesystem's cached handles on DLM locks
// (docs/locking.md §2; gfs2's glocks are the model).
//
// A Glock names one shared object (an inode, an allocation group, ...) and caches a DLM
// lock on it across operations. Operations take *holders*: a shared holder needs the
// DLM lock in PR (or EX), an exclusive holder needs EX and excludes every other holder
// on this node. So a holder is at once the node-local reader/writer lock of the object
// and the proof that the cluster lets this node read or change it.
//
// The DLM lock stays cached after the last holder goes. A blocking callback (BAST)
// marks the glock for demotion; the manager's worker thread then waits for the holders
// to finish and the minimum hold time to pass, calls GlockCallbacks::Sync (giving up
// EX: journal commit) and GlockCallbacks::Invalidate (giving up PR: drop caches, kernel
// notify), and converts the DLM lock down. New holders wait while a demotion is
// pending, so a remote node is never starved. Idle glocks are released after a while.
//
// Giving up PR (to NL or unlocked) has a *prepare* phase first, while new holders are
// still admitted: GlockCallbacks::PrepareDemote runs on the worker until it says the
// glock is ready (the filesystem uses it to invalidate the kernel's dentries without
// deadlocking against requests that hold the kernel's directory lock; docs/locking.md
// §3 rule 2). Only then do new holders wait.
//
// Rules for callers (docs/locking.md §2.2):
//  1. Take holders in the lock order of docs/locking.md §2.2 (AcquireMany sorts).
//  2. Take every holder an operation needs before it opens a transaction handle
//     (fs/core/meta_cache.h), never while one is open: a demotion may need a commit,
//     and a commit waits for open handles.
//  3. Never hold a Cohort Mutex while acquiring a holder.
//
// Thread safety: all methods are thread-safe. A Glock's state is guarded by its own
// mutex (LockRank::kFsGlock), held only briefly and never while calling the DLM or a
// callback. DLM callbacks may run on any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/mutex.h"
#include "common/status.h"
#include "dlm/lockspace.h"
#include "dlm/types.h"

namespace cohort::fs {

// Glock types; the byte is the first byte of the DLM resource name (docs/locking.md
// §2.1). DO NOT CHANGE: names are shared by every node of a cluster.
enum class GlockType : uint8_t {
  kInode = 'i',
  kOpen = 'o',
  kGroup = 'g',
  kGroupTable = 't',
  kRename = 'r',
  kStatfs = 's',
  kJournal = 'j',
  kFlock = 'f',
  kRecovery = 'R',  // serialises survivors' recovery of departed nodes' journals
};

enum class HolderMode : uint8_t { kShared, kExclusive };

// The glock placement rule (docs/locking.md §2.5, docs/dlm.md §12): the DLM directory
// node preferred for a glock's resource. Inode and open glocks of an inode in allocation
// group g, and the group glock of g, prefer node (g % max_nodes) + 1: the node whose
// home journal slot (node id - 1) prefers g for its allocations (fs/core/allocator.h).
// Other glocks: no preference (the hash). Built from superblock fields that never
// change, so every node computes the same function. `key` is a DLM resource key
// (docs/dlm.md §1).
struct GlockPlacement {
  uint64_t ag_start = 0;
  uint64_t ag_blocks = 0;
  uint32_t max_nodes = 0;
  net::NodeId operator()(std::string_view key) const;
};

class Glock;

// What the filesystem does when a glock is demoted (gfs2's glock_operations).
// Called on the glock worker thread with no Cohort mutex held and no holder active.
class GlockCallbacks {
 public:
  virtual ~GlockCallbacks() = default;
  // Before the node gives up EX on `gl`: make everything dirty under it durable.
  virtual Status SyncGlock(Glock* gl) = 0;
  // Before the node gives up PR (drops to NL / unlocks) on `gl`: drop what it cached.
  virtual void InvalidateGlock(Glock* gl) = 0;
  // Before the node stops admitting holders for giving up PR on `gl` (holders may be
  // active and new ones admitted while this runs). Returns true when the demotion may
  // go on; false to be asked again later (GlockManager::Kick, or after
  // GlockOptions::prepare_poll). Must not block.
  virtual bool PrepareDemote(Glock* gl) { return true; }
};

// When a blocking callback is served (docs/locking.md §2.6): at once if the glock is
// idle here (no holder, none waiting, none released within `idle_grace`); otherwise when
// it becomes idle or `min_hold` after the grant, whichever comes first. Until then new
// holders that need no DLM request are still admitted (the node keeps working through
// the hold time: the protection against ping-pong); after it they wait.
struct GlockOptions {
  Nanos min_hold = 10 * kNanosPerMilli;    // a busy glock is kept this long after a grant
  Nanos idle_grace = 200 * kNanosPerMicro;  // unused this long = idle: demote at once
  Nanos idle_release = 30 * kNanosPerSecond;  // unlock after this long without holders
  Nanos worker_period = 100 * kNanosPerMilli;  // idle scan and DLM Tick period
  Nanos prepare_poll = 20 * kNanosPerMilli;    // re-ask PrepareDemote at least this often
};

class GlockManager;

// A holder on a glock; releases it when destroyed. Move-only.
class GlockHolder {
 public:
  GlockHolder() = default;
  GlockHolder(GlockHolder&& o) noexcept : gl_(o.gl_), mode_(o.mode_) { o.gl_ = nullptr; }
  GlockHolder& operator=(GlockHolder&& o) noexcept;
  GlockHolder(const GlockHolder&) = delete;
  GlockHolder& operator=(const GlockHolder&) = delete;
  ~GlockHolder() { Release(); }

  void Release();
  bool held() const { return gl_ != nullptr; }
  Glock* glock() const { return gl_; }
  HolderMode mode() const { return mode_; }

 private:
  friend class GlockManager;
  GlockHolder(Glock* gl, HolderMode m) : gl_(gl), mode_(m) {}
  Glock* gl_ = nullptr;
  HolderMode mode_ = HolderMode::kShared;
};

class Glock {
 public:
  GlockType type() const { return type_; }
  uint64_t number() const { return number_; }
  // The DLM resource name: [type u8][number u64 LE].
  const std::string& name() const { return name_; }
  // "i:12" for logs and dumps.
  std::string ToString() const;

  // True while this node holds the DLM lock in EX (callers use it to decide whether
  // cached state may be dirty).
  bool exclusive() const EXCLUDES(mu_);

  // Opaque per-glock slot for the filesystem (e.g. its Inode object). Set once.
  void set_object(void* p) { object_ = p; }
  void* object() const { return object_; }

 private:
  friend class GlockManager;
  friend class GlockHolder;
  Glock(GlockManager* mgr, GlockType t, uint64_t n);

  void ReleaseHolder(HolderMode m) EXCLUDES(mu_);
  bool Needs(HolderMode m) const REQUIRES(mu_);
  bool LocallyCompatible(HolderMode m) const REQUIRES(mu_);
  // A demotion was requested but the glock is still inside its hold time: holders that
  // need no DLM request are admitted.
  bool HoldAdmits(HolderMode m, Nanos now, Nanos min_hold) const REQUIRES(mu_);
  std::string DumpLocked() const REQUIRES(mu_);

  GlockManager* const mgr_;
  const GlockType type_;
  const uint64_t number_;
  const std::string name_;
  void* object_ = nullptr;

  mutable Mutex mu_{LockRank::kFsGlock, "fs.glock"};
  CondVar cv_{&mu_};
  dlm::LockId lkid_ GUARDED_BY(mu_) = dlm::kNoLock;
  dlm::LockMode granted_ GUARDED_BY(mu_) = dlm::LockMode::kNone;
  bool dlm_busy_ GUARDED_BY(mu_) = false;          // a DLM request is in flight
  Code last_error_ GUARDED_BY(mu_) = Code::kOk;    // of the last DLM request
  int shared_ GUARDED_BY(mu_) = 0;                 // shared holders
  bool exclusive_held_ GUARDED_BY(mu_) = false;    // an exclusive holder exists
  int waiters_ GUARDED_BY(mu_) = 0;                // threads waiting to hold
  dlm::LockMode demote_to_ GUARDED_BY(mu_) = dlm::LockMode::kNone;  // BAST asked
  // A demotion below PR in its prepare phase (holders still admitted).
  dlm::LockMode prepare_to_ GUARDED_BY(mu_) = dlm::LockMode::kNone;
  bool demoting_ GUARDED_BY(mu_) = false;          // the worker is demoting it now
  bool queued_ GUARDED_BY(mu_) = false;            // on the worker's queue
  Nanos granted_at_ GUARDED_BY(mu_) = 0;
  Nanos last_used_ GUARDED_BY(mu_) = 0;
  bool idle_hint_ GUARDED_BY(mu_) = false;  // MarkIdle since the last holder
  uint64_t demotions_ GUARDED_BY(mu_) = 0;
  uint64_t grant_epoch_ GUARDED_BY(mu_) = 0;     // manager's freeze epoch at the last grant
};

class GlockManager {
 public:
  // `ls` and `callbacks` must outlive the manager. Starts the worker thread.
  GlockManager(dlm::Lockspace* ls, GlockCallbacks* callbacks, Clock* clock,
               GlockOptions options = {});
  ~GlockManager();  // Shutdown() if not done
  GlockManager(const GlockManager&) = delete;
  GlockManager& operator=(const GlockManager&) = delete;

  // The glock of (type, number), created on first use; lives as long as the manager.
  Glock* Get(GlockType t, uint64_t number) EXCLUDES(table_mu_);

  // Takes a holder, waiting for the DLM as needed. `try_only`: fail with WouldBlock
  // instead of waiting for another node (DLM NOQUEUE) or a local holder.
  // Errors: WouldBlock (try_only), Unavailable (no quorum / shut down), Deadlock,
  // TimedOut, Aborted (the manager is shutting down).
  // While the manager is frozen (below), a holder on a glock whose DLM lock was
  // granted or converted since the freeze waits for the thaw, unless `recovery`.
  // Errors: WouldBlock (try_only), Unavailable (no quorum / shut down), Deadlock,
  // TimedOut, Aborted (the manager is shutting down), IOError (withdrawn).
  Result<GlockHolder> Acquire(Glock* gl, HolderMode m, bool try_only = false,
                              bool recovery = false);
  Result<GlockHolder> Acquire(GlockType t, uint64_t n, HolderMode m, bool try_only = false,
                              bool recovery = false) {
    return Acquire(Get(t, n), m, try_only, recovery);
  }

  // A member left the cluster (docs/locking.md §4): until Thaw(epoch), no holder is
  // admitted on a lock granted after this call, because the DLM may have granted it
  // from under the departed node, whose journal may still cover the blocks it
  // protects. Locks held from before keep working. Returns the new epoch. Never blocks.
  // `all`: no holder at all is admitted, whatever its grant (this node lost quorum).
  uint64_t Freeze(bool all = false) EXCLUDES(table_mu_);
  // Ends the freeze of `epoch` unless a newer one started. Wakes the waiters.
  void Thaw(uint64_t epoch) EXCLUDES(table_mu_);
  bool frozen() const { return frozen_.load(std::memory_order_acquire); }
  // This node lost quorum (docs/locking.md §4): every later Acquire fails with IOError.
  // Never blocks; wakes the waiters.
  void Withdraw(std::string reason) EXCLUDES(table_mu_);
  // Unmount: a holder waiting in a freeze (and any that would wait in one) fails with
  // Aborted instead, so the background passes can be joined.
  void AbortWaiters() EXCLUDES(table_mu_);
  bool withdrawn() const { return withdrawn_.load(std::memory_order_acquire); }

  // Takes holders on several glocks in the lock order (type order of docs/locking.md
  // §2.2, then ascending number), skipping duplicates (the strongest mode wins).
  struct Want {
    Glock* gl;
    HolderMode mode;
  };
  Result<std::vector<GlockHolder>> AcquireMany(std::vector<Want> wants);

  // Syncs and releases every DLM lock (unmount). Holders must all be gone.
  void Shutdown() EXCLUDES(table_mu_);

  // One line per glock: name, DLM mode, holders, demotion state.
  std::string Dump() const EXCLUDES(table_mu_);
  size_t size() const EXCLUDES(table_mu_);
  // Demotions done so far (tests and benchmarks).
  uint64_t demotions() const EXCLUDES(table_mu_);

  // True only if no node, this one included, holds or waits for `gl`'s DLM lock, as
  // far as this node knows without a message (dlm::Lockspace::KnownUnlocked): this
  // node is the lock's directory node and nobody has a lock on it, and no freeze or
  // withdrawal is in force. A request of another node may be granted right after;
  // callers rely on another lock they hold for what that may see (docs/locking.md
  // §2.7). False says nothing.
  bool KnownUnlocked(Glock* gl) const;

  // Releases `gl`'s DLM lock (to NL) once it has no holders and its minimum hold time
  // has passed, as a BAST for EX would: for a lock taken on a guess that proved
  // useless (inode readahead of a block that is not an inode).
  void ReleaseWhenIdle(Glock* gl) { OnBlocking(gl, dlm::LockMode::kEX); }

  // Tells that `gl` has no user on this node that will come back soon (the filesystem
  // calls it after the last close of a file here): a blocking callback is then served
  // at once, without the `idle_grace` wait, until the next holder. The lock stays
  // cached as before (docs/locking.md §2.6). No effect while a holder is active.
  void MarkIdle(Glock* gl);

  // Test hook: demote `gl` as if a BAST for `mode` had arrived.
  void TEST_RequestDemote(Glock* gl, dlm::LockMode mode) { OnBlocking(gl, mode); }

  // Asks the worker to look at `gl` again now (a PrepareDemote that said "not yet" is
  // ready). Safe from any thread, also after Shutdown.
  void Kick(Glock* gl);

 private:
  friend class Glock;
  Status RequestDlm(Glock* gl, dlm::LockMode want, bool try_only);
  void OnCompletion(Glock* gl, const dlm::Completion& c);
  void CompleteLocked(Glock* gl, const dlm::Completion& c) REQUIRES(gl->mu_);
  void OnBlocking(Glock* gl, dlm::LockMode mode);
  void WakeAll() EXCLUDES(table_mu_);
  void Enqueue(Glock* gl) EXCLUDES(work_mu_);
  void WorkerLoop();
  void Demote(Glock* gl, dlm::LockMode to);
  void Prepare(Glock* gl, dlm::LockMode to);
  void ReleaseIdle();

  dlm::Lockspace* const ls_;
  GlockCallbacks* const callbacks_;
  Clock* const clock_;
  const GlockOptions options_;

  mutable Mutex table_mu_{LockRank::kFsGlockTable, "fs.glock_table"};
  std::map<std::pair<uint8_t, uint64_t>, std::unique_ptr<Glock>> table_ GUARDED_BY(table_mu_);
  bool shut_down_ GUARDED_BY(table_mu_) = false;
  std::string withdraw_reason_ GUARDED_BY(table_mu_);
  std::atomic<bool> frozen_{false};
  std::atomic<bool> freeze_all_{false};
  std::atomic<uint64_t> freeze_epoch_{0};
  std::atomic<bool> withdrawn_{false};
  std::atomic<bool> aborting_{false};

  // The worker's queue of glocks to demote. Unranked leaf: nothing nests inside it.
  Mutex work_mu_{LockRank::kUnranked, "fs.glock_work"};
  CondVar work_cv_{&work_mu_};
  std::deque<Glock*> work_ GUARDED_BY(work_mu_);
  std::multimap<Nanos, Glock*> delayed_ GUARDED_BY(work_mu_);  // min-hold retries
  bool stop_ GUARDED_BY(work_mu_) = false;
  std::thread worker_;
};

}  // namespace cohort::fs
