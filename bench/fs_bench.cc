// bench/fs_bench.cc: the filesystem on one node (issue 6, "Benchmark"; docs/filesystem.md)
// against, in the same run and on the same disk,
//   (a) the host filesystem directly,
//   (b) bench/fuse_passthrough over a host directory (the FUSE ceiling),
//   (c) Cohort: an image file on that disk, mkfs.cohort, `cohort mount -f` with a 1-node
//       cluster file on 127.0.0.1 (random port 20000-40000).
//
//   fs_bench [--quick] [--json] [--dir DIR] [--only seq,meta,append,direct]
//            [--placements one-cpu,apart] [--step-timeout SECONDS] [--image sparse|written]
//
// `--only seq` selects the sequential write and read and the 4 KiB random read and write
// rows (they run on the sequential file). `--image written` writes zeros over Cohort's
// whole image before mkfs, so that the host filesystem allocates nothing while (c) runs,
// as on a LUN; the default is a sparse image (the host allocates the image's blocks as
// Cohort first writes them). With neither seq nor direct selected the image is 1 GiB.
// `--help` prints this and exits.
//
// Must run as root (FUSE mounts, drop_caches). Progress and per-step errors go to stderr,
// the table (or with --json one JSON object) to stdout. When a Cohort step fails, the
// daemon's log is kept as DIR/cohort-fs-bench-PID.cohort.log.
//
// Figures (each for a, b, c, printed as two rows: c against b, and c against a):
//   seq write   1 MiB writes of 2 GiB (--quick 256 MiB), timed up to and including fsync
//   seq read    the same file, cold: sync, FUSE unmount+remount, echo 3 > drop_caches
//   4K rand read / write   on that file, cold as above; bounded by count and time;
//               the writes are timed up to and including a final fsync
//   metadata    create (open O_CREAT|O_EXCL + close), stat warm, stat cold, unlink of
//               10,000 files (--quick 2,000) in one directory, and spread over 10
//   ls -l       readdir + lstat of every entry of that one directory: cold (after the
//               cold cycle above), then warm (the same listing repeated at once)
//   append      durable 4 KiB append: write(O_APPEND) + fsync, p50 and p99 latency, a, b
//               and c taking turns in 5 rounds (the disk's flush latency drifts)
//   O_DIRECT    1 MiB O_DIRECT writes (timed with a final fsync), then O_DIRECT reads
//
// CPU placement: both FUSE daemons are pinned to CPU 0 from their exec on (every thread
// they start inherits it) and re-pinned per task with PinProcess once mounted. Each
// figure runs with the benchmark pinned to CPU 0 ("one-cpu") and to CPU 1 ("apart").
//
// Robustness: every measurement runs in a forked child with a deadline and every loop is
// bounded; a measurement that fails prints its error in its row and the run goes on. A
// Cohort step that times out, or a daemon that dies, gets the daemon killed (which
// aborts the FUSE connection, so the child's pending requests fail) and remounted. A
// scope guard unmounts (fusermount3 -u), stops every daemon and removes the temporary
// directory on every exit path, including SIGINT/SIGTERM.
//
// Thread safety: single-threaded (it forks; no threads are ever started).
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "bench/bench_util.h"

#ifndef COHORT_BIN
#define COHORT_BIN "cohort"
#endif
#ifndef COHORT_MKFS
#define COHORT_MKFS "mkfs.cohort"
#endif
#ifndef COHORT_PASSTHROUGH
#define COHORT_PASSTHROUGH "fuse_passthrough"
#endif

namespace {

namespace stdfs = std::filesystem;
using cohort::bench::NowSeconds;

constexpr size_t kMiB = 1 << 20;
constexpr size_t kBlock = 4096;
constexpr int kDaemonCpu = 0;

volatile sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

std::string Errno(const std::string& what, int err = errno) {
  return what + ": " + std::strerror(err);
}

// ---------------------------------------------------------------------------------------
// Processes.

// Waits for `pid` up to `timeout` seconds; returns its wait status, or -1 on timeout.
int WaitPid(pid_t pid, double timeout) {
  double deadline = NowSeconds() + timeout;
  for (;;) {
    int st = 0;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) return st;
    if (r < 0 && errno != EINTR) return 0;  // not our child any more
    if (NowSeconds() >= deadline) return -1;
    usleep(10000);
  }
}

// Forks and execs argv with stdout+stderr appended to `log` (or /dev/null), in its own
// process group (terminal signals go to us, not to daemons we unmount cleanly), pinned
// to `cpu` if >= 0. Returns the pid or -1.
pid_t Spawn(const std::vector<std::string>& args, const std::string& log, int cpu) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid != 0) return pid;
  setpgid(0, 0);
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  if (cpu >= 0) cohort::bench::PinThisThread(cpu);
  int in = open("/dev/null", O_RDONLY);
  int out = open(log.empty() ? "/dev/null" : log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (in >= 0) dup2(in, 0);
  if (out >= 0) {
    dup2(out, 1);
    dup2(out, 2);
  }
  execv(argv[0], argv.data());
  _exit(127);
}

// Runs a short command with a timeout; returns its exit code, or -1 (timeout/failed).
int RunCommand(const std::vector<std::string>& args, double timeout, const std::string& log) {
  pid_t pid = Spawn(args, log, -1);
  if (pid < 0) return -1;
  int st = WaitPid(pid, timeout);
  if (st == -1) {
    kill(pid, SIGKILL);
    WaitPid(pid, 5);
    return -1;
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

bool IsFuseMounted(const std::string& path) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string id, parent, dev, root, mnt;
    ls >> id >> parent >> dev >> root >> mnt;
    auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::string fstype = line.substr(dash + 3, line.find(' ', dash + 3) - dash - 3);
    if (mnt == path && fstype.rfind("fuse", 0) == 0) return true;
  }
  return false;
}

// Pins every task (thread) of `pid` to `cpu`; returns false if any failed.
bool PinAllTasks(pid_t pid, int cpu) {
  bool ok = cohort::bench::PinProcess(pid, cpu);
  std::error_code ec;
  for (const auto& e : stdfs::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    int tid = std::atoi(e.path().filename().c_str());
    if (tid > 0) ok = cohort::bench::PinProcess(tid, cpu) && ok;
  }
  return ok;
}

