// fs/fuse/fuse_server.h: the FUSE low-level session that serves a FileSystem
// (DESIGN.md §7, §11; docs/filesystem.md §8).
//
// The adapter is the only place where FUSE types and errno values appear: each request
// becomes one FileSystem call, its Status becomes an errno once (Status::ToErrno), and
// every path sends exactly one reply (fuse_lowlevel.h's contract). No exception leaves a
// callback: std::bad_alloc becomes ENOMEM, anything else EIO.
//
// Session settings: 1 MiB reads and writes, a multi-threaded loop, readdirplus,
// default_permissions (the kernel checks mode bits and ACLs), FUSE_CAP_AUTO_INVAL_DATA
// and long attribute/entry timeouts whose validity the glocks maintain
// (docs/locking.md §3). FUSE's root id 1 is the filesystem's root inode; every other
// FUSE id is the inode number itself.
//
// Thread safety: Loop() runs the session's worker threads; InvalidateAttributes() and
// InvalidateEntries() may be called from any thread (the glock worker) while they run.
// Entry invalidations run on a notifier thread of their own: notify_inval_entry waits
// for the kernel's directory lock, which a request may hold (docs/locking.md §3).
#pragma once

#define FUSE_USE_VERSION FUSE_MAKE_VERSION(3, 12)
#include <fuse3/fuse_lowlevel.h>

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <string>
#include <vector>

#include "common/mutex.h"
#include "common/status.h"
#include "fs/core/filesystem.h"

namespace cohort::fs {

struct FuseServerOptions {
  std::string mountpoint;
  std::string fsname = "cohort";       // shown in /proc/mounts
  bool allow_other = false;             // let other users in (needs root or user_allow_other)
  bool read_only = false;
  bool debug = false;                   // libfuse's -d
  bool acl = true;                      // POSIX ACLs (FUSE_CAP_POSIX_ACL); -o noacl turns off
  int max_threads = 16;
  double timeout_seconds = 86400.0;     // attr/entry validity while our glocks hold
  std::vector<std::string> extra_options;  // passed to the kernel mount as -o
  // Tests only: the notifier thread holds every dentry invalidation back until the
  // server stops, as if a request kept the kernel's directory lock the whole time
  // (docs/locking.md §3), so that the fallback (ExpireAllEntries) is what invalidates.
  bool test_hold_entry_notifies = false;
};

class FuseServer final : public KernelInvalidator {
 public:
  // Creates the session for `fs` (not yet mounted). `fs` must outlive the server.
  static Result<std::unique_ptr<FuseServer>> Create(FileSystem* fs, FuseServerOptions options);
  ~FuseServer() override;

  // Mounts at the mountpoint. Errors: IOError with libfuse's reason.
  Status Mount();
  // Serves requests until the filesystem is unmounted (fusermount3 -u / umount) or
  // Exit() is called. Installs SIGINT/SIGTERM/SIGHUP handlers that call Exit().
  Status Loop();
  // Makes Loop() return (async-signal-safe through libfuse's handlers).
  void Exit();
  // Unmounts if mounted. Idempotent.
  void Unmount();

  // KernelInvalidator.
  void InvalidateAttributes(uint64_t ino) override;
  void InvalidateEntries(uint64_t parent, std::vector<std::string> names,
                         std::function<void()> done) override;
  bool ExpireAllEntries() override;

  // FUSE id <-> inode number.
  uint64_t ToIno(fuse_ino_t id) const { return id == FUSE_ROOT_ID ? fs_->root_inode() : id; }
  fuse_ino_t ToId(uint64_t ino) const { return ino == fs_->root_inode() ? FUSE_ROOT_ID : ino; }

  FileSystem* fs() const { return fs_; }
  const FuseServerOptions& options() const { return options_; }

 private:
  FuseServer(FileSystem* fs, FuseServerOptions options) : fs_(fs), options_(std::move(options)) {}
  void NotifyLoop();

  struct NotifyJob {
    uint64_t parent;
    std::vector<std::string> names;
    std::function<void()> done;
  };

  FileSystem* const fs_;
  const FuseServerOptions options_;
  fuse_session* se_ = nullptr;
  bool mounted_ = false;
  bool signals_ = false;
  std::atomic<bool> serving_{false};
  std::atomic<bool> epoch_supported_{true};  // until the kernel refuses INC_EPOCH

  // The notifier thread's queue. Leaf mutex.
  Mutex notify_mu_{LockRank::kUnranked, "fuse.notify"};
  CondVar notify_cv_{&notify_mu_};
  std::deque<NotifyJob> notify_jobs_ GUARDED_BY(notify_mu_);
  bool notify_stop_ GUARDED_BY(notify_mu_) = false;
  std::thread notifier_;
};

}  // namespace cohort::fs
