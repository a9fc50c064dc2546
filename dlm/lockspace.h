// dlm/lockspace.h: the lock manager engine, one Lockspace per filesystem per node, over
// a net::Transport (docs/dlm.md, all sections; the grant rules are §5, recovery §10).
//
// A Lockspace is the node's whole view of one namespace of resources: it masters some
// resources (their grant/convert/wait queues), keeps the directory entries that hash to
// it, and records this node's own locks. It talks to its peers only through the
// Transport, so the same engine runs on SimTransport (tests) and on TCP (net/).
//
// Thread safety: every public method may be called from any thread. One mutex (mu_,
// LockRank::kDlmLockspace) guards all engine state. Callbacks are queued under it and
// delivered with no dlm lock held, by the thread that called in (docs/dlm.md §7): a
// request granted at once has its AST delivered on the caller's thread before Lock()
// returns. The transport must serialize handler calls (net/transport.h contract 4).
//
// Time: the host calls Tick() periodically (timeouts, idle resources, deadlock rounds);
// all time comes from the Clock given at construction.
#pragma once

#include <array>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <functional>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/clock.h"
#include "common/mutex.h"
#include "common/status.h"
#include "dlm/callback_queue.h"
#include "dlm/messages.h"
#include "dlm/types.h"
#include "net/transport.h"

namespace cohort::dlm {

namespace internal {
struct Resource;
struct Lock;
struct MasterLock;
}  // namespace internal

struct LockspaceOptions {
  std::string name = "cohort";
  Clock* clock = nullptr;                       // nullptr: Clock::Real()
  Nanos idle_free_after = 10 * kNanosPerSecond;  // free unused resources after this
  Nanos deadlock_interval = kNanosPerSecond;     // period of deadlock rounds (§11)
  // Told of every new membership view on the transport's delivery thread, before the
  // lockspace starts recovery for it (so before any grant the view causes), with no
  // lock held. Must not block (transport contract). The filesystem freezes on it.
  std::function<void(const net::MembershipView&)> on_view;
  // The directory placement rule (docs/dlm.md §12): the preferred directory node of a
  // key, or net::kNoNode for "no preference". It is used when the node it names is a
  // member of the current view; otherwise the hash rule applies. Every node of a
  // lockspace must use the same function (a pure function of the key; it is called
  // under the lockspace mutex and must not call back into the lockspace). Empty: hash
  // rule only.
  std::function<net::NodeId(std::string_view key)> dir_hint;
};

// Messages sent and received by one lockspace, by type (docs/dlm.md §8), counted since
// construction. Index = MsgType value; index 0 is unused.
inline constexpr size_t kMsgTypeSlots = 13;
struct MessageCounts {
  std::array<uint64_t, kMsgTypeSlots> sent{};
  std::array<uint64_t, kMsgTypeSlots> received{};
  uint64_t TotalSent() const;
  uint64_t TotalReceived() const;
};
// "LOOKUP", "REQUEST", ... for stats and dumps; "?" for an unknown value.
const char* MsgTypeName(MsgType t);

// A new lock request (docs/dlm.md §4).
struct LockRequest {
  std::string_view name;           // 1..64 bytes
  LockMode mode = LockMode::kNL;
  uint32_t flags = 0;              // LockFlags
  Range range;                     // default: the whole resource
  LockId parent = kNoLock;         // a granted lock of this node: name is in its namespace
  uint64_t owner = 0;              // wait-for graph vertex (0: this lock alone)
  Nanos timeout = 0;               // > 0: complete with TimedOut if not granted by then
  LockId convert_id = kNoLock;     // with kConvert: the lock to convert
  CompletionFn on_complete;        // AST; may be empty
  BlockingFn on_blocking;          // BAST; may be empty (then no BASTs)
};

struct ConvertRequest {
  LockMode mode = LockMode::kNL;
  uint32_t flags = 0;
  Range range;
  Nanos timeout = 0;
  const Lvb* lvb = nullptr;        // value to write (kValBlk, from PW/EX)
};

// Views for tests, the simulation and `cohort lockdump`.
struct MasterLockInfo {
  std::string key;
  LockId id = kNoLock;
  net::NodeId node = 0;
  QueueKind queue = QueueKind::kNone;
  LockMode grmode = LockMode::kNone;
  Range grange;
  LockMode rqmode = LockMode::kNone;
  Range rqrange;
};
struct OwnLockInfo {
  LockId id = kNoLock;
  std::string key;
  LockMode grmode = LockMode::kNone;
  Range grange;
  bool busy = false;  // an operation is in progress
  net::NodeId master = 0;
};

// Key of a resource (docs/dlm.md §1): parent_key followed by [len][name].
std::string MakeResourceKey(std::string_view parent_key, std::string_view name);
// "a/b" rendering of a key for dumps.
std::string KeyToString(std::string_view key);

class Lockspace final : public net::TransportHandler {
 public:
  // REQUIRES: transport outlives the lockspace and has not delivered yet; the lockspace
  // registers itself as the transport's handler. It becomes usable at the first
  // membership view that contains self(); until then requests are parked.
  Lockspace(net::Transport* transport, LockspaceOptions options);
  // REQUIRES: the transport delivers nothing more to this handler (stopped, or the node
  // killed in SimNetwork) and no other thread is inside a method. Queued, undelivered
  // callbacks are dropped.
  ~Lockspace() override;
  Lockspace(const Lockspace&) = delete;
  Lockspace& operator=(const Lockspace&) = delete;

