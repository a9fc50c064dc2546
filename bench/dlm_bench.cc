// bench/dlm_bench.cc: the lock manager's costs against a thread-handoff baseline measured
// in the same run (docs/dlm.md §7 rule 5; issue 3's targets):
//   - uncontended lock+unlock pairs/s on a locally mastered resource, synchronous
//     (SyncLock) and pipelined (many outstanding async requests);
//   - baseline: handing a request to another thread and waiting for the answer with
//     std::mutex + std::condition_variable, threads pinned to one vCPU and apart;
//   - lock throughput on one contended resource among 5 simulated nodes (SimNetwork),
//     against the same 5 lockers on one node.
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_util.h"
#include "common/clock.h"
#include "dlm/lockspace.h"
#include "dlm/sim_transport.h"
#include "dlm/sync.h"

namespace cohort {
namespace {

using dlm::LockId;
using dlm::LockMode;

// A one-node cluster on SimNetwork: every resource is mastered locally.
struct LocalNode {
  FakeClock clock;
  dlm::SimNetwork net{1, 1};
  std::unique_ptr<dlm::Lockspace> ls;
  LocalNode() {
    dlm::SimTransport* t = net.NewEndpoint(1);
    dlm::LockspaceOptions o;
    o.clock = &clock;
    ls = std::make_unique<dlm::Lockspace>(t, o);
    net.Join(1);
    net.RunUntilIdle(1000);
  }
};

// Synchronous pairs/s: SyncLock Lock(EX) + Unlock() on one resource.
double SyncPairs(double secs) {
  LocalNode n;
  dlm::SyncLock s(n.ls.get());
  return bench::OpsPerSecond(
      [&] {
        for (int i = 0; i < 100; ++i) {
          dlm::LockRequest r;
          r.name = "bench";
          r.mode = LockMode::kEX;
          if (!s.Lock(std::move(r)).ok() || !s.Unlock().ok()) std::abort();
        }
        return uint64_t{100};
      },
      secs);
}

// Pipelined pairs/s: 64 async requests outstanding on 64 resources, then 64 unlocks.
double PipelinedPairs(double secs) {
  LocalNode n;
  constexpr int kDepth = 64;
  std::vector<std::string> names;
  for (int i = 0; i < kDepth; ++i) names.push_back("p" + std::to_string(i));
  uint64_t done = 0;
  dlm::CompletionFn ast = [&done](const dlm::Completion&) { ++done; };
  std::vector<LockId> ids(kDepth);
  return bench::OpsPerSecond(
      [&] {
        for (int i = 0; i < kDepth; ++i) {
          dlm::LockRequest r;
          r.name = names[i];
          r.mode = LockMode::kEX;
          r.on_complete = ast;
          ids[i] = *n.ls->Lock(std::move(r));
        }
        for (int i = 0; i < kDepth; ++i) {
          if (!n.ls->Unlock(ids[i]).ok()) std::abort();
        }
        return uint64_t{kDepth};
      },
      secs);
}

// Baseline: a request handed to a server thread and the answer waited for.
double HandoffRoundTrips(double secs, int client_cpu, int server_cpu, bool* pinned) {
  std::mutex mu;
  std::condition_variable cv;
  uint64_t req = 0, rsp = 0;
  bool stop = false;
  std::atomic<bool> server_pinned{true};
  std::thread server([&] {
    server_pinned = bench::PinThisThread(server_cpu);
    std::unique_lock<std::mutex> l(mu);
    while (true) {
      cv.wait(l, [&] { return stop || req != rsp; });
      if (stop) return;
      rsp = req;
      cv.notify_all();
    }
  });
  *pinned = bench::PinThisThread(client_cpu);
  double r = bench::OpsPerSecond(
      [&] {
        for (int i = 0; i < 50; ++i) {
          std::unique_lock<std::mutex> l(mu);
          ++req;
          cv.notify_all();
          cv.wait(l, [&] { return rsp == req; });
        }
        return uint64_t{50};
      },
      secs);
  {
    std::lock_guard<std::mutex> l(mu);
    stop = true;
  }
  cv.notify_all();
  server.join();
  *pinned = *pinned && server_pinned;
  return r;
}

// Contended: `lockers` lockers spread over `nodes` nodes take EX on one resource in
// turn; each unlocks as soon as it is granted. Grants per second of wall time,
// including the simulated message delivery.
double ContendedGrants(int nodes, int lockers, double secs) {
  FakeClock clock;
  dlm::SimNetwork net(7, nodes);
  std::vector<std::unique_ptr<dlm::Lockspace>> ls;
  for (int i = 1; i <= nodes; ++i) {
    dlm::LockspaceOptions o;
    o.clock = &clock;
    ls.push_back(std::make_unique<dlm::Lockspace>(net.NewEndpoint(i), o));
    net.Join(i);
  }
  net.RunUntilIdle(1'000'000);
  struct Locker {
    dlm::Lockspace* ls;
    LockId id = dlm::kNoLock;
    bool granted = false, busy = false;
  };
  std::vector<Locker> lk(lockers);
  uint64_t grants = 0;
  for (int i = 0; i < lockers; ++i) lk[i].ls = ls[i % nodes].get();
  auto issue = [&](Locker& l) {
    dlm::LockRequest r;
    r.name = "hot";
    r.mode = LockMode::kEX;
    r.on_complete = [&l, &grants](const dlm::Completion& c) {
      if (c.unlocked) {
        l.busy = false;
      } else if (c.status == Code::kOk) {
        l.granted = true;
        ++grants;
      }
    };
    l.busy = true;
    l.granted = false;
    l.id = *l.ls->Lock(std::move(r));
  };
  double start = bench::NowSeconds();
  uint64_t start_grants = grants;
  while (bench::NowSeconds() - start < secs) {
    for (Locker& l : lk) {
      if (!l.busy) issue(l);
      if (l.granted) {
        l.granted = false;
        if (!l.ls->Unlock(l.id).ok()) std::abort();
      }
    }
    for (int i = 0; i < 64 && net.Step(); ++i) {
    }
  }
  return static_cast<double>(grants - start_grants) / (bench::NowSeconds() - start);
}

}  // namespace
}  // namespace cohort

