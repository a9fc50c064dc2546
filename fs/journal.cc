// fs/journal.cc: docs/ondisk-format.md §8.5 (grammar, replay) and §8.6 (write protocol).
#include "fs/journal.h"

#include <cstring>

#include "common/coding.h"
#include "common/crc32c.h"

namespace cohort::fs {

namespace {

// One complete transaction found by the scanner.
struct ScannedTx {
  JournalDescriptor desc;
  std::vector<std::vector<uint8_t>> images;
  uint32_t length = 0;  // log blocks: descriptor + images + commit
};

// Tries to read the complete transaction `seq` at log position `pos`. Returns the
// transaction, or a Status whose message says why the log ends here.
Result<ScannedTx> ScanTransaction(BlockDevice* dev, const BlockContext& ctx, uint64_t start,
                                  const JournalHeader& h, uint64_t block_count, uint32_t pos,
                                  uint64_t seq, uint32_t room) {
  const uint32_t log = h.log_blocks();
  auto block_at = [&](uint32_t p) { return start + 1 + (p % log); };
  std::vector<uint8_t> buf(ctx.block_size);
  uint64_t dblk = block_at(pos);
  COHORT_RETURN_IF_ERROR(dev->ReadBlock(dblk, ctx.block_size, buf));
  COHORT_ASSIGN_OR_RETURN(JournalDescriptor d,
                          DecodeJournalDescriptor(buf, dblk, ctx, block_count));
  if (d.seq != seq) {
    return Status::NotFound("descriptor seq " + std::to_string(d.seq) + ", expected " +
                            std::to_string(seq) + " (stale record)");
  }
  const uint32_t descriptor_crc = BlockCrc(buf);
  ScannedTx tx;
  tx.length = static_cast<uint32_t>(d.entries.size()) + 2;
  if (tx.length > room) return Status::NotFound("transaction would overrun the tail");
  for (size_t k = 0; k < d.entries.size(); ++k) {
    std::vector<uint8_t> img(ctx.block_size);
    COHORT_RETURN_IF_ERROR(
        dev->ReadBlock(block_at(pos + 1 + static_cast<uint32_t>(k)), ctx.block_size, img));
    if (crc32c::Value(img.data(), img.size()) != d.entries[k].image_crc) {
      return Status::Corruption("image " + std::to_string(k) + " of seq " + std::to_string(seq) +
                                " fails its crc (torn)");
    }
    tx.images.push_back(std::move(img));
  }
  uint64_t cblk = block_at(pos + tx.length - 1);
  COHORT_RETURN_IF_ERROR(dev->ReadBlock(cblk, ctx.block_size, buf));
  COHORT_ASSIGN_OR_RETURN(JournalCommit c, DecodeJournalCommit(buf, cblk, ctx));
  if (c.seq != seq || c.count != d.entries.size() || c.descriptor_crc != descriptor_crc) {
    return Status::NotFound("commit does not match descriptor of seq " + std::to_string(seq));
  }
  tx.desc = std::move(d);
  return tx;
}

}  // namespace

Status Journal::Format(BlockDevice* dev, const BlockContext& ctx, uint64_t start, uint32_t blocks,
                       uint32_t slot, uint64_t first_seq) {
  if (blocks < 3) return Status::InvalidArgument("journal needs at least 3 blocks");
  JournalHeader h;
  h.slot = slot;
  h.blocks = blocks;
  h.tail_seq = first_seq;
  h.tail_pos = 0;
  return dev->WriteBlock(start, h.Encode(start, ctx));
}

Result<Journal::ReplayStats> Journal::Replay(BlockDevice* dev, const BlockContext& ctx,
                                             uint64_t start, uint64_t block_count) {
  std::vector<uint8_t> buf(ctx.block_size);
  COHORT_RETURN_IF_ERROR(dev->ReadBlock(start, ctx.block_size, buf));
  COHORT_ASSIGN_OR_RETURN(JournalHeader h, DecodeJournalHeader(buf, start, ctx));
  if (start + h.blocks > block_count) return Status::Corruption("journal past the end");
  ReplayStats st;
  const uint32_t log = h.log_blocks();
  uint32_t pos = h.tail_pos;
  uint64_t seq = h.tail_seq;
  uint32_t consumed = 0;
  while (true) {
    auto tx = ScanTransaction(dev, ctx, start, h, block_count, pos, seq, log - consumed);
    if (!tx.ok()) {
      st.stop_reason = std::string(tx.status().message());
      break;
    }
    for (size_t k = 0; k < tx->images.size(); ++k) {
      COHORT_RETURN_IF_ERROR(dev->WriteBlock(tx->desc.entries[k].target, tx->images[k]));
      ++st.blocks;
    }
    ++st.transactions;
    consumed += tx->length;
    pos = (pos + tx->length) % log;
    ++seq;
  }
  st.next_seq = seq;
  st.next_pos = pos;
  if (st.transactions > 0) {
    // The images must be durable in place before the tail moves past them.
    COHORT_RETURN_IF_ERROR(dev->Flush());
    h.tail_seq = seq;
    h.tail_pos = pos;
    COHORT_RETURN_IF_ERROR(dev->WriteBlock(start, h.Encode(start, ctx)));
    COHORT_RETURN_IF_ERROR(dev->Flush());
  }
  return st;
}

Result<std::unique_ptr<Journal>> Journal::Open(BlockDevice* dev, const BlockContext& ctx,
                                               uint64_t start, uint64_t block_count, Clock* clock) {
  COHORT_RETURN_IF_ERROR(Replay(dev, ctx, start, block_count).status());
  std::vector<uint8_t> buf(ctx.block_size);
  COHORT_RETURN_IF_ERROR(dev->ReadBlock(start, ctx.block_size, buf));
  COHORT_ASSIGN_OR_RETURN(JournalHeader h, DecodeJournalHeader(buf, start, ctx));
  return std::unique_ptr<Journal>(new Journal(dev, ctx, start, block_count, clock, h));
}

namespace {

// Writes `blocks` (block images of `bs` bytes) to consecutive blocks from `first` with
// one device write: a commit is a handful of large writes instead of one per block.
Status WriteRun(BlockDevice* dev, uint64_t first, const std::vector<const std::vector<uint8_t>*>& blocks,
                uint32_t bs) {
  if (blocks.empty()) return Status::OK();
  if (blocks.size() == 1) return dev->WriteBlock(first, *blocks[0]);
  // Every byte is copied over next: no zero fill (it cost a memset of each commit's size).
  AlignedBuffer buf = AlignedBuffer::Uninitialized(blocks.size() * bs);
  for (size_t i = 0; i < blocks.size(); ++i) std::memcpy(buf.data() + i * bs, blocks[i]->data(), bs);
  return dev->WriteAt(first * bs, buf.span());
}

// Writes every (blkno, image) of `m` in place, coalescing runs of adjacent blocks.
Status WriteInPlace(BlockDevice* dev, const std::map<uint64_t, std::vector<uint8_t>>& m, uint32_t bs) {
  std::vector<const std::vector<uint8_t>*> run;
  uint64_t run_start = 0;
  for (const auto& [blkno, data] : m) {
    if (!run.empty() && (blkno != run_start + run.size() || run.size() >= 256)) {
      COHORT_RETURN_IF_ERROR(WriteRun(dev, run_start, run, bs));
      run.clear();
    }
    if (run.empty()) run_start = blkno;
    run.push_back(&data);
  }
  return WriteRun(dev, run_start, run, bs);
}

}  // namespace

Result<uint64_t> Journal::Commit(Transaction tx) {
  const uint32_t n = static_cast<uint32_t>(tx.metadata_.size());
  if (n == 0) return Status::InvalidArgument("transaction without metadata");
  if (n > MaxDescriptorEntries(ctx_.block_size)) {
    return Status::InvalidArgument("transaction of " + std::to_string(n) +
                                   " blocks exceeds the descriptor");
  }
  for (const auto* m : {&tx.metadata_, &tx.ordered_}) {
    for (const auto& [blkno, data] : *m) {
      if (data.size() != ctx_.block_size) return Status::InvalidArgument("bad block size");
      if (blkno == 0 || blkno >= block_count_) return Status::InvalidArgument("bad target");
    }
  }
  MutexLock l(&mu_);
  if (failed_) return Status::IOError("journal failed earlier; reopen to recover");
  const uint32_t log = header_.log_blocks();
  if (n + 2 > log) return Status::InvalidArgument("transaction larger than the journal");
  if (used_ + n + 2 > log) {
    Status s = CheckpointLocked();
    if (!s.ok()) return s;
  }
  // 1. Ordered data in place, then 2. flush: the data (and whatever the caller wrote in
  // place before calling) is durable before a commit block can be.
  // With set_order_noted_writes_only, the flush is skipped when nothing written since
  // the last commit's flush must precede the commit record (§8.6 step 2).
  if (Status s = WriteInPlace(dev_, tx.ordered_, ctx_.block_size); !s.ok()) return Fail(std::move(s));
  const uint64_t ordered_gen = ordered_gen_.load(std::memory_order_acquire);
  if (!order_noted_only_ || !tx.ordered_.empty() || ordered_gen != ordered_flushed_gen_) {
    if (Status s = dev_->Flush(); !s.ok()) return Fail(std::move(s));
    ordered_flushed_gen_ = ordered_gen;
  } else {
    ++ordering_flushes_skipped_;
  }
  // 3. Descriptor, images and commit block at the head: consecutive log blocks, so one
  // write (two where the log wraps). They may reach the device in any order: replay
  // accepts the transaction only if the commit block matches the descriptor's crc and
  // every image matches its crc in the descriptor (§8.6), so a crash before the flush
  // leaves either the whole transaction or none of it.
  JournalDescriptor d;
  d.seq = next_seq_;
  for (const auto& [blkno, data] : tx.metadata_) {
    d.entries.push_back({blkno, crc32c::Value(data.data(), data.size())});
  }
  uint32_t pos = head_pos_;
  std::vector<uint8_t> dblock = d.Encode(LogBlock(pos), ctx_);
  JournalCommit c;
  c.seq = next_seq_;
  c.count = n;
  c.descriptor_crc = DecodeFixed32(dblock.data() + kCrcOffset);
  c.commit_time_ns = clock_->WallNanos();
  uint64_t cblk = LogBlock((pos + n + 1) % log);
  std::vector<uint8_t> cblock = c.Encode(cblk, ctx_);
  {
    std::vector<const std::vector<uint8_t>*> all{&dblock};
    for (const auto& [blkno, data] : tx.metadata_) all.push_back(&data);
    all.push_back(&cblock);
    uint32_t first_len = std::min<uint32_t>(static_cast<uint32_t>(all.size()), log - pos);
    std::vector<const std::vector<uint8_t>*> a(all.begin(), all.begin() + first_len);
    std::vector<const std::vector<uint8_t>*> b(all.begin() + first_len, all.end());
    if (Status s = WriteRun(dev_, LogBlock(pos), a, ctx_.block_size); !s.ok()) return Fail(std::move(s));
    if (Status s = WriteRun(dev_, LogBlock(0), b, ctx_.block_size); !s.ok()) return Fail(std::move(s));
  }
  // 4. Flush: S is durable (and so is every in-place write completed before it).
  const uint64_t gen_before_flush = ordered_gen_.load(std::memory_order_acquire);
  if (Status s = dev_->Flush(); !s.ok()) return Fail(std::move(s));
  ordered_flushed_gen_ = gen_before_flush;
  // 5. In place (made durable by the next checkpoint's flush), now or, with deferred
  // in-place writes, at the next WriteBack() or checkpoint.
  if (defer_in_place_) {
    for (auto& [blkno, data] : tx.metadata_) pending_[blkno] = std::move(data);
  } else if (Status s = WriteInPlace(dev_, tx.metadata_, ctx_.block_size); !s.ok()) {
    return Fail(std::move(s));
  }
  head_pos_ = (pos + n + 2) % log;
  used_ += n + 2;
  return next_seq_++;
}

Status Journal::Fail(Status s) {
  // After a failed device write the in-memory head no longer matches the log; only a
  // reopen (which replays) may continue, as after a crash.
  failed_ = true;
  return s;
}

Status Journal::Checkpoint() {
  MutexLock l(&mu_);
  if (failed_) return Status::IOError("journal failed earlier; reopen to recover");
  return CheckpointLocked();
}

Status Journal::WriteBack() {
  MutexLock l(&mu_);
  if (failed_) return Status::IOError("journal failed earlier; reopen to recover");
  return WriteBackLocked();
}

Status Journal::WriteBackLocked() {
  if (pending_.empty()) return Status::OK();
  Status s = WriteInPlace(dev_, pending_, ctx_.block_size);
  if (!s.ok()) {
    failed_ = true;
    return s;
  }
  pending_.clear();
  return Status::OK();
}

bool Journal::ReadPending(uint64_t blkno, std::span<uint8_t> out) const {
  MutexLock l(&mu_);
  auto it = pending_.find(blkno);
  if (it == pending_.end() || out.size() != it->second.size()) return false;
  std::memcpy(out.data(), it->second.data(), out.size());
  return true;
}

size_t Journal::pending_blocks() const {
  MutexLock l(&mu_);
  return pending_.size();
}

Status Journal::CheckpointLocked() {
  if (used_ == 0) return Status::OK();
  if (Status w = WriteBackLocked(); !w.ok()) return w;
  Status s = dev_->Flush();
  JournalHeader h = header_;
  h.tail_seq = next_seq_;
  h.tail_pos = head_pos_;
  if (s.ok()) s = dev_->WriteBlock(start_, h.Encode(start_, ctx_));
  if (s.ok()) s = dev_->Flush();
  if (!s.ok()) {
    failed_ = true;
    return s;
  }
  header_ = h;
  used_ = 0;
  return Status::OK();
}

uint64_t Journal::next_seq() const {
  MutexLock l(&mu_);
  return next_seq_;
}

uint64_t Journal::ordering_flushes_skipped() const {
  MutexLock l(&mu_);
  return ordering_flushes_skipped_;
}

uint32_t Journal::used_blocks() const {
  MutexLock l(&mu_);
  return used_;
}

Result<std::string> DescribeJournal(BlockDevice* dev, const BlockContext& ctx, uint64_t start,
                                    uint64_t block_count) {
  std::vector<uint8_t> buf(ctx.block_size);
  COHORT_RETURN_IF_ERROR(dev->ReadBlock(start, ctx.block_size, buf));
  COHORT_ASSIGN_OR_RETURN(JournalHeader h, DecodeJournalHeader(buf, start, ctx));
  std::string o = "journal at " + std::to_string(start) + ": slot " + std::to_string(h.slot) +
                  " blocks " + std::to_string(h.blocks) + " tail_seq " +
                  std::to_string(h.tail_seq) + " tail_pos " + std::to_string(h.tail_pos) + "\n";
  if (start + h.blocks > block_count) return Status::Corruption("journal past the end");
  const uint32_t log = h.log_blocks();
  uint32_t pos = h.tail_pos, consumed = 0;
  uint64_t seq = h.tail_seq;
  while (true) {
    auto tx = ScanTransaction(dev, ctx, start, h, block_count, pos, seq, log - consumed);
    if (!tx.ok()) {
      o += "  end of log at pos " + std::to_string(pos) + ": " +
           std::string(tx.status().message()) + "\n";
      break;
    }
    o += "  seq " + std::to_string(seq) + " at pos " + std::to_string(pos) + ": " +
         std::to_string(tx->desc.entries.size()) + " blocks ->";
    for (const auto& e : tx->desc.entries) {
      o += ' ';
      o += std::to_string(e.target);
    }
    o += "\n";
    consumed += tx->length;
    pos = (pos + tx->length) % log;
    ++seq;
  }
  return o;
}

}  // namespace cohort::fs
