// fs/core/allocator.cc: allocation groups under glocks.
#include "fs/core/allocator.h"

#include <algorithm>
#include <chrono>
#include <set>
#include <thread>

namespace cohort::fs {

namespace {
// More quarantined blocks than this are released before an allocation (Reserve).
constexpr size_t kQuarantineBeforeAllocation = 64;
}  // namespace

bool Reservation::Has(uint64_t g) const {
  return std::binary_search(groups.begin(), groups.end(), g);
}

Allocator::Allocator(MetaCache* ms, GlockManager* glocks, const Superblock& sb, uint32_t slot)
    : ms_(ms), glocks_(glocks), sb_(sb), slot_(slot), ctx_(sb.context()) {}

uint64_t Allocator::GroupOf(uint64_t blkno) const {
  if (blkno < sb_.ag_start) return sb_.ag_count;
  uint64_t g = (blkno - sb_.ag_start) / sb_.ag_blocks;
  if (g >= sb_.ag_count || blkno - sb_.GroupStart(g) >= sb_.GroupLength(g)) return sb_.ag_count;
  return g;
}

std::vector<uint64_t> Allocator::CandidateOrder(uint64_t goal) const {
  std::vector<uint64_t> order;
  std::vector<bool> seen(sb_.ag_count, false);
  auto add = [&](uint64_t g) {
    if (g < sb_.ag_count && !seen[g]) {
      seen[g] = true;
      order.push_back(g);
    }
  };
  // The goal's group only if it is one of this node's: a goal in another node's group
  // (a file in a directory that node created) would make two nodes share a group's
  // bitmaps and glock, and put the new inode's glocks under the other node's directory
  // (the placement rule, docs/locking.md §2.5).
  uint64_t n = std::max<uint32_t>(sb_.max_nodes, 1);
  if (goal) {
    uint64_t gg = GroupOf(goal);
    if (gg < sb_.ag_count && gg % n == slot_ % n) add(gg);
  }
  // This node's groups first, then everyone else's.
  for (uint64_t g = slot_ % n; g < sb_.ag_count; g += n) add(g);
  for (uint64_t g = 0; g < sb_.ag_count; ++g) add(g);
  return order;
}

Result<bool> Allocator::GroupInitialized(uint64_t g) {
  uint64_t per = sb_.GroupTableEntriesPerBlock();
  uint64_t tblk = sb_.group_table_start + g / per;
  Glock* tgl = glocks_->Get(GlockType::kGroupTable, tblk);
  std::vector<uint8_t> block;
  if (tgl->exclusive()) {
    // Ours: the cache is current (it may even hold our uncommitted change).
    COHORT_ASSIGN_OR_RETURN(block, ms_->Read(tblk, reinterpret_cast<CacheOwner>(tgl)));
  } else {
    // Not under the table's glock: read the device and do not cache. A copy cached
    // without the glock is never invalidated (no demotion drops it), so it could say
    // "not initialized" for ever, and InitializeGroup would then format a group that
    // another node already allocates from (double allocation). The flag only goes from
    // 0 to 1; "not initialized" is re-checked under the glock.
    AlignedBuffer buf(ctx_.block_size);
    COHORT_RETURN_IF_ERROR(ms_->device()->ReadBlock(tblk, ctx_.block_size, buf.span()));
    block.assign(buf.data(), buf.data() + ctx_.block_size);
  }
  COHORT_ASSIGN_OR_RETURN(auto entries, DecodeGroupTableBlock(block, tblk, ctx_));
  const GroupTableEntry& e = entries[g % per];
  if (e.start != sb_.GroupStart(g)) {
    return Status::Corruption("group table entry " + std::to_string(g) + " has start " +
                              std::to_string(e.start));
  }
  return (e.flags & kGroupInitialized) != 0;
}

Status Allocator::InitializeGroup(uint64_t g) {
  uint64_t per = sb_.GroupTableEntriesPerBlock();
  uint64_t tblk = sb_.group_table_start + g / per;
  // The caller holds the group glock EX; the table block glock orders before it
  // (docs/locking.md §2.2), but a non-blocking request cannot deadlock.
  Glock* tgl = glocks_->Get(GlockType::kGroupTable, tblk);
  // WouldBlock makes Reserve() pass this group by for now.
  Result<GlockHolder> th = glocks_->Acquire(tgl, HolderMode::kExclusive, /*try_only=*/true);
  if (!th.ok()) return th.status();
  // The copy in our cache may have been read without the table glock, and another node
  // may have initialised another group of this table block since: read it again under
  // the glock, or we would write back its old flags.
  ms_->Invalidate(reinterpret_cast<CacheOwner>(tgl));
  COHORT_ASSIGN_OR_RETURN(bool init, GroupInitialized(g));
  if (init) return Status::OK();
  COHORT_ASSIGN_OR_RETURN(auto block, ms_->Read(tblk, reinterpret_cast<CacheOwner>(tgl)));
  COHORT_ASSIGN_OR_RETURN(auto entries, DecodeGroupTableBlock(block, tblk, ctx_));
  entries[g % per].flags |= kGroupInitialized;
  AllocGroup ag = AllocGroup::Format(g, sb_.GroupStart(g),
                                     static_cast<uint32_t>(sb_.GroupLength(g)), ctx_);
  Glock* ggl = glocks_->Get(GlockType::kGroup, g);
  COHORT_ASSIGN_OR_RETURN(auto h, ms_->Begin(ag.header().bitmap_blocks + 2));
  for (auto& mb : ag.EncodeAll(ctx_)) {
    h->Put(mb.blkno, std::move(mb.data), reinterpret_cast<CacheOwner>(ggl));
  }
  // Trim the unused tail of the entries to what fits (the block keeps every slot).
  h->Put(tblk, EncodeGroupTableBlock(entries, tblk, ctx_), reinterpret_cast<CacheOwner>(tgl));
  return Status::OK();
}

Result<AllocGroup*> Allocator::Loaded(uint64_t g) {
  {
    MutexLock l(&mu_);
    auto it = loaded_.find(g);
    if (it != loaded_.end()) return it->second.get();
  }
  COHORT_ASSIGN_OR_RETURN(bool init, GroupInitialized(g));
  if (!init) COHORT_RETURN_IF_ERROR(InitializeGroup(g));
  Glock* ggl = glocks_->Get(GlockType::kGroup, g);
  uint64_t start = sb_.GroupStart(g);
  COHORT_ASSIGN_OR_RETURN(auto header, ms_->Read(start, reinterpret_cast<CacheOwner>(ggl)));
  COHORT_ASSIGN_OR_RETURN(auto gh, DecodeGroupHeader(header, start, ctx_));
  std::vector<std::vector<uint8_t>> bitmaps;
  for (uint32_t i = 0; i < gh.bitmap_blocks; ++i) {
    COHORT_ASSIGN_OR_RETURN(auto b, ms_->Read(start + 1 + i, reinterpret_cast<CacheOwner>(ggl)));
    bitmaps.push_back(std::move(b));
  }
  COHORT_ASSIGN_OR_RETURN(AllocGroup ag, AllocGroup::Load(header, bitmaps, start, ctx_));
  if (ag.header().group_no != g) {
    return Status::Corruption("group " + std::to_string(g) + " header says group " +
                              std::to_string(ag.header().group_no));
  }
  MutexLock l(&mu_);
  auto& slot = loaded_[g];
  if (!slot) slot = std::make_unique<AllocGroup>(std::move(ag));
  return slot.get();
}

Result<uint32_t> Allocator::FreeEstimate(uint64_t g) {
  COHORT_ASSIGN_OR_RETURN(AllocGroup * ag, Loaded(g));
  return ag->header().free_blocks;
}

void Allocator::InvalidateGroup(uint64_t g) {
  MutexLock l(&mu_);
  loaded_.erase(g);
}

Status Allocator::Reserve(Reservation* r, uint64_t blocks, uint64_t goal) {
  // Freed blocks stay quarantined until a checkpoint (fs/core/meta_cache.h invariants 3
  // and 4) and are still counted free by their groups: reserve room for the request
  // plus every quarantined block, so that allocation inside the handle cannot run out.
  // When that is not there, or more than a few blocks wait, end the quarantine (commit
  // + checkpoint) and count again: allocation passes quarantined blocks one by one
  // (AllocRun), so a create after many unlinks would otherwise pay for every one of
  // them. Unlinks alone never come here, and keep their checkpoints batched. No handle
  // is open here (REQUIRES above), so committing is allowed.
  if (ms_->quarantined() > kQuarantineBeforeAllocation) {
    COHORT_RETURN_IF_ERROR(ms_->ReleaseQuarantine());
  }
  for (int round = 0; round < 2; ++round) {
    const uint64_t quarantined = ms_->quarantined();
    const uint64_t need = blocks + quarantined;
    // While blocks are quarantined, only groups free for the taking: ending the
    // quarantine is cheaper than waiting for another node's group.
    COHORT_ASSIGN_OR_RETURN(uint64_t have, ReserveGroups(r, need, goal, quarantined == 0));
    if (have >= need) return Status::OK();
    if (quarantined == 0) break;
    COHORT_RETURN_IF_ERROR(ms_->ReleaseQuarantine());
  }
  return Status::NoSpace("no space left: need " + std::to_string(blocks) + " blocks");
}

Result<uint64_t> Allocator::ReserveGroups(Reservation* r, uint64_t blocks, uint64_t goal,
                                          bool may_wait) {
  uint64_t have = 0;
  for (uint64_t g : r->groups) {
    auto free = FreeEstimate(g);
    if (free.ok()) have += *free;
  }
  std::vector<uint64_t> order = CandidateOrder(goal);
  // Pass 0: groups nobody else is using (non-blocking); pass 1: wait if we must.
  for (int pass = 0; pass < (may_wait ? 2 : 1) && have < blocks; ++pass) {
    for (uint64_t g : order) {
      if (have >= blocks) break;
      if (r->Has(g)) continue;
      // Keep holders in ascending group order: a group below one we hold may only be
      // taken without waiting.
      bool try_only = pass == 0 || (!r->groups.empty() && g < r->groups.back());
      auto h = glocks_->Acquire(GlockType::kGroup, g, HolderMode::kExclusive, try_only);
      if (!h.ok()) {
        if (h.code() == Code::kWouldBlock) continue;
        return h.status();
      }
      auto free = FreeEstimate(g);
      // One of our own groups not initialized yet, and another node holds the group
      // table's glock (the try sent it a BAST, so it lets go soon): try again a few
      // times rather than move into another node's groups (bounded: about 50 ms).
      uint64_t nn = std::max<uint32_t>(sb_.max_nodes, 1);
      for (int i = 0; i < 25 && pass == 0 && g % nn == slot_ % nn && !free.ok() &&
                      free.code() == Code::kWouldBlock;
           ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        free = FreeEstimate(g);
      }
      if (!free.ok() && free.code() == Code::kWouldBlock) continue;
      if (!free.ok()) return free.status();
      if (*free == 0) continue;  // holder released here
      have += *free;
      auto pos = std::lower_bound(r->groups.begin(), r->groups.end(), g) - r->groups.begin();
      r->groups.insert(r->groups.begin() + pos, g);
      r->holders.insert(r->holders.begin() + pos, std::move(*h));
    }
  }
  return have;
}

Status Allocator::LockGroupsOf(Reservation* r, const std::vector<uint64_t>& blknos) {
  std::set<uint64_t> gs;
  for (uint64_t b : blknos) {
    uint64_t g = GroupOf(b);
    if (g >= sb_.ag_count) {
      return Status::Corruption("block " + std::to_string(b) + " is in no allocation group");
    }
    if (!r->Has(g)) gs.insert(g);
  }
  for (uint64_t g : gs) {
    COHORT_ASSIGN_OR_RETURN(auto h, glocks_->Acquire(GlockType::kGroup, g, HolderMode::kExclusive));
    COHORT_RETURN_IF_ERROR(Loaded(g).status());
    auto pos = std::lower_bound(r->groups.begin(), r->groups.end(), g) - r->groups.begin();
    r->groups.insert(r->groups.begin() + pos, g);
    r->holders.insert(r->holders.begin() + pos, std::move(h));
  }
  return Status::OK();
}

void Allocator::PutGroup(MetaCache::Handle& h, AllocGroup* ag, uint64_t g) {
  Glock* ggl = glocks_->Get(GlockType::kGroup, g);
  for (auto& mb : ag->EncodeDirty(ctx_)) {
    h.Put(mb.blkno, std::move(mb.data), reinterpret_cast<CacheOwner>(ggl));
  }
  ag->ClearDirty();
}

Status Allocator::LoadNodeBlockLocked() {
  if (node_block_) return Status::OK();
  uint64_t nblk = sb_.node_blocks_start + slot_;
  COHORT_ASSIGN_OR_RETURN(auto block, ms_->Read(nblk));
  COHORT_ASSIGN_OR_RETURN(NodeBlock nb, DecodeNodeBlock(block, nblk, ctx_, slot_));
  node_block_ = nb;
  return Status::OK();
}

Status Allocator::UpdateNodeBlock(MetaCache::Handle& h,
                                  const std::function<Status(NodeBlock*)>& fn) {
  uint64_t nblk = sb_.node_blocks_start + slot_;
  MutexLock l(&mu_);
  // Only this node writes its node block, and only here: the decoded copy is current
  // (no read and checksum of the block per allocation or free).
  COHORT_RETURN_IF_ERROR(LoadNodeBlockLocked());
  NodeBlock nb = *node_block_;
  COHORT_RETURN_IF_ERROR(fn(&nb));
  h.Put(nblk, nb.Encode(nblk, ctx_));
  node_block_ = nb;
  return Status::OK();
}

Result<NodeBlock> Allocator::ReadNodeBlock() {
  MutexLock l(&mu_);
  COHORT_RETURN_IF_ERROR(LoadNodeBlockLocked());
  return *node_block_;
}

Status Allocator::AddDeltas(MetaCache::Handle& h, int64_t free_delta, int64_t inode_delta) {
  return UpdateNodeBlock(h, [&](NodeBlock* nb) {
    nb->free_blocks_delta += free_delta;
    nb->inodes_delta += inode_delta;
    return Status::OK();
  });
}

Result<std::pair<uint64_t, uint32_t>> Allocator::AllocRun(Reservation& r, MetaCache::Handle& h,
                                                          uint32_t max, uint64_t goal) {
  std::vector<uint64_t> order;
  uint64_t gg = goal ? GroupOf(goal) : sb_.ag_count;
  if (r.Has(gg)) order.push_back(gg);
  for (uint64_t g : r.groups) {
    if (g != gg) order.push_back(g);
  }
  for (uint64_t g : order) {
    COHORT_ASSIGN_OR_RETURN(AllocGroup * ag, Loaded(g));
    uint64_t local_goal = (g == gg) ? goal : 0;
    // Skip quarantined blocks (freed, not yet checkpointed): allocate, and give back
    // the part of the run from the first quarantined block on. Each attempt passes at
    // least one quarantined block (at most twice: the search wraps once), so that many
    // attempts reach every free block: Reserve counted only those that are not
    // quarantined, and quarantined blocks freed between allocated ones (files unlinked
    // in name-hash order) come one by one.
    const size_t attempts = 64 + 2 * ms_->quarantined();
    for (size_t attempt = 0; attempt < attempts; ++attempt) {
      auto run = ag->AllocateRun(max, local_goal);
      if (!run.ok()) break;  // group full
      auto [first, count] = *run;
      uint32_t good = 0;
      while (good < count && !ms_->Quarantined(first + good)) ++good;
      for (uint32_t i = good; i < count; ++i) COHORT_RETURN_IF_ERROR(ag->Free(first + i));
      if (good > 0) {
        PutGroup(h, ag, g);
        COHORT_RETURN_IF_ERROR(AddDeltas(h, -static_cast<int64_t>(good), 0));
        return std::make_pair(first, good);
      }
      local_goal = ms_->QuarantineEnd(first);  // past the whole quarantined stretch
    }
    PutGroup(h, ag, g);
  }
  return Status::NoSpace("reserved groups are full");
}

Result<uint64_t> Allocator::AllocBlock(Reservation& r, MetaCache::Handle& h, BlockState state,
                                       uint64_t goal) {
  COHORT_ASSIGN_OR_RETURN(auto run, AllocRun(r, h, 1, goal));
  uint64_t b = run.first;
  if (state != BlockState::kUsed) {
    uint64_t g = GroupOf(b);
    COHORT_ASSIGN_OR_RETURN(AllocGroup * ag, Loaded(g));
    COHORT_RETURN_IF_ERROR(ag->SetState(b, state));
    PutGroup(h, ag, g);
    if (state == BlockState::kInode) COHORT_RETURN_IF_ERROR(AddDeltas(h, 0, 1));
  }
  return b;
}

Status Allocator::Free(Reservation& r, MetaCache::Handle& h, uint64_t first, uint32_t count) {
  int64_t inodes = 0;
  for (uint32_t i = 0; i < count; ++i) {
    uint64_t b = first + i;
    uint64_t g = GroupOf(b);
    if (!r.Has(g)) {
      return Status::Internal("freeing block " + std::to_string(b) + " of unreserved group");
    }
    COHORT_ASSIGN_OR_RETURN(AllocGroup * ag, Loaded(g));
    BlockState st = ag->Get(b);
    if (st == BlockState::kInode || st == BlockState::kUnlinkedInode) --inodes;
    COHORT_RETURN_IF_ERROR(ag->Free(b));
    h.Freed(b);
    if (i + 1 == count || GroupOf(b + 1) != g) PutGroup(h, ag, g);
  }
  return AddDeltas(h, count, inodes);
}

Status Allocator::SetState(Reservation& r, MetaCache::Handle& h, uint64_t blkno,
                           BlockState state) {
  uint64_t g = GroupOf(blkno);
  if (!r.Has(g)) return Status::Internal("SetState on unreserved group");
  COHORT_ASSIGN_OR_RETURN(AllocGroup * ag, Loaded(g));
  COHORT_RETURN_IF_ERROR(ag->SetState(blkno, state));
  PutGroup(h, ag, g);
  return Status::OK();
}

Result<FsCounts> Allocator::Counts() {
  COHORT_ASSIGN_OR_RETURN(auto sblock, ms_->Read(sb_.statfs_blkno));
  COHORT_ASSIGN_OR_RETURN(StatfsBlock st, DecodeStatfs(sblock, sb_.statfs_blkno, ctx_));
  int64_t free = static_cast<int64_t>(st.free_blocks);
  int64_t inodes = static_cast<int64_t>(st.inodes);
  for (uint32_t s = 0; s < sb_.max_nodes; ++s) {
    uint64_t nblk = sb_.node_blocks_start + s;
    std::vector<uint8_t> block;
    if (s == slot_) {
      COHORT_ASSIGN_OR_RETURN(block, ms_->Read(nblk));
    } else {
      // Other nodes' blocks change under their own journals: read the device.
      AlignedBuffer buf(ctx_.block_size);
      COHORT_RETURN_IF_ERROR(ms_->device()->ReadBlock(nblk, ctx_.block_size, buf.span()));
      block.assign(buf.data(), buf.data() + ctx_.block_size);
    }
    auto nb = DecodeNodeBlock(block, nblk, ctx_, s);
    if (!nb.ok()) continue;  // a torn foreign block: skip rather than fail df
    free += nb->free_blocks_delta;
    inodes += nb->inodes_delta;
  }
  FsCounts c;
  c.total_blocks = st.total_blocks;
  c.free_blocks = static_cast<uint64_t>(std::clamp<int64_t>(free, 0, st.total_blocks));
  c.inodes = static_cast<uint64_t>(std::max<int64_t>(inodes, 0));
  return c;
}

Result<std::string> Allocator::DescribeGroup(uint64_t g) {
  COHORT_ASSIGN_OR_RETURN(AllocGroup * ag, Loaded(g));
  return ag->Describe();
}

}  // namespace cohort::fs
