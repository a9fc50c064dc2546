// dlm/lockspace.cc: the lock manager engine (docs/dlm.md).
//
// Stage map (docs/dlm.md section in brackets):
//   API entry points          Lock/Convert/Unlock/Cancel -> *Locked -> StartOp   [§4, §6]
//   owner side                StartOp, SendOp, OwnerOnReply, FinishOp            [§6]
//   master side               MasterOnRequest, MasterOp, Grant, GrantPass       [§5]
//   directory                 DirNode, DirLookup, FreeIdleResources             [§12]
//   recovery                  StartRecovery, RecoverPhase2/3, RebuildResource   [§10]
//   deadlock detection        StartDeadlockRound, AnalyzeDeadlocks, OnDdDeny    [§11]
//
// Thread safety: everything below runs under mu_ (see lockspace.h); callbacks are only
// queued here and delivered by the entry points after mu_ is released.
#include "dlm/lockspace.h"

#include <algorithm>
#include <functional>
#include <map>
#include <tuple>

#include "common/crc32c.h"
#include "common/logging.h"

namespace cohort::dlm {

namespace internal {

struct Lock;
using LockT = Lock;

struct MasterLock {
  LockId id = kNoLock;
  net::NodeId node = 0;
  uint64_t owner = 0;
  uint32_t flags = 0;  // flags of the current/last operation
  LockMode grmode = LockMode::kNone;
  Range grange;
  LockMode rqmode = LockMode::kNone;
  Range rqrange;
  uint32_t op_seq = 0;  // seq of the queued operation
  QueueKind queue = QueueKind::kNone;
  uint64_t grant_seq = 0;
  LockMode bast_mode = LockMode::kNone;  // highest mode BASTed since the last grant
  std::optional<Lvb> lvb;                // value to write on grant
  bool demoted = false;
  Resource* res = nullptr;
  LockT* local = nullptr;  // the owner-side lock when node == self
};

struct Resource {
  std::string key;
  net::NodeId master = net::kNoNode;  // kNoNode: unknown (lookup needed) or orphan
  bool lookup_pending = false;
  std::vector<MasterLock*> granted, converting, waiting;
  Lvb lvb{};
  uint64_t lvb_seq = 0;
  bool lvb_invalid = false;
  bool remastered = false;
  std::vector<LockT*> own;
  std::vector<std::pair<net::NodeId, RecoverEntry>> reports;
  Nanos idle_since = 0;
  bool HasMasterLocks() const {
    return !granted.empty() || !converting.empty() || !waiting.empty();
  }
};

enum class Stage { kIdle, kLookup, kSent, kQueued };

struct Lock {
  LockId id = kNoLock;
  Resource* res = nullptr;
  LockT* parent = nullptr;
  std::vector<LockT*> children;
  uint64_t owner = 0;
  LockMode grmode = LockMode::kNone;
  Range grange;
  OpFields op;  // op.op == kNone: no operation in progress
  Stage stage = Stage::kIdle;
  Code cancel_status = Code::kOk;  // kOk: no cancel requested
  bool cancel_sent = false;
  Nanos deadline = 0;
  uint32_t next_seq = 1;
  Lvb lvb{};
  std::shared_ptr<const LockCallbacks> cb;
  MasterLock m;  // the master copy when the resource is mastered here
};

}  // namespace internal

using internal::MasterLock;
using internal::Resource;
using internal::Stage;

namespace {

// A conversion that can only remove conflicts: every mode that conflicts with `to` also
// conflicts with `from`, and the range shrinks or stays. Always grantable at once.
bool IsRelease(LockMode from, const Range& from_range, LockMode to, const Range& to_range) {
  if (!IsValidMode(from) || !IsValidMode(to) || !from_range.Contains(to_range)) return false;
  for (int m = 0; m < kNumModes; ++m) {
    LockMode x = static_cast<LockMode>(m);
    if (!ModesCompatible(to, x) && ModesCompatible(from, x)) return false;
  }
  return true;
}

void EraseFrom(std::vector<MasterLock*>& v, MasterLock* ml) {
  auto it = std::find(v.begin(), v.end(), ml);
  if (it != v.end()) v.erase(it);
}

std::string RangeString(const Range& r) {
  if (r == Range::All()) return "[*]";
  return "[" + std::to_string(r.start) + "," + std::to_string(r.end) + "]";
}

// Vertex of the wait-for graph (§11): (node, is_lock, owner or lkid).
using Vertex = std::tuple<net::NodeId, bool, uint64_t>;
Vertex VertexOf(LockId lkid, uint64_t owner) {
  return owner != 0 ? Vertex{LockIdNode(lkid), false, owner} : Vertex{LockIdNode(lkid), true, lkid};
}

}  // namespace

std::string MakeResourceKey(std::string_view parent_key, std::string_view name) {
  std::string key;
  key.reserve(parent_key.size() + 1 + name.size());
  key.append(parent_key);
  key.push_back(static_cast<char>(name.size()));
  key.append(name);
  return key;
}

std::string KeyToString(std::string_view key) {
  std::string out;
  size_t i = 0;
  while (i < key.size()) {
    size_t n = static_cast<uint8_t>(key[i]);
    if (i + 1 + n > key.size()) break;
    if (!out.empty()) out += '/';
    for (char c : key.substr(i + 1, n)) {
      out += (c >= 0x20 && c < 0x7f) ? c : '?';
    }
    i += 1 + n;
  }
  return out;
}

// ---------------------------------------------------------------------------
// Construction and API entry points [§4]

Lockspace::Lockspace(net::Transport* transport, LockspaceOptions options)
    : transport_(transport),
      options_(std::move(options)),
      clock_(options_.clock ? options_.clock : Clock::Real()),
      self_(transport->self()) {
  transport_->SetHandler(this);
}

Lockspace::~Lockspace() = default;

Result<LockId> Lockspace::Lock(LockRequest req) {
  Result<LockId> r = Status::Internal("unset");
  {
    MutexLock l(&mu_);
    r = LockLocked(req);
  }
  callbacks_.Drain();
  return r;
}

Status Lockspace::Convert(LockId id, const ConvertRequest& req) {
  Status s;
  {
    MutexLock l(&mu_);
    s = ConvertLocked(id, req);
  }
  callbacks_.Drain();
  return s;
}

Status Lockspace::Unlock(LockId id, uint32_t flags, const Lvb* lvb) {
  Status s;
  {
    MutexLock l(&mu_);
    s = (flags & kCancel) ? CancelLocked(id, Code::kCancelled) : UnlockLocked(id, flags, lvb);
  }
  callbacks_.Drain();
  return s;
}

Status Lockspace::Cancel(LockId id) {
  Status s;
  {
    MutexLock l(&mu_);
    s = CancelLocked(id, Code::kCancelled);
  }
  callbacks_.Drain();
  return s;
}

void Lockspace::DrainCallbacks() { callbacks_.Drain(); }

Result<LockId> Lockspace::LockLocked(LockRequest& req) {
  if (req.flags & kConvert) {
    ConvertRequest c;
    c.mode = req.mode;
    c.flags = req.flags & ~kConvert;
    c.range = req.range;
    c.timeout = req.timeout;
    COHORT_RETURN_IF_ERROR(ConvertLocked(req.convert_id, c));
    return req.convert_id;
  }
  if (!IsValidMode(req.mode)) return Status::InvalidArgument("bad lock mode");
  if (!req.range.Valid()) return Status::InvalidArgument("range start > end");
  if (req.flags & ~kAllLockFlags) return Status::InvalidArgument("unknown flags");
  if (req.flags & (kCancel | kSubtree)) return Status::InvalidArgument("unlock-only flag");
  if (req.name.empty()) return Status::InvalidArgument("empty resource name");
  if (req.name.size() > kMaxNameLen) return Status::NameTooLong("resource name > 64 bytes");
  if (req.timeout < 0) return Status::InvalidArgument("negative timeout");
  LockT* parent = nullptr;
  std::string_view parent_key;
  if (req.parent != kNoLock) {
    auto it = locks_.find(req.parent);
    if (it == locks_.end()) return Status::NotFound("parent lock");
    parent = it->second.get();
    if (parent->grmode == LockMode::kNone || parent->op.op == OpKind::kUnlock) {
      return Status::InvalidArgument("parent lock is not granted");
    }
    parent_key = parent->res->key;
    int depth = 0;
    for (size_t i = 0; i < parent_key.size(); i += 1 + static_cast<uint8_t>(parent_key[i])) {
      ++depth;
    }
    if (depth >= kMaxDepth) return Status::InvalidArgument("parent chain too deep");
  }
  Resource* r = GetResource(MakeResourceKey(parent_key, req.name));
  auto owned = std::make_unique<LockT>();
  LockT* lk = owned.get();
  lk->id = (static_cast<LockId>(self_) << 48) | next_lock_++;
  lk->res = r;
  lk->parent = parent;
  lk->owner = req.owner;
  lk->cb = std::make_shared<const LockCallbacks>(
      LockCallbacks{std::move(req.on_complete), std::move(req.on_blocking)});
  lk->op.op = OpKind::kLock;
  lk->op.seq = lk->next_seq++;
  lk->op.mode = req.mode;
  lk->op.flags = req.flags | (req.timeout > 0 ? static_cast<uint32_t>(kTimeout) : 0u);
  lk->op.range = req.range;
  lk->deadline = req.timeout > 0 ? clock_->Now() + req.timeout : 0;
  if (lk->deadline) timed_.insert(lk->id);
  r->own.push_back(lk);
  r->idle_since = 0;
  if (parent) parent->children.push_back(lk);
  LockId id = lk->id;
  locks_.emplace(id, std::move(owned));
  if (recovering_) {
    parked_ops_.push_back(id);
  } else {
    StartOp(lk);  // may complete (and free) lk
  }
  return id;
}

Status Lockspace::ConvertLocked(LockId id, const ConvertRequest& req) {
  auto it = locks_.find(id);
  if (it == locks_.end()) return Status::NotFound("no such lock");
  LockT* lk = it->second.get();
  if (lk->op.op != OpKind::kNone) return Status::Busy("operation in progress");
  if (lk->grmode == LockMode::kNone) return Status::InvalidArgument("lock not granted");
  if (!IsValidMode(req.mode)) return Status::InvalidArgument("bad lock mode");
  if (!req.range.Valid()) return Status::InvalidArgument("range start > end");
  if (req.flags & ~kAllLockFlags) return Status::InvalidArgument("unknown flags");
  if (req.timeout < 0) return Status::InvalidArgument("negative timeout");
  lk->op = OpFields{};
  lk->op.op = OpKind::kConvert;
  lk->op.seq = lk->next_seq++;
  lk->op.mode = req.mode;
  lk->op.flags = (req.flags & ~(kConvert | kCancel | kSubtree)) | (req.timeout > 0 ? static_cast<uint32_t>(kTimeout) : 0u);
  lk->op.range = req.range;
  if (req.lvb) lk->op.lvb = *req.lvb;
  lk->deadline = req.timeout > 0 ? clock_->Now() + req.timeout : 0;
  if (lk->deadline) timed_.insert(lk->id);
  if (recovering_) {
    parked_ops_.push_back(id);
  } else {
    StartOp(lk);
  }
  return Status::OK();
}

Status Lockspace::UnlockLocked(LockId id, uint32_t flags, const Lvb* lvb) {
  auto it = locks_.find(id);
  if (it == locks_.end()) return Status::NotFound("no such lock");
  LockT* lk = it->second.get();
  if (lk->op.op != OpKind::kNone) return Status::Busy("operation in progress");
  if (lk->grmode == LockMode::kNone) return Status::InvalidArgument("lock not granted");
  if (!lk->children.empty()) {
    if (!(flags & kSubtree)) return Status::Busy("lock has children");
    // Children first (§4 kSubtree); every descendant must be idle.
    std::vector<LockT*> order;
    std::function<bool(LockT*)> collect = [&](LockT* p) {
      for (LockT* c : p->children) {
        if (c->op.op != OpKind::kNone && c->op.op != OpKind::kUnlock) return false;
        if (!collect(c)) return false;
        order.push_back(c);
      }
      return true;
    };
    if (!collect(lk)) return Status::Busy("a child lock has an operation in progress");
    for (LockT* c : order) {
      if (c->op.op == OpKind::kUnlock) continue;
      c->op = OpFields{};
      c->op.op = OpKind::kUnlock;
      c->op.seq = c->next_seq++;
      c->op.flags = flags & (kValBlk | kIvValBlk);
      if (recovering_) {
        parked_ops_.push_back(c->id);
      } else {
        StartOp(c);
      }
    }
  }
  lk->op = OpFields{};
  lk->op.op = OpKind::kUnlock;
  lk->op.seq = lk->next_seq++;
  lk->op.flags = flags & (kValBlk | kIvValBlk);
  if (lvb) lk->op.lvb = *lvb;
  if (recovering_) {
    parked_ops_.push_back(id);
  } else {
    StartOp(lk);
  }
  return Status::OK();
}

Status Lockspace::CancelLocked(LockId id, Code why) {
  auto it = locks_.find(id);
  if (it == locks_.end()) return Status::NotFound("no such lock");
  LockT* lk = it->second.get();
  if (lk->op.op != OpKind::kLock && lk->op.op != OpKind::kConvert) return Status::OK();
  if (lk->cancel_status != Code::kOk) return Status::OK();  // already cancelling
  if (lk->stage == Stage::kIdle || lk->stage == Stage::kLookup) {
    // Never reached a master: nothing to undo there.
    FinishOp(lk, why, nullptr);
    return Status::OK();
  }
  lk->cancel_status = why;
  SendCancel(lk);
  return Status::OK();
}

// ---------------------------------------------------------------------------
// Owner side [§6]

void Lockspace::StartOp(LockT* lk) {
  Resource* r = lk->res;
  bool grants = lk->op.op == OpKind::kLock ||
                (lk->op.op == OpKind::kConvert &&
                 !IsRelease(lk->grmode, lk->grange, lk->op.mode, lk->op.range));
  if (grants && !view_.quorate) {
    // §9: a node without quorum takes no new locks; it fails at once.
    FinishOp(lk, Code::kUnavailable, nullptr);
    return;
  }
  if (r->master == net::kNoNode) {
    lk->stage = Stage::kLookup;
    ResolveMaster(r);
    return;
  }
  SendOp(lk, lk->op);
}

void Lockspace::SendOp(LockT* lk, const OpFields& f) {
  Resource* r = lk->res;
  lk->stage = Stage::kSent;
  lk->cancel_sent = false;
  if (r->master == self_) {
    if (f.op == OpKind::kLock) {
      lk->m = MasterLock{};
      lk->m.id = lk->id;
      lk->m.node = self_;
      lk->m.owner = lk->owner;
      lk->m.res = r;
      lk->m.local = lk;
    }
    MasterOp(r, &lk->m, f, false);  // may free lk
    return;
  }
  RequestMsg m;
  m.key = r->key;
  m.lkid = lk->id;
  m.owner = lk->owner;
  m.f = f;
  Send(r->master, m);
}

void Lockspace::SendCancel(LockT* lk) {
  if (lk->cancel_sent) return;
  lk->cancel_sent = true;
  OpFields f;
  f.op = OpKind::kCancel;
  f.seq = lk->op.seq;
  f.cancel_status = lk->cancel_status;
  Resource* r = lk->res;
  if (r->master == self_) {
    MasterOp(r, &lk->m, f, false);
    return;
  }
  RequestMsg m;
  m.key = r->key;
  m.lkid = lk->id;
  m.owner = lk->owner;
  m.f = f;
  Send(r->master, m);
}

void Lockspace::OwnerOnReply(LockT* lk, const ReplyMsg& m) {
  if (lk->op.op == OpKind::kNone || m.op_seq != lk->op.seq) return;  // stale
  switch (m.kind) {
    case ReplyKind::kQueued:
      lk->stage = Stage::kQueued;
      if (m.sbflags & kSbDemoted) {
        lk->grmode = m.mode;  // kConvDeadlk demoted the grant while converting
        lk->grange = m.range;
      }
      return;
    case ReplyKind::kNotMaster:
      if (lk->op.op == OpKind::kLock) {
        if (lk->cancel_status != Code::kOk) {
          FinishOp(lk, lk->cancel_status, nullptr);
          return;
        }
        lk->res->master = net::kNoNode;
        lk->cancel_sent = false;
        lk->stage = Stage::kLookup;
        ResolveMaster(lk->res);
      } else {
        // The master does not know a lock we hold: a broken invariant; report it.
        COHORT_LOG_ERROR("dlm {}: n{} says not master of {} for lock {:x}", options_.name,
                         lk->res->master, KeyToString(lk->res->key), lk->id);
        FinishOp(lk, lk->op.op == OpKind::kUnlock ? Code::kOk : Code::kNoLock, nullptr);
      }
      return;
    case ReplyKind::kFinal:
      FinishOp(lk, m.status, &m);
      return;
  }
}

void Lockspace::OwnerOnBast(LockT* lk, LockMode mode) {
  // §7 rule 2: drop stale BASTs.
  if (lk->grmode == LockMode::kNone || ModesCompatible(lk->grmode, mode)) return;
  if (lk->op.op == OpKind::kUnlock) return;
  callbacks_.PushBlocking(lk->cb, lk->id, mode);
}

void Lockspace::FinishOp(LockT* lk, Code status, const ReplyMsg* m) {
  Completion c;
  c.id = lk->id;
  c.status = status;
  OpKind op = lk->op.op;
  if (m && m->kind == ReplyKind::kFinal) {
    if (op == OpKind::kLock || op == OpKind::kConvert) {
      lk->grmode = m->mode;
      lk->grange = m->range;
    }
    if (m->lvb) {
      lk->lvb = *m->lvb;
      c.lvb = *m->lvb;
      c.lvb_valid_read = true;
    }
    c.lvb_invalid = (m->sbflags & kSbLvbInvalid) != 0;
    c.demoted = (m->sbflags & kSbDemoted) != 0;
  }
  if (op == OpKind::kConvert && status == Code::kOk && lk->op.lvb) lk->lvb = *lk->op.lvb;
  bool free_lock = op == OpKind::kUnlock || (op == OpKind::kLock && status != Code::kOk);
  if (op == OpKind::kUnlock) {
    c.unlocked = true;
    lk->grmode = LockMode::kNone;
  }
  c.granted = lk->grmode;
  c.range = lk->grange;
  lk->op = OpFields{};
  lk->stage = Stage::kIdle;
  lk->cancel_status = Code::kOk;
  lk->cancel_sent = false;
  lk->deadline = 0;
  timed_.erase(lk->id);
  callbacks_.PushCompletion(lk->cb, c);
  if (free_lock) FreeLock(lk);
}

void Lockspace::FreeLock(LockT* lk) {
  Resource* r = lk->res;
  auto it = std::find(r->own.begin(), r->own.end(), lk);
  if (it != r->own.end()) r->own.erase(it);
  if (lk->parent) {
    auto& ch = lk->parent->children;
    auto pit = std::find(ch.begin(), ch.end(), lk);
    if (pit != ch.end()) ch.erase(pit);
  }
  for (LockT* c : lk->children) c->parent = nullptr;
  if (lk->m.queue != QueueKind::kNone && lk->m.res) RemoveFromQueue(lk->m.res, &lk->m);
  timed_.erase(lk->id);
  locks_.erase(lk->id);
}

void Lockspace::ResolveMaster(Resource* r) {
  if (r->lookup_pending) return;
  net::NodeId d = DirNode(r->key);
  if (d == self_) {
    DirLookup(self_, r->key);
    return;
  }
  r->lookup_pending = true;
  Send(d, LookupMsg{r->key});
}

void Lockspace::OnLookupReply(const std::string& key, net::NodeId master) {
  Resource* r = FindResource(key);
  if (!r) return;
  r->lookup_pending = false;
  if (r->master != net::kNoNode) return;
  if (!view_.Contains(master)) {
    ResolveMaster(r);
    return;
  }
  r->master = master;
  // Snapshot: sending may complete and free locks of r.
  std::vector<LockId> ids;
  for (LockT* lk : r->own) {
    if (lk->stage == Stage::kLookup) ids.push_back(lk->id);
  }
  for (LockId id : ids) {
    auto it = locks_.find(id);
    if (it == locks_.end() || it->second->stage != Stage::kLookup) continue;
    SendOp(it->second.get(), it->second->op);
  }
}

// ---------------------------------------------------------------------------
// Master side [§5]

void Lockspace::MasterOnRequest(net::NodeId from, const RequestMsg& m) {
  Resource* r = FindResource(m.key);
  if (!r || r->master != self_) {
    if (m.f.op != OpKind::kCancel) {
      ReplyMsg rep;
      rep.lkid = m.lkid;
      rep.op_seq = m.f.seq;
      rep.kind = ReplyKind::kNotMaster;
      Send(from, rep);
    }
    return;
  }
  if (LockIdNode(m.lkid) != from) return;  // a node speaks only for its own locks
  MasterLock* ml = nullptr;
  if (m.f.op == OpKind::kLock) {
    if (remote_.count(m.lkid)) return;  // duplicate within a generation: ignore
    auto owned = std::make_unique<MasterLock>();
    ml = owned.get();
    ml->id = m.lkid;
    ml->node = from;
    ml->owner = m.owner;
    ml->res = r;
    remote_.emplace(m.lkid, std::move(owned));
  } else {
    ml = FindMasterLock(r, m.lkid);
    if (!ml) {
      if (m.f.op == OpKind::kCancel) return;
      ReplyMsg rep;
      rep.lkid = m.lkid;
      rep.op_seq = m.f.seq;
      rep.kind = ReplyKind::kFinal;
      rep.status = m.f.op == OpKind::kUnlock ? Code::kOk : Code::kNoLock;
      Send(from, rep);
      return;
    }
  }
  MasterOp(r, ml, m.f, false);
}

MasterLock* Lockspace::FindMasterLock(Resource* r, LockId id) {
  if (LockIdNode(id) == self_) {
    auto it = locks_.find(id);
    if (it == locks_.end() || it->second->m.res != r) return nullptr;
    return &it->second->m;
  }
  auto it = remote_.find(id);
  if (it == remote_.end() || it->second->res != r) return nullptr;
  return it->second.get();
}

bool Lockspace::Fits(const Resource* r, const MasterLock* ml, LockMode mode,
                     const Range& range) const {
  for (const MasterLock* h : r->granted) {
    if (h != ml && Conflicts(h->grmode, h->grange, mode, range)) return false;
  }
  for (const MasterLock* h : r->converting) {
    if (h != ml && Conflicts(h->grmode, h->grange, mode, range)) return false;
  }
  return true;
}

bool Lockspace::Grantable(const Resource* r, const MasterLock* ml, bool is_convert,
                          bool now) const {
  // A release is always granted at once (kQueCvt does not hold back a grant being given
  // up); in recovery this also applies a release whose reply was lost (§10 phase 5).
  if (is_convert && IsRelease(ml->grmode, ml->grange, ml->rqmode, ml->rqrange)) return true;
  if (!Fits(r, ml, ml->rqmode, ml->rqrange)) return false;
  if (is_convert) {
    if (!(ml->flags & kQueCvt)) return true;  // G1
    for (const MasterLock* c : r->converting) {  // G2
      if (c == ml) break;
      if (Conflicts(c->rqmode, c->rqrange, ml->rqmode, ml->rqrange)) return false;
    }
    return true;
  }
  if ((ml->flags & kExpedite) && ml->rqmode == LockMode::kNL) return true;
  for (const MasterLock* c : r->converting) {  // G3
    if (c->rqrange.Overlaps(ml->rqrange)) return false;
  }
  for (const MasterLock* w : r->waiting) {
    if (!now && w == ml) break;
    if (w != ml && w->rqrange.Overlaps(ml->rqrange)) return false;
  }
  return true;
}

void Lockspace::RemoveFromQueue(Resource* r, MasterLock* ml) {
  switch (ml->queue) {
    case QueueKind::kGranted: EraseFrom(r->granted, ml); break;
    case QueueKind::kConverting: EraseFrom(r->converting, ml); break;
    case QueueKind::kWaiting: EraseFrom(r->waiting, ml); break;
    case QueueKind::kNone: break;
  }
  ml->queue = QueueKind::kNone;
}

void Lockspace::ReplyTo(MasterLock* ml, const ReplyMsg& m) {
  if (ml->node == self_) {
    if (ml->local) OwnerOnReply(ml->local, m);
    return;
  }
  Send(ml->node, m);
}

void Lockspace::ReplyFinal(MasterLock* ml, Code status) {
  ReplyMsg rep;
  rep.lkid = ml->id;
  rep.op_seq = ml->op_seq;
  rep.kind = ReplyKind::kFinal;
  rep.status = status;
  rep.mode = ml->grmode;
  rep.range = ml->grange;
  if (ml->demoted) {
    rep.sbflags |= kSbDemoted;
    ml->demoted = false;
  }
  ReplyTo(ml, rep);
}

// Ends a master lock: off its queue, the final reply, then its memory. For a local lock
// the owner frees it (FinishOp/FreeLock); a remote copy is erased here after the reply.
void Lockspace::EndMasterLock(Resource* r, MasterLock* ml, Code status) {
  RemoveFromQueue(r, ml);
  ml->rqmode = LockMode::kNone;
  if (ml->node == self_) {
    ReplyFinal(ml, status);  // the owner frees the lock (and ml with it)
    return;
  }
  ReplyFinal(ml, status);
  remote_.erase(ml->id);
}

void Lockspace::Grant(Resource* r, MasterLock* ml) {
  ReplyMsg rep;
  rep.lkid = ml->id;
  rep.op_seq = ml->op_seq;
  rep.kind = ReplyKind::kFinal;
  rep.status = Code::kOk;
  if (ml->flags & kValBlk) {
    switch (LvbOperation(ml->grmode, ml->rqmode)) {
      case LvbOp::kWrite:
        if (ml->flags & kIvValBlk) {
          r->lvb.fill(0);
          r->lvb_invalid = true;
          r->lvb_seq++;
        } else if (ml->lvb) {
          r->lvb = *ml->lvb;
          r->lvb_invalid = false;
          r->lvb_seq++;
        }
        break;
      case LvbOp::kRead:
        rep.lvb = r->lvb;
        if (r->lvb_invalid) rep.sbflags |= kSbLvbInvalid;
        break;
      case LvbOp::kNone:
        break;
    }
  }
  ml->lvb.reset();
  if (ml->demoted) {
    rep.sbflags |= kSbDemoted;
    ml->demoted = false;
  }
  RemoveFromQueue(r, ml);
  ml->grmode = ml->rqmode;
  ml->grange = ml->rqrange;
  ml->rqmode = LockMode::kNone;
  ml->grant_seq = next_grant_seq_++;
  ml->bast_mode = LockMode::kNone;
  ml->queue = QueueKind::kGranted;
  r->granted.push_back(ml);
  rep.mode = ml->grmode;
  rep.range = ml->grange;
  ReplyTo(ml, rep);
}

// §5: `ml` (the newest conversion) waits for an earlier conversion d (d's grant, or, with
// kQueCvt, d's conflicting request ahead of it) while d waits for ml's grant.
bool Lockspace::ConversionDeadlock(const Resource* r, const MasterLock* ml) const {
  for (const MasterLock* d : r->converting) {
    if (d == ml) continue;
    bool d_blocks_ml = Conflicts(d->grmode, d->grange, ml->rqmode, ml->rqrange) ||
                       ((ml->flags & kQueCvt) &&
                        Conflicts(d->rqmode, d->rqrange, ml->rqmode, ml->rqrange));
    if (d_blocks_ml && Conflicts(ml->grmode, ml->grange, d->rqmode, d->rqrange)) {
      return true;
    }
  }
  return false;
}

// Tells the owner its request waits (kQueued), then the holders in its way (BASTs).
void Lockspace::ReplyQueued(Resource* r, MasterLock* ml) {
  ReplyMsg rep;
  rep.lkid = ml->id;
  rep.op_seq = ml->op_seq;
  rep.kind = ReplyKind::kQueued;
  ReplyTo(ml, rep);
  SendBasts(r, ml);
}

void Lockspace::SendBasts(Resource* r, const MasterLock* blocked) {
  auto bast = [&](MasterLock* h) REQUIRES(mu_) {
    if (h == blocked || h->grmode == LockMode::kNone) return;
    if (!Conflicts(h->grmode, h->grange, blocked->rqmode, blocked->rqrange)) return;
    // §7 rule 2: one BAST per grant per mode, again only for a higher mode.
    if (h->bast_mode != LockMode::kNone &&
        static_cast<int>(blocked->rqmode) <= static_cast<int>(h->bast_mode)) {
      return;
    }
    h->bast_mode = blocked->rqmode;
    if (h->node == self_) {
      if (h->local) OwnerOnBast(h->local, blocked->rqmode);
    } else {
      Send(h->node, BastMsg{h->id, blocked->rqmode});
    }
  };
  for (MasterLock* h : r->granted) bast(h);
  for (MasterLock* h : r->converting) bast(h);
}

void Lockspace::DenyWaiting(Resource* r, MasterLock* ml, Code status) {
  if (ml->queue == QueueKind::kWaiting) {
    EndMasterLock(r, ml, status);
  } else if (ml->queue == QueueKind::kConverting) {
    EraseFrom(r->converting, ml);
    ml->rqmode = LockMode::kNone;
    ml->lvb.reset();
    ml->queue = QueueKind::kGranted;
    r->granted.push_back(ml);
    ReplyFinal(ml, status);
  }
}

void Lockspace::MasterOp(Resource* r, MasterLock* ml, const OpFields& f, bool recovering) {
  switch (f.op) {
    case OpKind::kLock: {
      ml->rqmode = f.mode;
      ml->rqrange = f.range;
      ml->flags = f.flags;
      ml->op_seq = f.seq;
      ml->grmode = LockMode::kNone;
      if (!view_.quorate) {
        EndMasterLock(r, ml, Code::kUnavailable);
        return;
      }
      if (Grantable(r, ml, false, true)) {
        Grant(r, ml);
        return;
      }
      if (f.flags & kNoQueue) {
        if (f.flags & kNoQueueBast) SendBasts(r, ml);
        ml->rqmode = LockMode::kNone;
        EndMasterLock(r, ml, Code::kWouldBlock);
        return;
      }
      ml->queue = QueueKind::kWaiting;
      r->waiting.push_back(ml);
      ReplyQueued(r, ml);
      return;
    }
    case OpKind::kConvert: {
      if (ml->queue != QueueKind::kGranted) {
        ml->op_seq = f.seq;
        ReplyFinal(ml, Code::kBusy);
        return;
      }
      ml->rqmode = f.mode;
      ml->rqrange = f.range;
      ml->flags = f.flags;
      ml->op_seq = f.seq;
      ml->lvb = f.lvb;
      bool release = IsRelease(ml->grmode, ml->grange, f.mode, f.range);
      if (!view_.quorate && !release) {
        ml->rqmode = LockMode::kNone;
        ReplyFinal(ml, Code::kUnavailable);
        return;
      }
      if (Grantable(r, ml, true, true)) {
        Grant(r, ml);
        GrantPass(r);  // a down-conversion may unblock others
        return;
      }
      if (f.flags & kNoQueue) {
        if (f.flags & kNoQueueBast) SendBasts(r, ml);
        ml->rqmode = LockMode::kNone;
        ml->lvb.reset();
        ReplyFinal(ml, Code::kWouldBlock);
        return;
      }
      EraseFrom(r->granted, ml);
      ml->queue = QueueKind::kConverting;
      r->converting.push_back(ml);
      if (ConversionDeadlock(r, ml)) {
        if (f.flags & kConvDeadlk) {
          // §5: demote the newer converter to NL instead of failing it.
          ml->grmode = LockMode::kNL;
          ml->demoted = true;
          ReplyMsg rep;
          rep.lkid = ml->id;
          rep.op_seq = ml->op_seq;
          rep.kind = ReplyKind::kQueued;
          rep.mode = ml->grmode;  // the owner learns the demotion at once
          rep.range = ml->grange;
          rep.sbflags = kSbDemoted;
          ReplyTo(ml, rep);
          GrantPass(r);
          return;
        }
        DenyWaiting(r, ml, Code::kDeadlock);
        return;
      }
      ReplyQueued(r, ml);
      return;
    }
    case OpKind::kUnlock: {
      if (ml->queue != QueueKind::kGranted) {
        ml->op_seq = f.seq;
        ReplyFinal(ml, Code::kBusy);
        return;
      }
      ml->op_seq = f.seq;
      if ((f.flags & kValBlk) && IsValidMode(ml->grmode) &&
          static_cast<int>(ml->grmode) >= static_cast<int>(LockMode::kPW)) {
        if (f.flags & kIvValBlk) {
          r->lvb.fill(0);
          r->lvb_invalid = true;
          r->lvb_seq++;
        } else if (f.lvb) {
          r->lvb = *f.lvb;
          r->lvb_invalid = false;
          r->lvb_seq++;
        }
      }
      EndMasterLock(r, ml, Code::kOk);
      GrantPass(r);
      return;
    }
    case OpKind::kCancel: {
      if (ml->op_seq != f.seq) return;
      if (ml->queue != QueueKind::kWaiting && ml->queue != QueueKind::kConverting) return;
      DenyWaiting(r, ml, f.cancel_status);
      GrantPass(r);
      return;
    }
    case OpKind::kNone:
      return;
  }
  (void)recovering;
}

void Lockspace::GrantPass(Resource* r) {
  if (!view_.quorate) return;  // G5
  for (size_t i = 0; i < r->converting.size();) {
    MasterLock* ml = r->converting[i];
    if (Grantable(r, ml, true, false)) {
      Grant(r, ml);  // removes it from converting
    } else {
      ++i;
    }
  }
  for (size_t i = 0; i < r->waiting.size();) {
    MasterLock* ml = r->waiting[i];
    if (Grantable(r, ml, false, false)) {
      Grant(r, ml);
    } else {
      ++i;
    }
  }
  for (size_t i = 0; i < r->converting.size(); ++i) SendBasts(r, r->converting[i]);
  for (size_t i = 0; i < r->waiting.size(); ++i) SendBasts(r, r->waiting[i]);
}

// ---------------------------------------------------------------------------
// Directory [§12]

net::NodeId Lockspace::DirNode(std::string_view key) const {
  if (view_.members.empty()) return self_;
  if (options_.dir_hint) {
    // The placement rule first; a preferred node outside the view falls back to the
    // hash, so every member still computes the same answer from the same view.
    net::NodeId hint = options_.dir_hint(key);
    if (hint != net::kNoNode && view_.Contains(hint)) return hint;
  }
  uint32_t h = crc32c::Value(key.data(), key.size());
  return view_.members[h % view_.members.size()];
}

bool Lockspace::KnownUnlocked(std::string_view name) const {
  const std::string key = MakeResourceKey("", name);
  MutexLock l(&mu_);
  // Every lock granted or requested anywhere has its master's resource entered in the
  // directory node's table (first lookup, or recovery's rebuild, §10 phase 3 and 5)
  // until that resource is freed idle; a master that is this node has it in resources_.
  // A resource that this node masters with no lock and no request on it (idle, not yet
  // freed) counts as unlocked too.
  if (recovering_ || !member_ || !view_.quorate || DirNode(key) != self_) return false;
  auto d = dir_.find(key);
  if (d != dir_.end() && d->second != self_) return false;
  auto it = resources_.find(key);
  if (it == resources_.end()) return true;
  const Resource* r = it->second.get();
  return r->master == self_ && r->own.empty() && !r->HasMasterLocks() && !r->lookup_pending &&
         r->reports.empty();
}

void Lockspace::DirLookup(net::NodeId from, const std::string& key) {
  auto [it, inserted] = dir_.try_emplace(key, from);
  net::NodeId master = it->second;
  if (!view_.Contains(master)) {
    it->second = from;
    master = from;
  }
  if (from == self_) {
    OnLookupReply(key, master);
  } else {
    Send(from, LookupReplyMsg{key, master});
  }
}

Resource* Lockspace::FindResource(std::string_view key) {
  auto it = resources_.find(std::string(key));
  return it == resources_.end() ? nullptr : it->second.get();
}

Resource* Lockspace::GetResource(const std::string& key) {
  auto [it, inserted] = resources_.try_emplace(key);
  if (inserted) {
    it->second = std::make_unique<Resource>();
    it->second->key = key;
  }
  return it->second.get();
}

void Lockspace::FreeIdleResources(Nanos now) {
  for (auto it = resources_.begin(); it != resources_.end();) {
    Resource* r = it->second.get();
    bool idle = r->own.empty() && !r->HasMasterLocks() && !r->lookup_pending &&
                r->reports.empty();
    if (!idle) {
      r->idle_since = 0;
      ++it;
      continue;
    }
    if (r->idle_since == 0) {
      r->idle_since = now;
      ++it;
      continue;
    }
    if (now - r->idle_since < options_.idle_free_after) {
      ++it;
      continue;
    }
    if (r->master == self_) {
      net::NodeId d = DirNode(r->key);
      if (d == self_) {
        auto dit = dir_.find(r->key);
        if (dit != dir_.end() && dit->second == self_) dir_.erase(dit);
      } else {
        Send(d, DirRemoveMsg{r->key, self_});
      }
    }
    it = resources_.erase(it);
  }
}

// ---------------------------------------------------------------------------
// Tick: timeouts, idle resources, deadlock rounds

void Lockspace::Tick() {
  {
    MutexLock l(&mu_);
    Nanos now = clock_->Now();
    if (!recovering_) {
      // Only locks with a deadline are looked at (timed_), not every lock: a node
      // caches tens of thousands of locks and Tick runs ten times a second.
      std::vector<LockId> expired;
      for (LockId tid : timed_) {
        auto it = locks_.find(tid);
        if (it == locks_.end()) continue;
        LockT* lk = it->second.get();
        if (lk->deadline != 0 && now >= lk->deadline && lk->cancel_status == Code::kOk &&
            (lk->op.op == OpKind::kLock || lk->op.op == OpKind::kConvert)) {
          expired.push_back(tid);
        }
      }
      std::sort(expired.begin(), expired.end());
      for (LockId id : expired) (void)CancelLocked(id, Code::kTimedOut);
      if (now >= next_idle_scan_) {
        next_idle_scan_ = now + options_.idle_free_after / 4;
        FreeIdleResources(now);
      }
      if (member_ && !view_.members.empty() && view_.members.front() == self_ &&
          now >= dd_next_) {
        dd_next_ = now + options_.deadlock_interval;
        StartDeadlockRound();
      }
    }
  }
  callbacks_.Drain();
}

// ---------------------------------------------------------------------------
// Messaging

void Lockspace::Send(net::NodeId to, const Message& m) {
  if (to == self_) {
    Dispatch(self_, m);  // never expected on hot paths; keeps one code path
    return;
  }
  Status s = transport_->Send(to, view_.generation, EncodeMessage(m));
  size_t t = static_cast<size_t>(TypeOf(m));
  if (s.ok() && t < kMsgTypeSlots) ++counts_.sent[t];
  if (!s.ok()) {
    // The peer left or the generation moved on: recovery resends what matters (§10).
    COHORT_LOG_DEBUG("dlm {}: send to n{} dropped: {}", options_.name, to, s.ToString());
  }
}

void Lockspace::Broadcast(const Message& m) {
  std::vector<net::NodeId> members = view_.members;
  for (net::NodeId n : members) {
    if (n == self_) continue;
    Send(n, m);
  }
  if (view_.Contains(self_)) Dispatch(self_, m);
}

void Lockspace::OnMessage(net::NodeId from, uint64_t generation,
                          std::span<const uint8_t> payload) {
  {
    MutexLock l(&mu_);
    if (generation != view_.generation) return;  // transport contract 2, defensively
    Result<Message> m = DecodeMessage(payload);
    if (!m.ok()) {
      COHORT_LOG_WARN("dlm {}: dropped bad message from n{}: {}", options_.name, from,
                      m.status().ToString());
    } else {
      MsgType t = TypeOf(*m);
      if (static_cast<size_t>(t) < kMsgTypeSlots) ++counts_.received[static_cast<size_t>(t)];
      bool recovery_msg = t == MsgType::kDirAdd || t == MsgType::kRecoverDone ||
                          t == MsgType::kRecoverLocks;
      if (recovering_ && !recovery_msg) {
        parked_msgs_.push_back(ParkedMsg{from, std::move(*m)});
      } else {
        Dispatch(from, std::move(*m));
      }
    }
  }
  callbacks_.Drain();
}

void Lockspace::Dispatch(net::NodeId from, Message msg) {
  switch (TypeOf(msg)) {
    case MsgType::kLookup:
      DirLookup(from, std::get<LookupMsg>(msg).key);
      return;
    case MsgType::kLookupReply: {
      auto& m = std::get<LookupReplyMsg>(msg);
      OnLookupReply(m.key, m.master);
      return;
    }
    case MsgType::kRequest:
      MasterOnRequest(from, std::get<RequestMsg>(msg));
      return;
    case MsgType::kReply: {
      auto& m = std::get<ReplyMsg>(msg);
      auto it = locks_.find(m.lkid);
      if (it != locks_.end()) OwnerOnReply(it->second.get(), m);
      return;
    }
    case MsgType::kBast: {
      auto& m = std::get<BastMsg>(msg);
      auto it = locks_.find(m.lkid);
      if (it != locks_.end()) OwnerOnBast(it->second.get(), m.mode);
      return;
    }
    case MsgType::kDirAdd: {
      auto& m = std::get<DirAddMsg>(msg);
      if (recovering_) rdir_[m.key] = m.master;
      if (DirNode(m.key) == self_) dir_[m.key] = m.master;
      return;
    }
    case MsgType::kDirRemove: {
      auto& m = std::get<DirRemoveMsg>(msg);
      auto it = dir_.find(m.key);
      if (it != dir_.end() && it->second == m.master) dir_.erase(it);
      return;
    }
    case MsgType::kRecoverDone:
      OnRecoverDone(from, std::get<RecoverDoneMsg>(msg));
      return;
    case MsgType::kRecoverLocks:
      OnRecoverLocks(from, std::move(std::get<RecoverLocksMsg>(msg)));
      return;
    case MsgType::kDdQuery: {
      DdEdgesMsg rep{std::get<DdQueryMsg>(msg).round, CollectEdges()};
      if (from == self_) {
        OnDdEdges(self_, rep);
      } else {
        Send(from, rep);
      }
      return;
    }
    case MsgType::kDdEdges:
      OnDdEdges(from, std::get<DdEdgesMsg>(msg));
      return;
    case MsgType::kDdDeny:
      OnDdDeny(std::get<DdDenyMsg>(msg));
      return;
  }
}

// ---------------------------------------------------------------------------
// Recovery [§10]

void Lockspace::OnMembershipChange(const net::MembershipView& view) {
  if (options_.on_view) options_.on_view(view);
  {
    MutexLock l(&mu_);
    if (view.generation <= view_.generation && view_.generation != 0) return;
    view_ = view;
    COHORT_LOG_DEBUG("dlm {} n{}: membership {}", options_.name, self_, view.ToString());
    StartRecovery();
  }
  callbacks_.Drain();
}

void Lockspace::StartRecovery() {
  // Phase 1: stop.
  recovering_ = true;
  recover_phase_ = 1;
  member_ = view_.Contains(self_);
  done1_.clear();
  done2_.clear();
  parked_msgs_.clear();  // all of an older generation
  dd_waiting_.clear();
  dd_edges_.clear();
  dd_prev_.clear();
  // Phase 2: purge and clear.
  for (auto& [key, rp] : resources_) {
    Resource* r = rp.get();
    r->lookup_pending = false;
    r->reports.clear();
    if (r->master == self_) {
      for (auto* q : {&r->granted, &r->converting, &r->waiting}) {
        for (MasterLock* ml : *q) {
          if (!view_.Contains(ml->node) && IsValidMode(ml->grmode) &&
              static_cast<int>(ml->grmode) >= static_cast<int>(LockMode::kPW)) {
            r->lvb_invalid = true;  // §3: the last writer died
          }
          ml->queue = QueueKind::kNone;
        }
        q->clear();
      }
    } else if (r->master != net::kNoNode && !view_.Contains(r->master)) {
      r->master = net::kNoNode;  // orphan: remastered in phase 4
    }
  }
  remote_.clear();
  dir_.clear();
  rdir_.clear();
  for (auto& [id, lk] : locks_) lk->m.queue = QueueKind::kNone;
  if (!member_) return;  // stay parked until a view contains us
  // Phase 3: rebuild the directory. Every member learns every surviving master (rdir_),
  // so that phase 4 picks the same target for a key on every node.
  for (auto& [key, rp] : resources_) {
    if (rp->master != self_) continue;
    Broadcast(DirAddMsg{key, self_});
  }
  Broadcast(RecoverDoneMsg{view_.generation, 1});
}

void Lockspace::OnRecoverDone(net::NodeId from, const RecoverDoneMsg& m) {
  if (m.generation != view_.generation || !recovering_) return;
  (m.phase == 1 ? done1_ : done2_).insert(from);
  auto all = [&](const std::set<net::NodeId>& s) REQUIRES(mu_) {
    for (net::NodeId n : view_.members) {
      if (!s.count(n)) return false;
    }
    return true;
  };
  if (recover_phase_ == 1 && all(done1_)) RecoverPhase2();
  if (recover_phase_ == 2 && all(done2_)) RecoverPhase3();
}

void Lockspace::RecoverPhase2() {
  // Phase 4: report own locks to their (new) masters.
  recover_phase_ = 2;
  for (auto& [key, rp] : resources_) {
    Resource* r = rp.get();
    RecoverLocksMsg msg;
    msg.key = key;
    for (LockT* lk : r->own) {
      RecoverEntry e;
      e.lkid = lk->id;
      e.owner = lk->owner;
      e.flags = lk->op.flags;
      e.grmode = lk->grmode;
      e.grange = lk->grange;
      if (lk->grmode != LockMode::kNone) e.lvb = lk->lvb;
      bool has_grant = lk->grmode != LockMode::kNone;
      switch (lk->stage) {
        case Stage::kIdle:
        case Stage::kLookup:
          if (!has_grant) continue;
          e.queue = QueueKind::kGranted;
          break;
        case Stage::kSent:
          e.queue = has_grant ? QueueKind::kGranted : QueueKind::kNone;
          e.inflight = lk->op;
          break;
        case Stage::kQueued:
          e.queue = lk->op.op == OpKind::kLock ? QueueKind::kWaiting : QueueKind::kConverting;
          e.rqmode = lk->op.mode;
          e.rqrange = lk->op.range;
          e.op_seq = lk->op.seq;
          e.flags = lk->op.flags;
          break;
      }
      // A cancel in flight is sent again after recovery: the master may have granted the
      // operation already (its reply lost), which only the rebuilt master can tell.
      lk->cancel_sent = false;
      if (e.queue == QueueKind::kConverting && lk->op.lvb) e.lvb = lk->op.lvb;
      msg.entries.push_back(std::move(e));
    }
    if (msg.entries.empty()) continue;
    // To the surviving master if there is one, else to the directory node of the new
    // view, which adopts the key in phase 5 (§10 phase 4).
    auto rit = rdir_.find(key);
    net::NodeId target = rit != rdir_.end() ? rit->second : DirNode(key);
    if (target != self_) r->master = target;
    if (target == self_) {
      OnRecoverLocks(self_, std::move(msg));
      continue;
    }
    // The count is a u16 and a payload at most 1 MiB: send in chunks (entries are at
    // most ~230 bytes); the master appends every chunk.
    constexpr size_t kChunk = 2048;
    for (size_t i = 0; i < msg.entries.size(); i += kChunk) {
      RecoverLocksMsg part;
      part.key = key;
      size_t end = std::min(msg.entries.size(), i + kChunk);
      part.entries.assign(msg.entries.begin() + static_cast<long>(i),
                          msg.entries.begin() + static_cast<long>(end));
      Send(target, part);
    }
  }
  Broadcast(RecoverDoneMsg{view_.generation, 2});
}

void Lockspace::OnRecoverLocks(net::NodeId from, RecoverLocksMsg m) {
  if (!recovering_) return;
  // Who masters the key is decided in phase 5, once every DIR_ADD has arrived (they
  // travel on other links than this report).
  Resource* r = GetResource(m.key);
  for (RecoverEntry& e : m.entries) {
    if (LockIdNode(e.lkid) != from) continue;
    r->reports.emplace_back(from, std::move(e));
  }
}

// Phase 5 for a key that this node does not master but got reports for: become its master
// if it is the key's directory node and no surviving master registered; otherwise refuse
// the reports (only unconfirmed new requests can be refused: their owners look up again).
bool Lockspace::AdoptOrRefuse(Resource* r) {
  if (DirNode(r->key) == self_ && !rdir_.count(r->key)) {
    r->master = self_;
    r->remastered = true;
    dir_[r->key] = self_;
    return true;
  }
  for (auto& [node, e] : r->reports) {
    if (e.inflight.op == OpKind::kLock && e.queue == QueueKind::kNone) {
      ReplyMsg rep;
      rep.lkid = e.lkid;
      rep.op_seq = e.inflight.seq;
      rep.kind = ReplyKind::kNotMaster;
      if (node == self_) {
        auto lit = locks_.find(e.lkid);
        if (lit != locks_.end()) OwnerOnReply(lit->second.get(), rep);
      } else {
        Send(node, rep);
      }
    } else {
      COHORT_LOG_ERROR("dlm {} n{}: refused confirmed lock {:x} on {}", options_.name, self_,
                       e.lkid, KeyToString(r->key));
    }
  }
  r->reports.clear();
  return false;
}

void Lockspace::RebuildResource(Resource* r) {
  std::sort(r->reports.begin(), r->reports.end(),
            [](const auto& a, const auto& b) { return a.second.lkid < b.second.lkid; });
  std::vector<std::pair<MasterLock*, OpFields>> inflight;
  bool writer = false;
  const RecoverEntry* best_lvb = nullptr;
  for (auto& [node, e] : r->reports) {
    MasterLock* ml = nullptr;
    if (node == self_) {
      auto it = locks_.find(e.lkid);
      if (it == locks_.end()) continue;
      ml = &it->second->m;
      *ml = MasterLock{};
      ml->local = it->second.get();
    } else {
      auto owned = std::make_unique<MasterLock>();
      ml = owned.get();
      remote_[e.lkid] = std::move(owned);
    }
    ml->id = e.lkid;
    ml->node = node;
    ml->owner = e.owner;
    ml->flags = e.flags;
    ml->res = r;
    ml->grmode = e.grmode;
    ml->grange = e.grange;
    ml->op_seq = e.op_seq;
    switch (e.queue) {
      case QueueKind::kGranted:
        ml->queue = QueueKind::kGranted;
        ml->grant_seq = next_grant_seq_++;
        r->granted.push_back(ml);
        break;
      case QueueKind::kConverting:
        ml->rqmode = e.rqmode;
        ml->rqrange = e.rqrange;
        ml->lvb = e.lvb;
        ml->grant_seq = next_grant_seq_++;
        ml->queue = QueueKind::kConverting;
        r->converting.push_back(ml);
        break;
      case QueueKind::kWaiting:
        ml->rqmode = e.rqmode;
        ml->rqrange = e.rqrange;
        ml->grmode = LockMode::kNone;
        ml->queue = QueueKind::kWaiting;
        r->waiting.push_back(ml);
        break;
      case QueueKind::kNone:
        ml->grmode = LockMode::kNone;
        break;
    }
    if (IsValidMode(e.grmode) && static_cast<int>(e.grmode) >= static_cast<int>(LockMode::kPW)) {
      writer = true;
      best_lvb = &e;
    } else if (!best_lvb && e.lvb && IsValidMode(e.grmode)) {
      best_lvb = &e;
    }
    if (e.inflight.op != OpKind::kNone) inflight.emplace_back(ml, e.inflight);
  }
  if (r->remastered) {
    // §3: the dead master may have taken a write we cannot see unless a writer survived.
    if (best_lvb && best_lvb->lvb) r->lvb = *best_lvb->lvb;
    if (!writer) r->lvb_invalid = true;
    r->remastered = false;
  }
  r->reports.clear();
  // Releases first, then the rest, each as if it arrived now (§10 phase 5).
  auto is_release = [](const std::pair<MasterLock*, OpFields>& p) {
    const OpFields& f = p.second;
    return f.op == OpKind::kUnlock ||
           (f.op == OpKind::kConvert &&
            IsRelease(p.first->grmode, p.first->grange, f.mode, f.range));
  };
  for (auto& p : inflight) {
    if (!is_release(p)) continue;
    OpFields f = p.second;
    p.second.op = OpKind::kNone;
    MasterOp(r, p.first, f, true);
  }
  ResolveLostConversions(r, &inflight);
  for (auto& [ml, f] : inflight) {
    if (f.op != OpKind::kNone) MasterOp(r, ml, f, true);
  }
  GrantPass(r);
}

// Recovery phase 5: confirmed grants reported by owners can conflict only where the
// master had granted (or, with kConvDeadlk, demoted) a conversion whose reply was lost:
// the owner still reports the old grant. Complete such conversions as the master did.
void Lockspace::ResolveLostConversions(Resource* r,
                                       std::vector<std::pair<MasterLock*, OpFields>>* inflight) {
  auto conflicts_other = [&](const MasterLock* c, LockMode mode, const Range& range) {
    for (auto* q : {&r->granted, &r->converting}) {
      for (const MasterLock* h : *q) {
        if (h != c && Conflicts(h->grmode, h->grange, mode, range)) return true;
      }
    }
    return false;
  };
  for (int guard = 0; guard < 256; ++guard) {
    bool progress = false;
    // Candidates: queued conversions, and granted locks with a conversion in flight.
    std::vector<std::pair<MasterLock*, OpFields*>> cands;
    for (MasterLock* c : r->converting) cands.emplace_back(c, nullptr);
    for (auto& [ml, f] : *inflight) {
      if (f.op == OpKind::kConvert && ml->queue == QueueKind::kGranted) {
        cands.emplace_back(ml, &f);
      }
    }
    // A grant of a lock with no conversion pending is current for sure (only conversions
    // change a grant behind the owner's back), so a candidate that conflicts with one
    // must have been converted: those first. Then the rest, in-flight ones first.
    auto definite_conflict = [&](const MasterLock* c) {
      for (auto* q : {&r->granted, &r->converting}) {
        for (const MasterLock* h : *q) {
          if (h == c || !Conflicts(h->grmode, h->grange, c->grmode, c->grange)) continue;
          bool h_cand = false;
          for (auto& cf : cands) h_cand = h_cand || cf.first == h;
          if (!h_cand) return true;
        }
      }
      return false;
    };
    std::stable_sort(cands.begin(), cands.end(), [&](const auto& a, const auto& b) {
      auto rank = [&](const std::pair<MasterLock*, OpFields*>& x) {
        return definite_conflict(x.first) ? 0 : (x.second ? 1 : 2);
      };
      return rank(a) < rank(b);
    });
    for (auto& [c, f] : cands) {
      if (!conflicts_other(c, c->grmode, c->grange)) continue;
      LockMode rq = f ? f->mode : c->rqmode;
      Range rr = f ? f->range : c->rqrange;
      uint32_t flags = f ? f->flags : c->flags;
      if (!conflicts_other(c, rq, rr)) {
        if (f) {
          c->rqmode = f->mode;
          c->rqrange = f->range;
          c->op_seq = f->seq;
          c->flags = f->flags;
          c->lvb = f->lvb;
          f->op = OpKind::kNone;
        }
        Grant(r, c);
        progress = true;
        break;
      }
      if (flags & kConvDeadlk) {
        c->grmode = LockMode::kNL;
        c->demoted = true;
        ReplyMsg rep;
        rep.lkid = c->id;
        rep.op_seq = f ? f->seq : c->op_seq;
        rep.kind = ReplyKind::kQueued;
        rep.mode = c->grmode;
        rep.range = c->grange;
        rep.sbflags = kSbDemoted;
        ReplyTo(c, rep);
        progress = true;
        break;
      }
    }
    if (!progress) break;
  }
}

void Lockspace::RecoverPhase3() {
  // Phase 5: rebuild and grant.
  recover_phase_ = 3;
  std::vector<Resource*> mastered;
  std::vector<Resource*> reported;
  for (auto& [key, rp] : resources_) {
    if (rp->master == self_) {
      mastered.push_back(rp.get());
    } else if (!rp->reports.empty()) {
      reported.push_back(rp.get());
    }
  }
  std::sort(reported.begin(), reported.end(),
            [](const Resource* a, const Resource* b) { return a->key < b->key; });
  for (Resource* r : reported) {
    if (AdoptOrRefuse(r)) mastered.push_back(r);
  }
  std::sort(mastered.begin(), mastered.end(),
            [](const Resource* a, const Resource* b) { return a->key < b->key; });
  for (Resource* r : mastered) RebuildResource(r);
  FinishRecovery();
}

void Lockspace::FinishRecovery() {
  // Phase 6: resume.
  recovering_ = false;
  recover_phase_ = 0;
  Nanos now = clock_->Now();
  dd_next_ = now + options_.deadlock_interval;
  std::deque<ParkedMsg> msgs;
  msgs.swap(parked_msgs_);
  for (ParkedMsg& p : msgs) {
    if (recovering_) {
      parked_msgs_.push_back(std::move(p));
      continue;
    }
    Dispatch(p.from, std::move(p.msg));
  }
  std::deque<LockId> ops;
  ops.swap(parked_ops_);
  for (LockId id : ops) {
    auto it = locks_.find(id);
    if (it == locks_.end()) continue;
    LockT* lk = it->second.get();
    if (lk->op.op == OpKind::kNone || lk->stage != Stage::kIdle) continue;
    StartOp(lk);
  }
  std::vector<LockId> lookups, cancels;
  for (auto& [id, lk] : locks_) {
    if (lk->stage == Stage::kLookup) lookups.push_back(id);
    if (lk->cancel_status != Code::kOk && !lk->cancel_sent &&
        (lk->stage == Stage::kSent || lk->stage == Stage::kQueued)) {
      cancels.push_back(id);
    }
  }
  std::sort(cancels.begin(), cancels.end());
  for (LockId id : cancels) {
    auto it = locks_.find(id);
    if (it == locks_.end()) continue;
    LockT* lk = it->second.get();
    if (lk->cancel_status == Code::kOk || lk->cancel_sent) continue;
    if (lk->op.op != OpKind::kLock && lk->op.op != OpKind::kConvert) continue;
    SendCancel(lk);
  }
  std::sort(lookups.begin(), lookups.end());
  for (LockId id : lookups) {
    auto it = locks_.find(id);
    if (it == locks_.end() || it->second->stage != Stage::kLookup) continue;
    LockT* lk = it->second.get();
    if (lk->res->master != net::kNoNode) {
      SendOp(lk, lk->op);
    } else {
      ResolveMaster(lk->res);
    }
  }
}

// ---------------------------------------------------------------------------
// Deadlock detection [§11]

void Lockspace::StartDeadlockRound() {
  ++dd_round_;
  dd_edges_.clear();
  dd_waiting_.clear();
  for (net::NodeId n : view_.members) dd_waiting_.insert(n);
  Broadcast(DdQueryMsg{dd_round_});
}

std::vector<DdEdge> Lockspace::CollectEdges() {
  std::vector<DdEdge> edges;
  for (auto& [key, rp] : resources_) {
    Resource* r = rp.get();
    if (r->master != self_) continue;
    // Grant edges: w cannot be granted because of h's grant.
    auto grant_edges = [&](const MasterLock* w) {
      auto add = [&](const MasterLock* h) {
        if (h == w) return;
        if (!Conflicts(h->grmode, h->grange, w->rqmode, w->rqrange)) return;
        edges.push_back(DdEdge{w->id, w->op_seq, w->owner, h->id, h->grant_seq, h->owner});
      };
      for (MasterLock* h : r->granted) add(h);
      for (MasterLock* h : r->converting) add(h);
    };
    // Queue edges: w waits behind an earlier queued request q (G2, G3). The holder
    // "generation" of a queued request is its op_seq (with the high bit set).
    auto queue_edge = [&](const MasterLock* w, const MasterLock* q) {
      edges.push_back(DdEdge{w->id, w->op_seq, w->owner, q->id,
                             (1ull << 63) | q->op_seq, q->owner});
    };
    for (size_t i = 0; i < r->converting.size(); ++i) {
      const MasterLock* w = r->converting[i];
      grant_edges(w);
      if (!(w->flags & kQueCvt)) continue;
      for (size_t j = 0; j < i; ++j) {
        const MasterLock* q = r->converting[j];
        if (Conflicts(q->rqmode, q->rqrange, w->rqmode, w->rqrange)) queue_edge(w, q);
      }
    }
    for (size_t i = 0; i < r->waiting.size(); ++i) {
      const MasterLock* w = r->waiting[i];
      grant_edges(w);
      if ((w->flags & kExpedite) && w->rqmode == LockMode::kNL) continue;
      for (const MasterLock* q : r->converting) {
        if (q->rqrange.Overlaps(w->rqrange)) queue_edge(w, q);
      }
      for (size_t j = 0; j < i; ++j) {
        const MasterLock* q = r->waiting[j];
        if (q->rqrange.Overlaps(w->rqrange)) queue_edge(w, q);
      }
    }
  }
  return edges;
}

void Lockspace::OnDdEdges(net::NodeId from, const DdEdgesMsg& m) {
  if (m.round != dd_round_ || !dd_waiting_.count(from)) return;
  dd_waiting_.erase(from);
  for (const DdEdge& e : m.edges) dd_edges_.emplace_back(from, e);
  if (dd_waiting_.empty()) AnalyzeDeadlocks();
}

void Lockspace::AnalyzeDeadlocks() {
  std::vector<DdEdge> current;
  current.reserve(dd_edges_.size());
  for (auto& [n, e] : dd_edges_) current.push_back(e);
  // Only edges seen in two consecutive rounds are real (§11).
  std::vector<std::pair<net::NodeId, DdEdge>> stable;
  for (auto& [n, e] : dd_edges_) {
    if (std::find(dd_prev_.begin(), dd_prev_.end(), e) != dd_prev_.end()) {
      stable.emplace_back(n, e);
    }
  }
  dd_prev_ = std::move(current);
  dd_edges_.clear();
  std::set<LockId> denied;
  for (int iter = 0; iter < 1000 && !stable.empty(); ++iter) {
    std::map<Vertex, std::vector<size_t>> adj;
    for (size_t i = 0; i < stable.size(); ++i) {
      adj[VertexOf(stable[i].second.waiter, stable[i].second.waiter_owner)].push_back(i);
    }
    // DFS for one cycle; returns the edge indices on it.
    std::map<Vertex, int> color;  // 0 white, 1 grey, 2 black
    std::vector<size_t> path;
    std::vector<size_t> cycle;
    std::function<bool(const Vertex&)> dfs = [&](const Vertex& v) -> bool {
      color[v] = 1;
      auto it = adj.find(v);
      if (it != adj.end()) {
        for (size_t ei : it->second) {
          const DdEdge& e = stable[ei].second;
          Vertex to = VertexOf(e.holder, e.holder_owner);
          path.push_back(ei);
          if (color[to] == 1) {
            // The cycle is the suffix of path starting at the edge leaving `to`.
            size_t start = path.size();
            while (start > 0) {
              const DdEdge& pe = stable[path[start - 1]].second;
              --start;
              if (VertexOf(pe.waiter, pe.waiter_owner) == to) break;
            }
            cycle.assign(path.begin() + static_cast<long>(start), path.end());
            return true;
          }
          if (color[to] == 0 && dfs(to)) return true;
          path.pop_back();
        }
      }
      color[v] = 2;
      return false;
    };
    bool found = false;
    for (auto& [v, _] : adj) {
      if (color[v] == 0 && dfs(v)) {
        found = true;
        break;
      }
    }
    if (!found) break;
    size_t victim = cycle.front();
    for (size_t ei : cycle) {
      if (stable[ei].second.waiter > stable[victim].second.waiter) victim = ei;
    }
    const auto& [master, ve] = stable[victim];
    LockId vid = ve.waiter;
    uint32_t vseq = ve.waiter_seq;
    if (!denied.count(vid)) {
      denied.insert(vid);
      COHORT_LOG_DEBUG("dlm {}: deadlock, denying {:x} at n{}", options_.name, vid, master);
      Send(master, DdDenyMsg{vid, vseq});
    }
    stable.erase(std::remove_if(stable.begin(), stable.end(),
                                [&](const auto& p) { return p.second.waiter == vid; }),
                 stable.end());
  }
}

void Lockspace::OnDdDeny(const DdDenyMsg& m) {
  MasterLock* ml = nullptr;
  if (LockIdNode(m.lkid) == self_) {
    auto it = locks_.find(m.lkid);
    if (it != locks_.end()) ml = &it->second->m;
  } else {
    auto it = remote_.find(m.lkid);
    if (it != remote_.end()) ml = it->second.get();
  }
  if (!ml || !ml->res || ml->res->master != self_ || ml->op_seq != m.op_seq) return;
  if (ml->queue != QueueKind::kWaiting && ml->queue != QueueKind::kConverting) return;
  Resource* r = ml->res;
  DenyWaiting(r, ml, Code::kDeadlock);
  GrantPass(r);
}

// ---------------------------------------------------------------------------
// Introspection [§14]

void Lockspace::DumpResource(const Resource* r, std::string* out) const {
  *out += "resource " + KeyToString(r->key) + " master n" + std::to_string(r->master);
  if (r->master == self_) {
    *out += " lvb seq=" + std::to_string(r->lvb_seq);
    if (r->lvb_invalid) *out += " invalid";
  }
  *out += "\n";
  auto dump_q = [&](const char* name, const std::vector<MasterLock*>& q) {
    for (const MasterLock* ml : q) {
      char buf[64];
      snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(ml->id));
      *out += std::string("  ") + name + " " + buf + " n" + std::to_string(ml->node) +
              " gr=" + ModeName(ml->grmode) + RangeString(ml->grange) +
              " rq=" + ModeName(ml->rqmode) + RangeString(ml->rqrange) +
              " owner=" + std::to_string(ml->owner) + "\n";
    }
  };
  dump_q("granted", r->granted);
  dump_q("converting", r->converting);
  dump_q("waiting", r->waiting);
}

