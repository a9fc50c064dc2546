// fs/core/allocator.h: block and inode allocation over allocation groups
// (docs/ondisk-format.md §5, §9; docs/locking.md §2; docs/filesystem.md §4).
//
// Each group is changed only under its group glock in EX. An operation reserves the
// groups it will allocate from or free into *before* it opens a transaction handle
// (gfs2's inplace_reserve before trans_begin), then allocates and frees inside the
// handle. The node prefers "its own" groups (g % max_nodes == slot, then the others),
// trying each with a non-blocking glock request first, so nodes allocating at the same
// time work in different groups and never wait for each other's bitmaps.
//
// Groups are initialised lazily (incompat feature kIncompatLazyGroups): the first node
// to use an uninitialised group writes its header and bitmaps and sets its table flag in
// one transaction, holding the table block's glock and the group's glock.
//
// Every allocation and free also updates this node's statfs deltas in its node block
// (§9.2) in the same transaction, so df never contends on a global counter.
//
// Thread safety: thread-safe. The table of loaded groups and the node block are guarded
// by a mutex of rank kFsAllocGroup; a loaded AllocGroup itself is used only by the
// operation holding its group glock in EX.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "common/mutex.h"
#include "common/status.h"
#include "fs/core/glock.h"
#include "fs/core/meta_cache.h"
#include "fs/group.h"
#include "fs/superblock.h"
#include "fs/system_blocks.h"

namespace cohort::fs {

// Groups locked for one operation.
struct Reservation {
  std::vector<GlockHolder> holders;
  std::vector<uint64_t> groups;  // ascending
  bool Has(uint64_t g) const;
};

struct FsCounts {
  uint64_t total_blocks = 0;
  uint64_t free_blocks = 0;
  uint64_t inodes = 0;
};

class Allocator {
 public:
  Allocator(MetaCache* ms, GlockManager* glocks, const Superblock& sb, uint32_t slot);

  // Reserves groups holding at least `blocks` free blocks (not counting quarantined
  // ones), preferring the group of `goal` (a block number, 0 for none) and then this
  // node's groups. NoSpace if the filesystem cannot provide them.
  // Adds groups to `r` until the groups in `r` hold at least `blocks` free blocks.
  // REQUIRES: no transaction handle open on this thread.
  Status Reserve(Reservation* r, uint64_t blocks, uint64_t goal);

  // Adds to `r` the groups containing `blknos` (for freeing them), acquiring their
  // glocks in order. REQUIRES: as Reserve; `r` holds no group numbered above the ones
  // added unless it already holds those too (callers call this once, before Reserve, or
  // on an empty reservation).
  Status LockGroupsOf(Reservation* r, const std::vector<uint64_t>& blknos);

  // Inside a handle, from the reserved groups:
  // one block in state `state` (kUsed or kInode), near `goal`.
  Result<uint64_t> AllocBlock(Reservation& r, MetaCache::Handle& h, BlockState state,
                              uint64_t goal);
  // up to `max` contiguous data blocks near `goal`; returns {first, count >= 1}.
  Result<std::pair<uint64_t, uint32_t>> AllocRun(Reservation& r, MetaCache::Handle& h,
                                                 uint32_t max, uint64_t goal);
  // Frees `count` blocks from `first` (all in reserved groups), quarantining them until
  // the journal is checkpointed (fs/core/meta_cache.h invariant 3).
  Status Free(Reservation& r, MetaCache::Handle& h, uint64_t first, uint32_t count);
  // Changes the state of an allocated block (kInode <-> kUnlinkedInode).
  Status SetState(Reservation& r, MetaCache::Handle& h, uint64_t blkno, BlockState state);

  // Group number of a block; ag_count if outside every group.
  uint64_t GroupOf(uint64_t blkno) const;

  // Read-modify-write of this node's node block (statfs deltas, orphan list) inside
  // `h`, serialised with every other change of it on this node.
  Status UpdateNodeBlock(MetaCache::Handle& h, const std::function<Status(NodeBlock*)>& fn)
      EXCLUDES(mu_);
  // This node's node block as last written.
  Result<NodeBlock> ReadNodeBlock() EXCLUDES(mu_);

  // Total, free and inode counts: the global statfs block plus every node's deltas.
  Result<FsCounts> Counts();

  // Drops the cached state of group `g` (its glock is being given up).
  void InvalidateGroup(uint64_t g) EXCLUDES(mu_);

  // Reads (under the caller's group holders) the group for fsck-style checks in tests.
  Result<std::string> DescribeGroup(uint64_t g);

 private:
  Result<AllocGroup*> Loaded(uint64_t g) EXCLUDES(mu_);
  Result<bool> GroupInitialized(uint64_t g);
  Status InitializeGroup(uint64_t g);
  Result<uint32_t> FreeEstimate(uint64_t g);
  // Adds groups to `r` until they hold `blocks` free blocks or none is left (trying
  // every group without waiting first, then, if `may_wait`, waiting); returns the free
  // blocks the groups of `r` hold.
  Result<uint64_t> ReserveGroups(Reservation* r, uint64_t blocks, uint64_t goal,
                                 bool may_wait);
  void PutGroup(MetaCache::Handle& h, AllocGroup* ag, uint64_t g);
  Status AddDeltas(MetaCache::Handle& h, int64_t free_delta, int64_t inode_delta)
      EXCLUDES(mu_);
  std::vector<uint64_t> CandidateOrder(uint64_t goal) const;

  MetaCache* const ms_;
  GlockManager* const glocks_;
  const Superblock sb_;
  const uint32_t slot_;
  const BlockContext ctx_;

  Status LoadNodeBlockLocked() REQUIRES(mu_);

  Mutex mu_{LockRank::kFsAllocGroup, "fs.allocator"};
  std::map<uint64_t, std::unique_ptr<AllocGroup>> loaded_ GUARDED_BY(mu_);
  // This node's node block as last Put (decoded once, then kept in step).
  std::optional<NodeBlock> node_block_ GUARDED_BY(mu_);
};

}  // namespace cohort::fs
