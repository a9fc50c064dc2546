// Cluster tests of the filesystem: three `cohort mount` daemons on one image file,
// each with its own mount point and address, seeing one filesystem (label `cluster`).
// The full coherence suite of the multi-node issue builds on this fixture.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/fs/fuse/mount_fixture.h"

namespace cohort::testing {
namespace {


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
    c_.UnmountAndCheck(3);
  }
  CohortCluster c_;
};

TEST_F(ClusterMountTest, FileWrittenOnOneNodeIsReadOnAnotherAndListedOnAThird) {
  {
    std::ofstream out(c_.path(1, "greeting"));
    out << "hello from node 1";
  }
  EXPECT_EQ(ReadFile(c_.path(2, "greeting")), "hello from node 1");
  EXPECT_EQ(ListDir(c_.mnt(3)), (std::set<std::string>{"greeting"}));
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
  EXPECT_EQ(ListDir(c_.path(1, "shared")), (std::set<std::string>{"from3"}));
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

// Node 3 changes a directory (its log holds the directory's blocks), then node 1 changes
// the same directory (node 3 gives the glock up), then node 3 dies. The survivors replay
// node 3's log: it must not bring back node 3's older images of the directory over node
// 1's change (docs/filesystem.md §3.2: a node checkpoints before giving up EX).
TEST_F(ClusterMountTest, ReplayOfADeadNodesLogDoesNotUndoChangesMadeAfterItGaveTheBlocksUp) {
  ASSERT_EQ(mkdir(c_.path(3, "shared").c_str(), 0755), 0) << strerror(errno);
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(WriteFile(c_.path(3, "shared/by3-" + std::to_string(i)), "three"), 0);
  }
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(WriteFile(c_.path(1, "shared/by1-" + std::to_string(i)), "one"), 0);
  }
  ASSERT_EQ(mkdir(c_.path(1, "shared/sub1").c_str(), 0755), 0);
  int dfd = open(c_.path(1, "shared").c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_GE(dfd, 0);
  ASSERT_EQ(fsync(dfd), 0);
  close(dfd);
  c_.Kill(3);
  std::set<std::string> want{"sub1"};
  for (int i = 0; i < 5; ++i) {
    want.insert("by3-" + std::to_string(i));
    want.insert("by1-" + std::to_string(i));
  }
  EXPECT_EQ(ListDir(c_.path(2, "shared")), want) << c_.ReadLog(1) << c_.ReadLog(2);
  EXPECT_EQ(ListDir(c_.path(1, "shared")), want);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(ReadFile(c_.path(2, "shared/by1-" + std::to_string(i))), "one");
    EXPECT_EQ(ReadFile(c_.path(2, "shared/by3-" + std::to_string(i))), "three");
  }
  c_.UnmountAndCheck(2);
}

// A node that unmounts cleanly leaves nothing in its log for the others to replay.
TEST_F(ClusterMountTest, CleanUnmountLeavesNoLogForTheSurvivorsToReplay) {
  ASSERT_EQ(mkdir(c_.path(2, "d").c_str(), 0755), 0) << strerror(errno);
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(WriteFile(c_.path(2, "d/f" + std::to_string(i)), "two"), 0);
  }
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(WriteFile(c_.path(1, "d/g" + std::to_string(i)), "one"), 0);
  }
  int st = c_.Unmount(2);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << c_.ReadLog(2);
  EXPECT_EQ(ListDir(c_.path(1, "d")).size(), 10u);
  std::string logs = c_.ReadLog(1) + c_.ReadLog(3);
  auto at = logs.find("replayed journal slot");
  EXPECT_EQ(at, std::string::npos) << "a survivor replayed the log of a node that unmounted "
                                      "cleanly:\n" << logs;
  ASSERT_TRUE(c_.Start(2)) << c_.ReadLog(2);  // back, for the fixture's unmount and check
  EXPECT_EQ(ListDir(c_.path(2, "d")).size(), 10u);
}

// Unlinked while open on another node (issue 7, docs/filesystem.md §7).
uint64_t FreeBlocks(const std::string& mnt) {
  struct statvfs v;
  if (statvfs(mnt.c_str(), &v) != 0) {
    ADD_FAILURE() << "statvfs " << mnt << ": " << strerror(errno);
    return 0;
  }
  return v.f_bfree;
}

