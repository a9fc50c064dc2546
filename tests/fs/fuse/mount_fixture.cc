// tests/fs/fuse/mount_fixture.cc: see mount_fixture.h.
#include "tests/fs/fuse/mount_fixture.h"

#include "fs/block_device.h"
#include "tests/fs/core/fs_fixture.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/xattr.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <sstream>

#include <gtest/gtest.h>

namespace cohort::testing {

std::string ReadFile(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int WriteFile(const std::string& p, const std::string& data) {
  int fd = open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return errno;
  ssize_t n = write(fd, data.data(), data.size());
  int e = n == static_cast<ssize_t>(data.size()) ? 0 : (n < 0 ? errno : EIO);
  if (close(fd) != 0 && e == 0) e = errno;
  return e;
}

std::set<std::string> ListDir(const std::string& dir) {
  std::set<std::string> names;
  DIR* d = opendir(dir.c_str());
  if (!d) return names;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.insert(n);
  }
  closedir(d);
  return names;
}

std::string DataDigest(const std::string& data) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char ch : data) {
    h ^= ch;
    h *= 1099511628211ull;
  }
  std::ostringstream o;
  o << std::hex << h;
  return o.str();
}

std::string TreeDiff(const std::map<std::string, std::string>& got,
                     const std::map<std::string, std::string>& want) {
  std::ostringstream o;
  int shown = 0;
  for (const auto& [k, v] : want) {
    auto it = got.find(k);
    if (it == got.end()) {
      o << "  missing " << k << " (" << v << ")\n";
    } else if (it->second != v) {
      o << "  differs " << k << ": got (" << it->second << ") want (" << v << ")\n";
    } else {
      continue;
    }
    if (++shown >= 20) return o.str() + "  ...\n";
  }
  for (const auto& [k, v] : got) {
    if (want.count(k)) continue;
    o << "  extra " << k << " (" << v << ")\n";
    if (++shown >= 20) return o.str() + "  ...\n";
  }
  return o.str();
}

static void TreeWalk(const std::string& root, const std::string& rel, int depth,
                     std::map<std::string, std::string>* out) {
  std::string abs = rel.empty() ? root : root + "/" + rel;
  DIR* d = opendir(abs.c_str());
  if (!d) {
    (*out)[rel + "/"] = "!" + std::to_string(errno);
    return;
  }
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  closedir(d);
  for (const std::string& n : names) {
    std::string r = rel.empty() ? n : rel + "/" + n;
    std::string a = root + "/" + r;
    struct stat st;
    if (lstat(a.c_str(), &st) != 0) {
      (*out)[r] = "!" + std::to_string(errno);
      continue;
    }
    std::ostringstream v;
    v << std::oct << (st.st_mode & 07777) << std::dec << " nlink=" << st.st_nlink;
    if (S_ISDIR(st.st_mode)) {
      v << " dir";
    } else if (S_ISLNK(st.st_mode)) {
      char buf[4096];
      ssize_t k = readlink(a.c_str(), buf, sizeof buf);
      v << " link->" << (k >= 0 ? std::string(buf, static_cast<size_t>(k)) : "!");
    } else {
      v << " size=" << st.st_size << " data=" << DataDigest(ReadFile(a));
    }
    char names_buf[4096];
    ssize_t xl = llistxattr(a.c_str(), names_buf, sizeof names_buf);
    if (xl < 0 && errno != ENOTSUP) v << " xattrs:!" << errno;
    std::map<std::string, std::string> xattrs;  // sorted: the order of the list is not part of it
    for (ssize_t i = 0; i < xl;) {
      std::string xn(names_buf + i);
      i += static_cast<ssize_t>(xn.size()) + 1;
      char val[1024];
      ssize_t vl = lgetxattr(a.c_str(), xn.c_str(), val, sizeof val);
      xattrs[xn] = vl >= 0 ? std::string(val, static_cast<size_t>(vl)) : "!";
    }
    for (const auto& [xn, xv] : xattrs) v << " x:" << xn << "=" << xv;
    (*out)[r] = v.str();
    if (S_ISDIR(st.st_mode) && depth < 32) TreeWalk(root, r, depth + 1, out);
  }
}

std::map<std::string, std::string> TreeOf(const std::string& root) {
  std::map<std::string, std::string> out;
  TreeWalk(root, "", 0, &out);
  return out;
}

// A daemon that does not exit in time: record every thread's stack in its log (for
// the failure message), then kill it.
static void DumpStacksTo(Subprocess* p, const std::string& log, const std::string& why) {
  std::string out;
  if (access("/usr/bin/gdb", X_OK) == 0) {
    RunCommand({"/usr/bin/gdb", "-p", std::to_string(p->pid()), "-batch", "-ex",
                "thread apply all bt 30"},
               &out, std::chrono::seconds(60));
  }
  std::ofstream(log, std::ios::app) << "\n--- " << why << "; stacks:\n" << out;
}

