// fs/dir_ops.cc: docs/ondisk-format.md §7 (inline and hashed directories).
#include "fs/dir_ops.h"

#include <set>

#include "common/coding.h"

namespace cohort::fs {

std::vector<uint8_t> EncodeDirTableBlock(std::span<const uint64_t> entries, uint64_t blkno,
                                         const BlockContext& ctx) {
  std::vector<uint8_t> b = NewBlock(ctx);
  for (size_t i = 0; i < entries.size(); ++i)
    EncodeFixed64(b.data() + kHeaderSize + 8 * i, entries[i]);
  SealBlock(b, BlockType::kDirTable, blkno, ctx);
  return b;
}

Result<std::vector<uint64_t>> DecodeDirTableBlock(std::span<const uint8_t> block, uint64_t blkno,
                                                  const BlockContext& ctx, uint64_t block_count) {
  COHORT_RETURN_IF_ERROR(CheckBlock(block, BlockType::kDirTable, blkno, ctx));
  std::vector<uint64_t> out(DirTableEntriesPerBlock(ctx.block_size));
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = DecodeFixed64(block.data() + kHeaderSize + 8 * i);
    if (out[i] >= block_count) {
      return Status::Corruption("dir table " + std::to_string(blkno) + ": pointer out of range");
    }
  }
  return out;
}

namespace {

// Counts the blocks allocated and freed for the inode's `blocks` field.
class CountingStore final : public MetaStore {
 public:
  explicit CountingStore(MetaStore& inner) : inner_(inner) {}
  const BlockContext& context() const override { return inner_.context(); }
  uint64_t block_count() const override { return inner_.block_count(); }
  Status Read(uint64_t b, std::vector<uint8_t>* out) override { return inner_.Read(b, out); }
  Status Write(MetaBlock block) override { return inner_.Write(std::move(block)); }
  Result<uint64_t> Allocate(uint64_t goal) override {
    auto r = inner_.Allocate(goal);
    if (r.ok()) ++delta_;
    return r;
  }
  Status Free(uint64_t b) override {
    Status s = inner_.Free(b);
    if (s.ok()) --delta_;
    return s;
  }
  int64_t delta() const { return delta_; }

 private:
  MetaStore& inner_;
  int64_t delta_ = 0;
};

// The hashed-directory state of one operation.
class HashedDir {
 public:
  HashedDir(const Inode& dir, MetaStore& store)
      : dir_(dir),
        store_(store),
        ctx_(store.context()),
        per_block_(DirTableEntriesPerBlock(ctx_.block_size)) {}

  Status LoadRoot() {
    COHORT_ASSIGN_OR_RETURN(root_, dir_.ExtentRoot(ctx_.block_size, store_.block_count()));
    return Status::OK();
  }
  ExtentNode& root() { return root_; }
  uint64_t table_size() const { return uint64_t{1} << dir_.dir_depth; }
  uint64_t table_blocks(uint16_t depth) const {
    return ((uint64_t{1} << depth) + per_block_ - 1) / per_block_;
  }

