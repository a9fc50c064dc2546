// fs/system_blocks.cc: docs/ondisk-format.md §4, §8.1, §9.
#include "fs/system_blocks.h"

#include <algorithm>

#include "common/coding.h"

namespace cohort::fs {

const char* HeartbeatStateName(HeartbeatState s) {
  switch (s) {
    case HeartbeatState::kUnused:
      return "unused";
    case HeartbeatState::kMounted:
      return "mounted";
    case HeartbeatState::kOffline:
      return "offline";
  }
  return "?";
}

std::vector<uint8_t> Heartbeat::Encode(uint64_t blkno, const BlockContext& ctx) const {
  std::vector<uint8_t> b = NewBlock(ctx);
  uint8_t* p = b.data();
  EncodeFixed32(p + 32, slot);
  EncodeFixed32(p + 36, static_cast<uint32_t>(state));
  EncodeFixed64(p + 40, counter);
  EncodeFixed64(p + 48, static_cast<uint64_t>(wall_time_ns));
  EncodeFixed64(p + 56, mount_generation);
  EncodeFixedString(p + 64, kNodeNameSize, node_name);
  SealBlock(b, BlockType::kHeartbeat, blkno, ctx);
  return b;
}

std::string Heartbeat::Describe() const {
  return "slot " + std::to_string(slot) + " state " + HeartbeatStateName(state) + " counter " +
         std::to_string(counter) + " wall_time_ns " + std::to_string(wall_time_ns) +
         " mount_generation " + std::to_string(mount_generation) + " node '" + node_name + "'";
}

Result<Heartbeat> DecodeHeartbeat(std::span<const uint8_t> block, uint64_t blkno,
                                  const BlockContext& ctx) {
  COHORT_RETURN_IF_ERROR(CheckBlock(block, BlockType::kHeartbeat, blkno, ctx));
  const uint8_t* p = block.data();
  Heartbeat h;
  h.slot = DecodeFixed32(p + 32);
  uint32_t state = DecodeFixed32(p + 36);
  if (state > static_cast<uint32_t>(HeartbeatState::kOffline)) {
    return Status::Corruption("heartbeat " + std::to_string(blkno) + ": unknown state");
  }
  h.state = static_cast<HeartbeatState>(state);
  h.counter = DecodeFixed64(p + 40);
  h.wall_time_ns = static_cast<int64_t>(DecodeFixed64(p + 48));
  h.mount_generation = DecodeFixed64(p + 56);
  COHORT_ASSIGN_OR_RETURN(h.node_name, DecodeFixedString(p + 64, kNodeNameSize));
  return h;
}

std::vector<uint8_t> JournalIndex::Encode(uint64_t blkno, const BlockContext& ctx) const {
  std::vector<uint8_t> b = NewBlock(ctx);
  for (size_t i = 0; i < entries.size(); ++i) {
    uint8_t* p = b.data() + kHeaderSize + 16 * i;
    EncodeFixed64(p, entries[i].start);
    EncodeFixed32(p + 8, entries[i].blocks);
  }
  SealBlock(b, BlockType::kJournalIndex, blkno, ctx);
  return b;
}

Result<JournalIndex> DecodeJournalIndex(std::span<const uint8_t> block, uint64_t blkno,
                                        const BlockContext& ctx, uint32_t max_nodes,
                                        uint64_t block_count) {
  COHORT_RETURN_IF_ERROR(CheckBlock(block, BlockType::kJournalIndex, blkno, ctx));
  const std::string what = "journal index " + std::to_string(blkno) + ": ";
  if (max_nodes > (ctx.block_size - kHeaderSize) / 16) {
    return Status::Corruption(what + "max_nodes does not fit the block");
  }
  JournalIndex ji;
  ji.entries.resize(max_nodes);
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (uint32_t i = 0; i < max_nodes; ++i) {
    const uint8_t* p = block.data() + kHeaderSize + 16 * i;
    JournalIndexEntry& e = ji.entries[i];
    e.start = DecodeFixed64(p);
    e.blocks = DecodeFixed32(p + 8);
    if (e.start == 0) {
      if (e.blocks != 0) return Status::Corruption(what + "empty slot with a length");
      continue;
    }
    if (e.blocks < 3 || e.start >= block_count || e.blocks > block_count - e.start) {
      return Status::Corruption(what + "journal " + std::to_string(i) + " out of range");
    }
    ranges.emplace_back(e.start, e.blocks);
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i) {
    if (ranges[i - 1].first + ranges[i - 1].second > ranges[i].first) {
      return Status::Corruption(what + "journals overlap");
    }
  }
  return ji;
}

std::vector<uint8_t> StatfsBlock::Encode(uint64_t blkno, const BlockContext& ctx) const {
  std::vector<uint8_t> b = NewBlock(ctx);
  EncodeFixed64(b.data() + 32, total_blocks);
  EncodeFixed64(b.data() + 40, free_blocks);
  EncodeFixed64(b.data() + 48, inodes);
  SealBlock(b, BlockType::kStatfs, blkno, ctx);
  return b;
}

Result<StatfsBlock> DecodeStatfs(std::span<const uint8_t> block, uint64_t blkno,
                                 const BlockContext& ctx) {
  COHORT_RETURN_IF_ERROR(CheckBlock(block, BlockType::kStatfs, blkno, ctx));
  StatfsBlock s;
  s.total_blocks = DecodeFixed64(block.data() + 32);
  s.free_blocks = DecodeFixed64(block.data() + 40);
  s.inodes = DecodeFixed64(block.data() + 48);
  if (s.free_blocks > s.total_blocks || s.inodes > s.total_blocks) {
    return Status::Corruption("statfs block: counts exceed total");
  }
  return s;
}

std::vector<uint8_t> NodeBlock::Encode(uint64_t blkno, const BlockContext& ctx) const {
  std::vector<uint8_t> b = NewBlock(ctx);
  uint8_t* p = b.data();
  EncodeFixed32(p + 32, slot);
  EncodeFixed64(p + 40, static_cast<uint64_t>(free_blocks_delta));
  EncodeFixed64(p + 48, static_cast<uint64_t>(inodes_delta));
  EncodeFixed64(p + 56, orphan_head);
  EncodeFixed64(p + 64, orphan_count);
  SealBlock(b, BlockType::kNodeBlock, blkno, ctx);
  return b;
}

Result<NodeBlock> DecodeNodeBlock(std::span<const uint8_t> block, uint64_t blkno,
                                  const BlockContext& ctx, uint32_t expected_slot) {
  COHORT_RETURN_IF_ERROR(CheckBlock(block, BlockType::kNodeBlock, blkno, ctx));
  const uint8_t* p = block.data();
  NodeBlock n;
  n.slot = DecodeFixed32(p + 32);
  n.free_blocks_delta = static_cast<int64_t>(DecodeFixed64(p + 40));
  n.inodes_delta = static_cast<int64_t>(DecodeFixed64(p + 48));
  n.orphan_head = DecodeFixed64(p + 56);
  n.orphan_count = DecodeFixed64(p + 64);
  const std::string what = "node block " + std::to_string(blkno) + ": ";
  if (n.slot != expected_slot) return Status::Corruption(what + "wrong slot");
  if ((n.orphan_head == 0) != (n.orphan_count == 0)) {
    return Status::Corruption(what + "orphan head and count disagree");
  }
  return n;
}

}  // namespace cohort::fs
