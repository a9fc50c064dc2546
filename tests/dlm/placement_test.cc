// tests/dlm/placement_test.cc: the directory placement rule (docs/dlm.md §12) and the
// message counters: a key whose preferred node is a member has that node as directory
// node, so its first lock there costs no message; a preferred node outside the view
// falls back to the hash; membership changes and recovery move the directory and keep
// the locks consistent.
#include <gtest/gtest.h>

#include "tests/dlm/dlm_test_util.h"

namespace cohort::dlm {
namespace {

using testing::Cluster;
using testing::Recorder;
using testing::Req;

// Names "2..." prefer node 2, "3..." node 3, "9..." node 9 (never configured), others none.
net::NodeId Hint(std::string_view key) {
  if (key.size() < 2) return net::kNoNode;
  char c = key[1];
  if (c >= '1' && c <= '9') return static_cast<net::NodeId>(c - '0');
  return net::kNoNode;
}

LockId Take(Lockspace& ls, Recorder& rec, std::string_view name, LockMode m) {
  Result<LockId> id = ls.Lock(Req(rec, name, m));
  EXPECT_TRUE(id.ok()) << id.status().ToString();
  return id.ok() ? *id : kNoLock;
}

uint64_t SentByAll(Cluster& c) {
  uint64_t n = 0;
  for (auto& [id, ls] : c.nodes()) n += ls->message_counts().TotalSent();
  return n;
}

net::NodeId MasterOf(Lockspace& ls, LockId id) {
  for (const OwnLockInfo& o : ls.OwnLocks()) {
    if (o.id == id) return o.master;
  }
  return 0;
}

std::string Key(std::string_view name) { return MakeResourceKey("", name); }

TEST(PlacementTest, PreferredMemberIsTheDirectoryNode) {
  Cluster c(4, 1, 0, Hint);
  for (net::NodeId n = 1; n <= 4; ++n) {
    EXPECT_EQ(c[n].DirectoryNodeOf(Key("2abc")), 2u);
    EXPECT_EQ(c[n].DirectoryNodeOf(Key("3abc")), 3u);
  }
}

TEST(PlacementTest, FirstLockOfAPreferredNameOnItsNodeSendsNoMessage) {
  Cluster c(4, 1, 0, Hint);
  uint64_t before = SentByAll(c);
  Recorder rec;
  for (int i = 0; i < 50; ++i) {
    LockId a = Take(c[3], rec, "3file" + std::to_string(i), LockMode::kEX);
    EXPECT_TRUE(rec.Granted(a));  // granted inside Lock(): no message was needed
    EXPECT_EQ(MasterOf(c[3], a), 3u);
  }
  c.Settle();
  EXPECT_EQ(SentByAll(c), before);
  EXPECT_EQ(c.net().pending(), 0u);
}

TEST(PlacementTest, OnlyTheDirectoryNodeKnowsANameIsUnlocked) {
  Cluster c(4, 1, 0, Hint);
  EXPECT_TRUE(c[3].KnownUnlocked("3free"));
  // Not its directory node: another node may master it without this one hearing of it.
  EXPECT_FALSE(c[2].KnownUnlocked("3free"));
  EXPECT_FALSE(c[4].KnownUnlocked("3free"));
}

TEST(PlacementTest, ANameLockedOnAnyNodeIsNotKnownUnlocked) {
  Cluster c(4, 1, 0, Hint);
  Recorder rec;
  LockId own = Take(c[3], rec, "3own", LockMode::kPR);       // mastered on node 3
  LockId other = Take(c[2], rec, "3other", LockMode::kPR);   // mastered on node 2
  c.Settle();
  LockId queued = Take(c[4], rec, "3other", LockMode::kEX);  // waits behind it
  c.Settle();
  EXPECT_TRUE(rec.Granted(own));
  EXPECT_TRUE(rec.Granted(other));
  EXPECT_FALSE(rec.Granted(queued));
  EXPECT_EQ(MasterOf(c[2], other), 2u);
  EXPECT_FALSE(c[3].KnownUnlocked("3own"));
  EXPECT_FALSE(c[3].KnownUnlocked("3other"));
  EXPECT_TRUE(c[3].KnownUnlocked("3never"));
}

TEST(PlacementTest, WithoutTheRuleTheSameLocksCostLookups) {
  // The baseline the rule improves on: with the hash, most new names on one node need a
  // LOOKUP to another node (and its reply).
  Cluster c(4);
  uint64_t before = SentByAll(c);
  Recorder rec;
  for (int i = 0; i < 50; ++i) Take(c[3], rec, "3file" + std::to_string(i), LockMode::kEX);
  c.Settle();
  uint64_t lookups = c[3].message_counts().sent[static_cast<size_t>(MsgType::kLookup)];
  EXPECT_GT(lookups, 20u);
  EXPECT_EQ(SentByAll(c) - before, 2 * lookups);
}

TEST(PlacementTest, PreferredNodeOutsideTheViewFallsBackToTheHash) {
  Cluster with(4, 1, 0, Hint);
  Cluster without(4);
  for (const char* name : {"9x", "9yy", "zz", "q"}) {
    EXPECT_EQ(with[1].DirectoryNodeOf(Key(name)), without[1].DirectoryNodeOf(Key(name)))
        << name;
  }
}

TEST(PlacementTest, DirectoryMovesWhenThePreferredNodeLeavesAndComesBack) {
  Cluster plain(4);
  Cluster c(4, 1, 0, Hint);
  Recorder r1, r3;
  // n3 holds a lock on a name n2 prefers (n2 is the directory node, n3 the master).
  LockId a = Take(c[3], r3, "2shared", LockMode::kPR);
  c.Settle();
  ASSERT_TRUE(r3.Granted(a));
  ASSERT_EQ(MasterOf(c[3], a), 3u);

  c.Kill(2);
  c.Settle();
  ASSERT_FALSE(c[1].recovering());
  // The directory of "2..." names is the hash's choice among the survivors now.
  plain.Kill(2);
  plain.Settle();
  net::NodeId hashed = plain[1].DirectoryNodeOf(Key("2shared"));
  EXPECT_NE(hashed, 2u);
  for (net::NodeId n : {1u, 3u, 4u}) EXPECT_EQ(c[n].DirectoryNodeOf(Key("2shared")), hashed);
  // ... and it knows the surviving master: n1's request finds n3's grant and waits.
  LockId b = Take(c[1], r1, "2shared", LockMode::kEX);
  c.Settle();
  EXPECT_EQ(r1.Count(b), 0);
  EXPECT_EQ(MasterOf(c[1], b), 3u);

  c.Start(2);
  c.Settle();
  for (net::NodeId n = 1; n <= 4; ++n) EXPECT_EQ(c[n].DirectoryNodeOf(Key("2shared")), 2u);
  // The rebuilt directory on n2 still names n3: a request from n2 queues behind the
  // others rather than mastering a second copy.
  Recorder r2;
  LockId d = Take(c[2], r2, "2shared", LockMode::kPR);
  c.Settle();
  EXPECT_EQ(MasterOf(c[2], d), 3u);
  ASSERT_TRUE(c[3].Unlock(a).ok());
  c.Settle();
  EXPECT_TRUE(r1.Granted(b));
  EXPECT_EQ(r2.Count(d), 0);  // behind n1's EX
  ASSERT_TRUE(c[1].Unlock(b).ok());
  c.Settle();
  EXPECT_TRUE(r2.Granted(d));
  for (auto& [id, ls] : c.nodes()) EXPECT_TRUE(ls->CheckInvariants().ok());
  // And a fresh name n2 prefers costs it no message again.
  uint64_t before = SentByAll(c);
  LockId e = Take(c[2], r2, "2fresh", LockMode::kEX);
  EXPECT_TRUE(r2.Granted(e));
  c.Settle();
  EXPECT_EQ(SentByAll(c), before);
}

TEST(PlacementTest, DeathOfThePreferredMasterRemastersFromSurvivors) {
  Cluster c(4, 1, 0, Hint);
  Recorder r2, r3, r4;
  LockId m = Take(c[2], r2, "2obj", LockMode::kPR);  // n2: directory node and master
  c.Settle();
  LockId a = Take(c[3], r3, "2obj", LockMode::kPR);
  c.Settle();
  ASSERT_TRUE(r2.Granted(m) && r3.Granted(a));
  ASSERT_EQ(MasterOf(c[3], a), 2u);
  c.Kill(2);
  c.Settle();
  net::NodeId nm = MasterOf(c[3], a);
  EXPECT_NE(nm, 2u);
  EXPECT_NE(nm, 0u);
  LockId x = Take(c[4], r4, "2obj", LockMode::kEX);
  c.Settle();
  EXPECT_EQ(r4.Count(x), 0);  // waits for n3's surviving PR
  EXPECT_EQ(MasterOf(c[4], x), nm);
  ASSERT_TRUE(c[3].Unlock(a).ok());
  c.Settle();
  EXPECT_TRUE(r4.Granted(x));
  for (auto& [id, ls] : c.nodes()) EXPECT_TRUE(ls->CheckInvariants().ok());
}

TEST(PlacementTest, CountersCountEachMessageTypeSentAndReceived) {
  Cluster c(3);
  Recorder r1, r2;
  LockId a = Take(c[1], r1, "x", LockMode::kEX);
  c.Settle();
  MessageCounts b1 = c[1].message_counts(), b2 = c[2].message_counts();
  LockId b = Take(c[2], r2, "x", LockMode::kPR);  // n1 masters x: REQUEST, REPLY(s)
  c.Settle();
  ASSERT_TRUE(c[1].Unlock(a).ok());
  c.Settle();
  ASSERT_TRUE(r2.Granted(b));
  MessageCounts e1 = c[1].message_counts(), e2 = c[2].message_counts();
  auto d = [](const MessageCounts& e, const MessageCounts& s, bool sent, MsgType t) {
    size_t i = static_cast<size_t>(t);
    return sent ? e.sent[i] - s.sent[i] : e.received[i] - s.received[i];
  };
  EXPECT_EQ(d(e2, b2, true, MsgType::kRequest), 1u);
  EXPECT_EQ(d(e1, b1, false, MsgType::kRequest), 1u);
  EXPECT_EQ(d(e1, b1, true, MsgType::kBast), 0u);  // the holder is local: no message
  EXPECT_EQ(r1.Basts(a), 1);
  EXPECT_EQ(d(e2, b2, false, MsgType::kReply), d(e1, b1, true, MsgType::kReply));
  EXPECT_GE(d(e1, b1, true, MsgType::kReply), 1u);
  EXPECT_STREQ(MsgTypeName(MsgType::kLookupReply), "LOOKUP_REPLY");
}

}  // namespace
}  // namespace cohort::dlm
