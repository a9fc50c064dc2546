// fs/journal_format.cc: docs/ondisk-format.md §8.2-§8.4.
#include "fs/journal_format.h"

#include <string>

#include "common/coding.h"

namespace cohort::fs {

std::vector<uint8_t> JournalHeader::Encode(uint64_t blkno, const BlockContext& ctx) const {
  std::vector<uint8_t> b = NewBlock(ctx);
  uint8_t* p = b.data();
  EncodeFixed32(p + 32, slot);
  EncodeFixed32(p + 36, blocks);
  EncodeFixed64(p + 40, tail_seq);
  EncodeFixed32(p + 48, tail_pos);
  EncodeFixed32(p + 52, flags);
  SealBlock(b, BlockType::kJournalHeader, blkno, ctx);
  return b;
}

Result<JournalHeader> DecodeJournalHeader(std::span<const uint8_t> block, uint64_t blkno,
                                          const BlockContext& ctx) {
  COHORT_RETURN_IF_ERROR(CheckBlock(block, BlockType::kJournalHeader, blkno, ctx));
  const uint8_t* p = block.data();
  JournalHeader h;
  h.slot = DecodeFixed32(p + 32);
  h.blocks = DecodeFixed32(p + 36);
  h.tail_seq = DecodeFixed64(p + 40);
  h.tail_pos = DecodeFixed32(p + 48);
  h.flags = DecodeFixed32(p + 52);
  const std::string what = "journal header " + std::to_string(blkno) + ": ";
  if (h.blocks < 3) return Status::Corruption(what + "journal shorter than 3 blocks");
  if (h.tail_pos >= h.blocks - 1) return Status::Corruption(what + "tail_pos past the log");
  if (h.tail_seq == 0) return Status::Corruption(what + "tail_seq 0");
  if (h.flags != 0) return Status::Corruption(what + "unknown flags");
  return h;
}

std::vector<uint8_t> JournalDescriptor::Encode(uint64_t blkno, const BlockContext& ctx) const {
  std::vector<uint8_t> b = NewBlock(ctx);
  uint8_t* p = b.data();
  EncodeFixed64(p + 32, seq);
  EncodeFixed32(p + 40, static_cast<uint32_t>(entries.size()));
  for (size_t k = 0; k < entries.size(); ++k) {
    EncodeFixed64(p + 48 + 16 * k, entries[k].target);
    EncodeFixed32(p + 56 + 16 * k, entries[k].image_crc);
  }
  SealBlock(b, BlockType::kJournalDescriptor, blkno, ctx);
  return b;
}

Result<JournalDescriptor> DecodeJournalDescriptor(std::span<const uint8_t> block, uint64_t blkno,
                                                  const BlockContext& ctx, uint64_t block_count) {
  COHORT_RETURN_IF_ERROR(CheckBlock(block, BlockType::kJournalDescriptor, blkno, ctx));
  const uint8_t* p = block.data();
  const std::string what = "journal descriptor " + std::to_string(blkno) + ": ";
  JournalDescriptor d;
  d.seq = DecodeFixed64(p + 32);
  uint32_t count = DecodeFixed32(p + 40);
  if (count == 0 || count > MaxDescriptorEntries(ctx.block_size)) {
    return Status::Corruption(what + "bad count");
  }
  if (DecodeFixed32(p + 44) != 0) return Status::Corruption(what + "reserved not zero");
  d.entries.resize(count);
  for (uint32_t k = 0; k < count; ++k) {
    d.entries[k].target = DecodeFixed64(p + 48 + 16 * k);
    d.entries[k].image_crc = DecodeFixed32(p + 56 + 16 * k);
    if (d.entries[k].target == 0 || d.entries[k].target >= block_count) {
      return Status::Corruption(what + "target outside the filesystem");
    }
    if (DecodeFixed32(p + 60 + 16 * k) != 0) return Status::Corruption(what + "reserved");
  }
  if (!AllZeroFrom(block, 48 + 16 * size_t{count})) {
    return Status::Corruption(what + "garbage after entries");
  }
  return d;
}

std::vector<uint8_t> JournalCommit::Encode(uint64_t blkno, const BlockContext& ctx) const {
  std::vector<uint8_t> b = NewBlock(ctx);
  uint8_t* p = b.data();
  EncodeFixed64(p + 32, seq);
  EncodeFixed32(p + 40, count);
  EncodeFixed32(p + 44, descriptor_crc);
  EncodeFixed64(p + 48, static_cast<uint64_t>(commit_time_ns));
  SealBlock(b, BlockType::kJournalCommit, blkno, ctx);
  return b;
}

Result<JournalCommit> DecodeJournalCommit(std::span<const uint8_t> block, uint64_t blkno,
                                          const BlockContext& ctx) {
  COHORT_RETURN_IF_ERROR(CheckBlock(block, BlockType::kJournalCommit, blkno, ctx));
  const uint8_t* p = block.data();
  JournalCommit c;
  c.seq = DecodeFixed64(p + 32);
  c.count = DecodeFixed32(p + 40);
  c.descriptor_crc = DecodeFixed32(p + 44);
  c.commit_time_ns = static_cast<int64_t>(DecodeFixed64(p + 48));
  if (c.count == 0) return Status::Corruption("journal commit: count 0");
  return c;
}

}  // namespace cohort::fs