  // Requests a lock (or, with kConvert, converts req.convert_id). Returns the lock id at
  // once; the outcome comes through req.on_complete. Errors (no callback follows):
  // InvalidArgument (mode, range, flags), NameTooLong, NotFound (parent/convert id),
  // Busy (convert of a lock with an operation in progress).
  Result<LockId> Lock(LockRequest req) EXCLUDES(mu_);
  // Converts a granted lock (docs/dlm.md §6). Errors as Lock().
  Status Convert(LockId id, const ConvertRequest& req) EXCLUDES(mu_);
  // Releases a granted lock; with kCancel it is Cancel(); with kSubtree children first.
  // `lvb` is written if the lock is PW/EX and kValBlk is set. Errors: NotFound, Busy
  // (operation in progress, or children without kSubtree).
  Status Unlock(LockId id, uint32_t flags = 0, const Lvb* lvb = nullptr) EXCLUDES(mu_);
  // Cancels a pending request or conversion (AST Cancelled). NotFound if unknown; OK and
  // no effect if nothing is pending.
  Status Cancel(LockId id) EXCLUDES(mu_);

  // Timeouts, idle resources and deadlock rounds. Call periodically.
  void Tick() EXCLUDES(mu_);
  // Delivers queued callbacks on this thread (normally done by every entry point).
  void DrainCallbacks() EXCLUDES(mu_);

  // TransportHandler.
  void OnMessage(net::NodeId from, uint64_t generation,
                 std::span<const uint8_t> payload) override EXCLUDES(mu_);
  void OnMembershipChange(const net::MembershipView& view) override EXCLUDES(mu_);

  // Text dump of every resource and lock (docs/dlm.md §14).
  std::string Dump() const EXCLUDES(mu_);
  // Checks the queue invariants of §5 on every mastered resource; Internal with the
  // dump of the failing resource otherwise.
  Status CheckInvariants() const EXCLUDES(mu_);
  std::vector<MasterLockInfo> MasterLocks() const EXCLUDES(mu_);
  std::vector<OwnLockInfo> OwnLocks() const EXCLUDES(mu_);
  // Keys of the resources this node masters.
  std::vector<std::string> MasteredKeys() const EXCLUDES(mu_);
  bool recovering() const EXCLUDES(mu_);
  net::MembershipView view() const EXCLUDES(mu_);
  size_t resource_count() const EXCLUDES(mu_);
  size_t directory_size() const EXCLUDES(mu_);
  // Messages this node sent to / received from peers (a local hop is not a message).
  MessageCounts message_counts() const EXCLUDES(mu_);
  // The directory node of `key` in the current view (docs/dlm.md §12).
  net::NodeId DirectoryNodeOf(std::string_view key) const EXCLUDES(mu_);
  // True only if no node holds, or waits for, a lock on the top-level resource `name`
  // as far as this node knows without a message (docs/dlm.md §12, "Known unlocked"):
  // the lockspace is quorate and not recovering, this node is the name's directory
  // node, and its directory and resource table name no other master and no lock or
  // request for the name (an idle resource mastered here counts as unlocked).
  // A request another node sends meanwhile may be granted right after. False says
  // nothing (ask with a NOQUEUE request). Never sends a message or takes a lock.
  bool KnownUnlocked(std::string_view name) const EXCLUDES(mu_);
  net::NodeId self() const { return self_; }