std::string Lockspace::Dump() const {
  MutexLock l(&mu_);
  std::string out = "lockspace " + options_.name + " node n" + std::to_string(self_) + " " +
                    view_.ToString() + (recovering_ ? " RECOVERING" : "") + "\n";
  std::vector<const Resource*> rs;
  for (auto& [k, r] : resources_) rs.push_back(r.get());
  std::sort(rs.begin(), rs.end(), [](auto* a, auto* b) { return a->key < b->key; });
  for (const Resource* r : rs) DumpResource(r, &out);
  std::vector<const LockT*> ls;
  for (auto& [id, lk] : locks_) ls.push_back(lk.get());
  std::sort(ls.begin(), ls.end(), [](auto* a, auto* b) { return a->id < b->id; });
  static const char* kStage[] = {"idle", "lookup", "sent", "queued"};
  static const char* kOp[] = {"-", "lock", "convert", "unlock", "cancel"};
  for (const LockT* lk : ls) {
    char buf[64];
    snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(lk->id));
    out += std::string("lock ") + buf + " " + KeyToString(lk->res->key) +
           " gr=" + ModeName(lk->grmode) + RangeString(lk->grange) +
           " op=" + kOp[static_cast<int>(lk->op.op)] + " " +
           kStage[static_cast<int>(lk->stage)];
    if (lk->op.op == OpKind::kLock || lk->op.op == OpKind::kConvert) {
      out += std::string(" rq=") + ModeName(lk->op.mode) + RangeString(lk->op.range);
    }
    out += "\n";
  }
  return out;
}

