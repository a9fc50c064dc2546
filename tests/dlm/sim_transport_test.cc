// tests/dlm/sim_transport_test.cc: SimNetwork keeps the net/transport.h contract:
// per-link order, generation filtering, membership before payloads, kill and partition.
#include "dlm/sim_transport.h"

#include <gtest/gtest.h>

namespace cohort::dlm {
namespace {

struct Sink : net::TransportHandler {
  std::vector<std::pair<net::NodeId, uint8_t>> got;
  std::vector<net::MembershipView> views;
  void OnMessage(net::NodeId from, uint64_t, std::span<const uint8_t> p) override {
    got.emplace_back(from, p.empty() ? 0 : p[0]);
  }
  void OnMembershipChange(const net::MembershipView& v) override { views.push_back(v); }
};

class SimNetworkTest : public ::testing::Test {
 protected:
  SimNetwork net{42, 3};
  Sink sink[4];
  SimTransport* t[4] = {};
  void SetUp() override {
    for (net::NodeId i = 1; i <= 3; ++i) {
      t[i] = net.NewEndpoint(i);
      t[i]->SetHandler(&sink[i]);
      net.Join(i);
    }
  }
  uint64_t gen(net::NodeId i) { return t[i]->membership().generation; }
};

TEST_F(SimNetworkTest, MessagesOnOneLinkArriveInOrder) {
  for (uint8_t k = 0; k < 50; ++k) {
    ASSERT_TRUE(t[1]->Send(2, gen(1), {k}).ok());
    ASSERT_TRUE(t[3]->Send(2, gen(3), {static_cast<uint8_t>(100 + k)}).ok());
  }
  net.RunUntilIdle(1000);
  uint8_t from1 = 0, from3 = 100;
  for (auto& [from, v] : sink[2].got) {
    if (from == 1) {
      EXPECT_EQ(v, from1++);
    } else if (from == 3) {
      EXPECT_EQ(v, from3++);
    }
  }
  EXPECT_EQ(from1, 50);
  EXPECT_EQ(from3, 150);
}

TEST_F(SimNetworkTest, EveryMemberSeesEachGenerationBeforeItsMessages) {
  EXPECT_EQ(sink[1].views.back().members, (std::vector<net::NodeId>{1, 2, 3}));
  EXPECT_TRUE(sink[1].views.back().quorate);
  for (size_t i = 1; i < sink[1].views.size(); ++i) {
    EXPECT_GT(sink[1].views[i].generation, sink[1].views[i - 1].generation);
  }
}

TEST_F(SimNetworkTest, StaleGenerationIsRefusedAndQueuedMessagesAreDropped) {
  uint64_t g = gen(1);
  ASSERT_TRUE(t[1]->Send(2, g, {1}).ok());
  net.Kill(3);
  EXPECT_EQ(t[1]->Send(2, g, {2}).code(), Code::kUnavailable);
  EXPECT_EQ(t[1]->Send(3, gen(1), {3}).code(), Code::kUnavailable);
  net.RunUntilIdle(100);
  EXPECT_TRUE(sink[2].got.empty());
}

TEST_F(SimNetworkTest, PartitionGivesQuorumToTheMajorityOnly) {
  net.Partition({{1}, {2, 3}});
  EXPECT_FALSE(net.ViewOf(1).quorate);
  EXPECT_TRUE(net.ViewOf(2).quorate);
  EXPECT_EQ(t[1]->Send(2, gen(1), {1}).code(), Code::kUnavailable);
  net.Heal();
  EXPECT_TRUE(net.ViewOf(1).quorate);
  EXPECT_TRUE(t[1]->Send(2, gen(1), {1}).ok());
}

TEST_F(SimNetworkTest, SameSeedGivesSameDeliveryOrder) {
  auto run = [](uint64_t seed) {
    SimNetwork n(seed, 3);
    Sink s[4];
    SimTransport* tt[4] = {};
    for (net::NodeId i = 1; i <= 3; ++i) {
      tt[i] = n.NewEndpoint(i);
      tt[i]->SetHandler(&s[i]);
      n.Join(i);
    }
    for (uint8_t k = 0; k < 20; ++k) {
      (void)tt[1]->Send(3, tt[1]->membership().generation, {k});
      (void)tt[2]->Send(3, tt[2]->membership().generation, {k});
    }
    n.RunUntilIdle(1000);
    return s[3].got;
  };
  EXPECT_EQ(run(7), run(7));
}

}  // namespace
}  // namespace cohort::dlm
