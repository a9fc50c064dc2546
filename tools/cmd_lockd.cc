// tools/cmd_lockd.cc: `cohort lockd` and `cohort lockctl` (docs/operations.md §5).
//
// `cohort lockd --cluster FILE --node ID` joins the cluster over the TCP transport
// (docs/wire-protocol.md) and serves one DLM lockspace (dlm/lockspace.h) without any
// filesystem, to operators and to the multi-process tests. Clients talk to it over a
// Unix socket (mode 0600), one text command per line, one reply line per event:
//
//   lock NAME MODE [START-END] [try] [valblk] [timeout=MS]
//        -> "granted ID MODE [lvb=TEXT]" | "error ID CODE" | "error CODE"
//   unlock ID [lvb=TEXT]            -> "unlocked ID" | "error CODE"
//   status                          -> "view <gen> {ids} quorate|inquorate[ recovering]"
//   locks                           -> one "lock ID KEY MODE" line per own lock, then "."
//   dump                            -> the lockspace dump, then "."
//   block N | unblock N             (only with --test-faults) -> "ok"
//
// Locks belong to the daemon, not to the client connection: they stay granted until an
// `unlock`, so one-shot `cohort lockctl` invocations can take and release them.
//
// Threads: the main thread runs the socket loop and Lockspace::Tick(); the transport's
// I/O threads (or, with --delivery-thread, its delivery thread) run the lockspace's
// message handling, one call at a time. Completion callbacks may run on either; they
// write to the client under the client's own mutex. That write blocks while a client
// does not read its replies: it then holds the delivering thread, so the lockspace
// stops, but the transport's rescue thread keeps the heartbeats going
// (net/tcp_transport.h).
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "common/logging.h"
#include "dlm/lockspace.h"
#include "net/auth.h"
#include "net/cluster_config.h"
#include "net/tcp_transport.h"
#include "tools/command.h"

namespace cohort::tools {
namespace {

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop = true; }

constexpr size_t kMaxClients = 256;
constexpr size_t kMaxLine = 4096;

// One client connection. Shared with the completion callbacks of its requests, so the
// fd stays valid (and is never reused) while a callback may still write to it.
class Client {
 public:
  explicit Client(int fd) : fd_(fd) {}
  ~Client() { ::close(fd_); }
  int fd() const { return fd_; }
  void Write(const std::string& line) {
    std::lock_guard<std::mutex> l(mu_);
    if (dead_) return;
    std::string s = line + "\n";
    size_t off = 0;
    while (off < s.size()) {
      ssize_t n = ::send(fd_, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        dead_ = true;
        return;
      }
      off += static_cast<size_t>(n);
    }
  }
  void MarkDead() {
    std::lock_guard<std::mutex> l(mu_);
    dead_ = true;
  }
  std::string inbuf;

 private:
  const int fd_;
  std::mutex mu_;
  bool dead_ = false;
};

bool ParseMode(const std::string& s, dlm::LockMode* m) {
  static const std::map<std::string, dlm::LockMode> kModes = {
      {"NL", dlm::LockMode::kNL}, {"CR", dlm::LockMode::kCR}, {"CW", dlm::LockMode::kCW},
      {"PR", dlm::LockMode::kPR}, {"PW", dlm::LockMode::kPW}, {"EX", dlm::LockMode::kEX}};
  auto it = kModes.find(s);
  if (it == kModes.end()) return false;
  *m = it->second;
  return true;
}

std::string LvbText(const dlm::Lvb& lvb) {
  size_t n = 0;
  while (n < lvb.size() && lvb[n] != 0) ++n;
  return std::string(lvb.begin(), lvb.begin() + static_cast<long>(n));
}

class LockDaemon {
 public:
  LockDaemon(dlm::Lockspace* ls, net::TcpTransport* t, bool test_faults)
      : ls_(ls), t_(t), test_faults_(test_faults) {}

