// fs/core/filesystem.h: the Cohort filesystem on one node (DESIGN.md §7;
// docs/filesystem.md; docs/locking.md).
//
// FileSystem implements every POSIX operation the FUSE adapter (fs/fuse/) forwards, over
// the metadata store (journaled, ordered mode), the allocator and directories, with every
// shared object protected by a glock on the filesystem's DLM lockspace. It never sees a
// FUSE type: the adapter converts requests and replies, and converts each Status into an
// errno exactly once.
//
// Inode numbers are block numbers (docs/ondisk-format.md §6). The adapter maps FUSE's
// root id 1 to root_inode().
//
// Lookup counts follow fuse_lowlevel.h: every successful Lookup/Create/Mknod/Mkdir/
// Symlink/Link (and every entry ReadDirPlus returns) adds one to the inode's count,
// Forget() subtracts; an inode's in-memory state may go only when the count and the
// open count are both zero. An inode unlinked while open stays (on the unlinking node's
// orphan list) until its last Release() there, or, if other nodes had it open, until
// that node's orphan pass finds it closed everywhere (docs/filesystem.md §7); a crash
// leaves it on the list and the next mount (or the node recovering the journal) frees it.
//
// Thread safety: every method may be called concurrently from FUSE worker threads.
// Operations take glock holders in the order of docs/locking.md §2.2, then reserve
// allocation groups, then open one transaction handle; they never wait for a glock while
// a handle is open.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/mutex.h"
#include "common/status.h"
#include "dlm/lockspace.h"
#include "fs/block_device.h"
#include "fs/core/acl.h"
#include "fs/core/allocator.h"
#include "fs/core/dir.h"
#include "fs/core/file_map.h"
#include "fs/core/glock.h"
#include "fs/core/meta_cache.h"
#include "fs/inode.h"
#include "fs/journal.h"
#include "fs/superblock.h"
#include "fs/xattr_block.h"

namespace cohort::fs {

// Who asks (from the FUSE request).
struct OpContext {
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t pid = 0;
  uint32_t umask = 022;
  // The kernel asks this write, truncate or open(O_TRUNC) to clear set-user-ID,
  // set-group-ID (if group-executable) and security.capability, in the same handle as
  // the change (FUSE_HANDLE_KILLPRIV_V2: it is set when the caller lacks CAP_FSETID;
  // docs/filesystem.md §8.1). A chown clears them whatever this says.
  bool kill_suidgid = false;
};

// Called to invalidate the kernel's caches when this node gives up a glock
// (docs/locking.md §3). Implemented by the FUSE adapter; never called with a Cohort
// mutex or glock holder held.
class KernelInvalidator {
 public:
  virtual ~KernelInvalidator() = default;
  // Attributes only (notify_inval_inode with offset -1): safe while requests wait.
  virtual void InvalidateAttributes(uint64_t ino) = 0;
  // The kernel's dentries `names` in directory `parent` (notify_inval_entry), done
  // *asynchronously*: the kernel takes the directory's lock, which a request may hold
  // while it waits for us. Calls `done` (if set) once all were tried, on any thread.
  virtual void InvalidateEntries(uint64_t parent, std::vector<std::string> names,
                                 std::function<void()> done) {
    if (done) done();
  }
  // Every dentry the kernel caches for this mount, at once and without any kernel lock
  // (FUSE_NOTIFY_INC_EPOCH, Linux 6.16+): each is looked up again at its next use.
  // Returns false when the kernel cannot do it.
  virtual bool ExpireAllEntries() { return false; }
};

struct MountOptions {
  bool read_only = false;            // mount read-only (no journal slot taken)
  std::string cluster_name;          // must match the superblock's ("" = don't check)
  int forced_slot = -1;              // take this journal slot (else the first free one)
  Clock* clock = nullptr;            // nullptr = real clock
  MetaCacheOptions meta;
  GlockOptions glock;
  KernelInvalidator* invalidator = nullptr;
  uint32_t node_id = 0;              // for the heartbeat slot, if any
};

// Attributes to change (SetAttr). Unset optionals are left alone.
struct SetAttrRequest {
  std::optional<uint32_t> mode;      // permission bits (and S_ISUID/S_ISGID/S_ISVTX)
  std::optional<uint32_t> uid;
  std::optional<uint32_t> gid;
  std::optional<uint64_t> size;
  std::optional<int64_t> atime_ns;   // kTimeNow = now
  std::optional<int64_t> mtime_ns;
  std::optional<int64_t> ctime_ns;
  static constexpr int64_t kTimeNow = INT64_MIN;
};

struct EntryInfo {
  uint64_t ino = 0;
  uint64_t generation = 0;
  struct stat attr {};
  // False while the directory's glock is being given up: the kernel must not cache the
  // name (entry timeout 0; docs/locking.md §3 rule 2).
  bool cache_entry = true;
};

struct DirItem {
  std::string name;
  uint64_t ino = 0;
  uint32_t type = 0;     // DT_* value
  uint64_t cookie = 0;   // offset of the next entry
  std::optional<EntryInfo> entry;  // with ReadDir(plus=true); counts as a lookup
};

struct FsStat {
  uint64_t block_size = 0;
  uint64_t blocks = 0;
  uint64_t free_blocks = 0;
  uint64_t files = 0;
  uint64_t free_files = 0;
  uint64_t name_max = 255;
};

// fallocate modes we support (Linux values).
inline constexpr int kFallocKeepSize = 0x01;
inline constexpr int kFallocPunchHole = 0x02;

class FileSystem final : public GlockCallbacks {
 public:
  // Mounts the filesystem on `dev` with `ls` as its lockspace: reads and checks the
  // superblock (refusing unknown incompat features, a wrong cluster name), takes a free
  // journal slot (its glock, EX), replays that journal, frees the slot's orphans.
  // `dev` and `ls` must outlive the FileSystem. Errors: NotFound (no Cohort filesystem),
  // Corruption, NotSupported (unknown incompat feature), InvalidArgument (wrong
  // cluster), Busy (no free journal slot: add one with `cohort jadd`).
  static Result<std::unique_ptr<FileSystem>> Mount(BlockDevice* dev, dlm::Lockspace* ls,
                                                   MountOptions options);
  ~FileSystem() override;

