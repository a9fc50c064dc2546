// bench/cluster_bench.cc: several nodes, one filesystem (issue 7, "Benchmark";
// docs/filesystem.md §11). Real daemons on real FUSE mounts, started by
// scripts/local-cluster (the same image file, node i on 127.0.0.i, mounted at
// DIR/node<i>), with their DLM message counters read through the stats file each daemon
// writes on SIGUSR1 (docs/operations.md "Statistics").
//
//   cluster_bench [--quick] [--json] [--dir DIR] [--placements one-cpu,apart]
//                 [--only handoff,creates]   (creates includes the cached reads)
//
// DIR (default /tmp) holds the images; the figures and what they mean are in
// docs/filesystem.md §11.
// Must run as root (FUSE mounts with allow_other). Figures, for each CPU placement:
//   hand-off    process A (on node 1) writes 4 KiB at offset 0 of one file and closes
//               it; process B (on node 2) opens, reads and checks it (it must see A's
//               sequence number) and closes; then A again. One sample = A's write+close
//               plus B's open+read+close, including the pipe wake-ups that take turns.
//               Baseline ("floor"): the same loop with A and B on ONE mount (node 1).
//               p50 and p99. Target: hand-off p50 < 1 ms on loopback.
//   creates     each node creates files (open O_CREAT|O_EXCL + close) in its own
//               directory, all nodes at once, with 1, 2 and 4 nodes; creates/s of all
//               nodes against 1 node, and DLM lock messages per create after a warm-up
//               (messages sent by the DLM of every node / creates). Target: 0.
//   cached read a file written on node 1 is read (open, read 16 KiB, close) by every
//               node of the 4-node cluster; after one warm-up read per node, DLM lock
//               messages per read. Target: 0.
// "Lock messages" are every DLM message type except the deadlock detector's periodic
// rounds (DD_QUERY / DD_EDGES, once a second from the lowest node whatever the load),
// which are reported in the note of each row.
//
// CPU placement: "one-cpu": every thread of every daemon and every benchmark process on
// CPU 0; "apart": daemon of node i and the benchmark process working on node i on CPU
// (i - 1) % ncpus. Daemons are pinned per task once mounted (threads started later
// inherit the mask).
//
// Robustness: every worker is a forked child with an alarm (a hung mount kills the
// child, the row reports the error) and every loop is bounded; the clusters are brought
// down (scripts/local-cluster down) on every exit path, including SIGINT/SIGTERM.
//
// Thread safety: single-threaded (it forks; no threads).
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_util.h"