static void DumpStacksAndKill(Subprocess* p, const std::string& log) {
  DumpStacksTo(p, log, "daemon did not exit");
  p->Kill();
}

void CohortCluster::DumpStacks(int node, const std::string& why) {
  if (daemons_[node] && daemons_[node]->running()) DumpStacksTo(daemons_[node].get(), log(node), why);
}


CohortCluster::CohortCluster(ClusterSpec spec) : spec_(spec) {
  daemons_.resize(spec_.nodes + 1);
  guards_.resize(spec_.nodes + 1);
  std::random_device rd;
  // Below Linux's default ephemeral range (32768-60999): a port there can be taken at
  // any moment by some process's outgoing connection ("Address already in use", seen
  // in parallel ctest runs).
  base_port_ = 20000 + static_cast<int>(rd() % 12000);
}

CohortCluster::~CohortCluster() {
  for (int i = 1; i <= spec_.nodes; ++i) {
    if (daemons_[i] && daemons_[i]->running()) {
      daemons_[i]->Signal(SIGTERM);
      if (daemons_[i]->Wait(std::chrono::seconds(20)) == -1) daemons_[i]->Kill();
    }
    if (guards_[i]) guards_[i]->Unmount();
  }
  if (!loop_.empty()) {
    std::string out;
    if (RunCommand({"/usr/sbin/losetup", "-d", loop_}, &out) != 0) {
      ADD_FAILURE() << "losetup -d " << loop_ << ": " << out;
    }
  }
}

bool CohortCluster::Setup() {
  // Other users (permission tests) must be able to reach the mount points.
  chmod(dir_.path().c_str(), 0755);
  image_ = dir_.Sub("disk.img");
  {
    std::ofstream f(image_);
  }
  if (truncate(image_.c_str(), static_cast<off_t>(spec_.image_bytes)) != 0) {
    ADD_FAILURE() << "truncate image";
    return false;
  }
  device_ = image_;
  if (spec_.loop_device) {
    std::string out;
    int rc = RunCommand({"/usr/sbin/losetup", "--find", "--show", "--direct-io=on", image_}, &out);
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    if (rc != 0 || out.rfind("/dev/loop", 0) != 0) {
      std::string why = "losetup failed (" + std::to_string(rc) + "): " + out;
      if (InCi()) {
        ADD_FAILURE() << "loop device unavailable under CI=true: " << why;
      } else {
        skip_reason_ = why;
      }
      return false;
    }
    // losetup may print a warning line before the device name.
    auto nl = out.rfind('\n');
    loop_ = nl == std::string::npos ? out : out.substr(nl + 1);
    device_ = loop_;
  }
  int journals = spec_.journals ? spec_.journals : spec_.nodes;
  std::string out;
  std::vector<std::string> argv{COHORT_MKFS, "-q", "-c", "testcluster", "-j",
                                std::to_string(journals), "-J", "16M"};
  std::istringstream extra(spec_.mkfs_extra);
  for (std::string w; extra >> w;) argv.push_back(w);
  argv.push_back(device_);
  int rc = RunCommand(argv, &out);
  if (rc != 0) {
    ADD_FAILURE() << "mkfs.cohort failed (" << rc << "): " << out;
    return false;
  }
  std::string key = dir_.Sub("cluster.key");
  {
    std::ofstream k(key);
    k << "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n";
  }
  chmod(key.c_str(), 0600);
  cluster_file_ = dir_.Sub("cluster.toml");
  std::ofstream c(cluster_file_);
  c << "[cluster]\nname = \"testcluster\"\nkey_file = \"cluster.key\"\n\n"
    << "[timeouts]\nheartbeat_interval_ms = 100\ndead_timeout_ms = 1500\n"
    << "reconnect_interval_ms = 100\n";
  for (int i = 1; i <= spec_.nodes; ++i) {
    c << "\n[[node]]\nid = " << i << "\nname = \"n" << i << "\"\naddress = \"127.0.0." << i
      << ":" << base_port_ << "\"\n";
    mkdir(mnt(i).c_str(), 0755);
  }
  return true;
}

std::string CohortCluster::MountOptions(int node) const {
  std::string o = "cluster=" + cluster_file_ + ",node=" + std::to_string(node) +
                  ",quorum_timeout=60,allow_other,stats=" + stats_file(node) + MountExtra();
  auto it = spec_.node_options.find(node);
  if (it != spec_.node_options.end()) o += "," + it->second;
  return o;
}

