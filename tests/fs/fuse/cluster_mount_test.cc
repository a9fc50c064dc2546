// Cluster tests of the filesystem: three `cohort mount` daemons on one image file,
// each with its own mount point and address, seeing one filesystem (label `cluster`).
// The full coherence suite of the multi-node issue builds on this fixture.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "fs/block_device.h"
#include "tests/fs/core/fs_fixture.h"
#include "tests/fs/fuse/mount_fixture.h"

namespace cohort::testing {
namespace {

std::set<std::string> List(const std::string& dir) {
  std::set<std::string> names;
  DIR* d = opendir(dir.c_str());
  if (!d) return names;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.insert(n);
  }
  closedir(d);
  return names;
}

class ClusterMountTest : public ::testing::Test {
 protected:
  ClusterMountTest() : c_(ClusterSpec{.nodes = 3}) {}
  void SetUp() override {
    COHORT_REQUIRE_FUSE();
    ASSERT_TRUE(c_.Setup());
    ASSERT_TRUE(c_.StartAll());
    // Every node holds a journal slot of its own.
    std::set<int> slots;
    for (int i = 1; i <= 3; ++i) {
      std::string log = c_.ReadLog(i);
      auto at = log.find("journal slot ");
      ASSERT_NE(at, std::string::npos) << log;
      int slot = std::atoi(log.c_str() + at + 13);
      EXPECT_TRUE(slots.insert(slot).second) << "two nodes took journal slot " << slot << "\n"
                                             << c_.ReadLog(1) << c_.ReadLog(2) << c_.ReadLog(3);
    }
  }
  void TearDown() override {
    if (c_.image().empty() || !IsFuseMounted(c_.mnt(1))) return;
    for (int i = 1; i <= 3; ++i) {
      int st = c_.Unmount(i);
      EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "node " << i << "\n" << c_.ReadLog(i);
    }
    auto dev = fs::FileBlockDevice::Open(c_.image(), {});
    ASSERT_TRUE(dev.ok());
    Status s = fs::testing::CheckFilesystem(dev->get());
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  CohortCluster c_;
};

TEST_F(ClusterMountTest, FileWrittenOnOneNodeIsReadOnAnotherAndListedOnAThird) {
  {
    std::ofstream out(c_.path(1, "greeting"));
    out << "hello from node 1";
  }
  EXPECT_EQ(ReadFile(c_.path(2, "greeting")), "hello from node 1");
  EXPECT_EQ(List(c_.mnt(3)), (std::set<std::string>{"greeting"}));
  struct stat st;
  ASSERT_EQ(stat(c_.path(3, "greeting").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 17);
}

TEST_F(ClusterMountTest, DirectoryMadeOnOneNodeIsUsableFromTheOthers) {
  ASSERT_EQ(mkdir(c_.path(2, "shared").c_str(), 0755), 0);
  {
    std::ofstream out(c_.path(3, "shared/from3"));
    out << "three";
  }
  EXPECT_EQ(List(c_.path(1, "shared")), (std::set<std::string>{"from3"}));
  EXPECT_EQ(ReadFile(c_.path(1, "shared/from3")), "three");
}

TEST_F(ClusterMountTest, AppendOnAnotherNodeIsSeenByTheWriter) {
  {
    std::ofstream out(c_.path(1, "log"));
    out << "one\n";
  }
  {
    std::ofstream out(c_.path(3, "log"), std::ios::app);
    out << "three\n";
  }
  EXPECT_EQ(ReadFile(c_.path(1, "log")), "one\nthree\n");
}

// kill -9 of a node with committed, not yet checkpointed transactions in its journal:
// the survivors freeze new grants, one replays the dead node's journal under the
// recovery glock, and they carry on (docs/locking.md §4); the node then comes back.
TEST_F(ClusterMountTest, KilledNodesJournalIsReplayedBySurvivorsWhoCarryOn) {
  {
    int fd = open(c_.path(3, "from3").c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, "written on node 3", 17), 17);
    ASSERT_EQ(fsync(fd), 0);
    close(fd);
  }
  ASSERT_EQ(mkdir(c_.path(3, "dir3").c_str(), 0755), 0);
  int dfd = open(c_.mnt(3).c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_GE(dfd, 0);
  ASSERT_EQ(fsync(dfd), 0);
  close(dfd);
  c_.Kill(3);
  // These need locks node 3 held: they wait for the recovery, then see its data.
  EXPECT_EQ(ReadFile(c_.path(1, "from3")), "written on node 3");
  struct stat st;
  EXPECT_EQ(stat(c_.path(2, "dir3").c_str(), &st), 0);
  std::string logs = c_.ReadLog(1) + c_.ReadLog(2);
  EXPECT_NE(logs.find("left the cluster"), std::string::npos) << logs;
  EXPECT_NE(logs.find("replayed journal slot"), std::string::npos) << logs;
  // The survivors go on together.
  {
    std::ofstream out(c_.path(2, "after"));
    out << "after the crash";
  }
  EXPECT_EQ(ReadFile(c_.path(1, "after")), "after the crash");
  // Node 3 comes back into its slot and sees everything.
  ASSERT_TRUE(c_.Start(3)) << c_.ReadLog(3);
  EXPECT_EQ(ReadFile(c_.path(3, "after")), "after the crash");
  EXPECT_EQ(ReadFile(c_.path(3, "from3")), "written on node 3");
}

}  // namespace
}  // namespace cohort::testing