  Result<uint64_t> TableBlock(uint64_t logical) {
    COHORT_ASSIGN_OR_RETURN(auto phys, LookupExtentInTree(root_, logical, store_));
    if (!phys)
      return Status::Corruption("hashed dir: table block " + std::to_string(logical) +
                                " is a hole");
    return *phys;
  }
  Result<std::vector<uint64_t>> ReadTableBlock(uint64_t logical, uint64_t* phys_out) {
    COHORT_ASSIGN_OR_RETURN(uint64_t phys, TableBlock(logical));
    std::vector<uint8_t> b;
    COHORT_RETURN_IF_ERROR(store_.Read(phys, &b));
    if (phys_out) *phys_out = phys;
    return DecodeDirTableBlock(b, phys, ctx_, store_.block_count());
  }
  // Decodes only the one table entry it needs (the block is still checked whole).
  Result<uint64_t> LeafFor(uint64_t index) {
    COHORT_ASSIGN_OR_RETURN(uint64_t phys, TableBlock(index / per_block_));
    COHORT_RETURN_IF_ERROR(store_.Read(phys, &table_buf_));
    COHORT_RETURN_IF_ERROR(CheckBlock(table_buf_, BlockType::kDirTable, phys, ctx_));
    uint64_t leaf = DecodeFixed64(table_buf_.data() + kHeaderSize + 8 * (index % per_block_));
    if (leaf >= store_.block_count()) {
      return Status::Corruption("dir table " + std::to_string(phys) + ": pointer out of range");
    }
    if (leaf == 0) return Status::Corruption("hashed dir: empty table slot");
    return leaf;
  }
  Result<DirLeaf> ReadLeaf(uint64_t blkno) {
    std::vector<uint8_t> b;
    COHORT_RETURN_IF_ERROR(store_.Read(blkno, &b));
    COHORT_ASSIGN_OR_RETURN(DirLeaf l, DecodeDirLeaf(b, blkno, ctx_));
    if (l.dir_inode != dir_.ino) return Status::Corruption("dir leaf of another directory");
    return l;
  }
  Status WriteLeaf(uint64_t blkno, const DirLeaf& l) {
    return store_.Write({blkno, l.Encode(blkno, ctx_)});
  }
  // Sets table entries [from, from + count) to `leaf`.
  Status SetTable(uint64_t from, uint64_t count, uint64_t leaf) {
    uint64_t i = from;
    while (i < from + count) {
      uint64_t phys = 0;
      COHORT_ASSIGN_OR_RETURN(auto t, ReadTableBlock(i / per_block_, &phys));
      uint64_t block_end = (i / per_block_ + 1) * per_block_;
      for (; i < from + count && i < block_end; ++i) t[i % per_block_] = leaf;
      COHORT_RETURN_IF_ERROR(store_.Write({phys, EncodeDirTableBlock(t, phys, ctx_)}));
    }
    return Status::OK();
  }
  // Doubles the table: entry i of the new table is entry i/2 of the old one.
  Status Double(Inode* dir) {
    const uint64_t old_size = table_size();
    std::vector<uint64_t> old(old_size);
    for (uint64_t k = 0; k < table_blocks(dir->dir_depth); ++k) {
      COHORT_ASSIGN_OR_RETURN(auto t, ReadTableBlock(k, nullptr));
      for (uint64_t s = 0; s < per_block_ && k * per_block_ + s < old_size; ++s) {
        old[k * per_block_ + s] = t[s];
      }
    }
    const uint16_t depth = static_cast<uint16_t>(dir->dir_depth + 1);
    for (uint64_t k = table_blocks(dir->dir_depth); k < table_blocks(depth); ++k) {
      COHORT_ASSIGN_OR_RETURN(uint64_t blk, store_.Allocate(dir->ino));
      COHORT_RETURN_IF_ERROR(InsertExtentInTree(&root_, {k, blk, 1, 0}, store_));
    }
    dir->dir_depth = depth;
    dir_.dir_depth = depth;
    const uint64_t new_size = uint64_t{1} << depth;
    for (uint64_t k = 0; k < table_blocks(depth); ++k) {
      COHORT_ASSIGN_OR_RETURN(uint64_t phys, TableBlock(k));
      std::vector<uint64_t> t(per_block_, 0);
      for (uint64_t s = 0; s < per_block_ && k * per_block_ + s < new_size; ++s) {
        t[s] = old[(k * per_block_ + s) >> 1];
      }
      COHORT_RETURN_IF_ERROR(store_.Write({phys, EncodeDirTableBlock(t, phys, ctx_)}));
    }
    return Status::OK();
  }
  // Splits `leaf` (reached through table index `index`) into two of depth + 1.
  Status Split(uint64_t leaf_blk, DirLeaf* leaf, uint64_t index) {
    const uint16_t ld = leaf->depth;
    const uint16_t d = dir_.dir_depth;
    COHORT_ASSIGN_OR_RETURN(uint64_t new_blk, store_.Allocate(leaf_blk));
    DirLeaf upper;
    upper.depth = static_cast<uint16_t>(ld + 1);
    upper.dir_inode = dir_.ino;
    std::vector<DirEntry> keep;
    for (DirEntry& e : leaf->entries) {
      if ((NameHash(e.name) >> (31 - ld)) & 1) {
        upper.entries.push_back(std::move(e));
      } else {
        keep.push_back(std::move(e));
      }
    }
    leaf->entries = std::move(keep);
    leaf->depth = upper.depth;
    COHORT_RETURN_IF_ERROR(WriteLeaf(leaf_blk, *leaf));
    COHORT_RETURN_IF_ERROR(WriteLeaf(new_blk, upper));
    const uint64_t span = uint64_t{1} << (d - ld);
    const uint64_t start = (index >> (d - ld)) << (d - ld);
    return SetTable(start + span / 2, span / 2, new_blk);
  }

