// tests/fs/fuse/mount_fixture.h: a real Cohort mount for tests: an image file made with
// mkfs.cohort, a cluster file and key for N nodes on 127.0.0.x, and `cohort mount -f`
// daemons as child processes, always unmounted and killed at the end.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/test_util.h"

namespace cohort::testing {

// The whole content of a file ("" if it cannot be read).
std::string ReadFile(const std::string& path);

struct ClusterSpec {
  int nodes = 1;
  uint64_t image_bytes = 512ull << 20;
  int journals = 0;             // 0: nodes
  std::string mkfs_extra;       // extra mkfs.cohort arguments
};

class CohortCluster {
 public:
  explicit CohortCluster(ClusterSpec spec = {});
  ~CohortCluster();

  // Makes the image and the cluster file. Returns false (with ADD_FAILURE) on error.
  bool Setup();
  // Starts node i (1-based) and waits for its mount.
  bool Start(int node);
  // Starts every node at once (a node mounts only once a majority is up) and waits.
  bool StartAll();
  // Stops node i with SIGTERM (clean unmount) and waits; returns its exit status.
  int Stop(int node);
  // Unmounts node i with fusermount3 -u and waits for the daemon to exit.
  int Unmount(int node);
  // kill -9 of node i, then a lazy unmount of its dead mount.
  void Kill(int node);

  std::string mnt(int node) const { return dir_.Sub("node" + std::to_string(node)); }
  std::string path(int node, const std::string& rel) const { return mnt(node) + "/" + rel; }
  const std::string& image() const { return image_; }
  std::string log(int node) const { return dir_.Sub("node" + std::to_string(node) + ".log"); }
  std::string ReadLog(int node) const;
  // Every daemon writes its statistics here on SIGUSR1 (docs/operations.md).
  std::string stats_file(int node) const {
    return dir_.Sub("node" + std::to_string(node) + ".stats");
  }
  // Signals node i's daemon and returns its fresh statistics (name -> value); empty
  // (with ADD_FAILURE) if none came within 10 s.
  std::map<std::string, uint64_t> Stats(int node);
  TempDir& dir() { return dir_; }

 private:
  ClusterSpec spec_;
  TempDir dir_{"cluster"};
  std::string image_;
  std::string cluster_file_;
  int base_port_ = 0;
  std::vector<std::unique_ptr<Subprocess>> daemons_;
  std::vector<std::unique_ptr<MountGuard>> guards_;
};

}  // namespace cohort::testing
