// fs/core/dir.h: directories inside the filesystem's transactions
// (docs/ondisk-format.md §7; docs/filesystem.md §5).
//
// Lookup, insert and remove are the format library's (fs/dir_ops.h: inline directories
// that become gfs2-style extendible hash tables), run through a TxnStore so that their
// block writes join the operation's journal transaction and their allocations come from
// its reservation. This class adds what the filesystem needs on top: readdir with stable
// cookies that resumes in O(one leaf), reservation sizes, and the blocks to free at
// rmdir.
//
// Readdir order and cookies: entries are returned in (hash, name) order. An entry's
// cookie is ((hash << 30) | index among the entries of equal hash) + kFirstCookie, so a
// readdir resumed at a cookie neither repeats nor skips entries that existed throughout,
// whatever was created or removed in between (unless two names share a 32-bit hash and
// one of them is removed between the calls).
//
// Thread safety: none of its own; the caller holds the directory's inode glock (shared
// to read, exclusive to change) and, to change, a handle and a reservation.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/mutex.h"
#include "common/status.h"
#include "fs/core/allocator.h"
#include "fs/core/file_map.h"
#include "fs/core/meta_cache.h"
#include "fs/dir_ops.h"
#include "fs/directory.h"
#include "fs/inode.h"

namespace cohort::fs {

// Cookies 1 and 2 are "." and "..".
inline constexpr uint64_t kFirstCookie = 3;

struct DirCursorEntry {
  DirEntry entry;
  uint64_t cookie = 0;  // resume after this entry with this value
};

// Every name of one directory, decoded, so that lookups (positive and negative) do not
// decode the directory's blocks each time. Owned by the directory's in-memory inode;
// valid only while this node holds the directory's glock without interruption: the
// filesystem clears it whenever it drops the inode's cached state (glock given up,
// inode freed). Directories of more than kMaxNames entries are not cached (bounded
// memory). Changes go through Directory::Add/Remove/Replace, which keep it in step.
//
// Thread safety: its own mutex. Lookups run under a shared holder (several at once);
// changes under the exclusive holder.
struct DirNameCache {
  static constexpr size_t kMaxNames = size_t{1} << 16;
  void Clear() EXCLUDES(mu) {
    MutexLock l(&mu);
    complete = false;
    names.clear();
  }
  Mutex mu{LockRank::kFsInode, "fs.dir_names"};
  bool complete GUARDED_BY(mu) = false;
  std::unordered_map<std::string, DirEntry> names GUARDED_BY(mu);
};

class Directory {
 public:
  // `names`, if given, is the directory's name cache (see DirNameCache).
  Directory(MetaCache* ms, Allocator* alloc, CacheOwner owner, DirNameCache* names = nullptr)
      : ms_(ms), alloc_(alloc), owner_(owner), names_(names), map_(ms, alloc, owner) {}

  // The entry named `name`, or nullopt.
  Result<std::optional<DirEntry>> Lookup(const Inode& dir, std::string_view name);

  // Adds `e` (its name must not exist: the caller looked it up under the same holder).
  // Updates dir->content/size/dir_entries; the caller stores the inode.
  Status Add(Inode* dir, Reservation& r, MetaCache::Handle& h, const DirEntry& e);
  // Removes `name`; NotFound if absent.
  Status Remove(Inode* dir, Reservation& r, MetaCache::Handle& h, std::string_view name);
  // Points an existing entry at another inode (rename over an existing name).
  Status Replace(Inode* dir, Reservation& r, MetaCache::Handle& h, const DirEntry& e);

  // Up to `max` entries after `cookie` (0 or kFirstCookie - 1: from the start).
  Result<std::vector<DirCursorEntry>> List(const Inode& dir, uint64_t cookie, size_t max);

  // Blocks an Add may allocate, for Reserve().
  uint64_t AddReserve(const Inode& dir) const;
  // Every block the directory owns beyond its inode (leaves, table, extent nodes), for
  // freeing it at rmdir.
  Result<std::vector<uint64_t>> OwnedBlocks(const Inode& dir);

  static uint64_t CookieOf(uint32_t hash, uint32_t dup) {
    return ((static_cast<uint64_t>(hash) << 30) | (dup & 0x3fffffff)) + kFirstCookie;
  }

 private:
  Result<std::vector<uint64_t>> ReadTable(const Inode& dir);
  Result<DirLeaf> ReadLeaf(uint64_t blkno);

  MetaCache* const ms_;
  Allocator* const alloc_;
  // After a change of the directory: puts `*put` into the name cache (or, with null,
  // erases `erased`) if the cache is complete; a failed change empties it.
  void AfterChange(const Status& s, const DirEntry* put, std::string_view erased);

  const CacheOwner owner_;
  DirNameCache* const names_;
  FileMap map_;
};

// The dirent type of a POSIX mode.
DirentType DirentTypeOf(uint32_t mode);

}  // namespace cohort::fs