// A FUSE daemon in the foreground as our child. Start() waits (bounded) for its mount.
class FuseDaemon {
 public:
  // `make_argv` is called at every start (Cohort's picks a new port each time).
  FuseDaemon(std::string name, std::string mountpoint, std::string log,
             std::function<std::vector<std::string>()> make_argv)
      : name_(std::move(name)), mnt_(std::move(mountpoint)), log_(std::move(log)),
        make_argv_(std::move(make_argv)) {}
  ~FuseDaemon() { Stop(); }

  bool Start(std::string* err) {
    Stop();
    pid_ = Spawn(make_argv_(), log_, kDaemonCpu);
    if (pid_ < 0) {
      *err = Errno("fork");
      return false;
    }
    double deadline = NowSeconds() + 60;
    while (NowSeconds() < deadline && !g_stop) {
      if (IsFuseMounted(mnt_)) {
        pinned_ = PinAllTasks(pid_, kDaemonCpu);
        return true;
      }
      int st = WaitPid(pid_, 0.02);
      if (st != -1) {
        pid_ = -1;
        *err = name_ + " exited before mounting (status " + std::to_string(st) + "); log: " +
               Tail();
        return false;
      }
    }
    *err = name_ + " did not mount within 60 s; log: " + Tail();
    Kill();
    return false;
  }

  // Clean unmount (fusermount3 -u), then SIGTERM, then SIGKILL and a lazy unmount.
  void Stop() {
    if (pid_ < 0) {
      if (IsFuseMounted(mnt_)) RunCommand({"/usr/bin/fusermount3", "-u", "-z", mnt_}, 10, "");
      return;
    }
    double t0 = NowSeconds();
    if (IsFuseMounted(mnt_)) {
      int rc = RunCommand({"/usr/bin/fusermount3", "-u", mnt_}, 20, log_);
      if (rc != 0) {
        std::fprintf(stderr, "  %s: fusermount3 -u failed (%d); SIGTERM\n", name_.c_str(), rc);
        kill(pid_, SIGTERM);
      }
    }
    // A clean unmount commits and checkpoints; a kill -9 here would turn a slow unmount
    // into a crash recovery that changes what the next rows measure, so wait long.
    int st = WaitPid(pid_, kUnmountGrace);
    slowest_unmount_ = std::max(slowest_unmount_, NowSeconds() - t0);
    if (st == -1) {
      std::fprintf(stderr, "  %s: still running %.0f s after unmount; SIGTERM\n", name_.c_str(),
                   kUnmountGrace);
      kill(pid_, SIGTERM);
      st = WaitPid(pid_, 10);
    }
    if (st == -1) {
      std::fprintf(stderr, "  %s: did not exit; SIGKILL\n", name_.c_str());
      Kill();
    } else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      std::fprintf(stderr, "  %s: exited with status %d at unmount\n", name_.c_str(), st);
    }
    pid_ = -1;
    if (IsFuseMounted(mnt_)) RunCommand({"/usr/bin/fusermount3", "-u", "-z", mnt_}, 10, "");
  }

  // kill -9: aborts the FUSE connection, so requests in flight fail with ENOTCONN.
  void Kill() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      WaitPid(pid_, 10);
    }
    pid_ = -1;
    if (IsFuseMounted(mnt_)) RunCommand({"/usr/bin/fusermount3", "-u", "-z", mnt_}, 10, "");
  }

  bool Alive() {
    if (pid_ < 0) return false;
    if (WaitPid(pid_, 0) != -1) {
      pid_ = -1;
      return false;
    }
    return IsFuseMounted(mnt_);
  }

  std::string Tail() const {
    std::ifstream in(log_);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string s = ss.str();
    if (s.size() > 600) s = "..." + s.substr(s.size() - 600);
    for (char& c : s)
      if (c == '\n') c = '|';
    return s;
  }

  double slowest_unmount() const { return slowest_unmount_; }
  pid_t pid() const { return pid_; }
  bool pinned() const { return pinned_; }
  const std::string& name() const { return name_; }

 private:
  std::string name_, mnt_, log_;
  std::function<std::vector<std::string>()> make_argv_;
  static constexpr double kUnmountGrace = 120;
  pid_t pid_ = -1;
  bool pinned_ = false;
  double slowest_unmount_ = 0;
};

// ---------------------------------------------------------------------------------------
// Measurements, each run in a forked child with a deadline.

struct Result {
  bool ok = false;
  double v[2] = {0, 0};  // the figure (and a second one: p99 for append)
  std::string err;
  std::string note;
};

struct Wire {
  int ok;
  double v[2];
  char err[400];
  char note[200];
};

Result Fail(const std::string& e) {
  Result r;
  r.err = e;
  return r;
}
Result Ok(double v, double v2 = 0, std::string note = "") {
  Result r;
  r.ok = true;
  r.v[0] = v;
  r.v[1] = v2;
  r.note = std::move(note);
  return r;
}

std::vector<pid_t> g_stuck_children;  // killed but not yet reaped (blocked in FUSE)

