// bench/mkfs_bench.cc: mkfs.cohort against mkfs.ext4 (and mkfs.gfs2 when gfs2-utils is
// installed) on fresh sparse image files of 10 GiB and 1 TiB, in the same run
// (docs/ondisk-format.md §5.1 lazy groups: mkfs time must not grow with device size).
//
//   mkfs_bench [--quick] [--json] [--dir DIR] [--mkfs PATH]
//
// Each figure is the median wall time of N runs (3, or 1 with --quick), each on a new
// sparse file. Images go to DIR (default: $TMPDIR or /tmp) and are deleted. mkfs.cohort
// is looked up next to this program (build/bin) unless --mkfs is given.
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "bench/bench_util.h"

extern char** environ;

namespace {

namespace stdfs = std::filesystem;

// Runs argv with stdout/stderr to /dev/null; returns the wall time in seconds, or a
// negative value if it failed.
double TimeProgram(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  double t0 = cohort::bench::NowSeconds();
  pid_t pid;
  int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return -1;
  int status = 0;
  waitpid(pid, &status, 0);
  double t = cohort::bench::NowSeconds() - t0;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? t : -1;
}

bool MakeSparse(const std::string& path, uint64_t size) {
  std::error_code ec;
  stdfs::remove(path, ec);
  FILE* f = std::fopen(path.c_str(), "w");
  if (!f) return false;
  std::fclose(f);
  stdfs::resize_file(path, size, ec);
  return !ec;
}

std::string FindProgram(const std::string& name) {
  for (const char* dir : {"/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/sbin"}) {
    std::string p = std::string(dir) + "/" + name;
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

// Median wall time of `runs` runs of make(image) on a fresh sparse file; -1 on failure.
double Median(const std::string& image, uint64_t size, int runs,
              const std::function<std::vector<std::string>(const std::string&)>& make) {
  std::vector<double> t;
  for (int i = 0; i < runs; ++i) {
    if (!MakeSparse(image, size)) return -1;
    double s = TimeProgram(make(image));
    if (s < 0) return -1;
    t.push_back(s);
  }
  std::error_code ec;
  stdfs::remove(image, ec);
  return cohort::bench::Percentile(t, 50);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace cohort;
  bench::Report report("mkfs_bench", argc, argv);
  std::string dir = std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp";
  std::string mkfs = (stdfs::canonical("/proc/self/exe").parent_path() / "mkfs.cohort").string();
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--dir") == 0) dir = argv[i + 1];
    if (std::strcmp(argv[i], "--mkfs") == 0) mkfs = argv[i + 1];
  }
  if (::access(mkfs.c_str(), X_OK) != 0) {
    std::fprintf(stderr, "mkfs_bench: %s not found (build mkfs.cohort or pass --mkfs)\n",
                 mkfs.c_str());
    return 1;
  }
  const std::string ext4 = FindProgram("mkfs.ext4");
  const std::string gfs2 = FindProgram("mkfs.gfs2");
  report.AddInfo("dir", dir);
  report.AddInfo("mkfs.gfs2", gfs2.empty() ? "not installed" : gfs2);
  const int runs = report.quick() ? 1 : 3;
  const std::string image = dir + "/cohort-mkfs-bench-" + std::to_string(::getpid()) + ".img";

  auto cohort_cmd = [&](const std::string& img) {
    return std::vector<std::string>{mkfs, "-q", "-c", "bench", "-j", "3", img};
  };
  auto ext4_cmd = [&](const std::string& img) {
    return std::vector<std::string>{ext4, "-F", "-q", img};
  };
  auto gfs2_cmd = [&](const std::string& img) {
    return std::vector<std::string>{gfs2, "-O", "-q", "-p", "lock_nolock", "-j", "3", img};
  };

  double cohort_small = 0, cohort_large = 0;
  struct Size {
    const char* name;
    uint64_t bytes;
  };
  for (Size sz : {Size{"10 GiB", 10ull << 30}, Size{"1 TiB", 1ull << 40}}) {
    double c = Median(image, sz.bytes, runs, cohort_cmd);
    if (c < 0) {
      std::fprintf(stderr, "mkfs_bench: mkfs.cohort failed on a %s image in %s\n", sz.name,
                   dir.c_str());
      return 1;
    }
    (sz.bytes == (10ull << 30) ? cohort_small : cohort_large) = c;
    if (!ext4.empty()) {
      double e = Median(image, sz.bytes, runs, ext4_cmd);
      report.Add({.name = std::string("mkfs.cohort -j 3, ") + sz.name + " sparse file",
                  .placement = "free",
                  .value = c * 1000,
                  .unit = "ms",
                  .baseline_name = "mkfs.ext4 (same file size)",
                  .baseline = e * 1000,
                  .higher_is_better = false,
                  .target = sz.bytes == (10ull << 30) ? "<= 320 ms (mkfs.gfs2 here)" : "",
                  .note = e < 0 ? "mkfs.ext4 failed" : ""});
    }
    if (!gfs2.empty()) {
      double g = Median(image, sz.bytes, runs, gfs2_cmd);
      report.Add({.name = std::string("mkfs.cohort -j 3, ") + sz.name + " sparse file",
                  .placement = "free",
                  .value = c * 1000,
                  .unit = "ms",
                  .baseline_name = "mkfs.gfs2 -j 3",
                  .baseline = g * 1000,
                  .higher_is_better = false,
                  .target = "ratio <= 1"});
    }
  }
  report.Add({.name = "mkfs.cohort growth 10 GiB -> 1 TiB (100x size)",
              .placement = "free",
              .value = cohort_large * 1000,
              .unit = "ms",
              .baseline_name = "mkfs.cohort 10 GiB",
              .baseline = cohort_small * 1000,
              .higher_is_better = false,
              .target = "ratio << 100 (not linear)"});
  return report.Finish();
}
