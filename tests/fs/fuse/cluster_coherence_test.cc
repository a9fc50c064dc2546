// Coherence of names across real mounts (label `cluster`): a name created, removed or
// renamed on one node is seen at once by the others, also when their kernels had
// looked the name up before (cached dentries: docs/locking.md §3 rule 2) or had found
// it missing. Each test runs on an image file and on a loop device
// (ClusterSpec::loop_device); the nodes of one backing are shared by its tests (each
// works in a directory of its own) and checked with the fsck-style check at the end.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "tests/fs/fuse/mount_fixture.h"

namespace cohort::testing {
namespace {

enum class Backing { kImageFile, kLoopDevice };

std::string BackingName(const ::testing::TestParamInfo<Backing>& i) {
  return i.param == Backing::kImageFile ? "ImageFile" : "LoopDevice";
}

// errno of stat(path), 0 if it succeeds.
int StatErr(const std::string& path, struct stat* st = nullptr) {
  struct stat tmp;
  return stat(path.c_str(), st ? st : &tmp) == 0 ? 0 : errno;
}

int OpenErr(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) return errno;
  close(fd);
  return 0;
}

class ClusterCoherenceTest : public ::testing::TestWithParam<Backing> {
 protected:
  static constexpr int kNodes = 3;

  static std::unique_ptr<CohortCluster>& Shared(Backing b) {
    static std::unique_ptr<CohortCluster> clusters[2];
    return clusters[static_cast<int>(b)];
  }

  void SetUp() override {
    COHORT_REQUIRE_FUSE();
    auto& c = Shared(GetParam());
    if (!c) {
      auto fresh = std::make_unique<CohortCluster>(ClusterSpec{
          .nodes = kNodes, .image_bytes = 256ull << 20,
          .loop_device = GetParam() == Backing::kLoopDevice});
      if (!fresh->Setup()) {
        if (!fresh->skip_reason().empty()) GTEST_SKIP() << fresh->skip_reason();
        FAIL() << "cluster setup failed";
      }
      ASSERT_TRUE(fresh->StartAll());
      c = std::move(fresh);
    }
    c_ = c.get();
    // A directory of this test's own, made on node 1 and known to every node.
    dir_ = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    for (char& ch : dir_) {
      if (ch == '/') ch = '_';
    }
    ASSERT_EQ(mkdir(P(1, "").c_str(), 0755), 0) << strerror(errno);
    for (int n = 2; n <= kNodes; ++n) ASSERT_EQ(StatErr(P(n, "")), 0);
  }

  static void TearDownTestSuite() {
    for (Backing b : {Backing::kImageFile, Backing::kLoopDevice}) {
      auto& c = Shared(b);
      if (!c) continue;
      c->UnmountAndCheck(kNodes);
      c.reset();
    }
  }

  // Path of `rel` inside this test's directory on node `n`.
  std::string P(int n, const std::string& rel) const {
    return c_->path(n, rel.empty() ? dir_ : dir_ + "/" + rel);
  }