  void Handle(const std::shared_ptr<Client>& c, const std::string& line) {
    std::istringstream in(line);
    std::string cmd;
    in >> cmd;
    if (cmd == "lock") {
      Lock(c, in);
    } else if (cmd == "unlock") {
      Unlock(c, in);
    } else if (cmd == "status") {
      net::MembershipView v = ls_->view();
      c->Write("view " + v.ToString().substr(4) + (ls_->recovering() ? " recovering" : ""));
    } else if (cmd == "locks") {
      for (const dlm::OwnLockInfo& l : ls_->OwnLocks()) {
        c->Write("lock " + std::to_string(l.id) + " " + dlm::KeyToString(l.key) + " " +
                 dlm::ModeName(l.grmode));
      }
      c->Write(".");
    } else if (cmd == "dump") {
      std::istringstream d(ls_->Dump());
      std::string l;
      for (int i = 0; i < 1000000 && std::getline(d, l); ++i) c->Write(l == "." ? ". " : l);
      c->Write(".");
    } else if ((cmd == "block" || cmd == "unblock") && test_faults_) {
      net::NodeId n = 0;
      in >> n;
      t_->TEST_BlockPeer(n, cmd == "block");
      c->Write("ok");
    } else {
      c->Write("error InvalidArgument unknown command '" + cmd + "'");
    }
  }

 private:
  void Lock(const std::shared_ptr<Client>& c, std::istringstream& in) {
    std::string name, mode_s, w;
    in >> name >> mode_s;
    dlm::LockRequest req;
    if (name.empty() || !ParseMode(mode_s, &req.mode)) {
      return c->Write("error InvalidArgument usage: lock NAME MODE [START-END] [try] "
                      "[valblk] [timeout=MS]");
    }
    for (int i = 0; i < 16 && in >> w; ++i) {
      if (w == "try") {
        req.flags |= dlm::kNoQueue;
      } else if (w == "valblk") {
        req.flags |= dlm::kValBlk;
      } else if (w.rfind("timeout=", 0) == 0) {
        req.flags |= dlm::kTimeout;
        req.timeout = std::stoll(w.substr(8)) * kNanosPerMilli;
      } else if (size_t dash = w.find('-'); dash != std::string::npos) {
        req.range.start = std::stoull(w.substr(0, dash));
        req.range.end = std::stoull(w.substr(dash + 1));
      } else {
        return c->Write("error InvalidArgument unknown option '" + w + "'");
      }
    }
    req.name = name;
    std::weak_ptr<Client> wc = c;
    req.on_complete = [this, wc](const dlm::Completion& done) {
      std::string id = std::to_string(done.id);
      if (done.unlocked) {
        // Tell the client that asked for the unlock (not the one that locked).
        std::shared_ptr<Client> waiter;
        {
          std::lock_guard<std::mutex> l(waiters_mu_);
          auto it = unlock_waiters_.find(done.id);
          if (it != unlock_waiters_.end()) {
            waiter = it->second.lock();
            unlock_waiters_.erase(it);
          }
        }
        if (waiter) waiter->Write("unlocked " + id);
        return;
      }
      auto cl = wc.lock();
      if (!cl) return;
      if (done.status == Code::kOk) {
        std::string s = "granted " + id + " " + dlm::ModeName(done.granted);
        if (done.lvb_valid_read) s += " lvb=" + LvbText(done.lvb);
        if (done.lvb_invalid) s += " lvb-invalid";
        cl->Write(s);
      } else {
        cl->Write("error " + id + " " + CodeName(done.status));
      }
    };
    req.on_blocking = [](dlm::LockId, dlm::LockMode) {};
    Result<dlm::LockId> r = ls_->Lock(std::move(req));
    if (!r.ok()) c->Write(std::string("error ") + CodeName(r.code()));
  }

  void Unlock(const std::shared_ptr<Client>& c, std::istringstream& in) {
    std::string id_s, w;
    in >> id_s;
    dlm::LockId id = 0;
    try {
      id = std::stoull(id_s);
    } catch (...) {
      return c->Write("error InvalidArgument usage: unlock ID [lvb=TEXT]");
    }
    dlm::Lvb lvb{};
    bool with_lvb = false;
    if (in >> w && w.rfind("lvb=", 0) == 0) {
      std::string text = w.substr(4, lvb.size());
      std::copy(text.begin(), text.end(), lvb.begin());
      with_lvb = true;
    }
    uint32_t flags = with_lvb ? static_cast<uint32_t>(dlm::kValBlk) : 0u;
    {
      // Before Unlock(): its completion may run on this thread before it returns.
      std::lock_guard<std::mutex> l(waiters_mu_);
      unlock_waiters_[id] = c;
    }
    Status s = ls_->Unlock(id, flags, with_lvb ? &lvb : nullptr);
    // Otherwise the lock's completion callback says "unlocked ID" when it is done.
    if (!s.ok()) {
      {
        std::lock_guard<std::mutex> l(waiters_mu_);
        unlock_waiters_.erase(id);
      }
      c->Write(std::string("error ") + CodeName(s.code()));
    }
  }

