// fs/group.h: allocation groups: the group table, group headers and bitmaps
// (docs/ondisk-format.md §5).
//
// AllocGroup is the in-memory image of one initialised group (header + bitmaps). The
// filesystem holds the group's DLM lock (EX to allocate) while it owns an AllocGroup;
// every change is logged through the journal with the blocks EncodeDirty() returns.
//
// Invariants of AllocGroup (§5.2):
//   1. header.free_blocks / header.inodes equal the counts of the bitmap;
//   2. the header and its bitmap blocks are kUsed;
//   3. bit pairs past the end of the group are zero.
//
// Thread safety: values; an AllocGroup is used by one thread at a time (its owner holds
// the group lock and, in the filesystem, a Mutex of rank kFsAllocGroup).
#pragma once

#include <cstdint>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "fs/format.h"

namespace cohort::fs {

// §5.1 GroupFlags. DO NOT CHANGE.
inline constexpr uint32_t kGroupInitialized = 1u << 0;

// §5.3 BlockState. DO NOT CHANGE.
enum class BlockState : uint8_t {
  kFree = 0,
  kUsed = 1,
  kInode = 2,
  kUnlinkedInode = 3,
};
const char* BlockStateName(BlockState s);

struct GroupTableEntry {
  uint64_t start = 0;
  uint32_t blocks = 0;
  uint32_t flags = 0;
  bool operator==(const GroupTableEntry&) const = default;
};

// Group table entries per block.
inline uint64_t GroupTableEntriesPerBlock(uint32_t bs) { return (bs - kHeaderSize) / 16; }
// Encodes one group table block. REQUIRES: entries.size() <= entries per block.
std::vector<uint8_t> EncodeGroupTableBlock(std::span<const GroupTableEntry> entries, uint64_t blkno,
                                           const BlockContext& ctx);
// Decodes every entry slot of a group table block (unused slots are zero).
Result<std::vector<GroupTableEntry>> DecodeGroupTableBlock(std::span<const uint8_t> block,
                                                           uint64_t blkno, const BlockContext& ctx);

struct GroupHeader {
  uint64_t group_no = 0;
  uint64_t start = 0;
  uint32_t blocks = 0;
  uint32_t bitmap_blocks = 0;
  uint32_t free_blocks = 0;
  uint32_t inodes = 0;
  uint32_t flags = 0;
  uint64_t generation = 0;

  std::vector<uint8_t> Encode(const BlockContext& ctx) const;  // at block `start`
  bool operator==(const GroupHeader&) const = default;
};
// Corruption if the header fails §1.3 or its own consistency (blocks >= bitmap_blocks+2,
// free_blocks + inodes <= blocks).
Result<GroupHeader> DecodeGroupHeader(std::span<const uint8_t> block, uint64_t blkno,
                                      const BlockContext& ctx);

// Block states per bitmap block, and bitmap blocks for a group of `blocks` blocks.
inline uint64_t StatesPerBitmapBlock(uint32_t bs) { return uint64_t{bs - kHeaderSize} * 4; }
inline uint32_t BitmapBlocksFor(uint64_t blocks, uint32_t bs) {
  uint64_t p = StatesPerBitmapBlock(bs);
  return static_cast<uint32_t>((blocks + p - 1) / p);
}

// The bitmap payload of one bitmap block, after §1.3 checks.
Result<std::span<const uint8_t>> DecodeBitmapBlock(std::span<const uint8_t> block, uint64_t blkno,
                                                   const BlockContext& ctx);

class AllocGroup {
 public:
  // A freshly initialised group: everything free but the header and bitmap blocks.
  // REQUIRES: blocks >= BitmapBlocksFor(blocks, bs) + 2.
  static AllocGroup Format(uint64_t group_no, uint64_t start, uint32_t blocks,
                           const BlockContext& ctx);
  // Loads a group from its header block and its bitmap blocks (in order). Corruption
  // if any block fails its checks or the header's counts disagree with the bitmap.
  static Result<AllocGroup> Load(std::span<const uint8_t> header_block,
                                 const std::vector<std::vector<uint8_t>>& bitmap_blocks,
                                 uint64_t start, const BlockContext& ctx);

  const GroupHeader& header() const { return header_; }
  BlockState Get(uint64_t blkno) const;
  bool Contains(uint64_t blkno) const {
    return blkno >= header_.start && blkno - header_.start < header_.blocks;
  }

  // Allocates one block in state `state` (not kFree), the first free one at or after
  // `goal` (wrapping). NoSpace if the group is full.
  Result<uint64_t> Allocate(BlockState state, uint64_t goal = 0);
  // Allocates up to `max` contiguous free blocks starting at the first free block at or
  // after `goal`; returns {first, count}. NoSpace if the group is full.
  Result<std::pair<uint64_t, uint32_t>> AllocateRun(uint32_t max, uint64_t goal = 0);
  // Sets a block's state (e.g. kInode -> kUnlinkedInode). InvalidArgument if outside the
  // group or one of the group's own metadata blocks.
  Status SetState(uint64_t blkno, BlockState state);
  // Frees a block. InvalidArgument if it is already free or not in the group.
  Status Free(uint64_t blkno);

  // Header and every bitmap block, encoded.
  std::vector<MetaBlock> EncodeAll(const BlockContext& ctx) const;
  // Header and the bitmap blocks changed since the last ClearDirty() (the blocks a
  // journal transaction must log).
  std::vector<MetaBlock> EncodeDirty(const BlockContext& ctx) const;
  void ClearDirty() { dirty_.clear(); }

  // "group N: start S blocks B free F inodes I" and a run-length summary of the bitmap.
  std::string Describe() const;

 private:
  AllocGroup() = default;
  void SetRaw(uint64_t index, BlockState s);
  BlockState GetRaw(uint64_t index) const;
  void Account(BlockState from, BlockState to);
  std::vector<uint8_t> EncodeBitmap(uint32_t i, const BlockContext& ctx) const;

  GroupHeader header_;
  uint32_t block_size_ = kDefaultBlockSize;
  // The first free block index at or after `i` (header_.blocks if none).
  uint64_t NextFree(uint64_t i) const;

  std::vector<uint8_t> bits_;  // 2 bits per block, bitmap payloads concatenated
  // Every block below this index is in use (a search hint, not on disk): allocation
  // never rescans a densely used prefix.
  uint64_t first_free_ = 0;
  std::set<uint32_t> dirty_;   // indexes of changed bitmap blocks
};

}  // namespace cohort::fs
