// fs/core/filesystem_internal.h: the parts of FileSystem shared by its .cc files.
// Private to fs/core.
#pragma once

#include <atomic>

#include "common/mutex.h"
#include "fs/core/filesystem.h"

namespace cohort::fs {

// One inode as this node knows it.
//
// Invariants:
//  1. `gl` is the inode's glock; `open_gl` its open glock.
//  2. `disk` is meaningful only while `loaded` and only to a thread holding a holder on
//     `gl` (shared to read, exclusive to change); `loaded` goes false only when the
//     glock is given up (no holders then).
//  3. `nlookup`, `nopen`, `refs` and `open_holder` are guarded by the FileSystem's table
//     mutex.
//  4. Lifetime: a CachedInode is used only through an InodeRef (FileSystem::Get), which
//     counts in `refs`. It is reclaimed (erased from the table) as soon as `refs`,
//     `nlookup` (the kernel forgot it) and `nopen` are all zero and it is not the root.
//     Its glock stays in the glock manager with the blocks cached under it; a later
//     Get() makes a new CachedInode that finds them there.
struct FileSystem::CachedInode {
  uint64_t ino = 0;
  Glock* gl = nullptr;
  Glock* open_gl = nullptr;

  Mutex load_mu{LockRank::kFsInode, "fs.inode"};
  std::atomic<bool> loaded{false};
  Inode disk;
  DirNameCache names;  // directories: every name, while the glock is held (fs/core/dir.h)

  uint64_t nlookup = 0;
  uint32_t nopen = 0;
  uint32_t refs = 0;
  GlockHolder open_holder;
};

// A counted reference to a CachedInode (invariant 4). Move-only. Converts to
// CachedInode* only as an lvalue, so that `CachedInode* p = Get(ino);` (a reference
// dropped at once) does not compile.
class FileSystem::InodeRef {
 public:
  InodeRef() = default;
  InodeRef(FileSystem* fs, CachedInode* ci) : fs_(fs), ci_(ci) {}
  InodeRef(InodeRef&& o) noexcept : fs_(o.fs_), ci_(o.ci_) { o.ci_ = nullptr; }
  InodeRef& operator=(InodeRef&& o) noexcept {
    if (this != &o) {
      Reset();
      fs_ = o.fs_;
      ci_ = o.ci_;
      o.ci_ = nullptr;
    }
    return *this;
  }
  InodeRef(const InodeRef&) = delete;
  InodeRef& operator=(const InodeRef&) = delete;
  ~InodeRef() { Reset(); }

  void Reset() {
    if (ci_) fs_->Unref(ci_);
    ci_ = nullptr;
  }
  CachedInode* get() const { return ci_; }
  CachedInode* operator->() const { return ci_; }
  operator CachedInode*() const& { return ci_; }
  operator CachedInode*() const&& = delete;

 private:
  FileSystem* fs_ = nullptr;
  CachedInode* ci_ = nullptr;
};

// Block of a file offset, and offset in it.
inline uint64_t BlockOf(uint64_t off, uint32_t bs) { return off / bs; }

}  // namespace cohort::fs
