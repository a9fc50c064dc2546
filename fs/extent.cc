// fs/extent.cc: docs/ondisk-format.md §6.4.
#include "fs/extent.h"

#include <algorithm>
#include <cstring>

#include "common/coding.h"
#include "fs/meta_store.h"

namespace cohort::fs {

void ExtentNode::EncodeInto(std::span<uint8_t> area) const {
  std::memset(area.data(), 0, area.size());
  uint8_t* p = area.data();
  EncodeFixed16(p, static_cast<uint16_t>(entries.size()));
  EncodeFixed16(p + 2, capacity);
  EncodeFixed16(p + 4, depth);
  for (size_t i = 0; i < entries.size(); ++i) {
    uint8_t* e = p + kExtentNodeHeaderSize + kExtentEntrySize * i;
    EncodeFixed64(e, entries[i].logical);
    EncodeFixed64(e + 8, entries[i].physical);
    EncodeFixed32(e + 16, entries[i].length);
    EncodeFixed32(e + 20, entries[i].flags);
  }
}

Result<ExtentNode> DecodeExtentNode(std::span<const uint8_t> area, uint64_t block_count) {
  if (area.size() < kExtentNodeHeaderSize) return Status::Corruption("extent node: short");
  const uint8_t* p = area.data();
  uint16_t count = DecodeFixed16(p);
  ExtentNode n;
  n.capacity = DecodeFixed16(p + 2);
  n.depth = DecodeFixed16(p + 4);
  if (DecodeFixed16(p + 6) != 0) return Status::Corruption("extent node: reserved not zero");
  if (n.capacity > ExtentNode::CapacityFor(area.size())) {
    return Status::Corruption("extent node: capacity larger than its space");
  }
  if (count > n.capacity) return Status::Corruption("extent node: count exceeds capacity");
  if (n.depth > kMaxExtentDepth) return Status::Corruption("extent node: too deep");
  n.entries.resize(count);
  for (uint16_t i = 0; i < count; ++i) {
    const uint8_t* e = p + kExtentNodeHeaderSize + kExtentEntrySize * i;
    Extent& x = n.entries[i];
    x.logical = DecodeFixed64(e);
    x.physical = DecodeFixed64(e + 8);
    x.length = DecodeFixed32(e + 16);
    x.flags = DecodeFixed32(e + 20);
    if (x.physical == 0 || x.physical >= block_count) {
      return Status::Corruption("extent node: entry points outside the filesystem");
    }
    if (n.depth == 0) {
      if (x.length == 0 || (x.flags & ~kExtentUnwritten) != 0 ||
          x.length > block_count - x.physical || x.logical + x.length < x.logical) {
        return Status::Corruption("extent node: bad leaf extent");
      }
    } else if (x.length != 0 || x.flags != 0) {
      return Status::Corruption("extent node: bad index entry");
    }
    if (i > 0) {
      const Extent& prev = n.entries[i - 1];
      uint64_t prev_end = prev.logical + (n.depth == 0 ? prev.length : 1);
      if (x.logical < prev_end) return Status::Corruption("extent node: entries unsorted");
    }
  }
  // Bytes past the used entries must be zero (§6 invariant 3 carries over).
  if (!AllZeroFrom(area, kExtentNodeHeaderSize + kExtentEntrySize * size_t{count})) {
    return Status::Corruption("extent node: garbage after entries");
  }
  return n;
}

std::vector<uint8_t> EncodeExtentBlock(const ExtentNode& node, uint64_t blkno,
                                       const BlockContext& ctx) {
  std::vector<uint8_t> b = NewBlock(ctx);
  node.EncodeInto(std::span<uint8_t>(b).subspan(kHeaderSize));
  SealBlock(b, BlockType::kExtentNode, blkno, ctx);
  return b;
}

Result<ExtentNode> DecodeExtentBlock(std::span<const uint8_t> block, uint64_t blkno,
                                     const BlockContext& ctx, uint64_t block_count) {
  COHORT_RETURN_IF_ERROR(CheckBlock(block, BlockType::kExtentNode, blkno, ctx));
  return DecodeExtentNode(block.subspan(kHeaderSize), block_count);
}

Result<std::optional<uint64_t>> LookupExtent(const ExtentNode& root, uint64_t logical,
                                             const ExtentNodeReader& read) {
  ExtentNode node = root;
  for (int guard = 0; guard <= kMaxExtentDepth; ++guard) {
    // Last entry with entry.logical <= logical.
    auto it = std::upper_bound(node.entries.begin(), node.entries.end(), logical,
                               [](uint64_t l, const Extent& e) { return l < e.logical; });
    if (it == node.entries.begin()) return std::optional<uint64_t>();
    const Extent& e = *(it - 1);
    if (node.depth == 0) {
      if (logical - e.logical >= e.length || (e.flags & kExtentUnwritten)) {
        return std::optional<uint64_t>();
      }
      return std::optional<uint64_t>(e.physical + (logical - e.logical));
    }
    COHORT_ASSIGN_OR_RETURN(ExtentNode child, read(e.physical));
    if (child.depth + 1 != node.depth) {
      return Status::Corruption("extent tree: child depth does not match parent");
    }
    node = std::move(child);
  }
  return Status::Corruption("extent tree: too deep");
}

Status InsertExtent(ExtentNode* node, const Extent& e) {
  if (node->depth != 0) return Status::InvalidArgument("InsertExtent on an index node");
  if (e.length == 0 || e.physical == 0) return Status::InvalidArgument("empty extent");
  auto& v = node->entries;
  auto it = std::lower_bound(v.begin(), v.end(), e.logical,
                             [](const Extent& x, uint64_t l) { return x.logical < l; });
  if (it != v.end() && it->logical < e.logical + e.length) {
    return Status::InvalidArgument("extent overlaps an existing one");
  }
  if (it != v.begin()) {
    Extent& prev = *(it - 1);
    if (prev.logical + prev.length > e.logical) {
      return Status::InvalidArgument("extent overlaps an existing one");
    }
    if (prev.logical + prev.length == e.logical && prev.physical + prev.length == e.physical &&
        prev.flags == e.flags && uint64_t{prev.length} + e.length <= UINT32_MAX) {
      prev.length += e.length;
      return Status::OK();
    }
  }
  if (v.size() >= node->capacity) return Status::NoSpace("extent node full");
  v.insert(it, e);
  return Status::OK();
}

Result<ExtentNode> GrowRoot(ExtentNode* root, uint64_t child_blkno, uint16_t child_capacity) {
  if (root->depth >= kMaxExtentDepth) return Status::InvalidArgument("extent tree at max depth");
  if (child_capacity < root->entries.size()) {
    return Status::InvalidArgument("child too small for the root's entries");
  }
  ExtentNode child;
  child.depth = root->depth;
  child.capacity = child_capacity;
  child.entries = std::move(root->entries);
  root->entries.clear();
  root->entries.push_back(
      Extent{child.entries.empty() ? 0 : child.entries.front().logical, child_blkno, 0, 0});
  root->depth = static_cast<uint16_t>(root->depth + 1);
  return child;
}

namespace {

uint16_t NodeBlockCapacity(uint32_t bs) { return ExtentNode::CapacityFor(bs - kHeaderSize); }

Result<ExtentNode> ReadNode(MetaStore& store, uint64_t blkno) {
  std::vector<uint8_t> b;
  COHORT_RETURN_IF_ERROR(store.Read(blkno, &b));
  return DecodeExtentBlock(b, blkno, store.context(), store.block_count());
}

Status WriteNode(MetaStore& store, uint64_t blkno, const ExtentNode& n) {
  return store.Write({blkno, EncodeExtentBlock(n, blkno, store.context())});
}

// Index of the child of index node `n` whose subtree should hold `logical`: the last
// entry with key <= logical, or the first one.
size_t ChildFor(const ExtentNode& n, uint64_t logical) {
  auto it = std::upper_bound(n.entries.begin(), n.entries.end(), logical,
                             [](uint64_t l, const Extent& e) { return l < e.logical; });
  return it == n.entries.begin() ? 0 : static_cast<size_t>(it - n.entries.begin()) - 1;
}

// Splits the full child `child` (at entry `slot` of `parent`) into two halves; the upper
// half goes to a new block, whose index entry is inserted after `slot`.
Status SplitChild(ExtentNode* parent, size_t slot, ExtentNode* child, MetaStore& store) {
  COHORT_ASSIGN_OR_RETURN(uint64_t blk, store.Allocate(parent->entries[slot].physical));
  ExtentNode upper;
  upper.depth = child->depth;
  upper.capacity = child->capacity;
  const size_t half = child->entries.size() / 2;
  upper.entries.assign(child->entries.begin() + static_cast<ptrdiff_t>(half), child->entries.end());
  child->entries.resize(half);
  COHORT_RETURN_IF_ERROR(WriteNode(store, parent->entries[slot].physical, *child));
  COHORT_RETURN_IF_ERROR(WriteNode(store, blk, upper));
  parent->entries.insert(parent->entries.begin() + static_cast<ptrdiff_t>(slot) + 1,
                         Extent{upper.entries.front().logical, blk, 0, 0});
  return Status::OK();
}

}  // namespace

Status InsertExtentInTree(ExtentNode* root, const Extent& e, MetaStore& store) {
  const uint16_t cap = NodeBlockCapacity(store.context().block_size);
  if (root->depth == 0) {
    Status s = InsertExtent(root, e);
    if (!s.Is(Code::kNoSpace)) return s;
  }
  if (root->entries.size() >= root->capacity) {
    COHORT_ASSIGN_OR_RETURN(uint64_t blk, store.Allocate(0));
    COHORT_ASSIGN_OR_RETURN(ExtentNode child, GrowRoot(root, blk, cap));
    COHORT_RETURN_IF_ERROR(WriteNode(store, blk, child));
  }
  if (root->depth == 0) return InsertExtent(root, e);
  // Descend; `node` is never full here (split before entering), so a split child's new
  // index entry always fits.
  ExtentNode* node = root;
  uint64_t node_blk = 0;  // 0: the root (written by the caller)
  ExtentNode current;
  for (int guard = 0; guard <= kMaxExtentDepth; ++guard) {
    size_t slot = ChildFor(*node, e.logical);
    COHORT_ASSIGN_OR_RETURN(ExtentNode child, ReadNode(store, node->entries[slot].physical));
    if (child.depth + 1 != node->depth) return Status::Corruption("extent tree: bad child depth");
    if (child.entries.size() >= child.capacity) {
      COHORT_RETURN_IF_ERROR(SplitChild(node, slot, &child, store));
      slot = ChildFor(*node, e.logical);
      COHORT_ASSIGN_OR_RETURN(child, ReadNode(store, node->entries[slot].physical));
    }
    // The subtree's key is its smallest logical block.
    if (e.logical < node->entries[slot].logical) node->entries[slot].logical = e.logical;
    if (node_blk != 0) COHORT_RETURN_IF_ERROR(WriteNode(store, node_blk, *node));
    const uint64_t child_blk = node->entries[slot].physical;
    if (child.depth == 0) {
      COHORT_RETURN_IF_ERROR(InsertExtent(&child, e));
      return WriteNode(store, child_blk, child);
    }
    current = std::move(child);
    node = &current;
    node_blk = child_blk;
  }
  return Status::Corruption("extent tree too deep");
}

Result<std::optional<uint64_t>> LookupExtentInTree(const ExtentNode& root, uint64_t logical,
                                                   MetaStore& store) {
  return LookupExtent(root, logical, [&store](uint64_t blk) { return ReadNode(store, blk); });
}

std::string DescribeExtentNode(const ExtentNode& n) {
  std::string o = "extent node depth " + std::to_string(n.depth) + " count " +
                  std::to_string(n.entries.size()) + "/" + std::to_string(n.capacity) + "\n";
  for (const Extent& e : n.entries) {
    if (n.depth == 0) {
      o += "  logical " + std::to_string(e.logical) + " +" + std::to_string(e.length) + " -> " +
           std::to_string(e.physical) + ((e.flags & kExtentUnwritten) ? " unwritten" : "") + "\n";
    } else {
      o += "  logical " + std::to_string(e.logical) + " -> node " + std::to_string(e.physical) +
           "\n";
    }
  }
  return o;
}

}  // namespace cohort::fs