// Polls node `node`'s statfs for up to 10 s until at least `want` blocks are free.
uint64_t WaitForFreeBlocks(CohortCluster& c, int node, uint64_t want) {
  uint64_t got = 0;
  for (int i = 0; i < 100; ++i) {
    got = FreeBlocks(c.mnt(node));
    if (got >= want) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return got;
}

std::vector<char> Pattern(size_t n, char seed) {
  std::vector<char> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<char>(seed + i % 251);
  return v;
}

constexpr size_t kOrphanBytes = 2 << 20;  // 2 MiB: 512 blocks of 4 KiB
constexpr uint64_t kSlack = 16;           // blocks a directory may keep after the unlink

// Closes the descriptor at scope exit (a failed assertion must not leave a mount busy).
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

// statfs counts are the global ones plus every node's delta; a node sees its own delta at
// once and another node's once that node has checkpointed it. So the file is created on
// node 2 (the unlinking node, which owns the orphan and frees it): node 2's statfs shows
// its space used, then free again.
TEST_F(ClusterMountTest, FileUnlinkedOnAnotherNodeStaysUsableAndIsFreedAfterItsLastClose) {
  const uint64_t base = FreeBlocks(c_.mnt(2));
  auto a = Pattern(kOrphanBytes, 'a');
  {
    Fd w{open(c_.path(2, "held").c_str(), O_CREAT | O_WRONLY, 0644)};
    ASSERT_GE(w.fd, 0) << strerror(errno);
    ASSERT_EQ(pwrite(w.fd, a.data(), a.size(), 0), static_cast<ssize_t>(a.size()));
  }
  ASSERT_LT(FreeBlocks(c_.mnt(2)) + kOrphanBytes / 4096 / 2, base)
      << "the file's blocks are not counted as used";

  // Node 1 opens it and writes; node 2 unlinks it.
  Fd f{open(c_.path(1, "held").c_str(), O_RDWR)};
  ASSERT_GE(f.fd, 0) << strerror(errno);
  ASSERT_EQ(pwrite(f.fd, "XYZ", 3, 4096), 3);
  std::copy_n("XYZ", 3, a.begin() + 4096);
  ASSERT_EQ(unlink(c_.path(2, "held").c_str()), 0) << strerror(errno);
  struct stat st;
  EXPECT_NE(stat(c_.path(2, "held").c_str(), &st), 0);
  EXPECT_NE(stat(c_.path(1, "held").c_str(), &st), 0);

  // Node 1 keeps reading and writing it, and makes it grow (the blocks it adds must be
  // freed too).
  auto b = Pattern(kOrphanBytes / 4, 'b');
  ASSERT_EQ(pwrite(f.fd, b.data(), b.size(), kOrphanBytes), static_cast<ssize_t>(b.size()));
  a.insert(a.end(), b.begin(), b.end());
  ASSERT_EQ(pwrite(f.fd, "UVW", 3, 8192), 3);
  std::copy_n("UVW", 3, a.begin() + 8192);
  std::vector<char> back(a.size());
  ASSERT_EQ(pread(f.fd, back.data(), back.size(), 0), static_cast<ssize_t>(back.size()));
  EXPECT_TRUE(std::equal(a.begin(), a.end(), back.begin()));
  ASSERT_EQ(fsync(f.fd), 0);
  ASSERT_EQ(fstat(f.fd, &st), 0);
  EXPECT_EQ(st.st_nlink, 0u);
  EXPECT_EQ(static_cast<size_t>(st.st_size), back.size());

  // Still open on node 1: its space is not free, also after several orphan passes.
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  EXPECT_LT(FreeBlocks(c_.mnt(2)) + kOrphanBytes / 4096 / 2, base);
  ASSERT_EQ(pread(f.fd, back.data(), 3, 4096), 3);
  EXPECT_EQ(std::string(back.data(), 3), "XYZ");

  ASSERT_EQ(close(f.fd), 0);
  f.fd = -1;
  uint64_t after = WaitForFreeBlocks(c_, 2, base - kSlack);
  EXPECT_GE(after, base - kSlack) << "the unlinked file's blocks did not come back after its "
                                     "last close on another node\n"
                                  << c_.ReadLog(1) << c_.ReadLog(2);
}

// The other node closed the file just before the unlink: its open glock is still cached
// (PR), so the unlinking node's try-lock fails and the inode goes on the orphan list.
TEST_F(ClusterMountTest, FileClosedOnAnotherNodeJustBeforeTheUnlinkIsFreed) {
  const uint64_t base = FreeBlocks(c_.mnt(2));
  for (int round = 0; round < 3; ++round) {
    std::string name = "closed" + std::to_string(round);
    auto a = Pattern(kOrphanBytes, static_cast<char>('a' + round));
    {
      Fd w{open(c_.path(2, name).c_str(), O_CREAT | O_WRONLY, 0644)};
      ASSERT_GE(w.fd, 0) << strerror(errno);
      ASSERT_EQ(pwrite(w.fd, a.data(), a.size(), 0), static_cast<ssize_t>(a.size()));
    }
    {
      Fd r{open(c_.path(1, name).c_str(), O_RDWR)};
      ASSERT_GE(r.fd, 0) << strerror(errno);
      ASSERT_EQ(pwrite(r.fd, "XYZ", 3, 0), 3);
    }
    ASSERT_EQ(unlink(c_.path(2, name).c_str()), 0) << strerror(errno);
  }
  uint64_t after = WaitForFreeBlocks(c_, 2, base - kSlack);
  EXPECT_GE(after, base - kSlack) << "files closed on node 1 and unlinked on node 2 were not "
                                     "freed\n"
                                  << c_.ReadLog(1) << c_.ReadLog(2);
}

// Node 2's orphan list is pred -> succ; node 1 has both open and writes pred. Freeing
// succ rewrites pred's orphan_next: that write must go under pred's glock, or node 1's
// cached copy of pred (still pointing at succ) overwrites it, and the list ends at a
// freed inode. Afterwards the list is empty and the image passes the fsck-style check.
TEST_F(ClusterMountTest, FreeingAnOrphanUnderItsPredecessorOpenOnAnotherNodeKeepsTheListIntact) {
  const uint64_t base = FreeBlocks(c_.mnt(2));
  auto p = Pattern(kOrphanBytes, 'p');
  auto q = Pattern(kOrphanBytes, 'q');
  for (auto [name, data] : {std::pair{"pred", &p}, std::pair{"succ", &q}}) {
    Fd w{open(c_.path(2, name).c_str(), O_CREAT | O_WRONLY, 0644)};
    ASSERT_GE(w.fd, 0) << strerror(errno);
    ASSERT_EQ(pwrite(w.fd, data->data(), data->size(), 0), static_cast<ssize_t>(data->size()));
  }
  Fd fp{open(c_.path(1, "pred").c_str(), O_RDWR)};
  Fd fq{open(c_.path(1, "succ").c_str(), O_RDWR)};
  ASSERT_GE(fp.fd, 0) << strerror(errno);
  ASSERT_GE(fq.fd, 0) << strerror(errno);
  // succ first, so that the list (pushed at its head) is pred -> succ.
  ASSERT_EQ(unlink(c_.path(2, "succ").c_str()), 0) << strerror(errno);
  ASSERT_EQ(unlink(c_.path(2, "pred").c_str()), 0) << strerror(errno);

  // Node 1 grows pred (its inode cached there, dirty), then closes succ: node 2's orphan
  // pass frees succ.
  auto more = Pattern(64 << 10, 'm');
  ASSERT_EQ(pwrite(fp.fd, more.data(), more.size(), p.size()), static_cast<ssize_t>(more.size()));
  p.insert(p.end(), more.begin(), more.end());
  ASSERT_EQ(close(fq.fd), 0);
  fq.fd = -1;
  const uint64_t pred_blocks = p.size() / 4096;
  uint64_t got = WaitForFreeBlocks(c_, 2, base - pred_blocks - kSlack);
  ASSERT_GE(got, base - pred_blocks - kSlack) << "succ was not freed after its last close\n"
                                               << c_.ReadLog(1) << c_.ReadLog(2);

  // Node 1 grows pred again and reads it all back; then its last close frees it.
  ASSERT_EQ(pwrite(fp.fd, more.data(), more.size(), p.size()), static_cast<ssize_t>(more.size()));
  p.insert(p.end(), more.begin(), more.end());
  std::vector<char> back(p.size());
  ASSERT_EQ(pread(fp.fd, back.data(), back.size(), 0), static_cast<ssize_t>(back.size()));
  EXPECT_TRUE(std::equal(p.begin(), p.end(), back.begin()));
  ASSERT_EQ(close(fp.fd), 0);
  fp.fd = -1;
  got = WaitForFreeBlocks(c_, 2, base - kSlack);
  EXPECT_GE(got, base - kSlack) << "pred was not freed after its last close\n"
                                << c_.ReadLog(1) << c_.ReadLog(2);
  // Two more passes: a list that ended at a freed inode would be reported by now.
  std::this_thread::sleep_for(std::chrono::milliseconds(2200));
  EXPECT_EQ(c_.ReadLog(2).find("orphan pass:"), std::string::npos) << c_.ReadLog(2);

  c_.UnmountAndCheck(3);
}

}  // namespace
}  // namespace cohort::testing
