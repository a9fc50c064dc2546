// Mount test of the harness itself, through the FUSE ceiling baseline of bench/
// (bench/fuse_passthrough.cc): proves that FUSE mounts work on this machine (or that CI
// fails when they don't), that MountGuard unmounts, and that the baseline the filesystem
// benchmarks compare against serves data correctly, including O_DIRECT.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "tests/support/test_util.h"

namespace cohort::testing {
namespace {

class FuseHarnessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    COHORT_REQUIRE_FUSE();
    mkdir(dir_.Sub("src").c_str(), 0755);
    mkdir(dir_.Sub("mnt").c_str(), 0755);
    std::string err;
    ASSERT_TRUE(daemon_.Start({COHORT_FUSE_PASSTHROUGH, dir_.Sub("src"), dir_.Sub("mnt"),
                               "-f"},
                              dir_.Sub("daemon.log"), &err))
        << err;
    guard_ = std::make_unique<MountGuard>(dir_.Sub("mnt"));
    ASSERT_TRUE(guard_->WaitMounted()) << "passthrough did not mount";
  }
  void TearDown() override {
    if (guard_) guard_->Unmount();
    daemon_.Kill();
  }

  TempDir dir_{"fuse-harness"};
  Subprocess daemon_;
  std::unique_ptr<MountGuard> guard_;
};

TEST_F(FuseHarnessTest, FileWrittenThroughMountAppearsInSource) {
  {
    std::ofstream out(dir_.Sub("mnt/hello.txt"));
    out << "shared storage";
  }
  std::ifstream in(dir_.Sub("src/hello.txt"));
  std::string s;
  std::getline(in, s);
  EXPECT_EQ(s, "shared storage");
}

TEST_F(FuseHarnessTest, ODirectWriteAndReadRoundTrip) {
  std::string path = dir_.Sub("mnt/direct.bin");
  int fd = open(path.c_str(), O_CREAT | O_RDWR | O_DIRECT, 0644);
  ASSERT_GE(fd, 0) << strerror(errno);
  void* buf = nullptr;
  ASSERT_EQ(posix_memalign(&buf, 4096, 1 << 20), 0);
  std::memset(buf, 0xab, 1 << 20);
  EXPECT_EQ(pwrite(fd, buf, 1 << 20, 0), 1 << 20) << strerror(errno);
  std::memset(buf, 0, 1 << 20);
  EXPECT_EQ(pread(fd, buf, 1 << 20, 0), 1 << 20) << strerror(errno);
  EXPECT_EQ(static_cast<unsigned char*>(buf)[12345], 0xab);
  free(buf);
  close(fd);
}

TEST_F(FuseHarnessTest, UnmountLeavesNoFuseMount) {
  guard_->Unmount();
  EXPECT_FALSE(IsFuseMounted(dir_.Sub("mnt")));
}

}  // namespace
}  // namespace cohort::testing