namespace cohort::bench {
namespace {

std::string g_dir;               // the benchmark's working directory
std::string g_cluster_dir;       // the cluster now up (for cleanup), "" if none
volatile sig_atomic_t g_interrupted = 0;

std::string Sh(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

void ClusterDown() {
  if (g_cluster_dir.empty()) return;
  std::string cmd = std::string("COHORT_BIN_DIR=") + Sh(COHORT_BIN_DIR) + " " +
                    Sh(COHORT_LOCAL_CLUSTER) + " down --dir " + Sh(g_cluster_dir) +
                    " >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "cluster down failed\n");
  g_cluster_dir.clear();
}

void OnSignal(int) { g_interrupted = 1; }

// Pins every task (thread) of `pid` to `cpu`.
bool PinAllTasks(int pid, int cpu) {
  std::string dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = opendir(dir.c_str());
  if (!d) return false;
  bool ok = true;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    ok &= PinProcess(std::atoi(e->d_name), cpu);
  }
  closedir(d);
  return ok;
}

// The daemon serving `mountpoint` (argv: cohort mount DEVICE MOUNTPOINT ...).
int DaemonPid(const std::string& mountpoint) {
  DIR* d = opendir("/proc");
  if (!d) return -1;
  int found = -1;
  while (dirent* e = readdir(d)) {
    int pid = std::atoi(e->d_name);
    if (pid <= 0) continue;
    std::ifstream f("/proc/" + std::string(e->d_name) + "/cmdline", std::ios::binary);
    std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    std::vector<std::string> argv;
    std::stringstream ss(all);
    std::string a;
    while (std::getline(ss, a, '\0')) argv.push_back(a);
    if (argv.size() >= 4 && argv[1] == "mount" && argv[3] == mountpoint &&
        argv[0].find("cohort") != std::string::npos) {
      found = pid;
    }
  }
  closedir(d);
  return found;
}

struct Cluster {
  std::string dir;
  int nodes = 0;
  std::vector<int> pids;  // pids[i] serves node i+1
  std::string Mount(int node) const { return dir + "/node" + std::to_string(node); }
  std::string StatsFile(int node) const { return dir + "/node" + std::to_string(node) + ".stats"; }
};

bool ClusterUp(int nodes, const std::string& name, Cluster* c, std::string* err) {
  c->dir = g_dir + "/" + name;
  c->nodes = nodes;
  std::mt19937 rng(static_cast<unsigned>(getpid() ^ time(nullptr) ^ nodes));
  int port = 20000 + static_cast<int>(rng() % 20000);
  std::string cmd = std::string("COHORT_BIN_DIR=") + Sh(COHORT_BIN_DIR) + " " +
                    Sh(COHORT_LOCAL_CLUSTER) + " up --nodes " + std::to_string(nodes) +
                    " --size 1G --port " + std::to_string(port) + " --dir " + Sh(c->dir) +
                    " >" + Sh(c->dir + ".up.log") + " 2>&1";
  g_cluster_dir = c->dir;
  std::fprintf(stderr, "cluster_bench: %d node(s) up in %s (port %d)\n", nodes,
               c->dir.c_str(), port);
  if (std::system(cmd.c_str()) != 0) {
    *err = "local-cluster up failed: see " + c->dir + ".up.log and " + c->dir + "/node*.log";
    return false;
  }
  c->pids.clear();
  for (int i = 1; i <= nodes; ++i) {
    int pid = DaemonPid(c->Mount(i));
    if (pid < 0) {
      *err = "no daemon found for " + c->Mount(i);
      return false;
    }
    c->pids.push_back(pid);
  }
  return true;
}

int CpuFor(const std::string& placement, int node, int ncpus) {
  return placement == "one-cpu" ? 0 : ApartCpu(node - 1, ncpus);
}

void PinDaemons(const Cluster& c, const std::string& placement, int ncpus) {
  for (int i = 1; i <= c.nodes; ++i) {
    if (!PinAllTasks(c.pids[i - 1], CpuFor(placement, i, ncpus))) {
      std::fprintf(stderr, "cluster_bench: could not pin daemon of node %d\n", i);
    }
  }
}

// ---- statistics ----

using Stats = std::map<std::string, uint64_t>;

Stats ReadStatsFile(const std::string& path) {
  Stats s;
  std::ifstream f(path);
  std::string k;
  uint64_t v;
  while (f >> k >> v) s[k] = v;
  return s;
}

// Asks node i's daemon for fresh statistics and waits for them (bounded: 5 s).
bool FreshStats(const Cluster& c, int node, Stats* out) {
  std::string path = c.StatsFile(node);
  uint64_t old_seq = ReadStatsFile(path)["seq"];
  if (kill(c.pids[node - 1], SIGUSR1) != 0) return false;
  for (int i = 0; i < 2500; ++i) {
    Stats s = ReadStatsFile(path);
    if (s["seq"] > old_seq) {
      *out = std::move(s);
      return true;
    }
    usleep(2000);
  }
  return false;
}

struct MsgTotals {
  uint64_t lock = 0;      // every type but the deadlock detector's
  uint64_t detector = 0;  // DD_QUERY + DD_EDGES + DD_DENY
  std::map<std::string, uint64_t> by_type;
};

bool SnapshotMessages(const Cluster& c, MsgTotals* t) {
  *t = MsgTotals{};
  for (int i = 1; i <= c.nodes; ++i) {
    Stats s;
    if (!FreshStats(c, i, &s)) return false;
    for (auto& [k, v] : s) {
      if (k.rfind("dlm.sent.", 0) != 0 || k == "dlm.sent.total") continue;
      std::string type = k.substr(9);
      t->by_type[type] += v;
      if (type.rfind("DD_", 0) == 0) {
        t->detector += v;
      } else {
        t->lock += v;
      }
    }
  }
  return true;
}

std::string TypeDelta(const MsgTotals& a, const MsgTotals& b) {
  std::string out;
  for (auto& [k, v] : b.by_type) {
    uint64_t d = v - (a.by_type.count(k) ? a.by_type.at(k) : 0);
    if (d == 0 || k.rfind("DD_", 0) == 0) continue;
    if (!out.empty()) out += " ";
    out += k + "=" + std::to_string(d);
  }
  return out.empty() ? "none" : out;
}

// ---- workers: forked children with an alarm ----

// Runs fn in a forked child pinned to `cpu`, killed by an alarm after `alarm_s`, and
// returns what fn returned (through a pipe), or "ERR ..." if the child died. With
// pid_out/read_fd_out it returns "" at once and the caller collects with Collect().
std::string RunChild(int cpu, int alarm_s, const std::function<std::string()>& fn,
                     pid_t* pid_out = nullptr, int* read_fd_out = nullptr) {
  int fds[2];
  if (pipe(fds) != 0) return "ERR pipe";
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    alarm(static_cast<unsigned>(alarm_s));
    PinThisThread(cpu);
    std::string r = fn();
    size_t off = 0;
    while (off < r.size()) {
      ssize_t n = write(fds[1], r.data() + off, r.size() - off);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    _exit(0);
  }
  close(fds[1]);
  if (pid_out) {  // the caller collects later
    *pid_out = pid;
    *read_fd_out = fds[0];
    return "";
  }
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) return "ERR worker died (timeout?)";
  return out;
}

std::string Collect(pid_t pid, int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fd);
  int st = 0;
  waitpid(pid, &st, 0);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) return "ERR worker died (timeout?)";
  return out;
}