  // Flushes everything, releases every lock and the journal slot. Idempotent.
  Status Unmount();

  uint64_t root_inode() const { return sb_.root_inode; }
  const Superblock& superblock() const { return sb_; }
  bool read_only() const { return read_only_; }

  // A new cluster view (docs/locking.md §4). Called from the lockspace's on_view hook,
  // before the DLM recovers for the view; never blocks. A member gone from the view
  // freezes new grants until a survivor has replayed the journals of departed nodes
  // (a background thread does it here, under the recovery glock); losing quorum
  // freezes every operation that needs a lock; regaining it after that withdraws.
  void OnMembershipView(const net::MembershipView& v) EXCLUDES(recovery_mu_);
  // Completed recovery passes (each replays every journal slot nobody holds).
  uint64_t recoveries() const { return recoveries_.load(); }
  uint32_t journal_slot() const { return slot_; }

  // ---- namespace ----
  Result<EntryInfo> Lookup(const OpContext& c, uint64_t parent, std::string_view name);
  void Forget(uint64_t ino, uint64_t nlookup);
  Result<struct stat> GetAttr(uint64_t ino);
  Result<struct stat> SetAttr(const OpContext& c, uint64_t ino, const SetAttrRequest& r);
  Result<EntryInfo> Mknod(const OpContext& c, uint64_t parent, std::string_view name,
                          uint32_t mode, uint64_t rdev);
  Result<EntryInfo> Mkdir(const OpContext& c, uint64_t parent, std::string_view name,
                          uint32_t mode);
  Result<EntryInfo> Symlink(const OpContext& c, uint64_t parent, std::string_view name,
                            std::string_view target);
  Result<std::string> Readlink(uint64_t ino);
  Status Unlink(const OpContext& c, uint64_t parent, std::string_view name);
  Status Rmdir(const OpContext& c, uint64_t parent, std::string_view name);
  // flags: 0, RENAME_NOREPLACE (1) or RENAME_EXCHANGE (2).
  Status Rename(const OpContext& c, uint64_t parent, std::string_view name,
                uint64_t new_parent, std::string_view new_name, unsigned flags);
  Result<EntryInfo> Link(const OpContext& c, uint64_t ino, uint64_t new_parent,
                         std::string_view new_name);

