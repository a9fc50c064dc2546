// fs/fuse/mount_daemon.cc: the mount daemon (see mount_daemon.h).
#include "fs/fuse/mount_daemon.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <thread>

#include "common/logging.h"
#include "dlm/lockspace.h"
#include "fs/block_device.h"
#include "fs/core/filesystem.h"
#include "fs/fuse/fuse_server.h"
#include "fs/superblock.h"
#include "net/auth.h"
#include "net/cluster_config.h"
#include "net/tcp_transport.h"

namespace cohort::fs {
namespace {

// Forwards kernel invalidations to the FUSE server once it exists.
class ForwardingInvalidator final : public KernelInvalidator {
 public:
  void InvalidateAttributes(uint64_t ino) override {
    KernelInvalidator* t = target_.load();
    if (t) t->InvalidateAttributes(ino);
  }
  void InvalidateEntries(uint64_t parent, std::vector<std::string> names,
                         std::function<void()> done) override {
    KernelInvalidator* t = target_.load();
    if (t) {
      t->InvalidateEntries(parent, std::move(names), std::move(done));
    } else if (done) {
      done();
    }
  }
  bool ExpireAllEntries() override {
    KernelInvalidator* t = target_.load();
    return t != nullptr && t->ExpireAllEntries();
  }
  void set_target(KernelInvalidator* t) { target_.store(t); }

 private:
  std::atomic<KernelInvalidator*> target_{nullptr};
};

// Passes the lockspace's membership views to the filesystem once it exists; the view
// of set_target() time is passed at once, so a change during the mount is not missed.
class ViewForwarder {
 public:
  void OnView(const net::MembershipView& v) {
    MutexLock l(&mu_);
    latest_ = v;
    if (target_) target_->OnMembershipView(v);
  }
  void set_target(FileSystem* fs) {
    MutexLock l(&mu_);
    target_ = fs;
    if (target_ && latest_.generation != 0) target_->OnMembershipView(latest_);
  }

 private:
  Mutex mu_{LockRank::kUnranked, "fs.view_forwarder"};
  FileSystem* target_ GUARDED_BY(mu_) = nullptr;
  net::MembershipView latest_ GUARDED_BY(mu_);
};

// Reports the mount's outcome to the waiting parent (detached mode) exactly once.
class Notifier {
 public:
  explicit Notifier(int fd) : fd_(fd) {}
  void Report(const std::string& msg) {
    if (fd_ < 0) return;
    ssize_t n = write(fd_, msg.data(), msg.size());
    (void)n;
    close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

// ---- statistics on SIGUSR1 (docs/operations.md "Statistics") ----
//
// The signal handler only writes a byte to a pipe (async-signal-safe); a small thread
// reads it and writes the stats file (to PATH.tmp, then renames it over PATH, so a
// reader never sees half a file).
std::atomic<int> g_stats_pipe_write{-1};  // lock-free: safe in a signal handler

void OnStatsSignal(int) {
  int saved = errno;
  char b = 's';
  int fd = g_stats_pipe_write.load();
  if (fd >= 0) {
    ssize_t n = write(fd, &b, 1);
    (void)n;
  }
  errno = saved;
}

std::string FormatStats(uint64_t seq, uint32_t node, const dlm::Lockspace& ls) {
  dlm::MessageCounts mc = ls.message_counts();
  std::string out;
  auto line = [&](const std::string& k, uint64_t v) { out += k + " " + std::to_string(v) + "\n"; };
  line("seq", seq);
  line("node", node);
  line("dlm.sent.total", mc.TotalSent());
  line("dlm.received.total", mc.TotalReceived());
  for (size_t t = 1; t < dlm::kMsgTypeSlots; ++t) {
    std::string name = dlm::MsgTypeName(static_cast<dlm::MsgType>(t));
    line("dlm.sent." + name, mc.sent[t]);
    line("dlm.received." + name, mc.received[t]);
  }
  line("dlm.resources", ls.resource_count());
  line("dlm.directory_entries", ls.directory_size());
  out += FuseServer::FormatRequestCounts();
  return out;
}

class StatsReporter {
 public:
  StatsReporter(std::string path, uint32_t node, const dlm::Lockspace* ls)
      : path_(std::move(path)), node_(node), ls_(ls) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
      COHORT_LOG_WARN("stats: pipe: {}", std::strerror(errno));
      return;
    }
    rd_ = fds[0];
    wr_ = fds[1];
    g_stats_pipe_write.store(wr_);
    struct sigaction sa {};
    sa.sa_handler = OnStatsSignal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, nullptr);
    thread_ = std::thread([this] { Run(); });
  }
  ~StatsReporter() {
    if (rd_ < 0) return;
    signal(SIGUSR1, SIG_IGN);
    g_stats_pipe_write.store(-1);
    stop_.store(true);
    char b = 'q';
    ssize_t n = write(wr_, &b, 1);
    (void)n;
    if (thread_.joinable()) thread_.join();
    close(rd_);
    close(wr_);
  }
 private:
  void Run() {
    while (!stop_.load()) {
      pollfd p{rd_, POLLIN, 0};
      if (poll(&p, 1, -1) < 0 && errno != EINTR) return;
      char buf[64];
      bool want = false;
      ssize_t n;
      while ((n = read(rd_, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < n; ++i) want |= buf[i] == 's';
      }
      if (stop_.load()) return;
      if (want) Write();
    }
  }
  void Write() {
    ++seq_;
    std::string text = FormatStats(seq_, node_, *ls_);
    if (path_.empty()) {
      COHORT_LOG_INFO("stats:\n{}", text);
      return;
    }
    std::string tmp = path_ + ".tmp";
    int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
      COHORT_LOG_WARN("stats: {}: {}", tmp, std::strerror(errno));
      return;
    }
    ssize_t w = write(fd, text.data(), text.size());
    close(fd);
    if (w != static_cast<ssize_t>(text.size()) || rename(tmp.c_str(), path_.c_str()) != 0) {
      COHORT_LOG_WARN("stats: could not write {}", path_);
    }
  }

