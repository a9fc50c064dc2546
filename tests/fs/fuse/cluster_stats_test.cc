// Cluster tests of the daemon's statistics (docs/operations.md "Statistics") and of the
// DLM costs they show: two `cohort mount` daemons on one image (label `cluster`).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <string>

#include <gtest/gtest.h>

#include "tests/fs/core/fs_fixture.h"
#include "tests/fs/fuse/mount_fixture.h"

namespace cohort::testing {
namespace {

// DLM messages of every type except the deadlock detector's periodic rounds.
uint64_t LockMessages(const std::map<std::string, uint64_t>& s) {
  uint64_t n = 0;
  for (const auto& [k, v] : s) {
    if (k.rfind("dlm.sent.", 0) != 0 || k == "dlm.sent.total") continue;
    if (k.rfind("dlm.sent.DD_", 0) == 0) continue;
    n += v;
  }
  return n;
}

bool Create(const std::string& path) {
  int fd = open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644);
  if (fd < 0) return false;
  return close(fd) == 0;
}

class ClusterStatsTest : public ::testing::Test {
 protected:
  ClusterStatsTest() : c_(ClusterSpec{.nodes = 2}) {}
  void SetUp() override {
    COHORT_REQUIRE_FUSE();
    ASSERT_TRUE(c_.Setup());
    ASSERT_TRUE(c_.StartAll());
  }
  CohortCluster c_;
};

TEST_F(ClusterStatsTest, SignalWritesFreshCountsOfDlmMessagesByType) {
  auto s1 = c_.Stats(2);
  ASSERT_FALSE(s1.empty());
  EXPECT_EQ(s1["node"], 2u);
  {
    std::ofstream out(c_.path(1, "f"));
    out << "from node 1";
  }
  EXPECT_EQ(ReadFile(c_.path(2, "f")), "from node 1");
  auto s2 = c_.Stats(2);
  ASSERT_FALSE(s2.empty());
  EXPECT_EQ(s2["seq"], s1["seq"] + 1);
  // Node 2 had to ask for locks node 1 holds: requests went out and replies came back.
  EXPECT_GT(s2["dlm.sent.REQUEST"], s1["dlm.sent.REQUEST"]);
  EXPECT_GT(s2["dlm.received.REPLY"], s1["dlm.received.REPLY"]);
  EXPECT_GE(s2["dlm.sent.total"], s2["dlm.sent.REQUEST"]);
}

// The glock placement rule (docs/locking.md §2.5): after the first create, creating
// files in a directory of one's own sends no DLM message, on either node.
TEST_F(ClusterStatsTest, CreatesInOwnDirectorySendNoDlmMessages) {
  for (int n = 1; n <= 2; ++n) {
    std::string d = c_.path(n, "d" + std::to_string(n));
    ASSERT_EQ(mkdir(d.c_str(), 0755), 0) << d;
  }
  // Warm-up: both mkdirs changed the root directory, so each node settles its view of
  // the root (a glock transfer) and takes its directory's glocks once.
  for (int n = 1; n <= 2; ++n) {
    struct stat st;
    ASSERT_EQ(stat(c_.mnt(n).c_str(), &st), 0);
    std::string d = c_.path(n, "d" + std::to_string(n));
    ASSERT_EQ(stat(d.c_str(), &st), 0);
    ASSERT_TRUE(Create(d + "/warm"));
  }
  auto b1 = c_.Stats(1), b2 = c_.Stats(2);
  uint64_t before = LockMessages(b1) + LockMessages(b2);
  for (int i = 0; i < 50; ++i) {
    for (int n = 1; n <= 2; ++n) {
      ASSERT_TRUE(Create(c_.path(n, "d" + std::to_string(n) + "/f" + std::to_string(i))));
    }
  }
  auto a1 = c_.Stats(1), a2 = c_.Stats(2);
  uint64_t after = LockMessages(a1) + LockMessages(a2);
  std::string diff;
  for (auto* p : {&a1, &a2}) {
    const auto& b = p == &a1 ? b1 : b2;
    for (const auto& [k, v] : *p) {
      auto it = b.find(k);
      uint64_t old = it == b.end() ? 0 : it->second;
      if (v != old && k.rfind("dlm.sent.", 0) == 0) diff += " n" + std::to_string(p == &a1 ? 1 : 2) + ":" + k + "+" + std::to_string(v - old);
    }
  }
  EXPECT_EQ(after, before) << "DLM messages sent for 100 creates:" << diff;
}

}  // namespace
}  // namespace cohort::testing
