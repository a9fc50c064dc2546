// tools/cohort_main.cc: `cohort <subcommand> ...`, the administrator's command.
// Exit codes: 0 success, 1 the operation failed, 2 usage error.
#include <algorithm>
#include <cstdio>
#include <exception>
#include <functional>

#include "common/logging.h"
#include "tools/command.h"

int main(int argc, char** argv) {
  cohort::InitLogging("cohort", cohort::LogLevel::kWarn);
  CLI::App app{"cohort: administer a Cohort clustered filesystem"};
  app.require_subcommand(1);
  auto& commands = cohort::tools::Commands();
  std::sort(commands.begin(), commands.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  std::function<int()> run;
  for (auto& c : commands) {
    CLI::App* sub = app.add_subcommand(c.name, c.help);
    auto fn = c.setup(sub);
    sub->callback([&run, fn] { run = fn; });
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  try {
    return run ? run() : 2;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "cohort: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cohort: %s\n", e.what());
    return 1;
  }
}