int main(int argc, char** argv) {
  using namespace cohort;
  bench::Report report("dlm_bench", argc, argv);
  double secs = report.quick() ? 0.1 : 0.5;
  int ncpu = bench::OnlineCpus();
  bool pinned = bench::PinThisThread(0);

  double sync = SyncPairs(secs);
  double piped = PipelinedPairs(secs);
  for (int apart = 0; apart <= 1; ++apart) {
    bool ok = false;
    int server_cpu = apart ? bench::ApartCpu(1, ncpu) : 0;
    double base = HandoffRoundTrips(secs, 0, server_cpu, &ok);
    std::string place = !(ok && pinned) ? "free" : (apart && ncpu > 1 ? "apart" : "one-cpu");
    report.Add({.name = "local lock+unlock, synchronous",
                .placement = place,
                .value = sync,
                .unit = "pairs/s",
                .baseline_name = "mutex+condvar handoff round trip",
                .baseline = base,
                .target = "ratio >= 0.5",
                .note = "AST on the caller's thread: no hop"});
    report.Add({.name = "local lock+unlock, pipelined x64",
                .placement = place,
                .value = piped,
                .unit = "pairs/s",
                .baseline_name = "mutex+condvar handoff round trip",
                .baseline = base,
                .target = ">= 1,000,000 pairs/s"});
  }
  bench::PinThisThread(0);
  double multi = ContendedGrants(5, 5, secs);
  double single = ContendedGrants(1, 5, secs);
  report.Add({.name = "contended EX grants, 5 sim nodes",
              .placement = pinned ? "one-cpu" : "free",
              .value = multi,
              .unit = "grants/s",
              .baseline_name = "5 lockers on one node",
              .baseline = single,
              .note = "includes SimNetwork delivery"});
  return report.Finish();
}
