// common/logging.h: logging through spdlog (Debian's libspdlog-dev; see
// docs/dependencies.md). One process-wide logger that writes to stderr, with the node
// name in every line once SetLogNode() is called.
//
//   COHORT_LOG_INFO("node {} joined, generation {}", id, gen);
//
// Thread safety: spdlog's multi-threaded sink; safe from any thread. The logger's
// internal mutex is a leaf: never call back into Cohort while logging.
#pragma once

#include <string_view>

#include <spdlog/spdlog.h>

namespace cohort {

enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError, kOff };

// Sets up the process logger (idempotent). `node` appears in every line ("n2").
void InitLogging(std::string_view program, LogLevel level = LogLevel::kInfo);
void SetLogNode(std::string_view node);
void SetLogLevel(LogLevel level);
// Parses "trace|debug|info|warn|error|off"; false if unknown.
bool ParseLogLevel(std::string_view s, LogLevel* out);

}  // namespace cohort

#define COHORT_LOG_TRACE(...) SPDLOG_TRACE(__VA_ARGS__)
#define COHORT_LOG_DEBUG(...) ::spdlog::debug(__VA_ARGS__)
#define COHORT_LOG_INFO(...) ::spdlog::info(__VA_ARGS__)
#define COHORT_LOG_WARN(...) ::spdlog::warn(__VA_ARGS__)
#define COHORT_LOG_ERROR(...) ::spdlog::error(__VA_ARGS__)
