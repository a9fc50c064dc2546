// fs/core/fs_namespace.cc: namespace operations of FileSystem (lookup, create, remove,
// rename, link, open/release, readdir, attributes). Lock order: docs/locking.md §2.2.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "common/logging.h"
#include "fs/core/filesystem.h"
#include "fs/core/filesystem_internal.h"

namespace cohort::fs {
namespace {

constexpr uint32_t kMaxLinks = 65000;
constexpr unsigned kRenameNoReplace = 1;
constexpr unsigned kRenameExchange = 2;

uint32_t DtOf(DirentType t) {
  switch (t) {
    case DirentType::kFile: return DT_REG;
    case DirentType::kDir: return DT_DIR;
    case DirentType::kSymlink: return DT_LNK;
    case DirentType::kChr: return DT_CHR;
    case DirentType::kBlk: return DT_BLK;
    case DirentType::kFifo: return DT_FIFO;
    case DirentType::kSock: return DT_SOCK;
    default: return DT_UNKNOWN;
  }
}

Status CheckName(std::string_view name) {
  if (name.size() > kMaxNameLen) return Status::NameTooLong(std::string(name.substr(0, 32)) + "...");
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string_view::npos ||
      name.find('\0') != std::string_view::npos) {
    return Status::InvalidArgument("invalid name");
  }
  return Status::OK();
}

}  // namespace

// ------------------------------------------------------------------------------ lookup

Result<FileSystem::InodeRef> FileSystem::LockChild(CachedInode* pci, std::string_view name,
                                                   HolderMode mode,
                                                   std::vector<GlockHolder>* holders) {
  for (int attempt = 0; attempt < 8; ++attempt) {
    uint64_t child;
    std::vector<uint64_t> near;
    {
      COHORT_ASSIGN_OR_RETURN(GlockHolder ph, Hold(pci, HolderMode::kShared));
      if (!pci->disk.is_dir()) return Status::NotDir();
      Directory dir = DirOf(pci);
      COHORT_ASSIGN_OR_RETURN(auto e, dir.Lookup(pci->disk, name));
      if (!e) return Status::NotFound(std::string(name));
      child = e->inode;
      // A cold inode: the inodes allocated after it (its siblings, files created with
      // it) are likely next (ls -l, a walk of the tree); read them with it.
      if (!ms_->Cached(child)) {
        for (uint64_t b = child; b < child + kInodeReadahead && b < sb_.block_count; ++b) {
          near.push_back(b);
        }
      }
    }
    if (near.size() > 1) ReadAheadInodes(near);
    // Both holders, in lock order, then check the name still names the child.
    InodeRef cci = Get(child);
    COHORT_ASSIGN_OR_RETURN(*holders,
                            glocks_->AcquireMany({{pci->gl, mode}, {cci->gl, mode}}));
    COHORT_RETURN_IF_ERROR(Load(pci));
    COHORT_ASSIGN_OR_RETURN(auto e, DirOf(pci).Lookup(pci->disk, name));
    if (!e) return Status::NotFound(std::string(name));
    if (e->inode != child) {  // renamed meanwhile: look again
      holders->clear();
      continue;
    }
    Status s = Load(cci);
    if (s.Is(Code::kStale)) return Status::Corruption("directory entry names a freed inode");
    COHORT_RETURN_IF_ERROR(s);
    return cci;
  }
  return Status::Busy("kept racing with renames");
}

void FileSystem::ReadAheadInodes(const std::vector<uint64_t>& inos) {
  // Lock first, then read: a block is cached only under its inode glock, held (PR) when
  // it is read, as Load() does (docs/locking.md §2.3). Try-locks only (no holder is held
  // here, and another node's lock just means that block is not read ahead). One device
  // read covers the run; only blocks that are inodes are kept, the glocks of the others
  // are released once idle. Best effort: any failure leaves the normal path to read the
  // block.
  std::vector<GlockHolder> held;
  for (uint64_t b : inos) {
    if (b == 0 || b >= sb_.block_count || ms_->Cached(b)) continue;
    auto h = glocks_->Acquire(GlockType::kInode, b, HolderMode::kShared, /*try_only=*/true);
    if (h.ok()) held.push_back(std::move(*h));
  }
  if (held.size() < 2) return;
  const uint32_t bs = ctx_.block_size;
  uint64_t first = held.front().glock()->number(), last = held.back().glock()->number();
  AlignedBuffer buf((last - first + 1) * bs);
  if (!dev_->ReadAt(first * bs, buf.span()).ok()) return;
  std::vector<Glock*> wrong;
  for (const GlockHolder& h : held) {
    uint64_t b = h.glock()->number();
    std::span<const uint8_t> block(buf.data() + (b - first) * bs, bs);
    auto hdr = PeekHeader(block);
    if (!hdr.ok() || hdr->magic != kMetaMagic ||
        hdr->type != static_cast<uint16_t>(BlockType::kInode)) {
      wrong.push_back(h.glock());
      continue;
    }
    ms_->Prime(b, block, reinterpret_cast<CacheOwner>(h.glock()));
  }
  // Not inodes: those locks were wrong guesses; give them up (after our holders are
  // gone), so that they do not stand in the way of a node that makes a block an inode.
  held.clear();
  for (Glock* gl : wrong) glocks_->ReleaseWhenIdle(gl);
}

