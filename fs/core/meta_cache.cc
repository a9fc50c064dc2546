// fs/core/meta_cache.cc: metadata cache and compound transactions.
#include "fs/core/meta_cache.h"

#include <chrono>

#include "common/logging.h"

namespace cohort::fs {

MetaCache::MetaCache(BlockDevice* dev, const BlockContext& ctx, uint64_t block_count,
                     Journal* journal, Clock* clock, MetaCacheOptions options)
    : dev_(dev), ctx_(ctx), block_count_(block_count), journal_(journal),
      clock_(clock ? clock : Clock::Real()), options_(options),
      has_committer_(journal_ != nullptr && options_.commit_interval > 0) {
  // In-place writes of committed blocks are deferred to the committer, the checkpoint
  // and WriteBack(): an fsync then costs the log write and its flushes only.
  if (journal_) journal_->set_defer_in_place(true);
  if (has_committer_) {
    committer_ = std::thread([this] { CommitterLoop(); });
  }
}

MetaCache::~MetaCache() { (void)Stop(); }

Result<std::vector<uint8_t>> MetaCache::Peek(uint64_t blkno) {
  if (blkno == 0 || blkno >= block_count_) {
    return Status::InvalidArgument("block " + std::to_string(blkno) + " outside filesystem");
  }
  {
    MutexLock l(&mu_);
    auto it = cache_.find(blkno);
    if (it != cache_.end()) return it->second.data;
  }
  AlignedBuffer buf(ctx_.block_size);
  COHORT_RETURN_IF_ERROR(dev_->ReadBlock(blkno, ctx_.block_size, buf.span()));
  return std::vector<uint8_t>(buf.data(), buf.data() + ctx_.block_size);
}

Result<std::vector<uint8_t>> MetaCache::Read(uint64_t blkno, CacheOwner owner) {
  if (blkno == 0 || blkno >= block_count_) {
    return Status::InvalidArgument("block " + std::to_string(blkno) + " outside filesystem");
  }
  {
    MutexLock l(&mu_);
    auto it = cache_.find(blkno);
    if (it != cache_.end()) {
      ++stats_.cache_hits;
      if (owner) SetOwnerLocked(blkno, &it->second, owner);
      Touch(&it->second, blkno);
      return it->second.data;
    }
    ++stats_.cache_misses;
  }
  AlignedBuffer buf(ctx_.block_size);
  // A committed block whose in-place write is deferred is newer in the journal's memory
  // than on the device (invariant 1).
  if (journal_ == nullptr || !journal_->ReadPending(blkno, buf.span())) {
    COHORT_RETURN_IF_ERROR(dev_->ReadBlock(blkno, ctx_.block_size, buf.span()));
  }
  std::vector<uint8_t> data(buf.data(), buf.data() + ctx_.block_size);
  MutexLock l(&mu_);
  auto it = cache_.find(blkno);
  if (it != cache_.end()) return it->second.data;  // a Put() raced ahead: it is newer
  Entry e;
  e.data = data;
  lru_.push_back(blkno);
  e.lru = std::prev(lru_.end());
  Entry* ne = &cache_.emplace(blkno, std::move(e)).first->second;
  SetOwnerLocked(blkno, ne, owner);
  EvictLocked();
  return data;
}

bool MetaCache::Cached(uint64_t blkno) const {
  MutexLock l(&mu_);
  return cache_.count(blkno) != 0;
}

void MetaCache::Prime(uint64_t blkno, std::span<const uint8_t> data, CacheOwner owner) {
  if (blkno == 0 || blkno >= block_count_ || data.size() != ctx_.block_size) return;
  AlignedBuffer pending(ctx_.block_size);
  if (journal_ && journal_->ReadPending(blkno, pending.span())) return;
  MutexLock l(&mu_);
  if (cache_.count(blkno) != 0) return;
  Entry e;
  e.data.assign(data.begin(), data.end());
  lru_.push_back(blkno);
  e.lru = std::prev(lru_.end());
  Entry* ne = &cache_.emplace(blkno, std::move(e)).first->second;
  SetOwnerLocked(blkno, ne, owner);
  EvictLocked();
}

void MetaCache::Touch(Entry* e, uint64_t blkno) {
  if (e->dirty) return;
  lru_.erase(e->lru);
  lru_.push_back(blkno);
  e->lru = std::prev(lru_.end());
}

void MetaCache::EvictLocked() {
  while (lru_.size() > options_.cache_blocks) {
    uint64_t victim = lru_.front();
    lru_.pop_front();
    auto it = cache_.find(victim);
    if (it != cache_.end()) EraseLocked(it);
  }
}

void MetaCache::PutLocked(uint64_t blkno, std::vector<uint8_t> image, CacheOwner owner) {
  auto it = cache_.find(blkno);
  if (it == cache_.end()) {
    Entry e;
    e.dirty = true;
    it = cache_.emplace(blkno, std::move(e)).first;
  } else if (!it->second.dirty) {
    lru_.erase(it->second.lru);
    it->second.dirty = true;
  }
  if (owner) SetOwnerLocked(blkno, &it->second, owner);
  it->second.data = image;
  running_[blkno] = std::move(image);
}

Result<std::unique_ptr<MetaCache::Handle>> MetaCache::Begin(size_t reserve) {
  if (journal_ == nullptr) return Status::ReadOnly("filesystem is read-only");
  while (true) {
    bool need_commit = false;
    {
      MutexLock l(&mu_);
      while (committing_ && !failed_) cv_.Wait();
      if (failed_) return Status::IOError("journal failed: filesystem withdrawn");
      if (stop_) return Status::Aborted("filesystem is unmounting");
      size_t pending = running_.size() + reserved_;
      if (pending > 0 && pending + reserve > options_.max_txn_blocks) {
        if (has_committer_) {
          // Full: the committer takes the running transaction (a snapshot, once the open
          // handles close) and writes it while this handle starts the next one, so a
          // request waits for the journal only if the previous commit is still running.
          commit_wanted_ = true;
          committer_cv_.Signal();
          cv_.Wait();
          continue;
        }
        need_commit = true;
      } else {
        ++handles_;
        reserved_ += reserve;
        return std::unique_ptr<Handle>(new Handle(this));
      }
    }
    if (need_commit) COHORT_RETURN_IF_ERROR(Commit());
  }
}

void MetaCache::EndHandle() {
  MutexLock l(&mu_);
  --handles_;
  if (handles_ == 0) {
    reserved_ = 0;
    cv_.SignalAll();
  }
}

MetaCache::Handle::~Handle() { ms_->EndHandle(); }

void MetaCache::Handle::Put(uint64_t blkno, std::vector<uint8_t> image, CacheOwner owner) {
  MutexLock l(&ms_->mu_);
  ms_->PutLocked(blkno, std::move(image), owner);
}

void MetaCache::Handle::Freed(uint64_t blkno) {
  MutexLock l(&ms_->mu_);
  auto it = ms_->cache_.find(blkno);
  if (it != ms_->cache_.end()) {
    if (!it->second.dirty) ms_->lru_.erase(it->second.lru);
    ms_->EraseLocked(it);
  }
  ms_->running_.erase(blkno);
  ms_->quarantine_.insert(blkno);
  ms_->freed_running_.push_back(blkno);
}

void MetaCache::Handle::OnCommit(std::function<void()> fn) {
  MutexLock l(&ms_->mu_);
  ms_->on_commit_.push_back(std::move(fn));
}

Status MetaCache::Commit() {
  if (journal_ == nullptr) return Status::OK();
  MutexLock c(&commit_mu_);
  return CommitLocked(/*checkpoint=*/false);
}

Status MetaCache::ReleaseQuarantine() {
  if (journal_ == nullptr) return Status::OK();
  MutexLock c(&commit_mu_);
  return CommitLocked(/*checkpoint=*/true);
}

Status MetaCache::CommitLocked(bool checkpoint) {
  Journal::Transaction tx;
  std::vector<std::function<void()>> hooks;
  std::vector<uint64_t> freed;
  size_t nblocks = 0;
  bool committed = false;
  {
    MutexLock l(&mu_);
    if (failed_) return Status::IOError("journal failed: filesystem withdrawn");
    committed = !running_.empty() || !on_commit_.empty() || !freed_running_.empty();
    if (!committed && (!checkpoint || freed_committed_.empty())) return Status::OK();
    if (committed) {
      committing_ = true;
      while (handles_ > 0) cv_.Wait();
      for (auto& [blkno, image] : running_) {
        tx.AddMetadata(MetaBlock{blkno, std::move(image)});
        auto it = cache_.find(blkno);
        if (it != cache_.end() && it->second.dirty) {
          it->second.dirty = false;
          lru_.push_back(blkno);
          it->second.lru = std::prev(lru_.end());
        }
      }
      nblocks = running_.size();
      running_.clear();
      hooks.swap(on_commit_);
      freed.swap(freed_running_);
      reserved_ = 0;
      committing_ = false;
      cv_.SignalAll();
    }
  }
  Status s;
  if (nblocks > 0) {
    auto seq = journal_->Commit(std::move(tx));
    if (!seq.ok()) s = seq.status();
  }
  // Invariant 3: freed blocks become allocatable only once no transaction in the log
  // can still write them. The checkpoint that ends their quarantine is batched
  // (invariant 4): it costs two flushes and a header write, and an unlink frees a block.
  std::vector<uint64_t> released;
  if (s.ok()) {
    freed_committed_.insert(freed_committed_.end(), freed.begin(), freed.end());
    if (!freed_committed_.empty() &&
        (checkpoint || freed_committed_.size() >= options_.max_quarantine)) {
      s = journal_->Checkpoint();
      if (s.ok()) released.swap(freed_committed_);
    }
  }
  {
    MutexLock l(&mu_);
    if (!s.ok()) {
      failed_ = true;
      cv_.SignalAll();
      COHORT_LOG_ERROR("journal commit failed, withdrawing the filesystem: {}", s.ToString());
      return s;
    }
    for (uint64_t b : freed) {
      // A freed block's cached image (e.g. an inode's tombstone, put after the free)
      // must not outlive the commit: another node may allocate the block as something
      // else once we give up its group, and we would read our old image under a new
      // owner.
      auto it = cache_.find(b);
      if (it != cache_.end() && !it->second.dirty) {
        lru_.erase(it->second.lru);
        cache_.erase(it);
      }
    }
    for (uint64_t b : released) quarantine_.erase(b);
    if (committed) ++stats_.commits;
    stats_.committed_blocks += nblocks;
    EvictLocked();
  }
  for (auto& fn : hooks) fn();
  return Status::OK();
}

void MetaCache::Invalidate(CacheOwner owner) {
  // Only the blocks of this owner (the index), not the whole cache: a demote costs what
  // its glock covers.
  MutexLock l(&mu_);
  auto o = by_owner_.find(owner);
  if (o == by_owner_.end()) return;
  std::vector<uint64_t> blocks(o->second.begin(), o->second.end());
  for (uint64_t b : blocks) {
    auto it = cache_.find(b);
    if (it == cache_.end() || it->second.dirty) continue;
    lru_.erase(it->second.lru);
    EraseLocked(it);
  }
}

void MetaCache::SetOwnerLocked(uint64_t blkno, Entry* e, CacheOwner owner) {
  if (e->owner == owner) return;
  if (e->owner) {
    auto o = by_owner_.find(e->owner);
    if (o != by_owner_.end()) {
      o->second.erase(blkno);
      if (o->second.empty()) by_owner_.erase(o);
    }
  }
  e->owner = owner;
  if (owner) by_owner_[owner].insert(blkno);
}

void MetaCache::EraseLocked(std::unordered_map<uint64_t, Entry>::iterator it) {
  SetOwnerLocked(it->first, &it->second, 0);
  cache_.erase(it);
}

void MetaCache::Forget(uint64_t blkno) {
  MutexLock l(&mu_);
  auto it = cache_.find(blkno);
  if (it == cache_.end()) return;
  if (!it->second.dirty) lru_.erase(it->second.lru);
  EraseLocked(it);
  running_.erase(blkno);
}

bool MetaCache::Quarantined(uint64_t blkno) const {
  MutexLock l(&mu_);
  return quarantine_.count(blkno) != 0;
}

uint64_t MetaCache::QuarantineEnd(uint64_t blkno) const {
  MutexLock l(&mu_);
  auto it = quarantine_.find(blkno);
  while (it != quarantine_.end() && *it == blkno) {
    ++blkno;
    ++it;
  }
  return blkno;
}

size_t MetaCache::quarantined() const {
  MutexLock l(&mu_);
  return quarantine_.size();
}

MetaCache::Stats MetaCache::stats() const {
  MutexLock l(&mu_);
  Stats s = stats_;
  s.cached = cache_.size();
  s.dirty = running_.size();
  return s;
}

void MetaCache::CommitterLoop() {
  // Commits the running transaction once it is `commit_interval` old (group commit):
  // operations are acknowledged from the in-memory transaction and reach the journal
  // within about that bound (docs/filesystem.md §3, the durability contract). The
  // committer sleeps on its own condition variable: handles ending must not wake it, or
  // every operation would pay a commit of its own.
  using Steady = std::chrono::steady_clock;
  while (true) {
    {
      MutexLock l(&mu_);
      auto deadline = Steady::now() + std::chrono::nanoseconds(options_.commit_interval);
      while (!stop_ && !commit_wanted_) {
        auto left = deadline - Steady::now();
        if (left <= Steady::duration::zero()) break;
        (void)committer_cv_.WaitFor(std::chrono::duration_cast<std::chrono::nanoseconds>(left));
      }
      if (stop_) return;
      commit_wanted_ = false;
      if (running_.empty() && freed_running_.empty() && on_commit_.empty()) continue;
    }
    Status s = Commit();
    // Write the committed images in place here, off the request path, in batches.
    if (s.ok() && journal_->pending_blocks() >= options_.writeback_batch) {
      s = journal_->WriteBack();
    }
    if (!s.ok()) return;
  }
}

Status MetaCache::WriteBack() {
  if (journal_ == nullptr) return Status::OK();
  // Commits, and ends the quarantine of every committed free (invariant 4): this node
  // is about to give up a glock, perhaps a group's, and another node may then allocate
  // what it freed.
  COHORT_RETURN_IF_ERROR(ReleaseQuarantine());
  // A checkpoint, not only the in-place writes: once another node may change these
  // blocks, no transaction in our log may still hold older images of them, or a replay
  // of our log (a survivor's after our crash, or ours after a power loss) would write
  // those images over the other node's changes (docs/filesystem.md §3.2). Free when the
  // quarantine's checkpoint just ran.
  return journal_->Checkpoint();
}

Status MetaCache::Stop() {
  Status s = Commit();
  {
    MutexLock l(&mu_);
    if (stop_) return s;
    stop_ = true;
    cv_.SignalAll();
    committer_cv_.SignalAll();
  }
  if (committer_.joinable()) committer_.join();
  return s;
}

}  // namespace cohort::fs
