// tests/dlm/sim_harness.h: the seeded cluster simulation of the DLM (docs/dlm.md §16).
//
// N lockspaces on one SimNetwork and one FakeClock. Each step does one random thing:
// lock/convert/unlock/cancel with random modes, ranges, owners, flags and LVBs; deliver
// some messages; tick; kill, restart, partition, heal. After every step the invariants of
// docs/dlm.md §5 are checked on every quorate, non-recovering node, and granted modes are
// checked across masters. At the end the cluster is healed, views are compared with the
// masters', every lock is released and every request must have completed.
#pragma once

#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common/clock.h"
#include "dlm/lockspace.h"
#include "dlm/sim_transport.h"

namespace cohort::dlm::sim {

struct SimOptions {
  int nodes = 5;
  int steps = 400;
  bool faults = true;
  // Install a directory placement rule (docs/dlm.md §12) on every node: "a" -> n1,
  // "b" -> n2, "c" -> n3, "d" -> n9 (never a member: the hash applies), "e" -> none.
  bool dir_hint = false;
};

// The placement rule of SimOptions::dir_hint.
inline net::NodeId SimDirHint(std::string_view key) {
  if (key.size() < 2) return net::kNoNode;
  switch (key[1]) {
    case 'a': return 1;
    case 'b': return 2;
    case 'c': return 3;
    case 'd': return 9;
    default: return net::kNoNode;
  }
}

class Simulation {
 public:
  Simulation(uint64_t seed, SimOptions o) : seed_(seed), o_(o), net_(seed, o.nodes) {}
  ~Simulation() { ls_.clear(); }

  // Runs the whole scenario; returns "" on success or a failure description.
  std::string Run() {
    for (int i = 1; i <= o_.nodes; ++i) Start(static_cast<net::NodeId>(i));
    Settle();
    for (int step = 0; step < o_.steps && error_.empty(); ++step) {
      RandomStep();
      CheckAll("step " + std::to_string(step));
    }
    if (error_.empty()) Finish();
    return error_;
  }

 private:
  struct App {
    int pending = 0;  // operations issued and not yet completed
    bool lock_done = false;  // the first completion (of the Lock op) arrived
    LockMode granted = LockMode::kNone;
    bool freed = false;
  };
  using AppMap = std::map<LockId, App>;

  uint64_t R(uint64_t n) { return n ? net_.Rand() % n : 0; }

  void Fail(const std::string& what) {
    if (!error_.empty()) return;
    std::ostringstream os;
    os << "seed " << seed_ << ": " << what << "\n";
    if (std::getenv("COHORT_SIM_TRACE")) {
      for (const std::string& t : trace_) os << "  trace: " << t << "\n";
    }
    for (auto& [id, ls] : ls_) os << ls->Dump();
    error_ = os.str();
  }

  void Start(net::NodeId id) {
    T("start n" + std::to_string(id));
    SimTransport* t = net_.NewEndpoint(id);
    LockspaceOptions opt;
    opt.clock = &clock_;
    opt.idle_free_after = 3 * kNanosPerSecond;
    opt.deadlock_interval = kNanosPerSecond / 2;
    if (o_.dir_hint) opt.dir_hint = SimDirHint;
    apps_[id] = std::make_shared<AppMap>();
    ls_[id] = std::make_unique<Lockspace>(t, opt);
    net_.Join(id);
  }
  void Kill(net::NodeId id) {
    T("kill n" + std::to_string(id));
    net_.Kill(id);
    ls_.erase(id);
    apps_.erase(id);  // requests of a dead incarnation are not expected to complete
    fenced_.erase(id);
  }

  // DESIGN.md §3: a node that lost quorum has fenced itself; before it is part of a
  // quorate view again it must restart (its locks were purged by the quorate side).
  void FenceCheck() {
    for (int round = 0; round < 8; ++round) {
      std::vector<net::NodeId> restart;
      for (auto& [id, ls] : ls_) {
        bool quorate = net_.ViewOf(id).quorate;
        if (!quorate) fenced_.insert(id);
        if (quorate && fenced_.count(id)) restart.push_back(id);
      }
      if (restart.empty()) return;
      for (net::NodeId id : restart) {
        Kill(id);
        Start(id);
      }
    }
  }

