// fs/inode.h: the inode block (docs/ondisk-format.md §6). Inode number = block number;
// small file data, symlink targets and small directories live inline in the block's
// content area (block_size - 192 bytes); larger files and directories use an extent
// tree rooted there (fs/extent.h).
//
// Invariants of a decoded Inode (§6): content.size() <= content capacity; for
// kInlineData and kSymlink content.size() == size; a kInlineDir content parses as
// directory entries; a kExtents or kHashedDir content parses as an extent node; the
// content kind matches the file type.
//
// Thread safety: values.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "fs/directory.h"
#include "fs/extent.h"
#include "fs/format.h"

namespace cohort::fs {

inline constexpr size_t kInodeContentOffset = 192;
inline size_t InodeContentCapacity(uint32_t bs) { return bs - kInodeContentOffset; }

// §6 InodeFlags. DO NOT CHANGE.
inline constexpr uint32_t kInodeOrphan = 1u << 0;

// §6 ContentKind. DO NOT CHANGE.
enum class ContentKind : uint16_t {
  kNone = 0,
  kInlineData = 1,
  kInlineDir = 2,
  kExtents = 3,
  kHashedDir = 4,
  kSymlink = 5,
};
const char* ContentKindName(ContentKind k);

struct Inode {
  uint64_t ino = 0;  // = its block number (not stored separately: the header's blkno)
  uint32_t mode = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t nlink = 0;
  uint64_t size = 0;
  uint64_t blocks = 0;
  int64_t atime_ns = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
  int64_t crtime_ns = 0;
  uint64_t generation = 0;
  uint64_t parent = 0;
  uint64_t orphan_next = 0;
  uint32_t flags = 0;
  ContentKind content_kind = ContentKind::kNone;
  uint16_t dir_depth = 0;
  uint64_t dir_entries = 0;
  uint64_t xattr_blkno = 0;      // the inode's xattr block (§6.5), 0 = none
  uint64_t rdev = 0;             // device number of a character or block special file
  std::vector<uint8_t> content;  // the used bytes of the content area

  bool is_dir() const { return (mode & 0170000) == 0040000; }
  bool is_reg() const { return (mode & 0170000) == 0100000; }
  bool is_symlink() const { return (mode & 0170000) == 0120000; }

  // The extent root of a kExtents / kHashedDir inode in a filesystem of block size
  // `bs` and `block_count` blocks.
  Result<ExtentNode> ExtentRoot(uint32_t bs, uint64_t block_count) const;
  // Stores `root` as the content (kind must already be kExtents or kHashedDir).
  void SetExtentRoot(const ExtentNode& root);
  // An empty extent root sized for this block size.
  static ExtentNode EmptyExtentRoot(uint32_t bs) {
    ExtentNode n;
    n.capacity = ExtentNode::CapacityFor(InodeContentCapacity(bs));
    return n;
  }

  // REQUIRES: content.size() <= InodeContentCapacity(ctx.block_size).
  std::vector<uint8_t> Encode(const BlockContext& ctx) const;
  std::string Describe() const;
  bool operator==(const Inode&) const = default;
};

// Decodes the inode at block `blkno`; `block_count` bounds pointers. Corruption on any
// failed invariant.
Result<Inode> DecodeInode(std::span<const uint8_t> block, uint64_t blkno, const BlockContext& ctx,
                          uint64_t block_count);

}  // namespace cohort::fs
