// fs/core/filesystem.cc: mount, unmount, the inode cache, glock callbacks, orphans
// (DESIGN.md §7; docs/filesystem.md).
#include "fs/core/filesystem.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "common/logging.h"
#include "fs/core/filesystem_internal.h"
#include "fs/system_blocks.h"

namespace cohort::fs {

FileSystem::FileSystem(BlockDevice* dev, dlm::Lockspace* ls, MountOptions options,
                       const Superblock& sb)
    : dev_(dev), ls_(ls), options_(std::move(options)),
      clock_(options_.clock ? options_.clock : Clock::Real()), sb_(sb), ctx_(sb.context()) {}

FileSystem::~FileSystem() {
  Status s = Unmount();
  if (!s.ok()) COHORT_LOG_ERROR("unmount: {}", s.ToString());
}

Result<std::unique_ptr<FileSystem>> FileSystem::Mount(BlockDevice* dev, dlm::Lockspace* ls,
                                                      MountOptions options) {
  bool used_backup = false;
  COHORT_ASSIGN_OR_RETURN(Superblock sb, ReadSuperblock(*dev, &used_backup));
  if (used_backup) {
    COHORT_LOG_WARN("primary superblock damaged; using the backup (run fsck.cohort)");
  }
  COHORT_ASSIGN_OR_RETURN(MountMode mode, CheckFeatures(sb.feature_compat, sb.feature_ro_compat,
                                                        sb.feature_incompat));
  if (!options.cluster_name.empty() && options.cluster_name != sb.cluster_name) {
    return Status::InvalidArgument("filesystem belongs to cluster '" + sb.cluster_name +
                                   "', not '" + options.cluster_name + "'");
  }
  if (dev->size_bytes() < sb.block_count * sb.block_size) {
    return Status::InvalidArgument("device is smaller (" + std::to_string(dev->size_bytes()) +
                                   " bytes) than the filesystem (" +
                                   std::to_string(sb.block_count * sb.block_size) + " bytes)");
  }
  auto fs = std::unique_ptr<FileSystem>(new FileSystem(dev, ls, std::move(options), sb));
  fs->read_only_ = fs->options_.read_only || mode == MountMode::kReadOnly;
  if (mode == MountMode::kReadOnly && !fs->options_.read_only) {
    COHORT_LOG_WARN("unknown read-only-compatible features: mounting read-only");
  }
  COHORT_RETURN_IF_ERROR(fs->Start());
  return fs;
}

Status FileSystem::Start() {
  glocks_ = std::make_unique<GlockManager>(ls_, this, clock_, options_.glock);
  if (!read_only_) {
    // Take a journal slot: the first whose glock nobody holds (docs/locking.md §2.1).
    // Nodes starting together race for the slots; a try that lost a race is repeated a
    // few times before the mount gives up (bounded: about 3 s).
    Status last = Status::Busy("no journal slot");
    for (int round = 0; round < 15 && !last.ok(); ++round) {
      if (round > 0) std::this_thread::sleep_for(std::chrono::milliseconds(200));
      // The home slot (node id - 1) first: the glock placement rule assumes it
      // (docs/locking.md §2.5); any free slot still works, at the cost of messages.
      std::vector<uint32_t> order;
      uint32_t home = options_.node_id - 1;
      if (options_.node_id >= 1 && home < sb_.journal_count) order.push_back(home);
      for (uint32_t s = 0; s < sb_.journal_count; ++s) {
        if (s != home) order.push_back(s);
      }
      for (uint32_t s : order) {
        if (options_.forced_slot >= 0 && s != static_cast<uint32_t>(options_.forced_slot)) continue;
        auto h = glocks_->Acquire(GlockType::kJournal, s, HolderMode::kExclusive, /*try=*/true);
        if (h.ok()) {
          journal_holder_ = std::move(*h);
          slot_ = s;
          last = Status::OK();
          break;
        }
        if (h.code() != Code::kWouldBlock) return h.status();
      }
    }
    if (!last.ok()) {
      return Status::Busy("all " + std::to_string(sb_.journal_count) +
                          " journal slots are in use by other nodes: add one with "
                          "`cohort jadd` (one journal per mounted node)");
    }
    COHORT_ASSIGN_OR_RETURN(uint64_t start, JournalStart(slot_));
    COHORT_ASSIGN_OR_RETURN(journal_, Journal::Open(dev_, ctx_, start, sb_.block_count, clock_));
    // The data path notes the in-place writes a commit must not overtake
    // (NoteOrderedWrite); an overwrite of mapped data within the size needs no flush of
    // its own before the commit record (docs/filesystem.md §3).
    journal_->set_order_noted_writes_only(true);
  }
  {
    MutexLock l(&recovery_mu_);
    last_members_ = ls_->view().members;
  }
  recovery_thread_ = std::thread([this] { RecoveryLoop(); });
  ms_ = std::make_unique<MetaCache>(dev_, ctx_, sb_.block_count, journal_.get(), clock_,
                                    options_.meta);
  alloc_ = std::make_unique<Allocator>(ms_.get(), glocks_.get(), sb_, slot_);
  if (!read_only_) {
    COHORT_RETURN_IF_ERROR(ReclaimOrphans());
    orphan_thread_ = std::thread([this] { OrphanLoop(); });
  }
  COHORT_LOG_INFO("mounted {} ({}), journal slot {}{}", sb_.label.empty() ? "cohort" : sb_.label,
                  sb_.cluster_name, slot_, read_only_ ? ", read-only" : "");
  return Status::OK();
}

Status FileSystem::Unmount() {
  if (unmounted_) return Status::OK();
  unmounted_ = true;
  // The background passes may wait in a freeze that will not end (quorum lost): no FUSE
  // request is left, so every waiter is given up before the threads are joined.
  if (glocks_) glocks_->AbortWaiters();
  {
    MutexLock l(&recovery_mu_);
    recovery_stop_ = true;
    recovery_cv_.SignalAll();
  }
  if (recovery_thread_.joinable()) recovery_thread_.join();
  {
    MutexLock l(&orphan_mu_);
    orphan_stop_ = true;
    orphan_cv_.SignalAll();
  }
  if (orphan_thread_.joinable()) orphan_thread_.join();
  Status result;
  {
    MutexLock l(&table_mu_);
    for (auto& [ino, ci] : inodes_) ci->open_holder.Release();
  }
  if (ms_) {
    Status s = ms_->Commit();
    if (!s.ok()) result = s;
  }
  // Checkpoint before the journal glock goes: a node that can take our slot's glock
  // replays what our log still holds, and after our locks are released those images
  // may be older than other nodes' changes (docs/filesystem.md §3.2).
  if (journal_) {
    Status s = journal_->Checkpoint();
    if (!s.ok() && result.ok()) result = s;
  }
  if (glocks_) {
    journal_holder_.Release();
    glocks_->Shutdown();
  }
  if (ms_) {
    Status s = ms_->Stop();
    if (!s.ok() && result.ok()) result = s;
  }
  if (journal_) {
    // A clean journal: everything checkpointed in place, the tail at the head.
    Status s = journal_->Checkpoint();
    if (!s.ok() && result.ok()) result = s;
    s = dev_->Flush();
    if (!s.ok() && result.ok()) result = s;
  }
  return result;
}

// ----------------------------------------------- departed nodes (docs/locking.md §4)

Result<uint64_t> FileSystem::JournalStart(uint32_t slot) {
  AlignedBuffer buf(ctx_.block_size);
  COHORT_RETURN_IF_ERROR(dev_->ReadBlock(sb_.journal_index_blkno, ctx_.block_size, buf.span()));
  COHORT_ASSIGN_OR_RETURN(JournalIndex index,
                          DecodeJournalIndex(buf.span(), sb_.journal_index_blkno, ctx_,
                                             sb_.max_nodes, sb_.block_count));
  if (slot >= index.entries.size() || index.entries[slot].start == 0) {
    return Status::Corruption("journal slot " + std::to_string(slot) + " has no journal");
  }
  return index.entries[slot].start;
}

void FileSystem::OnMembershipView(const net::MembershipView& v) {
  if (!v.Contains(options_.node_id) && options_.node_id != 0) return;  // not our view yet
  bool lost_member = false, lost_quorum = false, regained = false;
  std::vector<net::NodeId> gone;
  {
    MutexLock l(&recovery_mu_);
    for (net::NodeId n : last_members_) {
      if (!v.Contains(n)) gone.push_back(n);
    }
    last_members_ = v.members;
    lost_member = !gone.empty();
    if (!v.quorate && !quorum_lost_) {
      quorum_lost_ = true;
      lost_quorum = true;
    } else if (v.quorate && quorum_lost_) {
      regained = true;
    }
  }
  std::string who;
  for (net::NodeId n : gone) who += (who.empty() ? "" : ",") + std::to_string(n);
  if (lost_quorum) {
    glocks_->Freeze(/*all=*/true);
    COHORT_LOG_ERROR("lost quorum ({}): every operation that needs a lock waits; this node "
                     "must not touch shared metadata until it is back in a quorate view",
                     v.ToString());
    return;
  }
  if (regained) {
    // While we were cut off, the others may have recovered our journal and taken our
    // locks: nothing this node caches can be trusted any more.
    glocks_->Withdraw("this node lost quorum earlier (" + v.ToString() +
                      "): unmount and mount it again");
    COHORT_LOG_ERROR("quorum is back ({}) but this node lost it before: withdrawn, every "
                     "operation now fails with EIO; unmount and mount again", v.ToString());
    return;
  }
  if (!lost_member) return;
  uint64_t epoch = glocks_->Freeze();
  COHORT_LOG_WARN("node(s) {} left the cluster ({}): new locks wait until the journals "
                  "nobody holds are replayed", who, v.ToString());
  MutexLock l(&recovery_mu_);
  recovery_pending_ = true;
  recovery_epoch_ = epoch;
  recovery_cv_.SignalAll();
}

void FileSystem::RecoveryLoop() {
  while (true) {
    uint64_t epoch;
    {
      MutexLock l(&recovery_mu_);
      while (!recovery_pending_ && !recovery_stop_) recovery_cv_.Wait();
      if (recovery_stop_) return;
      recovery_pending_ = false;
      epoch = recovery_epoch_;
    }
    Status s = RecoverDeparted();
    if (s.ok()) {
      recoveries_.fetch_add(1);
      glocks_->Thaw(epoch);
      if (!glocks_->frozen()) COHORT_LOG_INFO("recovery done: new locks are granted again");
      continue;
    }
    COHORT_LOG_ERROR("recovery of departed nodes failed: {} (new locks stay frozen; retrying)",
                     s.ToString());
    MutexLock l(&recovery_mu_);
    if (!recovery_pending_ && !recovery_stop_) {
      recovery_pending_ = true;
      (void)recovery_cv_.WaitFor(std::chrono::seconds(1));
    }
  }
}

Status FileSystem::RecoverDeparted() {
  // One survivor at a time (the recovery glock), each journal slot under its own glock:
  // a slot we can take nobody holds, so its node is gone (or never mounted); replaying
  // is idempotent, so a clean journal costs one header read; it is safe because a node
  // checkpoints before giving up EX or its slot (docs/filesystem.md §3.2).
  COHORT_ASSIGN_OR_RETURN(GlockHolder rh, glocks_->Acquire(GlockType::kRecovery, 0,
                                                           HolderMode::kExclusive, false, true));
  for (uint32_t s = 0; s < sb_.journal_count; ++s) {
    if (journal_ && s == slot_) continue;
    auto jh = glocks_->Acquire(GlockType::kJournal, s, HolderMode::kExclusive, /*try_only=*/true,
                               /*recovery=*/true);
    if (!jh.ok()) {
      if (jh.code() == Code::kWouldBlock) continue;  // a live node's
      return jh.status();
    }
    if (read_only_) continue;  // cannot write: a writable survivor replays it
    COHORT_ASSIGN_OR_RETURN(uint64_t start, JournalStart(s));
    COHORT_ASSIGN_OR_RETURN(Journal::ReplayStats st, Journal::Replay(dev_, ctx_, start, sb_.block_count));
    if (st.transactions > 0) {
      COHORT_LOG_WARN("replayed journal slot {} of a departed node: {} transactions, {} blocks",
                      s, st.transactions, st.blocks);
    }
  }
  return Status::OK();
}

// ------------------------------------------------------------------------ inode cache

FileSystem::InodeRef FileSystem::Get(uint64_t ino) {
  MutexLock l(&table_mu_);
  auto& slot = inodes_[ino];
  if (!slot) {
    slot = std::make_unique<CachedInode>();
    slot->ino = ino;
    slot->gl = glocks_->Get(GlockType::kInode, ino);
    slot->open_gl = glocks_->Get(GlockType::kOpen, ino);
  }
  slot->refs += 1;
  return InodeRef(this, slot.get());
}

void FileSystem::Unref(CachedInode* ci) {
  MutexLock l(&table_mu_);
  ci->refs -= 1;
  MaybeReclaim(ci);
}

void FileSystem::MaybeReclaim(CachedInode* ci) {
  if (ci->refs != 0 || ci->nlookup != 0 || ci->nopen != 0 || ci->open_holder.held() ||
      ci->ino == sb_.root_inode) {
    return;
  }
  inodes_.erase(ci->ino);
}

size_t FileSystem::cached_inodes() {
  MutexLock l(&table_mu_);
  return inodes_.size();
}

Result<GlockHolder> FileSystem::Hold(CachedInode* ci, HolderMode m) {
  COHORT_ASSIGN_OR_RETURN(GlockHolder h, glocks_->Acquire(ci->gl, m));
  COHORT_RETURN_IF_ERROR(Load(ci));
  return h;
}

CacheOwner FileSystem::OwnerOf(CachedInode* ci) const {
  return reinterpret_cast<CacheOwner>(ci->gl);
}

Status FileSystem::Load(CachedInode* ci) {
  if (ci->ino == 0 || ci->ino >= sb_.block_count) {
    return Status::Stale("inode " + std::to_string(ci->ino) + " out of range");
  }
  MutexLock l(&ci->load_mu);
  if (ci->loaded.load(std::memory_order_acquire)) return Status::OK();
  COHORT_ASSIGN_OR_RETURN(auto block, ms_->Read(ci->ino, OwnerOf(ci)));
  COHORT_ASSIGN_OR_RETURN(BlockHeader hdr, PeekHeader(block));
  if (hdr.magic != kMetaMagic || hdr.type != static_cast<uint16_t>(BlockType::kInode)) {
    // The block is no longer an inode: the file was removed (by us or another node).
    return Status::Stale("inode " + std::to_string(ci->ino) + " no longer exists");
  }
  COHORT_ASSIGN_OR_RETURN(Inode disk, DecodeInode(block, ci->ino, ctx_, sb_.block_count));
  ci->disk = std::move(disk);
  ci->disk.ino = ci->ino;
  ci->loaded.store(true, std::memory_order_release);
  return Status::OK();
}

void FileSystem::Store(MetaCache::Handle& h, CachedInode* ci) {
  h.Put(ci->ino, ci->disk.Encode(ctx_), OwnerOf(ci));
}

void FileSystem::AddLookup(CachedInode* ci, uint64_t n) {
  MutexLock l(&table_mu_);
  ci->nlookup += n;
}

void FileSystem::Forget(uint64_t ino, uint64_t nlookup) {
  MutexLock l(&table_mu_);
  auto it = inodes_.find(ino);
  if (it == inodes_.end()) return;
  CachedInode* ci = it->second.get();
  ci->nlookup -= std::min(ci->nlookup, nlookup);
  // Forgotten by the kernel and not in use: the CachedInode goes. Its glock and the
  // blocks cached under it stay until the glock is released.
  MaybeReclaim(ci);
}

int64_t FileSystem::Now() const { return clock_->WallNanos(); }

int64_t FileSystem::NextMtime(const Inode& ino) const {
  // Strictly forward, so that every data change is visible to kernels that cache
  // pages until mtime changes (docs/locking.md §3 rule 1).
  return std::max(Now(), ino.mtime_ns + 1);
}

struct stat FileSystem::StatOf(const Inode& ino) const {
  struct stat st {};
  st.st_ino = ino.ino;
  st.st_mode = ino.mode;
  st.st_nlink = ino.nlink;
  st.st_uid = ino.uid;
  st.st_gid = ino.gid;
  st.st_rdev = static_cast<dev_t>(ino.rdev);
  st.st_size = static_cast<off_t>(ino.size);
  st.st_blksize = static_cast<blksize_t>(ctx_.block_size);
  st.st_blocks = static_cast<blkcnt_t>(ino.blocks * (ctx_.block_size / 512));
  st.st_atim.tv_sec = ino.atime_ns / kNanosPerSecond;
  st.st_atim.tv_nsec = ino.atime_ns % kNanosPerSecond;
  st.st_mtim.tv_sec = ino.mtime_ns / kNanosPerSecond;
  st.st_mtim.tv_nsec = ino.mtime_ns % kNanosPerSecond;
  st.st_ctim.tv_sec = ino.ctime_ns / kNanosPerSecond;
  st.st_ctim.tv_nsec = ino.ctime_ns % kNanosPerSecond;
  return st;
}

EntryInfo FileSystem::EntryOf(CachedInode* ci) {
  EntryInfo e;
  e.ino = ci->ino;
  e.generation = ci->disk.generation;
  e.attr = StatOf(ci->disk);
  AddLookup(ci, 1);
  return e;
}

Directory FileSystem::DirOf(CachedInode* ci) {
  return Directory(ms_.get(), alloc_.get(), OwnerOf(ci), &ci->names);
}
FileMap FileSystem::MapOf(CachedInode* ci) { return FileMap(ms_.get(), alloc_.get(), OwnerOf(ci)); }

// --------------------------------------------------------------------- glock callbacks

Status FileSystem::SyncGlock(Glock* gl) {
  // One journal per node: committing it makes everything dirty under any glock durable
  // (its flushes also cover the data written in place before it: every data change
  // dirties its inode through mtime, so there is no data without a commit).
  // Another node reads the device in place: committed blocks whose in-place write is
  // deferred go there now.
  if (!ms_) return Status::OK();
  return ms_->WriteBack();
}

void FileSystem::InvalidateGlock(Glock* gl) {
  if (ms_) ms_->Invalidate(reinterpret_cast<CacheOwner>(gl));
  switch (gl->type()) {
    case GlockType::kInode: {
      // The CachedInode may have been reclaimed: find it under the table mutex.
      {
        MutexLock l(&table_mu_);
        auto it = inodes_.find(gl->number());
        if (it != inodes_.end()) {
          it->second->loaded.store(false, std::memory_order_release);
          it->second->names.Clear();
        }
      }
      // The kernel may still cache attributes of an inode we no longer keep.
      if (options_.invalidator) options_.invalidator->InvalidateAttributes(gl->number());
      // Names still recorded were handed out after the prepare phase's last pass (with
      // entry timeout 0, or kept by a local rename) or the glock was lost without one
      // (conversion deadlock): invalidate them too, asynchronously.
      std::set<std::string> names;
      {
        MutexLock l(&entries_mu_);
        auto it = kernel_names_.find(gl->number());
        if (it != kernel_names_.end()) {
          names.swap(it->second);
          kernel_names_.erase(it);
        }
        entry_prepare_.erase(gl->number());
      }
      if (!names.empty() && options_.invalidator) {
        options_.invalidator->InvalidateEntries(
            gl->number(), std::vector<std::string>(names.begin(), names.end()), nullptr);
      }
      break;
    }
    case GlockType::kGroup:
      if (alloc_) alloc_->InvalidateGroup(gl->number());
      break;
    default:
      break;
  }
}

namespace {
// Notify passes over a directory's names before its names are handed out uncached.
constexpr int kMaxEntryPasses = 3;
// How long a demotion waits for one pass. A pass waits for the kernel's directory lock;
// a request holding it may wait for a cluster lock that waits, on another node, for
// this demotion (e.g. a rename waiting for the rename glock): after this long the
// demotion goes on and the pass completes in the background (docs/locking.md §3).
constexpr Nanos kEntryPassWait = 100 * kNanosPerMilli;
// At most this many names per directory are tracked; beyond, names are not cached.
constexpr size_t kMaxTrackedNames = 65536;
}  // namespace

bool FileSystem::HandOut(uint64_t dir, std::string_view name) {
  if (!options_.invalidator) return true;
  MutexLock l(&entries_mu_);
  auto& names = kernel_names_[dir];
  if (names.size() >= kMaxTrackedNames) return false;
  // Recorded even when not cached: a local rename moves a kernel dentry with its old
  // timeout, so InvalidateGlock notifies every recorded name.
  names.emplace(name);
  auto it = entry_prepare_.find(dir);
  return it == entry_prepare_.end() || !it->second.uncached;
}

bool FileSystem::PrepareDemote(Glock* gl) {
  if (gl->type() != GlockType::kInode || !options_.invalidator) return true;
  uint64_t ino = gl->number();
  std::vector<std::string> pass;
  bool timed_out = false;
  {
    MutexLock l(&entries_mu_);
    EntryPrepare& st = entry_prepare_[ino];
    if (st.running) {
      if (clock_->Now() - st.started < kEntryPassWait) return false;
      st.uncached = true;
      timed_out = true;
    }
  }
  if (timed_out) {
    // The pass waits for the kernel's directory lock (locking.md §3): instead of leaving
    // its names cached while another node changes the directory, expire every dentry of
    // this mount (no kernel lock needed); each is looked up again at its next use.
    if (options_.invalidator->ExpireAllEntries()) {
      epoch_expiries_.fetch_add(1, std::memory_order_relaxed);
      COHORT_LOG_DEBUG("directory {}: dentry invalidation waits for the kernel's directory "
                       "lock; expired all dentries instead", ino);
    } else {
      COHORT_LOG_WARN("directory {}: dentry invalidation waits for the kernel's directory "
                      "lock; giving up the glock without waiting for it", ino);
    }
    return true;
  }
  {
    MutexLock l(&entries_mu_);
    EntryPrepare& st = entry_prepare_[ino];
    if (st.running) return false;  // started by another caller meanwhile
    if (st.uncached) return true;
    auto it = kernel_names_.find(ino);
    if (it == kernel_names_.end() || it->second.empty()) {
      // A pass in which no name was handed out: from now on none is cached.
      st.uncached = true;
      return true;
    }
    pass.assign(it->second.begin(), it->second.end());
    kernel_names_.erase(it);
    if (++st.passes >= kMaxEntryPasses) st.uncached = true;  // the last pass
    st.running = true;
    st.started = clock_->Now();
  }
  options_.invalidator->InvalidateEntries(ino, std::move(pass), [this, gl, ino] {
    {
      MutexLock l(&entries_mu_);
      auto it = entry_prepare_.find(ino);
      if (it != entry_prepare_.end()) it->second.running = false;
    }
    glocks_->Kick(gl);
  });
  return false;
}

// ------------------------------------------------------------------------ file system

Result<FsStat> FileSystem::StatFs() {
  COHORT_ASSIGN_OR_RETURN(FsCounts c, alloc_->Counts());
  FsStat s;
  s.block_size = ctx_.block_size;
  s.blocks = c.total_blocks;
  s.free_blocks = c.free_blocks;
  // Every free block can become an inode (inode number = block number).
  s.files = c.inodes + c.free_blocks;
  s.free_files = c.free_blocks;
  return s;
}

Status FileSystem::SyncAll() {
  if (read_only_) return Status::OK();
  COHORT_RETURN_IF_ERROR(ms_->Commit());
  return dev_->Flush();
}

std::string FileSystem::DumpInodes() {
  std::string out;
  MutexLock l(&table_mu_);
  for (auto& [ino, ci] : inodes_) {
    out += "inode " + std::to_string(ino) + " lookups=" + std::to_string(ci->nlookup) +
           " opens=" + std::to_string(ci->nopen) +
           (ci->loaded.load() ? " loaded" : "") + "\n";
  }
  return out;
}

// --------------------------------------------------------------------------- orphans

Status FileSystem::OrphanAdd(MetaCache::Handle& h, Reservation& r, CachedInode* ci) {
  COHORT_RETURN_IF_ERROR(alloc_->UpdateNodeBlock(h, [&](NodeBlock* nb) {
    ci->disk.orphan_next = nb->orphan_head;
    ci->disk.flags |= kInodeOrphan;
    nb->orphan_head = ci->ino;
    nb->orphan_count += 1;
    return Status::OK();
  }));
  COHORT_RETURN_IF_ERROR(alloc_->SetState(r, h, ci->ino, BlockState::kUnlinkedInode));
  Store(h, ci);
  return Status::OK();
}

Status FileSystem::OrphanRemove(MetaCache::Handle& h, Reservation& r, CachedInode* ci,
                                CachedInode* pred) {
  if (!(ci->disk.flags & kInodeOrphan)) return Status::OK();
  uint64_t next = ci->disk.orphan_next;
  return alloc_->UpdateNodeBlock(h, [&](NodeBlock* nb) -> Status {
    if (nb->orphan_head == ci->ino) {
      nb->orphan_head = next;
    } else {
      // The predecessor's orphan_next is a field of its inode block: written only under
      // its glock (FreeInode holds it EX), loaded under that glock, so current.
      if (pred == nullptr || pred->disk.orphan_next != ci->ino) {
        return Status::WouldBlock("orphan list of this node changed; tried again later");
      }
      pred->disk.orphan_next = next;
      Store(h, pred);
    }
    nb->orphan_count -= std::min<uint64_t>(nb->orphan_count, 1);
    ci->disk.flags &= ~kInodeOrphan;
    ci->disk.orphan_next = 0;
    return Status::OK();
  });
}

Result<uint64_t> FileSystem::OrphanPredecessor(uint64_t ino) {
  COHORT_ASSIGN_OR_RETURN(NodeBlock nb, alloc_->ReadNodeBlock());
  uint64_t prev = 0, cur = nb.orphan_head;
  for (uint64_t steps = 0; cur != 0; ++steps) {
    if (steps > nb.orphan_count + 1) return Status::Corruption("orphan list loops");
    if (cur == ino) return prev;
    // Without the entry's glock: Peek keeps no copy (see OwnOrphans). The orphan_next
    // read here is re-checked under the predecessor's glock before it is changed.
    COHORT_ASSIGN_OR_RETURN(auto block, ms_->Peek(cur));
    COHORT_ASSIGN_OR_RETURN(Inode p, DecodeInode(block, cur, ctx_, sb_.block_count));
    prev = cur;
    cur = p.orphan_next;
  }
  return Status::Corruption("inode " + std::to_string(ino) + " not on this node's orphan list");
}

Status FileSystem::ReclaimOrphans() {
  // At mount nothing is open on this node, but another node may still have open an
  // inode this node unlinked before it crashed: the same try-locks as the orphan pass
  // decide, and what cannot be freed now is left to the pass. Each round walks the
  // whole list; a round that frees nothing ends it.
  uint64_t total = 0;
  while (true) {
    COHORT_ASSIGN_OR_RETURN(uint64_t freed, OrphanPass(UINT64_MAX));
    if (freed == 0) break;
    total += freed;
  }
  if (total) COHORT_LOG_INFO("freed {} orphan inode(s) left by an earlier mount", total);
  return Status::OK();
}

Result<bool> FileSystem::OnOwnOrphanList(uint64_t ino) {
  COHORT_ASSIGN_OR_RETURN(std::vector<uint64_t> list, OwnOrphans(UINT64_MAX));
  return std::find(list.begin(), list.end(), ino) != list.end();
}

Result<std::vector<uint64_t>> FileSystem::OwnOrphans(uint64_t max) {
  COHORT_ASSIGN_OR_RETURN(NodeBlock nb, alloc_->ReadNodeBlock());
  std::vector<uint64_t> out;
  uint64_t cur = nb.orphan_head;
  while (cur != 0 && out.size() < max) {
    if (out.size() > nb.orphan_count + 1) return Status::Corruption("orphan list loops");
    out.push_back(cur);
    // Without the inode's glock: Peek keeps no copy. (A copy cached here, even under the
    // inode's owner, would outlive nothing: the glock is not held, so no demotion would
    // drop it, and a later Load under the glock would trust it and miss another node's
    // changes, e.g. blocks it appended to the unlinked file.)
    COHORT_ASSIGN_OR_RETURN(auto block, ms_->Peek(cur));
    COHORT_ASSIGN_OR_RETURN(Inode p, DecodeInode(block, cur, ctx_, sb_.block_count));
    cur = p.orphan_next;
  }
  return out;
}

void FileSystem::OrphanLoop() {
  while (true) {
    {
      MutexLock l(&orphan_mu_);
      if (!orphan_stop_) (void)orphan_cv_.WaitFor(kOrphanPassPeriod);
      if (orphan_stop_) return;
    }
    auto freed = OrphanPass(kOrphansPerPass);
    if (!freed.ok()) {
      COHORT_LOG_WARN("orphan pass: {} (tried again later)", freed.status().ToString());
    } else if (*freed) {
      COHORT_LOG_DEBUG("orphan pass freed {} inode(s) closed elsewhere", *freed);
    }
  }
}

Result<uint64_t> FileSystem::OrphanPass(uint64_t max) {
  // Bounded work per pass: the first `max` entries of this node's list. An entry that
  // cannot be freed yet (open somewhere, or its list predecessor busy) stays and is
  // tried again next pass.
  COHORT_ASSIGN_OR_RETURN(std::vector<uint64_t> list, OwnOrphans(max));
  uint64_t freed = 0;
  for (uint64_t ino : list) {
    InodeRef ci = Get(ino);
    {
      MutexLock l(&table_mu_);
      if (ci->nopen > 0) continue;  // open here: our own last Release frees it
    }
    // Both try-locks (NOQUEUE), so the order of §2.2 cannot deadlock. A failed try on
    // `o` sends the holders a BAST: an idle cached PR goes at once (locking.md §2.6),
    // an open one when its node's last close releases it.
    auto oh = glocks_->Acquire(ci->open_gl, HolderMode::kExclusive, /*try_only=*/true);
    if (!oh.ok()) {
      if (oh.code() == Code::kWouldBlock) continue;
      return oh.status();
    }
    auto ih = glocks_->Acquire(ci->gl, HolderMode::kExclusive, /*try_only=*/true);
    if (!ih.ok()) {
      if (ih.code() == Code::kWouldBlock) continue;
      return ih.status();
    }
    Status ls = Load(ci);
    if (ls.Is(Code::kStale)) continue;  // already freed
    COHORT_RETURN_IF_ERROR(ls);
    if (ci->disk.nlink != 0 || !(ci->disk.flags & kInodeOrphan)) continue;
    {
      MutexLock l(&table_mu_);
      if (ci->nopen > 0) continue;
    }
    COHORT_ASSIGN_OR_RETURN(bool own, OnOwnOrphanList(ino));
    if (!own) continue;
    Status fs = FreeInode(ci);
    if (fs.Is(Code::kWouldBlock)) continue;  // predecessor busy: next pass
    COHORT_RETURN_IF_ERROR(fs);
    freed += 1;
  }
  return freed;
}

Result<std::vector<uint64_t>> FileSystem::BlocksOf(CachedInode* ci) {
  std::vector<uint64_t> blocks;
  const Inode& d = ci->disk;
  if (d.content_kind == ContentKind::kHashedDir) {
    Directory dir = DirOf(ci);
    COHORT_ASSIGN_OR_RETURN(blocks, dir.OwnedBlocks(d));
  } else if (d.content_kind == ContentKind::kExtents) {
    FileMap map = MapOf(ci);
    COHORT_ASSIGN_OR_RETURN(auto extents, map.AllExtents(d));
    for (const Extent& e : extents) {
      for (uint32_t i = 0; i < e.length; ++i) blocks.push_back(e.physical + i);
    }
    COHORT_ASSIGN_OR_RETURN(auto nodes, map.NodeBlocks(d));
    blocks.insert(blocks.end(), nodes.begin(), nodes.end());
  }
  if (d.xattr_blkno) blocks.push_back(d.xattr_blkno);
  return blocks;
}

Status FileSystem::FreeInode(CachedInode* ci) {
  // Large files go in several transactions (each bounded): truncate to zero first.
  if (ci->disk.content_kind == ContentKind::kExtents && ci->disk.blocks > 64) {
    COHORT_RETURN_IF_ERROR(Truncate(ci, 0));
  }
  // An orphan that is not the head of this node's list changes its predecessor's
  // orphan_next, a field of the predecessor's inode block, which another node may have
  // open and be writing: so under the predecessor's glock, EX. A try-lock (NOQUEUE): we
  // hold ci's glocks and the predecessor may come first in the lock order (locking.md
  // §2.2); when it is busy this returns WouldBlock and the caller leaves ci for the next
  // orphan pass (the failed try also sends the holder a BAST). Declared before the
  // transaction handle, so that the handle ends first.
  InodeRef pred;
  GlockHolder pred_holder;
  if (ci->disk.flags & kInodeOrphan) {
    COHORT_ASSIGN_OR_RETURN(uint64_t p, OrphanPredecessor(ci->ino));
    if (p != 0) {
      pred = Get(p);
      COHORT_ASSIGN_OR_RETURN(pred_holder, glocks_->Acquire(pred->gl, HolderMode::kExclusive,
                                                            /*try_only=*/true));
      COHORT_RETURN_IF_ERROR(Load(pred));
    }
  }
  COHORT_ASSIGN_OR_RETURN(auto blocks, BlocksOf(ci));
  blocks.push_back(ci->ino);
  Reservation r;
  COHORT_RETURN_IF_ERROR(alloc_->LockGroupsOf(&r, blocks));
  COHORT_ASSIGN_OR_RETURN(auto h, ms_->Begin(17 + 2 * r.groups.size() + blocks.size() / 1000));
  COHORT_RETURN_IF_ERROR(OrphanRemove(*h, r, ci, pred.get()));
  std::sort(blocks.begin(), blocks.end());
  return FreeBlocksIn(*h, r, ci, blocks);
}

Status FileSystem::FreeBlocksIn(MetaCache::Handle& h_ref, Reservation& r, CachedInode* ci,
                                const std::vector<uint64_t>& blocks) {
  MetaCache::Handle* h = &h_ref;
  for (size_t i = 0; i < blocks.size();) {
    size_t j = i + 1;
    while (j < blocks.size() && blocks[j] == blocks[j - 1] + 1 &&
           alloc_->GroupOf(blocks[j]) == alloc_->GroupOf(blocks[i])) {
      ++j;
    }
    COHORT_RETURN_IF_ERROR(alloc_->Free(r, *h, blocks[i], static_cast<uint32_t>(j - i)));
    i = j;
  }
  // A tombstone: the freed block no longer decodes as an inode, so a stale handle to
  // it (here or on another node) gets ESTALE instead of the old attributes. Logged like
  // any freed block, it stays quarantined until the checkpoint.
  h->Put(ci->ino, std::vector<uint8_t>(ctx_.block_size, 0), OwnerOf(ci));
  ci->loaded.store(false, std::memory_order_release);
  ci->names.Clear();
  return Status::OK();
}

}  // namespace cohort::fs