  const std::string path_;
  const uint32_t node_;
  const dlm::Lockspace* const ls_;
  std::atomic<bool> stop_{false};
  uint64_t seq_ = 0;  // only the thread touches it
  int rd_ = -1, wr_ = -1;
  std::thread thread_;
};

bool ParseUint(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 19) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = v;
  return true;
}

int Serve(const MountCommand& cmd, Notifier* notify) {
  auto fail = [&](const std::string& msg) {
    COHORT_LOG_ERROR("{}", msg);
    notify->Report("cohort mount: " + msg + "\n");
    return 1;
  };
  auto config = net::LoadClusterConfig(cmd.cluster_file);
  if (!config.ok()) return fail(config.status().ToString());
  const net::NodeConfig* self = nullptr;
  if (cmd.node_id) {
    self = config->Find(cmd.node_id);
    if (!self) return fail("node " + std::to_string(cmd.node_id) + " is not in " + cmd.cluster_file);
  } else {
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    self = config->FindByName(host);
    if (!self) {
      return fail(std::string("no node named '") + host + "' in " + cmd.cluster_file +
                  "; say which with -o node=ID");
    }
  }
  SetLogNode("n" + std::to_string(self->id));
  auto key = net::LoadKeyFile(config->key_file);
  if (!key.ok()) return fail(key.status().ToString());

  FileBlockDevice::Options dopt;
  dopt.read_only = cmd.read_only;
  auto dev = FileBlockDevice::Open(cmd.device, dopt);
  if (!dev.ok()) return fail(dev.status().ToString());

  // The glock placement rule (docs/locking.md §2.5) comes from the superblock's group
  // geometry, which never changes: read it before the lockspace exists, so the rule is
  // in force from the first message. FileSystem::Mount reads and checks it again.
  auto sb = ReadSuperblock(**dev);
  if (!sb.ok()) return fail(cmd.device + ": " + sb.status().ToString());

  auto transport = net::TcpTransport::Create(*config, self->id, std::move(*key));
  if (!transport.ok()) return fail(transport.status().ToString());
  ViewForwarder views;  // outlives the lockspace (declared first)
  dlm::LockspaceOptions lopt;
  lopt.name = config->cluster_name;
  lopt.on_view = [&views](const net::MembershipView& v) { views.OnView(v); };
  lopt.dir_hint = GlockPlacement{sb->ag_start, sb->ag_blocks, sb->max_nodes};
  auto ls = std::make_unique<dlm::Lockspace>(transport->get(), lopt);
  // Statistics on SIGUSR1; destroyed (thread joined) before the lockspace.
  auto stats = std::make_unique<StatsReporter>(cmd.stats_file, self->id, ls.get());
  // On every way out of this function the transport stops before the lockspace (its
  // handler) is destroyed: this guard is destroyed first.
  struct StopFirst {
    net::TcpTransport* t;
    ~StopFirst() { t->Stop(); }
  } stop_first{transport->get()};
  Status s = (*transport)->Start();
  if (!s.ok()) return fail(s.ToString());

  // Wait for quorum: a node without it may not take locks (DESIGN.md §3).
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::milliseconds(static_cast<int64_t>(cmd.quorum_timeout_seconds * 1000));
  // Only quorum and a finished recovery are waited for, not a settled view: a quorate
  // view is never overlapped by another quorate view with other members while both
  // are acted on (net/membership, docs/wire-protocol.md §7.5), so the journal slot's
  // lock cannot be granted twice, also while nodes are starting.
  bool said = false;
  while (!ls->view().quorate || ls->recovering()) {
    if (std::chrono::steady_clock::now() > deadline) {
      return fail("no quorum after " + std::to_string(cmd.quorum_timeout_seconds) +
                  " s: " + ls->view().ToString() + " (are the other nodes up?)");
    }
    if (!said) {
      COHORT_LOG_INFO("waiting for quorum: {}", ls->view().ToString());
      said = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }

  ForwardingInvalidator inval;
  MountOptions mopt;
  mopt.read_only = cmd.read_only;
  mopt.cluster_name = config->cluster_name;
  mopt.forced_slot = cmd.slot;
  mopt.invalidator = &inval;
  mopt.node_id = self->id;
  auto fs = FileSystem::Mount(dev->get(), ls.get(), mopt);
  if (!fs.ok()) return fail(fs.status().ToString());
  views.set_target(fs->get());
  struct ClearViews {  // destroyed before `fs` on every way out
    ViewForwarder* v;
    ~ClearViews() { v->set_target(nullptr); }
  } clear_views{&views};

  FuseServerOptions fopt;
  fopt.mountpoint = cmd.mountpoint;
  fopt.fsname = "cohort:" + cmd.device;
  // As root, serve every user (permissions are enforced by default_permissions); a
  // non-root daemon needs user_allow_other in /etc/fuse.conf for that, so asks for it.
  fopt.allow_other = cmd.allow_other || geteuid() == 0;
  fopt.read_only = cmd.read_only || (*fs)->read_only();
  fopt.debug = cmd.debug;
  fopt.extra_options = cmd.fuse_options;
  fopt.acl = cmd.acl;
  fopt.test_hold_entry_notifies = cmd.test_hold_entry_notifies;
  if (cmd.test_hold_entry_notifies) {
    COHORT_LOG_WARN("test option test_hold_entry_notifies: dentry invalidations are held "
                    "back until unmount (as if the kernel's directory locks stayed taken)");
  }
  fopt.killpriv_v2 = cmd.killpriv_v2;
  auto server = FuseServer::Create(fs->get(), fopt);
  if (!server.ok()) return fail(server.status().ToString());
  s = (*server)->Mount();
  if (!s.ok()) return fail(s.ToString());
  inval.set_target(server->get());
  COHORT_LOG_INFO("serving {} at {} (journal slot {})", cmd.device, cmd.mountpoint,
                  (*fs)->journal_slot());
  notify->Report("OK");

  s = (*server)->Loop();
  if (!s.ok()) COHORT_LOG_ERROR("{}", s.ToString());
  COHORT_LOG_INFO("FUSE session ended; committing and releasing locks");
  inval.set_target(nullptr);
  views.set_target(nullptr);
  Status u = (*fs)->Unmount();
  COHORT_LOG_INFO("filesystem released; leaving the cluster");
  (*server)->Unmount();
  server->reset();
  fs->reset();  // every DLM lock is released by now (Unmount)
  // Stop the transport before destroying its handler: peers still send (membership,
  // recovery when this node leaves), and no handler call may reach a freed lockspace
  // (net/transport.h: no handler call after Stop() returns). Stop is idempotent.
  (*transport)->Stop();
  stats.reset();
  ls.reset();
  if (!u.ok()) {
    COHORT_LOG_ERROR("unmount: {}", u.ToString());
    return 1;
  }
  COHORT_LOG_INFO("unmounted cleanly");
  return 0;
}

}  // namespace