  CohortCluster* c_ = nullptr;
  std::string dir_;
};

TEST_P(ClusterCoherenceTest, RenamedNameIsGoneAtOnceOnNodesThatHadLookedItUp) {
  ASSERT_EQ(WriteFile(P(1, "x"), "payload"), 0);
  struct stat before;
  for (int n = 2; n <= kNodes; ++n) {
    ASSERT_EQ(StatErr(P(n, "x"), &before), 0);  // the kernels of 2 and 3 cache "x"
    ASSERT_EQ(ReadFile(P(n, "x")), "payload");
  }
  ASSERT_EQ(rename(P(1, "x").c_str(), P(1, "y").c_str()), 0) << strerror(errno);
  for (int n = 2; n <= kNodes; ++n) {
    SCOPED_TRACE("node " + std::to_string(n));
    EXPECT_EQ(StatErr(P(n, "x")), ENOENT);
    EXPECT_EQ(OpenErr(P(n, "x")), ENOENT);
    struct stat after;
    ASSERT_EQ(StatErr(P(n, "y"), &after), 0);
    EXPECT_EQ(after.st_ino, before.st_ino);
    EXPECT_EQ(ReadFile(P(n, "y")), "payload");
    EXPECT_EQ(ListDir(P(n, "")), (std::set<std::string>{"y"}));
  }
}

TEST_P(ClusterCoherenceTest, UnlinkedLinkIsGoneAtOnceWhileTheOtherLinkStays) {
  ASSERT_EQ(WriteFile(P(1, "x"), "shared"), 0);
  ASSERT_EQ(link(P(1, "x").c_str(), P(1, "x2").c_str()), 0) << strerror(errno);
  for (int n = 2; n <= kNodes; ++n) {
    ASSERT_EQ(StatErr(P(n, "x")), 0);
    ASSERT_EQ(StatErr(P(n, "x2")), 0);
  }
  ASSERT_EQ(unlink(P(1, "x").c_str()), 0) << strerror(errno);
  for (int n = 2; n <= kNodes; ++n) {
    SCOPED_TRACE("node " + std::to_string(n));
    EXPECT_EQ(StatErr(P(n, "x")), ENOENT);
    EXPECT_EQ(OpenErr(P(n, "x")), ENOENT);
    EXPECT_EQ(access(P(n, "x").c_str(), F_OK) == 0 ? 0 : errno, ENOENT);
    struct stat st;
    ASSERT_EQ(StatErr(P(n, "x2"), &st), 0);
    EXPECT_EQ(st.st_nlink, 1u);
    EXPECT_EQ(ReadFile(P(n, "x2")), "shared");
    EXPECT_EQ(ListDir(P(n, "")), (std::set<std::string>{"x2"}));
  }
}

TEST_P(ClusterCoherenceTest, DirectoryRenamedAcrossDirectoriesIsSeenAtOnce) {
  ASSERT_EQ(mkdir(P(1, "a").c_str(), 0755), 0);
  ASSERT_EQ(mkdir(P(1, "b").c_str(), 0755), 0);
  ASSERT_EQ(mkdir(P(1, "a/sub").c_str(), 0755), 0);
  ASSERT_EQ(WriteFile(P(1, "a/sub/f"), "deep"), 0);
  for (int n = 2; n <= kNodes; ++n) ASSERT_EQ(ReadFile(P(n, "a/sub/f")), "deep");
  ASSERT_EQ(rename(P(1, "a/sub").c_str(), P(1, "b/sub").c_str()), 0) << strerror(errno);
  for (int n = 2; n <= kNodes; ++n) {
    SCOPED_TRACE("node " + std::to_string(n));
    EXPECT_EQ(StatErr(P(n, "a/sub")), ENOENT);
    EXPECT_EQ(StatErr(P(n, "a/sub/f")), ENOENT);
    EXPECT_EQ(ReadFile(P(n, "b/sub/f")), "deep");
    EXPECT_EQ(ListDir(P(n, "a")), (std::set<std::string>{}));
    EXPECT_EQ(ListDir(P(n, "b")), (std::set<std::string>{"sub"}));
  }
}

TEST_P(ClusterCoherenceTest, RemovedDirectoryIsGoneAtOnceAndItsNameCanBeReused) {
  ASSERT_EQ(mkdir(P(1, "sub").c_str(), 0755), 0);
  for (int n = 2; n <= kNodes; ++n) ASSERT_EQ(StatErr(P(n, "sub")), 0);
  ASSERT_EQ(rmdir(P(1, "sub").c_str()), 0) << strerror(errno);
  for (int n = 2; n <= kNodes; ++n) {
    SCOPED_TRACE("node " + std::to_string(n));
    EXPECT_EQ(StatErr(P(n, "sub")), ENOENT);
  }
  // A stale dentry would make mkdir fail with EEXIST in the kernel.
  ASSERT_EQ(mkdir(P(2, "sub").c_str(), 0700), 0) << strerror(errno);
  struct stat st;
  ASSERT_EQ(StatErr(P(3, "sub"), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST_P(ClusterCoherenceTest, NameReplacedByRenameShowsTheNewFileAtOnce) {
  ASSERT_EQ(WriteFile(P(1, "old"), "old content"), 0);
  ASSERT_EQ(WriteFile(P(1, "new"), "new content"), 0);
  for (int n = 2; n <= kNodes; ++n) ASSERT_EQ(ReadFile(P(n, "old")), "old content");
  ASSERT_EQ(rename(P(1, "new").c_str(), P(1, "old").c_str()), 0) << strerror(errno);
  for (int n = 2; n <= kNodes; ++n) {
    SCOPED_TRACE("node " + std::to_string(n));
    EXPECT_EQ(ReadFile(P(n, "old")), "new content");
    EXPECT_EQ(StatErr(P(n, "new")), ENOENT);
  }
}

TEST_P(ClusterCoherenceTest, NameCreatedAfterAFailedLookupIsFoundAtOnce) {
  // Negative entries: nodes 2 and 3 look the names up and find nothing first.
  for (int n = 2; n <= kNodes; ++n) {
    ASSERT_EQ(StatErr(P(n, "file")), ENOENT);
    ASSERT_EQ(StatErr(P(n, "dir")), ENOENT);
    ASSERT_EQ(OpenErr(P(n, "file")), ENOENT);
  }
  ASSERT_EQ(WriteFile(P(1, "file"), "now here"), 0);
  ASSERT_EQ(mkdir(P(1, "dir").c_str(), 0755), 0);
  ASSERT_EQ(symlink("file", P(1, "link").c_str()), 0);
  for (int n = 2; n <= kNodes; ++n) {
    SCOPED_TRACE("node " + std::to_string(n));
    EXPECT_EQ(ReadFile(P(n, "file")), "now here");
    EXPECT_EQ(ReadFile(P(n, "link")), "now here");
    struct stat st;
    ASSERT_EQ(StatErr(P(n, "dir"), &st), 0);
    EXPECT_TRUE(S_ISDIR(st.st_mode));
    EXPECT_EQ(ListDir(P(n, "")), (std::set<std::string>{"dir", "file", "link"}));
  }
  // And removed again, on another node than the one that made them.
  ASSERT_EQ(unlink(P(3, "link").c_str()), 0);
  ASSERT_EQ(unlink(P(3, "file").c_str()), 0);
  ASSERT_EQ(rmdir(P(3, "dir").c_str()), 0);
  for (int n = 1; n <= 2; ++n) {
    EXPECT_EQ(StatErr(P(n, "file")), ENOENT);
    EXPECT_EQ(StatErr(P(n, "dir")), ENOENT);
    EXPECT_EQ(ListDir(P(n, "")), (std::set<std::string>{}));
  }
}

TEST_P(ClusterCoherenceTest, NamesListedWithAttributesAreInvalidatedToo) {
  // A long listing (readdir + stat of each: READDIRPLUS gives the kernel dentries).
  for (int i = 0; i < 20; ++i) ASSERT_EQ(WriteFile(P(1, "f" + std::to_string(i)), "x"), 0);
  for (int n = 2; n <= kNodes; ++n) {
    ASSERT_EQ(ListDir(P(n, "")).size(), 20u);
    for (int i = 0; i < 20; ++i) ASSERT_EQ(StatErr(P(n, "f" + std::to_string(i))), 0);
  }
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(rename(P(1, "f" + std::to_string(i)).c_str(), P(1, "g" + std::to_string(i)).c_str()), 0);
  }
  for (int n = 2; n <= kNodes; ++n) {
    SCOPED_TRACE("node " + std::to_string(n));
    for (int i = 0; i < 20; ++i) {
      EXPECT_EQ(StatErr(P(n, "f" + std::to_string(i))), ENOENT) << "f" << i;
      EXPECT_EQ(StatErr(P(n, "g" + std::to_string(i))), 0) << "g" << i;
    }
  }
}

TEST_P(ClusterCoherenceTest, ChangesFromEveryNodeAreSeenByEveryOther) {
  // Round robin: each node renames what the previous one made, the others look.
  ASSERT_EQ(WriteFile(P(1, "n0"), "token"), 0);
  for (int step = 1; step <= 9; ++step) {
    int actor = step % kNodes + 1;
    for (int n = 1; n <= kNodes; ++n) {
      ASSERT_EQ(StatErr(P(n, "n" + std::to_string(step - 1))), 0) << "node " << n << " step " << step;
    }
    ASSERT_EQ(rename(P(actor, "n" + std::to_string(step - 1)).c_str(),
                     P(actor, "n" + std::to_string(step)).c_str()), 0)
        << strerror(errno);
    for (int n = 1; n <= kNodes; ++n) {
      EXPECT_EQ(StatErr(P(n, "n" + std::to_string(step - 1))), ENOENT) << "node " << n << " step " << step;
      EXPECT_EQ(ReadFile(P(n, "n" + std::to_string(step))), "token") << "node " << n;
    }
  }
}

// Data and attributes (issue 7): what node 1 wrote and closed is read by the others with
// its size, mtime, mode and extended attributes; changes by another node are seen too.
TEST_P(ClusterCoherenceTest, DataSizeMtimeModeAndXattrsWrittenOnOneNodeAreSeenByTheOthers) {
  std::string data(100000, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>('a' + i % 23);
  ASSERT_EQ(WriteFile(P(1, "f"), data), 0);
  ASSERT_EQ(chmod(P(1, "f").c_str(), 0640), 0);
  struct timespec times[2] = {{1000000000, 0}, {1234567890, 500}};
  ASSERT_EQ(utimensat(AT_FDCWD, P(1, "f").c_str(), times, 0), 0) << strerror(errno);
  ASSERT_EQ(setxattr(P(1, "f").c_str(), "user.color", "blue", 4, 0), 0) << strerror(errno);
  struct stat a;
  ASSERT_EQ(StatErr(P(1, "f"), &a), 0);
  for (int n = 2; n <= kNodes; ++n) {
    SCOPED_TRACE("node " + std::to_string(n));
    EXPECT_EQ(ReadFile(P(n, "f")), data);
    struct stat b;
    ASSERT_EQ(StatErr(P(n, "f"), &b), 0);
    EXPECT_EQ(b.st_size, a.st_size);
    EXPECT_EQ(b.st_mode, a.st_mode);
    EXPECT_EQ(b.st_mtim.tv_sec, 1234567890);
    EXPECT_EQ(b.st_mtim.tv_nsec, 500);
    EXPECT_EQ(b.st_ctim.tv_sec, a.st_ctim.tv_sec);
    char v[16] = {};
    EXPECT_EQ(getxattr(P(n, "f").c_str(), "user.color", v, sizeof v), 4);
    EXPECT_EQ(std::string(v), "blue");
  }
  // Node 3 changes each of them; nodes 1 and 2, which cached them, see the change.
  ASSERT_EQ(WriteFile(P(3, "f"), "short"), 0);  // O_TRUNC: new size, mtime, data
  ASSERT_EQ(chmod(P(3, "f").c_str(), 0604), 0);
  ASSERT_EQ(setxattr(P(3, "f").c_str(), "user.color", "green", 5, XATTR_REPLACE), 0);
  struct stat c3;
  ASSERT_EQ(StatErr(P(3, "f"), &c3), 0);
  for (int n = 1; n <= 2; ++n) {
    SCOPED_TRACE("node " + std::to_string(n));
    EXPECT_EQ(ReadFile(P(n, "f")), "short");
    struct stat b;
    ASSERT_EQ(StatErr(P(n, "f"), &b), 0);
    EXPECT_EQ(b.st_size, 5);
    EXPECT_EQ(b.st_mode & 07777, 0604u);
    EXPECT_EQ(b.st_mtim.tv_sec, c3.st_mtim.tv_sec);
    EXPECT_EQ(b.st_mtim.tv_nsec, c3.st_mtim.tv_nsec);
    char v[16] = {};
    EXPECT_EQ(getxattr(P(n, "f").c_str(), "user.color", v, sizeof v), 5);
    EXPECT_EQ(std::string(v), "green");
  }
}

// A file node 2 holds open (and has read, so its kernel caches the pages) is truncated
// on node 1: node 2's open descriptor sees the new size and no old data past it, then
// the zeros and the new bytes of a later extension.
TEST_P(ClusterCoherenceTest, TruncateOnOneNodeIsSeenThroughAnotherNodesOpenFile) {
  std::string data(64 << 10, 'q');
  ASSERT_EQ(WriteFile(P(1, "t"), data), 0);
  int fd = open(P(2, "t").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0) << strerror(errno);
  std::string buf(data.size(), '\0');
  ASSERT_EQ(pread(fd, buf.data(), buf.size(), 0), static_cast<ssize_t>(buf.size()));
  ASSERT_EQ(buf, data);

  ASSERT_EQ(truncate(P(1, "t").c_str(), 1000), 0) << strerror(errno);
  struct stat st;
  ASSERT_EQ(fstat(fd, &st), 0);
  EXPECT_EQ(st.st_size, 1000);
  EXPECT_EQ(pread(fd, buf.data(), buf.size(), 0), 1000) << "old data past the new end";
  EXPECT_EQ(pread(fd, buf.data(), 10, 5000), 0);

  // Node 3 extends it: a hole, then bytes at 20000.
  int w = open(P(3, "t").c_str(), O_WRONLY);
  ASSERT_GE(w, 0) << strerror(errno);
  ASSERT_EQ(pwrite(w, "END", 3, 20000), 3);
  ASSERT_EQ(close(w), 0);
  ASSERT_EQ(fstat(fd, &st), 0);
  EXPECT_EQ(st.st_size, 20003);
  ASSERT_EQ(pread(fd, buf.data(), 20003, 0), 20003);
  EXPECT_EQ(buf.substr(0, 1000), std::string(1000, 'q'));
  EXPECT_EQ(buf.substr(1000, 19000), std::string(19000, '\0')) << "stale data in the hole";
  EXPECT_EQ(buf.substr(20000, 3), "END");
  close(fd);
}

// A shared writable mapping on node 1, msync'd: node 2 reads the bytes with read() and
// through a mapping of its own; then node 2 writes through its mapping and, after node
// 2's msync, node 3 reads it and node 1's older mapping shows it once node 1 has
// revalidated the file.
TEST_P(ClusterCoherenceTest, SharedMmapWriteOnOneNodeIsReadOnAnotherAfterMsync) {
  const size_t len = 3 * 4096;
  ASSERT_EQ(WriteFile(P(1, "m"), std::string(len, '.')), 0);
  ASSERT_EQ(ReadFile(P(2, "m")), std::string(len, '.'));  // node 2 caches the old pages

  int fd1 = open(P(1, "m").c_str(), O_RDWR);
  ASSERT_GE(fd1, 0) << strerror(errno);
  void* m1 = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd1, 0);
  ASSERT_NE(m1, MAP_FAILED) << strerror(errno);
  char* p1 = static_cast<char*>(m1);
  std::memcpy(p1 + 10, "mapped-on-1", 11);
  std::memcpy(p1 + 2 * 4096 + 7, "third-page", 10);
  ASSERT_EQ(msync(m1, len, MS_SYNC), 0) << strerror(errno);

  std::string want(len, '.');
  want.replace(10, 11, "mapped-on-1");
  want.replace(2 * 4096 + 7, 10, "third-page");
  EXPECT_EQ(ReadFile(P(2, "m")), want);
  int fd2 = open(P(2, "m").c_str(), O_RDWR);
  ASSERT_GE(fd2, 0) << strerror(errno);
  void* m2 = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd2, 0);
  ASSERT_NE(m2, MAP_FAILED) << strerror(errno);
  char* p2 = static_cast<char*>(m2);
  EXPECT_EQ(std::string(p2, len), want);

  std::memcpy(p2 + 4096, "from-node-2", 11);
  ASSERT_EQ(msync(m2, len, MS_SYNC), 0) << strerror(errno);
  want.replace(4096, 11, "from-node-2");
  EXPECT_EQ(ReadFile(P(3, "m")), want);
  // Node 1's mapping is older than node 2's change: its pages are dropped when node 1
  // next revalidates the file (here fstat; docs/filesystem.md §9 "mmap").
  struct stat st;
  ASSERT_EQ(fstat(fd1, &st), 0);
  EXPECT_EQ(std::string(p1 + 4096, 11), "from-node-2") << "node 1's mapping kept the old page";

  munmap(m1, len);
  munmap(m2, len);
  close(fd1);
  close(fd2);
}

INSTANTIATE_TEST_SUITE_P(Backings, ClusterCoherenceTest,
                         ::testing::Values(Backing::kImageFile, Backing::kLoopDevice),
                         BackingName);

// When a directory's dentry pass cannot run (a request on that node keeps the kernel's
// directory lock while it waits for a cluster lock: docs/locking.md §3), the node gives
// the glock up after 100 ms and expires every dentry of its mount (FUSE_NOTIFY_INC_EPOCH)
// instead of leaving the names stale. Node 2 holds its dentry notifications back for
// good (test option), so only that fallback can make it see node 1's changes.
TEST(ClusterCoherenceFallbackTest, NamesChangedWhileTheDentryPassIsBlockedAreNotStale) {
  COHORT_REQUIRE_FUSE();
  CohortCluster c(ClusterSpec{.nodes = 2, .image_bytes = 256ull << 20,
                              .node_options = {{2, "loglevel=debug,test_hold_entry_notifies"}}});
  ASSERT_TRUE(c.Setup());
  ASSERT_TRUE(c.StartAll());
  auto p = [&](int n, const std::string& rel) { return c.path(n, "d/" + rel); };
  ASSERT_EQ(mkdir(c.path(1, "d").c_str(), 0755), 0) << strerror(errno);
  ASSERT_EQ(WriteFile(p(1, "x"), "one"), 0);
  ASSERT_EQ(WriteFile(p(1, "z"), "zed"), 0);
  struct stat before;
  ASSERT_EQ(StatErr(p(2, "x"), &before), 0);  // node 2's kernel caches d/x and d/z
  ASSERT_EQ(ReadFile(p(2, "x")), "one");
  ASSERT_EQ(StatErr(p(2, "z")), 0);

  ASSERT_EQ(rename(p(1, "x").c_str(), p(1, "y").c_str()), 0) << strerror(errno);
  EXPECT_EQ(StatErr(p(2, "x")), ENOENT) << "node 2 still finds the renamed name";
  EXPECT_EQ(OpenErr(p(2, "x")), ENOENT);
  struct stat after;
  ASSERT_EQ(StatErr(p(2, "y"), &after), 0);
  EXPECT_EQ(after.st_ino, before.st_ino);
  EXPECT_EQ(ReadFile(p(2, "y")), "one");

  ASSERT_EQ(unlink(p(1, "z").c_str()), 0) << strerror(errno);
  EXPECT_EQ(StatErr(p(2, "z")), ENOENT) << "node 2 still finds the removed name";

  ASSERT_EQ(WriteFile(p(1, "n"), "new"), 0);
  ASSERT_EQ(rename(p(1, "n").c_str(), p(1, "y").c_str()), 0) << strerror(errno);
  EXPECT_EQ(ReadFile(p(2, "y")), "new") << "node 2 still opens the replaced file";
  EXPECT_EQ(ListDir(c.path(2, "d")), (std::set<std::string>{"y"}));

  std::string log = c.ReadLog(2);
  EXPECT_NE(log.find("expired all dentries instead"), std::string::npos)
      << "the fallback never ran:\n" << log;
  for (int n = 1; n <= 2; ++n) {
    int st = c.Unmount(n);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "node " << n << "\n" << c.ReadLog(n);
  }
}

}  // namespace
}  // namespace cohort::testing
