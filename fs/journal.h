// fs/journal.h: a node's write-ahead physical block journal, ordered mode
// (docs/ondisk-format.md §8; DESIGN.md §7).
//
// Usage (the owner of a journal slot, at mount):
//   COHORT_ASSIGN_OR_RETURN(auto j, Journal::Open(dev, ctx, start, blocks, clock));
//   Journal::Transaction tx;
//   tx.AddOrderedData(data_blkno, data);      // file data the metadata will reference
//   tx.AddMetadata({inode_blkno, inode.Encode(ctx)});
//   COHORT_ASSIGN_OR_RETURN(uint64_t seq, j->Commit(std::move(tx)));
// Open() first replays whatever the journal holds (Replay()), so the owner never
// overwrites a committed transaction. A survivor recovering a dead node's journal calls
// Replay() directly, after fencing.
//
// Commit() follows §8.6: ordered data in place; Flush (skipped when nothing ordered was
// written, with set_order_noted_writes_only); descriptor + images + commit block at the
// log head in one write; Flush; images in place (or deferred).
// Checkpoint() writes deferred images, flushes the in-place writes and then advances
// the header's tail. Commit() checkpoints by itself when the
// log is full.
//
// Thread safety: a Journal is safe for concurrent Commit() calls; they are serialised
// by a Mutex of rank kFsJournal, held across the device I/O (the device's own lock
// ranks after it). Replay() is static and touches only the device.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/mutex.h"
#include "common/status.h"
#include "fs/block_device.h"
#include "fs/format.h"
#include "fs/journal_format.h"

namespace cohort::fs {

class Journal {
 public:
  // A set of block images committed atomically. Adding a block twice keeps the last
  // image. Value type; not thread-safe.
  class Transaction {
   public:
    // A metadata block image (journaled). REQUIRES: data.size() == block size at Commit.
    void AddMetadata(MetaBlock block) { metadata_[block.blkno] = std::move(block.data); }
    // A data block written in place before the commit (not journaled; ordered mode).
    void AddOrderedData(uint64_t blkno, std::vector<uint8_t> data) {
      ordered_[blkno] = std::move(data);
    }
    // The image of `blkno` added to this transaction, or nullptr.
    const std::vector<uint8_t>* FindMetadata(uint64_t blkno) const {
      auto it = metadata_.find(blkno);
      return it == metadata_.end() ? nullptr : &it->second;
    }
    size_t metadata_count() const { return metadata_.size(); }
    bool empty() const { return metadata_.empty() && ordered_.empty(); }

   private:
    friend class Journal;
    std::map<uint64_t, std::vector<uint8_t>> metadata_;
    std::map<uint64_t, std::vector<uint8_t>> ordered_;
  };

  struct ReplayStats {
    uint64_t transactions = 0;  // complete transactions applied
    uint64_t blocks = 0;        // block images written in place
    uint64_t next_seq = 0;      // the header's tail_seq after replay
    uint32_t next_pos = 0;      // the header's tail_pos after replay
    std::string stop_reason;    // why the scan stopped ("end of log: ...")
  };

  // Writes a fresh header (tail_seq `first_seq`, tail_pos 0) for a journal of `blocks`
  // blocks at `start` owned by `slot`. Does not touch the log area (stale records are
  // rejected by fs_stamp and seq, §8.5). Does not flush.
  static Status Format(BlockDevice* dev, const BlockContext& ctx, uint64_t start, uint32_t blocks,
                       uint32_t slot, uint64_t first_seq = 1);

  // Replays the journal at `start` (§8.5): applies every complete transaction from the
  // tail, flushes, then advances the header past them and flushes. Idempotent.
  // `block_count` bounds targets. Corruption if the header is damaged.
  static Result<ReplayStats> Replay(BlockDevice* dev, const BlockContext& ctx, uint64_t start,
                                    uint64_t block_count);

  // Replays, then opens the journal for writing. `dev` and `clock` must outlive it.
  static Result<std::unique_ptr<Journal>> Open(BlockDevice* dev, const BlockContext& ctx,
                                               uint64_t start, uint64_t block_count, Clock* clock);

  // Commits `tx` durably (§8.6) and returns its sequence number. InvalidArgument if it
  // has no metadata or more than MaxDescriptorEntries images, a block of the wrong
  // size, or a target outside the filesystem. IOError from the device: the journal is
  // then unusable (every later call fails) until reopened, as after a crash.
  Result<uint64_t> Commit(Transaction tx) EXCLUDES(mu_);

