// bench/crc32c_bench.cc: crc32c throughput of the hardware path against the portable
// slicing-by-8 table (the baseline) in the same run, on one pinned vCPU.
#include <cstdio>
#include <vector>

#include "bench/bench_util.h"
#include "common/crc32c.h"

int main(int argc, char** argv) {
  using namespace cohort;
  bench::Report report("crc32c_bench", argc, argv);
  bool pinned = bench::PinThisThread(0);
  report.AddInfo("hardware", crc32c::HardwareAccelerated() ? "sse4.2" : "none");
  double secs = report.quick() ? 0.05 : 0.3;
  for (size_t size : {64u, 4096u, 1u << 20}) {
    std::vector<uint8_t> buf(size, 0x5a);
    volatile uint32_t sink = 0;
    double hw = bench::OpsPerSecond(
        [&] {
          sink = sink + crc32c::Value(buf.data(), buf.size());
          return size;
        },
        secs);
    double sw = bench::OpsPerSecond(
        [&] {
          sink = sink + crc32c::ExtendPortable(0, buf.data(), buf.size());
          return size;
        },
        secs);
    report.Add({.name = "crc32c " + std::to_string(size) + " B",
                .placement = pinned ? "one-cpu" : "free",
                .value = hw / 1e9,
                .unit = "GB/s",
                .baseline_name = "slicing-by-8 table",
                .baseline = sw / 1e9});
  }
  return report.Finish();
}
