// bench/net_bench.cc: message round trip of the TCP transport (docs/wire-protocol.md)
// against its floor, a raw TCP ping-pong between two processes on loopback, measured in
// the same run with the same placement: both processes pinned to one vCPU ("one-cpu")
// and pinned to different vCPUs ("apart").
//
// The transport's round trip is, by default: Send() on node 1 -> frame (crc32c +
// HMAC-SHA256) -> node 2's I/O thread, which runs the handler -> handler Send() back ->
// node 1's I/O thread, which runs the handler -> the waiting caller. The former default
// (a delivery thread after each I/O thread) and two I/O threads are measured in the same
// run (docs/wire-protocol.md §12).
//
// The lock figures of issue 4 come from an in-process DLM node (InProcessDlm): this
// process joins a 2-node cluster with a TcpTransport + Lockspace, as the mount daemon
// does, and locks resources mastered by the forked node 2: request -> completion (AST)
// latency with each request issued from the previous AST (an asynchronous application)
// and with a blocking SyncLock caller, and lock+unlock pairs/s with 64 chains
// outstanding, and of one sequential chain. The target ratios are: lock p50 / raw TCP p50
// <= 1.5 (and pair p50 / 2x raw p50), and pairs/s / a Redis lock loop (SET NX PX + DEL,
// one pair at a time) >= 1, the Redis loop measured in the same run with the same
// placement against a private redis-server (RedisLockLoop; `--redis-server PATH`, default
// from $PATH). Without redis-server or hiredis those rows compare with the fixed figure
// of issue 4 (12 µs per pair) and say so. `--dlm-only` runs only the raw floor and these
// rows (for profiling).
//
// With --lockd PATH (the `cohort` binary, or build/tests/cohort_lockd_test_bin) it also
// runs two `cohort lockd` processes with the same placements and measures, through the
// control socket of node 1 (docs/operations.md §5): lock+unlock pairs of a resource
// mastered on node 2 (remote: one round trip each), the same for a resource mastered on
// node 1 (local: the socket and daemon overhead, no network), and pairs per second with
// 64 requests outstanding on distinct remote resources, with the default lockd and with
// `lockd --delivery-thread`. `--placement one-cpu|apart` measures only that placement.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_util.h"
#include "common/logging.h"
#include "dlm/lockspace.h"
#include "dlm/sync.h"
#include "net/auth.h"
#include "net/cluster_config.h"
#include "net/tcp_transport.h"

#ifdef COHORT_HAVE_HIREDIS
#include <hiredis/hiredis.h>
#endif

