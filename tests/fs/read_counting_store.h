// tests/fs/read_counting_store.h: a MetaStore that forwards to another and counts the
// reads, to show how many blocks an operation touches (directory tests).
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "fs/meta_store.h"

namespace cohort::fs::testing {

class ReadCountingStore final : public MetaStore {
 public:
  explicit ReadCountingStore(MetaStore& inner) : inner_(inner) {}
  const BlockContext& context() const override { return inner_.context(); }
  uint64_t block_count() const override { return inner_.block_count(); }
  Status Read(uint64_t b, std::vector<uint8_t>* out) override {
    ++reads;
    return inner_.Read(b, out);
  }
  Status Write(MetaBlock block) override { return inner_.Write(std::move(block)); }
  Result<uint64_t> Allocate(uint64_t goal) override { return inner_.Allocate(goal); }
  Status Free(uint64_t b) override { return inner_.Free(b); }
  int reads = 0;

 private:
  MetaStore& inner_;
};

}  // namespace cohort::fs::testing