Status Lockspace::CheckResource(const Resource* r) const {
  std::set<const MasterLock*> seen;
  auto fail = [&](const std::string& what) REQUIRES(mu_) {
    std::string d;
    DumpResource(r, &d);
    return Status::Internal("n" + std::to_string(self_) + ": " + what + "\n" + d);
  };
  std::vector<const MasterLock*> holders;
  auto check_q = [&](const std::vector<MasterLock*>& q, QueueKind kind) REQUIRES(mu_) -> Status {
    for (const MasterLock* ml : q) {
      if (!seen.insert(ml).second) return fail("lock on two queues");  // invariant 1
      if (ml->queue != kind) return fail("lock queue tag mismatch");
      bool g = ml->grmode != LockMode::kNone, rq = ml->rqmode != LockMode::kNone;
      if (kind == QueueKind::kGranted && (!g || rq)) return fail("invariant 2");
      if (kind == QueueKind::kConverting && (!g || !rq)) return fail("invariant 3");
      if (kind == QueueKind::kWaiting && (g || !rq)) return fail("invariant 4");
      if (!view_.Contains(ml->node)) return fail("lock of a non-member (invariant 6)");
      if (g) holders.push_back(ml);
    }
    return Status::OK();
  };
  COHORT_RETURN_IF_ERROR(check_q(r->granted, QueueKind::kGranted));
  COHORT_RETURN_IF_ERROR(check_q(r->converting, QueueKind::kConverting));
  COHORT_RETURN_IF_ERROR(check_q(r->waiting, QueueKind::kWaiting));
  for (size_t i = 0; i < holders.size(); ++i) {
    for (size_t j = i + 1; j < holders.size(); ++j) {
      if (Conflicts(holders[i]->grmode, holders[i]->grange, holders[j]->grmode,
                    holders[j]->grange)) {
        return fail("conflicting grants (invariant 5)");
      }
    }
  }
  return Status::OK();
}

