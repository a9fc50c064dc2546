// tools/command.h: how a subcommand of `cohort` registers itself.
//
// Each tools/cmd_<name>.cc defines a static CommandRegistration. The registration adds a
// CLI11 subcommand to the app and says which function runs it; the function returns the
// process exit code. Registrations are compiled directly into the `cohort` executable
// (not through a static library) so the linker keeps them.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace cohort::tools {

struct Command {
  std::string name;
  std::string help;
  // Adds options to `sub`; returns the function that runs the command once parsed.
  std::function<std::function<int()>(CLI::App* sub)> setup;
};

std::vector<Command>& Commands();

struct CommandRegistration {
  explicit CommandRegistration(Command c) { Commands().push_back(std::move(c)); }
};

}  // namespace cohort::tools