// Runs fn in a child pinned to `cpu`; kills it after `timeout` seconds. `*timed_out` is
// set when the deadline (or a stop signal) ended it.
Result RunChild(int cpu, double timeout, const std::function<Result()>& fn, bool* timed_out) {
  *timed_out = false;
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return Fail(Errno("pipe"));
  pid_t pid = fork();
  if (pid < 0) {
    close(p[0]);
    close(p[1]);
    return Fail(Errno("fork"));
  }
  if (pid == 0) {
    close(p[0]);
    Result r;
    if (!cohort::bench::PinThisThread(cpu)) {
      r = Fail("could not pin the benchmark to cpu " + std::to_string(cpu));
    } else {
      try {
        r = fn();
      } catch (const std::exception& e) {
        r = Fail(std::string("exception: ") + e.what());
      }
    }
    Wire w{};
    w.ok = r.ok;
    w.v[0] = r.v[0];
    w.v[1] = r.v[1];
    std::snprintf(w.err, sizeof w.err, "%s", r.err.c_str());
    std::snprintf(w.note, sizeof w.note, "%s", r.note.c_str());
    ssize_t n = write(p[1], &w, sizeof w);
    (void)n;
    _exit(0);
  }
  close(p[1]);
  double deadline = NowSeconds() + timeout;
  Result r;
  bool got = false;
  while (!g_stop) {
    int ms = static_cast<int>((deadline - NowSeconds()) * 1000);
    if (ms <= 0) break;
    pollfd pfd{p[0], POLLIN, 0};
    int n = poll(&pfd, 1, std::min(ms, 500));
    if (n < 0 && errno != EINTR) break;
    if (n > 0) {
      Wire w{};
      ssize_t k = read(p[0], &w, sizeof w);
      if (k == static_cast<ssize_t>(sizeof w)) {
        r.ok = w.ok != 0;
        r.v[0] = w.v[0];
        r.v[1] = w.v[1];
        r.err = w.err;
        r.note = w.note;
      } else {
        r = Fail("benchmark child died");
      }
      got = true;
      break;
    }
  }
  close(p[0]);
  if (!got) {
    *timed_out = true;
    kill(pid, SIGKILL);
    r = Fail(g_stop ? "interrupted" : "timeout after " + std::to_string(int(timeout)) + " s");
  }
  int st = WaitPid(pid, got ? 30 : 5);
  if (st == -1) {
    kill(pid, SIGKILL);
    g_stuck_children.push_back(pid);
  } else if (got && WIFSIGNALED(st) && r.ok) {
    r = Fail("benchmark child killed by signal " + std::to_string(WTERMSIG(st)));
  }
  return r;
}

// Fills buf with a pattern that is not all zeros (so nothing can skip the writes).
void FillPattern(char* buf, size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (size_t i = 0; i + 8 <= n; i += 8) {
    uint64_t x = rng();
    std::memcpy(buf + i, &x, 8);
  }
}

struct AlignedBuf {
  explicit AlignedBuf(size_t n) {
    if (posix_memalign(&p, kBlock, n) != 0) p = nullptr;
  }
  ~AlignedBuf() { free(p); }
  char* data() { return static_cast<char*>(p); }
  void* p = nullptr;
};

// Sequential 1 MiB writes of `bytes` (O_DIRECT when direct), then fsync, timed. MiB/s.
Result SeqWrite(const std::string& path, uint64_t bytes, bool direct, double limit) {
  AlignedBuf buf(kMiB);
  if (!buf.p) return Fail("out of memory");
  FillPattern(buf.data(), kMiB, 42);
  int flags = O_WRONLY | O_CREAT | O_TRUNC | (direct ? O_DIRECT : 0);
  int fd = open(path.c_str(), flags, 0644);
  if (fd < 0) return Fail(Errno(direct ? "open(O_DIRECT|O_CREAT)" : "open(O_CREAT)"));
  double t0 = NowSeconds(), deadline = t0 + limit;
  uint64_t done = 0;
  while (done < bytes && !g_stop && NowSeconds() < deadline) {
    buf.data()[0] = static_cast<char>(done >> 20);
    ssize_t n = write(fd, buf.data(), kMiB);
    if (n < 0) {
      std::string e = Errno("write at " + std::to_string(done));
      close(fd);
      return Fail(e);
    }
    if (n == 0) break;
    done += static_cast<uint64_t>(n);
  }
  if (fsync(fd) != 0) {
    std::string e = Errno("fsync");
    close(fd);
    return Fail(e);
  }
  double t = NowSeconds() - t0;
  close(fd);
  if (done == 0) return Fail("nothing written");
  return Ok(static_cast<double>(done) / kMiB / t, 0,
            done < bytes ? "time limit: " + std::to_string(done >> 20) + " MiB" : "");
}

// Sequential 1 MiB reads to EOF (or `bytes`). MiB/s.
Result SeqRead(const std::string& path, uint64_t bytes, bool direct, double limit) {
  AlignedBuf buf(kMiB);
  if (!buf.p) return Fail("out of memory");
  int fd = open(path.c_str(), O_RDONLY | (direct ? O_DIRECT : 0));
  if (fd < 0) return Fail(Errno(direct ? "open(O_DIRECT)" : "open"));
  double t0 = NowSeconds(), deadline = t0 + limit;
  uint64_t done = 0;
  while (done < bytes && !g_stop && NowSeconds() < deadline) {
    ssize_t n = read(fd, buf.data(), kMiB);
    if (n < 0) {
      std::string e = Errno("read at " + std::to_string(done));
      close(fd);
      return Fail(e);
    }
    if (n == 0) break;
    done += static_cast<uint64_t>(n);
  }
  double t = NowSeconds() - t0;
  close(fd);
  if (done < bytes && done < (bytes / 2) && NowSeconds() < deadline)
    return Fail("short file: read " + std::to_string(done) + " of " + std::to_string(bytes));
  if (done == 0) return Fail("nothing read");
  return Ok(static_cast<double>(done) / kMiB / t, 0,
            done < bytes ? "time limit: " + std::to_string(done >> 20) + " MiB" : "");
}

// `count` 4 KiB preads or pwrites at random aligned offsets of a file of `size` bytes,
// bounded by `limit` seconds; writes are timed with a final fsync. IOPS.
Result RandomIo(const std::string& path, uint64_t size, uint64_t count, bool write_io,
                double limit) {
  AlignedBuf buf(kBlock);
  if (!buf.p) return Fail("out of memory");
  FillPattern(buf.data(), kBlock, 7);
  int fd = open(path.c_str(), write_io ? O_WRONLY : O_RDONLY);
  if (fd < 0) return Fail(Errno("open"));
  std::mt19937_64 rng(1234);
  uint64_t blocks = size / kBlock;
  double t0 = NowSeconds(), deadline = t0 + limit;
  uint64_t done = 0;
  while (done < count && !g_stop && NowSeconds() < deadline) {
    off_t off = static_cast<off_t>((rng() % blocks) * kBlock);
    ssize_t n = write_io ? pwrite(fd, buf.data(), kBlock, off) : pread(fd, buf.data(), kBlock, off);
    if (n != static_cast<ssize_t>(kBlock)) {
      std::string e = n < 0 ? Errno(write_io ? "pwrite" : "pread")
                            : "short " + std::string(write_io ? "write" : "read");
      close(fd);
      return Fail(e + " at " + std::to_string(off));
    }
    ++done;
  }
  if (write_io && fsync(fd) != 0) {
    std::string e = Errno("fsync");
    close(fd);
    return Fail(e);
  }
  double t = NowSeconds() - t0;
  close(fd);
  return Ok(static_cast<double>(done) / t, 0, std::to_string(done) + " ops");
}

