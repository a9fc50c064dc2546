// net/cluster_config.h: the cluster file (docs/operations.md §2), parsed with toml++.
//
// A bad file yields InvalidArgument whose message names the file, the line and column
// and the problem: "cluster.toml:12:7: node id 300 is out of range 1..255".
//
// Thread safety: values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "net/transport.h"

namespace cohort::net {

struct NodeConfig {
  NodeId id = kNoNode;
  std::string name;
  std::string host;  // IPv4 literal, e.g. "127.0.0.2"
  uint16_t port = 0;
  uint32_t votes = 1;
};

struct ClusterConfig {
  std::string cluster_name;
  std::string key_file;        // as resolved: relative paths are relative to the file
  std::vector<NodeConfig> nodes;  // ascending by id, ids and names and addresses unique
  Nanos heartbeat_interval = 500 * kNanosPerMilli;
  Nanos dead_timeout = 5 * kNanosPerSecond;
  Nanos reconnect_interval = 500 * kNanosPerMilli;
  bool allow_non_loopback = false;

  const NodeConfig* Find(NodeId id) const;
  const NodeConfig* FindByName(std::string_view name) const;
  uint32_t TotalVotes() const;
};

// Parses the text of a cluster file. `source` names it in errors and is the base for a
// relative key_file path. Errors: InvalidArgument naming line:column and the problem.
Result<ClusterConfig> ParseClusterConfig(std::string_view text, std::string_view source);

// Reads and parses the file at `path`. Errors: NotFound / IOError reading it, and those
// of ParseClusterConfig.
Result<ClusterConfig> LoadClusterConfig(const std::string& path);

}  // namespace cohort::net