 private:
  using Resource = internal::Resource;
  using LockT = internal::Lock;
  using MasterLock = internal::MasterLock;
  struct ParkedMsg {
    net::NodeId from;
    Message msg;
  };

  // ---- owner side ----
  Result<LockId> LockLocked(LockRequest& req) REQUIRES(mu_);
  Status ConvertLocked(LockId id, const ConvertRequest& req) REQUIRES(mu_);
  Status UnlockLocked(LockId id, uint32_t flags, const Lvb* lvb) REQUIRES(mu_);
  Status CancelLocked(LockId id, Code why) REQUIRES(mu_);
  void StartOp(LockT* lk) REQUIRES(mu_);
  void SendOp(LockT* lk, const OpFields& f) REQUIRES(mu_);
  void SendCancel(LockT* lk) REQUIRES(mu_);
  void OwnerOnReply(LockT* lk, const ReplyMsg& m) REQUIRES(mu_);
  void OwnerOnBast(LockT* lk, LockMode mode) REQUIRES(mu_);
  void FinishOp(LockT* lk, Code status, const ReplyMsg* m) REQUIRES(mu_);
  void FreeLock(LockT* lk) REQUIRES(mu_);
  void ResolveMaster(Resource* r) REQUIRES(mu_);
  void OnLookupReply(const std::string& key, net::NodeId master) REQUIRES(mu_);
  void FailImmediately(LockT* lk, Code status) REQUIRES(mu_);

  // ---- master side ----
  void MasterOnRequest(net::NodeId from, const RequestMsg& m) REQUIRES(mu_);
  void MasterOp(Resource* r, MasterLock* ml, const OpFields& f, bool recovering)
      REQUIRES(mu_);
  bool Fits(const Resource* r, const MasterLock* ml, LockMode mode, const Range& range) const
      REQUIRES(mu_);
  bool Grantable(const Resource* r, const MasterLock* ml, bool is_convert, bool now) const
      REQUIRES(mu_);
  void Grant(Resource* r, MasterLock* ml) REQUIRES(mu_);
  void GrantPass(Resource* r) REQUIRES(mu_);
  void SendBasts(Resource* r, const MasterLock* blocked) REQUIRES(mu_);
  void ReplyQueued(Resource* r, MasterLock* ml) REQUIRES(mu_);
  bool ConversionDeadlock(const Resource* r, const MasterLock* ml) const REQUIRES(mu_);
  void ReplyTo(MasterLock* ml, const ReplyMsg& m) REQUIRES(mu_);
  void ReplyFinal(MasterLock* ml, Code status) REQUIRES(mu_);
  void RemoveFromQueue(Resource* r, MasterLock* ml) REQUIRES(mu_);
  void EndMasterLock(Resource* r, MasterLock* ml, Code status) REQUIRES(mu_);
  void DenyWaiting(Resource* r, MasterLock* ml, Code status) REQUIRES(mu_);
  MasterLock* FindMasterLock(Resource* r, LockId id) REQUIRES(mu_);
  Status CheckResource(const Resource* r) const REQUIRES(mu_);
  void DumpResource(const Resource* r, std::string* out) const REQUIRES(mu_);

  // ---- directory ----
  net::NodeId DirNode(std::string_view key) const REQUIRES(mu_);
  void DirLookup(net::NodeId from, const std::string& key) REQUIRES(mu_);
  void FreeIdleResources(Nanos now) REQUIRES(mu_);
  Resource* FindResource(std::string_view key) REQUIRES(mu_);
  Resource* GetResource(const std::string& key) REQUIRES(mu_);
  void MaybeForget(Resource* r) REQUIRES(mu_);

