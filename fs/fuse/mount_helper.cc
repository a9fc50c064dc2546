// fs/fuse/mount_helper.cc: mount.cohort, the helper mount(8) runs for `mount -t cohort`
// and /etc/fstab entries of type cohort.
//
//   mount.cohort DEVICE DIR [-sfnv] [-o OPTIONS]
//
// It runs `cohort mount DEVICE DIR -o OPTIONS` (detached), finding `cohort` next to
// itself or on PATH. -f (fake) does nothing, -n/-s/-v are accepted and ignored, as
// mount(8) helpers do.
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  std::vector<std::string> pos;
  std::string options;
  bool fake = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-o" && i + 1 < argc) {
      if (!options.empty()) options += ",";
      options += argv[++i];
    } else if (a.rfind("-o", 0) == 0 && a.size() > 2) {
      if (!options.empty()) options += ",";
      options += a.substr(2);
    } else if (a == "-f") {
      fake = true;
    } else if (a == "-n" || a == "-s" || a == "-v" || a == "-r" || a == "-w") {
      if (a == "-r") options += options.empty() ? "ro" : ",ro";
    } else if (!a.empty() && a[0] == '-') {
      std::fprintf(stderr, "mount.cohort: unknown option %s\n", a.c_str());
      return 1;
    } else {
      pos.push_back(a);
    }
  }
  if (pos.size() != 2) {
    std::fprintf(stderr, "usage: mount.cohort DEVICE DIR [-o cluster=FILE,node=ID,...]\n");
    return 1;
  }
  if (fake) return 0;
  // `cohort` beside this program, else from PATH.
  std::string self(4096, '\0');
  ssize_t n = readlink("/proc/self/exe", self.data(), self.size() - 1);
  std::string cohort = "cohort";
  if (n > 0) {
    self.resize(static_cast<size_t>(n));
    std::string dir = self.substr(0, self.rfind('/'));
    if (access((dir + "/cohort").c_str(), X_OK) == 0) cohort = dir + "/cohort";
  }
  std::vector<std::string> args{cohort, "mount", pos[0], pos[1]};
  if (!options.empty()) {
    args.push_back("-o");
    args.push_back(options);
  }
  std::vector<char*> av;
  for (auto& a : args) av.push_back(a.data());
  av.push_back(nullptr);
  execvp(av[0], av.data());
  std::fprintf(stderr, "mount.cohort: cannot run %s: %s\n", cohort.c_str(), std::strerror(errno));
  return 1;
}