std::string Errno(const std::string& what) { return "ERR " + what + ": " + std::strerror(errno); }

// ---- hand-off ----

struct Handoff {
  std::string error;
  std::vector<double> us;  // one sample per round
};

// A writes seq into the file at a_path, B reads it through b_path.
Handoff RunHandoff(const std::string& a_path, const std::string& b_path, int cpu_a, int cpu_b,
                   int warmup, int rounds) {
  Handoff h;
  int a2b[2], b2a[2];
  if (pipe(a2b) != 0 || pipe(b2a) != 0) {
    h.error = "pipe";
    return h;
  }
  int total = warmup + rounds;
  pid_t bpid;
  int bfd;
  RunChild(cpu_b, 120, [&]() -> std::string {
    close(a2b[1]);
    close(b2a[0]);
    std::vector<char> buf(4096);
    for (int i = 0; i < total; ++i) {
      uint64_t seq;
      if (read(a2b[0], &seq, sizeof seq) != sizeof seq) return "ERR B: A went away";
      int fd = open(b_path.c_str(), O_RDONLY);
      if (fd < 0) return Errno("B open");
      ssize_t n = pread(fd, buf.data(), buf.size(), 0);
      close(fd);
      if (n != 4096) return Errno("B read");
      uint64_t got;
      std::memcpy(&got, buf.data(), sizeof got);
      if (got != seq) {
        return "ERR B read sequence " + std::to_string(got) + ", A wrote " + std::to_string(seq);
      }
      char ok = 1;
      if (write(b2a[1], &ok, 1) != 1) return "ERR B: pipe";
    }
    return "OK";
  }, &bpid, &bfd);
  std::string ares = RunChild(cpu_a, 120, [&]() -> std::string {
    close(a2b[0]);
    close(b2a[1]);
    std::vector<char> buf(4096, 'x');
    std::string out;
    for (int i = 0; i < total; ++i) {
      uint64_t seq = static_cast<uint64_t>(i) + 1;
      std::memcpy(buf.data(), &seq, sizeof seq);
      double t0 = NowSeconds();
      int fd = open(a_path.c_str(), O_WRONLY | O_CREAT, 0644);
      if (fd < 0) return Errno("A open");
      if (pwrite(fd, buf.data(), buf.size(), 0) != 4096) return Errno("A write");
      if (close(fd) != 0) return Errno("A close");
      if (write(a2b[1], &seq, sizeof seq) != sizeof seq) return "ERR A: B went away";
      char ok;
      if (read(b2a[0], &ok, 1) != 1) return "ERR A: B failed";
      double t1 = NowSeconds();
      if (i >= warmup) out += std::to_string((t1 - t0) * 1e6) + "\n";
    }
    return out;
  });
  close(a2b[0]);
  close(a2b[1]);
  close(b2a[0]);
  close(b2a[1]);
  std::string bres = Collect(bpid, bfd);
  if (ares.rfind("ERR", 0) == 0) h.error = ares;
  if (bres != "OK" && h.error.empty()) h.error = bres;
  if (!h.error.empty()) return h;
  std::stringstream ss(ares);
  double v;
  while (ss >> v) h.us.push_back(v);
  return h;
}

