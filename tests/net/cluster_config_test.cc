// tests/net/cluster_config_test.cc: the cluster file (docs/operations.md §2): a good file
// parses; every bad one is refused with its line number and the problem.
#include "net/cluster_config.h"

#include <gtest/gtest.h>

namespace cohort::net {
namespace {

constexpr const char* kGood = R"([cluster]
name = "demo"
key_file = "demo.key"

[timeouts]
heartbeat_interval_ms = 200
dead_timeout_ms = 2000
reconnect_interval_ms = 100

[[node]]
id = 2
name = "beta"
address = "127.0.0.2:7400"

[[node]]
id = 1
name = "alpha"
address = "127.0.0.1:7400"
votes = 2
)";

Status ParseError(const std::string& text) {
  return ParseClusterConfig(text, "/etc/cohort/c.toml").status();
}

TEST(ClusterConfigTest, GoodFileParsesSortedWithResolvedKeyPath) {
  Result<ClusterConfig> c = ParseClusterConfig(kGood, "/etc/cohort/c.toml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->cluster_name, "demo");
  EXPECT_EQ(c->key_file, "/etc/cohort/demo.key");
  ASSERT_EQ(c->nodes.size(), 2u);
  EXPECT_EQ(c->nodes[0].id, 1u);
  EXPECT_EQ(c->nodes[0].host, "127.0.0.1");
  EXPECT_EQ(c->nodes[0].port, 7400);
  EXPECT_EQ(c->nodes[0].votes, 2u);
  EXPECT_EQ(c->TotalVotes(), 3u);
  EXPECT_EQ(c->heartbeat_interval, 200 * kNanosPerMilli);
  EXPECT_EQ(c->dead_timeout, 2000 * kNanosPerMilli);
  EXPECT_EQ(c->FindByName("beta")->id, 2u);
}

TEST(ClusterConfigTest, TomlSyntaxErrorNamesTheLine) {
  Status s = ParseError("[cluster]\nname = \"x\"\nkey_file = \n");
  EXPECT_TRUE(s.Is(Code::kInvalidArgument));
  EXPECT_NE(s.ToString().find("c.toml:3:"), std::string::npos) << s.ToString();
}

TEST(ClusterConfigTest, NodeIdOutOfRangeNamesTheLine) {
  std::string t = kGood;
  t.replace(t.find("id = 2"), 6, "id = 300");
  Status s = ParseError(t);
  EXPECT_NE(s.ToString().find("c.toml:11:"), std::string::npos) << s.ToString();
  EXPECT_NE(s.ToString().find("out of range 1..255"), std::string::npos) << s.ToString();
}

TEST(ClusterConfigTest, DuplicateIdNameOrAddressIsRefused) {
  std::string t = kGood;
  t.replace(t.find("id = 1"), 6, "id = 2");
  Status s = ParseError(t);
  EXPECT_NE(s.ToString().find("c.toml:16:"), std::string::npos) << s.ToString();
  EXPECT_NE(s.ToString().find("duplicate node id 2"), std::string::npos);
  t = kGood;
  t.replace(t.find("\"alpha\""), 7, "\"beta\"");
  EXPECT_NE(ParseError(t).ToString().find("duplicate node name"), std::string::npos);
  t = kGood;
  t.replace(t.find("127.0.0.1:7400"), 14, "127.0.0.2:7400");
  EXPECT_NE(ParseError(t).ToString().find("duplicate address"), std::string::npos);
}

TEST(ClusterConfigTest, BadAddressesAreRefused) {
  std::string t = kGood;
  t.replace(t.find("127.0.0.2:7400"), 14, "127.0.0.2");
  EXPECT_NE(ParseError(t).ToString().find("c.toml:13:"), std::string::npos);
  t = kGood;
  t.replace(t.find("127.0.0.2:7400"), 14, "host.example:7400");
  EXPECT_NE(ParseError(t).ToString().find("not an IPv4 address"), std::string::npos);
  t = kGood;
  t.replace(t.find("127.0.0.2:7400"), 14, "127.0.0.2:70000");
  EXPECT_NE(ParseError(t).ToString().find("port must be"), std::string::npos);
  t = kGood;
  t.replace(t.find("127.0.0.2:7400"), 14, "10.0.0.2:7400");
  EXPECT_NE(ParseError(t).ToString().find("not in 127.0.0.0/8"), std::string::npos);
}

TEST(ClusterConfigTest, MissingKeysAndWrongTypesAreRefused) {
  std::string t = kGood;
  t.erase(t.find("name = \"beta\"\n"), 14);
  Status s = ParseError(t);
  EXPECT_NE(s.ToString().find("missing key 'name'"), std::string::npos) << s.ToString();
  t = kGood;
  t.replace(t.find("votes = 2"), 9, "votes = \"two\"");
  EXPECT_NE(ParseError(t).ToString().find("c.toml:19:"), std::string::npos);
  EXPECT_TRUE(ParseError("[timeouts]\n").Is(Code::kInvalidArgument));
}

TEST(ClusterConfigTest, UnknownKeyIsRefusedNotIgnored) {
  std::string t = kGood;
  t.replace(t.find("votes = 2"), 9, "vote = 2");
  Status s = ParseError(t);
  EXPECT_NE(s.ToString().find("unknown key 'vote'"), std::string::npos) << s.ToString();
  EXPECT_NE(s.ToString().find("c.toml:19:"), std::string::npos) << s.ToString();
}

TEST(ClusterConfigTest, DeadTimeoutShorterThanThreeHeartbeatsIsRefused) {
  std::string t = kGood;
  t.replace(t.find("dead_timeout_ms = 2000"), 22, "dead_timeout_ms = 500");
  EXPECT_NE(ParseError(t).ToString().find("at least 3 * heartbeat"), std::string::npos);
}

}  // namespace
}  // namespace cohort::net
