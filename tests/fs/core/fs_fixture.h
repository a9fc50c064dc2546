// tests/fs/core/fs_fixture.h: an in-process Cohort filesystem for tests: a MemBlockDevice
// made with mkfs, a one-node DLM lockspace on the deterministic SimTransport, and a
// mounted FileSystem; plus CheckFilesystem(), an fsck-style consistency check of a
// device (every block owned once, bitmaps and link counts agree, statfs adds up).
#pragma once

#include <memory>
#include <string>

#include "dlm/lockspace.h"
#include "dlm/sim_transport.h"
#include "fs/block_device.h"
#include "fs/core/filesystem.h"

namespace cohort::fs::testing {

struct TestFsOptions {
  uint64_t device_bytes = 128ull << 20;
  uint32_t journals = 2;
  uint64_t journal_bytes = 4ull << 20;
  uint64_t group_bytes = 16ull << 20;
  Nanos commit_interval = 0;  // no background commits: tests decide when
};

class TestFs {
 public:
  explicit TestFs(TestFsOptions o = {});
  ~TestFs();

  // Mounts (again) on the same device. Fails the test on error.
  void Mount();
  Status MountStatus();
  // Clean unmount.
  void Unmount();
  // Power cut: the FileSystem is dropped without any flush, unflushed device writes are
  // lost (or torn) per `mode`; then the lockspace is replaced as after a node restart.
  void Crash(MemBlockDevice::CrashMode mode, uint64_t seed);

  FileSystem* fs() { return fs_.get(); }
  MemBlockDevice* dev() { return dev_.get(); }
  uint64_t root() const { return fs_->root_inode(); }
  OpContext ctx() const { return OpContext{}; }

 private:
  void NewLockspace();

  TestFsOptions options_;
  std::unique_ptr<MemBlockDevice> dev_;
  std::unique_ptr<dlm::SimNetwork> net_;
  std::unique_ptr<dlm::Lockspace> ls_;
  std::unique_ptr<FileSystem> fs_;
  int incarnation_ = 0;
};

// fsck-style check of the filesystem on `dev` (which must not be mounted, or be
// mounted but synced). Returns OK or Corruption with a report of every problem.
Status CheckFilesystem(BlockDevice* dev);

}  // namespace cohort::fs::testing