Status FileSystem::FreeIfUnused(CachedInode* ci) {
  // Free now unless it is open here or on another node (the open glock tells); else it
  // stays on the orphan list until the last close, or until the owner's orphan pass
  // (docs/filesystem.md §7). Only the node whose orphan list holds the inode frees it;
  // any other node gives up its open glock at once, so that the owner's EX try-lock
  // succeeds.
  {
    MutexLock l(&table_mu_);
    if (ci->nopen > 0) return Status::OK();
  }
  if (ci->disk.flags & kInodeOrphan) {
    COHORT_ASSIGN_OR_RETURN(bool own, OnOwnOrphanList(ci->ino));
    if (!own) {
      glocks_->ReleaseWhenIdle(ci->open_gl);
      return Status::OK();
    }
  }
  auto oh = glocks_->Acquire(ci->open_gl, HolderMode::kExclusive, /*try_only=*/true);
  if (oh.ok()) {
    Status s = FreeInode(ci);
    // Its orphan-list predecessor is busy: the orphan pass frees it (filesystem.md §7).
    return s.Is(Code::kWouldBlock) ? Status::OK() : s;
  }
  if (oh.code() != Code::kWouldBlock) return oh.status();
  glocks_->ReleaseWhenIdle(ci->open_gl);
  return Status::OK();
}

Result<EntryInfo> FileSystem::Lookup(const OpContext& c, uint64_t parent,
                                     std::string_view name) {
  COHORT_RETURN_IF_ERROR(CheckName(name));
  std::vector<GlockHolder> holders;
  InodeRef pci = Get(parent);
  COHORT_ASSIGN_OR_RETURN(InodeRef cci, LockChild(pci, name, HolderMode::kShared, &holders));
  EntryInfo e = EntryOf(cci);
  e.cache_entry = HandOut(parent, name);
  return e;
}

Result<struct stat> FileSystem::GetAttr(uint64_t ino) {
  InodeRef ci = Get(ino);
  COHORT_ASSIGN_OR_RETURN(GlockHolder h, Hold(ci, HolderMode::kShared));
  return StatOf(ci->disk);
}

Result<struct stat> FileSystem::SetAttr(const OpContext& c, uint64_t ino,
                                        const SetAttrRequest& r) {
  if (read_only_) return Status::ReadOnly();
  InodeRef ci = Get(ino);
  COHORT_ASSIGN_OR_RETURN(GlockHolder h, Hold(ci, HolderMode::kExclusive));
  Inode& d = ci->disk;
  if (r.size) {
    if (d.is_dir()) return Status::IsDir();
    if (!d.is_reg()) return Status::InvalidArgument("size of a special file");
    COHORT_RETURN_IF_ERROR(Truncate(ci, *r.size));
  }
  int64_t now = Now();
  // A chown of anything but a directory clears set-user-ID, set-group-ID (when
  // group-executable) and capabilities, as Linux's chown_common does for every caller;
  // a truncate does when the kernel asks (no CAP_FSETID). Under
  // FUSE_HANDLE_KILLPRIV_V2 the kernel leaves both to us (docs/filesystem.md §8.1); a
  // request that also sets the mode explicitly keeps that mode.
  const bool chown = (r.uid || r.gid) && !r.mode;
  const bool kill = !d.is_dir() && (chown || c.kill_suidgid);
  if (r.mode) d.mode = (d.mode & S_IFMT) | (*r.mode & 07777);
  if (r.uid) d.uid = *r.uid;
  if (r.gid) d.gid = *r.gid;
  if (r.atime_ns) d.atime_ns = *r.atime_ns == SetAttrRequest::kTimeNow ? now : *r.atime_ns;
  if (r.mtime_ns) d.mtime_ns = *r.mtime_ns == SetAttrRequest::kTimeNow ? now : *r.mtime_ns;
  COHORT_ASSIGN_OR_RETURN(auto th, ms_->Begin(4));
  if (r.mode) COHORT_RETURN_IF_ERROR(ChmodAcl(*th, ci));  // the access ACL follows chmod
  if (kill) COHORT_RETURN_IF_ERROR(KillPrivs(*th, ci));
  d.ctime_ns = r.ctime_ns && *r.ctime_ns != SetAttrRequest::kTimeNow ? *r.ctime_ns : now;
  Store(*th, ci);
  return StatOf(d);
}

// ------------------------------------------------------------------------------ create