std::string MetaPath(const std::string& base, int dirs, int i) {
  char name[64];
  std::snprintf(name, sizeof name, "/d%d/f%07d", dirs == 1 ? 0 : i % dirs, i);
  return base + name;
}

enum class MetaOp { kCreate, kStat, kUnlink };

// One metadata pass over files 0..n-1. ops/s.
Result MetaPass(const std::string& base, int dirs, int n, MetaOp op, double limit) {
  double t0 = NowSeconds(), deadline = t0 + limit;
  int i = 0;
  for (; i < n && !g_stop; ++i) {
    if ((i & 63) == 0 && NowSeconds() > deadline)
      return Fail("time limit after " + std::to_string(i) + " of " + std::to_string(n));
    std::string p = MetaPath(base, dirs, i);
    if (op == MetaOp::kCreate) {
      int fd = open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
      if (fd < 0) return Fail(Errno("create #" + std::to_string(i)));
      if (close(fd) != 0) return Fail(Errno("close #" + std::to_string(i)));
    } else if (op == MetaOp::kStat) {
      struct stat st;
      if (stat(p.c_str(), &st) != 0) return Fail(Errno("stat #" + std::to_string(i)));
    } else {
      if (unlink(p.c_str()) != 0) return Fail(Errno("unlink #" + std::to_string(i)));
    }
  }
  if (i < n) return Fail("interrupted");
  return Ok(static_cast<double>(n) / (NowSeconds() - t0));
}

// `ls -l` equivalent: readdir + lstat of every entry. Milliseconds per listing.
Result ListLong(const std::string& dir, int expect, double limit) {
  double t0 = NowSeconds(), deadline = t0 + limit;
  DIR* d = opendir(dir.c_str());
  if (!d) return Fail(Errno("opendir"));
  int dfd = dirfd(d);
  int n = 0;
  errno = 0;
  while (dirent* e = readdir(d)) {
    if (g_stop || ((n & 63) == 0 && NowSeconds() > deadline)) {
      closedir(d);
      return Fail("time limit after " + std::to_string(n) + " entries");
    }
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    struct stat st;
    if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      std::string err = Errno(std::string("lstat ") + e->d_name);
      closedir(d);
      return Fail(err);
    }
    ++n;
    errno = 0;
  }
  int err = errno;
  closedir(d);
  if (err) return Fail(Errno("readdir", err));
  double ms = (NowSeconds() - t0) * 1000;
  if (n != expect)
    return Fail("listed " + std::to_string(n) + " entries, expected " + std::to_string(expect));
  return Ok(ms);
}

// Durable 4 KiB appends (write + fsync). p50 and p99 in microseconds.
Result DurableAppend(const std::string& path, int count, double limit) {
  AlignedBuf buf(kBlock);
  if (!buf.p) return Fail("out of memory");
  FillPattern(buf.data(), kBlock, 9);
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_TRUNC, 0644);
  if (fd < 0) return Fail(Errno("open(O_APPEND)"));
  std::vector<double> us;
  double deadline = NowSeconds() + limit;
  while (static_cast<int>(us.size()) < count && !g_stop && NowSeconds() < deadline) {
    double t = NowSeconds();
    if (write(fd, buf.data(), kBlock) != static_cast<ssize_t>(kBlock)) {
      std::string e = Errno("append #" + std::to_string(us.size()));
      close(fd);
      return Fail(e);
    }
    if (fsync(fd) != 0) {
      std::string e = Errno("fsync #" + std::to_string(us.size()));
      close(fd);
      return Fail(e);
    }
    us.push_back((NowSeconds() - t) * 1e6);
  }
  close(fd);
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return Fail(Errno("stat"));
  if (static_cast<uint64_t>(st.st_size) != us.size() * kBlock)
    return Fail("size " + std::to_string(st.st_size) + " after " + std::to_string(us.size()) +
                " appends");
  if (us.empty()) return Fail("no appends");
  return Ok(cohort::bench::Percentile(us, 50), cohort::bench::Percentile(us, 99),
            std::to_string(us.size()) + " appends");
}

Result RemoveTree(const std::string& path) {
  std::error_code ec;
  stdfs::remove_all(path, ec);
  if (ec) return Fail("remove " + path + ": " + ec.message());
  return Ok(0);
}

Result MakeDirs(const std::string& base, int dirs) {
  std::error_code ec;
  stdfs::remove_all(base, ec);
  if (mkdir(base.c_str(), 0755) != 0) return Fail(Errno("mkdir " + base));
  for (int d = 0; d < dirs; ++d) {
    std::string p = base + "/d" + std::to_string(d);
    if (mkdir(p.c_str(), 0755) != 0) return Fail(Errno("mkdir " + p));
  }
  return Ok(0);
}

// ---------------------------------------------------------------------------------------
// Targets and the run.

bool g_can_drop_caches = false;
bool g_cohort_failed = false;  // a Cohort step failed: its daemon log is kept

bool DropCaches() {
  sync();
  int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
  if (fd < 0) return false;
  bool ok = write(fd, "3\n", 2) == 2;
  close(fd);
  return ok;
}

struct Target {
  std::string label;  // "host (a)"
  std::string dir;    // where the files go
  FuseDaemon* daemon = nullptr;
  std::string down;   // why the target is unusable ("" when fine)
};

