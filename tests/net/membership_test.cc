// tests/net/membership_test.cc: the agreement rules of docs/wire-protocol.md §7 on the
// pure state machine (no sockets).
#include "net/membership.h"

#include <gtest/gtest.h>

namespace cohort::net {
namespace {

std::map<NodeId, uint32_t> Votes(int n) {
  std::map<NodeId, uint32_t> v;
  for (int i = 1; i <= n; ++i) v[i] = 1;
  return v;
}

uint64_t Inc(NodeId id) { return 1000 + id; }

std::vector<Member> Live(std::initializer_list<NodeId> ids) {
  std::vector<Member> m;
  for (NodeId id : ids) m.push_back({id, Inc(id)});
  return m;
}

HeartbeatMsg Report(std::vector<NodeId> links, uint64_t gen = 0) {
  return HeartbeatMsg{std::move(links), gen, {}};
}

TEST(MembershipTest, StartsAsInquorateSingleton) {
  Membership m(2, Inc(2), Votes(3));
  MembershipView v = m.view();
  EXPECT_EQ(v.members, std::vector<NodeId>{2});
  EXPECT_FALSE(v.quorate);
  EXPECT_EQ(v.generation & 0xff, 2u);
}

TEST(MembershipTest, CoordinatorProposesCliqueOfPeersThatChoseIt) {
  Membership m(1, Inc(1), Votes(3));
  m.SetLive(Live({2, 3}));
  m.SetReport(2, Report({1, 3}));
  m.SetReport(3, Report({1, 2}));
  Membership::Action a = m.Evaluate(false);
  ASSERT_TRUE(a.installed);
  ASSERT_TRUE(a.propose.has_value());
  EXPECT_EQ(m.view().members, (std::vector<NodeId>{1, 2, 3}));
  EXPECT_TRUE(m.view().quorate);
  EXPECT_EQ(a.propose->generation, m.generation());
  EXPECT_EQ(m.generation() & 0xff, 1u);
}

TEST(MembershipTest, PeerWithoutLinkToAnAcceptedMemberIsLeftOut) {
  Membership m(1, Inc(1), Votes(3));
  m.SetLive(Live({2, 3}));
  m.SetReport(2, Report({1}));      // 2 cannot reach 3
  m.SetReport(3, Report({1}));
  m.Evaluate(false);
  EXPECT_EQ(m.view().members, (std::vector<NodeId>{1, 2}));
}

TEST(MembershipTest, MemberAcceptsOnlyNewerProposalFromItsCoordinator) {
  Membership m(3, Inc(3), Votes(3));
  m.SetLive(Live({1, 2}));
  ProposeMsg p{(50ULL << 8) | 1, {{1, Inc(1)}, {2, Inc(2)}, {3, Inc(3)}}};
  EXPECT_FALSE(m.OnPropose(2, p));  // 2 is not its coordinator
  EXPECT_TRUE(m.OnPropose(1, p));
  EXPECT_TRUE(m.view().quorate);
  EXPECT_FALSE(m.OnPropose(1, p));  // not newer
  ProposeMsg stale_inc{(51ULL << 8) | 1, {{1, Inc(1)}, {2, 999}, {3, Inc(3)}}};
  EXPECT_FALSE(m.OnPropose(1, stale_inc));
}

TEST(MembershipTest, MemberLeavesViewWithDeadMemberForSingletonAfterGraceTicks) {
  Membership m(3, Inc(3), Votes(3));
  m.SetLive(Live({1, 2}));
  ASSERT_TRUE(m.OnPropose(1, {(7ULL << 8) | 1, {{1, Inc(1)}, {2, Inc(2)}, {3, Inc(3)}}}));
  uint64_t g = m.generation();
  m.SetLive(Live({1}));
  EXPECT_FALSE(m.Evaluate(false).installed);  // events do not count as ticks
  for (int i = 0; i < Membership::kMaxDeferTicks; ++i) EXPECT_FALSE(m.Evaluate(true).installed);
  Membership::Action a = m.Evaluate(true);
  EXPECT_TRUE(a.installed);
  EXPECT_EQ(m.view().members, std::vector<NodeId>{3});
  EXPECT_FALSE(m.view().quorate);
  EXPECT_GT(m.generation(), g);
}

TEST(MembershipTest, RestartedPeerLeavesTheViewThenJoinsWithItsNewIncarnation) {
  Membership m(1, Inc(1), Votes(2));
  m.SetLive(Live({2}));
  m.SetReport(2, Report({1}));
  m.Evaluate(false);
  uint64_t g = m.generation();
  m.SetLive({{2, 4242}});
  m.SetReport(2, Report({1}));
  ASSERT_TRUE(m.Evaluate(false).installed);  // first without the old incarnation
  EXPECT_GT(m.generation(), g);
  EXPECT_EQ(m.view().members, std::vector<NodeId>{1});
  ASSERT_TRUE(m.Evaluate(false).installed);  // then with the new one
  EXPECT_EQ(m.view().members, (std::vector<NodeId>{1, 2}));
  EXPECT_EQ(m.MemberIncarnation(2), 4242u);
}

TEST(MembershipTest, MemberTakesNewCoordinatorsProposalInsteadOfGoingSingleton) {
  Membership m(3, Inc(3), Votes(3));
  m.SetLive(Live({1, 2}));
  ASSERT_TRUE(m.OnPropose(1, {(7ULL << 8) | 1, {{1, Inc(1)}, {2, Inc(2)}, {3, Inc(3)}}}));
  m.SetLive(Live({2}));  // 1 died
  EXPECT_FALSE(m.Evaluate(true).installed);
  EXPECT_TRUE(m.OnPropose(2, {(8ULL << 8) | 2, {{2, Inc(2)}, {3, Inc(3)}}}));
  EXPECT_TRUE(m.view().quorate);
}

TEST(MembershipTest, CoordinatorWaitsForPeerStillFollowingDeadCoordinator) {
  Membership m(2, Inc(2), Votes(3));
  m.SetLive(Live({1, 3}));
  ASSERT_TRUE(m.OnPropose(1, {(7ULL << 8) | 1, {{1, Inc(1)}, {2, Inc(2)}, {3, Inc(3)}}}));
  m.SetLive(Live({3}));            // 1 died; 2 is now the coordinator
  m.SetReport(3, Report({1, 2}));  // 3 has not noticed yet
  EXPECT_FALSE(m.Evaluate(false).installed);
  EXPECT_FALSE(m.Evaluate(true).installed);
  m.SetReport(3, Report({2}));     // now it has
  ASSERT_TRUE(m.Evaluate(false).installed);
  EXPECT_EQ(m.view().members, (std::vector<NodeId>{2, 3}));
  EXPECT_TRUE(m.view().quorate);
}

TEST(MembershipTest, CoordinatorStopsWaitingAfterGraceTicks) {
  Membership m(2, Inc(2), Votes(3));
  m.SetLive(Live({1, 3}));
  ASSERT_TRUE(m.OnPropose(1, {(7ULL << 8) | 1, {{1, Inc(1)}, {2, Inc(2)}, {3, Inc(3)}}}));
  m.SetLive(Live({3}));
  m.SetReport(3, Report({1, 2}));
  for (int i = 0; i < Membership::kMaxDeferTicks; ++i) EXPECT_FALSE(m.Evaluate(true).installed);
  EXPECT_TRUE(m.Evaluate(true).installed);
  EXPECT_EQ(m.view().members, std::vector<NodeId>{2});
}

TEST(MembershipTest, GenerationsExceedEverySeenCounter) {
  Membership m(1, Inc(1), Votes(2));
  m.SetLive(Live({2}));
  m.SetReport(2, Report({1}, (900ULL << 8) | 2));
  m.Evaluate(false);
  EXPECT_GT(Membership::CounterOf(m.generation()), 900u);
}

TEST(MembershipTest, CoordinatorReproposesWhenMemberStaysOnAnotherGeneration) {
  Membership m(1, Inc(1), Votes(2));
  m.SetLive(Live({2}));
  m.SetReport(2, Report({1}));
  m.Evaluate(false);
  uint64_t g = m.generation();
  for (int i = 0; i < 2; ++i) EXPECT_FALSE(m.Evaluate(true).installed);
  EXPECT_TRUE(m.Evaluate(true).installed);
  EXPECT_GT(m.generation(), g);
  m.SetReport(2, Report({1}, m.generation()));
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(m.Evaluate(true).installed);
}

TEST(MembershipTest, MinorityOfVotesIsInquorate) {
  Membership m(1, Inc(1), Votes(5));
  m.SetLive(Live({2}));
  m.SetReport(2, Report({1}));
  m.Evaluate(false);
  EXPECT_EQ(m.view().members.size(), 2u);
  EXPECT_FALSE(m.view().quorate);
}

}  // namespace
}  // namespace cohort::net