  dlm::Lockspace* const ls_;
  net::TcpTransport* const t_;
  const bool test_faults_;
  std::mutex waiters_mu_;  // leaf: nothing is called while it is held
  std::map<dlm::LockId, std::weak_ptr<Client>> unlock_waiters_;
};

int ListenUnix(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (fd < 0 || path.size() >= sizeof sa.sun_path) return -1;
  std::strcpy(sa.sun_path, path.c_str());
  ::unlink(path.c_str());
  mode_t old = ::umask(077);
  int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  ::umask(old);
  if (rc != 0 || ::listen(fd, 64) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

int RunLockd(const std::string& cluster_file, int node, std::string socket_path,
             const std::string& lockspace, bool test_faults, bool inline_delivery,
             int io_threads, const std::string& log_level) {
  LogLevel level = LogLevel::kInfo;
  ParseLogLevel(log_level, &level);
  SetLogLevel(level);
  Result<net::ClusterConfig> config = net::LoadClusterConfig(cluster_file);
  if (!config.ok()) {
    std::fprintf(stderr, "cohort lockd: %s\n", config.status().ToString().c_str());
    return 1;
  }
  const net::NodeConfig* me = config->Find(static_cast<net::NodeId>(node));
  if (me == nullptr) {
    std::fprintf(stderr, "cohort lockd: node %d is not in %s\n", node, cluster_file.c_str());
    return 1;
  }
  SetLogNode(me->name);
  Result<std::vector<uint8_t>> key = net::LoadKeyFile(config->key_file);
  if (!key.ok()) {
    std::fprintf(stderr, "cohort lockd: %s\n", key.status().ToString().c_str());
    return 1;
  }
  if (socket_path.empty()) {
    socket_path = "/tmp/cohort-lockd-" + config->cluster_name + "-" + me->name + ".sock";
  }
  net::TcpTransportOptions topts;
  topts.deliver_on_io_thread = inline_delivery;
  topts.io_threads = io_threads;
  Result<std::unique_ptr<net::TcpTransport>> t =
      net::TcpTransport::Create(*config, me->id, *key, topts);
  if (!t.ok()) {
    std::fprintf(stderr, "cohort lockd: %s\n", t.status().ToString().c_str());
    return 1;
  }
  dlm::LockspaceOptions opts;
  opts.name = lockspace;
  auto ls = std::make_unique<dlm::Lockspace>(t->get(), opts);  // registers the handler
  Status s = (*t)->Start();
  if (!s.ok()) {
    std::fprintf(stderr, "cohort lockd: %s\n", s.ToString().c_str());
    return 1;
  }
  int lfd = ListenUnix(socket_path);
  if (lfd < 0) {
    std::fprintf(stderr, "cohort lockd: cannot listen on %s: %s\n", socket_path.c_str(),
                 std::strerror(errno));
    (*t)->Stop();
    return 1;
  }
  signal(SIGINT, OnSignal);
  signal(SIGTERM, OnSignal);
  signal(SIGPIPE, SIG_IGN);
  std::printf("lockd node %u listening on %s\n", me->id, socket_path.c_str());
  std::fflush(stdout);
  LockDaemon daemon(ls.get(), t->get(), test_faults);
  std::vector<std::shared_ptr<Client>> clients;
  while (!g_stop) {
    std::vector<pollfd> fds;
    fds.push_back({lfd, POLLIN, 0});
    for (auto& c : clients) fds.push_back({c->fd(), POLLIN, 0});
    int n = ::poll(fds.data(), fds.size(), 100);
    ls->Tick();
    if (n <= 0) continue;
    std::vector<std::shared_ptr<Client>> keep;
    if ((fds[0].revents & POLLIN) != 0) {
      int cfd = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
      if (cfd >= 0 && clients.size() < kMaxClients) {
        keep.push_back(std::make_shared<Client>(cfd));
      } else if (cfd >= 0) {
        ::close(cfd);
      }
    }
    for (size_t i = 1; i < fds.size(); ++i) {
      auto& c = clients[i - 1];
      bool alive = true;
      if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
        char buf[4096];
        ssize_t r = ::recv(c->fd(), buf, sizeof buf, 0);
        if (r <= 0) {
          alive = false;
        } else {
          c->inbuf.append(buf, static_cast<size_t>(r));
          size_t nl;
          while ((nl = c->inbuf.find('\n')) != std::string::npos) {
            std::string line = c->inbuf.substr(0, nl);
            c->inbuf.erase(0, nl + 1);
            daemon.Handle(c, line);
          }
          if (c->inbuf.size() > kMaxLine) alive = false;
        }
      }
      if (alive) {
        keep.push_back(c);
      } else {
        c->MarkDead();
      }
    }
    clients.swap(keep);
  }
  ::close(lfd);
  ::unlink(socket_path.c_str());
  (*t)->Stop();  // no handler call after this
  ls.reset();
  return 0;
}

int RunLockctl(const std::string& socket_path, const std::vector<std::string>& words) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (fd < 0 || socket_path.size() >= sizeof sa.sun_path) return 1;
  std::strcpy(sa.sun_path, socket_path.c_str());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    std::fprintf(stderr, "cohort lockctl: %s: %s\n", socket_path.c_str(), std::strerror(errno));
    return 1;
  }
  std::string line;
  for (const std::string& w : words) line += (line.empty() ? "" : " ") + w;
  line += "\n";
  if (::send(fd, line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size())) {
    return 1;
  }
  bool multi = !words.empty() && (words[0] == "locks" || words[0] == "dump");
  std::string buf;
  int rc = 0;
  for (;;) {
    char chunk[4096];
    ssize_t r = ::recv(fd, chunk, sizeof chunk, 0);
    if (r <= 0) {
      rc = 1;
      break;
    }
    buf.append(chunk, static_cast<size_t>(r));
    size_t nl;
    bool done = false;
    while (!done && (nl = buf.find('\n')) != std::string::npos) {
      std::string l = buf.substr(0, nl);
      buf.erase(0, nl + 1);
      if (multi && l == ".") {
        done = true;
        break;
      }
      std::printf("%s\n", l.c_str());
      if (!multi) {
        done = true;
        if (l.rfind("error", 0) == 0) rc = 1;
      }
    }
    if (done) break;
  }
  ::close(fd);
  return rc;
}