// Runs one measurement on target `t` with the benchmark on `cpu`. A timeout or a dead
// daemon gets the daemon killed and restarted for the next step.
Result Step(Target& t, int cpu, double timeout, const std::function<Result()>& fn) {
  if (g_stop) return Fail("interrupted");
  if (!t.down.empty()) return Fail("daemon down: " + t.down);
  if (t.daemon && !t.daemon->Alive()) {
    std::string err;
    t.daemon->Kill();
    if (!t.daemon->Start(&err)) {
      t.down = err;
      return Fail("daemon down: " + err);
    }
  }
  bool timed_out = false;
  Result r = RunChild(cpu, timeout, fn, &timed_out);
  if (t.daemon && (timed_out || !t.daemon->Alive())) {
    if (!timed_out) r = Fail((r.ok ? "" : r.err + "; ") + "daemon died: " + t.daemon->Tail());
    t.daemon->Kill();
    for (pid_t p : g_stuck_children) WaitPid(p, 5);
    std::string err;
    if (!t.daemon->Start(&err)) t.down = err;
  }
  return r;
}

// Makes the next read cold: sync, FUSE unmount + remount, drop the page cache.
std::string MakeCold(Target& t) {
  sync();
  if (t.daemon) {
    t.daemon->Stop();
    std::string err;
    if (!t.daemon->Start(&err)) {
      t.down = err;
      return "remount failed: " + err;
    }
    t.down.clear();
  }
  if (g_can_drop_caches) DropCaches();
  return "";
}

std::string Fmt(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f", v);
  return b;
}

struct Figure {
  std::string name;
  std::string unit;
  bool higher_is_better = true;
  char target_base = 0;  // 'a' or 'b': which ratio the target is about; 0: none
  double target_ratio = 0;
  std::string target;
};

class Runner {
 public:
  Runner(cohort::bench::Report* report, std::vector<Target*> targets)
      : report_(report), t_(std::move(targets)) {}

  // Adds the rows of figure `f` for results r[0..2] = a, b, c (value index vi).
  void Add(const Figure& f, const std::string& placement, const Result r[3], int vi = 0) {
    std::fprintf(stderr, "  %-38s %-7s", f.name.c_str(), placement.c_str());
    for (int i = 0; i < 3; ++i)
      std::fprintf(stderr, "  %s=%s", i == 0 ? "a" : i == 1 ? "b" : "c",
                   r[i].ok ? Fmt(r[i].v[vi]).c_str() : ("ERR(" + r[i].err + ")").c_str());
    std::fprintf(stderr, " %s\n", f.unit.c_str());
    for (int base : {1, 0}) {
      cohort::bench::Row row;
      row.name = f.name;
      row.placement = placement;
      row.value = r[2].ok ? r[2].v[vi] : 0;
      row.unit = f.unit;
      row.baseline_name = t_[base]->label;
      row.baseline = r[base].ok ? r[base].v[vi] : 0;
      row.higher_is_better = f.higher_is_better;
      std::string note;
      if (f.target_base == (base == 1 ? 'b' : 'a')) {
        row.target = f.target;
        if (r[2].ok && r[base].ok) {
          double ratio = row.Ratio();
          bool met = f.higher_is_better ? ratio >= f.target_ratio : ratio <= f.target_ratio;
          note = met ? "MET" : "MISSED";
        }
      }
      auto add_note = [&](const std::string& s) {
        if (s.empty()) return;
        note += (note.empty() ? "" : "; ") + s;
      };
      if (!r[2].ok) {
        add_note("cohort error: " + r[2].err);
        g_cohort_failed = true;
      }
      if (!r[base].ok) add_note(t_[base]->label + " error: " + r[base].err);
      if (base == 1 && r[2].ok && !r[2].note.empty() && vi == 0) add_note("c: " + r[2].note);
      row.note = note;
      report_->Add(row);
    }
  }

  // Runs fn(target dir) on a, b, c; returns the three results.
  void Each(int cpu, double timeout, const std::function<Result(const std::string&)>& fn,
            Result out[3]) {
    for (int i = 0; i < 3; ++i) {
      std::string dir = t_[i]->dir;
      out[i] = Step(*t_[i], cpu, timeout, [&fn, dir] { return fn(dir); });
    }
  }

  // A step on one target that is not measured (setup/cleanup); errors become `*err`.
  void Untimed(int i, int cpu, double timeout, const std::function<Result(const std::string&)>& fn,
               std::string* err) {
    std::string dir = t_[i]->dir;
    Result r = Step(*t_[i], cpu, timeout, [&fn, dir] { return fn(dir); });
    if (!r.ok && err->empty()) *err = r.err;
  }

  void Cold(Result out[3]) {
    for (int i = 0; i < 3; ++i) {
      std::string e = MakeCold(*t_[i]);
      if (!e.empty() && out) out[i] = Fail(e);
    }
  }

  Target& t(int i) { return *t_[i]; }

 private:
  cohort::bench::Report* report_;
  std::vector<Target*> t_;
};

// Marks results of targets whose precondition failed.
void Propagate(const std::string pre[3], Result r[3]) {
  for (int i = 0; i < 3; ++i)
    if (!pre[i].empty()) r[i] = Fail("skipped: " + pre[i]);
}

struct Options {
  std::string dir;
  uint64_t seq_bytes = 2ull << 30;
  uint64_t direct_bytes = 1ull << 30;
  int rand_ops = 20000;
  int meta_files = 10000;
  int appends = 1000;
  double step_timeout = 600;
  std::vector<std::string> only;
  std::vector<std::string> placements{"one-cpu", "apart"};
  bool written_image = false;
  bool Wants(const std::string& g) const {
    return only.empty() || std::find(only.begin(), only.end(), g) != only.end();
  }
};

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string w; std::getline(ss, w, ',');)
    if (!w.empty()) out.push_back(w);
  return out;
}

