// mkfs/mkfs_main.cc: the mkfs.cohort program (DESIGN.md §9; mkfs/mkfs.h).
//
//   mkfs.cohort -c CLUSTER [-j N] [-b BYTES] [-J SIZE] [-g SIZE] [-L LABEL] [-f] [-q] DEVICE
//
// Exit codes: 0 made, 1 failed (message on stderr), 2 usage error.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <string>

#include "common/logging.h"
#include "fs/block_device.h"
#include "mkfs/mkfs.h"

namespace {

int Fail(const std::string& device, const cohort::Status& s) {
  std::fprintf(stderr, "mkfs.cohort: %s: %s\n", device.c_str(), std::string(s.message()).c_str());
  return 1;
}

int Run(int argc, char** argv) {
  CLI::App app{"mkfs.cohort: make a Cohort clustered filesystem on a shared device"};
  std::string device, journal_size, group_size;
  cohort::mkfs::MkfsOptions o;
  bool quiet = false;
  app.add_option("device", device, "block device or image file")->required();
  app.add_option("-c,--cluster", o.cluster_name, "cluster name (required; [A-Za-z0-9_.-]{1,63})")
      ->required();
  app.add_option("-j,--journals", o.journals, "number of journals (nodes that may mount)")
      ->capture_default_str();
  app.add_option("-b,--block-size", o.block_size, "block size in bytes (4096..65536)")
      ->capture_default_str();
  app.add_option("-J,--journal-size", journal_size,
                 "size of each journal (MiB, or with K/M/G suffix; default from device size)");
  app.add_option("-g,--group-size", group_size,
                 "allocation group size (MiB, or with suffix; default from device size)");
  app.add_option("-L,--label", o.label, "filesystem label (up to 63 bytes)");
  app.add_option("--max-nodes", o.max_nodes, "node slots (heartbeat, journals; default 32)");
  app.add_flag("-f,--force", o.force, "do not check whether the device is in use");
  app.add_flag("-q,--quiet", quiet, "print nothing but errors");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (!journal_size.empty()) {
    auto v = cohort::mkfs::ParseSize(journal_size, 1ull << 20);
    if (!v.ok()) return Fail(device, v.status());
    o.journal_bytes = *v;
  }
  if (!group_size.empty()) {
    auto v = cohort::mkfs::ParseSize(group_size, 1ull << 20);
    if (!v.ok()) return Fail(device, v.status());
    o.group_bytes = *v;
  }
  auto dev = cohort::fs::FileBlockDevice::Open(
      device, {.read_only = false, .direct = true, .exclusive = true});
  if (!dev.ok()) return Fail(device, dev.status());
  const bool tty = !quiet && ::isatty(STDERR_FILENO);
  if (!quiet) {
    o.note = [](const std::string& m) { std::fprintf(stderr, "mkfs.cohort: %s\n", m.c_str()); };
    if (o.force)
      std::fprintf(stderr, "mkfs.cohort: -f: not checking whether %s is in use\n", device.c_str());
  }
  if (tty) {
    o.progress = [](uint64_t done, uint64_t total) {
      const int width = 40;
      int filled = static_cast<int>(width * done / (total ? total : 1));
      std::fprintf(stderr, "\rwriting [%.*s%*s] %3d%%", filled,
                   "########################################", width - filled, "",
                   static_cast<int>(100 * done / (total ? total : 1)));
      if (done == total) std::fprintf(stderr, "\n");
      std::fflush(stderr);
    };
  }
  auto sb = cohort::mkfs::Mkfs(**dev, o);
  if (!sb.ok()) {
    if (tty) std::fprintf(stderr, "\n");
    return Fail(device, sb.status());
  }
  if (!quiet) {
    std::printf("%s", cohort::mkfs::GeometrySummary(*sb).c_str());
    if (!(*dev)->direct()) {
      std::printf("  note: %s does not support O_DIRECT; buffered I/O was used\n", device.c_str());
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  cohort::InitLogging("mkfs.cohort", cohort::LogLevel::kWarn);
  try {
    return Run(argc, argv);
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "mkfs.cohort: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mkfs.cohort: %s\n", e.what());
    return 1;
  }
}
