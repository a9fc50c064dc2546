// tests/support/test_util.cc: implementation of tests/support/test_util.h.
#include "tests/support/test_util.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace cohort::testing {

bool InCi() {
  const char* ci = std::getenv("CI");
  return ci && (std::strcmp(ci, "true") == 0 || std::strcmp(ci, "1") == 0);
}

std::string FuseUnavailableReason() {
  if (access("/dev/fuse", R_OK | W_OK) != 0) return "/dev/fuse: " + std::string(strerror(errno));
  bool have_fusermount = false;
  for (const char* p : {"/usr/bin/fusermount3", "/bin/fusermount3", "/usr/local/bin/fusermount3"}) {
    if (access(p, X_OK) == 0) have_fusermount = true;
  }
  if (!have_fusermount) return "fusermount3 not installed (package fuse3)";
  std::ifstream fss("/proc/filesystems");
  std::string line;
  bool fuse_fs = false;
  while (std::getline(fss, line)) {
    if (line.find("\tfuse") != std::string::npos) fuse_fs = true;
  }
  if (!fuse_fs) return "the kernel has no fuse filesystem (/proc/filesystems)";
  return "";
}

TempDir::TempDir(const std::string& prefix) {
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/cohort-" + prefix + "-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!mkdtemp(buf.data())) {
    ADD_FAILURE() << "mkdtemp " << tmpl << ": " << strerror(errno);
    return;
  }
  path_ = buf.data();
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

Subprocess::~Subprocess() { Kill(); }

bool Subprocess::Start(const std::vector<std::string>& argv, const std::string& log_path,
                       std::string* err) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int log_fd = -1;
  if (!log_path.empty()) {
    log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  }
  pid_t pid = fork();
  if (pid < 0) {
    if (err) *err = std::string("fork: ") + strerror(errno);
    if (log_fd >= 0) close(log_fd);
    return false;
  }
  if (pid == 0) {
    // Child: its own process group, so a kill reaches what it starts too.
    setpgid(0, 0);
    if (log_fd >= 0) {
      dup2(log_fd, 1);
      dup2(log_fd, 2);
    }
    execv(args[0], args.data());
    _exit(127);
  }
  if (log_fd >= 0) close(log_fd);
  pid_ = pid;
  return true;
}

void Subprocess::Signal(int sig) {
  if (pid_ > 0) kill(pid_, sig);
}

int Subprocess::Wait(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      return status;
    }
    if (r < 0 && errno != EINTR) {
      pid_ = -1;
      return -1;
    }
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

void Subprocess::Kill() {
  if (pid_ <= 0) return;
  kill(-pid_, SIGKILL);
  kill(pid_, SIGKILL);
  int status;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

int RunCommand(const std::vector<std::string>& argv, std::string* output,
               std::chrono::milliseconds timeout) {
  char path[] = "/tmp/cohort-run-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) return -1;
  close(fd);
  int code = -1;
  {
    Subprocess p;
    if (!p.Start(argv, path)) {
      unlink(path);
      return -1;
    }
    int status = p.Wait(timeout);
    if (status == -1) {
      p.Kill();
      code = 128 + SIGKILL;
    } else if (WIFEXITED(status)) {
      code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
      code = 128 + WTERMSIG(status);
    }
  }
  if (output) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    *output = ss.str();
  }
  unlink(path);
  return code;
}

bool IsFuseMounted(const std::string& path) {
  std::error_code ec;
  std::string canon = std::filesystem::weakly_canonical(path, ec).string();
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    // id parent major:minor root mountpoint options ... - fstype source superopts
    std::istringstream ls(line);
    std::string id, parent, dev, root, mnt;
    ls >> id >> parent >> dev >> root >> mnt;
    auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::string fstype = line.substr(dash + 3, line.find(' ', dash + 3) - dash - 3);
    if ((mnt == canon || mnt == path) && fstype.rfind("fuse", 0) == 0) return true;
  }
  return false;
}

bool MountGuard::WaitMounted(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (IsFuseMounted(mountpoint_)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return IsFuseMounted(mountpoint_);
}

void MountGuard::Unmount() {
  if (!IsFuseMounted(mountpoint_)) return;
  std::string out;
  if (RunCommand({"/usr/bin/fusermount3", "-u", mountpoint_}, &out,
                 std::chrono::seconds(20)) != 0) {
    RunCommand({"/usr/bin/fusermount3", "-u", "-z", mountpoint_}, &out,
               std::chrono::seconds(20));
  }
}

}  // namespace cohort::testing
