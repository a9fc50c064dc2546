// tests/net/test_util.h: what the net/ tests share: a private temporary directory, a
// generated cluster file and key on random 127.x.y.z addresses (so concurrent test runs
// do not collide), and a TransportHandler that records what it is given.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "net/transport.h"

namespace cohort::net::testing {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "cohort-net-XXXXXX").string();
    char* p = mkdtemp(tmpl.data());
    if (p != nullptr) path_ = p;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct ClusterFiles {
  std::string cluster_file;
  std::string key_file;
  std::vector<std::string> addresses;  // index i = node i+1
};

inline uint32_t RandomSeed() {
  std::random_device rd;
  return rd() ^ static_cast<uint32_t>(getpid());
}

inline void WriteKey(const std::string& path, const std::string& hex) {
  std::ofstream(path) << hex << "\n";
  chmod(path.c_str(), 0600);
}

// Writes a cluster file for nodes 1..n in `dir` and a random hex key. Each node gets
// its own address 127.A.B.<id> with A, B and the port chosen at random.
inline ClusterFiles MakeCluster(const std::string& dir, int n, int heartbeat_ms = 100,
                                int dead_ms = 1500, int reconnect_ms = 50,
                                const std::string& name = "testcluster") {
  std::mt19937 rng(RandomSeed());
  int a = 1 + static_cast<int>(rng() % 250);
  int b = static_cast<int>(rng() % 256);
  int port = 20000 + static_cast<int>(rng() % 40000);
  ClusterFiles f;
  f.key_file = dir + "/cluster.key";
  std::string hex;
  for (int i = 0; i < 64; ++i) hex += "0123456789abcdef"[rng() % 16];
  WriteKey(f.key_file, hex);
  f.cluster_file = dir + "/cluster.toml";
  std::ofstream out(f.cluster_file);
  out << "[cluster]\nname = \"" << name << "\"\nkey_file = \"cluster.key\"\n\n"
      << "[timeouts]\nheartbeat_interval_ms = " << heartbeat_ms
      << "\ndead_timeout_ms = " << dead_ms << "\nreconnect_interval_ms = " << reconnect_ms
      << "\n";
  for (int i = 1; i <= n; ++i) {
    std::string addr = "127." + std::to_string(a) + "." + std::to_string(b) + "." +
                       std::to_string(i) + ":" + std::to_string(port);
    f.addresses.push_back(addr);
    out << "\n[[node]]\nid = " << i << "\nname = \"n" << i << "\"\naddress = \"" << addr
        << "\"\n";
  }
  return f;
}

// Records views and messages; WaitFor() blocks until a predicate over them holds.
class Recorder : public TransportHandler {
 public:
  struct Msg {
    NodeId from;
    uint64_t generation;
    std::vector<uint8_t> payload;
  };

  void OnMessage(NodeId from, uint64_t generation,
                 std::span<const uint8_t> payload) override {
    std::lock_guard<std::mutex> l(mu_);
    msgs_.push_back({from, generation, {payload.begin(), payload.end()}});
    cv_.notify_all();
  }
  void OnMembershipChange(const MembershipView& view) override {
    std::lock_guard<std::mutex> l(mu_);
    if (!views_.empty() && view.generation <= views_.back().generation) {
      generation_went_back_ = true;
    }
    views_.push_back(view);
    cv_.notify_all();
  }

  // Waits (at most `limit`, a generous upper bound) until pred() holds under the lock.
  bool WaitFor(const std::function<bool()>& pred,
               std::chrono::seconds limit = std::chrono::seconds(60)) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, limit, pred);
  }
  // The accessors below REQUIRE being called inside WaitFor's predicate or via Snapshot.
  const std::vector<MembershipView>& views_locked() const { return views_; }
  const std::vector<Msg>& msgs_locked() const { return msgs_; }
  MembershipView last_view_locked() const {
    return views_.empty() ? MembershipView{} : views_.back();
  }

  MembershipView LastView() {
    std::lock_guard<std::mutex> l(mu_);
    return last_view_locked();
  }
  std::vector<Msg> Messages() {
    std::lock_guard<std::mutex> l(mu_);
    return msgs_;
  }
  bool generation_went_back() {
    std::lock_guard<std::mutex> l(mu_);
    return generation_went_back_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<MembershipView> views_;
  std::vector<Msg> msgs_;
  bool generation_went_back_ = false;
};

}  // namespace cohort::net::testing