void RunSeq(Runner& run, const Options& o, const std::string& pl, int cpu) {
  const uint64_t bytes = o.seq_bytes;
  const double lim = o.step_timeout * 0.8;
  const std::string sz = std::to_string(bytes >> 20) + " MiB";
  Result w[3], rd[3], rr[3], rw[3];
  run.Each(cpu, o.step_timeout, [&](const std::string& d) {
    return SeqWrite(d + "/seq.dat", bytes, false, lim);
  }, w);
  run.Add({"seq write 1MiB x " + sz + " +fsync", "MiB/s", true, 'b', 0.8, "c/b >= 0.8"}, pl, w);
  std::string pre[3];
  for (int i = 0; i < 3; ++i)
    if (!w[i].ok) pre[i] = "seq write failed";
  Result cold[3] = {Ok(0), Ok(0), Ok(0)};
  run.Cold(cold);
  run.Each(cpu, o.step_timeout, [&](const std::string& d) {
    return SeqRead(d + "/seq.dat", bytes, false, lim);
  }, rd);
  Propagate(pre, rd);
  for (int i = 0; i < 3; ++i)
    if (!cold[i].ok) rd[i] = cold[i];
  for (Result& x : cold) x = Ok(0);
  run.Add({"seq read 1MiB cold (remount+drop_caches)", "MiB/s", true, 'b', 0.8, "c/b >= 0.8"},
          pl, rd);
  run.Cold(cold);
  const double rlim = o.rand_ops >= 20000 ? 20 : 8;
  run.Each(cpu, o.step_timeout, [&](const std::string& d) {
    return RandomIo(d + "/seq.dat", bytes, static_cast<uint64_t>(o.rand_ops), false, rlim);
  }, rr);
  Propagate(pre, rr);
  for (int i = 0; i < 3; ++i)
    if (!cold[i].ok) rr[i] = cold[i];
  run.Add({"4K random read cold", "IOPS", true, 'b', 0.85, "c/b >= 0.85"}, pl, rr);
  run.Each(cpu, o.step_timeout, [&](const std::string& d) {
    return RandomIo(d + "/seq.dat", bytes, static_cast<uint64_t>(o.rand_ops), true, rlim);
  }, rw);
  Propagate(pre, rw);
  run.Add({"4K random write +final fsync", "IOPS", true, 0, 0, ""}, pl, rw);
  for (int i = 0; i < 3; ++i) {
    std::string e;
    run.Untimed(i, cpu, 120, [](const std::string& d) { return RemoveTree(d + "/seq.dat"); }, &e);
  }
}

void RunMeta(Runner& run, const Options& o, const std::string& pl, int cpu) {
  const int n = o.meta_files;
  const double lim = o.step_timeout * 0.8;
  for (int dirs : {1, 10}) {
    const std::string where = dirs == 1 ? " (1 dir)" : " (10 dirs)";
    const std::string nf = std::to_string(n);
    std::string pre[3];
    for (int i = 0; i < 3; ++i)
      run.Untimed(i, cpu, 120, [dirs](const std::string& d) { return MakeDirs(d + "/meta", dirs); },
                  &pre[i]);
    auto pass = [&](MetaOp op) {
      Result r[3];
      run.Each(cpu, o.step_timeout, [&](const std::string& d) {
        return MetaPass(d + "/meta", dirs, n, op, lim);
      }, r);
      Propagate(pre, r);
      return std::vector<Result>(r, r + 3);
    };
    std::vector<Result> cr = pass(MetaOp::kCreate);
    run.Add({"create " + nf + where, "ops/s", true, 'b', 0.5, "c/b >= 0.5"}, pl, cr.data());
    for (int i = 0; i < 3; ++i)
      if (!cr[i].ok && pre[i].empty()) pre[i] = "create failed";
    std::vector<Result> sw = pass(MetaOp::kStat);
    run.Add({"stat warm " + nf + where, "ops/s", true, 'b', 0.5, "c/b >= 0.5"}, pl, sw.data());
    if (dirs == 1) {
      Result cold[3] = {Ok(0), Ok(0), Ok(0)};
      run.Cold(cold);
      Result lc[3], lw[3];
      run.Each(cpu, o.step_timeout, [&](const std::string& d) {
        return ListLong(d + "/meta/d0", n, lim);
      }, lc);
      Propagate(pre, lc);
      for (int i = 0; i < 3; ++i)
        if (!cold[i].ok) lc[i] = cold[i];
      run.Each(cpu, o.step_timeout, [&](const std::string& d) {
        return ListLong(d + "/meta/d0", n, lim);
      }, lw);
      Propagate(pre, lw);
      run.Add({"ls -l cold " + nf + " entries", "ms", false, 0, 0, ""}, pl, lc);
      run.Add({"ls -l warm " + nf + " entries", "ms", false, 'b', 1.5, "c/b <= 1.5"}, pl, lw);
    }
    Result cold[3] = {Ok(0), Ok(0), Ok(0)};
    run.Cold(cold);
    std::vector<Result> sc = pass(MetaOp::kStat);
    for (int i = 0; i < 3; ++i)
      if (!cold[i].ok) sc[i] = cold[i];
    run.Add({"stat cold " + nf + where, "ops/s", true, 'b', 0.5, "c/b >= 0.5"}, pl, sc.data());
    std::vector<Result> ul = pass(MetaOp::kUnlink);
    run.Add({"unlink " + nf + where, "ops/s", true, 'b', 0.5, "c/b >= 0.5"}, pl, ul.data());
    for (int i = 0; i < 3; ++i) {
      std::string e;
      run.Untimed(i, cpu, 300, [](const std::string& d) { return RemoveTree(d + "/meta"); }, &e);
      if (!e.empty()) std::fprintf(stderr, "  cleanup %s: %s\n", run.t(i).label.c_str(), e.c_str());
    }
  }
}