CommandRegistration lockd_registration({
    "lockd",
    "join a cluster and serve a DLM lockspace over a Unix socket (no filesystem)",
    [](CLI::App* sub) -> std::function<int()> {
      struct Opts {
        std::string cluster, socket, lockspace = "lockd", log = "info";
        int node = 0;
        bool test_faults = false;
        bool inline_delivery = false;  // the default now; accepted for old scripts
        bool delivery_thread = false;
        int io_threads = 1;
      };
      auto o = std::make_shared<Opts>();
      sub->add_option("--cluster,-c", o->cluster, "cluster file (docs/operations.md §2)")
          ->required();
      sub->add_option("--node,-n", o->node, "this node's id")->required();
      sub->add_option("--socket,-s", o->socket,
                      "control socket (default /tmp/cohort-lockd-CLUSTER-NAME.sock)");
      sub->add_option("--lockspace", o->lockspace, "lockspace name");
      sub->add_option("--log", o->log, "log level: trace|debug|info|warn|error|off");
      sub->add_flag("--test-faults", o->test_faults,
                    "TEST: accept block/unblock N on the control socket");
      sub->add_flag("--inline-delivery", o->inline_delivery,
                    "run the lockspace on the network I/O threads (the default; kept for "
                    "old scripts)");
      sub->add_flag("--delivery-thread", o->delivery_thread,
                    "run the lockspace on a dedicated transport delivery thread instead "
                    "(one thread hand-off more each way; the former default)");
      sub->add_option("--io-threads", o->io_threads,
                      "network I/O threads (default 1)")
          ->check(CLI::Range(1, 16));
      return [o] {
        return RunLockd(o->cluster, o->node, o->socket, o->lockspace, o->test_faults,
                        !o->delivery_thread, o->io_threads, o->log);
      };
    }});

CommandRegistration lockctl_registration({
    "lockctl",
    "send one command to a `cohort lockd` (lock NAME MODE | unlock ID | status | locks | dump)",
    [](CLI::App* sub) -> std::function<int()> {
      struct Opts {
        std::string socket;
        std::vector<std::string> words;
      };
      auto o = std::make_shared<Opts>();
      sub->add_option("--socket,-s", o->socket, "the lockd control socket")->required();
      sub->add_option("command", o->words, "the command and its arguments")->required();
      return [o] { return RunLockctl(o->socket, o->words); };
    }});

}  // namespace
}  // namespace cohort::tools