  // ---- files ----
  // Opens (counts the open; holds the inode's open glock while open on this node).
  // O_TRUNC truncates. EISDIR for directories opened for writing.
  Status Open(const OpContext& c, uint64_t ino, int flags);
  Result<EntryInfo> Create(const OpContext& c, uint64_t parent, std::string_view name,
                           uint32_t mode, int flags);
  // Reads up to `size` bytes at `off` into `out` (resized to what was read).
  Status Read(uint64_t ino, uint64_t off, size_t size, std::vector<uint8_t>* out);
  // With `append`, writes at the end of the file as this node's exclusive glock sees it
  // (atomic across the cluster), whatever `off` says.
  Result<size_t> Write(const OpContext& c, uint64_t ino, uint64_t off,
                       std::span<const uint8_t> data, bool append = false);
  Status Release(uint64_t ino);
  // Makes the file's data and metadata durable on the device.
  Status Fsync(uint64_t ino, bool datasync);
  Status Fallocate(const OpContext& c, uint64_t ino, int mode, uint64_t off, uint64_t len);
  // SEEK_DATA (3) / SEEK_HOLE (4).
  Result<uint64_t> Lseek(uint64_t ino, uint64_t off, int whence);

  // ---- directories ----
  Status OpenDir(const OpContext& c, uint64_t ino);
  // Entries after `cookie` ("." and ".." have cookies 1 and 2), at most `max`.
  Result<std::vector<DirItem>> ReadDir(uint64_t ino, uint64_t cookie, size_t max, bool plus);

  // ---- filesystem ----
  Result<FsStat> StatFs();
  Status SyncAll();

  // ---- extended attributes ----
  // flags: XATTR_CREATE (1), XATTR_REPLACE (2).
  Status SetXattr(const OpContext& c, uint64_t ino, std::string_view name,
                  std::span<const uint8_t> value, int flags);
  Result<std::vector<uint8_t>> GetXattr(uint64_t ino, std::string_view name);
  Result<std::vector<std::string>> ListXattr(uint64_t ino);
  Status RemoveXattr(const OpContext& c, uint64_t ino, std::string_view name);

  // POSIX access check: mode bits, or the access ACL if the inode has one (the kernel
  // checks the same with default_permissions and FUSE_CAP_POSIX_ACL).
  Status Access(const OpContext& c, uint64_t ino, int mask);

  // ---- GlockCallbacks ----
  Status SyncGlock(Glock* gl) override;
  void InvalidateGlock(Glock* gl) override;
  bool PrepareDemote(Glock* gl) override EXCLUDES(entries_mu_);

  // Dumps of cached inodes and glocks (debugging, `cohort status`).
  std::string DumpInodes();
  // In-memory inodes now (tests: reclamation).
  size_t cached_inodes() EXCLUDES(table_mu_);
  std::string DumpGlocks() const { return glocks_->Dump(); }
  MetaCache* meta_cache() { return ms_.get(); }
  GlockManager* glocks() { return glocks_.get(); }

 private:
  struct CachedInode;
  class InodeRef;

  FileSystem(BlockDevice* dev, dlm::Lockspace* ls, MountOptions options, const Superblock& sb);
  Status Start();

  // Inode cache. Get() returns a counted reference (the inode stays while it is held).
  InodeRef Get(uint64_t ino) EXCLUDES(table_mu_);
  void Unref(CachedInode* ci) EXCLUDES(table_mu_);
  // Erases `ci` if nothing needs it any more (filesystem_internal.h invariant 4).
  void MaybeReclaim(CachedInode* ci) REQUIRES(table_mu_);
  Status Load(CachedInode* ci);  // REQUIRES: a holder on ci->gl
  void Store(MetaCache::Handle& h, CachedInode* ci);
  Result<GlockHolder> Hold(CachedInode* ci, HolderMode m);
  void AddLookup(CachedInode* ci, uint64_t n) EXCLUDES(table_mu_);
  struct stat StatOf(const Inode& ino) const;
  EntryInfo EntryOf(CachedInode* ci) EXCLUDES(table_mu_);
  Directory DirOf(CachedInode* ci);
  FileMap MapOf(CachedInode* ci);
  CacheOwner OwnerOf(CachedInode* ci) const;
  int64_t Now() const;
  int64_t NextMtime(const Inode& ino) const;