  // ---- recovery ----
  void StartRecovery() REQUIRES(mu_);
  void RecoverPhase2() REQUIRES(mu_);
  void RecoverPhase3() REQUIRES(mu_);
  void OnRecoverDone(net::NodeId from, const RecoverDoneMsg& m) REQUIRES(mu_);
  void OnRecoverLocks(net::NodeId from, RecoverLocksMsg m) REQUIRES(mu_);
  bool AdoptOrRefuse(Resource* r) REQUIRES(mu_);
  void RebuildResource(Resource* r) REQUIRES(mu_);
  void ResolveLostConversions(Resource* r,
                              std::vector<std::pair<MasterLock*, OpFields>>* inflight)
      REQUIRES(mu_);
  void FinishRecovery() REQUIRES(mu_);

  // ---- deadlock detection ----
  void StartDeadlockRound() REQUIRES(mu_);
  std::vector<DdEdge> CollectEdges() REQUIRES(mu_);
  void OnDdEdges(net::NodeId from, const DdEdgesMsg& m) REQUIRES(mu_);
  void AnalyzeDeadlocks() REQUIRES(mu_);
  void OnDdDeny(const DdDenyMsg& m) REQUIRES(mu_);

  // ---- messaging ----
  void Send(net::NodeId to, const Message& m) REQUIRES(mu_);
  void Dispatch(net::NodeId from, Message m) REQUIRES(mu_);
  void Broadcast(const Message& m) REQUIRES(mu_);

  net::Transport* const transport_;
  const LockspaceOptions options_;
  Clock* const clock_;
  const net::NodeId self_;
  CallbackQueue callbacks_;

  mutable Mutex mu_{LockRank::kDlmLockspace, "dlm.lockspace"};
  net::MembershipView view_ GUARDED_BY(mu_);
  bool member_ GUARDED_BY(mu_) = false;
  bool recovering_ GUARDED_BY(mu_) = true;  // until the first view with self
  int recover_phase_ GUARDED_BY(mu_) = 0;
  std::set<net::NodeId> done1_ GUARDED_BY(mu_);
  std::set<net::NodeId> done2_ GUARDED_BY(mu_);
  std::deque<ParkedMsg> parked_msgs_ GUARDED_BY(mu_);
  std::deque<LockId> parked_ops_ GUARDED_BY(mu_);
  uint64_t next_lock_ GUARDED_BY(mu_) = 1;
  uint64_t next_grant_seq_ GUARDED_BY(mu_) = 1;
  std::unordered_map<LockId, std::unique_ptr<LockT>> locks_ GUARDED_BY(mu_);
  std::unordered_set<LockId> timed_ GUARDED_BY(mu_);  // own locks with a deadline
  std::unordered_map<std::string, std::unique_ptr<Resource>> resources_ GUARDED_BY(mu_);
  std::unordered_map<LockId, std::unique_ptr<MasterLock>> remote_ GUARDED_BY(mu_);
  std::unordered_map<std::string, net::NodeId> dir_ GUARDED_BY(mu_);
  // Every surviving master, learned in recovery phase 3 (§10).
  std::unordered_map<std::string, net::NodeId> rdir_ GUARDED_BY(mu_);
  Nanos next_idle_scan_ GUARDED_BY(mu_) = 0;
  // Deadlock detection (§11), on the detector node.
  uint64_t dd_round_ GUARDED_BY(mu_) = 0;
  Nanos dd_next_ GUARDED_BY(mu_) = 0;
  std::set<net::NodeId> dd_waiting_ GUARDED_BY(mu_);
  std::vector<std::pair<net::NodeId, DdEdge>> dd_edges_ GUARDED_BY(mu_);
  std::vector<DdEdge> dd_prev_ GUARDED_BY(mu_);
  MessageCounts counts_ GUARDED_BY(mu_);
};

}  // namespace cohort::dlm