Result<EntryInfo> FileSystem::MakeNode(const OpContext& c, uint64_t parent,
                                       std::string_view name, uint32_t mode, uint64_t rdev,
                                       std::string_view symlink_target) {
  if (read_only_) return Status::ReadOnly();
  COHORT_RETURN_IF_ERROR(CheckName(name));
  bool is_dir = S_ISDIR(mode);
  if (S_ISLNK(mode) && symlink_target.size() > InodeContentCapacity(ctx_.block_size)) {
    return Status::NameTooLong("symlink target longer than " +
                               std::to_string(InodeContentCapacity(ctx_.block_size)));
  }
  InodeRef pci = Get(parent);
  COHORT_ASSIGN_OR_RETURN(GlockHolder ph, Hold(pci, HolderMode::kExclusive));
  Inode& p = pci->disk;
  if (!p.is_dir()) return Status::NotDir();
  if (p.nlink == 0) return Status::NotFound("directory was removed");
  Directory dir = DirOf(pci);
  COHORT_ASSIGN_OR_RETURN(auto existing, dir.Lookup(p, name));
  if (existing) return Status::Exists(std::string(name));
  if (is_dir && p.nlink >= kMaxLinks) return Status(Code::kTooManyLinks, "too many subdirectories");
  // The mode: from the parent's default ACL if it has one, else the umask applies
  // (docs/filesystem.md §10); symlinks are always 0777.
  XattrMap acls;
  if (!S_ISLNK(mode)) {
    COHORT_ASSIGN_OR_RETURN(bool inherited, InheritAcls(pci, is_dir, &mode, &acls));
    if (!inherited) mode &= ~(c.umask & 0777);
  }
  const size_t xattr_blocks = acls.empty() ? 0 : 1;

  Reservation r;
  COHORT_RETURN_IF_ERROR(alloc_->Reserve(&r, 1 + xattr_blocks + dir.AddReserve(p), parent));
  COHORT_ASSIGN_OR_RETURN(
      auto h, ms_->Begin(8 + xattr_blocks + dir.AddReserve(p) + 2 * r.groups.size()));
  // The new inode's glock: nobody can know the inode yet on this node; a non-blocking
  // request cannot deadlock with the order. Another node may still hold the block's
  // glock: cached from when the block was an inode it used, or taken by its inode
  // readahead. Our NOQUEUE request sent it a blocking callback and an idle holder lets
  // go at once, so the same block is tried again briefly (2, 4, 8 ms) before another
  // block is picked (neighbours are likely under the same readahead).
  InodeRef ci;
  GlockHolder ch;
  for (int attempt = 0; attempt < 8 && !ch.held(); ++attempt) {
    COHORT_ASSIGN_OR_RETURN(uint64_t ino, alloc_->AllocBlock(r, *h, BlockState::kInode, parent));
    ci = Get(ino);
    for (int tries = 0; tries < 4 && !ch.held(); ++tries) {
      if (tries > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1 << tries));
      auto held = glocks_->Acquire(ci->gl, HolderMode::kExclusive, /*try_only=*/true);
      if (held.ok()) {
        ch = std::move(*held);
      } else if (held.code() != Code::kWouldBlock) {
        break;
      }
    }
    if (!ch.held()) COHORT_RETURN_IF_ERROR(alloc_->Free(r, *h, ino, 1));
  }
  if (!ch.held()) return Status::Busy("could not lock a new inode");

  int64_t now = Now();
  Inode n;
  n.ino = ci->ino;
  n.mode = mode;
  n.uid = c.uid;
  n.gid = c.gid;
  if (p.mode & S_ISGID) {  // setgid directory: inherit its group; subdirectories stay setgid
    n.gid = p.gid;
    if (is_dir) n.mode |= S_ISGID;
  }
  n.nlink = is_dir ? 2 : 1;
  n.atime_ns = n.mtime_ns = n.ctime_ns = n.crtime_ns = now;
  {
    MutexLock l(&table_mu_);
    n.generation = static_cast<uint64_t>(now) + (++next_generation_);
  }
  if (is_dir) {
    n.parent = parent;
    n.content_kind = ContentKind::kInlineDir;
  } else if (S_ISLNK(mode)) {
    n.content_kind = ContentKind::kSymlink;
    n.content.assign(symlink_target.begin(), symlink_target.end());
    n.size = symlink_target.size();
  } else {
    n.content_kind = ContentKind::kNone;
    if (S_ISCHR(mode) || S_ISBLK(mode)) n.rdev = rdev;
  }
  {
    MutexLock l(&ci->load_mu);
    ci->disk = std::move(n);
    ci->loaded.store(true, std::memory_order_release);
  }
  Store(*h, ci);
  if (!acls.empty()) COHORT_RETURN_IF_ERROR(WriteXattrs(*h, r, ci, acls));
  DirEntry de;
  de.inode = ci->ino;
  de.type = DirentTypeOf(mode);
  de.name = std::string(name);
  COHORT_RETURN_IF_ERROR(dir.Add(&p, r, *h, de));
  if (is_dir) p.nlink += 1;
  p.mtime_ns = NextMtime(p);
  p.ctime_ns = p.mtime_ns;
  Store(*h, pci);
  h.reset();
  EntryInfo e = EntryOf(ci);
  e.cache_entry = HandOut(parent, name);
  return e;
}