 private:
  Inode dir_;
  MetaStore& store_;
  const BlockContext ctx_;
  const uint64_t per_block_;
  ExtentNode root_;
  std::vector<uint8_t> table_buf_;
};

Status WriteInode(const Inode& dir, MetaStore& store) {
  return store.Write({dir.ino, dir.Encode(store.context())});
}

// Converts an inline directory to a hashed one of depth 0 (one table block, one leaf).
Status ConvertToHashed(Inode* dir, MetaStore& store) {
  const BlockContext& ctx = store.context();
  COHORT_ASSIGN_OR_RETURN(auto entries, DecodeDirEntries(dir->content));
  COHORT_ASSIGN_OR_RETURN(uint64_t table_blk, store.Allocate(dir->ino));
  COHORT_ASSIGN_OR_RETURN(uint64_t leaf_blk, store.Allocate(table_blk));
  DirLeaf leaf;
  leaf.dir_inode = dir->ino;
  leaf.entries = std::move(entries);
  COHORT_RETURN_IF_ERROR(store.Write({leaf_blk, leaf.Encode(leaf_blk, ctx)}));
  std::vector<uint64_t> table = {leaf_blk};
  COHORT_RETURN_IF_ERROR(store.Write({table_blk, EncodeDirTableBlock(table, table_blk, ctx)}));
  ExtentNode root = Inode::EmptyExtentRoot(ctx.block_size);
  COHORT_RETURN_IF_ERROR(InsertExtent(&root, {0, table_blk, 1, 0}));
  dir->content_kind = ContentKind::kHashedDir;
  dir->dir_depth = 0;
  dir->SetExtentRoot(root);
  return Status::OK();
}

Status HashedInsert(Inode* dir, const DirEntry& e, MetaStore& store) {
  HashedDir h(*dir, store);
  COHORT_RETURN_IF_ERROR(h.LoadRoot());
  const uint32_t hash = NameHash(e.name);
  const uint32_t bs = store.context().block_size;
  bool inserted = false;
  for (int guard = 0; guard < 4 * kMaxDirDepth + 8 && !inserted; ++guard) {
    const uint64_t index = HashTableIndex(hash, dir->dir_depth);
    COHORT_ASSIGN_OR_RETURN(uint64_t leaf_blk, h.LeafFor(index));
    COHORT_ASSIGN_OR_RETURN(DirLeaf leaf, h.ReadLeaf(leaf_blk));
    // The name may sit anywhere in the chain.
    for (DirLeaf l = leaf;;) {
      if (l.Lookup(e.name)) return Status::Exists(e.name);
      if (l.next == 0) break;
      COHORT_ASSIGN_OR_RETURN(l, h.ReadLeaf(l.next));
    }
    Status s = leaf.Insert(e, bs);
    if (s.ok()) {
      COHORT_RETURN_IF_ERROR(h.WriteLeaf(leaf_blk, leaf));
      inserted = true;
      break;
    }
    if (!s.Is(Code::kNoSpace)) return s;
    if (leaf.depth < dir->dir_depth) {
      COHORT_RETURN_IF_ERROR(h.Split(leaf_blk, &leaf, index));
      continue;
    }
    if (dir->dir_depth < kMaxDirDepth) {
      COHORT_RETURN_IF_ERROR(h.Double(dir));
      continue;
    }
    // Table at its maximum: the first chained leaf with room, or a new one (§7.2 next).
    uint64_t blk = leaf_blk;
    DirLeaf l = std::move(leaf);
    while (l.next != 0) {
      blk = l.next;
      COHORT_ASSIGN_OR_RETURN(l, h.ReadLeaf(blk));
      if (l.Insert(e, bs).ok()) {
        COHORT_RETURN_IF_ERROR(h.WriteLeaf(blk, l));
        inserted = true;
        break;
      }
    }
    if (inserted) break;
    COHORT_ASSIGN_OR_RETURN(uint64_t nb, store.Allocate(blk));
    DirLeaf overflow;
    overflow.depth = l.depth;
    overflow.dir_inode = dir->ino;
    COHORT_RETURN_IF_ERROR(overflow.Insert(e, bs));
    l.next = nb;
    COHORT_RETURN_IF_ERROR(h.WriteLeaf(nb, overflow));
    COHORT_RETURN_IF_ERROR(h.WriteLeaf(blk, l));
    inserted = true;
  }
  if (!inserted) return Status::Internal("hashed dir insert did not converge");
  dir->SetExtentRoot(h.root());
  return Status::OK();
}

}  // namespace

