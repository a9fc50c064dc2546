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
//  1. `gl` is the inode's glock and gl->object() == this; `open_gl` its open glock.
//  2. `disk` is meaningful only while `loaded` and only to a thread holding a holder on
//     `gl` (shared to read, exclusive to change); `loaded` goes false only when the
//     glock is given up (no holders then).
//  3. `nlookup`, `nopen` and `open_holder` are guarded by the FileSystem's table mutex.
struct FileSystem::CachedInode {
  uint64_t ino = 0;
  Glock* gl = nullptr;
  Glock* open_gl = nullptr;

  Mutex load_mu{LockRank::kFsInode, "fs.inode"};
  std::atomic<bool> loaded{false};
  Inode disk;

  uint64_t nlookup = 0;
  uint32_t nopen = 0;
  GlockHolder open_holder;
};

// Block of a file offset, and offset in it.
inline uint64_t BlockOf(uint64_t off, uint32_t bs) { return off / bs; }

}  // namespace cohort::fs
