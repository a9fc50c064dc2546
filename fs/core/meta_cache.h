// fs/core/meta_cache.h: the node's metadata block cache and its running journal
// transaction (docs/ondisk-format.md §8.6; docs/filesystem.md §3).
//
// Metadata blocks are read through the cache and changed only inside a transaction
// *handle*: an operation opens a handle, Put()s the new images of the blocks it changed,
// and closes it. Handles join the one running compound transaction (jbd2's model);
// Commit() waits for the open handles to close, takes the images, and writes them
// through the Journal (write-ahead: flush, log and commit record, flush; the in-place
// writes are deferred to the committer thread, WriteBack() and the checkpoint).
// Commits happen on fsync, when a glock that covers dirty blocks is demoted, when the
// running transaction nears the journal's per-transaction limit, every
// `commit_interval`, and at unmount.
//
// Invariants:
//  1. A block image in the cache is the newest image of that block on this node: the
//     device's copy, the journal's committed image not yet written in place
//     (Journal::ReadPending), or a newer one Put() by a handle (committed or not).
//  2. A dirty (uncommitted) block is never dropped from the cache (Invalidate skips it;
//     callers commit before invalidating).
//  3. A block freed in transaction N is not handed out again (QuarantineFreed) until the
//     journal has been checkpointed past N: otherwise replay of an older transaction
//     that logged it as metadata could overwrite the new contents (the format has no
//     revoke records; this is our substitute).
//  4. The checkpoint that ends a quarantine is batched: a commit checkpoints only once
//     `max_quarantine` freed blocks wait (or the log is full), but WriteBack() — called
//     before this node gives up an EX glock, e.g. a group's, after which another node
//     may allocate the blocks freed here — always checkpoints past every committed free.
//
// Thread safety: all methods are thread-safe (mutex of rank kFsBlockCache; commits are
// serialised by a second mutex of rank kFsCommit held across the journal). Callers
// guarantee, through glock holders, that no two handles change the same block at once.
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/clock.h"
#include "common/mutex.h"
#include "common/status.h"
#include "fs/block_device.h"
#include "fs/format.h"
#include "fs/journal.h"

namespace cohort::fs {

// Who owns a cached block, for invalidation: a Glock's address, or 0 for none.
using CacheOwner = uintptr_t;

struct MetaCacheOptions {
  size_t max_txn_blocks = 200;       // commit before a transaction grows past this
  size_t cache_blocks = 1 << 16;     // clean blocks kept (256 MiB at 4 KiB)
  Nanos commit_interval = kNanosPerSecond;  // background commit period (0: none)
  // A commit checkpoints the journal (ending the quarantine of the blocks freed so far,
  // invariant 3) once this many freed blocks wait; fewer stay quarantined until a later
  // commit, WriteBack() or ReleaseQuarantine(). 0: every commit that freed a block.
  size_t max_quarantine = 1024;
  // The background committer writes committed images in place once this many wait
  // (Journal::pending_blocks): a block changed by many transactions (a directory leaf,
  // a bitmap) is written once per batch instead of once per commit. 0: after every commit.
  size_t writeback_batch = 512;
};

class MetaCache {
 public:
  class Handle;

  // `journal` may be null: the store is then read-only (Begin() fails with ReadOnly).
  // `dev`, `journal` and `clock` must outlive the store.
  MetaCache(BlockDevice* dev, const BlockContext& ctx, uint64_t block_count, Journal* journal,
            Clock* clock, MetaCacheOptions options = {});
  ~MetaCache();  // Stop() if not done
  MetaCache(const MetaCache&) = delete;
  MetaCache& operator=(const MetaCache&) = delete;

  const BlockContext& context() const { return ctx_; }
  uint32_t block_size() const { return ctx_.block_size; }
  uint64_t block_count() const { return block_count_; }
  BlockDevice* device() const { return dev_; }
  bool read_only() const { return journal_ == nullptr; }

  // A copy of block `blkno` (from the cache or the device). `owner` is recorded for
  // Invalidate(). IOError from the device; InvalidArgument past the end.
  Result<std::vector<uint8_t>> Read(uint64_t blkno, CacheOwner owner = 0) EXCLUDES(mu_);
  // As Read(), but a block read from the device is not kept: for reading a block whose
  // glock the caller does not hold (a kept copy could go stale unnoticed).
  Result<std::vector<uint8_t>> Peek(uint64_t blkno) EXCLUDES(mu_);

  // Opens a handle on the running transaction that will Put() at most `reserve` blocks.
  // May commit first to make room. ReadOnly if the store is read-only, IOError if the
  // journal failed (the filesystem is then withdrawn: every later Begin fails).
  Result<std::unique_ptr<Handle>> Begin(size_t reserve) EXCLUDES(mu_, commit_mu_);

  // Commits the running transaction if it has anything. Returns once it is durable.
  Status Commit() EXCLUDES(mu_, commit_mu_);

  // True if `blkno` is in the cache.
  bool Cached(uint64_t blkno) const EXCLUDES(mu_);
  // Inserts `data` (block size) as the clean image of `blkno` read from the device by
  // the caller (readahead), unless the cache or the journal already has an image of it
  // (those are newer). The caller holds what makes the image valid (a glock).
  void Prime(uint64_t blkno, std::span<const uint8_t> data, CacheOwner owner) EXCLUDES(mu_);

