// tests/dlm/sim_stress_test.cc: the long simulation run (label stress): thousands of seeds,
// more steps, 7 nodes (docs/dlm.md §16). COHORT_SIM_SEED / COHORT_SIM_SEEDS apply.
#include <gtest/gtest.h>

#include "tests/dlm/sim_harness.h"

namespace cohort::dlm::sim {
namespace {

TEST(DlmStressTest, ThousandsOfSeedsKeepInvariants) {
  int failures = 0;
  for (uint64_t seed : SeedsToRun(5000, 1'000'000)) {
    SimOptions o;
    o.nodes = 5 + static_cast<int>(seed % 3);
    o.steps = 800;
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