Status ParseMountOptions(std::string_view options, MountCommand* cmd) {
  size_t pos = 0;
  while (pos <= options.size()) {
    size_t comma = options.find(',', pos);
    if (comma == std::string_view::npos) comma = options.size();
    std::string_view opt = options.substr(pos, comma - pos);
    pos = comma + 1;
    if (opt.empty()) {
      if (comma == options.size()) break;
      continue;
    }
    size_t eq = opt.find('=');
    std::string_view k = opt.substr(0, eq);
    std::string_view v = eq == std::string_view::npos ? std::string_view() : opt.substr(eq + 1);
    uint64_t n = 0;
    if (k == "cluster") {
      if (v.empty()) return Status::InvalidArgument("cluster= needs a file");
      cmd->cluster_file = std::string(v);
    } else if (k == "node") {
      if (!ParseUint(v, &n) || n == 0 || n > net::kMaxNodeId) {
        return Status::InvalidArgument("node= needs a node id 1.." + std::to_string(net::kMaxNodeId));
      }
      cmd->node_id = static_cast<uint32_t>(n);
    } else if (k == "slot") {
      if (!ParseUint(v, &n) || n > 127) return Status::InvalidArgument("slot= needs 0..127");
      cmd->slot = static_cast<int>(n);
    } else if (k == "ro") {
      cmd->read_only = true;
    } else if (k == "rw" || k == "defaults" || k == "auto" || k == "noauto" || k == "_netdev" ||
               k == "nofail" || k == "user" || k == "nouser") {
      // fstab / mount(8) options with no meaning for the daemon
    } else if (k == "allow_other") {
      cmd->allow_other = true;
    } else if (k == "acl") {
      cmd->acl = true;
    } else if (k == "noacl") {
      cmd->acl = false;
    } else if (k == "nokillpriv") {
      cmd->killpriv_v2 = false;
    } else if (k == "debug") {
      cmd->debug = true;
    } else if (k == "logfile") {
      cmd->logfile = std::string(v);
    } else if (k == "stats") {
      if (v.empty()) return Status::InvalidArgument("stats= needs a file");
      cmd->stats_file = std::string(v);
    } else if (k == "loglevel") {
      LogLevel l;
      if (!ParseLogLevel(v, &l)) return Status::InvalidArgument("loglevel= trace|debug|info|warn|error");
      cmd->log_level = std::string(v);
    } else if (k == "test_hold_entry_notifies") {
      cmd->test_hold_entry_notifies = true;  // tests only: docs/operations.md
    } else if (k == "quorum_timeout") {
      if (!ParseUint(v, &n) || n == 0) return Status::InvalidArgument("quorum_timeout= needs seconds");
      cmd->quorum_timeout_seconds = static_cast<double>(n);
    } else {
      cmd->fuse_options.emplace_back(opt);
    }
    if (comma == options.size()) break;
  }
  return Status::OK();
}