  // Shared pieces of the operations.
  Result<EntryInfo> MakeNode(const OpContext& c, uint64_t parent, std::string_view name,
                             uint32_t mode, uint64_t rdev, std::string_view symlink_target);
  Status RemoveName(const OpContext& c, uint64_t parent, std::string_view name, bool dir);
  // Finds `name` in directory `pci` and takes holders (`mode`) on the directory and the
  // inode it names, in lock order, re-checking the name under both (a rename may race);
  // both are loaded. Errors: NotDir, NotFound, Busy (kept racing), Corruption.
  Result<InodeRef> LockChild(CachedInode* pci, std::string_view name, HolderMode mode,
                             std::vector<GlockHolder>* holders);
  // Reads the inode blocks `inos` (ascending, close together) into the cache with one
  // device read, under try-locked shared holders of their glocks.
  void ReadAheadInodes(const std::vector<uint64_t>& inos);
  static constexpr uint64_t kInodeReadahead = 32;  // inode numbers per readahead window
  // Frees an inode without links unless it is open on this node or another one, or is
  // on another node's orphan list (then the owner's last Release or orphan pass frees
  // it, and this node gives up its open glock at once). REQUIRES: ci's glock held EX.
  Status FreeIfUnused(CachedInode* ci);
  // Release's work after the last close on this node (frees an unlinked inode).
  Status LastClose(CachedInode* ci);
  // Drops one link of `ci` (already removed from its directory) inside `h`.
  Status DropLink(MetaCache::Handle& h, Reservation& r, CachedInode* ci, bool is_dir);
  // Frees an inode with no links and no opener: its blocks, then the inode block.
  Status FreeInode(CachedInode* ci);
  Result<std::vector<uint64_t>> BlocksOf(CachedInode* ci);
  // Inside `h`: frees `blocks` (sorted; the inode's blocks and its inode block, their
  // groups locked in `r`) and leaves a tombstone in the inode block.
  Status FreeBlocksIn(MetaCache::Handle& h, Reservation& r, CachedInode* ci,
                      const std::vector<uint64_t>& blocks);
  Status OrphanAdd(MetaCache::Handle& h, Reservation& r, CachedInode* ci);
  // Takes `ci` off this node's orphan list inside `h`; `pred` is its predecessor on the
  // list (nullptr when ci is the head), loaded under its glock held EX. WouldBlock when
  // the list no longer matches (ci's caller tries again later).
  Status OrphanRemove(MetaCache::Handle& h, Reservation& r, CachedInode* ci,
                      CachedInode* pred);
  // The inode before `ino` on this node's orphan list, 0 when it is the head.
  Result<uint64_t> OrphanPredecessor(uint64_t ino);
  Status ReclaimOrphans();
  // This node's orphan list, the first `max` entries (read through the meta cache).
  Result<std::vector<uint64_t>> OwnOrphans(uint64_t max);
  Result<bool> OnOwnOrphanList(uint64_t ino);
  // The periodic orphan pass (docs/filesystem.md §7): frees the inodes on this node's
  // list that no node has open any more.
  void OrphanLoop() EXCLUDES(orphan_mu_);
  // Returns how many inodes it freed.
  Result<uint64_t> OrphanPass(uint64_t max);
  static constexpr std::chrono::milliseconds kOrphanPassPeriod{1000};
  static constexpr uint64_t kOrphansPerPass = 32;
  Mutex orphan_mu_{LockRank::kUnranked, "fs.orphans"};
  CondVar orphan_cv_{&orphan_mu_};
  bool orphan_stop_ GUARDED_BY(orphan_mu_) = false;
  std::thread orphan_thread_;
  Status Truncate(CachedInode* ci, uint64_t size);
  // Rebuilds the extent tree from `remain`, frees the runs `to_free`, applies `also` to
  // the inode and stores it, in one transaction. REQUIRES: ci's glock held EX.
  Status UnmapExtents(CachedInode* ci, const std::vector<Extent>& remain,
                      const std::vector<std::pair<uint64_t, uint32_t>>& to_free,
                      const std::function<void(Inode*)>& also);
  // With `kill_privs`, KillPrivs runs in the handle that stores the write.
  Status WriteData(CachedInode* ci, uint64_t off, std::span<const uint8_t> data,
                   bool kill_privs = false);
  // Clears set-user-ID, set-group-ID when group-executable, and removes
  // security.capability, inside `h` (docs/filesystem.md §8.1). Adds at most one block
  // (the xattr block) to `h`; a block left empty stays allocated until the inode goes.
  // Stores ci. REQUIRES: ci's glock held EX.
  Status KillPrivs(MetaCache::Handle& h, CachedInode* ci);
  // After an in-place data write that the next commit must not overtake (fresh blocks,
  // an extension, zeroing): see Journal::set_order_noted_writes_only.
  void NoteOrderedWrite() {
    if (journal_) journal_->NoteOrderedWrite();
  }
  Status ZeroRange(CachedInode* ci, uint64_t off, uint64_t len);
  Status UnshareInline(CachedInode* ci, Reservation& r, MetaCache::Handle& h);
  Result<bool> IsAncestor(uint64_t maybe_ancestor, uint64_t ino);
  Status CheckSticky(const OpContext& c, const Inode& dir, const Inode& victim) const;