// The device's own cost of one hand-off's durability: a 4 KiB O_DIRECT write and an
// fdatasync of a file next to the image (the journal commit of A's EX -> PR demotion
// needs one device flush, docs/filesystem.md §11). Microseconds per round, from a child
// pinned to `cpu`.
Handoff RunDeviceFlush(const std::string& dir, int cpu, int rounds) {
  Handoff h;
  std::string path = dir + "/flush-probe";
  pid_t pid;
  int fd_out;
  RunChild(cpu, 120, [&]() -> std::string {
    int fd = open(path.c_str(), O_RDWR | O_CREAT | O_DIRECT, 0644);
    if (fd < 0) fd = open(path.c_str(), O_RDWR | O_CREAT, 0644);  // tmpfs: no O_DIRECT
    if (fd < 0) return Errno("ERR open " + path);
    void* mem = nullptr;
    if (posix_memalign(&mem, 4096, 4096) != 0) return "ERR memory";
    std::memset(mem, 'f', 4096);
    std::string out;
    for (int i = 0; i < rounds; ++i) {
      double t0 = NowSeconds();
      if (pwrite(fd, mem, 4096, 4096 * (i % 16)) != 4096) return Errno("ERR write " + path);
      if (fdatasync(fd) != 0) return Errno("ERR fdatasync " + path);
      out += std::to_string((NowSeconds() - t0) * 1e6) + "\n";
    }
    free(mem);
    close(fd);
    unlink(path.c_str());
    return out;
  }, &pid, &fd_out);
  std::string res = Collect(pid, fd_out);
  if (res.rfind("ERR", 0) == 0) {
    h.error = res;
    return h;
  }
  std::stringstream ss(res);
  double v;
  while (ss >> v) h.us.push_back(v);
  return h;
}

// ---- creates ----

std::string CreateFiles(const std::string& dir, const std::string& prefix, int count) {
  for (int i = 0; i < count; ++i) {
    std::string p = dir + "/" + prefix + std::to_string(i);
    int fd = open(p.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644);
    if (fd < 0) return Errno("create " + p);
    if (close(fd) != 0) return Errno("close " + p);
  }
  return "OK";
}

// All nodes create `count` files each in their own directory at once; seconds taken.
double ParallelCreates(const Cluster& c, const std::string& placement, int ncpus,
                       const std::string& prefix, int count, std::string* err) {
  std::vector<std::pair<pid_t, int>> kids;
  double t0 = NowSeconds();
  for (int i = 1; i <= c.nodes; ++i) {
    pid_t pid;
    int fd;
    std::string dir = c.Mount(i) + "/d" + std::to_string(i);
    RunChild(CpuFor(placement, i, ncpus), 300,
             [&]() { return CreateFiles(dir, prefix, count); }, &pid, &fd);
    kids.emplace_back(pid, fd);
  }
  for (auto& [pid, fd] : kids) {
    std::string r = Collect(pid, fd);
    if (r != "OK" && err->empty()) *err = r;
  }
  return NowSeconds() - t0;
}

// ---- cached reads ----

std::string ReadFileTimes(const std::string& path, int times) {
  std::vector<char> buf(16384);
  for (int i = 0; i < times; ++i) {
    int fd = open(path.c_str(), O_RDONLY);
    if (fd < 0) return Errno("open " + path);
    ssize_t n = pread(fd, buf.data(), buf.size(), 0);
    close(fd);
    if (n != static_cast<ssize_t>(buf.size())) return Errno("read " + path);
  }
  return "OK";
}

// ---- the run ----

void AddError(Report& r, const std::string& name, const std::string& placement,
              const std::string& err) {
  r.Add({.name = name, .placement = placement, .value = 0, .unit = "-", .note = "ERROR: " + err});
  std::fprintf(stderr, "cluster_bench: %s (%s): %s\n", name.c_str(), placement.c_str(),
               err.c_str());
}