  // Makes every committed transaction durable in place and frees its log space.
  Status Checkpoint() EXCLUDES(mu_);

  // Deferred in-place writes (off by default). When on, Commit() keeps the images of a
  // durable transaction in memory instead of writing them in place; WriteBack() or the
  // next checkpoint writes them (coalesced, without a flush of their own: the
  // checkpoint's flush makes them durable). Until then the device's copy of such a block
  // is older than the journal's: a reader on this node must look in ReadPending() first
  // (MetaCache does), and a node giving up a lock must WriteBack() before another node
  // reads the device. Set once, before the first Commit().
  void set_defer_in_place(bool on) { defer_in_place_ = on; }
  // Ordering flush only for noted writes (off by default). Off, Commit() always flushes
  // before writing the log (step 2 of §8.6): every in-place write made before the call
  // is durable before the commit record can be. On, it flushes there only when `tx` has
  // ordered data or NoteOrderedWrite() was called since the last flush of a commit:
  // the owner notes the in-place writes that must not be overtaken by the metadata
  // (newly allocated or extended data, zeroing); other in-place writes (an overwrite
  // of data already mapped, within the size) become durable with the commit's own
  // flush (step 4), before Commit() returns. Set once, before the first Commit().
  void set_order_noted_writes_only(bool on) { order_noted_only_ = on; }
  // Notes that an in-place write the next commit depends on has completed. Thread-safe,
  // lock-free; call after the write returns.
  void NoteOrderedWrite() { ordered_gen_.fetch_add(1, std::memory_order_acq_rel); }
  // Commits that skipped the ordering flush (for tests and benchmarks).
  uint64_t ordering_flushes_skipped() const EXCLUDES(mu_);

  // Writes every pending image in place. IOError fails the journal as Commit() does.
  Status WriteBack() EXCLUDES(mu_);
  // Copies the pending (committed, not yet in place) image of `blkno` into `out` and
  // returns true, or returns false if there is none.
  bool ReadPending(uint64_t blkno, std::span<uint8_t> out) const EXCLUDES(mu_);
  size_t pending_blocks() const EXCLUDES(mu_);

  uint64_t next_seq() const EXCLUDES(mu_);
  // Log blocks in use by transactions not yet checkpointed.
  uint32_t used_blocks() const EXCLUDES(mu_);

 private:
  Journal(BlockDevice* dev, const BlockContext& ctx, uint64_t start, uint64_t block_count,
          Clock* clock, const JournalHeader& h)
      : dev_(dev),
        ctx_(ctx),
        start_(start),
        block_count_(block_count),
        clock_(clock),
        header_(h),
        head_pos_(h.tail_pos),
        next_seq_(h.tail_seq) {}
  uint64_t LogBlock(uint32_t pos) const { return start_ + 1 + pos; }
  Status CheckpointLocked() REQUIRES(mu_);
  Status WriteBackLocked() REQUIRES(mu_);
  Status Fail(Status s) REQUIRES(mu_);

  BlockDevice* const dev_;
  const BlockContext ctx_;
  const uint64_t start_;
  const uint64_t block_count_;
  Clock* const clock_;

  mutable Mutex mu_{LockRank::kFsJournal, "fs.journal"};
  JournalHeader header_ GUARDED_BY(mu_);  // as last written: tail
  uint32_t head_pos_ GUARDED_BY(mu_);     // where the next descriptor goes
  uint64_t next_seq_ GUARDED_BY(mu_);
  uint32_t used_ GUARDED_BY(mu_) = 0;  // log blocks between tail and head
  bool failed_ GUARDED_BY(mu_) = false;
  bool defer_in_place_ = false;
  bool order_noted_only_ = false;
  std::atomic<uint64_t> ordered_gen_{0};               // NoteOrderedWrite() calls
  uint64_t ordered_flushed_gen_ GUARDED_BY(mu_) = 0;   // ordered_gen_ before the last flush
  uint64_t ordering_flushes_skipped_ GUARDED_BY(mu_) = 0;
  // Images of durable transactions not yet written in place (deferred), newest image
  // per block.
  std::map<uint64_t, std::vector<uint8_t>> pending_ GUARDED_BY(mu_);
};

// Reads and decodes every record of a journal from its tail for `cohort inspect`:
// one line per block scanned, stopping as Replay() would. Does not write.
Result<std::string> DescribeJournal(BlockDevice* dev, const BlockContext& ctx, uint64_t start,
                                    uint64_t block_count);

}  // namespace cohort::fs
