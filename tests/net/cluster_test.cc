// tests/net/cluster_test.cc: real multi-process clusters of net_testd on loopback
// (127.A.B.<id>): membership formation with 3, 5 and 16 processes, kill -9 and restart,
// a 2|3 partition, and exactly-once in-order delivery across dropped connections.
// Every child is killed on exit (and dies with the test through PR_SET_PDEATHSIG);
// every wait is bounded by a generous limit, never a timing assertion.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "tests/net/test_util.h"

namespace cohort::net {
namespace {

struct ParsedView {
  uint64_t generation = 0;
  std::vector<NodeId> members;
  bool quorate = false;
};

// One net_testd child with its stdin and stdout.
class Proc {
 public:
  Proc(const std::string& cluster_file, NodeId id, const std::string& log_path) : id_(id) {
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      dup2(in[0], 0);
      dup2(out[1], 1);
      int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (log >= 0) dup2(log, 2);
      std::string node = std::to_string(id);
      execl(COHORT_NET_TESTD, COHORT_NET_TESTD, "--cluster", cluster_file.c_str(), "--node",
            node.c_str(), "--log", "info", static_cast<char*>(nullptr));
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    in_fd_ = in[1];
    out_fd_ = out[0];
    reader_ = std::thread([this] { ReadLoop(); });
  }
  ~Proc() {
    Kill();
    if (in_fd_ >= 0) close(in_fd_);
    if (reader_.joinable()) reader_.join();
    if (out_fd_ >= 0) close(out_fd_);
  }

  void Kill() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }

  void Command(const std::string& line) {
    std::string l = line + "\n";
    ssize_t n = write(in_fd_, l.data(), l.size());
    (void)n;
  }

  // Waits (upper bound `limit`) for a line for which pred() is true.
  bool WaitLine(const std::function<bool(const std::string&)>& pred,
                std::chrono::seconds limit = std::chrono::seconds(120)) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, limit, [&] {
      for (const std::string& s : lines_) {
        if (pred(s)) return true;
      }
      return eof_;
    }) && std::any_of(lines_.begin(), lines_.end(), pred);
  }

  ParsedView LastView() {
    std::lock_guard<std::mutex> l(mu_);
    return last_view_;
  }
  std::vector<std::string> Lines(const std::string& prefix) {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<std::string> r;
    for (const std::string& s : lines_) {
      if (s.rfind(prefix, 0) == 0) r.push_back(s);
    }
    return r;
  }
  bool generation_went_back() {
    std::lock_guard<std::mutex> l(mu_);
    return went_back_;
  }
  NodeId id() const { return id_; }

 private:
  void ReadLoop() {
    std::string buf;
    char chunk[4096];
    for (;;) {
      ssize_t n = read(out_fd_, chunk, sizeof chunk);
      if (n <= 0) break;
      buf.append(chunk, static_cast<size_t>(n));
      size_t nl;
      while ((nl = buf.find('\n')) != std::string::npos) {
        std::string line = buf.substr(0, nl);
        buf.erase(0, nl + 1);
        std::lock_guard<std::mutex> l(mu_);
        if (line.rfind("VIEW ", 0) == 0) Parse(line);
        lines_.push_back(std::move(line));
        cv_.notify_all();
      }
    }
    std::lock_guard<std::mutex> l(mu_);
    eof_ = true;
    cv_.notify_all();
  }
  void Parse(const std::string& line) {
    std::istringstream in(line.substr(5));
    ParsedView v;
    std::string ids, q;
    in >> v.generation >> ids >> q;
    std::istringstream is(ids);
    std::string id;
    while (std::getline(is, id, ',')) v.members.push_back(static_cast<NodeId>(std::stoul(id)));
    v.quorate = q == "quorate";
    if (v.generation <= last_view_.generation) went_back_ = true;
    last_view_ = v;
  }

  NodeId id_;
  pid_t pid_ = -1;
  int in_fd_ = -1, out_fd_ = -1;
  std::thread reader_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> lines_;
  ParsedView last_view_;
  bool eof_ = false;
  bool went_back_ = false;
};

