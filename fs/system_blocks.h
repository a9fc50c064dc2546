// fs/system_blocks.h: the small fixed system blocks: heartbeat slots (§4), the journal
// index (§8.1), the global statfs block (§9.1) and the per-node blocks (§9.2) of
// docs/ondisk-format.md.
//
// Thread safety: values and pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "fs/format.h"

namespace cohort::fs {

// §4 HeartbeatState. DO NOT CHANGE.
enum class HeartbeatState : uint32_t {
  kUnused = 0,
  kMounted = 1,
  kOffline = 2,
};
const char* HeartbeatStateName(HeartbeatState s);

inline constexpr size_t kNodeNameSize = 64;

struct Heartbeat {
  uint32_t slot = 0;
  HeartbeatState state = HeartbeatState::kUnused;
  uint64_t counter = 0;
  int64_t wall_time_ns = 0;
  uint64_t mount_generation = 0;
  std::string node_name;  // < 64 bytes

  std::vector<uint8_t> Encode(uint64_t blkno, const BlockContext& ctx) const;
  std::string Describe() const;
  bool operator==(const Heartbeat&) const = default;
};
Result<Heartbeat> DecodeHeartbeat(std::span<const uint8_t> block, uint64_t blkno,
                                  const BlockContext& ctx);

struct JournalIndexEntry {
  uint64_t start = 0;  // 0: the slot has no journal
  uint32_t blocks = 0;
  bool operator==(const JournalIndexEntry&) const = default;
};
struct JournalIndex {
  std::vector<JournalIndexEntry> entries;  // one per node slot (max_nodes)

  // REQUIRES: entries.size() <= (block_size - 32) / 16.
  std::vector<uint8_t> Encode(uint64_t blkno, const BlockContext& ctx) const;
  bool operator==(const JournalIndex&) const = default;
};
// Decodes `max_nodes` entries; Corruption if an entry has start 0 but blocks != 0,
// blocks < 3, lies past `block_count`, or overlaps another.
Result<JournalIndex> DecodeJournalIndex(std::span<const uint8_t> block, uint64_t blkno,
                                        const BlockContext& ctx, uint32_t max_nodes,
                                        uint64_t block_count);

struct StatfsBlock {
  uint64_t total_blocks = 0;
  uint64_t free_blocks = 0;
  uint64_t inodes = 0;
  std::vector<uint8_t> Encode(uint64_t blkno, const BlockContext& ctx) const;
  bool operator==(const StatfsBlock&) const = default;
};
// Corruption also if free_blocks > total_blocks.
Result<StatfsBlock> DecodeStatfs(std::span<const uint8_t> block, uint64_t blkno,
                                 const BlockContext& ctx);

struct NodeBlock {
  uint32_t slot = 0;
  int64_t free_blocks_delta = 0;
  int64_t inodes_delta = 0;
  uint64_t orphan_head = 0;
  uint64_t orphan_count = 0;
  std::vector<uint8_t> Encode(uint64_t blkno, const BlockContext& ctx) const;
  bool operator==(const NodeBlock&) const = default;
};
// Corruption also if orphan_head and orphan_count disagree about emptiness, or slot
// differs from `expected_slot`.
Result<NodeBlock> DecodeNodeBlock(std::span<const uint8_t> block, uint64_t blkno,
                                  const BlockContext& ctx, uint32_t expected_slot);

}  // namespace cohort::fs
