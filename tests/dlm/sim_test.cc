// tests/dlm/sim_test.cc: the seeded cluster simulation, default run (label sim):
// hundreds of seeds, 5 nodes, faults on (docs/dlm.md §16).
#include <gtest/gtest.h>

#include "tests/dlm/sim_harness.h"

namespace cohort::dlm::sim {
namespace {

TEST(DlmSimulationTest, RandomTrafficWithKillsRestartsAndPartitionsKeepsInvariants) {
  int failures = 0;
  for (uint64_t seed : SeedsToRun(300, 1)) {
    Simulation s(seed, SimOptions{});
    std::string err = s.Run();
    if (!err.empty()) {
      ADD_FAILURE() << err << "\nreplay with COHORT_SIM_SEED=" << seed;
      if (++failures >= 3) break;
    }
  }
}

TEST(DlmSimulationTest, RandomTrafficWithoutFaultsCompletesEveryRequest) {
  int failures = 0;
  for (uint64_t seed : SeedsToRun(100, 100000)) {
    SimOptions o;
    o.faults = false;
    Simulation s(seed, o);
    std::string err = s.Run();
    if (!err.empty()) {
      ADD_FAILURE() << err << "\nreplay with COHORT_SIM_SEED=" << seed;
      if (++failures >= 3) break;
    }
  }
}

// The same traffic and faults with a directory placement rule: directory nodes chosen
// by the rule while their node is a member, by the hash otherwise (docs/dlm.md §12);
// recovery after kills and partitions must rebuild the same directory on every node.
TEST(DlmSimulationTest, PlacementRuleKeepsInvariantsThroughKillsAndPartitions) {
  int failures = 0;
  for (uint64_t seed : SeedsToRun(150, 200000)) {
    SimOptions o;
    o.dir_hint = true;
    Simulation s(seed, o);
    std::string err = s.Run();
    if (!err.empty()) {
      ADD_FAILURE() << err << "\nreplay with COHORT_SIM_SEED=" << seed;
      if (++failures >= 3) break;
    }
  }
}

}  // namespace
}  // namespace cohort::dlm::sim
