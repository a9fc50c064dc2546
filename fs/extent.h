// fs/extent.h: extent trees mapping a file's logical blocks to physical blocks
// (docs/ondisk-format.md §6.4). The root node lives in the inode's content area; deeper
// nodes are extent node blocks (type 11). Unmapped ranges are holes (sparse files).
//
// Invariants of an ExtentNode (§6.4): entries sorted by logical and non-overlapping;
// count <= capacity; depth <= kMaxExtentDepth; leaf lengths >= 1; index entries have
// length 0 and flags 0.
//
// Thread safety: values and pure functions.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "fs/format.h"

namespace cohort::fs {

inline constexpr uint16_t kMaxExtentDepth = 5;
inline constexpr size_t kExtentNodeHeaderSize = 8;
inline constexpr size_t kExtentEntrySize = 24;
inline constexpr uint32_t kExtentUnwritten = 1u << 0;  // DO NOT CHANGE

struct Extent {
  uint64_t logical = 0;
  uint64_t physical = 0;  // depth 0: first block; depth > 0: child node block
  uint32_t length = 0;    // depth 0: >= 1; depth > 0: 0
  uint32_t flags = 0;
  bool operator==(const Extent&) const = default;
};

struct ExtentNode {
  uint16_t depth = 0;
  uint16_t capacity = 0;
  std::vector<Extent> entries;

  // Capacity of a node stored in `space` bytes.
  static uint16_t CapacityFor(size_t space) {
    return static_cast<uint16_t>((space - kExtentNodeHeaderSize) / kExtentEntrySize);
  }
  // Bytes the encoded node occupies.
  size_t EncodedSize() const { return kExtentNodeHeaderSize + kExtentEntrySize * entries.size(); }
  // Encodes into `area` (zero-filling the rest). REQUIRES: entries.size() <= capacity and
  // CapacityFor(area.size()) >= capacity.
  void EncodeInto(std::span<uint8_t> area) const;
  bool operator==(const ExtentNode&) const = default;
};

// Decodes a node from `area` and checks its invariants; `block_count` bounds physical
// block numbers. Corruption on any failure.
Result<ExtentNode> DecodeExtentNode(std::span<const uint8_t> area, uint64_t block_count);

// An extent node block (type 11).
std::vector<uint8_t> EncodeExtentBlock(const ExtentNode& node, uint64_t blkno,
                                       const BlockContext& ctx);
Result<ExtentNode> DecodeExtentBlock(std::span<const uint8_t> block, uint64_t blkno,
                                     const BlockContext& ctx, uint64_t block_count);

// Loads the child node at block `blkno` (reads and decodes it).
using ExtentNodeReader = std::function<Result<ExtentNode>(uint64_t blkno)>;

// The physical block holding logical block `logical`, or nullopt for a hole (or an
// unwritten extent: reads as zeros). Walks down from `root` through `read`; Corruption
// if a child's depth is not its parent's minus one.
Result<std::optional<uint64_t>> LookupExtent(const ExtentNode& root, uint64_t logical,
                                             const ExtentNodeReader& read);

// Inserts a leaf extent into a depth-0 node, merging with a physically and logically
// contiguous neighbour. InvalidArgument if it overlaps an existing extent or the node
// is not a leaf; NoSpace if the node is full (the caller then calls GrowRoot or splits).
Status InsertExtent(ExtentNode* node, const Extent& e);

// Moves every entry of `root` into a new child node to be written at `child_blkno`
// (capacity `child_capacity`) and leaves `root` with a single index entry pointing at it
// and depth + 1. Returns the child. InvalidArgument at kMaxExtentDepth.
Result<ExtentNode> GrowRoot(ExtentNode* root, uint64_t child_blkno, uint16_t child_capacity);

class MetaStore;

// Inserts a leaf extent into the tree rooted at `root` (stored by the caller, e.g. in
// the inode), reading and writing node blocks through `store`. Full nodes on the way
// down are split first (top-down B-tree insertion), and a full root grows the tree by
// one level (GrowRoot), so the insert never fails for lack of room in a node; NoSpace
// only if the store cannot allocate, InvalidArgument if `e` overlaps an extent.
Status InsertExtentInTree(ExtentNode* root, const Extent& e, MetaStore& store);

// LookupExtent with children read through `store`.
Result<std::optional<uint64_t>> LookupExtentInTree(const ExtentNode& root, uint64_t logical,
                                                   MetaStore& store);

std::string DescribeExtentNode(const ExtentNode& n);

}  // namespace cohort::fs
