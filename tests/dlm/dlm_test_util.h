// tests/dlm/dlm_test_util.h: a small cluster of Lockspaces on SimNetwork with a FakeClock,
// and a recorder of callbacks, for the dlm unit tests (docs/dlm.md §16).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include <gtest/gtest.h>

#include "common/clock.h"
#include "dlm/lockspace.h"
#include "dlm/sim_transport.h"

namespace cohort::dlm::testing {

// Records every callback of the locks it is attached to.
class Recorder {
 public:
  CompletionFn Ast() {
    return [this](const Completion& c) { completions.push_back(c); };
  }
  BlockingFn Bast() {
    return [this](LockId id, LockMode m) { basts.emplace_back(id, m); };
  }
  std::optional<Completion> Last(LockId id) const {
    for (auto it = completions.rbegin(); it != completions.rend(); ++it) {
      if (it->id == id) return *it;
    }
    return std::nullopt;
  }
  int Count(LockId id) const {
    int n = 0;
    for (const auto& c : completions) n += c.id == id;
    return n;
  }
  int Basts(LockId id) const {
    int n = 0;
    for (const auto& b : basts) n += b.first == id;
    return n;
  }
  bool Granted(LockId id) const {
    auto c = Last(id);
    return c && c->status == Code::kOk && !c->unlocked;
  }
  std::vector<Completion> completions;
  std::vector<std::pair<LockId, LockMode>> basts;
};

class Cluster {
 public:
  explicit Cluster(int n, uint64_t seed = 1, int configured = 0,
                   std::function<net::NodeId(std::string_view)> dir_hint = {})
      : net_(seed, configured ? configured : n), dir_hint_(std::move(dir_hint)) {
    for (int i = 1; i <= n; ++i) Start(static_cast<net::NodeId>(i));
    Settle();
  }
  ~Cluster() {
    // Lockspaces go first; the network outlives them.
    nodes_.clear();
  }

  LockspaceOptions Options() {
    LockspaceOptions o;
    o.clock = &clock_;
    o.idle_free_after = 10 * kNanosPerSecond;
    o.deadlock_interval = kNanosPerSecond;
    o.dir_hint = dir_hint_;
    return o;
  }
  void Start(net::NodeId id) {
    SimTransport* t = net_.NewEndpoint(id);
    nodes_[id] = std::make_unique<Lockspace>(t, Options());
    net_.Join(id);
  }
  void Kill(net::NodeId id) {
    net_.Kill(id);
    nodes_.erase(id);
  }
  Lockspace& operator[](net::NodeId id) { return *nodes_.at(id); }
  SimNetwork& net() { return net_; }
  FakeClock& clock() { return clock_; }
  void Settle() { net_.RunUntilIdle(1'000'000); }
  // Advances time by `d` and ticks every node, then settles.
  void Advance(Nanos d) {
    clock_.Advance(d);
    for (auto& [id, ls] : nodes_) ls->Tick();
    Settle();
  }
  // Several deadlock rounds' worth of time.
  void RunDeadlockRounds(int n = 4) {
    for (int i = 0; i < n; ++i) Advance(kNanosPerSecond);
  }
  std::map<net::NodeId, std::unique_ptr<Lockspace>>& nodes() { return nodes_; }

 private:
  FakeClock clock_;
  SimNetwork net_;
  std::function<net::NodeId(std::string_view)> dir_hint_;
  std::map<net::NodeId, std::unique_ptr<Lockspace>> nodes_;
};

// A request with the recorder's callbacks.
inline LockRequest Req(Recorder& rec, std::string_view name, LockMode mode,
                       uint32_t flags = 0, Range range = Range::All()) {
  LockRequest r;
  r.name = name;
  r.mode = mode;
  r.flags = flags;
  r.range = range;
  r.on_complete = rec.Ast();
  r.on_blocking = rec.Bast();
  return r;
}

inline ConvertRequest Cvt(LockMode mode, uint32_t flags = 0, Range range = Range::All()) {
  ConvertRequest c;
  c.mode = mode;
  c.flags = flags;
  c.range = range;
  return c;
}

}  // namespace cohort::dlm::testing
