// fs/core/txn_store.h: the format library's MetaStore (fs/meta_store.h) over this node's
// metadata cache, its open transaction handle and an allocation reservation, so that the
// multi-block format operations (hashed directories in fs/dir_ops.h, extent tree
// insertion in fs/extent.h) run inside the filesystem's journaled transactions.
//
// Thread safety: one per operation, used by the thread that holds the handle.
#pragma once

#include "fs/core/allocator.h"
#include "fs/core/meta_cache.h"
#include "fs/meta_store.h"

namespace cohort::fs {

class TxnStore final : public MetaStore {
 public:
  // Read-only when `h` is null (Write/Allocate/Free then fail with Internal).
  TxnStore(MetaCache* cache, CacheOwner owner, MetaCache::Handle* h = nullptr,
           Allocator* alloc = nullptr, Reservation* r = nullptr)
      : cache_(cache), owner_(owner), h_(h), alloc_(alloc), r_(r) {}

  const BlockContext& context() const override { return cache_->context(); }
  uint64_t block_count() const override { return cache_->block_count(); }
  Status Read(uint64_t blkno, std::vector<uint8_t>* out) override {
    COHORT_ASSIGN_OR_RETURN(*out, cache_->Read(blkno, owner_));
    return Status::OK();
  }
  Status Write(MetaBlock block) override {
    if (!h_) return Status::Internal("write through a read-only TxnStore");
    h_->Put(block.blkno, std::move(block.data), owner_);
    return Status::OK();
  }
  Result<uint64_t> Allocate(uint64_t goal) override {
    if (!h_ || !alloc_ || !r_) return Status::Internal("allocation through a read-only TxnStore");
    COHORT_ASSIGN_OR_RETURN(uint64_t b, alloc_->AllocBlock(*r_, *h_, BlockState::kUsed, goal));
    ++allocated_;
    return b;
  }
  Status Free(uint64_t blkno) override {
    if (!h_ || !alloc_ || !r_) return Status::Internal("free through a read-only TxnStore");
    COHORT_RETURN_IF_ERROR(alloc_->Free(*r_, *h_, blkno, 1));
    ++freed_;
    return Status::OK();
  }
  // Net blocks allocated through this store (for an inode's `blocks`).
  int64_t delta() const { return static_cast<int64_t>(allocated_) - static_cast<int64_t>(freed_); }

 private:
  MetaCache* const cache_;
  const CacheOwner owner_;
  MetaCache::Handle* const h_;
  Allocator* const alloc_;
  Reservation* const r_;
  uint64_t allocated_ = 0;
  uint64_t freed_ = 0;
};

}  // namespace cohort::fs
