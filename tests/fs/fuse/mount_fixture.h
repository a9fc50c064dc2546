// tests/fs/fuse/mount_fixture.h: a real Cohort mount for tests: an image file made with
// mkfs.cohort, a cluster file and key for N nodes on 127.0.0.x, and `cohort mount -f`
// daemons as child processes, always unmounted and killed at the end.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "tests/support/test_util.h"

namespace cohort::testing {

// The whole content of a file ("" if it cannot be read).
std::string ReadFile(const std::string& path);
// Writes `data` as the whole file (created 0644). Returns 0 or the errno.
int WriteFile(const std::string& path, const std::string& data);
// The names in a directory, without "." and ".." (empty if it cannot be listed).
std::set<std::string> ListDir(const std::string& dir);
// Everything under `root` as one comparable map: relative path -> type, permission
// bits, link count, size, content (files), target (symlinks) and user xattrs. Errors
// appear as values ("!errno"), so two nodes' views compare equal only if they agree.
// Files' contents appear as DataDigest(content).
std::map<std::string, std::string> TreeOf(const std::string& root);
std::string DataDigest(const std::string& data);
// The differences of two TreeOf() maps, one line each (at most 20), "" if equal.
std::string TreeDiff(const std::map<std::string, std::string>& got,
                     const std::map<std::string, std::string>& want);

struct ClusterSpec {
  int nodes = 1;
  uint64_t image_bytes = 512ull << 20;
  int journals = 0;             // 0: nodes
  std::string mkfs_extra;       // extra mkfs.cohort arguments
  // Serve the image through a loop device (`losetup --direct-io=on`): the daemons open
  // /dev/loopN (O_DIRECT), as they would a shared LUN. Detached by the destructor.
  bool loop_device = false;
  std::string mount_extra;      // more `cohort mount -o` options for every daemon
  // Extra mount options of node i ("loglevel=debug,test_hold_entry_notifies").
  std::map<int, std::string> node_options;
};

class CohortCluster {
 public:
  explicit CohortCluster(ClusterSpec spec = {});
  ~CohortCluster();

  // Makes the image and the cluster file. Returns false (with ADD_FAILURE) on error,
  // or with skip_reason() set (and no failure) when a loop device cannot be had here
  // outside CI (under CI=true that is a failure).
  bool Setup();
  const std::string& skip_reason() const { return skip_reason_; }
  // Starts node i (1-based) and waits for its mount.
  bool Start(int node);
  // Starts every node at once (a node mounts only once a majority is up) and waits.
  bool StartAll();
  // Stops node i with SIGTERM (clean unmount) and waits; returns its exit status.
  int Stop(int node);
  // Unmounts node i with fusermount3 -u and waits for the daemon to exit.
  int Unmount(int node);
  // Unmounts nodes 1..n cleanly (each daemon exits 0), then runs the fsck-style check of
  // the format library on the device (read-only); failures are test failures.
  void UnmountAndCheck(int n);
  // kill -9 of node i, then a lazy unmount of its dead mount.
  void Kill(int node);
  // Appends every thread's stack of node i's daemon (gdb) to its log, headed by `why`.
  void DumpStacks(int node, const std::string& why);

  std::string mnt(int node) const { return dir_.Sub("node" + std::to_string(node)); }
  std::string path(int node, const std::string& rel) const { return mnt(node) + "/" + rel; }
  const std::string& image() const { return image_; }
  // What the daemons mount: the image file, or the loop device over it.
  const std::string& device() const { return device_; }
  std::string log(int node) const { return dir_.Sub("node" + std::to_string(node) + ".log"); }
  std::string ReadLog(int node) const;
  // ",<mount_extra>" or "".
  std::string MountExtra() const {
    return spec_.mount_extra.empty() ? std::string() : "," + spec_.mount_extra;
  }
  // Every daemon writes its statistics here on SIGUSR1 (docs/operations.md).
  std::string stats_file(int node) const {
    return dir_.Sub("node" + std::to_string(node) + ".stats");
  }
  // Signals node i's daemon and returns its fresh statistics (name -> value); empty
  // (with ADD_FAILURE) if none came within 10 s.
  std::map<std::string, uint64_t> Stats(int node);
  // The warning and error lines of node i's log.
  std::string LogProblems(int node) const;
  TempDir& dir() { return dir_; }

 private:
  std::string MountOptions(int node) const;
  ClusterSpec spec_;
  TempDir dir_{"cluster"};
  std::string image_;
  std::string device_;
  std::string loop_;            // the loop device we attached ("" if none)
  std::string skip_reason_;
  std::string cluster_file_;
  int base_port_ = 0;
  std::vector<std::unique_ptr<Subprocess>> daemons_;
  std::vector<std::unique_ptr<MountGuard>> guards_;
};

}  // namespace cohort::testing
