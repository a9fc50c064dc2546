// fs/core/file_map.cc: extent tree operations (docs/ondisk-format.md §6.4).
#include "fs/core/file_map.h"

#include "fs/core/txn_store.h"

#include <algorithm>
#include <limits>

namespace cohort::fs {
namespace {

// Index of the entry whose range may contain `logical`: the last with entry.logical <=
// logical, or 0.
size_t ChildIndex(const ExtentNode& n, uint64_t logical) {
  size_t i = 0;
  while (i + 1 < n.entries.size() && n.entries[i + 1].logical <= logical) ++i;
  return i;
}

constexpr uint64_t kMaxLogical = std::numeric_limits<uint64_t>::max();

}  // namespace

uint16_t FileMap::NodeCapacity() const {
  return ExtentNode::CapacityFor(ms_->block_size() - kHeaderSize);
}

Result<ExtentNode> FileMap::ReadNode(uint64_t blkno) {
  COHORT_ASSIGN_OR_RETURN(auto block, ms_->Read(blkno, owner_));
  return DecodeExtentBlock(block, blkno, ms_->context(), ms_->block_count());
}

void FileMap::WriteNode(MetaCache::Handle& h, uint64_t blkno, const ExtentNode& n) {
  h.Put(blkno, EncodeExtentBlock(n, blkno, ms_->context()), owner_);
}

Result<FileMap::Mapping> FileMap::Lookup(const Inode& ino, uint64_t lblk, uint64_t max_len) {
  Mapping m;
  if (ino.content_kind != ContentKind::kExtents && ino.content_kind != ContentKind::kHashedDir) {
    m.len = max_len;
    return m;
  }
  COHORT_ASSIGN_OR_RETURN(ExtentNode node, ino.ExtentRoot(ms_->block_size(), ms_->block_count()));
  uint64_t bound = kMaxLogical;  // the first logical block of whatever follows
  for (int level = 0; level <= kMaxExtentDepth; ++level) {
    if (node.entries.empty()) break;
    if (node.depth == 0) {
      for (const Extent& e : node.entries) {
        if (e.logical > lblk) {
          bound = std::min(bound, e.logical);
          break;
        }
        if (lblk - e.logical < e.length) {
          uint64_t off = lblk - e.logical;
          m.pblk = e.physical + off;
          m.len = std::min<uint64_t>(e.length - off, max_len);
          m.unwritten = (e.flags & kExtentUnwritten) != 0;
          return m;
        }
      }
      break;
    }
    size_t i = ChildIndex(node, lblk);
    if (i + 1 < node.entries.size()) bound = std::min(bound, node.entries[i + 1].logical);
    if (node.entries[i].logical > lblk) {
      bound = std::min(bound, node.entries[i].logical);
      break;
    }
    uint16_t depth = node.depth;
    COHORT_ASSIGN_OR_RETURN(node, ReadNode(node.entries[i].physical));
    if (node.depth + 1 != depth) return Status::Corruption("extent node depth mismatch");
  }
  m.pblk = 0;
  m.len = std::min<uint64_t>(bound - lblk, max_len);
  return m;
}

Status FileMap::Collect(const ExtentNode& n, std::vector<Extent>* leaves,
                        std::vector<uint64_t>* nodes, int budget) {
  if (budget < 0) return Status::Corruption("extent tree deeper than allowed");
  if (n.depth == 0) {
    if (leaves) leaves->insert(leaves->end(), n.entries.begin(), n.entries.end());
    return Status::OK();
  }
  for (const Extent& e : n.entries) {
    if (nodes) nodes->push_back(e.physical);
    COHORT_ASSIGN_OR_RETURN(ExtentNode child, ReadNode(e.physical));
    if (child.depth + 1 != n.depth) return Status::Corruption("extent node depth mismatch");
    COHORT_RETURN_IF_ERROR(Collect(child, leaves, nodes, budget - 1));
  }
  return Status::OK();
}

Result<std::vector<Extent>> FileMap::AllExtents(const Inode& ino) {
  std::vector<Extent> out;
  if (ino.content_kind != ContentKind::kExtents && ino.content_kind != ContentKind::kHashedDir) {
    return out;
  }
  COHORT_ASSIGN_OR_RETURN(ExtentNode root, ino.ExtentRoot(ms_->block_size(), ms_->block_count()));
  COHORT_RETURN_IF_ERROR(Collect(root, &out, nullptr, kMaxExtentDepth));
  return out;
}

Result<std::vector<uint64_t>> FileMap::NodeBlocks(const Inode& ino) {
  std::vector<uint64_t> out;
  if (ino.content_kind != ContentKind::kExtents && ino.content_kind != ContentKind::kHashedDir) {
    return out;
  }
  COHORT_ASSIGN_OR_RETURN(ExtentNode root, ino.ExtentRoot(ms_->block_size(), ms_->block_count()));
  COHORT_RETURN_IF_ERROR(Collect(root, nullptr, &out, kMaxExtentDepth));
  return out;
}

Status FileMap::Insert(Inode* ino, Reservation& r, MetaCache::Handle& h, const Extent& e) {
  COHORT_ASSIGN_OR_RETURN(ExtentNode root, ino->ExtentRoot(ms_->block_size(), ms_->block_count()));
  TxnStore store(ms_, owner_, &h, alloc_, &r);
  COHORT_RETURN_IF_ERROR(InsertExtentInTree(&root, e, store));
  ino->SetExtentRoot(root);
  ino->blocks = static_cast<uint64_t>(static_cast<int64_t>(ino->blocks) + store.delta());
  return Status::OK();
}

uint64_t FileMap::BlocksForExtents(uint64_t n) const {
  uint64_t root_cap = ExtentNode::CapacityFor(InodeContentCapacity(ms_->block_size()));
  uint64_t cap = NodeCapacity();
  uint64_t blocks = 0;
  uint64_t level = n;
  while (level > root_cap) {
    level = (level + cap - 1) / cap;
    blocks += level;
  }
  return blocks;
}

Status FileMap::Rebuild(Inode* ino, Reservation& r, MetaCache::Handle& h,
                        const std::vector<Extent>& extents) {
  COHORT_ASSIGN_OR_RETURN(auto old_nodes, NodeBlocks(*ino));
  for (uint64_t b : old_nodes) {
    COHORT_RETURN_IF_ERROR(alloc_->Free(r, h, b, 1));
    ino->blocks -= std::min<uint64_t>(ino->blocks, 1);
  }
  ExtentNode root = Inode::EmptyExtentRoot(ms_->block_size());
  std::vector<Extent> level = extents;
  uint16_t depth = 0;
  const uint16_t cap = NodeCapacity();
  while (level.size() > root.capacity) {
    std::vector<Extent> parents;
    for (size_t i = 0; i < level.size(); i += cap) {
      ExtentNode n;
      n.depth = depth;
      n.capacity = cap;
      n.entries.assign(level.begin() + i, level.begin() + std::min(level.size(), i + cap));
      COHORT_ASSIGN_OR_RETURN(uint64_t nb, alloc_->AllocBlock(r, h, BlockState::kUsed, ino->ino));
      ino->blocks += 1;
      WriteNode(h, nb, n);
      Extent idx;
      idx.logical = n.entries.front().logical;
      idx.physical = nb;
      parents.push_back(idx);
    }
    level = std::move(parents);
    ++depth;
    if (depth > kMaxExtentDepth) return Status::FileTooBig("extent tree too deep");
  }
  root.depth = depth;
  root.entries = std::move(level);
  ino->SetExtentRoot(root);
  return Status::OK();
}

}  // namespace cohort::fs
