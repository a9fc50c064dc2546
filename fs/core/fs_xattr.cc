// fs/core/fs_xattr.cc: extended attributes (docs/ondisk-format.md §6.5, xattr block).
//
// An inode's attributes live in one xattr block (type kXattr) named by the inode's
// xattr_blkno; all of them together are limited to what fits in it (~4 KiB), as ext4's
// in-block attributes are. Supported namespaces: user. (regular files and directories
// only, as Linux), trusted. (root only), security., and the POSIX ACLs
// system.posix_acl_access / system.posix_acl_default (the kernel checks ACLs with
// default_permissions; we store them).
#include <algorithm>
#include <cstring>
#include <map>

#include "common/coding.h"
#include "fs/core/filesystem.h"
#include "fs/core/filesystem_internal.h"

namespace cohort::fs {
namespace {

constexpr int kXattrCreate = 1;
constexpr int kXattrReplace = 2;
constexpr size_t kXattrBodyOffset = kHeaderSize + 8;  // header, u32 count, u32 used

Status CheckXattrName(std::string_view name) {
  if (name.empty() || name.size() > 255) return Status(Code::kOutOfRange, "xattr name length");
  static constexpr std::string_view kPrefixes[] = {"user.", "trusted.", "security."};
  for (auto p : kPrefixes) {
    if (name.size() > p.size() && name.substr(0, p.size()) == p) return Status::OK();
  }
  if (name == "system.posix_acl_access" || name == "system.posix_acl_default") {
    return Status::OK();
  }
  return Status::NotSupported("xattr namespace of '" + std::string(name) + "'");
}

}  // namespace

struct FileSystem::XattrSet {
  std::map<std::string, std::vector<uint8_t>> attrs;
  size_t EncodedSize() const {
    size_t n = kXattrBodyOffset;
    for (auto& [k, v] : attrs) n += 3 + k.size() + v.size();
    return n;
  }
};

Result<FileSystem::XattrSet> FileSystem::LoadXattrs(CachedInode* ci) {
  XattrSet set;
  uint64_t blk = ci->disk.xattr_blkno;
  if (blk == 0) return set;
  COHORT_ASSIGN_OR_RETURN(auto block, ms_->Read(blk, OwnerOf(ci)));
  COHORT_RETURN_IF_ERROR(CheckBlock(block, BlockType::kXattr, blk, ctx_));
  uint32_t count = DecodeFixed32(block.data() + kHeaderSize);
  uint32_t used = DecodeFixed32(block.data() + kHeaderSize + 4);
  if (used > block.size() - kXattrBodyOffset) return Status::Corruption("xattr block: used");
  Reader r(block.data() + kXattrBodyOffset, used);
  for (uint32_t i = 0; i < count; ++i) {
    uint8_t name_len = 0;
    uint16_t value_len = 0;
    COHORT_RETURN_IF_ERROR(r.U8(&name_len));
    COHORT_RETURN_IF_ERROR(r.U16(&value_len));
    std::span<const uint8_t> name, value;
    COHORT_RETURN_IF_ERROR(r.Bytes(name_len, &name));
    COHORT_RETURN_IF_ERROR(r.Bytes(value_len, &value));
    set.attrs[std::string(name.begin(), name.end())] =
        std::vector<uint8_t>(value.begin(), value.end());
  }
  if (!r.ExpectEnd().ok() || set.attrs.size() != count) {
    return Status::Corruption("xattr block of inode " + std::to_string(ci->ino));
  }
  return set;
}

Status FileSystem::StoreXattrs(CachedInode* ci, const XattrSet& set) {
  Inode& d = ci->disk;
  if (set.attrs.empty()) {
    if (d.xattr_blkno == 0) return Status::OK();
    uint64_t blk = d.xattr_blkno;
    Reservation r;
    COHORT_RETURN_IF_ERROR(alloc_->LockGroupsOf(&r, {blk}));
    COHORT_ASSIGN_OR_RETURN(auto h, ms_->Begin(8 + 2 * r.groups.size()));
    COHORT_RETURN_IF_ERROR(alloc_->Free(r, *h, blk, 1));
    d.xattr_blkno = 0;
    d.blocks -= std::min<uint64_t>(d.blocks, 1);
    d.ctime_ns = Now();
    Store(*h, ci);
    return Status::OK();
  }
  if (set.EncodedSize() > ctx_.block_size) return Status::NoSpace("extended attributes full");
  Reservation r;
  if (d.xattr_blkno == 0) COHORT_RETURN_IF_ERROR(alloc_->Reserve(&r, 1, ci->ino));
  COHORT_ASSIGN_OR_RETURN(auto h, ms_->Begin(8 + 2 * r.groups.size()));
  if (d.xattr_blkno == 0) {
    COHORT_ASSIGN_OR_RETURN(d.xattr_blkno, alloc_->AllocBlock(r, *h, BlockState::kUsed, ci->ino));
    d.blocks += 1;
  }
  std::vector<uint8_t> block = NewBlock(ctx_);
  size_t pos = kXattrBodyOffset;
  for (auto& [k, v] : set.attrs) {
    block[pos] = static_cast<uint8_t>(k.size());
    EncodeFixed16(block.data() + pos + 1, static_cast<uint16_t>(v.size()));
    std::memcpy(block.data() + pos + 3, k.data(), k.size());
    if (!v.empty()) std::memcpy(block.data() + pos + 3 + k.size(), v.data(), v.size());
    pos += 3 + k.size() + v.size();
  }
  EncodeFixed32(block.data() + kHeaderSize, static_cast<uint32_t>(set.attrs.size()));
  EncodeFixed32(block.data() + kHeaderSize + 4, static_cast<uint32_t>(pos - kXattrBodyOffset));
  SealBlock(block, BlockType::kXattr, d.xattr_blkno, ctx_);
  h->Put(d.xattr_blkno, std::move(block), OwnerOf(ci));
  d.ctime_ns = Now();
  Store(*h, ci);
  return Status::OK();
}

Status FileSystem::SetXattr(const OpContext& c, uint64_t ino, std::string_view name,
                            std::span<const uint8_t> value, int flags) {
  if (read_only_) return Status::ReadOnly();
  COHORT_RETURN_IF_ERROR(CheckXattrName(name));
  if (value.size() > 65535) return Status(Code::kOutOfRange, "xattr value too large");
  InodeRef ci = Get(ino);
  COHORT_ASSIGN_OR_RETURN(GlockHolder h, Hold(ci, HolderMode::kExclusive));
  if (name.substr(0, 5) == "user." && !ci->disk.is_reg() && !ci->disk.is_dir()) {
    return Status::Permission("user. attributes only on files and directories");
  }
  if (name.substr(0, 8) == "trusted." && c.uid != 0) return Status::Permission("trusted.");
  COHORT_ASSIGN_OR_RETURN(XattrSet set, LoadXattrs(ci));
  auto it = set.attrs.find(std::string(name));
  if ((flags & kXattrCreate) && it != set.attrs.end()) return Status::Exists(std::string(name));
  if ((flags & kXattrReplace) && it == set.attrs.end()) {
    return Status(Code::kNoData, std::string(name));
  }
  set.attrs[std::string(name)] = std::vector<uint8_t>(value.begin(), value.end());
  return StoreXattrs(ci, set);
}

Result<std::vector<uint8_t>> FileSystem::GetXattr(uint64_t ino, std::string_view name) {
  InodeRef ci = Get(ino);
  COHORT_ASSIGN_OR_RETURN(GlockHolder h, Hold(ci, HolderMode::kShared));
  COHORT_ASSIGN_OR_RETURN(XattrSet set, LoadXattrs(ci));
  auto it = set.attrs.find(std::string(name));
  if (it == set.attrs.end()) return Status(Code::kNoData, std::string(name));
  return it->second;
}

Result<std::vector<std::string>> FileSystem::ListXattr(uint64_t ino) {
  InodeRef ci = Get(ino);
  COHORT_ASSIGN_OR_RETURN(GlockHolder h, Hold(ci, HolderMode::kShared));
  COHORT_ASSIGN_OR_RETURN(XattrSet set, LoadXattrs(ci));
  std::vector<std::string> names;
  for (auto& [k, v] : set.attrs) names.push_back(k);
  return names;
}

Status FileSystem::RemoveXattr(const OpContext& c, uint64_t ino, std::string_view name) {
  if (read_only_) return Status::ReadOnly();
  InodeRef ci = Get(ino);
  COHORT_ASSIGN_OR_RETURN(GlockHolder h, Hold(ci, HolderMode::kExclusive));
  if (name.substr(0, 8) == "trusted." && c.uid != 0) return Status::Permission("trusted.");
  COHORT_ASSIGN_OR_RETURN(XattrSet set, LoadXattrs(ci));
  if (set.attrs.erase(std::string(name)) == 0) return Status(Code::kNoData, std::string(name));
  return StoreXattrs(ci, set);
}

}  // namespace cohort::fs
