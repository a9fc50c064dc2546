// tests/net/lockd_cluster_test.cc: the DLM across real processes: `cohort lockd`
// (tools/cmd_lockd.cc) daemons on loopback, driven over their control sockets
// (docs/operations.md §5). A lock workload with conflicts, ranges and an LVB counter;
// kill -9 of a node during the workload and its restart; a 2|3 partition where only the
// majority grants; 16 nodes that lock.
//
// Safety check: the test records, per grant, the interval from receiving "granted" to
// sending "unlock". That interval lies inside the real holding interval, so two
// recorded intervals of conflicting grants that overlap prove a double grant.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "tests/net/test_util.h"

namespace cohort::net {
namespace {

using Clock = std::chrono::steady_clock;

// A line-oriented client of one lockd control socket.
class LockClient {
 public:
  explicit LockClient(const std::string& path) {
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path.c_str());
    ok_ = connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
  }
  ~LockClient() { close(fd_); }
  bool ok() const { return ok_; }

  // Sends one command and returns the next reply line ("" on error or after `limit`).
  std::string Call(const std::string& cmd, int limit_s = 120) {
    std::string l = cmd + "\n";
    if (send(fd_, l.data(), l.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(l.size())) {
      return "";
    }
    return ReadLine(limit_s);
  }
  std::string ReadLine(int limit_s) {
    auto deadline = Clock::now() + std::chrono::seconds(limit_s);
    for (;;) {
      size_t nl = buf_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return line;
      }
      int ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    deadline - Clock::now()).count());
      if (ms <= 0) return "";
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, ms) <= 0) return "";
      char chunk[4096];
      ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) return "";
      buf_.append(chunk, static_cast<size_t>(n));
    }
  }

 private:
  int fd_ = -1;
  bool ok_ = false;
  std::string buf_;
};

class LockdProc {
 public:
  LockdProc(const std::string& cluster, NodeId id, const std::string& dir)
      : socket_(dir + "/n" + std::to_string(id) + ".sock") {
    std::string log = dir + "/n" + std::to_string(id) + ".log";
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
      }
      int null = open("/dev/null", O_RDONLY);
      if (null >= 0) dup2(null, 0);
      std::string node = std::to_string(id);
      execl(COHORT_LOCKD_BIN, COHORT_LOCKD_BIN, "lockd", "--cluster", cluster.c_str(),
            "--node", node.c_str(), "--socket", socket_.c_str(), "--test-faults",
            static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  ~LockdProc() { Kill(); }
  void Kill() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }
  const std::string& socket() const { return socket_; }

 private:
  std::string socket_;
  pid_t pid_ = -1;
};

struct Interval {
  std::string resource;
  bool ex;
  uint64_t start, end;  // range
  Clock::time_point from, to;
  NodeId node;
};

bool ModesConflict(bool ex_a, bool ex_b) { return ex_a || ex_b; }  // PR and EX only