// Flush latency of the virtual disk drifts over seconds, so a, b and c take turns: five
// rounds, each target's figure is the median of its per-round percentiles.
void RunAppend(Runner& run, const Options& o, const std::string& pl, int cpu) {
  constexpr int kRounds = 5;
  std::vector<double> p50[3], p99[3];
  Result r[3];
  for (int round = 0; round < kRounds && !g_stop; ++round) {
    Result one[3];
    run.Each(cpu, o.step_timeout, [&](const std::string& d) {
      return DurableAppend(d + "/append.dat", o.appends / kRounds, 30);
    }, one);
    for (int i = 0; i < 3; ++i) {
      if (!one[i].ok) {
        if (r[i].err.empty()) r[i] = one[i];
        continue;
      }
      p50[i].push_back(one[i].v[0]);
      p99[i].push_back(one[i].v[1]);
    }
  }
  for (int i = 0; i < 3; ++i) {
    if (!r[i].err.empty()) continue;
    if (p50[i].empty()) {
      r[i] = Fail("interrupted");
      continue;
    }
    r[i] = Ok(cohort::bench::Percentile(p50[i], 50), cohort::bench::Percentile(p99[i], 50),
              std::to_string(kRounds) + " interleaved rounds of " +
                  std::to_string(o.appends / kRounds));
  }
  run.Add({"durable 4K append p50 (write+fsync)", "us", false, 'a', 2.0, "c/a <= 2"}, pl, r, 0);
  run.Add({"durable 4K append p99 (write+fsync)", "us", false, 0, 0, ""}, pl, r, 1);
  for (int i = 0; i < 3; ++i) {
    std::string e;
    run.Untimed(i, cpu, 60, [](const std::string& d) { return RemoveTree(d + "/append.dat"); }, &e);
  }
}

void RunDirect(Runner& run, const Options& o, const std::string& pl, int cpu) {
  const uint64_t bytes = o.direct_bytes;
  const double lim = o.step_timeout * 0.8;
  const std::string sz = std::to_string(bytes >> 20) + " MiB";
  Result w[3], r[3];
  run.Each(cpu, o.step_timeout, [&](const std::string& d) {
    return SeqWrite(d + "/direct.dat", bytes, true, lim);
  }, w);
  run.Add({"O_DIRECT write 1MiB x " + sz + " +fsync", "MiB/s", true, 'a', 0.4, "c/a >= 0.4"}, pl,
          w);
  run.Each(cpu, o.step_timeout, [&](const std::string& d) {
    return SeqRead(d + "/direct.dat", bytes, true, lim);
  }, r);
  for (int i = 0; i < 3; ++i)
    if (!w[i].ok) r[i] = Fail("skipped: O_DIRECT write failed");
  run.Add({"O_DIRECT read 1MiB", "MiB/s", true, 'a', 0.4, "c/a >= 0.4"}, pl, r);
  for (int i = 0; i < 3; ++i) {
    std::string e;
    run.Untimed(i, cpu, 120, [](const std::string& d) { return RemoveTree(d + "/direct.dat"); }, &e);
  }
}

// Removes everything at the end, whatever happened (daemons first: never delete files
// through a mount).
struct Cleanup {
  std::vector<FuseDaemon*> daemons;
  std::vector<std::string> mountpoints;
  std::string root;
  std::string keep_log_from, keep_log_to;
  ~Cleanup() {
    for (FuseDaemon* d : daemons)
      if (d) d->Stop();
    if (g_cohort_failed && !keep_log_from.empty()) {
      std::error_code ec;
      stdfs::copy_file(keep_log_from, keep_log_to, stdfs::copy_options::overwrite_existing, ec);
      if (!ec) std::fprintf(stderr, "fs_bench: Cohort failed steps; its log: %s\n",
                            keep_log_to.c_str());
    }
    for (pid_t p : g_stuck_children) WaitPid(p, 5);
    bool mounted = false;
    for (const auto& m : mountpoints) mounted = mounted || IsFuseMounted(m);
    if (root.empty()) return;
    if (mounted) {
      std::fprintf(stderr, "fs_bench: a mount is still up; leaving %s\n", root.c_str());
      return;
    }
    std::error_code ec;
    stdfs::remove_all(root, ec);
    if (ec) std::fprintf(stderr, "fs_bench: remove %s: %s\n", root.c_str(), ec.message().c_str());
  }
};

}  // namespace