Result<EntryInfo> FileSystem::Mknod(const OpContext& c, uint64_t parent, std::string_view name,
                                    uint32_t mode, uint64_t rdev) {
  uint32_t type = mode & S_IFMT;
  if (type == 0) type = S_IFREG;
  if (type != S_IFREG && type != S_IFCHR && type != S_IFBLK && type != S_IFIFO &&
      type != S_IFSOCK) {
    return Status::InvalidArgument("mknod of this file type");
  }
  return MakeNode(c, parent, name, type | (mode & 07777), rdev, {});
}

Result<EntryInfo> FileSystem::Mkdir(const OpContext& c, uint64_t parent, std::string_view name,
                                    uint32_t mode) {
  return MakeNode(c, parent, name, S_IFDIR | (mode & 07777), 0, {});
}

Result<EntryInfo> FileSystem::Symlink(const OpContext& c, uint64_t parent,
                                      std::string_view name, std::string_view target) {
  if (target.empty()) return Status::NotFound("empty symlink target");
  return MakeNode(c, parent, name, S_IFLNK | 0777, 0, target);
}

Result<std::string> FileSystem::Readlink(uint64_t ino) {
  InodeRef ci = Get(ino);
  COHORT_ASSIGN_OR_RETURN(GlockHolder h, Hold(ci, HolderMode::kShared));
  if (!ci->disk.is_symlink()) return Status::InvalidArgument("not a symlink");
  return std::string(ci->disk.content.begin(), ci->disk.content.end());
}

Result<EntryInfo> FileSystem::Create(const OpContext& c, uint64_t parent, std::string_view name,
                                     uint32_t mode, int flags) {
  auto made = MakeNode(c, parent, name, S_IFREG | (mode & 07777), 0, {});
  if (!made.ok() && made.code() == Code::kExists && !(flags & O_EXCL)) {
    // O_CREAT without O_EXCL on a name that appeared meanwhile: open it.
    COHORT_ASSIGN_OR_RETURN(EntryInfo e, Lookup(c, parent, name));
    if (S_ISDIR(e.attr.st_mode)) {
      Forget(e.ino, 1);
      return Status::IsDir();
    }
    Status s = Open(c, e.ino, flags);
    if (!s.ok()) {
      Forget(e.ino, 1);
      return s;
    }
    return e;
  }
  if (!made.ok()) return made;
  Status s = Open(c, made->ino, flags & ~O_TRUNC);
  if (!s.ok()) {
    Forget(made->ino, 1);
    return s;
  }
  return made;
}

// ------------------------------------------------------------------------------ remove

Status FileSystem::CheckSticky(const OpContext& c, const Inode& dir, const Inode& victim) const {
  if (!(dir.mode & S_ISVTX) || c.uid == 0) return Status::OK();
  if (c.uid == dir.uid || c.uid == victim.uid) return Status::OK();
  return Status::Permission("sticky directory");
}

Status FileSystem::DropLink(MetaCache::Handle& h, Reservation& r, CachedInode* ci, bool is_dir) {
  Inode& d = ci->disk;
  d.nlink = is_dir ? 0 : (d.nlink > 0 ? d.nlink - 1 : 0);
  d.ctime_ns = Now();
  if (d.nlink == 0) return OrphanAdd(h, r, ci);
  Store(h, ci);
  return Status::OK();
}

