// bench/bench_util.cc: table and JSON output, CPU pinning.
#include "bench/bench_util.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include <nlohmann/json.hpp>

namespace cohort::bench {

Report::Report(std::string program, int argc, char** argv) : program_(std::move(program)) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--json") == 0) json_ = true;
    if (std::strcmp(argv[i], "--quick") == 0) quick_ = true;
  }
  AddInfo("cpus", std::to_string(OnlineCpus()));
}

void Report::Add(Row row) { rows_.push_back(std::move(row)); }

void Report::AddInfo(const std::string& key, const std::string& value) {
  info_.emplace_back(key, value);
}

int Report::Finish() {
  if (json_) {
    nlohmann::json j;
    j["program"] = program_;
    for (auto& [k, v] : info_) j["info"][k] = v;
    j["rows"] = nlohmann::json::array();
    for (const Row& r : rows_) {
      nlohmann::json o{{"name", r.name},   {"placement", r.placement},
                       {"value", r.value}, {"unit", r.unit},
                       {"higher_is_better", r.higher_is_better}};
      if (!r.baseline_name.empty()) {
        o["baseline_name"] = r.baseline_name;
        o["baseline"] = r.baseline;
        o["ratio"] = r.Ratio();
      }
      if (!r.target.empty()) o["target"] = r.target;
      if (!r.note.empty()) o["note"] = r.note;
      j["rows"].push_back(o);
    }
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  std::printf("%s", program_.c_str());
  for (auto& [k, v] : info_) std::printf("  %s=%s", k.c_str(), v.c_str());
  std::printf("\n");
  std::printf("%-44s %-8s %14s %-6s | %-26s %14s %8s  %s\n", "measurement", "cpu", "value",
              "unit", "baseline (same run)", "value", "ratio", "target");
  std::printf("%s\n", std::string(140, '-').c_str());
  for (const Row& r : rows_) {
    std::printf("%-44s %-8s %14.3f %-6s | %-26s ", r.name.c_str(), r.placement.c_str(),
                r.value, r.unit.c_str(), r.baseline_name.c_str());
    if (!r.baseline_name.empty()) {
      std::printf("%14.3f %8.3f", r.baseline, r.Ratio());
    } else {
      std::printf("%14s %8s", "", "");
    }
    std::printf("  %s%s%s\n", r.target.c_str(), r.note.empty() ? "" : "  ", r.note.c_str());
  }
  return 0;
}

int OnlineCpus() { return static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN)); }

bool PinThisThread(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return sched_setaffinity(0, sizeof set, &set) == 0;
}

bool PinProcess(int pid, int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return sched_setaffinity(pid, sizeof set, &set) == 0;
}

double OpsPerSecond(const std::function<uint64_t()>& fn, double min_seconds,
                    uint64_t min_iters) {
  uint64_t ops = 0, iters = 0;
  double start = NowSeconds(), now = start;
  while (iters < min_iters || now - start < min_seconds) {
    ops += fn();
    ++iters;
    now = NowSeconds();
  }
  return static_cast<double>(ops) / (now - start);
}

double Percentile(std::vector<double> samples, double pct) {
  if (samples.empty()) return 0;
  std::sort(samples.begin(), samples.end());
  size_t idx = static_cast<size_t>(pct / 100.0 * static_cast<double>(samples.size() - 1) + 0.5);
  return samples[std::min(idx, samples.size() - 1)];
}

}  // namespace cohort::bench