void BenchHandoff(Report& r, const std::string& placement, int ncpus, bool quick) {
  Cluster c;
  std::string err;
  if (!ClusterUp(2, "handoff-" + placement, &c, &err)) {
    ClusterDown();
    return AddError(r, "hand-off", placement, err);
  }
  PinDaemons(c, placement, ncpus);
  int warmup = 20, rounds = quick ? 100 : 400;
  int cpu_a = CpuFor(placement, 1, ncpus), cpu_b = CpuFor(placement, 2, ncpus);
  // The device flush is measured before and after the rounds (the disk's latency drifts).
  Handoff flush0 = RunDeviceFlush(c.dir, cpu_a, rounds / 2);
  MsgTotals m0, m1;
  bool counted = SnapshotMessages(c, &m0);
  Handoff cross = RunHandoff(c.Mount(1) + "/handoff", c.Mount(2) + "/handoff", cpu_a, cpu_b,
                             warmup, rounds);
  counted = counted && SnapshotMessages(c, &m1);
  Handoff floor = RunHandoff(c.Mount(1) + "/floor", c.Mount(1) + "/floor", cpu_a, cpu_b,
                             warmup, rounds);
  Handoff flush = RunDeviceFlush(c.dir, cpu_a, rounds / 2);
  ClusterDown();
  if (flush.error.empty() && !flush0.error.empty()) flush.error = flush0.error;
  flush.us.insert(flush.us.end(), flush0.us.begin(), flush0.us.end());
  if (!cross.error.empty()) return AddError(r, "hand-off", placement, cross.error);
  if (!floor.error.empty()) return AddError(r, "hand-off floor", placement, floor.error);
  std::string note = std::to_string(rounds) + " rounds";
  if (counted) {
    note += "; DLM msgs/round " +
            std::to_string(static_cast<double>(m1.lock - m0.lock) / (rounds + warmup)) +
            " (" + TypeDelta(m0, m1) + ")";
  }
  for (double pct : {50.0, 99.0}) {
    std::string p = pct == 50.0 ? "p50" : "p99";
    r.Add({.name = "hand-off A write+close -> B open+read " + p, .placement = placement,
           .value = Percentile(cross.us, pct), .unit = "us",
           .baseline_name = "2 processes, 1 mount", .baseline = Percentile(floor.us, pct),
           .higher_is_better = false, .target = pct == 50.0 ? "< 1000 us" : "",
           .note = note});
  }
  // The same p50 against what the journal protocol costs on this device: the one-mount
  // loop plus three device flushes, the commit's and the checkpoint's two
  // (docs/filesystem.md §3.2: A gives up EX only after its log no longer holds the
  // blocks). One flush is what any crash-safe hand-off needs; the other two are the
  // price of having no revoke records.
  if (!flush.error.empty()) return AddError(r, "device flush", placement, flush.error);
  r.Add({.name = "hand-off p50 vs 1-mount floor + 3 device flushes", .placement = placement,
         .value = Percentile(cross.us, 50), .unit = "us",
         .baseline_name = "floor + 3 x flush p50",
         .baseline = Percentile(floor.us, 50) + 3 * Percentile(flush.us, 50),
         .higher_is_better = false, .target = "",
         .note = "device flush (4 KiB O_DIRECT write + fdatasync next to the image, before "
                 "and after the rounds) p50 " +
                 std::to_string(Percentile(flush.us, 50)) + " us, p99 " +
                 std::to_string(Percentile(flush.us, 99)) + " us"});
}

