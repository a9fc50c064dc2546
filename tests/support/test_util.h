// tests/support/test_util.h: what mount and cluster tests share (docs/testing.md).
//
//  - TempDir: a private temporary directory, removed with everything in it.
//  - Subprocess: a child process started with fork/exec; killed (SIGKILL) and reaped when
//    the object dies, so a failing test never leaves a daemon behind.
//  - MountGuard: waits until a path is a FUSE mount, and unmounts it (fusermount3 -u, then
//    lazily) when the object dies.
//  - COHORT_REQUIRE_FUSE(): skips the test when this machine cannot mount FUSE, or FAILS
//    it when CI=true, so that CI can never pass by silently skipping mount tests.
//
// Thread safety: none; use from the test's thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace cohort::testing {

// True when the environment says we run in CI (CI=true or CI=1).
bool InCi();

// Empty if FUSE mounts can work here; otherwise why not ("/dev/fuse missing").
std::string FuseUnavailableReason();

class TempDir {
 public:
  // Creates /tmp/cohort-<prefix>-XXXXXX (or under $TMPDIR). Aborts the test on failure.
  explicit TempDir(const std::string& prefix = "test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

class Subprocess {
 public:
  Subprocess() = default;
  ~Subprocess();  // SIGKILL and reap if still running
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  // Starts argv[0] with argv; stdout and stderr go to `log_path` (appended) if given.
  // Returns false (with errno text in *err) on failure.
  bool Start(const std::vector<std::string>& argv, const std::string& log_path = "",
             std::string* err = nullptr);
  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }
  // Sends `sig`. Does not wait.
  void Signal(int sig);
  // Waits up to `timeout` for exit; returns the wait status, or -1 on timeout.
  int Wait(std::chrono::milliseconds timeout);
  // SIGKILL then reap.
  void Kill();

 private:
  pid_t pid_ = -1;
};

// Runs a command to completion (bounded by `timeout`, killed after); returns its exit
// code (128+signal if killed by one, -1 if it could not start). Output goes to *output.
int RunCommand(const std::vector<std::string>& argv, std::string* output,
               std::chrono::milliseconds timeout = std::chrono::seconds(60));

// True if `path` is currently a FUSE mount (per /proc/self/mountinfo).
bool IsFuseMounted(const std::string& path);

class MountGuard {
 public:
  explicit MountGuard(std::string mountpoint) : mountpoint_(std::move(mountpoint)) {}
  ~MountGuard() { Unmount(); }
  MountGuard(const MountGuard&) = delete;
  MountGuard& operator=(const MountGuard&) = delete;
  // Polls until mounted or timeout; returns whether it is mounted.
  bool WaitMounted(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // fusermount3 -u, falling back to a lazy unmount. Idempotent.
  void Unmount();

 private:
  std::string mountpoint_;
};

}  // namespace cohort::testing

// Use at the start of every mount/cluster test.
#define COHORT_REQUIRE_FUSE()                                                    \
  do {                                                                           \
    std::string cohort_fuse_why_ = ::cohort::testing::FuseUnavailableReason();   \
    if (!cohort_fuse_why_.empty()) {                                             \
      if (::cohort::testing::InCi()) {                                           \
        FAIL() << "FUSE unavailable under CI=true: " << cohort_fuse_why_;        \
      } else {                                                                   \
        GTEST_SKIP() << "FUSE unavailable: " << cohort_fuse_why_;                \
      }                                                                          \
    }                                                                            \
  } while (0)