Status Lockspace::CheckInvariants() const {
  MutexLock l(&mu_);
  if (recovering_) return Status::OK();
  for (auto& [k, r] : resources_) {
    if (r->master != self_) continue;
    COHORT_RETURN_IF_ERROR(CheckResource(r.get()));
  }
  return Status::OK();
}

std::vector<MasterLockInfo> Lockspace::MasterLocks() const {
  MutexLock l(&mu_);
  std::vector<MasterLockInfo> out;
  for (auto& [k, r] : resources_) {
    if (r->master != self_) continue;
    for (auto* q : {&r->granted, &r->converting, &r->waiting}) {
      for (const MasterLock* ml : *q) {
        out.push_back(MasterLockInfo{k, ml->id, ml->node, ml->queue, ml->grmode, ml->grange,
                                     ml->rqmode, ml->rqrange});
      }
    }
  }
  return out;
}

std::vector<OwnLockInfo> Lockspace::OwnLocks() const {
  MutexLock l(&mu_);
  std::vector<OwnLockInfo> out;
  for (auto& [id, lk] : locks_) {
    out.push_back(OwnLockInfo{id, lk->res->key, lk->grmode, lk->grange,
                              lk->op.op != OpKind::kNone, lk->res->master});
  }
  return out;
}

std::vector<std::string> Lockspace::MasteredKeys() const {
  MutexLock l(&mu_);
  std::vector<std::string> out;
  for (auto& [k, r] : resources_) {
    if (r->master == self_) out.push_back(k);
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool Lockspace::recovering() const {
  MutexLock l(&mu_);
  return recovering_;
}

net::MembershipView Lockspace::view() const {
  MutexLock l(&mu_);
  return view_;
}

size_t Lockspace::resource_count() const {
  MutexLock l(&mu_);
  return resources_.size();
}

size_t Lockspace::directory_size() const {
  MutexLock l(&mu_);
  return dir_.size();
}

MessageCounts Lockspace::message_counts() const {
  MutexLock l(&mu_);
  return counts_;
}

net::NodeId Lockspace::DirectoryNodeOf(std::string_view key) const {
  MutexLock l(&mu_);
  return DirNode(key);
}

uint64_t MessageCounts::TotalSent() const {
  uint64_t n = 0;
  for (uint64_t v : sent) n += v;
  return n;
}

uint64_t MessageCounts::TotalReceived() const {
  uint64_t n = 0;
  for (uint64_t v : received) n += v;
  return n;
}

const char* MsgTypeName(MsgType t) {
  switch (t) {
    case MsgType::kLookup: return "LOOKUP";
    case MsgType::kLookupReply: return "LOOKUP_REPLY";
    case MsgType::kRequest: return "REQUEST";
    case MsgType::kReply: return "REPLY";
    case MsgType::kBast: return "BAST";
    case MsgType::kDirAdd: return "DIR_ADD";
    case MsgType::kDirRemove: return "DIR_REMOVE";
    case MsgType::kRecoverDone: return "RECOVER_DONE";
    case MsgType::kRecoverLocks: return "RECOVER_LOCKS";
    case MsgType::kDdQuery: return "DD_QUERY";
    case MsgType::kDdEdges: return "DD_EDGES";
    case MsgType::kDdDeny: return "DD_DENY";
  }
  return "?";
}

}  // namespace cohort::dlm
