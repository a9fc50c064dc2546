// fs/core/fs_xattr.cc: extended attributes (docs/ondisk-format.md §6.5, xattr block).
//
// An inode's attributes live in one xattr block (type kXattr) named by the inode's
// xattr_blkno; all of them together are limited to what fits in it (~4 KiB), as ext4's
// in-block attributes are. Supported namespaces: user. (regular files and directories
// only, as Linux), trusted. (root only), security., and the POSIX ACLs
// system.posix_acl_access / system.posix_acl_default. ACLs are validated, kept in step
// with the mode bits and inherited from a directory's default ACL (docs/filesystem.md
// §10); the kernel enforces them (FUSE_CAP_POSIX_ACL).
#include <algorithm>
#include <cstring>
#include <map>

#include "common/coding.h"
#include "fs/core/acl.h"
#include "fs/xattr_block.h"
#include "fs/core/filesystem.h"
#include "fs/core/filesystem_internal.h"

namespace cohort::fs {
namespace {

constexpr int kXattrCreate = 1;
constexpr int kXattrReplace = 2;
constexpr std::string_view kCapabilityName = "security.capability";

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
  XattrMap attrs;
};

Result<FileSystem::XattrSet> FileSystem::LoadXattrs(CachedInode* ci) {
  XattrSet set;
  uint64_t blk = ci->disk.xattr_blkno;
  if (blk == 0) return set;
  COHORT_ASSIGN_OR_RETURN(auto block, ms_->Read(blk, OwnerOf(ci)));
  COHORT_ASSIGN_OR_RETURN(set.attrs, DecodeXattrBlock(block, blk, ctx_));
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
  if (XattrBlockBytes(set.attrs) > ctx_.block_size) return Status::NoSpace("extended attributes full");
  Reservation r;
  if (d.xattr_blkno == 0) COHORT_RETURN_IF_ERROR(alloc_->Reserve(&r, 1, ci->ino));
  COHORT_ASSIGN_OR_RETURN(auto h, ms_->Begin(8 + 2 * r.groups.size()));
  return WriteXattrs(*h, r, ci, set.attrs);
}

Status FileSystem::WriteXattrs(MetaCache::Handle& h, Reservation& r, CachedInode* ci,
                               const XattrMap& attrs) {
  Inode& d = ci->disk;
  if (XattrBlockBytes(attrs) > ctx_.block_size) return Status::NoSpace("extended attributes full");
  if (d.xattr_blkno == 0) {
    COHORT_ASSIGN_OR_RETURN(d.xattr_blkno, alloc_->AllocBlock(r, h, BlockState::kUsed, ci->ino));
    d.blocks += 1;
  }
  std::vector<uint8_t> block = EncodeXattrBlock(attrs, d.xattr_blkno, ctx_);
  h.Put(d.xattr_blkno, std::move(block), OwnerOf(ci));
  d.ctime_ns = Now();
  Store(h, ci);
  return Status::OK();
}

Result<bool> FileSystem::InheritAcls(CachedInode* pci, bool is_dir, uint32_t* mode,
                                     XattrMap* attrs) {
  if (pci->disk.xattr_blkno == 0) return false;
  COHORT_ASSIGN_OR_RETURN(XattrSet pset, LoadXattrs(pci));
  auto it = pset.attrs.find(acl::kDefaultName);
  if (it == pset.attrs.end()) return false;
  COHORT_ASSIGN_OR_RETURN(acl::Acl def, acl::Decode(it->second));
  if (def.empty()) return false;
  if (is_dir) (*attrs)[acl::kDefaultName] = it->second;
  acl::Acl access = def;
  *mode = acl::MaskForCreate(&access, *mode);
  if (!access.IsMinimal()) (*attrs)[acl::kAccessName] = acl::Encode(access);
  return true;
}

Result<std::optional<acl::Acl>> FileSystem::AccessAcl(CachedInode* ci) {
  if (ci->disk.xattr_blkno == 0) return std::optional<acl::Acl>();
  COHORT_ASSIGN_OR_RETURN(XattrSet set, LoadXattrs(ci));
  auto it = set.attrs.find(acl::kAccessName);
  if (it == set.attrs.end()) return std::optional<acl::Acl>();
  COHORT_ASSIGN_OR_RETURN(acl::Acl a, acl::Decode(it->second));
  return std::optional<acl::Acl>(std::move(a));
}

Status FileSystem::ChmodAcl(MetaCache::Handle& h, CachedInode* ci) {
  if (ci->disk.xattr_blkno == 0) return Status::OK();
  COHORT_ASSIGN_OR_RETURN(XattrSet set, LoadXattrs(ci));
  auto it = set.attrs.find(acl::kAccessName);
  if (it == set.attrs.end()) return Status::OK();
  COHORT_ASSIGN_OR_RETURN(acl::Acl a, acl::Decode(it->second));
  acl::ApplyMode(&a, ci->disk.mode);
  it->second = acl::Encode(a);
  Reservation none;  // the block exists: nothing to allocate
  return WriteXattrs(h, none, ci, set.attrs);
}

Status FileSystem::KillPrivs(MetaCache::Handle& h, CachedInode* ci) {
  // What Linux's VFS clears on write, truncate and chown (file_remove_privs,
  // setattr_should_drop_suidgid) and fuse_kernel.h's FUSE_HANDLE_KILLPRIV_V2 leaves to
  // the filesystem: set-user-ID always, set-group-ID only when group-executable (without
  // group execute it marks mandatory locking, not privilege), and file capabilities.
  Inode& d = ci->disk;
  d.mode &= ~uint32_t{S_ISUID};
  if ((d.mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP)) d.mode &= ~uint32_t{S_ISGID};
  if (d.xattr_blkno != 0) {
    COHORT_ASSIGN_OR_RETURN(XattrSet set, LoadXattrs(ci));
    if (set.attrs.erase(std::string(kCapabilityName)) != 0) {
      Reservation none;  // the block exists: nothing to allocate
      return WriteXattrs(h, none, ci, set.attrs);
    }
  }
  Store(h, ci);
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
  if (name == acl::kAccessName || name == acl::kDefaultName) {
    // As Linux's set_posix_acl: only the owner (or root) sets an ACL; a default ACL
    // only on a directory; an access ACL decides the mode's permission bits, and one
    // that says no more than the mode bits is not stored.
    Inode& d = ci->disk;
    if (c.uid != 0 && c.uid != d.uid) return Status::Permission("only the owner sets an ACL");
    COHORT_ASSIGN_OR_RETURN(acl::Acl a, acl::Decode(value));
    if (name == acl::kDefaultName) {
      if (!d.is_dir()) return a.empty() ? Status::OK() : Status::Access();
      if (a.empty()) {
        set.attrs.erase(std::string(name));
      } else {
        set.attrs[std::string(name)] = acl::Encode(a);
      }
      return StoreXattrs(ci, set);
    }
    const uint32_t old_mode = d.mode;
    const int64_t old_ctime = d.ctime_ns;
    if (!a.empty()) {
      d.mode = (d.mode & ~0777u) | acl::ModeBits(a);
      if (c.uid != 0 && c.gid != d.gid) d.mode &= ~uint32_t{S_ISGID};
    }
    if (a.empty() || a.IsMinimal()) {
      set.attrs.erase(std::string(name));
    } else {
      set.attrs[std::string(name)] = acl::Encode(a);
    }
    d.ctime_ns = Now();
    Status s;
    if (set.attrs.empty() && d.xattr_blkno == 0) {  // nothing to store: only the mode
      auto th = ms_->Begin(2);
      if (th.ok()) Store(**th, ci);
      s = th.status();
    } else {
      s = StoreXattrs(ci, set);
    }
    if (!s.ok()) {  // nothing was stored: the cached inode must not keep the new mode
      d.mode = old_mode;
      d.ctime_ns = old_ctime;
    }
    return s;
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