Status FileSystem::RemoveName(const OpContext& c, uint64_t parent, std::string_view name,
                              bool want_dir) {
  if (read_only_) return Status::ReadOnly();
  COHORT_RETURN_IF_ERROR(CheckName(name));
  InodeRef pci = Get(parent);
  std::vector<GlockHolder> holders;
  COHORT_ASSIGN_OR_RETURN(InodeRef cci, LockChild(pci, name, HolderMode::kExclusive, &holders));
  Inode& p = pci->disk;
  Inode& d = cci->disk;
  if (want_dir && !d.is_dir()) return Status::NotDir();
  if (!want_dir && d.is_dir()) return Status::IsDir();
  if (want_dir && d.dir_entries > 0) return Status::NotEmpty();
  COHORT_RETURN_IF_ERROR(CheckSticky(c, p, d));

  // The last name of an inode open nowhere (not on this node, and not on another: the
  // open glock's EX try-lock succeeds, or the DLM knows that nobody has a lock on it)
  // and small enough to free in one transaction: remove the name and free the inode in
  // the same transaction, without the orphan list (a crash replays both or neither).
  // A held open glock stays held EX until the end, so no node can open the inode
  // meanwhile; without it (known unlocked), a node whose open request reaches the DLM
  // after the check needs this inode's glock next, which this node gives up only after
  // the transaction, so it finds the inode freed (docs/locking.md §2.7).
  GlockHolder open_ex;
  bool free_now = false;
  std::vector<uint64_t> blocks;
  const bool last_link = want_dir || d.nlink <= 1;
  if (last_link && !(d.content_kind == ContentKind::kExtents && d.blocks > 64)) {
    bool open_here;
    {
      MutexLock l(&table_mu_);
      open_here = cci->nopen > 0;
    }
    if (!open_here && glocks_->KnownUnlocked(cci->open_gl)) {
      free_now = true;  // no DLM request: nobody has a lock on it
    } else if (!open_here) {
      auto oh = glocks_->Acquire(cci->open_gl, HolderMode::kExclusive, /*try_only=*/true);
      if (oh.ok()) {
        open_ex = std::move(*oh);
        free_now = true;
      } else if (oh.code() != Code::kWouldBlock) {
        return oh.status();
      }
    }
    if (free_now) {
      COHORT_ASSIGN_OR_RETURN(blocks, BlocksOf(cci));
      blocks.push_back(cci->ino);
      std::sort(blocks.begin(), blocks.end());
    }
  }
  Reservation r;
  if (free_now) {
    COHORT_RETURN_IF_ERROR(alloc_->LockGroupsOf(&r, blocks));
  } else {
    COHORT_RETURN_IF_ERROR(alloc_->LockGroupsOf(&r, {cci->ino}));
  }
  {
    COHORT_ASSIGN_OR_RETURN(auto h, ms_->Begin(12 + 2 * r.groups.size() + blocks.size() / 1000));
    // The directory's new times (and link count) go in before the removal, which
    // writes the directory inode: one encode of it per unlink, not two.
    const uint32_t old_nlink = p.nlink;
    const int64_t old_mtime = p.mtime_ns, old_ctime = p.ctime_ns;
    if (want_dir) p.nlink -= std::min<uint32_t>(p.nlink, 1);
    p.mtime_ns = NextMtime(p);
    p.ctime_ns = p.mtime_ns;
    if (Status s = DirOf(pci).Remove(&p, r, *h, name); !s.ok()) {
      p.nlink = old_nlink;  // DirRemove changes nothing else before it fails
      p.mtime_ns = old_mtime;
      p.ctime_ns = old_ctime;
      return s;
    }
    if (free_now) {
      d.nlink = 0;
      COHORT_RETURN_IF_ERROR(FreeBlocksIn(*h, r, cci, blocks));
      return Status::OK();
    }
    COHORT_RETURN_IF_ERROR(DropLink(*h, r, cci, want_dir));
  }
  r = Reservation();
  return d.nlink == 0 ? FreeIfUnused(cci) : Status::OK();
}

Status FileSystem::Unlink(const OpContext& c, uint64_t parent, std::string_view name) {
  return RemoveName(c, parent, name, false);
}

Status FileSystem::Rmdir(const OpContext& c, uint64_t parent, std::string_view name) {
  return RemoveName(c, parent, name, true);
}

// ------------------------------------------------------------------------------ rename

Result<bool> FileSystem::IsAncestor(uint64_t maybe_ancestor, uint64_t ino) {
  // Walks `parent` pointers up from `ino`. Directory parents change only under the
  // rename glock, which the caller holds for any cross-directory rename.
  uint64_t cur = ino;
  for (int depth = 0; depth < 100000; ++depth) {
    if (cur == maybe_ancestor) return true;
    if (cur == sb_.root_inode) return false;
    // Without the inode's glock: Peek keeps no copy that could go stale unnoticed.
    COHORT_ASSIGN_OR_RETURN(auto block, ms_->Peek(cur));
    COHORT_ASSIGN_OR_RETURN(Inode in, DecodeInode(block, cur, ctx_, sb_.block_count));
    if (in.parent == 0 || in.parent == cur) return false;
    cur = in.parent;
  }
  return Status::Corruption("directory parent chain loops");
}

