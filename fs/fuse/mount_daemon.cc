// fs/fuse/mount_daemon.cc: the mount daemon (see mount_daemon.h).
#include "fs/fuse/mount_daemon.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
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
  void set_target(KernelInvalidator* t) { target_.store(t); }

 private:
  std::atomic<KernelInvalidator*> target_{nullptr};
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

  auto transport = net::TcpTransport::Create(*config, self->id, std::move(*key));
  if (!transport.ok()) return fail(transport.status().ToString());
  dlm::LockspaceOptions lopt;
  lopt.name = config->cluster_name;
  auto ls = std::make_unique<dlm::Lockspace>(transport->get(), lopt);
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
  // ... and for the view to settle: it must stay the same for several heartbeats before
  // any lock is taken. While nodes are starting, the view agreement can briefly leave
  // two overlapping majorities each believing itself quorate (a known defect of
  // net/membership, see docs/wire-protocol.md §7 "Known issue"); taking the journal
  // slot's lock then could grant it twice. Waiting out the churn avoids that window at
  // start-up; the membership fix itself is still to do.
  const auto settle = std::chrono::nanoseconds(std::max<Nanos>(
      3 * config->heartbeat_interval, 300 * kNanosPerMilli));
  bool said = false;
  uint64_t seen_gen = 0;
  auto stable_since = std::chrono::steady_clock::now();
  while (true) {
    net::MembershipView v = ls->view();
    auto now = std::chrono::steady_clock::now();
    if (v.generation != seen_gen) {
      seen_gen = v.generation;
      stable_since = now;
    }
    if (v.quorate && !ls->recovering() && now - stable_since >= settle) break;
    if (now > deadline) {
      return fail("no quorum after " + std::to_string(cmd.quorum_timeout_seconds) +
                  " s: " + v.ToString() + " (are the other nodes up?)");
    }
    if (!said && !v.quorate) {
      COHORT_LOG_INFO("waiting for quorum: {}", v.ToString());
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

  FuseServerOptions fopt;
  fopt.mountpoint = cmd.mountpoint;
  fopt.fsname = "cohort:" + cmd.device;
  // As root, serve every user (permissions are enforced by default_permissions); a
  // non-root daemon needs user_allow_other in /etc/fuse.conf for that, so asks for it.
  fopt.allow_other = cmd.allow_other || geteuid() == 0;
  fopt.read_only = cmd.read_only || (*fs)->read_only();
  fopt.debug = cmd.debug;
  fopt.extra_options = cmd.fuse_options;
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
  Status u = (*fs)->Unmount();
  COHORT_LOG_INFO("filesystem released; leaving the cluster");
  (*server)->Unmount();
  server->reset();
  fs->reset();  // every DLM lock is released by now (Unmount)
  // Stop the transport before destroying its handler: peers still send (membership,
  // recovery when this node leaves), and no handler call may reach a freed lockspace
  // (net/transport.h: no handler call after Stop() returns). Stop is idempotent.
  (*transport)->Stop();
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
    } else if (k == "debug") {
      cmd->debug = true;
    } else if (k == "logfile") {
      cmd->logfile = std::string(v);
    } else if (k == "loglevel") {
      LogLevel l;
      if (!ParseLogLevel(v, &l)) return Status::InvalidArgument("loglevel= trace|debug|info|warn|error");
      cmd->log_level = std::string(v);
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