int main(int argc, char** argv) {
  using namespace cohort;
  bench::Report report("fs_bench", argc, argv);
  Options o;
  o.dir = std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp";
  std::string cohort_bin = COHORT_BIN, mkfs = COHORT_MKFS, passthrough = COHORT_PASSTHROUGH;
  for (int i = 1; i + 1 < argc; ++i) {
    std::string a = argv[i];
    if (a == "--dir") o.dir = argv[i + 1];
    if (a == "--only") o.only = Split(argv[i + 1]);
    if (a == "--placements") o.placements = Split(argv[i + 1]);
    if (a == "--step-timeout") o.step_timeout = std::atof(argv[i + 1]);
    if (a == "--image") o.written_image = std::string(argv[i + 1]) == "written";
  }
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::printf(
          "fs_bench [--quick] [--json] [--dir DIR] [--only seq,meta,append,direct]\n"
          "         [--placements one-cpu,apart] [--step-timeout SECONDS]\n"
          "         [--image sparse|written]\n"
          "  seq: sequential write/read, 4K random read/write; meta: create/stat/unlink,\n"
          "  ls -l; append: durable 4K append; direct: O_DIRECT 1 MiB. Run as root.\n"
          "  --image written: zero-fill Cohort's image first (no host allocation during\n"
          "  the run); default sparse. Figures and targets: docs/filesystem.md §12.\n");
      return 0;
    }
  }
  if (report.quick()) {
    o.seq_bytes = 256ull << 20;
    o.direct_bytes = 256ull << 20;
    o.rand_ops = 5000;
    o.meta_files = 2000;
    o.appends = 200;
    o.step_timeout = std::min(o.step_timeout, 180.0);
  }
  for (const auto& p : {cohort_bin, mkfs, passthrough}) {
    if (::access(p.c_str(), X_OK) != 0) {
      std::fprintf(stderr, "fs_bench: %s not found (build it first)\n", p.c_str());
      return 1;
    }
  }
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);

  Cleanup cleanup;
  std::error_code ec;
  std::string root = stdfs::absolute(o.dir, ec).string() + "/cohort-fs-bench-" +
                     std::to_string(getpid());
  if (mkdir(root.c_str(), 0700) != 0) {
    std::perror(root.c_str());
    return 1;
  }
  cleanup.root = root;
  const std::string host_dir = root + "/host", pt_src = root + "/pt_src",
                    pt_mnt = root + "/pt_mnt", co_mnt = root + "/cohort_mnt",
                    image = root + "/cohort.img", cluster = root + "/cluster.toml",
                    key = root + "/cluster.key";
  for (const auto& d : {host_dir, pt_src, pt_mnt, co_mnt}) mkdir(d.c_str(), 0755);
  cleanup.mountpoints = {pt_mnt, co_mnt};

  g_can_drop_caches = DropCaches();
  report.AddInfo("dir", root);
  report.AddInfo("size", std::to_string(o.seq_bytes >> 20) + "MiB seq, " +
                             std::to_string(o.meta_files) + " files");
  report.AddInfo("placement", "daemons pinned to cpu 0; one-cpu: bench on cpu 0; apart: cpu 1");
  report.AddInfo("cold", g_can_drop_caches ? "sync + FUSE remount + drop_caches"
                                           : "sync + FUSE remount (drop_caches not permitted)");
  report.AddInfo("rows", "each figure twice: cohort (c) vs passthrough (b), vs host (a)");

  // (c) Cohort's image: as big as the largest file plus room for quarantined frees.
  uint64_t image_bytes = (o.Wants("seq") || o.Wants("direct"))
                             ? std::max<uint64_t>(o.seq_bytes, o.direct_bytes) * 3 + (1ull << 30)
                             : (1ull << 30);
  {
    std::ofstream f(image);
  }
  if (truncate(image.c_str(), static_cast<off_t>(image_bytes)) != 0) {
    std::perror("truncate image");
    return 1;
  }
  if (o.written_image) {
    // Zeros over every block, then fsync: the host filesystem has allocated and written
    // the whole image before (c) runs (bounded: image_bytes / 1 MiB writes).
    int fd = open(image.c_str(), O_WRONLY);
    std::vector<char> zeros(1 << 20, 0);
    bool ok = fd >= 0;
    for (uint64_t off = 0; ok && off < image_bytes && !g_stop; off += zeros.size()) {
      ok = pwrite(fd, zeros.data(), zeros.size(), static_cast<off_t>(off)) ==
           static_cast<ssize_t>(zeros.size());
    }
    if (ok) ok = fsync(fd) == 0;
    if (fd >= 0) close(fd);
    if (!ok) {
      std::perror("zero-fill image");
      return 1;
    }
  }
  report.AddInfo("image", std::to_string(image_bytes >> 20) + "MiB " +
                              (o.written_image ? "written (zero-filled)" : "sparse"));
  if (RunCommand({mkfs, "-q", "-c", "fsbench", "-j", "1", image}, 120, root + "/mkfs.log") != 0) {
    std::fprintf(stderr, "fs_bench: mkfs.cohort failed: see below\n");
    std::ifstream in(root + "/mkfs.log");
    std::stringstream ss;
    ss << in.rdbuf();
    std::fprintf(stderr, "%s\n", ss.str().c_str());
    return 1;
  }
  {
    std::ofstream k(key);
    k << "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n";
  }
  chmod(key.c_str(), 0600);
  std::mt19937 rng(std::random_device{}());
  auto cohort_argv = [&]() {
    int port = 20000 + static_cast<int>(rng() % 20000);
    std::ofstream c(cluster, std::ios::trunc);
    c << "[cluster]\nname = \"fsbench\"\nkey_file = \"cluster.key\"\n\n"
      << "[timeouts]\nheartbeat_interval_ms = 100\ndead_timeout_ms = 1500\n"
      << "reconnect_interval_ms = 100\n"
      << "\n[[node]]\nid = 1\nname = \"n1\"\naddress = \"127.0.0.1:" << port << "\"\n";
    return std::vector<std::string>{cohort_bin, "mount", image, co_mnt, "-f", "-o",
                                    "cluster=" + cluster + ",node=1,quorum_timeout=20"};
  };
  auto pt = std::make_unique<FuseDaemon>(
      "fuse_passthrough", pt_mnt, root + "/passthrough.log",
      [&] { return std::vector<std::string>{passthrough, pt_src, pt_mnt, "-f"}; });
  auto co = std::make_unique<FuseDaemon>("cohort mount", co_mnt, root + "/cohort.log", cohort_argv);
  cleanup.daemons = {pt.get(), co.get()};
  cleanup.keep_log_from = root + "/cohort.log";
  cleanup.keep_log_to = root + ".cohort.log";

  Target a{"host (a)", host_dir, nullptr, ""};
  Target b{"passthrough (b)", pt_mnt, pt.get(), ""};
  Target c{"cohort (c)", co_mnt, co.get(), ""};
  std::string err;
  if (!pt->Start(&err)) b.down = err;
  err.clear();
  if (!co->Start(&err)) c.down = err;
  if (!b.down.empty()) std::fprintf(stderr, "fs_bench: passthrough: %s\n", b.down.c_str());
  if (!c.down.empty()) std::fprintf(stderr, "fs_bench: cohort: %s\n", c.down.c_str());
  report.AddInfo("daemon_pinned", std::string("passthrough=") + (pt->pinned() ? "yes" : "no") +
                                      " cohort=" + (co->pinned() ? "yes" : "no"));
  std::fprintf(stderr, "fs_bench: %s; passthrough pid %d, cohort pid %d\n", root.c_str(),
               pt->pid(), co->pid());

  Runner run(&report, {&a, &b, &c});
  const int ncpus = bench::OnlineCpus();
  for (const std::string& pl : o.placements) {
    int cpu = pl == "apart" ? 1 : 0;
    if (cpu >= ncpus) {
      report.AddInfo("skipped_" + pl, "needs 2 cpus");
      continue;
    }
    std::fprintf(stderr, "[%s] benchmark on cpu %d, daemons on cpu %d\n", pl.c_str(), cpu,
                 kDaemonCpu);
    if (!g_stop && o.Wants("seq")) RunSeq(run, o, pl, cpu);
    if (!g_stop && o.Wants("meta")) RunMeta(run, o, pl, cpu);
    if (!g_stop && o.Wants("append")) RunAppend(run, o, pl, cpu);
    if (!g_stop && o.Wants("direct")) RunDirect(run, o, pl, cpu);
  }
  if (g_stop) report.AddInfo("interrupted", "yes");
  report.AddInfo("slowest_unmount_s", "passthrough=" + Fmt(pt->slowest_unmount()) +
                                          " cohort=" + Fmt(co->slowest_unmount()));
  return report.Finish();
}