Status FileSystem::Rename(const OpContext& c, uint64_t parent, std::string_view name,
                          uint64_t new_parent, std::string_view new_name, unsigned flags) {
  if (read_only_) return Status::ReadOnly();
  COHORT_RETURN_IF_ERROR(CheckName(name));
  COHORT_RETURN_IF_ERROR(CheckName(new_name));
  if (flags & ~(kRenameNoReplace | kRenameExchange)) return Status::InvalidArgument("flags");
  if ((flags & kRenameNoReplace) && (flags & kRenameExchange)) {
    return Status::InvalidArgument("NOREPLACE with EXCHANGE");
  }
  bool cross = parent != new_parent;
  GlockHolder rename_holder;
  if (cross) {
    COHORT_ASSIGN_OR_RETURN(rename_holder,
                            glocks_->Acquire(GlockType::kRename, 0, HolderMode::kExclusive));
  }
  InodeRef p1 = Get(parent);
  InodeRef p2 = Get(new_parent);
  for (int attempt = 0; attempt < 8; ++attempt) {
    uint64_t src_ino, tgt_ino = 0;
    {
      COHORT_ASSIGN_OR_RETURN(auto hs, glocks_->AcquireMany({{p1->gl, HolderMode::kShared},
                                                             {p2->gl, HolderMode::kShared}}));
      COHORT_RETURN_IF_ERROR(Load(p1));
      COHORT_RETURN_IF_ERROR(Load(p2));
      if (!p1->disk.is_dir() || !p2->disk.is_dir()) return Status::NotDir();
      COHORT_ASSIGN_OR_RETURN(auto s, DirOf(p1).Lookup(p1->disk, name));
      if (!s) return Status::NotFound(std::string(name));
      src_ino = s->inode;
      COHORT_ASSIGN_OR_RETURN(auto t, DirOf(p2).Lookup(p2->disk, new_name));
      if (t) tgt_ino = t->inode;
    }
    InodeRef src = Get(src_ino);
    InodeRef tgt = tgt_ino ? Get(tgt_ino) : InodeRef();
    std::vector<GlockManager::Want> wants{{p1->gl, HolderMode::kExclusive},
                                          {p2->gl, HolderMode::kExclusive},
                                          {src->gl, HolderMode::kExclusive}};
    if (tgt) wants.push_back({tgt->gl, HolderMode::kExclusive});
    COHORT_ASSIGN_OR_RETURN(auto holders, glocks_->AcquireMany(std::move(wants)));
    COHORT_RETURN_IF_ERROR(Load(p1));
    COHORT_RETURN_IF_ERROR(Load(p2));
    Directory d1 = DirOf(p1), d2 = DirOf(p2);
    COHORT_ASSIGN_OR_RETURN(auto s, d1.Lookup(p1->disk, name));
    COHORT_ASSIGN_OR_RETURN(auto t, d2.Lookup(p2->disk, new_name));
    if (!s) return Status::NotFound(std::string(name));
    if (s->inode != src_ino || (t ? t->inode : 0) != tgt_ino) continue;  // raced: again
    COHORT_RETURN_IF_ERROR(Load(src));
    if (tgt) COHORT_RETURN_IF_ERROR(Load(tgt));
    if (tgt == src) return Status::OK();  // two links of one inode: POSIX says do nothing
    bool exchange = flags & kRenameExchange;
    if ((flags & kRenameNoReplace) && tgt) return Status::Exists(std::string(new_name));
    if (exchange && !tgt) return Status::NotFound(std::string(new_name));
    bool src_dir = src->disk.is_dir();
    bool tgt_dir = tgt && tgt->disk.is_dir();
    // Moving a directory under itself is EINVAL whatever the target (Linux checks it
    // before ENOTEMPTY and the type checks).
    if (cross && src_dir) {
      COHORT_ASSIGN_OR_RETURN(bool inside, IsAncestor(src_ino, new_parent));
      if (inside) return Status::InvalidArgument("cannot move a directory into itself");
    }
    if (tgt && !exchange) {
      if (src_dir && !tgt_dir) return Status::NotDir();
      if (!src_dir && tgt_dir) return Status::IsDir();
      if (tgt_dir && tgt->disk.dir_entries > 0) return Status::NotEmpty();
    }
    if (cross && exchange && tgt_dir) {
      COHORT_ASSIGN_OR_RETURN(bool inside, IsAncestor(tgt_ino, parent));
      if (inside) return Status::InvalidArgument("cannot move a directory into itself");
    }
    COHORT_RETURN_IF_ERROR(CheckSticky(c, p1->disk, src->disk));
    if (tgt) COHORT_RETURN_IF_ERROR(CheckSticky(c, p2->disk, tgt->disk));
    if (cross && src_dir && !tgt_dir && p2->disk.nlink >= kMaxLinks) {
      return Status(Code::kTooManyLinks, "too many subdirectories");
    }

    Reservation r;
    if (tgt && !exchange) COHORT_RETURN_IF_ERROR(alloc_->LockGroupsOf(&r, {tgt_ino}));
    COHORT_RETURN_IF_ERROR(alloc_->Reserve(&r, d2.AddReserve(p2->disk), new_parent));
    bool tgt_gone = false;
    {
      COHORT_ASSIGN_OR_RETURN(auto h, ms_->Begin(16 + d2.AddReserve(p2->disk) + 2 * r.groups.size()));
      int64_t now = Now();
      DirEntry se{src_ino, DirentTypeOf(src->disk.mode), std::string(new_name)};
      if (exchange) {
        DirEntry te{tgt_ino, DirentTypeOf(tgt->disk.mode), std::string(name)};
        COHORT_RETURN_IF_ERROR(d1.Replace(&p1->disk, r, *h, te));
        COHORT_RETURN_IF_ERROR(d2.Replace(&p2->disk, r, *h, se));
        if (cross) {
          if (src_dir) {
            src->disk.parent = new_parent;
            p1->disk.nlink -= 1;
            p2->disk.nlink += 1;
          }
          if (tgt_dir) {
            tgt->disk.parent = parent;
            p2->disk.nlink -= 1;
            p1->disk.nlink += 1;
          }
        }
        tgt->disk.ctime_ns = now;
        Store(*h, tgt);
      } else {
        COHORT_RETURN_IF_ERROR(d1.Remove(&p1->disk, r, *h, name));
        if (tgt) {
          COHORT_RETURN_IF_ERROR(d2.Replace(&p2->disk, r, *h, se));
          if (tgt_dir) p2->disk.nlink -= 1;
          COHORT_RETURN_IF_ERROR(DropLink(*h, r, tgt, tgt_dir));
          tgt_gone = tgt->disk.nlink == 0;
        } else {
          COHORT_RETURN_IF_ERROR(d2.Add(&p2->disk, r, *h, se));
        }
        if (cross && src_dir) {
          src->disk.parent = new_parent;
          p1->disk.nlink -= 1;
          p2->disk.nlink += 1;
        }
      }
      src->disk.ctime_ns = now;
      Store(*h, src);
      p1->disk.mtime_ns = NextMtime(p1->disk);
      p1->disk.ctime_ns = p1->disk.mtime_ns;
      Store(*h, p1);
      if (cross) {
        p2->disk.mtime_ns = NextMtime(p2->disk);
        p2->disk.ctime_ns = p2->disk.mtime_ns;
        Store(*h, p2);
      }
    }
    // The kernel moves its dentry to the new name (and, exchanging, the other back).
    (void)HandOut(new_parent, new_name);
    if (exchange) (void)HandOut(parent, name);
    r = Reservation();
    return tgt_gone ? FreeIfUnused(tgt) : Status::OK();
  }
  return Status::Busy("rename kept racing with other renames");
}