  void Settle() {
    net_.RunUntilIdle(2'000'000);
    if (net_.pending() != 0) Fail("network did not settle");
  }

  CompletionFn Ast(net::NodeId node) {
    std::weak_ptr<AppMap> w = apps_[node];
    return [this, w, node](const Completion& c) {
      auto apps = w.lock();
      if (!apps) return;
      T("  ast n" + std::to_string(node) + " lock " + std::to_string(c.id & 0xffff) + " " +
        CodeName(c.status) + " gr=" + ModeName(c.granted) + RangeStr(c.range) +
        (c.unlocked ? " unlocked" : ""));
      App& a = (*apps)[c.id];
      if (!a.lock_done) {
        // The Lock op's completion may run inside Lock(), before the id is known.
        a.lock_done = true;
        a.pending = 0;
      } else if (a.pending <= 0) {
        Fail("completion without a pending operation for lock " + std::to_string(c.id));
        return;
      }
      else {
        a.pending--;
      }
      a.granted = c.granted;
      if (c.unlocked || (c.status != Code::kOk && c.granted == LockMode::kNone)) {
        a.freed = true;
      }
    };
  }

  std::vector<net::NodeId> Alive() {
    std::vector<net::NodeId> v;
    for (auto& [id, ls] : ls_) v.push_back(id);
    return v;
  }

  static std::string RangeStr(const Range& r) {
    return "[" + std::to_string(r.start) + "," + std::to_string(r.end) + "]";
  }
  Range RandomRange() {
    if (R(3) == 0) return Range::All();
    uint64_t s = R(40);
    return Range{s, s + R(20)};
  }
  LockMode RandomMode() { return static_cast<LockMode>(R(kNumModes)); }

  void RandomStep() {
    std::vector<net::NodeId> alive = Alive();
    uint64_t a = R(100);
    if (alive.empty()) a = 80;
    net::NodeId n = alive.empty() ? 0 : alive[R(alive.size())];
    static const char* kNames[] = {"a", "b", "c", "d", "e"};
    if (a < 30) {  // lock
      LockRequest r;
      r.name = kNames[R(5)];
      r.mode = RandomMode();
      r.range = RandomRange();
      r.owner = R(3);
      if (R(8) == 0) r.flags |= kNoQueue;
      if (R(3) == 0) r.flags |= kValBlk;
      if (R(10) == 0) r.flags |= kExpedite;
      if (R(10) == 0) r.timeout = (1 + R(3)) * kNanosPerSecond;
      r.on_complete = Ast(n);
      auto apps = apps_[n];
      Result<LockId> id = ls_[n]->Lock(std::move(r));
      if (!id.ok()) return Fail("Lock refused: " + id.status().ToString());
      App& app = (*apps)[*id];
      if (!app.lock_done) app.pending = 1;  // else it completed inside Lock()
      T("n" + std::to_string(n) + " lock " + std::to_string(*id & 0xffff) + " done=" +
        std::to_string(app.lock_done) + " gr=" + ModeName(app.granted));
      return;
    }
    if (a < 60) {  // convert (30..44) or unlock (45..59)
      auto apps = apps_[n];
      std::vector<LockId> idle;
      for (auto& [id, app] : *apps) {
        if (!app.freed && app.pending == 0 && app.granted != LockMode::kNone) idle.push_back(id);
      }
      if (idle.empty()) return;
      LockId id = idle[R(idle.size())];
      (*apps)[id].pending++;
      Status s;
      if (a < 45) {
        ConvertRequest c;
        c.mode = RandomMode();
        c.range = RandomRange();
        if (R(6) == 0) c.flags |= kNoQueue;
        if (R(4) == 0) c.flags |= kQueCvt;
        if (R(4) == 0) c.flags |= kConvDeadlk;
        if (R(3) == 0) c.flags |= kValBlk;
        if (R(10) == 0) c.timeout = kNanosPerSecond;
        Lvb v{};
        v[0] = static_cast<uint8_t>(R(256));
        c.lvb = &v;
        T("n" + std::to_string(n) + " convert " + std::to_string(id & 0xffff) + " to " +
          ModeName(c.mode) + RangeStr(c.range) + " flags " + std::to_string(c.flags));
        s = ls_[n]->Convert(id, c);
      } else {
        Lvb v{};
        v[1] = static_cast<uint8_t>(R(256));
        T("n" + std::to_string(n) + " unlock " + std::to_string(id & 0xffff));
        s = ls_[n]->Unlock(id, R(2) ? static_cast<uint32_t>(kValBlk) : 0u, &v);
      }
      if (!s.ok()) Fail("Convert/Unlock refused: " + s.ToString());
      return;
    }
    if (a < 65) {  // cancel something pending
      auto apps = apps_[n];
      std::vector<LockId> busy;
      for (auto& [id, app] : *apps) {
        if (!app.freed && app.pending > 0) busy.push_back(id);
      }
      if (busy.empty()) return;
      Status s = ls_[n]->Cancel(busy[R(busy.size())]);
      if (!s.ok()) Fail("Cancel refused: " + s.ToString());
      return;
    }
    if (a < 72) {  // tick
      clock_.Advance(kNanosPerSecond / 4);
      for (auto& [id, ls] : ls_) ls->Tick();
      return;
    }
    if (o_.faults && a == 72 && alive.size() > 1) {
      Kill(n);
      FenceCheck();
      return;
    }
    if (o_.faults && a == 73) {
      for (int i = 1; i <= o_.nodes; ++i) {
        if (!ls_.count(static_cast<net::NodeId>(i))) {
          Start(static_cast<net::NodeId>(i));
          FenceCheck();
          return;
        }
      }
      return;
    }
    if (o_.faults && a == 74 && alive.size() > 2 && !partitioned_) {
      std::vector<net::NodeId> g0, g1;
      for (net::NodeId id : alive) (R(2) ? g0 : g1).push_back(id);
      std::string d = "partition";
      for (auto x : g0) d += " " + std::to_string(x);
      d += " |";
      for (auto x : g1) d += " " + std::to_string(x);
      T(d);
      net_.Partition({g0, g1});
      partitioned_ = true;
      FenceCheck();
      return;
    }
    if (o_.faults && a == 75 && partitioned_) {
      Heal();
      return;
    }
    // Deliver some messages.
    int k = 1 + static_cast<int>(R(8));
    for (int i = 0; i < k; ++i) {
      if (!net_.Step()) break;
    }
  }

