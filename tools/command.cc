// tools/command.cc: the registry of tools/command.h.
#include "tools/command.h"

namespace cohort::tools {

std::vector<Command>& Commands() {
  static std::vector<Command> commands;
  return commands;
}

}  // namespace cohort::tools