// -------------------------------------------------------------------------------- link

Result<EntryInfo> FileSystem::Link(const OpContext& c, uint64_t ino, uint64_t new_parent,
                                   std::string_view new_name) {
  if (read_only_) return Status::ReadOnly();
  COHORT_RETURN_IF_ERROR(CheckName(new_name));
  InodeRef ci = Get(ino);
  InodeRef pci = Get(new_parent);
  COHORT_ASSIGN_OR_RETURN(auto holders, glocks_->AcquireMany({{ci->gl, HolderMode::kExclusive},
                                                              {pci->gl, HolderMode::kExclusive}}));
  COHORT_RETURN_IF_ERROR(Load(ci));
  COHORT_RETURN_IF_ERROR(Load(pci));
  if (!pci->disk.is_dir()) return Status::NotDir();
  if (ci->disk.is_dir()) return Status::Permission("hard link to a directory");
  if (ci->disk.nlink == 0) return Status::NotFound("file was removed");
  if (ci->disk.nlink >= kMaxLinks) return Status(Code::kTooManyLinks, "too many links");
  Directory dir = DirOf(pci);
  COHORT_ASSIGN_OR_RETURN(auto existing, dir.Lookup(pci->disk, new_name));
  if (existing) return Status::Exists(std::string(new_name));
  Reservation r;
  COHORT_RETURN_IF_ERROR(alloc_->Reserve(&r, dir.AddReserve(pci->disk), new_parent));
  {
    COHORT_ASSIGN_OR_RETURN(auto h, ms_->Begin(8 + dir.AddReserve(pci->disk) + 2 * r.groups.size()));
    DirEntry de{ino, DirentTypeOf(ci->disk.mode), std::string(new_name)};
    COHORT_RETURN_IF_ERROR(dir.Add(&pci->disk, r, *h, de));
    ci->disk.nlink += 1;
    ci->disk.ctime_ns = Now();
    Store(*h, ci);
    pci->disk.mtime_ns = NextMtime(pci->disk);
    pci->disk.ctime_ns = pci->disk.mtime_ns;
    Store(*h, pci);
  }
  EntryInfo e = EntryOf(ci);
  e.cache_entry = HandOut(new_parent, new_name);
  return e;
}

// ------------------------------------------------------------------------- open/close

Status FileSystem::Open(const OpContext& c, uint64_t ino, int flags) {
  InodeRef ci = Get(ino);
  bool writable = (flags & O_ACCMODE) != O_RDONLY;
  {
    COHORT_ASSIGN_OR_RETURN(GlockHolder h, Hold(ci, HolderMode::kShared));
    if (ci->disk.is_dir() && writable) return Status::IsDir();
    if (writable && read_only_) return Status::ReadOnly();
  }
  bool need_open_lock;
  {
    MutexLock l(&table_mu_);
    ci->nopen += 1;
    need_open_lock = !ci->open_holder.held();
  }
  if (need_open_lock) {
    auto oh = glocks_->Acquire(ci->open_gl, HolderMode::kShared);
    if (!oh.ok()) {
      MutexLock l(&table_mu_);
      ci->nopen -= 1;
      return oh.status();
    }
    MutexLock l(&table_mu_);
    if (!ci->open_holder.held()) ci->open_holder = std::move(*oh);
  }
  if ((flags & O_TRUNC) && writable) {
    SetAttrRequest r;
    r.size = 0;
    r.mtime_ns = SetAttrRequest::kTimeNow;
    auto st = SetAttr(c, ino, r);
    if (!st.ok()) {
      (void)Release(ino);
      return st.status();
    }
  }
  return Status::OK();
}

Status FileSystem::Release(uint64_t ino) {
  InodeRef ci = Get(ino);
  GlockHolder last;
  {
    MutexLock l(&table_mu_);
    if (ci->nopen == 0) return Status::OK();
    ci->nopen -= 1;
    if (ci->nopen > 0) return Status::OK();
    last = std::move(ci->open_holder);
  }
  last.Release();
  Status s = LastClose(ci);
  // Nobody on this node has the file open any more: another node that asks for its
  // inode glock gets it at once, not after the idle grace time (locking.md §2.6; the
  // hand-off "A writes and closes, B opens and reads").
  glocks_->MarkIdle(ci->gl);
  return s;
}