namespace {

using namespace cohort;       // NOLINT
using namespace cohort::net;  // NOLINT

constexpr size_t kMsgBytes = 64;

struct Placement {
  const char* name;
  int cpu_a, cpu_b;
};

bool WriteAll(int fd, const uint8_t* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}
bool ReadAll(int fd, uint8_t* p, size_t n) {
  while (n > 0) {
    ssize_t r = ::read(fd, p, n);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

void KillChild(pid_t pid) {
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

// Raw TCP ping-pong: a forked echo process. Returns per-round-trip samples in µs.
std::vector<double> RawTcp(const Placement& pl, int iters) {
  int ls = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  if (bind(ls, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || listen(ls, 1) != 0 ||
      getsockname(ls, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
    return {};
  }
  pid_t pid = fork();
  if (pid == 0) {
    bench::PinThisThread(pl.cpu_b);
    int c = accept(ls, nullptr, nullptr);
    int one = 1;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    uint8_t buf[kMsgBytes];
    while (ReadAll(c, buf, sizeof buf) && WriteAll(c, buf, sizeof buf)) {
    }
    _exit(0);
  }
  close(ls);
  bench::PinThisThread(pl.cpu_a);
  int c = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  std::vector<double> samples;
  if (connect(c, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) {
    uint8_t buf[kMsgBytes] = {1};
    for (int i = 0; i < iters / 10; ++i) {  // warm-up
      if (!WriteAll(c, buf, sizeof buf) || !ReadAll(c, buf, sizeof buf)) break;
    }
    for (int i = 0; i < iters; ++i) {
      double t0 = bench::NowSeconds();
      if (!WriteAll(c, buf, sizeof buf) || !ReadAll(c, buf, sizeof buf)) break;
      samples.push_back((bench::NowSeconds() - t0) * 1e6);
    }
  }
  close(c);
  KillChild(pid);
  return samples;
}

class Waiter : public TransportHandler {
 public:
  Transport* echo_to = nullptr;  // set: echo every message back (node 2)
  void OnMessage(NodeId from, uint64_t gen, std::span<const uint8_t> p) override {
    if (echo_to != nullptr) {
      (void)echo_to->Send(from, gen, {p.begin(), p.end()});
      return;
    }
    std::lock_guard<std::mutex> l(mu);
    ++received;
    cv.notify_all();
  }
  void OnMembershipChange(const MembershipView& v) override {
    std::lock_guard<std::mutex> l(mu);
    view = v;
    cv.notify_all();
  }
  std::mutex mu;
  std::condition_variable cv;
  uint64_t received = 0;
  MembershipView view;
};

std::string MakeClusterFile(const std::string& dir, int nodes = 2) {
  std::mt19937 rng(std::random_device{}() ^ static_cast<unsigned>(getpid()));
  std::string base = "127." + std::to_string(1 + rng() % 250) + "." + std::to_string(rng() % 256);
  int port = 20000 + static_cast<int>(rng() % 40000);
  std::string key = dir + "/bench.key";
  FILE* f = fopen(key.c_str(), "w");
  for (int i = 0; i < 64; ++i) fputc("0123456789abcdef"[rng() % 16], f);
  fclose(f);
  chmod(key.c_str(), 0600);
  std::string path = dir + "/bench.toml";
  f = fopen(path.c_str(), "w");
  fprintf(f,
          "[cluster]\nname = \"bench\"\nkey_file = \"bench.key\"\n[timeouts]\n"
          "heartbeat_interval_ms = 200\ndead_timeout_ms = 10000\nreconnect_interval_ms = 50\n");
  for (int i = 1; i <= nodes; ++i) {
    fprintf(f, "[[node]]\nid = %d\nname = \"n%d\"\naddress = \"%s.%d:%d\"\n", i, i,
            base.c_str(), i, port);
  }
  fclose(f);
  return path;
}

std::unique_ptr<TcpTransport> MakeNode(const std::string& file, NodeId id, Waiter* w,
                                       const TcpTransportOptions& opts) {
  Result<ClusterConfig> c = LoadClusterConfig(file);
  if (!c.ok()) return nullptr;
  Result<std::vector<uint8_t>> k = LoadKeyFile(c->key_file);
  if (!k.ok()) return nullptr;
  Result<std::unique_ptr<TcpTransport>> t = TcpTransport::Create(*c, id, *k, opts);
  if (!t.ok()) return nullptr;
  (*t)->SetHandler(w);
  if (!(*t)->Start().ok()) return nullptr;
  return std::move(*t);
}

// Transport round trip: node 2 is a forked process that echoes every message.
// `*pipelined` receives echoed messages per second with 64 in flight.
std::vector<double> TransportRtt(const Placement& pl, int iters, const std::string& dir,
                                 const TcpTransportOptions& opts, double* pipelined) {
  std::string file = MakeClusterFile(dir);
  pid_t pid = fork();
  if (pid == 0) {
    bench::PinThisThread(pl.cpu_b);  // threads made below inherit the mask
    Waiter echo;
    std::unique_ptr<TcpTransport> t2 = MakeNode(file, 2, &echo, opts);
    if (!t2) _exit(1);
    echo.echo_to = t2.get();
    for (;;) pause();
  }
  bench::PinThisThread(pl.cpu_a);
  Waiter w;
  std::unique_ptr<TcpTransport> t1 = MakeNode(file, 1, &w, opts);
  std::vector<double> samples;
  if (t1) {
    std::unique_lock<std::mutex> l(w.mu);
    bool up = w.cv.wait_for(l, std::chrono::seconds(30),
                            [&] { return w.view.members.size() == 2 && w.view.quorate; });
    uint64_t gen = w.view.generation;
    l.unlock();
    std::vector<uint8_t> msg(kMsgBytes, 7);
    for (int i = 0; up && i < iters + iters / 10; ++i) {
      double t0 = bench::NowSeconds();
      l.lock();
      uint64_t want = w.received + 1;
      l.unlock();
      if (!t1->Send(2, gen, msg).ok()) break;
      l.lock();
      bool got = w.cv.wait_for(l, std::chrono::seconds(10), [&] { return w.received >= want; });
      l.unlock();
      if (!got) break;
      if (i >= iters / 10) samples.push_back((bench::NowSeconds() - t0) * 1e6);
    }
    double p0 = bench::NowSeconds();
    uint64_t echoed = 0;
    for (int r = 0; up && r < std::max(1, iters / 64 / 4); ++r) {
      l.lock();
      uint64_t want = w.received + 64;
      l.unlock();
      for (int k = 0; k < 64; ++k) up = up && t1->Send(2, gen, msg).ok();
      l.lock();
      up = up && w.cv.wait_for(l, std::chrono::seconds(10), [&] { return w.received >= want; });
      l.unlock();
      if (up) echoed += 64;
    }
    if (echoed > 0) *pipelined = static_cast<double>(echoed) / (bench::NowSeconds() - p0);
    t1->Stop();
  }
  KillChild(pid);
  return samples;
}

// ---- DLM over the transport, in process (the application's view) ----
//
// Node 1 is this process: a TcpTransport + Lockspace, the client of the measurements
// (as the mount daemon is). Node 2 is a forked process, the same, that first takes and
// releases "remote" and r0..r63 so that it masters them (the first requester masters;
// node 1 remembers the master, so each later lock or unlock is one round trip).
// Node 1 makes no Tick() calls during the runs (no deadlock rounds, no idle frees).

constexpr int kOutstanding = 64;
constexpr int kPipelinedReps = 5;

struct DlmFigures {
  std::vector<double> sync_lock, sync_pair;    // blocking caller (SyncLock), µs
  std::vector<double> async_lock, async_pair;  // chain issued from the completions, µs
  std::vector<double> local_pair;              // resource mastered on node 1, SyncLock
  double pipelined_pairs_per_s = 0;            // kOutstanding chains at once
  double sequential_pairs_per_s = 0;           // the one async chain: pairs / elapsed
  uint64_t data_per_pair_x100 = 0;             // DATA frames sent per async pair, x100
  uint64_t pipelined_data_per_pair_x100 = 0;   // the same, pipelined (all reps)
};

bool WaitLockspaceReady(dlm::Lockspace* ls, size_t members, double secs) {
  double t0 = bench::NowSeconds();
  while (bench::NowSeconds() - t0 < secs) {
    net::MembershipView v = ls->view();
    if (v.members.size() == members && v.quorate && !ls->recovering()) return true;
    usleep(10000);
  }
  return false;
}

bool SyncPair(dlm::Lockspace* ls, const std::string& name) {
  dlm::SyncLock l(ls);
  dlm::LockRequest req;
  req.name = name;
  req.mode = dlm::LockMode::kEX;
  return l.Lock(std::move(req)).ok() && l.Unlock().ok();
}

// One chain of lock+unlock pairs on one resource, each request issued from the
// previous completion (on whichever thread delivers it: the I/O thread here).
class Chain {
 public:
  Chain(dlm::Lockspace* ls, std::string name, int pairs, bool record)
      : ls_(ls), name_(std::move(name)), left_(pairs), record_(record) {
    if (record_) {
      lock_us_.reserve(static_cast<size_t>(pairs));
      pair_us_.reserve(static_cast<size_t>(pairs));
    }
  }
  void Start() { Next(); }
  // Waits until every pair finished (or failed); true if all succeeded.
  bool Wait(double secs) {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait_for(l, std::chrono::duration<double>(secs), [&] { return done_; });
    return done_ && !failed_;
  }
  std::vector<double> lock_us_, pair_us_;

 private:
  void Next() {
    dlm::LockRequest req;
    req.name = name_;
    req.mode = dlm::LockMode::kEX;
    req.on_complete = [this](const dlm::Completion& c) { OnComplete(c); };
    t_req_ = bench::NowSeconds();
    if (!ls_->Lock(std::move(req)).ok()) Finish(true);
  }
  void OnComplete(const dlm::Completion& c) {
    double now = bench::NowSeconds();
    if (c.status != Code::kOk) return Finish(true);
    if (!c.unlocked) {
      if (record_) lock_us_.push_back((now - t_req_) * 1e6);
      if (!ls_->Unlock(c.id).ok()) Finish(true);
      return;
    }
    if (record_) pair_us_.push_back((now - t_req_) * 1e6);
    if (--left_ > 0) return Next();
    Finish(false);
  }
  void Finish(bool failed) {
    std::lock_guard<std::mutex> l(mu_);
    failed_ = failed;
    done_ = true;
    cv_.notify_all();
  }
  dlm::Lockspace* const ls_;
  const std::string name_;
  int left_;
  const bool record_;
  double t_req_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false, failed_ = false;
};

std::unique_ptr<TcpTransport> MakeDlmNode(const std::string& file, NodeId id,
                                          std::unique_ptr<dlm::Lockspace>* ls) {
  Result<ClusterConfig> c = LoadClusterConfig(file);
  if (!c.ok()) return nullptr;
  Result<std::vector<uint8_t>> k = LoadKeyFile(c->key_file);
  if (!k.ok()) return nullptr;
  Result<std::unique_ptr<TcpTransport>> t = TcpTransport::Create(*c, id, *k, {});
  if (!t.ok()) return nullptr;
  dlm::LockspaceOptions opts;
  opts.name = "bench";
  // Node 2 must stay the master of "remote" and r0..r63 for the whole run: were one
  // freed as idle, node 1 would master it on its next lock and measure local locks.
  opts.idle_free_after = 3600 * kNanosPerSecond;
  *ls = std::make_unique<dlm::Lockspace>(t->get(), opts);
  if (!(*t)->Start().ok()) return nullptr;
  return std::move(*t);
}

DlmFigures InProcessDlm(const Placement& pl, int iters, const std::string& dir) {
  DlmFigures f;
  std::string file = MakeClusterFile(dir);
  int ready[2];
  if (pipe(ready) != 0) return f;
  pid_t pid = fork();
  if (pid == 0) {
    close(ready[0]);
    bench::PinThisThread(pl.cpu_b);
    std::unique_ptr<dlm::Lockspace> ls;
    std::unique_ptr<TcpTransport> t = MakeDlmNode(file, 2, &ls);
    if (!t || !WaitLockspaceReady(ls.get(), 2, 30)) _exit(1);
    bool ok = SyncPair(ls.get(), "remote");
    for (int k = 0; ok && k < kOutstanding; ++k) ok = SyncPair(ls.get(), "r" + std::to_string(k));
    char c = ok ? 'y' : 'n';
    if (write(ready[1], &c, 1) != 1) _exit(1);
    for (;;) {  // killed by the parent
      ls->Tick();
      usleep(100000);
    }
  }
  close(ready[1]);
  bench::PinThisThread(pl.cpu_a);
  {
    std::vector<std::unique_ptr<Chain>> chains;  // outlive the transport's deliveries
    std::unique_ptr<dlm::Lockspace> ls;
    std::unique_ptr<TcpTransport> t = MakeDlmNode(file, 1, &ls);
    pollfd p{ready[0], POLLIN, 0};
    char c = 0;
    bool up = t && WaitLockspaceReady(ls.get(), 2, 30) && poll(&p, 1, 30000) == 1 &&
              read(ready[0], &c, 1) == 1 && c == 'y' && SyncPair(ls.get(), "local");
    for (int i = 0; up && i < iters / 10; ++i) up = SyncPair(ls.get(), "remote");
    // Blocking caller: SyncLock, the waiting thread woken by the completion.
    for (int i = 0; up && i < iters; ++i) {
      dlm::SyncLock l(ls.get());
      dlm::LockRequest req;
      req.name = "remote";
      req.mode = dlm::LockMode::kEX;
      double t0 = bench::NowSeconds();
      up = l.Lock(std::move(req)).ok();
      double t1 = bench::NowSeconds();
      up = up && l.Unlock().ok();
      double t2 = bench::NowSeconds();
      f.sync_lock.push_back((t1 - t0) * 1e6);
      f.sync_pair.push_back((t2 - t0) * 1e6);
      double t3 = bench::NowSeconds();
      up = up && SyncPair(ls.get(), "local");
      f.local_pair.push_back((bench::NowSeconds() - t3) * 1e6);
    }
    // Asynchronous chain: each request issued from the previous completion.
    if (up) {
      uint64_t sent0 = t->stats().data_sent;
      chains.push_back(std::make_unique<Chain>(ls.get(), "remote", iters, true));
      Chain& ch = *chains.back();
      double t0 = bench::NowSeconds();
      ch.Start();
      up = ch.Wait(120);
      f.sequential_pairs_per_s = iters / (bench::NowSeconds() - t0);
      uint64_t sent = t->stats().data_sent - sent0;
      f.async_lock = ch.lock_us_;
      f.async_pair = ch.pair_us_;
      if (up) f.data_per_pair_x100 = sent * 100 / static_cast<uint64_t>(iters);
    }
    // Pipelined: kOutstanding chains on distinct remote resources, started together;
    // kPipelinedReps runs, the median reported (other processes share the CPUs).
    std::vector<double> rates;
    uint64_t psent0 = t ? t->stats().data_sent : 0, ppairs = 0;
    for (int rep = 0; up && rep < kPipelinedReps; ++rep) {
      int per = std::max(1, iters / 4 / kOutstanding * 4);
      size_t first = chains.size();
      for (int k = 0; k < kOutstanding; ++k) {
        chains.push_back(std::make_unique<Chain>(ls.get(), "r" + std::to_string(k), per, false));
      }
      double t0 = bench::NowSeconds();
      for (size_t k = first; k < chains.size(); ++k) chains[k]->Start();
      for (size_t k = first; k < chains.size(); ++k) up = chains[k]->Wait(120) && up;
      if (up) rates.push_back(per * kOutstanding / (bench::NowSeconds() - t0));
      ppairs += static_cast<uint64_t>(per * kOutstanding);
    }
    if (up) {
      f.pipelined_pairs_per_s = bench::Percentile(rates, 50);
      f.pipelined_data_per_pair_x100 = (t->stats().data_sent - psent0) * 100 / ppairs;
      // Two messages per pair, else the locks were not remote: refuse the figure.
      if (f.pipelined_data_per_pair_x100 < 190) f.pipelined_pairs_per_s = 0;
    }
    if (!up) f = DlmFigures{};
    if (t) t->Stop();
    ls.reset();
  }
  close(ready[0]);
  KillChild(pid);
  return f;
}

// ---- The Redis lock loop of issue 4, measured in the same run ----
//
// A private redis-server (127.0.0.1, a free port, no persistence: --save "" --appendonly
// no) pinned like our lock master (node 2, cpu_b), and one client connection (hiredis)
// pinned like our client (cpu_a) running the loop of a Redis lock: SET key token NX PX
// 30000, then DEL key, one pair at a time (the SET's reply is needed before the critical
// section, so a lock loop cannot pipeline). RedisServer stops the server when it goes out
// of scope, on every path, and the server dies with this process if this one is killed
// (PR_SET_PDEATHSIG).

struct RedisFigures {
  std::vector<double> pair_us;  // µs per SET NX PX + DEL pair
  double pairs_per_s = 0;       // pairs / elapsed time of the measured loop
  std::string error;            // why it was not measured ("" if it was)
};

// `name` if it contains a '/', else the first executable `name` in $PATH ("" if none).
std::string FindProgram(const std::string& name) {
  if (name.find('/') != std::string::npos) return access(name.c_str(), X_OK) == 0 ? name : "";
  const char* path = getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  for (size_t b = 0; b <= dirs.size();) {
    size_t e = dirs.find(':', b);
    if (e == std::string::npos) e = dirs.size();
    std::string cand = dirs.substr(b, e - b) + "/" + name;
    if (e > b && access(cand.c_str(), X_OK) == 0) return cand;
    b = e + 1;
  }
  return "";
}

// A loopback TCP port that was free a moment ago (0 if none could be had).
int FreeLoopbackPort() {
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return 0;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  int port = 0;
  if (bind(s, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 &&
      getsockname(s, reinterpret_cast<sockaddr*>(&sa), &len) == 0) {
    port = ntohs(sa.sin_port);
  }
  close(s);
  return port;
}

#ifdef COHORT_HAVE_HIREDIS
// One hiredis connection; closed by the destructor.
class RedisClient {
 public:
  explicit RedisClient(int port) {
    timeval tv{2, 0};  // every call below is bounded: connect and each reply
    c_ = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (c_ != nullptr && c_->err == 0) ok_ = redisSetTimeout(c_, tv) == REDIS_OK;
  }
  ~RedisClient() {
    if (c_ != nullptr) redisFree(c_);
  }
  bool ok() const { return ok_; }
  std::string error() const { return c_ == nullptr ? "no memory" : c_->errstr; }
  // Runs the command `args`; true if the reply has type `type` and, for a status, the
  // text `status`, for an integer, the value `integer`.
  bool Expect(std::initializer_list<const char*> args, int type, const char* status,
              long long integer = 0) {
    std::array<const char*, 8> argv{};
    std::array<size_t, 8> lens{};
    int n = 0;
    for (const char* a : args) {
      if (n == 8) return false;
      argv[n] = a;
      lens[n++] = std::strlen(a);
    }
    auto* r = static_cast<redisReply*>(redisCommandArgv(c_, n, argv.data(), lens.data()));
    bool ok = r != nullptr && r->type == type;
    if (ok && type == REDIS_REPLY_STATUS) {
      ok = std::string(r->str, r->len) == status;
    } else if (ok && type == REDIS_REPLY_INTEGER) {
      ok = r->integer == integer;
    }
    if (r != nullptr) freeReplyObject(r);
    return ok;
  }

 private:
  redisContext* c_ = nullptr;
  bool ok_ = false;
};
#endif

class RedisServer {
 public:
  // Starts `bin` on 127.0.0.1 pinned to `cpu` and waits (at most 5 s per try, 3 tries:
  // another process may take the free port first) until it answers PING.
  RedisServer(const std::string& bin, int cpu, const std::string& dir) {
#ifdef COHORT_HAVE_HIREDIS
    for (int attempt = 0; attempt < 3 && port_ == 0; ++attempt) {
      int port = FreeLoopbackPort();
      if (port == 0) continue;
      std::string ps = std::to_string(port), log = dir + "/redis.log";
      pid_t parent = getpid();
      pid_ = fork();
      if (pid_ == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(1);  // the benchmark died before prctl()
        bench::PinThisThread(cpu);  // redis-server's threads inherit the mask
        execl(bin.c_str(), bin.c_str(), "--bind", "127.0.0.1", "--port", ps.c_str(), "--save",
              "", "--appendonly", "no", "--daemonize", "no", "--dir", dir.c_str(),
              "--logfile", log.c_str(), static_cast<char*>(nullptr));
        _exit(127);
      }
      if (pid_ < 0) {
        pid_ = 0;
        error_ = "fork failed";
        return;
      }
      for (int i = 0; i < 250 && port_ == 0; ++i) {  // 250 x 20 ms
        if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
          pid_ = 0;  // exited: the port was taken, or a bad install
          break;
        }
        RedisClient c(port);
        if (c.ok() && c.Expect({"PING"}, REDIS_REPLY_STATUS, "PONG")) {
          port_ = port;
        } else {
          usleep(20000);
        }
      }
      if (port_ == 0) Stop();
    }
    if (port_ == 0) error_ = bin + " did not start (see " + dir + "/redis.log)";
#else
    (void)bin;
    (void)cpu;
    (void)dir;
    error_ = "net_bench built without hiredis (libhiredis-dev)";
#endif
  }
  ~RedisServer() { Stop(); }
  int port() const { return port_; }
  const std::string& error() const { return error_; }
  // SIGTERM (no persistence: it exits at once), SIGKILL if it is still there after 2 s.
  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    bool reaped = false;
    for (int i = 0; i < 100 && !reaped; ++i) {
      reaped = waitpid(pid_, nullptr, WNOHANG) == pid_;
      if (!reaped) usleep(20000);
    }
    if (!reaped) KillChild(pid_);
    pid_ = 0;
  }

 private:
  pid_t pid_ = 0;
  int port_ = 0;
  std::string error_;
};

RedisFigures RedisLockLoop(const std::string& redis_bin, const Placement& pl, int iters,
                           const std::string& dir) {
  RedisFigures f;
  if (redis_bin.empty()) {
    f.error = "redis-server not found (scripts/install-deps.sh installs it)";
    return f;
  }
  RedisServer srv(redis_bin, pl.cpu_b, dir);
  if (!srv.error().empty()) {
    f.error = srv.error();
    return f;
  }
#ifdef COHORT_HAVE_HIREDIS
  bench::PinThisThread(pl.cpu_a);
  RedisClient c(srv.port());
  if (!c.ok()) {
    f.error = "connect: " + c.error();
    return f;
  }
  const char* key = "cohort-bench-lock";
  std::string token = "node1-" + std::to_string(getpid());  // the holder's identity
  auto pair = [&] {
    return c.Expect({"SET", key, token.c_str(), "NX", "PX", "30000"}, REDIS_REPLY_STATUS, "OK") &&
           c.Expect({"DEL", key}, REDIS_REPLY_INTEGER, nullptr, 1);
  };
  bool ok = true;
  for (int i = 0; ok && i < iters / 10; ++i) ok = pair();  // warm-up
  f.pair_us.reserve(static_cast<size_t>(iters));
  double start = bench::NowSeconds();
  for (int i = 0; ok && i < iters; ++i) {
    double t0 = bench::NowSeconds();
    ok = pair();
    f.pair_us.push_back((bench::NowSeconds() - t0) * 1e6);
  }
  double elapsed = bench::NowSeconds() - start;
  if (!ok) {
    f.pair_us.clear();
    f.error = "unexpected reply: " + c.error();
    return f;
  }
  f.pairs_per_s = static_cast<double>(iters) / elapsed;
#endif
  return f;
}

// ---- DLM over the transport, through `cohort lockd` ----

class LineSocket {
 public:
  explicit LineSocket(const std::string& path) {
    for (int i = 0; i < 300 && !ok_; ++i) {  // the daemon may still be starting
      fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_un sa{};
      sa.sun_family = AF_UNIX;
      std::snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path.c_str());
      ok_ = connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
      if (!ok_) {
        close(fd_);
        fd_ = -1;
        usleep(20000);
      }
    }
  }
  ~LineSocket() {
    if (fd_ >= 0) close(fd_);
  }
  bool ok() const { return ok_; }
  bool Send(const std::string& s) {
    return WriteAll(fd_, reinterpret_cast<const uint8_t*>(s.data()), s.size());
  }
  std::string ReadLine() {
    for (int i = 0; i < 1000000; ++i) {
      size_t nl = buf_.find('\n');
      if (nl != std::string::npos) {
        std::string l = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return l;
      }
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 30000) <= 0) return "";
      char chunk[65536];
      ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) return "";
      buf_.append(chunk, static_cast<size_t>(n));
    }
    return "";
  }
  std::string Call(const std::string& cmd) { return Send(cmd + "\n") ? ReadLine() : ""; }

 private:
  int fd_ = -1;
  bool ok_ = false;
  std::string buf_;
};

// "granted ID MODE" -> ID ("" otherwise).
std::string GrantedId(const std::string& reply) {
  if (reply.rfind("granted ", 0) != 0) return "";
  size_t sp = reply.find(' ', 8);
  return reply.substr(8, sp == std::string::npos ? std::string::npos : sp - 8);
}

pid_t SpawnLockd(const std::string& bin, const std::string& cluster, int node, int cpu,
                 const std::string& sock, const std::string& log, const char* extra_flag) {
  pid_t pid = fork();
  if (pid == 0) {
    bench::PinThisThread(cpu);  // inherited across exec by every thread of the daemon
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    std::string n = std::to_string(node);
    execl(bin.c_str(), bin.c_str(), "lockd", "--cluster", cluster.c_str(), "--node", n.c_str(),
          "--socket", sock.c_str(), "--log", "warn",
          extra_flag,
          static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

struct LockFigures {
  std::vector<double> remote, local;  // µs per lock+unlock pair
  double pipelined_pairs_per_s = 0;
};

// One lock+unlock pair through `s`; returns false on any unexpected reply.
bool Pair(LineSocket& s, const std::string& name) {
  std::string id = GrantedId(s.Call("lock " + name + " EX"));
  return !id.empty() && s.Call("unlock " + id) == "unlocked " + id;
}

LockFigures LockdFigures(const std::string& bin, const Placement& pl, int iters,
                         const std::string& dir, const char* extra_flag) {
  LockFigures f;
  std::string file = MakeClusterFile(dir);
  std::string s1 = dir + "/l1.sock", s2 = dir + "/l2.sock";
  pid_t p1 = SpawnLockd(bin, file, 1, pl.cpu_a, s1, dir + "/l1.log", extra_flag);
  pid_t p2 = SpawnLockd(bin, file, 2, pl.cpu_b, s2, dir + "/l2.log", extra_flag);
  bench::PinThisThread(pl.cpu_a);  // the client sits with node 1
  {
    LineSocket c1(s1), c2(s2);
    bool up = c1.ok() && c2.ok();
    for (int i = 0; up && i < 300; ++i) {
      if (c1.Call("status").find("{1,2} quorate") != std::string::npos &&
          c1.Call("status").find("recovering") == std::string::npos) {
        break;
      }
      usleep(50000);
    }
    // Node 2 masters "remote" and r0..r63 (first requester masters); node 1 "local".
    up = up && Pair(c2, "remote") && Pair(c1, "local");
    for (int k = 0; up && k < kOutstanding; ++k) up = Pair(c2, std::string("r").append(std::to_string(k)));
    for (int i = 0; up && i < iters / 10; ++i) up = Pair(c1, "remote") && Pair(c1, "local");
    for (int i = 0; up && i < iters; ++i) {
      double t0 = bench::NowSeconds();
      up = Pair(c1, "remote");
      double t1 = bench::NowSeconds();
      up = up && Pair(c1, "local");
      f.remote.push_back((t1 - t0) * 1e6);
      f.local.push_back((bench::NowSeconds() - t1) * 1e6);
    }
    // Pipelined: kOutstanding lock requests in flight, then their unlocks.
    int rounds = std::max(1, iters / kOutstanding / 4);
    double t0 = bench::NowSeconds();
    int pairs = 0;
    for (int r = 0; up && r < rounds; ++r) {
      std::string batch;
      for (int k = 0; k < kOutstanding; ++k) batch += "lock r" + std::to_string(k) + " EX\n";
      up = c1.Send(batch);
      std::vector<std::string> ids;
      for (int k = 0; up && k < kOutstanding; ++k) {
        ids.push_back(GrantedId(c1.ReadLine()));
        up = !ids.back().empty();
      }
      batch.clear();
      for (const std::string& id : ids) batch += "unlock " + id + "\n";
      up = up && c1.Send(batch);
      for (int k = 0; up && k < kOutstanding; ++k) up = c1.ReadLine().rfind("unlocked", 0) == 0;
      if (up) pairs += kOutstanding;
    }
    if (up && pairs > 0) f.pipelined_pairs_per_s = pairs / (bench::NowSeconds() - t0);
    if (!up) {
      f.remote.clear();
      f.local.clear();
    }
  }
  KillChild(p1);
  KillChild(p2);
  return f;
}

// Lock+unlock pairs per second of the whole cluster when each of `n` nodes locks its
// own resource (disjoint: after the first lookup every lock is mastered locally).
double DisjointThroughput(const std::string& bin, int n, int ncpus, double secs,
                          const std::string& dir) {
  std::string file = MakeClusterFile(dir, n);
  std::vector<pid_t> pids;
  std::vector<std::string> socks;
  for (int i = 1; i <= n; ++i) {
    socks.push_back(dir + "/d" + std::to_string(i) + ".sock");
    pids.push_back(SpawnLockd(bin, file, i, bench::ApartCpu(i - 1, ncpus), socks.back(),
                              dir + "/d" + std::to_string(i) + ".log", nullptr));
  }
  std::string want = "} quorate";
  bool up = true;
  {
    LineSocket c(socks[0]);
    up = c.ok();
    std::string members;
    for (int i = 1; i <= n; ++i) {
      if (i > 1) members += ",";
      members += std::to_string(i);
    }
    for (int k = 0; up && k < 600; ++k) {
      std::string st = c.Call("status");
      if (st.find("{" + members + "} quorate") != std::string::npos &&
          st.find("recovering") == std::string::npos) {
        break;
      }
      usleep(50000);
    }
  }
  std::atomic<uint64_t> pairs{0};
  std::atomic<bool> failed{false};
  std::vector<std::thread> ts;
  double t0 = bench::NowSeconds();
  for (int i = 0; up && i < n; ++i) {
    ts.emplace_back([&, i] {
      LineSocket c(socks[i]);
      std::string name = "own" + std::to_string(i);
      if (!c.ok() || !Pair(c, name)) {
        failed = true;
        return;
      }
      while (bench::NowSeconds() - t0 < secs) {
        if (!Pair(c, name)) {
          failed = true;
          return;
        }
        ++pairs;
      }
    });
  }
  for (auto& t : ts) t.join();
  double rate = (up && !failed) ? pairs / (bench::NowSeconds() - t0) : 0;
  for (pid_t p : pids) KillChild(p);
  return rate;
}

}  // namespace

int main(int argc, char** argv) {
  bench::Report report("net_bench", argc, argv);
  InitLogging("net_bench", LogLevel::kWarn);
  int iters = report.quick() ? 2000 : 20000;
  int ncpus = bench::OnlineCpus();
  char tmpl[] = "/tmp/cohort-net-bench-XXXXXX";
  std::string dir = mkdtemp(tmpl) ? tmpl : "/tmp";
  std::vector<Placement> placements = {{"one-cpu", 0, 0}};
  if (ncpus > 1) placements.push_back({"apart", bench::ApartCpu(0, ncpus), bench::ApartCpu(1, ncpus)});
  report.AddInfo("message bytes", std::to_string(kMsgBytes));
  report.AddInfo("iterations", std::to_string(iters));
  std::string lockd;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--lockd") lockd = argv[i + 1];
  }
  // --placement one-cpu|apart: measure only that placement (for profiling one case).
  std::string only_placement;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--placement") only_placement = argv[i + 1];
  }
  // --dlm-only: the raw floor and the in-process DLM rows only (for profiling).
  bool dlm_only = false;
  for (int i = 1; i < argc; ++i) dlm_only = dlm_only || std::string(argv[i]) == "--dlm-only";
  // --redis-server PATH: the server of the Redis baseline (default: redis-server in $PATH).
  std::string redis_bin = "redis-server";
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--redis-server") redis_bin = argv[i + 1];
  }
  redis_bin = FindProgram(redis_bin);
  for (const Placement& pl : placements) {
    if (!only_placement.empty() && only_placement != pl.name) continue;
    std::vector<double> raw = RawTcp(pl, iters);
    // The default (handler calls on the I/O thread), the former default (a delivery
    // thread) and two I/O threads (each event wakes the second one).
    TcpTransportOptions dflt, dthread, two_io;
    dthread.deliver_on_io_thread = false;
    two_io.io_threads = 2;
    double pipelined = 0, pipelined_dthread = 0, pipelined_two_io = 0;
    std::vector<double> tr, trd, tr2;
    if (!dlm_only) {
      tr = TransportRtt(pl, iters, dir, dflt, &pipelined);
      trd = TransportRtt(pl, iters, dir, dthread, &pipelined_dthread);
      tr2 = TransportRtt(pl, iters, dir, two_io, &pipelined_two_io);
    }
    if (raw.empty() || (tr.empty() && !dlm_only)) {
      report.AddInfo(std::string("error ") + pl.name, "a measurement failed");
      continue;
    }
    for (double pct : {50.0, 99.0}) {
      if (tr.empty()) break;
      std::string p = pct == 50.0 ? "p50" : "p99";
      report.Add({.name = "transport msg round trip " + p,
                  .placement = pl.name,
                  .value = bench::Percentile(tr, pct),
                  .unit = "us",
                  .baseline_name = "raw TCP ping-pong " + p,
                  .baseline = bench::Percentile(raw, pct),
                  .higher_is_better = false,
                  .target = pct == 50.0 ? "ratio <= 1.5 (issue 4, for a remote lock)" : "",
                  .note = std::to_string(tr.size()) + " samples"});
    }
    if (!tr.empty()) report.Add({.name = "transport round trips/s, 64 outstanding",
                .placement = pl.name,
                .value = pipelined,
                .unit = "ops/s",
                .baseline_name = "1 / raw TCP ping-pong p50",
                .baseline = 1e6 / bench::Percentile(raw, 50)});
    struct Variant {
      const char* name;
      const std::vector<double>& samples;
      double pipelined;
      const char* note;
    };
    for (const Variant& v : {Variant{"delivery thread", trd, pipelined_dthread,
                                     "deliver_on_io_thread = false (before)"},
                             Variant{"2 I/O threads", tr2, pipelined_two_io,
                                     "io_threads = 2"}}) {
      if (v.samples.empty()) continue;
      report.Add({.name = std::string("transport round trip p50, ") + v.name,
                  .placement = pl.name,
                  .value = bench::Percentile(v.samples, 50),
                  .unit = "us",
                  .baseline_name = "raw TCP ping-pong p50",
                  .baseline = bench::Percentile(raw, 50),
                  .higher_is_better = false,
                  .note = v.note});
      report.Add({.name = std::string("transport round trips/s, 64 out, ") + v.name,
                  .placement = pl.name,
                  .value = v.pipelined,
                  .unit = "ops/s",
                  .baseline_name = "1 / raw TCP ping-pong p50",
                  .baseline = 1e6 / bench::Percentile(raw, 50)});
    }
    DlmFigures df = InProcessDlm(pl, iters / 2, dir);
    // The throughput baseline of issue 4: a Redis lock loop, same run, same placement.
    RedisFigures rf = RedisLockLoop(redis_bin, pl, iters / 2, dir);
    const bool redis_ok = rf.error.empty();
    const double redis_rate = redis_ok ? rf.pairs_per_s : 1e6 / 12;
    const std::string redis_name =
        redis_ok ? "Redis lock loop, same run" : "FIXED Redis 12 us/pair (issue 4)";
    const std::string redis_not = redis_ok ? "" : "; Redis NOT measured in this run: " + rf.error;
    if (!redis_ok) report.AddInfo(std::string("redis ") + pl.name, "not measured: " + rf.error);
    report.Add({.name = "Redis SET NX PX+DEL pair p50, 1 client",
                .placement = pl.name,
                .value = redis_ok ? bench::Percentile(rf.pair_us, 50) : 0,
                .unit = "us",
                .baseline_name = "2x raw TCP ping-pong p50",
                .baseline = 2 * bench::Percentile(raw, 50),
                .higher_is_better = false,
                .note = redis_ok ? "private redis-server pinned like node 2, client like node 1"
                                 : "NOT MEASURED: " + rf.error});
    report.Add({.name = "Redis lock loop pairs/s, 1 client",
                .placement = pl.name,
                .value = redis_ok ? rf.pairs_per_s : 0,
                .unit = "ops/s",
                .baseline_name = "1 / (2x raw TCP p50)",
                .baseline = 1e6 / (2 * bench::Percentile(raw, 50)),
                .note = redis_ok ? "SET k v NX PX 30000, then DEL k; one pair at a time"
                                 : "NOT MEASURED: " + rf.error});
    if (df.async_pair.empty()) {
      report.AddInfo(std::string("dlm error ") + pl.name, "in-process DLM run failed");
    } else {
      double raw50 = bench::Percentile(raw, 50), raw99 = bench::Percentile(raw, 99);
      report.Add({.name = "remote lock p50, async (request->AST)",
                  .placement = pl.name,
                  .value = bench::Percentile(df.async_lock, 50),
                  .unit = "us",
                  .baseline_name = "raw TCP ping-pong p50",
                  .baseline = raw50,
                  .higher_is_better = false,
                  .target = "ratio <= 1.5 (issue 4)",
                  .note = "in-process DLM node; next request issued from the AST"});
      report.Add({.name = "remote lock p99, async (request->AST)",
                  .placement = pl.name,
                  .value = bench::Percentile(df.async_lock, 99),
                  .unit = "us",
                  .baseline_name = "raw TCP ping-pong p99",
                  .baseline = raw99,
                  .higher_is_better = false});
      report.Add({.name = "remote lock+unlock pair p50, async",
                  .placement = pl.name,
                  .value = bench::Percentile(df.async_pair, 50),
                  .unit = "us",
                  .baseline_name = "2x raw TCP ping-pong p50",
                  .baseline = 2 * raw50,
                  .higher_is_better = false,
                  .target = "ratio <= 1.5 (issue 4)",
                  .note = "DATA frames/pair " + std::to_string(df.data_per_pair_x100 / 100) +
                          "." + std::to_string(df.data_per_pair_x100 % 100 / 10)});
      report.Add({.name = "remote lock+unlock pair p99, async",
                  .placement = pl.name,
                  .value = bench::Percentile(df.async_pair, 99),
                  .unit = "us",
                  .baseline_name = "2x raw TCP ping-pong p99",
                  .baseline = 2 * raw99,
                  .higher_is_better = false});
      report.Add({.name = "remote lock p50, blocking (SyncLock)",
                  .placement = pl.name,
                  .value = bench::Percentile(df.sync_lock, 50),
                  .unit = "us",
                  .baseline_name = "raw TCP ping-pong p50",
                  .baseline = raw50,
                  .higher_is_better = false,
                  .note = "caller thread woken by the AST"});
      report.Add({.name = "remote lock+unlock pair p50, blocking",
                  .placement = pl.name,
                  .value = bench::Percentile(df.sync_pair, 50),
                  .unit = "us",
                  .baseline_name = "2x raw TCP ping-pong p50",
                  .baseline = 2 * raw50,
                  .higher_is_better = false});
      report.Add({.name = "local lock+unlock pair p50, blocking",
                  .placement = pl.name,
                  .value = bench::Percentile(df.local_pair, 50),
                  .unit = "us",
                  .higher_is_better = false,
                  .note = "mastered on node 1: no message"});
      report.Add({.name = "lock+unlock pairs/s, 64 chains, in-process",
                  .placement = pl.name,
                  .value = df.pipelined_pairs_per_s,
                  .unit = "ops/s",
                  .baseline_name = redis_name,
                  .baseline = redis_rate,
                  .target = "ratio >= 1 (issue 4)",
                  .note = "one client process, 64 outstanding, median of 5; DATA frames/pair " +
                          std::to_string(df.pipelined_data_per_pair_x100 / 100) + "." +
                          std::to_string(df.pipelined_data_per_pair_x100 % 100 / 10) +
                          redis_not});
      report.Add({.name = "lock+unlock pairs/s, 1 sequential chain",
                  .placement = pl.name,
                  .value = df.sequential_pairs_per_s,
                  .unit = "ops/s",
                  .baseline_name = redis_name,
                  .baseline = redis_rate,
                  .note = "one pair at a time, like the Redis loop" + redis_not});
    }
    if (lockd.empty() || dlm_only) continue;
    LockFigures lf = LockdFigures(lockd, pl, iters / 4, dir, nullptr);
    LockFigures lfd = LockdFigures(lockd, pl, iters / 4, dir, "--delivery-thread");
    if (!lfd.remote.empty()) {
      report.Add({.name = "remote lock+unlock pair p50, delivery thr",
                  .placement = pl.name,
                  .value = bench::Percentile(lfd.remote, 50),
                  .unit = "us",
                  .baseline_name = "2x raw TCP ping-pong p50",
                  .baseline = 2 * bench::Percentile(raw, 50),
                  .higher_is_better = false,
                  .note = "lockd --delivery-thread (before)"});
      report.Add({.name = "lock+unlock pairs/s, 64 out, delivery thr",
                  .placement = pl.name,
                  .value = lfd.pipelined_pairs_per_s,
                  .unit = "ops/s",
                  .baseline_name = redis_name,
                  .baseline = redis_rate});
    }
    if (lf.remote.empty()) {
      report.AddInfo(std::string("lockd error ") + pl.name, "see " + dir + "/l*.log");
      continue;
    }
    double raw50 = bench::Percentile(raw, 50);
    report.Add({.name = "remote lock+unlock pair p50",
                .placement = pl.name,
                .value = bench::Percentile(lf.remote, 50),
                .unit = "us",
                .baseline_name = "2x raw TCP ping-pong p50",
                .baseline = 2 * raw50,
                .higher_is_better = false,
                .target = "ratio <= 1.5 (issue 4)",
                .note = "via lockd socket; two round trips"});
    report.Add({.name = "remote lock+unlock pair p99",
                .placement = pl.name,
                .value = bench::Percentile(lf.remote, 99),
                .unit = "us",
                .baseline_name = "2x raw TCP ping-pong p99",
                .baseline = 2 * bench::Percentile(raw, 99),
                .higher_is_better = false});
    report.Add({.name = "local lock+unlock pair p50",
                .placement = pl.name,
                .value = bench::Percentile(lf.local, 50),
                .unit = "us",
                .higher_is_better = false,
                .note = "socket + daemon overhead, no network"});
    report.Add({.name = "lock+unlock pairs/s, 64 outstanding",
                .placement = pl.name,
                .value = lf.pipelined_pairs_per_s,
                .unit = "ops/s",
                .baseline_name = redis_name,
                .baseline = redis_rate,
                .target = "ratio >= 1"});
  }
  if (!lockd.empty() && only_placement.empty() && !dlm_only) {
    double two = 0;
    for (int n : {2, 4, 8}) {
      double r = DisjointThroughput(lockd, n, ncpus, report.quick() ? 0.3 : 1.0, dir);
      if (n == 2) two = r;
      report.Add({.name = "pairs/s, " + std::to_string(n) + " nodes, disjoint resources",
                  .placement = "apart",
                  .value = r,
                  .unit = "ops/s",
                  .baseline_name = n == 2 ? "" : "2 nodes",
                  .baseline = n == 2 ? 0 : two,
                  .note = "node i on cpu i % " + std::to_string(ncpus)});
    }
  }
  bool keep = false;
  for (int i = 1; i < argc; ++i) keep = keep || std::string(argv[i]) == "--keep";
  std::string rm = "rm -rf '" + dir + "'";
  if (dir != "/tmp" && !keep) (void)std::system(rm.c_str());
  return report.Finish();
}
