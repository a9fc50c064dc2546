// fs/journal_format.h: the journal's blocks: header, descriptor, commit
// (docs/ondisk-format.md §8.2-§8.4).
//
// Thread safety: values.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/status.h"
#include "fs/format.h"

namespace cohort::fs {

struct JournalHeader {
  uint32_t slot = 0;
  uint32_t blocks = 0;    // including this header
  uint64_t tail_seq = 1;  // first live transaction
  uint32_t tail_pos = 0;  // its position in the log area
  uint32_t flags = 0;

  uint32_t log_blocks() const { return blocks - 1; }
  std::vector<uint8_t> Encode(uint64_t blkno, const BlockContext& ctx) const;
  bool operator==(const JournalHeader&) const = default;
};
// Corruption also if blocks < 3, tail_pos >= blocks - 1, tail_seq == 0 or flags != 0.
Result<JournalHeader> DecodeJournalHeader(std::span<const uint8_t> block, uint64_t blkno,
                                          const BlockContext& ctx);

struct DescriptorEntry {
  uint64_t target = 0;
  uint32_t image_crc = 0;
  bool operator==(const DescriptorEntry&) const = default;
};

// Maximum block images per transaction for block size bs.
inline uint32_t MaxDescriptorEntries(uint32_t bs) { return (bs - 48) / 16; }

struct JournalDescriptor {
  uint64_t seq = 0;
  std::vector<DescriptorEntry> entries;  // 1..MaxDescriptorEntries
  std::vector<uint8_t> Encode(uint64_t blkno, const BlockContext& ctx) const;
  bool operator==(const JournalDescriptor&) const = default;
};
// Corruption also if count is 0 or too large, a target is 0 or >= block_count, or bytes
// after the entries are not zero.
Result<JournalDescriptor> DecodeJournalDescriptor(std::span<const uint8_t> block, uint64_t blkno,
                                                  const BlockContext& ctx, uint64_t block_count);

struct JournalCommit {
  uint64_t seq = 0;
  uint32_t count = 0;
  uint32_t descriptor_crc = 0;
  int64_t commit_time_ns = 0;
  std::vector<uint8_t> Encode(uint64_t blkno, const BlockContext& ctx) const;
  bool operator==(const JournalCommit&) const = default;
};
Result<JournalCommit> DecodeJournalCommit(std::span<const uint8_t> block, uint64_t blkno,
                                          const BlockContext& ctx);

}  // namespace cohort::fs
