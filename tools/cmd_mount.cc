// tools/cmd_mount.cc: `cohort mount DEVICE MOUNTPOINT -o cluster=FILE,... [-f]`
// (fs/fuse/mount_daemon.h; docs/operations.md §3).
#include "fs/fuse/mount_daemon.h"
#include "tools/command.h"

namespace cohort::tools {
namespace {

struct MountArgs {
  fs::MountCommand cmd;
  std::vector<std::string> options;
};

CommandRegistration reg({
    "mount",
    "mount a Cohort filesystem through FUSE (one daemon per node and filesystem)",
    [](CLI::App* sub) -> std::function<int()> {
      auto args = std::make_shared<MountArgs>();
      sub->add_option("device", args->cmd.device, "the shared block device or image file")
          ->required();
      sub->add_option("mountpoint", args->cmd.mountpoint, "an empty directory")->required();
      sub->add_option("-o,--options", args->options,
                      "cluster=FILE (required), node=ID, slot=N, ro, allow_other, acl|noacl, "
                      "logfile=PATH, stats=PATH, loglevel=LEVEL, quorum_timeout=SECONDS, debug");
      sub->add_flag("-f,--foreground", args->cmd.foreground, "stay in the foreground");
      return [args]() {
        for (const auto& o : args->options) {
          Status s = fs::ParseMountOptions(o, &args->cmd);
          if (!s.ok()) {
            std::fprintf(stderr, "cohort mount: %s\n", std::string(s.message()).c_str());
            return 2;
          }
        }
        return fs::RunMount(args->cmd);
      };
    },
});

}  // namespace
}  // namespace cohort::tools