int RunMount(const MountCommand& in) {
  MountCommand cmd = in;
  // The daemon works from "/": make every path absolute first.
  auto absolute = [](std::string* p) {
    if (p->empty() || (*p)[0] == '/') return;
    char* r = realpath(p->c_str(), nullptr);
    if (r) {
      *p = r;
      free(r);
    } else {
      char cwd[4096];
      if (getcwd(cwd, sizeof cwd)) *p = std::string(cwd) + "/" + *p;
    }
  };
  absolute(&cmd.device);
  absolute(&cmd.mountpoint);
  absolute(&cmd.cluster_file);
  absolute(&cmd.logfile);
  absolute(&cmd.stats_file);
  if (cmd.cluster_file.empty()) {
    std::fprintf(stderr, "cohort mount: -o cluster=FILE is required\n");
    return 2;
  }
  struct stat st;
  if (stat(cmd.mountpoint.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    std::fprintf(stderr, "cohort mount: mount point %s is not a directory\n", cmd.mountpoint.c_str());
    return 1;
  }
  if (stat(cmd.device.c_str(), &st) != 0) {
    std::fprintf(stderr, "cohort mount: %s: %s\n", cmd.device.c_str(), std::strerror(errno));
    return 1;
  }
  LogLevel level = LogLevel::kInfo;
  (void)ParseLogLevel(cmd.log_level, &level);
  if (cmd.foreground) {
    InitLogging("cohort-mount", level);
    Notifier none(-1);
    return Serve(cmd, &none);
  }
  // Detach before any thread starts; the parent waits for the outcome on a pipe.
  int fds[2];
  if (pipe(fds) != 0) {
    std::perror("cohort mount: pipe");
    return 1;
  }
  pid_t pid = fork();
  if (pid < 0) {
    std::perror("cohort mount: fork");
    return 1;
  }
  if (pid > 0) {
    close(fds[1]);
    std::string msg;
    char buf[512];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) > 0) msg.append(buf, static_cast<size_t>(n));
    close(fds[0]);
    if (msg == "OK") return 0;
    std::fprintf(stderr, "%s", msg.empty() ? "cohort mount: the daemon died\n" : msg.c_str());
    return 1;
  }
  close(fds[0]);
  setsid();
  int devnull = open("/dev/null", O_RDWR);
  if (devnull >= 0) {
    dup2(devnull, 0);
    dup2(devnull, 1);
    if (cmd.logfile.empty()) dup2(devnull, 2);
    close(devnull);
  }
  if (!cmd.logfile.empty()) {
    int lf = open(cmd.logfile.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (lf >= 0) {
      dup2(lf, 2);
      close(lf);
    }
  }
  if (chdir("/") != 0) {
    // not fatal
  }
  InitLogging("cohort-mount", level);
  Notifier notify(fds[1]);
  int rc = Serve(cmd, &notify);
  notify.Report("cohort mount: failed (see the log)\n");
  _exit(rc);
}

}  // namespace cohort::fs