Result<DirEntry> DirLookup(const Inode& dir, std::string_view name, MetaStore& store) {
  if (dir.content_kind == ContentKind::kInlineDir) return InlineDirLookup(dir.content, name);
  if (dir.content_kind != ContentKind::kHashedDir) return Status::NotDir("not a directory");
  HashedDir h(dir, store);
  COHORT_RETURN_IF_ERROR(h.LoadRoot());
  COHORT_ASSIGN_OR_RETURN(uint64_t blk, h.LeafFor(HashTableIndex(NameHash(name), dir.dir_depth)));
  for (int guard = 0; blk != 0 && guard < 1 << 20; ++guard) {
    COHORT_ASSIGN_OR_RETURN(DirLeaf l, h.ReadLeaf(blk));
    if (auto e = l.Lookup(name)) return *e;
    blk = l.next;
  }
  return Status::NotFound(std::string(name));
}

Status DirInsert(Inode* dir, const DirEntry& e, MetaStore& store) {
  COHORT_RETURN_IF_ERROR(ValidateName(e.name));
  if (e.inode == 0 || e.inode >= store.block_count()) {
    return Status::InvalidArgument("entry points outside the filesystem");
  }
  CountingStore counting(store);
  if (dir->content_kind == ContentKind::kInlineDir) {
    Status s = InlineDirInsert(&dir->content, InodeContentCapacity(store.context().block_size), e);
    if (s.ok()) {
      ++dir->dir_entries;
      dir->size = dir->content.size();
      return WriteInode(*dir, store);
    }
    if (!s.Is(Code::kNoSpace)) return s;
    COHORT_RETURN_IF_ERROR(ConvertToHashed(dir, counting));
  } else if (dir->content_kind != ContentKind::kHashedDir) {
    return Status::NotDir("not a directory");
  }
  COHORT_RETURN_IF_ERROR(HashedInsert(dir, e, counting));
  ++dir->dir_entries;
  dir->blocks = static_cast<uint64_t>(static_cast<int64_t>(dir->blocks) + counting.delta());
  dir->size =
      uint64_t{store.context().block_size} *
      ((uint64_t{1} << dir->dir_depth) + DirTableEntriesPerBlock(store.context().block_size) - 1) /
      DirTableEntriesPerBlock(store.context().block_size);
  return WriteInode(*dir, store);
}

Status DirRemove(Inode* dir, std::string_view name, MetaStore& store) {
  if (dir->content_kind == ContentKind::kInlineDir) {
    COHORT_RETURN_IF_ERROR(InlineDirRemove(&dir->content, name));
    --dir->dir_entries;
    dir->size = dir->content.size();
    return WriteInode(*dir, store);
  }
  if (dir->content_kind != ContentKind::kHashedDir) return Status::NotDir("not a directory");
  HashedDir h(*dir, store);
  COHORT_RETURN_IF_ERROR(h.LoadRoot());
  COHORT_ASSIGN_OR_RETURN(uint64_t blk, h.LeafFor(HashTableIndex(NameHash(name), dir->dir_depth)));
  // Each leaf of the chain is edited in place (DirLeafRemoveInPlace): no decode of every
  // entry and no re-encode per removal.
  std::vector<uint8_t> b;
  for (int guard = 0; blk != 0 && guard < 1 << 20; ++guard) {
    COHORT_RETURN_IF_ERROR(store.Read(blk, &b));
    uint64_t next = 0;
    Status s = DirLeafRemoveInPlace(b, blk, store.context(), dir->ino, name, &next);
    if (s.ok()) {
      COHORT_RETURN_IF_ERROR(store.Write({blk, std::move(b)}));
      --dir->dir_entries;
      return WriteInode(*dir, store);
    }
    if (!s.Is(Code::kNotFound)) return s;
    blk = next;
  }
  return Status::NotFound(std::string(name));
}

Result<std::vector<DirEntry>> DirList(const Inode& dir, MetaStore& store) {
  if (dir.content_kind == ContentKind::kInlineDir) return DecodeDirEntries(dir.content);
  if (dir.content_kind != ContentKind::kHashedDir) return Status::NotDir("not a directory");
  HashedDir h(dir, store);
  COHORT_RETURN_IF_ERROR(h.LoadRoot());
  std::vector<DirEntry> out;
  std::set<uint64_t> seen;
  for (uint64_t i = 0; i < h.table_size(); ++i) {
    COHORT_ASSIGN_OR_RETURN(uint64_t blk, h.LeafFor(i));
    while (blk != 0 && seen.insert(blk).second) {
      COHORT_ASSIGN_OR_RETURN(DirLeaf l, h.ReadLeaf(blk));
      for (auto& e : l.entries) out.push_back(std::move(e));
      blk = l.next;
    }
  }
  if (out.size() != dir.dir_entries) {
    return Status::Corruption("directory " + std::to_string(dir.ino) + ": " +
                              std::to_string(out.size()) + " entries, inode says " +
                              std::to_string(dir.dir_entries));
  }
  return out;
}

}  // namespace cohort::fs
