// fs/fuse/mount_daemon.h: `cohort mount` and `mount.cohort`: one daemon per node per
// mounted filesystem (DESIGN.md §2; docs/operations.md §3).
//
//   cohort mount DEVICE MOUNTPOINT -o cluster=FILE[,node=ID][,slot=N][,ro][,allow_other]
//                [,logfile=PATH][,stats=PATH][,quorum_timeout=SECONDS][,debug] [-f]
//
// The daemon joins the cluster named by the cluster file over authenticated TCP, runs
// the filesystem's DLM lockspace on that transport, waits for quorum, mounts the
// filesystem (taking a free journal slot, replaying it) and serves it through FUSE until
// it is unmounted (umount / fusermount3 -u) or receives SIGTERM/SIGINT; then it flushes,
// releases its locks and leaves a clean journal.
//
// Without -f it detaches, but only after the mount succeeded or failed: the parent
// waits on a pipe and exits 0 with the filesystem mounted, or 1 with the reason.
//
// Thread safety: RunMount runs on the main thread of the process.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace cohort::fs {

struct MountCommand {
  std::string device;
  std::string mountpoint;
  std::string cluster_file;
  uint32_t node_id = 0;          // 0: find this node by host name in the cluster file
  int slot = -1;                 // journal slot to take (-1: first free)
  bool read_only = false;
  bool foreground = false;
  bool debug = false;
  bool allow_other = false;      // always on when the daemon runs as root
  bool acl = true;               // POSIX ACLs enforced by the kernel (-o noacl: off)
  bool killpriv_v2 = true;       // we clear suid/sgid/caps (-o nokillpriv: the kernel does)
  std::string logfile;           // daemon log (default: stderr, /dev/null when detached)
  std::string stats_file;        // written on SIGUSR1 (docs/operations.md "Statistics")
  std::string log_level = "info";
  double quorum_timeout_seconds = 120;
  std::vector<std::string> fuse_options;  // other -o options, passed to the kernel mount
  bool test_hold_entry_notifies = false;  // tests only (FuseServerOptions)
};

// Parses a mount option string ("cluster=/etc/cohort/c.toml,node=2,ro") into `cmd`.
// Unknown options are passed to FUSE. InvalidArgument names a malformed option.
Status ParseMountOptions(std::string_view options, MountCommand* cmd);

// Runs the daemon. Returns the process exit code (0 clean unmount, 1 failure).
int RunMount(const MountCommand& cmd);

}  // namespace cohort::fs