class NetClusterTest : public ::testing::Test {
 protected:
  void MakeCluster(int n) {
    files_ = testing::MakeCluster(dir_.path(), n, 100, 1500, 50);
  }
  Proc* Spawn(NodeId id) {
    procs_[id].reset();
    procs_[id] = std::make_unique<Proc>(files_.cluster_file, id,
                                        dir_.path() + "/n" + std::to_string(id) + ".log");
    EXPECT_TRUE(procs_[id]->WaitLine([](const std::string& s) { return s == "READY"; }))
        << "node " << id << " did not start; see its log";
    return procs_[id].get();
  }
  void KillNode(NodeId id) {
    procs_[id]->Kill();
    procs_.erase(id);
  }
  // Waits until every process in `ids` shows the view `ids` with one generation.
  bool WaitAgree(const std::vector<NodeId>& ids, bool quorate, int limit_s = 120) {
    for (int round = 0; round < limit_s * 10; ++round) {
      bool ok = true;
      uint64_t gen = 0;
      for (NodeId id : ids) {
        ParsedView v = procs_[id]->LastView();
        if (v.members != ids || v.quorate != quorate || (gen && v.generation != gen)) {
          ok = false;
          break;
        }
        gen = v.generation;
      }
      if (ok) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    for (NodeId id : ids) {
      ParsedView v = procs_[id]->LastView();
      std::string m;
      for (NodeId x : v.members) m += std::to_string(x) + ",";
      ADD_FAILURE() << "node " << id << " view gen " << v.generation << " {" << m << "} "
                    << (v.quorate ? "quorate" : "inquorate") << "; logs in " << dir_.path();
      procs_[id]->Command("debug");
    }
    keep_dir_ = true;
    return false;
  }
  void TearDown() override {
    for (auto& [id, p] : procs_) {
      EXPECT_FALSE(p->generation_went_back()) << "node " << id;
    }
    procs_.clear();
    if (keep_dir_ || HasFailure()) {
      std::string keep = dir_.path() + "-kept";
      std::error_code ec;
      std::filesystem::rename(dir_.path(), keep, ec);
      std::fprintf(stderr, "logs kept in %s\n", keep.c_str());
    }
  }

  testing::TempDir dir_;
  testing::ClusterFiles files_;
  std::map<NodeId, std::unique_ptr<Proc>> procs_;
  bool keep_dir_ = false;
};

std::vector<NodeId> Range(NodeId lo, NodeId hi) {
  std::vector<NodeId> v;
  for (NodeId i = lo; i <= hi; ++i) v.push_back(i);
  return v;
}

TEST_F(NetClusterTest, ThreeProcessesFormOneQuorateView) {
  MakeCluster(3);
  for (NodeId id : Range(1, 3)) Spawn(id);
  EXPECT_TRUE(WaitAgree(Range(1, 3), true));
}

TEST_F(NetClusterTest, FiveProcessesSurviveKillNineOfCoordinatorAndRestartRejoins) {
  MakeCluster(5);
  for (NodeId id : Range(1, 5)) Spawn(id);
  ASSERT_TRUE(WaitAgree(Range(1, 5), true));
  KillNode(1);  // the coordinator
  ASSERT_TRUE(WaitAgree(Range(2, 5), true));
  KillNode(4);
  ASSERT_TRUE(WaitAgree({2, 3, 5}, true));
  Spawn(1);
  Spawn(4);
  EXPECT_TRUE(WaitAgree(Range(1, 5), true));
}

TEST_F(NetClusterTest, ThreeProcessesKillNineAndRestartRejoins) {
  MakeCluster(3);
  for (NodeId id : Range(1, 3)) Spawn(id);
  ASSERT_TRUE(WaitAgree(Range(1, 3), true));
  KillNode(2);
  ASSERT_TRUE(WaitAgree({1, 3}, true));
  Spawn(2);
  EXPECT_TRUE(WaitAgree(Range(1, 3), true));
}

TEST_F(NetClusterTest, NodeRestartedWithinDeadTimeoutLeavesAndRejoins) {
  MakeCluster(3);
  for (NodeId id : Range(1, 3)) Spawn(id);
  ASSERT_TRUE(WaitAgree(Range(1, 3), true));
  uint64_t before = procs_[1]->LastView().generation;
  KillNode(3);
  Spawn(3);  // back at once with a new incarnation, long before dead_timeout
  ASSERT_TRUE(WaitAgree(Range(1, 3), true));
  // Wait (bounded) until the survivors moved past the view holding the old incarnation.
  for (int i = 0; i < 1200 && procs_[1]->LastView().generation == before; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(WaitAgree(Range(1, 3), true));
  EXPECT_GT(procs_[1]->LastView().generation, before);
  EXPECT_EQ(procs_[3]->LastView().generation, procs_[1]->LastView().generation);
  // The survivors saw the restart as a leave and a join (wire-protocol.md §7.3).
  bool left = false;
  for (const std::string& l : procs_[1]->Lines("VIEW ")) {
    std::istringstream in(l.substr(5));
    uint64_t gen = 0;
    std::string ids;
    in >> gen >> ids;
    if (gen > before && ids == "1,2") left = true;
  }
  EXPECT_TRUE(left);
}

TEST_F(NetClusterTest, PartitionTwoThreeOnlyMajorityIsQuorateThenHeals) {
  MakeCluster(5);
  for (NodeId id : Range(1, 5)) Spawn(id);
  ASSERT_TRUE(WaitAgree(Range(1, 5), true));
  for (NodeId a : {1, 2}) {
    for (NodeId b : {3, 4, 5}) {
      procs_[a]->Command("block " + std::to_string(b));
      procs_[b]->Command("block " + std::to_string(a));
    }
  }
  EXPECT_TRUE(WaitAgree({1, 2}, false));
  EXPECT_TRUE(WaitAgree({3, 4, 5}, true));
  for (NodeId a : {1, 2}) {
    for (NodeId b : {3, 4, 5}) {
      procs_[a]->Command("unblock " + std::to_string(b));
      procs_[b]->Command("unblock " + std::to_string(a));
    }
  }
  EXPECT_TRUE(WaitAgree(Range(1, 5), true));
}

TEST_F(NetClusterTest, SixteenProcessesFormOneQuorateView) {
  MakeCluster(16);
  for (NodeId id : Range(1, 16)) Spawn(id);
  EXPECT_TRUE(WaitAgree(Range(1, 16), true, 240));
}

TEST_F(NetClusterTest, MessagesAcrossProcessesArriveExactlyOnceInOrderDespiteDrops) {
  files_ = testing::MakeCluster(dir_.path(), 2, 100, 60000, 50);
  Spawn(1);
  Spawn(2);
  ASSERT_TRUE(WaitAgree({1, 2}, true));
  constexpr int kRounds = 6, kPer = 400;
  for (int r = 0; r < kRounds; ++r) {
    procs_[1]->Command("send 2 " + std::to_string(kPer) + " r" + std::to_string(r));
    procs_[r % 2 ? 1 : 2]->Command(r % 2 ? "drop 2" : "drop 1");
  }
  std::string last = "MSG 1 ";
  ASSERT_TRUE(procs_[2]->WaitLine([&](const std::string& s) {
    return s.rfind("MSG 1 ", 0) == 0 &&
           s.substr(s.rfind(' ') + 1) ==
               "r" + std::to_string(kRounds - 1) + ":" + std::to_string(kPer - 1);
  }));
  std::vector<std::string> msgs = procs_[2]->Lines("MSG ");
  ASSERT_EQ(msgs.size(), static_cast<size_t>(kRounds * kPer));
  for (int r = 0, k = 0; r < kRounds; ++r) {
    for (int i = 0; i < kPer; ++i, ++k) {
      std::string want = "r" + std::to_string(r) + ":" + std::to_string(i);
      ASSERT_EQ(msgs[k].substr(msgs[k].rfind(' ') + 1), want) << "at " << k;
    }
  }
  EXPECT_EQ(procs_[1]->Lines("SENDFAIL").size(), 0u);
}

}  // namespace
}  // namespace cohort::net
