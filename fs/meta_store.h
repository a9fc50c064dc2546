// fs/meta_store.h: the block access that multi-block format operations (extent tree
// insert, hashed directories: fs/extent.h, fs/dir_ops.h) are written against.
//
// A MetaStore is one transaction's view of the metadata: Read() sees the blocks this
// transaction already wrote, Write() adds a block image to the transaction, Allocate()
// and Free() go to the allocator. TransactionMetaStore implements it over a device and
// a Journal::Transaction (the filesystem will put its block cache in between);
// MemMetaStore is the in-memory one for tests and tools.
//
// Thread safety: a MetaStore belongs to one transaction and one thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <vector>

#include "common/status.h"
#include "fs/block_device.h"
#include "fs/format.h"
#include "fs/journal.h"

namespace cohort::fs {

class MetaStore {
 public:
  virtual ~MetaStore() = default;
  virtual const BlockContext& context() const = 0;
  // Blocks in the filesystem (bounds every pointer a decoder accepts).
  virtual uint64_t block_count() const = 0;
  // The current image of `blkno` (block_size bytes). NotFound if it was never written.
  virtual Status Read(uint64_t blkno, std::vector<uint8_t>* out) = 0;
  // Adds the image to the transaction. REQUIRES: block.data.size() == block size.
  virtual Status Write(MetaBlock block) = 0;
  // A new metadata block (state kUsed), near `goal` if possible. NoSpace when full.
  virtual Result<uint64_t> Allocate(uint64_t goal) = 0;
  virtual Status Free(uint64_t blkno) = 0;
};

// An in-memory MetaStore: blocks in a map, allocation from a counter.
class MemMetaStore final : public MetaStore {
 public:
  MemMetaStore(const BlockContext& ctx, uint64_t block_count, uint64_t first_free)
      : ctx_(ctx), block_count_(block_count), next_(first_free) {}
  const BlockContext& context() const override { return ctx_; }
  uint64_t block_count() const override { return block_count_; }
  Status Read(uint64_t blkno, std::vector<uint8_t>* out) override {
    auto it = blocks_.find(blkno);
    if (it == blocks_.end()) return Status::NotFound("block " + std::to_string(blkno));
    *out = it->second;
    return Status::OK();
  }
  Status Write(MetaBlock block) override {
    ++writes_;
    blocks_[block.blkno] = std::move(block.data);
    return Status::OK();
  }
  Result<uint64_t> Allocate(uint64_t) override {
    if (next_ >= block_count_) return Status::NoSpace("MemMetaStore full");
    allocated_.insert(next_);
    return next_++;
  }
  Status Free(uint64_t blkno) override {
    if (allocated_.erase(blkno) == 0) return Status::InvalidArgument("free of unallocated block");
    blocks_.erase(blkno);
    return Status::OK();
  }
  size_t allocated() const { return allocated_.size(); }
  uint64_t writes() const { return writes_; }
  std::map<uint64_t, std::vector<uint8_t>>& blocks() { return blocks_; }

 private:
  BlockContext ctx_;
  uint64_t block_count_;
  uint64_t next_;
  uint64_t writes_ = 0;
  std::map<uint64_t, std::vector<uint8_t>> blocks_;
  std::set<uint64_t> allocated_;
};

// The MetaStore of one journal transaction on a device: Read() returns the image the
// transaction already holds, else the block from the device; Write() adds the image to
// the transaction (committed later by Journal::Commit); Allocate()/Free() call the
// filesystem's allocator, which must add its own changed group blocks to the same
// transaction before the commit. `dev` and `tx` must outlive the store.
class TransactionMetaStore final : public MetaStore {
 public:
  using AllocateFn = std::function<Result<uint64_t>(uint64_t goal)>;
  using FreeFn = std::function<Status(uint64_t blkno)>;
  TransactionMetaStore(BlockDevice* dev, const BlockContext& ctx, uint64_t block_count,
                       Journal::Transaction* tx, AllocateFn allocate, FreeFn free)
      : dev_(dev),
        ctx_(ctx),
        block_count_(block_count),
        tx_(tx),
        allocate_(std::move(allocate)),
        free_(std::move(free)) {}
  const BlockContext& context() const override { return ctx_; }
  uint64_t block_count() const override { return block_count_; }
  Status Read(uint64_t blkno, std::vector<uint8_t>* out) override {
    if (const auto* img = tx_->FindMetadata(blkno)) {
      *out = *img;
      return Status::OK();
    }
    if (blkno >= block_count_) return Status::InvalidArgument("read past the filesystem");
    out->resize(ctx_.block_size);
    return dev_->ReadBlock(blkno, ctx_.block_size, *out);
  }
  Status Write(MetaBlock block) override {
    if (block.data.size() != ctx_.block_size || block.blkno == 0 || block.blkno >= block_count_) {
      return Status::InvalidArgument("bad metadata block");
    }
    tx_->AddMetadata(std::move(block));
    return Status::OK();
  }
  Result<uint64_t> Allocate(uint64_t goal) override { return allocate_(goal); }
  Status Free(uint64_t blkno) override { return free_(blkno); }

 private:
  BlockDevice* const dev_;
  const BlockContext ctx_;
  const uint64_t block_count_;
  Journal::Transaction* const tx_;
  AllocateFn allocate_;
  FreeFn free_;
};

}  // namespace cohort::fs