void BenchCreatesAndReads(Report& r, const std::string& placement, int ncpus, bool quick) {
  int warm = quick ? 50 : 200, count = quick ? 500 : 2000;
  double base_rate = 0;
  for (int nodes : {1, 2, 4}) {
    std::string name = "creates, own dir, " + std::to_string(nodes) + " node(s)";
    Cluster c;
    std::string err;
    if (!ClusterUp(nodes, "create" + std::to_string(nodes) + "-" + placement, &c, &err)) {
      ClusterDown();
      AddError(r, name, placement, err);
      continue;
    }
    PinDaemons(c, placement, ncpus);
    for (int i = 1; i <= nodes && err.empty(); ++i) {
      std::string d = c.Mount(i) + "/d" + std::to_string(i);
      if (mkdir(d.c_str(), 0755) != 0) err = Errno("mkdir " + d);
    }
    if (err.empty()) ParallelCreates(c, placement, ncpus, "w", warm, &err);  // warm-up
    MsgTotals m0, m1;
    if (err.empty() && !SnapshotMessages(c, &m0)) err = "no statistics from the daemons";
    double secs = 0;
    if (err.empty()) secs = ParallelCreates(c, placement, ncpus, "f", count, &err);
    if (err.empty() && !SnapshotMessages(c, &m1)) err = "no statistics from the daemons";
    if (!err.empty()) {
      ClusterDown();
      AddError(r, name, placement, err);
      continue;
    }
    double total = static_cast<double>(nodes) * count;
    double rate = total / secs;
    if (nodes == 1) base_rate = rate;
    double per = static_cast<double>(m1.lock - m0.lock) / total;
    r.Add({.name = name + ": creates/s (all nodes)", .placement = placement, .value = rate,
           .unit = "creates/s", .baseline_name = nodes == 1 ? "" : "1 node",
           .baseline = nodes == 1 ? 0 : base_rate,
           .note = std::to_string(count) + " per node after " + std::to_string(warm)});
    r.Add({.name = name + ": DLM msgs/create", .placement = placement, .value = per,
           .unit = "msgs", .higher_is_better = false, .target = "0 after warm-up",
           .note = "by type: " + TypeDelta(m0, m1) + "; detector rounds meanwhile: " +
                   std::to_string(m1.detector - m0.detector)});

    if (nodes == 4) {
      // Cached reads: a file written on node 1, read by every node.
      std::string rname = "cached read, 4 nodes: DLM msgs/read";
      std::string path1 = c.Mount(1) + "/shared";
      int fd = open(path1.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
      std::vector<char> data(16384, 'r');
      if (fd < 0 || pwrite(fd, data.data(), data.size(), 0) != 16384 || close(fd) != 0) {
        err = Errno("write " + path1);
      }
      int reads = quick ? 200 : 1000;
      auto all_read = [&](int times) {
        std::vector<std::pair<pid_t, int>> kids;
        for (int i = 1; i <= nodes; ++i) {
          pid_t pid;
          int rfd;
          std::string p = c.Mount(i) + "/shared";
          RunChild(CpuFor(placement, i, ncpus), 120, [&]() { return ReadFileTimes(p, times); },
                   &pid, &rfd);
          kids.emplace_back(pid, rfd);
        }
        for (auto& [pid, rfd] : kids) {
          std::string res = Collect(pid, rfd);
          if (res != "OK" && err.empty()) err = res;
        }
      };
      if (err.empty()) all_read(1);  // warm-up: every node takes its PR once
      MsgTotals r0, r1;
      if (err.empty() && !SnapshotMessages(c, &r0)) err = "no statistics from the daemons";
      double t0 = NowSeconds();
      if (err.empty()) all_read(reads);
      double rsecs = NowSeconds() - t0;
      if (err.empty() && !SnapshotMessages(c, &r1)) err = "no statistics from the daemons";
      if (!err.empty()) {
        AddError(r, rname, placement, err);
      } else {
        double total_reads = static_cast<double>(nodes) * reads;
        r.Add({.name = rname, .placement = placement,
               .value = static_cast<double>(r1.lock - r0.lock) / total_reads, .unit = "msgs",
               .higher_is_better = false, .target = "0 once cached",
               .note = std::to_string(reads) + " open+read 16K+close per node, " +
                       std::to_string(static_cast<int>(total_reads / rsecs)) +
                       " reads/s; by type: " + TypeDelta(r0, r1)});
      }
    }
    ClusterDown();
  }
}

int Main(int argc, char** argv) {
  Report report("cluster_bench", argc, argv);
  g_dir = "/tmp";
  std::vector<std::string> placements = {"one-cpu", "apart"};
  std::string only = "handoff,creates";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--dir" && i + 1 < argc) {
      g_dir = argv[++i];
    } else if (a == "--placements" && i + 1 < argc) {
      placements.clear();
      std::stringstream ss(argv[++i]);
      std::string p;
      while (std::getline(ss, p, ',')) placements.push_back(p);
    } else if (a == "--only" && i + 1 < argc) {
      only = argv[++i];
    }
  }
  if (geteuid() != 0) {
    std::fprintf(stderr, "cluster_bench: must run as root (FUSE mounts)\n");
    return 1;
  }
  g_dir += "/cohort-cluster-bench-" + std::to_string(getpid());
  if (mkdir(g_dir.c_str(), 0755) != 0) {
    std::perror(g_dir.c_str());
    return 1;
  }
  signal(SIGINT, OnSignal);
  signal(SIGTERM, OnSignal);
  int ncpus = OnlineCpus();
  report.AddInfo("cpus", std::to_string(ncpus));
  report.AddInfo("dir", g_dir);
  for (const std::string& p : placements) {
    if (g_interrupted) break;
    if (only.find("handoff") != std::string::npos) BenchHandoff(report, p, ncpus, report.quick());
    if (g_interrupted) break;
    if (only.find("creates") != std::string::npos) {
      BenchCreatesAndReads(report, p, ncpus, report.quick());
    }
  }
  ClusterDown();
  std::string rm = "rm -rf " + Sh(g_dir);
  if (std::system(rm.c_str()) != 0) std::fprintf(stderr, "could not remove %s\n", g_dir.c_str());
  return report.Finish();
}

}  // namespace
}  // namespace cohort::bench

int main(int argc, char** argv) { return cohort::bench::Main(argc, argv); }