class LockdClusterTest : public ::testing::Test {
 protected:
  void MakeCluster(int n, int dead_ms = 1500) {
    files_ = testing::MakeCluster(dir_.path(), n, 100, dead_ms, 50, "lockd");
  }
  void Spawn(NodeId id) {
    procs_[id].reset();
    procs_[id] = std::make_unique<LockdProc>(files_.cluster_file, id, dir_.path());
  }
  // "view <gen> {a,b} quorate" from node `id`, retrying until the socket answers.
  std::string Status(NodeId id) {
    LockClient c(procs_[id]->socket());
    return c.ok() ? c.Call("status", 10) : "";
  }
  static std::string ViewText(const std::vector<NodeId>& ids, bool quorate) {
    std::string s = "{";
    for (size_t i = 0; i < ids.size(); ++i) s += (i ? "," : "") + std::to_string(ids[i]);
    return s + "} " + (quorate ? "quorate" : "inquorate");
  }
  // Waits until every node of `ids` reports the view `ids` (same generation), not
  // recovering. Upper bound only.
  bool WaitView(const std::vector<NodeId>& ids, bool quorate, int limit_s = 120) {
    std::string want = ViewText(ids, quorate);
    for (int round = 0; round < limit_s * 5; ++round) {
      std::string gen;
      bool ok = true;
      for (NodeId id : ids) {
        std::string s = Status(id);  // "view <gen> {..} quorate[ recovering]"
        std::istringstream in(s);
        std::string w, g, rest;
        in >> w >> g;
        std::getline(in, rest);
        if (w != "view" || rest != " " + want || (!gen.empty() && g != gen)) {
          ok = false;
          break;
        }
        gen = g;
      }
      if (ok) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    for (NodeId id : ids) ADD_FAILURE() << "node " << id << ": " << Status(id);
    return false;
  }

  // One worker: at least `iters` lock/unlock pairs on node `id` (and on until `*until`
  // is set, if given), recording intervals. Stops at the first failure (a killed node).
  // Returns the number of completed pairs, or -1 after a failure.
  int Worker(NodeId id, int iters, uint32_t seed, std::atomic<int>* lvb_incs,
             const std::atomic<bool>* until = nullptr) {
    LockClient c(procs_[id]->socket());
    if (!c.ok()) return -1;
    std::mt19937 rng(seed);
    int done = 0;
    for (int i = 0; i < 100000 && (i < iters || (until != nullptr && !*until)); ++i) {
      int kind = static_cast<int>(rng() % 4);
      std::string res, cmd;
      bool ex = rng() % 2 == 0;
      uint64_t lo = 0, hi = ~0ULL;
      if (kind == 0) {
        res = "lvb";
        ex = true;
        cmd = "lock lvb EX valblk";
      } else if (kind == 1) {
        res = "range";
        lo = rng() % 100;
        hi = lo + rng() % 20;
        cmd = "lock range " + std::string(ex ? "EX " : "PR ") + std::to_string(lo) + "-" +
              std::to_string(hi);
      } else {
        res = "r" + std::to_string(rng() % 2);
        cmd = "lock " + res + (ex ? " EX" : " PR");
      }
      std::string reply = c.Call(cmd);
      std::istringstream in(reply);
      std::string w, lid, mode, lvb;
      in >> w >> lid >> mode >> lvb;
      if (w != "granted") {
        std::lock_guard<std::mutex> l(mu_);
        failures_.push_back("node " + std::to_string(id) + ": " + cmd + " -> " + reply);
        return -1;
      }
      Interval iv{res, ex, lo, hi, Clock::now(), {}, id};
      std::string unlock = "unlock " + lid;
      if (kind == 0) {
        int v = lvb.size() > 4 ? std::stoi(lvb.substr(4)) : 0;
        unlock += " lvb=" + std::to_string(v + 1);
        ++*lvb_incs;
      }
      iv.to = Clock::now();
      {
        std::lock_guard<std::mutex> l(mu_);
        intervals_.push_back(iv);
      }
      std::string ur = c.Call(unlock);
      if (ur != "unlocked " + lid) {
        std::lock_guard<std::mutex> l(mu_);
        failures_.push_back("node " + std::to_string(id) + ": " + unlock + " -> " + ur);
        return -1;
      }
      ++done;
      ++progress_;
    }
    return done;
  }

  void CheckNoDoubleGrant() {
    std::lock_guard<std::mutex> l(mu_);
    for (size_t i = 0; i < intervals_.size(); ++i) {
      for (size_t j = i + 1; j < intervals_.size(); ++j) {
        const Interval& a = intervals_[i];
        const Interval& b = intervals_[j];
        if (a.resource != b.resource || !ModesConflict(a.ex, b.ex)) continue;
        if (a.end < b.start || b.end < a.start) continue;
        bool overlap = a.from < b.to && b.from < a.to;
        EXPECT_FALSE(overlap) << "double grant of " << a.resource << " to nodes " << a.node
                              << " and " << b.node;
      }
    }
  }

  // Reads the LVB counter with a PR lock.
  int ReadLvb(NodeId id) {
    LockClient c(procs_[id]->socket());
    std::istringstream in(c.Call("lock lvb PR valblk"));
    std::string w, lid, mode, lvb;
    in >> w >> lid >> mode >> lvb;
    EXPECT_EQ(w, "granted");
    c.Call("unlock " + lid);
    return lvb.size() > 4 ? std::stoi(lvb.substr(4)) : -1;
  }

  void TearDown() override {
    procs_.clear();
    if (HasFailure()) {
      std::string keep = dir_.path() + "-kept";
      std::error_code ec;
      std::filesystem::rename(dir_.path(), keep, ec);
      std::fprintf(stderr, "logs kept in %s\n", keep.c_str());
    }
  }

  testing::TempDir dir_;
  testing::ClusterFiles files_;
  std::map<NodeId, std::unique_ptr<LockdProc>> procs_;
  std::mutex mu_;
  std::vector<Interval> intervals_;
  std::vector<std::string> failures_;
  std::atomic<int> progress_{0};
};

TEST_F(LockdClusterTest, ThreeNodesRunConflictingRangeAndLvbWorkload) {
  MakeCluster(3, /*dead_ms=*/10000);  // no node dies here: a slow machine must not look dead
  for (NodeId id = 1; id <= 3; ++id) Spawn(id);
  ASSERT_TRUE(WaitView({1, 2, 3}, true));
  std::atomic<int> incs{0};
  std::vector<std::thread> ws;
  std::atomic<int> total{0};
  for (NodeId id = 1; id <= 3; ++id) {
    for (int k = 0; k < 2; ++k) {
      ws.emplace_back([&, id, k] { total += Worker(id, 40, id * 100 + k, &incs); });
    }
  }
  for (auto& w : ws) w.join();
  EXPECT_EQ(total.load(), 3 * 2 * 40);
  CheckNoDoubleGrant();
  EXPECT_EQ(ReadLvb(2), incs.load());
}

TEST_F(LockdClusterTest, KillNineDuringWorkloadSurvivorsFinishAndNodeRejoins) {
  MakeCluster(3);
  for (NodeId id = 1; id <= 3; ++id) Spawn(id);
  ASSERT_TRUE(WaitView({1, 2, 3}, true));
  {
    // Node 1 becomes the master of "marker" and holds it EX when it dies.
    LockClient c(procs_[1]->socket());
    std::string r = c.Call("lock marker EX");
    ASSERT_EQ(r.rfind("granted", 0), 0u) << r;
  }
  std::atomic<int> incs{0};
  std::atomic<bool> recovered{false};
  std::map<NodeId, int> done;
  std::mutex done_mu;
  std::vector<std::thread> ws;
  for (NodeId id = 1; id <= 3; ++id) {
    ws.emplace_back([&, id] {
      int n = Worker(id, 20, id * 7, &incs, &recovered);
      std::lock_guard<std::mutex> l(done_mu);
      done[id] = n;
    });
  }
  // Kill node 1 once the workload is under way on every node (bounded wait).
  for (int i = 0; i < 6000 && progress_ < 30; ++i) usleep(10000);
  procs_[1]->Kill();
  bool view_ok = WaitView({2, 3}, true);
  recovered = true;  // survivors' workers stop after their current pair
  for (auto& w : ws) w.join();
  ASSERT_TRUE(view_ok);
  EXPECT_GE(done[2], 20) << (failures_.empty() ? "" : failures_.front());
  EXPECT_GE(done[3], 20) << (failures_.empty() ? "" : failures_.front());
  CheckNoDoubleGrant();
  {
    // The dead node's EX lock was purged by recovery.
    LockClient c(procs_[2]->socket());
    EXPECT_EQ(c.Call("lock marker EX").rfind("granted", 0), 0u);
  }
  Spawn(1);
  ASSERT_TRUE(WaitView({1, 2, 3}, true));
  LockClient c(procs_[1]->socket());
  EXPECT_EQ(c.Call("lock marker EX try").rfind("error", 0), 0u);  // node 2 still holds it
  EXPECT_EQ(c.Call("lock fresh EX").rfind("granted", 0), 0u);
}

TEST_F(LockdClusterTest, PartitionTwoThreeOnlyMajorityGrantsAndHealingConverges) {
  MakeCluster(5);
  for (NodeId id = 1; id <= 5; ++id) Spawn(id);
  ASSERT_TRUE(WaitView({1, 2, 3, 4, 5}, true));
  auto cut = [&](bool block) {
    for (NodeId a : {1, 2}) {
      for (NodeId b : {3, 4, 5}) {
        LockClient ca(procs_[a]->socket());
        LockClient cb(procs_[b]->socket());
        EXPECT_EQ(ca.Call((block ? "block " : "unblock ") + std::to_string(b)), "ok");
        EXPECT_EQ(cb.Call((block ? "block " : "unblock ") + std::to_string(a)), "ok");
      }
    }
  };
  cut(true);
  ASSERT_TRUE(WaitView({1, 2}, false));
  ASSERT_TRUE(WaitView({3, 4, 5}, true));
  LockClient minority(procs_[1]->socket());
  LockClient majority(procs_[4]->socket());
  std::string m = minority.Call("lock split EX try");
  EXPECT_EQ(m.rfind("error", 0), 0u) << "the inquorate side granted: " << m;
  std::string g = majority.Call("lock split EX");
  EXPECT_EQ(g.rfind("granted", 0), 0u) << g;
  cut(false);
  ASSERT_TRUE(WaitView({1, 2, 3, 4, 5}, true));
  LockClient after(procs_[2]->socket());
  std::string again = after.Call("lock split EX try");
  EXPECT_EQ(again.rfind("error", 0), 0u) << "granted twice after healing: " << again;
}

TEST_F(LockdClusterTest, SixteenNodesFormClusterAndLock) {
  MakeCluster(16, 3000);
  std::vector<NodeId> all;
  for (NodeId id = 1; id <= 16; ++id) {
    Spawn(id);
    all.push_back(id);
  }
  ASSERT_TRUE(WaitView(all, true, 240));
  for (NodeId id = 1; id <= 16; ++id) {
    LockClient c(procs_[id]->socket());
    EXPECT_EQ(c.Call("lock own" + std::to_string(id) + " EX").rfind("granted", 0), 0u);
    EXPECT_EQ(c.Call("lock shared PR").rfind("granted", 0), 0u);
  }
  LockClient c(procs_[16]->socket());
  EXPECT_EQ(c.Call("lock own1 EX try").rfind("error", 0), 0u);
}

}  // namespace
}  // namespace cohort::net
