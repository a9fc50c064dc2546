// net/cluster_config.cc: see net/cluster_config.h (docs/operations.md §2).
#include "net/cluster_config.h"

#include <arpa/inet.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include <toml++/toml.h>

namespace cohort::net {

const NodeConfig* ClusterConfig::Find(NodeId id) const {
  for (const NodeConfig& n : nodes) {
    if (n.id == id) return &n;
  }
  return nullptr;
}

const NodeConfig* ClusterConfig::FindByName(std::string_view name) const {
  for (const NodeConfig& n : nodes) {
    if (n.name == name) return &n;
  }
  return nullptr;
}

uint32_t ClusterConfig::TotalVotes() const {
  uint32_t v = 0;
  for (const NodeConfig& n : nodes) v += n.votes;
  return v;
}

namespace {

class Parser {
 public:
  explicit Parser(std::string_view source) : source_(source) {}

  Status Error(const toml::source_region& where, const std::string& what) const {
    return Status::InvalidArgument(std::string(source_) + ":" +
                                   std::to_string(where.begin.line) + ":" +
                                   std::to_string(where.begin.column) + ": " + what);
  }
  Status Error(const toml::node& n, const std::string& what) const {
    return Error(n.source(), what);
  }
  Status ErrorNoPos(const std::string& what) const {
    return Status::InvalidArgument(std::string(source_) + ": " + what);
  }

  // Rejects keys of `t` not in `allowed` (typos must not be silently ignored).
  Status OnlyKeys(const toml::table& t, std::initializer_list<std::string_view> allowed,
                  std::string_view where) const {
    for (auto&& [k, v] : t) {
      if (std::find(allowed.begin(), allowed.end(), k.str()) == allowed.end()) {
        return Error(k.source().begin.line ? k.source() : v.source(),
                     "unknown key '" + std::string(k.str()) + "' in " + std::string(where));
      }
    }
    return Status::OK();
  }

  Result<std::string> String(const toml::table& t, std::string_view key,
                             const toml::node& context, bool required) const {
    const toml::node* n = t.get(key);
    if (n == nullptr) {
      if (required) return Error(context, "missing key '" + std::string(key) + "'");
      return std::string();
    }
    const auto* s = n->as_string();
    if (s == nullptr) return Error(*n, "'" + std::string(key) + "' must be a string");
    return s->get();
  }

  Result<int64_t> Int(const toml::table& t, std::string_view key, const toml::node& context,
                      bool required, int64_t def, int64_t lo, int64_t hi) const {
    const toml::node* n = t.get(key);
    if (n == nullptr) {
      if (required) return Error(context, "missing key '" + std::string(key) + "'");
      return def;
    }
    const auto* i = n->as_integer();
    if (i == nullptr) return Error(*n, "'" + std::string(key) + "' must be an integer");
    int64_t v = i->get();
    if (v < lo || v > hi) {
      return Error(*n, std::string(key) + " " + std::to_string(v) + " is out of range " +
                           std::to_string(lo) + ".." + std::to_string(hi));
    }
    return v;
  }

