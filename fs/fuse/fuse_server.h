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
// (docs/locking.md §3), FUSE_HANDLE_KILLPRIV_V2 (the daemon clears set-user-ID,
// set-group-ID and file capabilities; negotiated through our own /dev/fuse read/writev,
// kernel_wire.h, docs/filesystem.md §8.1). FUSE's root id 1 is the filesystem's root
// inode; every other FUSE id is the inode number itself.
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
  // Ask the kernel for FUSE_HANDLE_KILLPRIV_V2 (docs/filesystem.md §8.1): we clear
  // set-user-ID/set-group-ID/security.capability on write, truncate and chown, and the
  // kernel stops asking for security.capability before every write (SB_NOSEC).
  bool killpriv_v2 = true;
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
  // Whether the kernel took FUSE_HANDLE_KILLPRIV_V2 (known once INIT is answered).
  bool killpriv_v2() const { return killpriv_v2_.load(); }
  // Whether the request this worker thread read last is `opcode` on `id` and carries
  // the kernel's "kill suid/sgid" flag (kernel_wire.h). Only valid inside a handler.
  static bool KillSuidgidRequested(uint32_t opcode, fuse_ino_t id);
  // Requests this process has read from /dev/fuse, per kernel opcode name, and whether
  // FUSE_HANDLE_KILLPRIV_V2 is on ("name value" lines for the SIGUSR1 statistics,
  // docs/operations.md). Safe from any thread.
  static std::string FormatRequestCounts();

 private:
  FuseServer(FileSystem* fs, FuseServerOptions options) : fs_(fs), options_(std::move(options)) {}
  void NotifyLoop();
  // /dev/fuse through fuse_session_custom_io (kernel_wire.h): records what libfuse 3.14
  // does not pass on, and adds FUSE_HANDLE_KILLPRIV_V2 to the INIT reply.
  static ssize_t IoRead(int fd, void* buf, size_t len, void* userdata);
  static ssize_t IoWritev(int fd, struct iovec* iov, int count, void* userdata);

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
  // INIT's unique id and whether the kernel offered FUSE_HANDLE_KILLPRIV_V2 (set by the
  // worker that reads INIT, before any other request exists), and whether we took it.
  std::atomic<uint64_t> init_unique_{0};
  std::atomic<bool> kernel_offers_killpriv_v2_{false};
  std::atomic<bool> killpriv_v2_{false};

  // The notifier thread's queue. Leaf mutex.
  Mutex notify_mu_{LockRank::kUnranked, "fuse.notify"};
  CondVar notify_cv_{&notify_mu_};
  std::deque<NotifyJob> notify_jobs_ GUARDED_BY(notify_mu_);
  bool notify_stop_ GUARDED_BY(notify_mu_) = false;
  std::thread notifier_;
};

}  // namespace cohort::fs