bool CohortCluster::StartAll() {
  for (int i = 1; i <= spec_.nodes; ++i) {
    daemons_[i] = std::make_unique<Subprocess>();
    std::string err;
    if (!daemons_[i]->Start({COHORT_BIN, "mount", device_, mnt(i), "-f", "-o", MountOptions(i)},
                            log(i), &err)) {
      ADD_FAILURE() << err;
      return false;
    }
    guards_[i] = std::make_unique<MountGuard>(mnt(i));
  }
  for (int i = 1; i <= spec_.nodes; ++i) {
    if (!guards_[i]->WaitMounted(std::chrono::seconds(60))) {
      ADD_FAILURE() << "node " << i << " did not mount:\n" << ReadLog(i);
      return false;
    }
  }
  return true;
}

bool CohortCluster::Start(int node) {
  daemons_[node] = std::make_unique<Subprocess>();
  std::string err;
  if (!daemons_[node]->Start({COHORT_BIN, "mount", device_, mnt(node), "-f", "-o",
                              MountOptions(node)},
                             log(node), &err)) {
    ADD_FAILURE() << err;
    return false;
  }
  guards_[node] = std::make_unique<MountGuard>(mnt(node));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    if (IsFuseMounted(mnt(node))) return true;
    if (daemons_[node]->Wait(std::chrono::milliseconds(20)) != -1) {
      ADD_FAILURE() << "daemon " << node << " exited before mounting:\n" << ReadLog(node);
      return false;
    }
  }
  ADD_FAILURE() << "node " << node << " did not mount in 60 s:\n" << ReadLog(node);
  return false;
}

namespace {
std::map<std::string, uint64_t> ReadStats(const std::string& path) {
  std::map<std::string, uint64_t> m;
  std::ifstream f(path);
  std::string k;
  uint64_t v;
  while (f >> k >> v) m[k] = v;
  return m;
}
}  // namespace

std::map<std::string, uint64_t> CohortCluster::Stats(int node) {
  uint64_t seq = ReadStats(stats_file(node))["seq"];
  if (!daemons_[node]) {
    ADD_FAILURE() << "node " << node << " is not running";
    return {};
  }
  daemons_[node]->Signal(SIGUSR1);
  for (int i = 0; i < 1000; ++i) {
    auto m = ReadStats(stats_file(node));
    if (m["seq"] > seq) return m;
    usleep(10000);
  }
  ADD_FAILURE() << "node " << node << " wrote no statistics to " << stats_file(node);
  return {};
}

int CohortCluster::Stop(int node) {
  if (!daemons_[node]) return -1;
  daemons_[node]->Signal(SIGTERM);
  int st = daemons_[node]->Wait(std::chrono::seconds(30));
  if (st == -1) DumpStacksAndKill(daemons_[node].get(), log(node));
  if (guards_[node]) guards_[node]->Unmount();
  return st;
}

void CohortCluster::UnmountAndCheck(int n) {
  for (int i = 1; i <= n; ++i) {
    int st = Unmount(i);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "node " << i << "\n" << ReadLog(i);
  }
  fs::FileBlockDevice::Options o;
  o.read_only = true;
  auto dev = fs::FileBlockDevice::Open(device(), o);
  EXPECT_TRUE(dev.ok()) << dev.status().ToString();
  if (!dev.ok()) return;
  Status s = fs::testing::CheckFilesystem(dev->get());
  EXPECT_TRUE(s.ok()) << s.ToString();
}

int CohortCluster::Unmount(int node) {
  std::string out;
  int rc = RunCommand({"/usr/bin/fusermount3", "-u", mnt(node)}, &out);
  if (rc != 0) std::ofstream(log(node), std::ios::app) << "\n--- fusermount3 -u: " << out;
  int st = daemons_[node] ? daemons_[node]->Wait(std::chrono::seconds(30)) : -1;
  if (st == -1 && daemons_[node]) DumpStacksAndKill(daemons_[node].get(), log(node));
  return st;
}

void CohortCluster::Kill(int node) {
  if (daemons_[node]) daemons_[node]->Kill();
  std::string out;
  RunCommand({"/usr/bin/fusermount3", "-u", "-z", mnt(node)}, &out);
}

std::string CohortCluster::LogProblems(int node) const {
  std::istringstream in(ReadLog(node));
  std::string out;
  for (std::string line; std::getline(in, line);) {
    if (line.find("warn") != std::string::npos || line.find("error") != std::string::npos ||
        line.find("WARN") != std::string::npos || line.find("ERROR") != std::string::npos) {
      if (out.size() < 4000) out += line + "\n";
    }
  }
  return out;
}

std::string CohortCluster::ReadLog(int node) const {
  std::ifstream in(log(node));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace cohort::testing
