// fs/core/file_map.h: a file's logical-to-physical block map, the extent tree of
// docs/ondisk-format.md §6.4 operated over the metadata store.
//
// The root node lives in the inode's content area (fs::Inode::ExtentRoot); deeper nodes
// are extent node blocks. Insert() is the format library's top-down B-tree insertion
// (fs/extent.h InsertExtentInTree) inside the operation's transaction; Lookup() adds run
// lengths and exact hole sizes so that a 1 MiB read is one lookup; removals (truncate,
// punch) rebuild the tree from the surviving extents, which keeps it packed.
//
// Thread safety: none of its own. The caller holds the inode's glock (shared for
// Lookup/AllExtents, exclusive for changes) and, for changes, an open transaction handle
// and a reservation covering the blocks that may be allocated or freed.
#pragma once

#include <cstdint>
#include <vector>

#include "common/status.h"
#include "fs/core/allocator.h"
#include "fs/core/meta_cache.h"
#include "fs/extent.h"
#include "fs/inode.h"

namespace cohort::fs {

class FileMap {
 public:
  FileMap(MetaCache* ms, Allocator* alloc, CacheOwner owner)
      : ms_(ms), alloc_(alloc), owner_(owner) {}

  // What logical block `lblk` maps to: `pblk` (0 for a hole), `len` blocks that map
  // contiguously (or stay a hole) from `lblk`, at most `max_len`. Unwritten extents
  // report `unwritten` (they read as zeros).
  struct Mapping {
    uint64_t pblk = 0;
    uint64_t len = 0;
    bool unwritten = false;
  };
  Result<Mapping> Lookup(const Inode& ino, uint64_t lblk, uint64_t max_len);

  // Every leaf extent, sorted by logical block.
  Result<std::vector<Extent>> AllExtents(const Inode& ino);
  // Every extent node block (not the root), for freeing the whole tree.
  Result<std::vector<uint64_t>> NodeBlocks(const Inode& ino);

  // Maps the new run `e` (not overlapping any extent). Updates ino->content and
  // ino->blocks (node blocks); the caller stores the inode. Node blocks come from `r`
  // (reserve kMaxExtentDepth + 2 extra blocks).
  Status Insert(Inode* ino, Reservation& r, MetaCache::Handle& h, const Extent& e);

  // Replaces the whole tree by one holding exactly `extents` (sorted, disjoint): frees
  // the old node blocks (their groups must be in `r`) and allocates new ones.
  Status Rebuild(Inode* ino, Reservation& r, MetaCache::Handle& h,
                 const std::vector<Extent>& extents);

  // Node blocks a Rebuild of `n` extents needs (to size reservations).
  uint64_t BlocksForExtents(uint64_t n) const;

 private:
  Result<ExtentNode> ReadNode(uint64_t blkno);
  void WriteNode(MetaCache::Handle& h, uint64_t blkno, const ExtentNode& n);
  Status Collect(const ExtentNode& n, std::vector<Extent>* leaves, std::vector<uint64_t>* nodes,
                 int budget);
  uint16_t NodeCapacity() const;

  MetaCache* const ms_;
  Allocator* const alloc_;
  const CacheOwner owner_;
};

}  // namespace cohort::fs