Status FileSystem::LastClose(CachedInode* ci) {
  if (read_only_) return Status::OK();
  // The last close on this node of an unlinked inode frees it, unless another node
  // still has it open. Most files are not unlinked: a shared holder tells, without
  // taking the inode away from a node that is writing it.
  {
    COHORT_ASSIGN_OR_RETURN(GlockHolder sh, glocks_->Acquire(ci->gl, HolderMode::kShared));
    Status ls = Load(ci);
    if (ls.Is(Code::kStale)) return Status::OK();  // already freed
    COHORT_RETURN_IF_ERROR(ls);
    if (ci->disk.nlink != 0) return Status::OK();
  }
  COHORT_ASSIGN_OR_RETURN(GlockHolder h, glocks_->Acquire(ci->gl, HolderMode::kExclusive));
  Status s = Load(ci);
  if (s.Is(Code::kStale)) return Status::OK();  // already freed
  COHORT_RETURN_IF_ERROR(s);
  if (ci->disk.nlink != 0) return Status::OK();
  return FreeIfUnused(ci);
}

Status FileSystem::OpenDir(const OpContext& c, uint64_t ino) {
  InodeRef ci = Get(ino);
  COHORT_ASSIGN_OR_RETURN(GlockHolder h, Hold(ci, HolderMode::kShared));
  if (!ci->disk.is_dir()) return Status::NotDir();
  return Status::OK();
}

Result<std::vector<DirItem>> FileSystem::ReadDir(uint64_t ino, uint64_t cookie, size_t max,
                                                 bool plus) {
  InodeRef ci = Get(ino);
  std::vector<DirItem> items;
  std::vector<bool> cacheable;
  {
    COHORT_ASSIGN_OR_RETURN(GlockHolder h, Hold(ci, HolderMode::kShared));
    if (!ci->disk.is_dir()) return Status::NotDir();
    if (cookie < 1 && items.size() < max) {
      items.push_back({".", ino, DT_DIR, 1, std::nullopt});
    }
    if (cookie < 2 && items.size() < max) {
      uint64_t parent = ino == sb_.root_inode ? ino : ci->disk.parent;
      items.push_back({"..", parent, DT_DIR, 2, std::nullopt});
    }
    if (items.size() < max) {
      Directory dir = DirOf(ci);
      COHORT_ASSIGN_OR_RETURN(auto list, dir.List(ci->disk, std::max<uint64_t>(cookie, 2),
                                                   max - items.size()));
      for (auto& e : list) {
        items.push_back({std::move(e.entry.name), e.entry.inode, DtOf(e.entry.type), e.cookie,
                         std::nullopt});
      }
    }
    if (plus) {
      // The kernel makes a dentry of each entry it is given with attributes.
      cacheable.reserve(items.size());
      for (auto& it : items) {
        cacheable.push_back(it.name == "." || it.name == ".." ? false : HandOut(ino, it.name));
      }
    }
  }
  if (plus) {
    // Attributes of each child, taken one holder at a time (no nesting under the
    // directory's holder; docs/locking.md §2.2). An entry removed meanwhile is
    // returned without attributes.
    for (size_t i = 0; i < items.size(); ++i) {
      DirItem& it = items[i];
      if (it.name == "." || it.name == "..") continue;
      InodeRef cci = Get(it.ino);
      auto h = Hold(cci, HolderMode::kShared);
      if (!h.ok()) continue;
      it.entry = EntryOf(cci);
      it.entry->cache_entry = cacheable[i];
    }
  }
  return items;
}

Status FileSystem::Access(const OpContext& c, uint64_t ino, int mask) {
  InodeRef ci = Get(ino);
  COHORT_ASSIGN_OR_RETURN(GlockHolder h, Hold(ci, HolderMode::kShared));
  if (mask == F_OK || c.uid == 0) {
    if (c.uid == 0 && (mask & X_OK) && !(ci->disk.mode & 0111) && !ci->disk.is_dir()) {
      return Status::Access();
    }
    return Status::OK();
  }
  COHORT_ASSIGN_OR_RETURN(std::optional<acl::Acl> a, AccessAcl(ci));
  if (a) {
    uint32_t want = ((mask & R_OK) ? 4 : 0) | ((mask & W_OK) ? 2 : 0) | ((mask & X_OK) ? 1 : 0);
    if (!acl::Permits(*a, ci->disk.uid, ci->disk.gid, c.uid, c.gid, want)) return Status::Access();
    return Status::OK();
  }
  uint32_t bits;
  if (c.uid == ci->disk.uid) {
    bits = (ci->disk.mode >> 6) & 7;
  } else if (c.gid == ci->disk.gid) {
    bits = (ci->disk.mode >> 3) & 7;
  } else {
    bits = ci->disk.mode & 7;
  }
  if ((mask & R_OK) && !(bits & 4)) return Status::Access();
  if ((mask & W_OK) && !(bits & 2)) return Status::Access();
  if ((mask & X_OK) && !(bits & 1)) return Status::Access();
  return Status::OK();
}

}  // namespace cohort::fs
