// Concurrency across real mounts (label `cluster`): three nodes at once append records
// to one file with O_APPEND, create files in one directory, and rename files across
// directories in cycles (in opposite directions, so that their cluster locks cross),
// for a bounded number of operations. A run that does not finish within a generous
// bound fails (the daemons' stacks go to their logs, shown in the failure). Then every
// node must see the same tree, with every record once and whole, every file once, every
// token once; and after a clean unmount the fsck-style check must find nothing wrong.
// On an image file and on a loop device.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/fs/fuse/mount_fixture.h"

namespace cohort::testing {
namespace {

enum class Backing { kImageFile, kLoopDevice };

constexpr int kNodes = 3;
constexpr int kRecordsPerNode = 150;
constexpr int kFilesPerNode = 80;
constexpr int kTokensPerNode = 2;
constexpr int kRenamesPerNode = 60;
constexpr int kDirs = 3;
constexpr size_t kRecordSize = 64;
// An upper bound that only a hang exceeds (no timing assertion).
constexpr auto kHangBound = std::chrono::seconds(240);

// "<node>:<seq>:" padded with the node's letter to 63 bytes, then '\n'.
std::string Record(int node, int seq) {
  std::string r = std::to_string(node) + ":" + std::to_string(seq) + ":";
  r.resize(kRecordSize - 1, static_cast<char>('a' + node));
  r.push_back('\n');
  return r;
}

std::string TokenName(int node, int k) { return "tok" + std::to_string(node) + "-" + std::to_string(k); }

class ClusterConcurrencyTest : public ::testing::TestWithParam<Backing> {};

TEST_P(ClusterConcurrencyTest, AppendCreateAndCrossRenameFromAllNodesStayConsistent) {
  COHORT_REQUIRE_FUSE();
  CohortCluster c(ClusterSpec{.nodes = kNodes, .image_bytes = 256ull << 20,
                              .loop_device = GetParam() == Backing::kLoopDevice});
  if (!c.Setup()) {
    if (!c.skip_reason().empty()) GTEST_SKIP() << c.skip_reason();
    FAIL() << "cluster setup failed";
  }
  ASSERT_TRUE(c.StartAll());
  ASSERT_EQ(WriteFile(c.path(1, "log"), ""), 0);
  ASSERT_EQ(mkdir(c.path(1, "many").c_str(), 0755), 0);
  for (int d = 0; d < kDirs; ++d) {
    ASSERT_EQ(mkdir(c.path(1, "r" + std::to_string(d)).c_str(), 0755), 0);
  }
  for (int n = 1; n <= kNodes; ++n) {
    for (int k = 0; k < kTokensPerNode; ++k) {
      ASSERT_EQ(WriteFile(c.path(n, "r0/" + TokenName(n, k)), TokenName(n, k)), 0);
    }
  }

  std::mutex mu;
  std::vector<std::string> errors;  // guarded by mu
  auto fail = [&](const std::string& e) {
    std::lock_guard<std::mutex> l(mu);
    if (errors.size() < 20) errors.push_back(e);
  };
  std::atomic<int> running{0};
  // Where each token ends up: node -> token -> dir index (each node moves only its own).
  std::map<int, std::map<int, int>> token_dir;
  for (int n = 1; n <= kNodes; ++n) {
    for (int k = 0; k < kTokensPerNode; ++k) token_dir[n][k] = 0;
  }
  std::vector<std::thread> threads;
  for (int n = 1; n <= kNodes; ++n) {
    running += 3;
    threads.emplace_back([&, n] {  // appender
      int fd = open(c.path(n, "log").c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
      if (fd < 0) {
        fail("node " + std::to_string(n) + " open log: " + strerror(errno));
      } else {
        for (int i = 0; i < kRecordsPerNode; ++i) {
          // Reopen now and then: appends from fresh opens must land at the end too.
          if (i % 50 == 49) {
            close(fd);
            fd = open(c.path(n, "log").c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
            if (fd < 0) {
              fail("node " + std::to_string(n) + " reopen log: " + strerror(errno));
              break;
            }
          }
          std::string r = Record(n, i);
          ssize_t w = write(fd, r.data(), r.size());
          if (w != static_cast<ssize_t>(r.size())) {
            fail("node " + std::to_string(n) + " append " + std::to_string(i) + ": " +
                 (w < 0 ? strerror(errno) : "short write"));
            break;
          }
        }
        if (fd >= 0) close(fd);
      }
      --running;
    });
    threads.emplace_back([&, n] {  // creator
      for (int i = 0; i < kFilesPerNode; ++i) {
        std::string name = "f" + std::to_string(n) + "-" + std::to_string(i);
        int e = WriteFile(c.path(n, "many/" + name), name);
        if (e != 0) {
          fail("node " + std::to_string(n) + " create " + name + ": " + strerror(e));
          break;
        }
      }
      --running;
    });
    threads.emplace_back([&, n] {  // renamer: odd nodes go r0->r1->r2->r0, even nodes back
      int step = n % 2 ? 1 : kDirs - 1;
      for (int i = 0; i < kRenamesPerNode; ++i) {
        int k = i % kTokensPerNode;
        int from = token_dir[n][k];
        int to = (from + step) % kDirs;
        std::string a = c.path(n, "r" + std::to_string(from) + "/" + TokenName(n, k));
        std::string b = c.path(n, "r" + std::to_string(to) + "/" + TokenName(n, k));
        if (rename(a.c_str(), b.c_str()) != 0) {
          fail("node " + std::to_string(n) + " rename " + a + " -> " + b + ": " + strerror(errno));
          break;
        }
        token_dir[n][k] = to;
      }
      --running;
    });
  }
  auto deadline = std::chrono::steady_clock::now() + kHangBound;
  while (running > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (running > 0) {
    std::string logs;
    for (int n = 1; n <= kNodes; ++n) {
      c.DumpStacks(n, "concurrency test hung");
      logs += "--- node " + std::to_string(n) + ":\n" + c.ReadLog(n);
    }
    ADD_FAILURE() << "the workload did not finish within " << kHangBound.count()
                  << " s (a deadlock?); daemon logs with stacks:\n"
                  << logs.substr(logs.size() > 60000 ? logs.size() - 60000 : 0);
    for (int n = 1; n <= kNodes; ++n) c.Kill(n);  // unblocks the threads (ENOTCONN)
  }
  for (auto& t : threads) t.join();
  if (running > 0 || HasFailure()) return;
  for (const std::string& e : errors) ADD_FAILURE() << e;
  if (!errors.empty()) return;

  // Every record once, whole, in each node's own order; the same file on every node.
  std::string log = ReadFile(c.path(1, "log"));
  ASSERT_EQ(log.size(), kNodes * kRecordsPerNode * kRecordSize);
  std::map<int, int> next;  // node -> next expected seq
  for (size_t off = 0; off < log.size(); off += kRecordSize) {
    std::string rec = log.substr(off, kRecordSize);
    int node = rec[0] - '0';
    size_t colon = rec.find(':', 2);
    ASSERT_TRUE(node >= 1 && node <= kNodes && colon != std::string::npos) << "torn record at " << off;
    int seq = std::stoi(rec.substr(2, colon - 2));
    ASSERT_EQ(rec, Record(node, seq)) << "torn record at " << off;
    EXPECT_EQ(seq, next[node]) << "record of node " << node << " lost or reordered at " << off;
    next[node] = seq + 1;
  }
  for (int n = 2; n <= kNodes; ++n) EXPECT_TRUE(ReadFile(c.path(n, "log")) == log) << "node " << n;

  // Every created file once, on every node (readdir must not repeat a name either).
  std::set<std::string> want_files;
  for (int n = 1; n <= kNodes; ++n) {
    for (int i = 0; i < kFilesPerNode; ++i) want_files.insert("f" + std::to_string(n) + "-" + std::to_string(i));
  }
  // Every token once, where its node last moved it.
  std::map<std::string, std::set<std::string>> want_tokens;
  for (int d = 0; d < kDirs; ++d) want_tokens["r" + std::to_string(d)];
  for (auto& [n, toks] : token_dir) {
    for (auto& [k, d] : toks) want_tokens["r" + std::to_string(d)].insert(TokenName(n, k));
  }
  std::map<std::string, std::string> tree1;
  for (int n = 1; n <= kNodes; ++n) {
    SCOPED_TRACE("node " + std::to_string(n));
    std::vector<std::string> names;
    DIR* dp = opendir(c.path(n, "many").c_str());
    ASSERT_NE(dp, nullptr);
    while (dirent* e = readdir(dp)) {
      std::string s = e->d_name;
      if (s != "." && s != "..") names.push_back(s);
    }
    closedir(dp);
    EXPECT_EQ(names.size(), want_files.size());
    EXPECT_EQ(std::set<std::string>(names.begin(), names.end()), want_files);
    for (auto& [dir, toks] : want_tokens) EXPECT_EQ(ListDir(c.path(n, dir)), toks) << dir;
    auto tree = TreeOf(c.mnt(n));
    if (n == 1) {
      tree1 = tree;
    } else {
      EXPECT_TRUE(tree == tree1) << "node " << n << " sees another tree than node 1:\n"
                                 << TreeDiff(tree, tree1);
    }
  }

  c.UnmountAndCheck(kNodes);
}

INSTANTIATE_TEST_SUITE_P(Backings, ClusterConcurrencyTest,
                         ::testing::Values(Backing::kImageFile, Backing::kLoopDevice),
                         [](const ::testing::TestParamInfo<Backing>& i) {
                           return std::string(i.param == Backing::kImageFile ? "ImageFile"
                                                                             : "LoopDevice");
                         });

}  // namespace
}  // namespace cohort::testing
