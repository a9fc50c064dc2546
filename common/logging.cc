// common/logging.cc: the spdlog set-up of common/logging.h.
#include "common/logging.h"

#include <spdlog/sinks/stdout_sinks.h>

#include <string>

namespace cohort {
namespace {

spdlog::level::level_enum ToSpd(LogLevel l) {
  switch (l) {
    case LogLevel::kTrace: return spdlog::level::trace;
    case LogLevel::kDebug: return spdlog::level::debug;
    case LogLevel::kInfo: return spdlog::level::info;
    case LogLevel::kWarn: return spdlog::level::warn;
    case LogLevel::kError: return spdlog::level::err;
    case LogLevel::kOff: return spdlog::level::off;
  }
  return spdlog::level::info;
}

std::string& ProgramName() {
  static std::string name = "cohort";
  return name;
}

void ApplyPattern(std::string_view node) {
  std::string pattern = "%Y-%m-%d %H:%M:%S.%e %^%L%$ " + ProgramName();
  if (!node.empty()) {
    pattern += "[";
    pattern += node;
    pattern += "]";
  }
  pattern += " %t %v";
  spdlog::set_pattern(pattern);
}

}  // namespace

void InitLogging(std::string_view program, LogLevel level) {
  ProgramName() = std::string(program);
  auto logger = spdlog::get("cohort");
  if (!logger) logger = spdlog::stderr_logger_mt("cohort");
  spdlog::set_default_logger(logger);
  ApplyPattern("");
  spdlog::set_level(ToSpd(level));
  spdlog::flush_on(spdlog::level::warn);
}

void SetLogNode(std::string_view node) { ApplyPattern(node); }

void SetLogLevel(LogLevel level) { spdlog::set_level(ToSpd(level)); }

bool ParseLogLevel(std::string_view s, LogLevel* out) {
  static const std::pair<std::string_view, LogLevel> kNames[] = {
      {"trace", LogLevel::kTrace}, {"debug", LogLevel::kDebug}, {"info", LogLevel::kInfo},
      {"warn", LogLevel::kWarn},   {"error", LogLevel::kError}, {"off", LogLevel::kOff}};
  for (const auto& [name, level] : kNames) {
    if (s == name) {
      *out = level;
      return true;
    }
  }
  return false;
}

}  // namespace cohort
