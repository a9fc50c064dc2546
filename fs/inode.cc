// fs/inode.cc: docs/ondisk-format.md §6.
#include "fs/inode.h"

#include <cstdio>
#include <cstring>

#include "common/coding.h"

namespace cohort::fs {

const char* ContentKindName(ContentKind k) {
  switch (k) {
    case ContentKind::kNone:
      return "none";
    case ContentKind::kInlineData:
      return "inline-data";
    case ContentKind::kInlineDir:
      return "inline-dir";
    case ContentKind::kExtents:
      return "extents";
    case ContentKind::kHashedDir:
      return "hashed-dir";
    case ContentKind::kSymlink:
      return "symlink";
  }
  return "?";
}

namespace {
// Decodes an extent root from `content` as if it filled the whole content area.
Result<ExtentNode> DecodeRoot(std::span<const uint8_t> content, size_t cap, uint64_t block_count) {
  if (content.size() > cap) return Status::Corruption("extent root larger than content area");
  std::vector<uint8_t> area(cap, 0);
  if (!content.empty()) std::memcpy(area.data(), content.data(), content.size());
  COHORT_ASSIGN_OR_RETURN(ExtentNode root, DecodeExtentNode(area, block_count));
  if (root.EncodedSize() != content.size()) {
    return Status::Corruption("extent root length mismatch");
  }
  return root;
}
}  // namespace

Result<ExtentNode> Inode::ExtentRoot(uint32_t bs, uint64_t block_count) const {
  if (content_kind != ContentKind::kExtents && content_kind != ContentKind::kHashedDir) {
    return Status::InvalidArgument("inode has no extent tree");
  }
  return DecodeRoot(content, InodeContentCapacity(bs), block_count);
}

void Inode::SetExtentRoot(const ExtentNode& root) {
  content.assign(root.EncodedSize(), 0);
  root.EncodeInto(content);
}

std::vector<uint8_t> Inode::Encode(const BlockContext& ctx) const {
  std::vector<uint8_t> b = NewBlock(ctx);
  uint8_t* p = b.data();
  EncodeFixed32(p + 32, mode);
  EncodeFixed32(p + 36, uid);
  EncodeFixed32(p + 40, gid);
  EncodeFixed32(p + 44, nlink);
  EncodeFixed64(p + 48, size);
  EncodeFixed64(p + 56, blocks);
  EncodeFixed64(p + 64, static_cast<uint64_t>(atime_ns));
  EncodeFixed64(p + 72, static_cast<uint64_t>(mtime_ns));
  EncodeFixed64(p + 80, static_cast<uint64_t>(ctime_ns));
  EncodeFixed64(p + 88, static_cast<uint64_t>(crtime_ns));
  EncodeFixed64(p + 96, generation);
  EncodeFixed64(p + 104, parent);
  EncodeFixed64(p + 112, orphan_next);
  EncodeFixed32(p + 120, flags);
  EncodeFixed16(p + 124, static_cast<uint16_t>(content_kind));
  EncodeFixed16(p + 126, static_cast<uint16_t>(content.size()));
  EncodeFixed16(p + 128, dir_depth);
  EncodeFixed64(p + 136, dir_entries);
  EncodeFixed64(p + 144, xattr_blkno);
  EncodeFixed64(p + 152, rdev);
  if (!content.empty()) {
    std::memcpy(p + kInodeContentOffset, content.data(),
                std::min(content.size(), InodeContentCapacity(ctx.block_size)));
  }
  SealBlock(b, BlockType::kInode, ino, ctx);
  return b;
}

Result<Inode> DecodeInode(std::span<const uint8_t> block, uint64_t blkno, const BlockContext& ctx,
                          uint64_t block_count) {
  COHORT_RETURN_IF_ERROR(CheckBlock(block, BlockType::kInode, blkno, ctx));
  const uint8_t* p = block.data();
  const std::string what = "inode " + std::to_string(blkno) + ": ";
  Inode n;
  n.ino = blkno;
  n.mode = DecodeFixed32(p + 32);
  n.uid = DecodeFixed32(p + 36);
  n.gid = DecodeFixed32(p + 40);
  n.nlink = DecodeFixed32(p + 44);
  n.size = DecodeFixed64(p + 48);
  n.blocks = DecodeFixed64(p + 56);
  n.atime_ns = static_cast<int64_t>(DecodeFixed64(p + 64));
  n.mtime_ns = static_cast<int64_t>(DecodeFixed64(p + 72));
  n.ctime_ns = static_cast<int64_t>(DecodeFixed64(p + 80));
  n.crtime_ns = static_cast<int64_t>(DecodeFixed64(p + 88));
  n.generation = DecodeFixed64(p + 96);
  n.parent = DecodeFixed64(p + 104);
  n.orphan_next = DecodeFixed64(p + 112);
  n.flags = DecodeFixed32(p + 120);
  uint16_t kind = DecodeFixed16(p + 124);
  uint16_t len = DecodeFixed16(p + 126);
  n.dir_depth = DecodeFixed16(p + 128);
  n.dir_entries = DecodeFixed64(p + 136);
  n.xattr_blkno = DecodeFixed64(p + 144);
  n.rdev = DecodeFixed64(p + 152);
  if ((n.flags & ~kInodeOrphan) != 0) return Status::Corruption(what + "unknown flags");
  if (kind > static_cast<uint16_t>(ContentKind::kSymlink)) {
    return Status::Corruption(what + "unknown content kind");
  }
  n.content_kind = static_cast<ContentKind>(kind);
  const size_t cap = InodeContentCapacity(ctx.block_size);
  if (len > cap) return Status::Corruption(what + "content_len exceeds the block");
  if (n.parent >= block_count || n.orphan_next >= block_count || n.xattr_blkno >= block_count) {
    return Status::Corruption(what + "pointer outside the filesystem");
  }
  if (n.dir_depth > 32) return Status::Corruption(what + "dir_depth > 32");
  if (!AllZeroFrom(block, kInodeContentOffset + len)) {
    return Status::Corruption(what + "garbage after content");
  }
  n.content.assign(p + kInodeContentOffset, p + kInodeContentOffset + len);
  const bool dir = n.is_dir();
  switch (n.content_kind) {
    case ContentKind::kNone:
      if (len != 0 || dir) return Status::Corruption(what + "kind none with content");
      break;
    case ContentKind::kInlineData:
    case ContentKind::kSymlink:
      if (len != n.size) return Status::Corruption(what + "inline size mismatch");
      if (dir || (n.content_kind == ContentKind::kSymlink) != n.is_symlink()) {
        return Status::Corruption(what + "content kind does not match the file type");
      }
      break;
    case ContentKind::kInlineDir: {
      if (!dir) return Status::Corruption(what + "inline dir on a non-directory");
      auto entries = DecodeDirEntries(n.content);
      if (!entries.ok()) return Status::Corruption(what + std::string(entries.status().message()));
      if (entries->size() != n.dir_entries) return Status::Corruption(what + "entry count");
      break;
    }
    case ContentKind::kExtents:
    case ContentKind::kHashedDir: {
      if ((n.content_kind == ContentKind::kHashedDir) != dir) {
        return Status::Corruption(what + "content kind does not match the file type");
      }
      // The root occupies the whole content area for capacity purposes.
      auto root = DecodeRoot(n.content, cap, block_count);
      if (!root.ok()) return Status::Corruption(what + std::string(root.status().message()));
      break;
    }
  }
  return n;
}

std::string Inode::Describe() const {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "inode %llu mode 0%o uid %u gid %u nlink %u size %llu blocks %llu\n"
                "  generation %llu parent %llu orphan_next %llu flags 0x%x\n",
                static_cast<unsigned long long>(ino), mode, uid, gid, nlink,
                static_cast<unsigned long long>(size), static_cast<unsigned long long>(blocks),
                static_cast<unsigned long long>(generation),
                static_cast<unsigned long long>(parent),
                static_cast<unsigned long long>(orphan_next), flags);
  std::string o = buf;
  o += "  atime_ns " + std::to_string(atime_ns) + " mtime_ns " + std::to_string(mtime_ns) +
       " ctime_ns " + std::to_string(ctime_ns) + " crtime_ns " + std::to_string(crtime_ns) + "\n";
  o += "  content " + std::string(ContentKindName(content_kind)) + " (" +
       std::to_string(content.size()) + " bytes)";
  if (is_dir())
    o += " entries " + std::to_string(dir_entries) + " dir_depth " + std::to_string(dir_depth);
  o += "\n";
  if (content_kind == ContentKind::kInlineDir) {
    auto entries = DecodeDirEntries(content);
    if (entries.ok()) {
      for (const DirEntry& e : *entries) {
        o += "    " + e.name + " -> " + std::to_string(e.inode) + " type " +
             std::to_string(static_cast<int>(e.type)) + "\n";
      }
    }
  } else if (content_kind == ContentKind::kSymlink) {
    o += "    target " + std::string(content.begin(), content.end()) + "\n";
  } else if (content_kind == ContentKind::kExtents || content_kind == ContentKind::kHashedDir) {
    auto root = DecodeRoot(content, InodeContentCapacity(kMaxBlockSize), UINT64_MAX);
    if (root.ok()) o += "  " + DescribeExtentNode(*root);
  }
  return o;
}

}  // namespace cohort::fs