  // Heals a partition; nodes that were on a non-quorate side fence themselves
  // (DESIGN.md §3): they are restarted.
  void Heal() {
    T("heal");
    net_.Heal();
    partitioned_ = false;
    FenceCheck();
  }

  void CheckAll(const std::string& when) {
    if (!error_.empty()) return;
    // Per node: queue invariants (§5 1-6) on quorate, non-recovering nodes.
    std::map<std::string, std::vector<MasterLockInfo>> grants;
    std::map<std::string, net::NodeId> masters;
    for (auto& [id, ls] : ls_) {
      net::MembershipView v = ls->view();
      if (!v.quorate || ls->recovering()) continue;
      Status s = ls->CheckInvariants();
      if (!s.ok()) return Fail(when + ": " + s.ToString());
      for (MasterLockInfo& m : ls->MasterLocks()) {
        if (m.grmode != LockMode::kNone) grants[m.key].push_back(m);
      }
      for (const std::string& k : ls->MasteredKeys()) {
        auto [it, inserted] = masters.emplace(k, id);
        if (!inserted) {
          return Fail(when + ": " + KeyToString(k) + " mastered by n" +
                      std::to_string(it->second) + " and n" + std::to_string(id));
        }
      }
    }
    // Across masters of the quorate side: granted locks pairwise compatible.
    for (auto& [key, v] : grants) {
      for (size_t i = 0; i < v.size(); ++i) {
        for (size_t j = i + 1; j < v.size(); ++j) {
          if (v[i].id != v[j].id && Conflicts(v[i].grmode, v[i].grange, v[j].grmode, v[j].grange)) {
            return Fail(when + ": conflicting grants on " + KeyToString(key));
          }
        }
      }
    }
  }

  void Quiesce() {
    for (int i = 0; i < 12 && error_.empty(); ++i) {
      Settle();
      clock_.Advance(kNanosPerSecond / 2);
      for (auto& [id, ls] : ls_) ls->Tick();
      Settle();
    }
  }

