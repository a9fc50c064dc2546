// fs/group.cc: docs/ondisk-format.md §5 (group table, group header, bitmaps).
#include "fs/group.h"

#include <algorithm>
#include <cstring>

#include "common/coding.h"

namespace cohort::fs {

const char* BlockStateName(BlockState s) {
  switch (s) {
    case BlockState::kFree:
      return "free";
    case BlockState::kUsed:
      return "used";
    case BlockState::kInode:
      return "inode";
    case BlockState::kUnlinkedInode:
      return "unlinked-inode";
  }
  return "?";
}

std::vector<uint8_t> EncodeGroupTableBlock(std::span<const GroupTableEntry> entries, uint64_t blkno,
                                           const BlockContext& ctx) {
  std::vector<uint8_t> b = NewBlock(ctx);
  for (size_t k = 0; k < entries.size(); ++k) {
    uint8_t* p = b.data() + kHeaderSize + 16 * k;
    EncodeFixed64(p, entries[k].start);
    EncodeFixed32(p + 8, entries[k].blocks);
    EncodeFixed32(p + 12, entries[k].flags);
  }
  SealBlock(b, BlockType::kGroupTable, blkno, ctx);
  return b;
}

Result<std::vector<GroupTableEntry>> DecodeGroupTableBlock(std::span<const uint8_t> block,
                                                           uint64_t blkno,
                                                           const BlockContext& ctx) {
  COHORT_RETURN_IF_ERROR(CheckBlock(block, BlockType::kGroupTable, blkno, ctx));
  uint64_t n = GroupTableEntriesPerBlock(ctx.block_size);
  std::vector<GroupTableEntry> out(n);
  for (uint64_t k = 0; k < n; ++k) {
    const uint8_t* p = block.data() + kHeaderSize + 16 * k;
    out[k].start = DecodeFixed64(p);
    out[k].blocks = DecodeFixed32(p + 8);
    out[k].flags = DecodeFixed32(p + 12);
    if ((out[k].flags & ~kGroupInitialized) != 0) {
      return Status::Corruption("group table block " + std::to_string(blkno) +
                                ": unknown flags in entry " + std::to_string(k));
    }
  }
  return out;
}

std::vector<uint8_t> GroupHeader::Encode(const BlockContext& ctx) const {
  std::vector<uint8_t> b = NewBlock(ctx);
  uint8_t* p = b.data();
  EncodeFixed64(p + 32, group_no);
  EncodeFixed64(p + 40, start);
  EncodeFixed32(p + 48, blocks);
  EncodeFixed32(p + 52, bitmap_blocks);
  EncodeFixed32(p + 56, free_blocks);
  EncodeFixed32(p + 60, inodes);
  EncodeFixed32(p + 64, flags);
  EncodeFixed64(p + 72, generation);
  SealBlock(b, BlockType::kGroupHeader, start, ctx);
  return b;
}

Result<GroupHeader> DecodeGroupHeader(std::span<const uint8_t> block, uint64_t blkno,
                                      const BlockContext& ctx) {
  COHORT_RETURN_IF_ERROR(CheckBlock(block, BlockType::kGroupHeader, blkno, ctx));
  const uint8_t* p = block.data();
  GroupHeader h;
  h.group_no = DecodeFixed64(p + 32);
  h.start = DecodeFixed64(p + 40);
  h.blocks = DecodeFixed32(p + 48);
  h.bitmap_blocks = DecodeFixed32(p + 52);
  h.free_blocks = DecodeFixed32(p + 56);
  h.inodes = DecodeFixed32(p + 60);
  h.flags = DecodeFixed32(p + 64);
  h.generation = DecodeFixed64(p + 72);
  const std::string what = "group header " + std::to_string(blkno) + ": ";
  if (h.start != blkno) return Status::Corruption(what + "start is not its own block");
  if (h.bitmap_blocks == 0 || h.bitmap_blocks != BitmapBlocksFor(h.blocks, ctx.block_size) ||
      uint64_t{h.blocks} < uint64_t{h.bitmap_blocks} + 2) {
    return Status::Corruption(what + "bitmap_blocks inconsistent with blocks");
  }
  if (uint64_t{h.free_blocks} + h.inodes > h.blocks - h.bitmap_blocks - 1) {
    return Status::Corruption(what + "counts exceed the group");
  }
  if (h.flags != 0) return Status::Corruption(what + "unknown flags");
  return h;
}

Result<std::span<const uint8_t>> DecodeBitmapBlock(std::span<const uint8_t> block, uint64_t blkno,
                                                   const BlockContext& ctx) {
  COHORT_RETURN_IF_ERROR(CheckBlock(block, BlockType::kBitmap, blkno, ctx));
  return block.subspan(kHeaderSize);
}

// ---- AllocGroup ----

AllocGroup AllocGroup::Format(uint64_t group_no, uint64_t start, uint32_t blocks,
                              const BlockContext& ctx) {
  AllocGroup g;
  g.block_size_ = ctx.block_size;
  g.header_.group_no = group_no;
  g.header_.start = start;
  g.header_.blocks = blocks;
  g.header_.bitmap_blocks = BitmapBlocksFor(blocks, ctx.block_size);
  g.header_.free_blocks = blocks;
  g.bits_.assign(size_t{g.header_.bitmap_blocks} * (ctx.block_size - kHeaderSize), 0);
  for (uint64_t i = 0; i <= g.header_.bitmap_blocks; ++i) {
    g.SetRaw(i, BlockState::kUsed);
    g.Account(BlockState::kFree, BlockState::kUsed);
  }
  for (uint32_t i = 0; i < g.header_.bitmap_blocks; ++i) g.dirty_.insert(i);
  g.first_free_ = g.NextFree(0);
  return g;
}

Result<AllocGroup> AllocGroup::Load(std::span<const uint8_t> header_block,
                                    const std::vector<std::vector<uint8_t>>& bitmap_blocks,
                                    uint64_t start, const BlockContext& ctx) {
  COHORT_ASSIGN_OR_RETURN(GroupHeader h, DecodeGroupHeader(header_block, start, ctx));
  if (bitmap_blocks.size() != h.bitmap_blocks) {
    return Status::InvalidArgument("AllocGroup::Load: wrong number of bitmap blocks");
  }
  AllocGroup g;
  g.block_size_ = ctx.block_size;
  g.header_ = h;
  const size_t payload = ctx.block_size - kHeaderSize;
  g.bits_.resize(payload * h.bitmap_blocks);
  for (uint32_t i = 0; i < h.bitmap_blocks; ++i) {
    COHORT_ASSIGN_OR_RETURN(auto bits, DecodeBitmapBlock(bitmap_blocks[i], start + 1 + i, ctx));
    std::memcpy(g.bits_.data() + payload * i, bits.data(), payload);
  }
  const std::string what = "group " + std::to_string(h.group_no) + ": ";
  uint64_t free_count = 0, inodes = 0;
  for (uint64_t i = 0; i < h.blocks; ++i) {
    BlockState s = g.GetRaw(i);
    if (s == BlockState::kFree) ++free_count;
    if (s == BlockState::kInode || s == BlockState::kUnlinkedInode) ++inodes;
  }
  for (uint64_t i = 0; i <= h.bitmap_blocks; ++i) {
    if (g.GetRaw(i) != BlockState::kUsed) {
      return Status::Corruption(what + "own metadata block not marked used");
    }
  }
  for (uint64_t i = h.blocks; i < uint64_t{h.bitmap_blocks} * payload * 4; ++i) {
    if (g.GetRaw(i) != BlockState::kFree) {
      return Status::Corruption(what + "bits set past the end of the group");
    }
  }
  if (free_count != h.free_blocks || inodes != h.inodes) {
    return Status::Corruption(what + "header counts disagree with the bitmap (free " +
                              std::to_string(free_count) + " vs " + std::to_string(h.free_blocks) +
                              ")");
  }
  g.first_free_ = g.NextFree(0);
  return g;
}

BlockState AllocGroup::GetRaw(uint64_t i) const {
  return static_cast<BlockState>((bits_[i / 4] >> (2 * (i % 4))) & 3);
}

void AllocGroup::SetRaw(uint64_t i, BlockState s) {
  uint8_t& byte = bits_[i / 4];
  byte = static_cast<uint8_t>((byte & ~(3u << (2 * (i % 4)))) |
                              (static_cast<unsigned>(s) << (2 * (i % 4))));
  dirty_.insert(static_cast<uint32_t>(i / StatesPerBitmapBlock(block_size_)));
}

void AllocGroup::Account(BlockState from, BlockState to) {
  auto is_inode = [](BlockState s) {
    return s == BlockState::kInode || s == BlockState::kUnlinkedInode;
  };
  if (from == BlockState::kFree) --header_.free_blocks;
  if (to == BlockState::kFree) ++header_.free_blocks;
  if (is_inode(from)) --header_.inodes;
  if (is_inode(to)) ++header_.inodes;
  ++header_.generation;
}

BlockState AllocGroup::Get(uint64_t blkno) const {
  if (!Contains(blkno)) return BlockState::kUsed;
  return GetRaw(blkno - header_.start);
}

Result<uint64_t> AllocGroup::Allocate(BlockState state, uint64_t goal) {
  if (state == BlockState::kFree) return Status::InvalidArgument("allocate as free");
  COHORT_ASSIGN_OR_RETURN(auto run, AllocateRun(1, goal));
  if (state != BlockState::kUsed) {
    SetRaw(run.first - header_.start, state);
    Account(BlockState::kUsed, state);
  }
  return run.first;
}

uint64_t AllocGroup::NextFree(uint64_t i) const {
  const uint64_t n = header_.blocks;
  while (i < n) {
    if (i % 32 == 0) {
      // Skip 32 blocks (8 bytes) at a time while none of their 2-bit states is kFree (00).
      while (i + 32 <= n) {
        uint64_t w;
        std::memcpy(&w, bits_.data() + i / 4, 8);
        if (((w | (w >> 1)) & 0x5555555555555555ull) != 0x5555555555555555ull) break;
        i += 32;
      }
      if (i >= n) break;
    }
    if (GetRaw(i) == BlockState::kFree) return i;
    ++i;
  }
  return n;
}

Result<std::pair<uint64_t, uint32_t>> AllocGroup::AllocateRun(uint32_t max, uint64_t goal) {
  if (header_.free_blocks == 0 || max == 0) {
    return Status::NoSpace("group " + std::to_string(header_.group_no) + " is full");
  }
  const uint64_t n = header_.blocks;
  uint64_t from = Contains(goal) ? goal - header_.start : 0;
  if (from < first_free_) from = first_free_;  // everything below is in use
  uint64_t i = NextFree(from);
  if (i >= n) i = NextFree(first_free_);  // wrap
  if (i >= n) return Status::Internal("group free count says free but bitmap is full");
  uint32_t len = 0;
  while (len < max && i + len < n && GetRaw(i + len) == BlockState::kFree) {
    SetRaw(i + len, BlockState::kUsed);
    Account(BlockState::kFree, BlockState::kUsed);
    ++len;
  }
  if (i == first_free_) first_free_ = NextFree(i + len);
  return std::make_pair(header_.start + i, len);
}

Status AllocGroup::SetState(uint64_t blkno, BlockState state) {
  if (!Contains(blkno)) return Status::InvalidArgument("block not in group");
  uint64_t i = blkno - header_.start;
  if (i <= header_.bitmap_blocks) return Status::InvalidArgument("group metadata block");
  BlockState old = GetRaw(i);
  if (old == state) return Status::OK();
  SetRaw(i, state);
  Account(old, state);
  if (state == BlockState::kFree && i < first_free_) first_free_ = i;
  return Status::OK();
}

Status AllocGroup::Free(uint64_t blkno) {
  if (Contains(blkno) && Get(blkno) == BlockState::kFree) {
    return Status::InvalidArgument("double free of block " + std::to_string(blkno));
  }
  return SetState(blkno, BlockState::kFree);
}

std::vector<uint8_t> AllocGroup::EncodeBitmap(uint32_t i, const BlockContext& ctx) const {
  std::vector<uint8_t> b = NewBlock(ctx);
  const size_t payload = ctx.block_size - kHeaderSize;
  std::memcpy(b.data() + kHeaderSize, bits_.data() + payload * i, payload);
  SealBlock(b, BlockType::kBitmap, header_.start + 1 + i, ctx);
  return b;
}

std::vector<MetaBlock> AllocGroup::EncodeAll(const BlockContext& ctx) const {
  std::vector<MetaBlock> out;
  out.push_back({header_.start, header_.Encode(ctx)});
  for (uint32_t i = 0; i < header_.bitmap_blocks; ++i) {
    out.push_back({header_.start + 1 + i, EncodeBitmap(i, ctx)});
  }
  return out;
}

std::vector<MetaBlock> AllocGroup::EncodeDirty(const BlockContext& ctx) const {
  std::vector<MetaBlock> out;
  out.push_back({header_.start, header_.Encode(ctx)});
  for (uint32_t i : dirty_) out.push_back({header_.start + 1 + i, EncodeBitmap(i, ctx)});
  return out;
}

std::string AllocGroup::Describe() const {
  std::string o = "group " + std::to_string(header_.group_no) + ": start " +
                  std::to_string(header_.start) + " blocks " + std::to_string(header_.blocks) +
                  " bitmap_blocks " + std::to_string(header_.bitmap_blocks) + " free " +
                  std::to_string(header_.free_blocks) + " inodes " +
                  std::to_string(header_.inodes) + " generation " +
                  std::to_string(header_.generation) + "\n";
  uint64_t i = 0;
  while (i < header_.blocks) {
    BlockState s = GetRaw(i);
    uint64_t j = i;
    while (j < header_.blocks && GetRaw(j) == s) ++j;
    o += "  [" + std::to_string(header_.start + i) + ", " + std::to_string(header_.start + j) +
         ") " + BlockStateName(s) + "\n";
    i = j;
  }
  return o;
}

}  // namespace cohort::fs