  // Records that the kernel is given the name `name` of directory `dir` (a dentry it
  // may cache); returns whether it may cache it (false while the directory's glock is
  // being given up). REQUIRES: a holder on the directory's glock.
  bool HandOut(uint64_t dir, std::string_view name) EXCLUDES(entries_mu_);

  // Extended attributes block.
  struct XattrSet;
  Result<XattrSet> LoadXattrs(CachedInode* ci);
  // Reserves, opens a handle and writes `set` (or frees the block if `set` is empty).
  Status StoreXattrs(CachedInode* ci, const XattrSet& set);
  // Writes `attrs` as ci's xattr block inside `h`; `r` must hold one block if ci has
  // none yet. Stores ci.
  Status WriteXattrs(MetaCache::Handle& h, Reservation& r, CachedInode* ci, const XattrMap& attrs);
  // POSIX ACL inheritance for a new inode under directory `pci` (held): if pci has a
  // default ACL, sets *mode from it and fills *attrs with the new inode's ACLs and
  // returns true; false if pci has none (the caller applies the umask).
  Result<bool> InheritAcls(CachedInode* pci, bool is_dir, uint32_t* mode, XattrMap* attrs);
  // The inode's access ACL, if it has one (REQUIRES: a holder on ci->gl).
  Result<std::optional<acl::Acl>> AccessAcl(CachedInode* ci);
  // chmod of an inode with an access ACL: the ACL follows the new mode (in `h`).
  Status ChmodAcl(MetaCache::Handle& h, CachedInode* ci);

  BlockDevice* const dev_;
  dlm::Lockspace* const ls_;
  MountOptions options_;
  Clock* const clock_;
  const Superblock sb_;
  const BlockContext ctx_;
  bool read_only_ = false;
  uint32_t slot_ = 0;

  std::unique_ptr<Journal> journal_;
  std::unique_ptr<MetaCache> ms_;
  std::unique_ptr<GlockManager> glocks_;
  std::unique_ptr<Allocator> alloc_;
  GlockHolder journal_holder_;

  // Recovery of departed nodes (OnMembershipView).
  void RecoveryLoop() EXCLUDES(recovery_mu_);
  Status RecoverDeparted();
  Result<uint64_t> JournalStart(uint32_t slot);
  Mutex recovery_mu_{LockRank::kUnranked, "fs.recovery"};
  CondVar recovery_cv_{&recovery_mu_};
  bool recovery_pending_ GUARDED_BY(recovery_mu_) = false;
  bool recovery_stop_ GUARDED_BY(recovery_mu_) = false;
  uint64_t recovery_epoch_ GUARDED_BY(recovery_mu_) = 0;
  std::vector<net::NodeId> last_members_ GUARDED_BY(recovery_mu_);
  bool quorum_lost_ GUARDED_BY(recovery_mu_) = false;
  std::atomic<uint64_t> recoveries_{0};
  std::thread recovery_thread_;
  bool unmounted_ = false;

  // Dentries handed to the kernel, per directory, and the state of their invalidation
  // while a directory glock is given up (docs/locking.md §3 rule 2). Leaf mutex.
  struct EntryPrepare {
    int passes = 0;          // notify passes done in this prepare phase
    bool running = false;    // a pass is with the invalidator
    bool uncached = false;   // names are handed out with entry timeout 0
    Nanos started = 0;       // when the running pass began
  };
  // Times a directory was given up with its dentry pass still waiting, and every
  // dentry of the mount was expired instead (ExpireAllEntries).
  std::atomic<uint64_t> epoch_expiries_{0};
  Mutex entries_mu_{LockRank::kUnranked, "fs.kernel_entries"};
  std::unordered_map<uint64_t, std::set<std::string>> kernel_names_ GUARDED_BY(entries_mu_);
  std::unordered_map<uint64_t, EntryPrepare> entry_prepare_ GUARDED_BY(entries_mu_);

  Mutex table_mu_{LockRank::kFsInodeTable, "fs.inode_table"};
  std::unordered_map<uint64_t, std::unique_ptr<CachedInode>> inodes_ GUARDED_BY(table_mu_);
  uint64_t next_generation_ GUARDED_BY(table_mu_) = 0;
};

}  // namespace cohort::fs