  void Finish() {
    if (partitioned_) Heal();
    for (int i = 1; i <= o_.nodes; ++i) {
      if (!ls_.count(static_cast<net::NodeId>(i))) Start(static_cast<net::NodeId>(i));
    }
    FenceCheck();
    Quiesce();
    CheckAll("after heal");
    if (!error_.empty()) return;
    CheckAgreement();
    // Release everything, round after round, until no lock is left.
    for (int round = 0; round < 200 && error_.empty(); ++round) {
      bool any = false;
      for (auto& [n, ls] : ls_) {
        auto apps = apps_[n];
        for (auto& [id, app] : *apps) {
          if (app.freed) continue;
          any = true;
          if (app.pending == 0 && app.granted != LockMode::kNone) {
            app.pending++;
            Status s = ls->Unlock(id);
            if (!s.ok()) return Fail("final Unlock refused: " + s.ToString());
          }
        }
      }
      if (!any) break;
      Quiesce();
      CheckAll("release round " + std::to_string(round));
    }
    if (!error_.empty()) return;
    for (auto& [n, ls] : ls_) {
      for (auto& [id, app] : *apps_[n]) {
        if (!app.freed || app.pending != 0) {
          return Fail("request never completed: node " + std::to_string(n) + " lock " +
                      std::to_string(id) + " pending=" + std::to_string(app.pending) +
                      " freed=" + std::to_string(app.freed) + " granted=" +
                      ModeName(app.granted) + " lock_done=" + std::to_string(app.lock_done));
        }
      }
      if (!ls->OwnLocks().empty()) return Fail("own locks left on n" + std::to_string(n));
      if (!ls->MasterLocks().empty()) return Fail("master locks left on n" + std::to_string(n));
    }
  }

  // Every node's own locks agree with their masters' copies, and vice versa.
  void CheckAgreement() {
    std::map<LockId, std::pair<net::NodeId, MasterLockInfo>> master;
    for (auto& [n, ls] : ls_) {
      for (MasterLockInfo& m : ls->MasterLocks()) {
        if (master.count(m.id)) return Fail("lock on two masters");
        master[m.id] = {n, m};
      }
    }
    size_t owned = 0;
    for (auto& [n, ls] : ls_) {
      for (OwnLockInfo& o : ls->OwnLocks()) {
        ++owned;
        auto it = master.find(o.id);
        if (it == master.end()) return Fail("own lock unknown to any master");
        const MasterLockInfo& m = it->second.second;
        if (it->second.first != o.master) return Fail("owner and master disagree on master");
        if (o.grmode != m.grmode || (o.grmode != LockMode::kNone && !(o.grange == m.grange))) {
          return Fail("owner and master disagree on grant of " + std::to_string(o.id));
        }
        if (o.busy != (m.queue == QueueKind::kConverting || m.queue == QueueKind::kWaiting)) {
          return Fail("owner and master disagree on queue of " + std::to_string(o.id));
        }
      }
    }
    if (owned != master.size()) return Fail("master holds locks no owner has");
  }

  uint64_t seed_;
  SimOptions o_;
  FakeClock clock_;
  SimNetwork net_;
  std::map<net::NodeId, std::unique_ptr<Lockspace>> ls_;
  std::map<net::NodeId, std::shared_ptr<AppMap>> apps_;
  bool partitioned_ = false;
  std::set<net::NodeId> fenced_;
  std::string error_;
  std::vector<std::string> trace_;
  void T(const std::string& t) {
    if (std::getenv("COHORT_SIM_TRACE")) trace_.push_back(t);
  }
};

// Seeds to run: COHORT_SIM_SEED=<n> runs only n; COHORT_SIM_SEEDS=<count> overrides count.
inline std::vector<uint64_t> SeedsToRun(uint64_t default_count, uint64_t base) {
  if (const char* one = std::getenv("COHORT_SIM_SEED")) return {std::strtoull(one, nullptr, 10)};
  uint64_t count = default_count;
  if (const char* c = std::getenv("COHORT_SIM_SEEDS")) count = std::strtoull(c, nullptr, 10);
  std::vector<uint64_t> v;
  for (uint64_t i = 0; i < count; ++i) v.push_back(base + i);
  return v;
}

}  // namespace cohort::dlm::sim