  // Commits, then checkpoints the journal: every committed block is written in place
  // (deferred in-place writes, fs/journal.h), flushed, and the log's tail moves past
  // them, which also ends the quarantine of every committed free (invariant 4). After it
  // the device holds this node's newest metadata, for another node to read, and no
  // replay of this node's log can bring older images of those blocks back, nor write
  // over a freed block another node allocates next. Called before giving up an EX glock
  // (docs/filesystem.md §3.2).
  Status WriteBack() EXCLUDES(mu_, commit_mu_);
  // Commits and checkpoints if any freed block is quarantined, so that every freed
  // block can be allocated again. REQUIRES: no handle open on this thread.
  Status ReleaseQuarantine() EXCLUDES(mu_, commit_mu_);

  // Drops every clean cached block recorded with `owner`.
  void Invalidate(CacheOwner owner) EXCLUDES(mu_);
  // Drops `blkno` from the cache and from the running transaction (the block was
  // freed, and its image no longer matters).
  void Forget(uint64_t blkno) EXCLUDES(mu_);

  // True if `blkno` may not be allocated yet (freed, not yet checkpointed; invariant 3).
  bool Quarantined(uint64_t blkno) const EXCLUDES(mu_);
  // The first block at or after `blkno` that is not quarantined.
  uint64_t QuarantineEnd(uint64_t blkno) const EXCLUDES(mu_);
  // Blocks in quarantine now.
  size_t quarantined() const EXCLUDES(mu_);

  // Stops the background committer after a final Commit(). Idempotent.
  Status Stop() EXCLUDES(mu_, commit_mu_);

  // Statistics for tests, benchmarks and dumps.
  struct Stats {
    uint64_t commits = 0;
    uint64_t committed_blocks = 0;
    uint64_t cache_hits = 0;
    uint64_t cache_misses = 0;
    size_t cached = 0;
    size_t dirty = 0;
  };
  Stats stats() const EXCLUDES(mu_);

  // A handle on the running transaction. Not thread-safe; one per operation.
  class Handle {
   public:
    ~Handle();
    Handle(const Handle&) = delete;
    Handle& operator=(const Handle&) = delete;
    // Records the new image of `blkno` (cache and running transaction).
    // REQUIRES: image.size() == block size.
    void Put(uint64_t blkno, std::vector<uint8_t> image, CacheOwner owner = 0);
    // Frees `blkno` as far as the cache is concerned and quarantines it until the
    // journal is checkpointed past this transaction (invariant 3).
    void Freed(uint64_t blkno);
    // Runs `fn` after this transaction is durable (e.g. to release quarantined blocks).
    void OnCommit(std::function<void()> fn);

   private:
    friend class MetaCache;
    explicit Handle(MetaCache* ms) : ms_(ms) {}
    MetaCache* const ms_;
  };

 private:
  struct Entry {
    std::vector<uint8_t> data;
    CacheOwner owner = 0;
    bool dirty = false;
    std::list<uint64_t>::iterator lru;
  };

  void EndHandle() EXCLUDES(mu_);
  void PutLocked(uint64_t blkno, std::vector<uint8_t> image, CacheOwner owner) REQUIRES(mu_);
  void Touch(Entry* e, uint64_t blkno) REQUIRES(mu_);
  void EvictLocked() REQUIRES(mu_);
  // Records `owner` for the entry of `blkno` in the entry and in by_owner_.
  void SetOwnerLocked(uint64_t blkno, Entry* e, CacheOwner owner) REQUIRES(mu_);
  // Erases an entry (and its by_owner_ record); the caller has taken it off the LRU.
  void EraseLocked(std::unordered_map<uint64_t, Entry>::iterator it) REQUIRES(mu_);
  // `checkpoint`: also checkpoint the journal if a committed free waits for one (true),
  // or only once `max_quarantine` blocks wait (false).
  Status CommitLocked(bool checkpoint) REQUIRES(commit_mu_) EXCLUDES(mu_);
  void CommitterLoop();

  BlockDevice* const dev_;
  const BlockContext ctx_;
  const uint64_t block_count_;
  Journal* const journal_;
  Clock* const clock_;
  const MetaCacheOptions options_;
  const bool has_committer_;  // a background committer runs (commit_interval > 0)

  Mutex commit_mu_{LockRank::kFsCommit, "fs.commit"};
  mutable Mutex mu_{LockRank::kFsBlockCache, "fs.meta_store"};
  CondVar cv_{&mu_};           // handles closed, commit snapshot taken
  CondVar committer_cv_{&mu_};  // wakes the background committer (stop, commit wanted)
  std::unordered_map<uint64_t, Entry> cache_ GUARDED_BY(mu_);
  std::list<uint64_t> lru_ GUARDED_BY(mu_);  // clean blocks, least recent first
  // The cached blocks of each owner, for Invalidate() (every entry with owner != 0).
  std::unordered_map<CacheOwner, std::unordered_set<uint64_t>> by_owner_ GUARDED_BY(mu_);
  std::map<uint64_t, std::vector<uint8_t>> running_ GUARDED_BY(mu_);  // dirty images
  std::vector<std::function<void()>> on_commit_ GUARDED_BY(mu_);
  std::set<uint64_t> quarantine_ GUARDED_BY(mu_);       // freed, not checkpointed
  std::vector<uint64_t> freed_running_ GUARDED_BY(mu_);  // freed in the running txn
  // Freed in committed transactions, not yet checkpointed (still quarantined).
  std::vector<uint64_t> freed_committed_ GUARDED_BY(commit_mu_);
  size_t handles_ GUARDED_BY(mu_) = 0;
  size_t reserved_ GUARDED_BY(mu_) = 0;
  bool committing_ GUARDED_BY(mu_) = false;
  bool failed_ GUARDED_BY(mu_) = false;
  bool stop_ GUARDED_BY(mu_) = false;
  bool commit_wanted_ GUARDED_BY(mu_) = false;  // the committer should commit now
  Stats stats_ GUARDED_BY(mu_);
  std::thread committer_;
};

}  // namespace cohort::fs