  Result<ClusterConfig> Parse(const toml::table& root) const {
    ClusterConfig c;
    COHORT_RETURN_IF_ERROR(OnlyKeys(root, {"cluster", "timeouts", "node"}, "the file"));
    const toml::node* cn = root.get("cluster");
    if (cn == nullptr || !cn->is_table()) {
      return ErrorNoPos("missing [cluster] table");
    }
    const toml::table& ct = *cn->as_table();
    COHORT_RETURN_IF_ERROR(
        OnlyKeys(ct, {"name", "key_file", "allow_non_loopback"}, "[cluster]"));
    COHORT_ASSIGN_OR_RETURN(c.cluster_name, String(ct, "name", *cn, true));
    if (c.cluster_name.empty() || c.cluster_name.size() > 64) {
      return Error(*ct.get("name"), "cluster name must have 1..64 characters");
    }
    COHORT_ASSIGN_OR_RETURN(std::string key_file, String(ct, "key_file", *cn, true));
    if (key_file.empty()) return Error(*ct.get("key_file"), "key_file is empty");
    if (key_file[0] != '/') {
      std::string dir(source_);
      size_t slash = dir.rfind('/');
      dir = slash == std::string::npos ? "" : dir.substr(0, slash + 1);
      key_file = dir + key_file;
    }
    c.key_file = key_file;
    if (const toml::node* a = ct.get("allow_non_loopback")) {
      if (!a->is_boolean()) return Error(*a, "'allow_non_loopback' must be true or false");
      c.allow_non_loopback = a->as_boolean()->get();
    }

    if (const toml::node* tn = root.get("timeouts")) {
      if (!tn->is_table()) return Error(*tn, "'timeouts' must be a table");
      const toml::table& tt = *tn->as_table();
      COHORT_RETURN_IF_ERROR(OnlyKeys(
          tt, {"heartbeat_interval_ms", "dead_timeout_ms", "reconnect_interval_ms"},
          "[timeouts]"));
      COHORT_ASSIGN_OR_RETURN(int64_t hb,
                              Int(tt, "heartbeat_interval_ms", *tn, false, 500, 10, 60000));
      COHORT_ASSIGN_OR_RETURN(int64_t dead,
                              Int(tt, "dead_timeout_ms", *tn, false, 5000, 30, 600000));
      COHORT_ASSIGN_OR_RETURN(
          int64_t rc, Int(tt, "reconnect_interval_ms", *tn, false, 500, 10, 60000));
      if (dead < 3 * hb) {
        return Error(*tn, "dead_timeout_ms " + std::to_string(dead) +
                              " must be at least 3 * heartbeat_interval_ms (" +
                              std::to_string(3 * hb) + ")");
      }
      c.heartbeat_interval = hb * kNanosPerMilli;
      c.dead_timeout = dead * kNanosPerMilli;
      c.reconnect_interval = rc * kNanosPerMilli;
    }

    const toml::node* nn = root.get("node");
    if (nn == nullptr) return ErrorNoPos("no [[node]] entries");
    const toml::array* arr = nn->as_array();
    if (arr == nullptr || !arr->is_array_of_tables()) {
      return Error(*nn, "'node' must be an array of tables ([[node]])");
    }
    std::set<NodeId> ids;
    std::set<std::string> names, addrs;
    for (const toml::node& e : *arr) {
      const toml::table& t = *e.as_table();
      COHORT_RETURN_IF_ERROR(OnlyKeys(t, {"id", "name", "address", "votes"}, "[[node]]"));
      NodeConfig n;
      COHORT_ASSIGN_OR_RETURN(int64_t id, Int(t, "id", e, true, 0, 1, kMaxNodeId));
      n.id = static_cast<NodeId>(id);
      if (!ids.insert(n.id).second) {
        return Error(*t.get("id"), "duplicate node id " + std::to_string(n.id));
      }
      COHORT_ASSIGN_OR_RETURN(n.name, String(t, "name", e, true));
      if (n.name.empty()) return Error(*t.get("name"), "node name is empty");
      if (!names.insert(n.name).second) {
        return Error(*t.get("name"), "duplicate node name '" + n.name + "'");
      }
      COHORT_ASSIGN_OR_RETURN(std::string addr, String(t, "address", e, true));
      const toml::node& an = *t.get("address");
      size_t colon = addr.rfind(':');
      if (colon == std::string::npos) {
        return Error(an, "address '" + addr + "' must be IPV4:PORT");
      }
      n.host = addr.substr(0, colon);
      std::string port = addr.substr(colon + 1);
      in_addr ia;
      if (inet_pton(AF_INET, n.host.c_str(), &ia) != 1) {
        return Error(an, "address '" + addr + "': '" + n.host + "' is not an IPv4 address");
      }
      if (!c.allow_non_loopback && (ntohl(ia.s_addr) >> 24) != 127) {
        return Error(an, "address '" + addr +
                             "' is not in 127.0.0.0/8 (set allow_non_loopback = true "
                             "in [cluster] to use other networks)");
      }
      if (port.empty() || port.size() > 5 ||
          !std::all_of(port.begin(), port.end(), [](char ch) { return ch >= '0' && ch <= '9'; }) ||
          std::stoi(port) < 1 || std::stoi(port) > 65535) {
        return Error(an, "address '" + addr + "': port must be 1..65535");
      }
      n.port = static_cast<uint16_t>(std::stoi(port));
      if (!addrs.insert(n.host + ":" + port).second) {
        return Error(an, "duplicate address '" + addr + "'");
      }
      COHORT_ASSIGN_OR_RETURN(int64_t votes, Int(t, "votes", e, false, 1, 0, 255));
      n.votes = static_cast<uint32_t>(votes);
      c.nodes.push_back(std::move(n));
    }
    if (c.nodes.empty()) return Error(*nn, "no nodes");
    std::sort(c.nodes.begin(), c.nodes.end(),
              [](const NodeConfig& a, const NodeConfig& b) { return a.id < b.id; });
    if (c.TotalVotes() == 0) return Error(*nn, "the nodes have no votes in total");
    return c;
  }

 private:
  std::string_view source_;
};

}  // namespace

Result<ClusterConfig> ParseClusterConfig(std::string_view text, std::string_view source) {
  Parser p(source);
#if TOML_EXCEPTIONS
  try {
    toml::table root = toml::parse(text, source);
    return p.Parse(root);
  } catch (const toml::parse_error& e) {
    return p.Error(e.source(), std::string(e.description()));
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string(source) + ": " + e.what());
  }
#else
  toml::parse_result r = toml::parse(text, source);
  if (!r) return p.Error(r.error().source(), std::string(r.error().description()));
  return p.Parse(r.table());
#endif
}

Result<ClusterConfig> LoadClusterConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound("cannot open cluster file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return Status::IOError("cannot read cluster file " + path);
  return ParseClusterConfig(ss.str(), path);
}

}  // namespace cohort::net
