// bench/bench_util.h: what every Cohort benchmark shares.
//
// A benchmark measures a figure and, in the same run, the baseline it is compared with
// (machines here are noisy: we report ratios, not absolute times). It prints a readable
// table, and with --json one JSON object holding the same rows, so results can be kept
// and compared across commits. Every row states the CPU placement of what it measured
// ("one-cpu": all threads/processes pinned to one vCPU; "apart": pinned to different
// vCPUs; "free": not pinned).
//
//   cohort::bench::Report r("crc32c_bench", argc, argv);
//   r.Add({.name = "crc32c 4KiB", .placement = "one-cpu", .value = gbps, .unit = "GB/s",
//          .baseline_name = "table", .baseline = gbps0});
//   return r.Finish();
//
// Thread safety: single-threaded.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/clock.h"

namespace cohort::bench {

struct Row {
  std::string name;        // what was measured
  std::string placement;   // "one-cpu", "apart", "free"
  double value = 0;        // the figure
  std::string unit;        // "ops/s", "us", "GB/s", "s"
  std::string baseline_name;  // what it is compared with ("" if none)
  double baseline = 0;        // the baseline's figure in the same unit, same run
  bool higher_is_better = true;
  std::string target;      // the target, in words ("ratio >= 0.8"), "" if none
  std::string note;
  // value/baseline (0 when there is no baseline).
  double Ratio() const { return baseline != 0 ? value / baseline : 0; }
};

class Report {
 public:
  // Parses --json and --quick (fewer iterations) from argv.
  Report(std::string program, int argc, char** argv);
  void Add(Row row);
  void AddInfo(const std::string& key, const std::string& value);
  bool json() const { return json_; }
  bool quick() const { return quick_; }
  // Prints the table (or the JSON object) to stdout; returns 0.
  int Finish();

 private:
  std::string program_;
  bool json_ = false;
  bool quick_ = false;
  std::vector<Row> rows_;
  std::vector<std::pair<std::string, std::string>> info_;
};

// Number of online CPUs.
int OnlineCpus();
// Pins the calling thread to `cpu`; returns false if that failed (reported in the row).
bool PinThisThread(int cpu);
// Pins process `pid` (all its threads are inherited from the mask at exec) to `cpu`.
bool PinProcess(int pid, int cpu);
// The CPU for "apart" placement of participant i: i % OnlineCpus().
inline int ApartCpu(int i, int ncpus) { return ncpus > 0 ? i % ncpus : 0; }

// Runs fn repeatedly for at least `min_seconds` (and at least min_iters calls), returns
// calls per second. `fn` returns the number of operations it did.
double OpsPerSecond(const std::function<uint64_t()>& fn, double min_seconds,
                    uint64_t min_iters = 1);

// Percentile (0..100) of samples (sorts a copy).
double Percentile(std::vector<double> samples, double pct);

inline double NowSeconds() {
  return static_cast<double>(Clock::Real()->Now()) / kNanosPerSecond;
}

}  // namespace cohort::bench
