// tests/dlm/distributed_test.cc: several lockspaces on SimNetwork: remote requests,
// mastering and the directory, BASTs across nodes, deadlock across nodes, recovery and
// quorum (docs/dlm.md §9-§12).
#include <gtest/gtest.h>

#include "tests/dlm/dlm_test_util.h"

namespace cohort::dlm {
namespace {

using testing::Cluster;
using testing::Cvt;
using testing::Recorder;
using testing::Req;

LockId Take(Lockspace& ls, Recorder& rec, std::string_view name, LockMode m,
            uint32_t flags = 0, uint64_t owner = 0) {
  LockRequest r = Req(rec, name, m, flags);
  r.owner = owner;
  Result<LockId> id = ls.Lock(std::move(r));
  EXPECT_TRUE(id.ok()) << id.status().ToString();
  return id.ok() ? *id : kNoLock;
}

net::NodeId MasterOf(Lockspace& ls, LockId id) {
  for (const OwnLockInfo& o : ls.OwnLocks()) {
    if (o.id == id) return o.master;
  }
  return 0;
}

TEST(DistributedTest, FirstRequesterBecomesMaster) {
  Cluster c(3);
  Recorder rec;
  LockId a = Take(c[2], rec, "y", LockMode::kEX);
  c.Settle();
  ASSERT_TRUE(rec.Granted(a));
  EXPECT_EQ(MasterOf(c[2], a), 2u);
}

TEST(DistributedTest, LocallyMasteredResourceCostsNoMessage) {
  Cluster c(3);
  Recorder rec;
  LockId a = Take(c[2], rec, "y", LockMode::kEX);
  c.Settle();
  ASSERT_TRUE(c[2].Unlock(a).ok());
  ASSERT_EQ(c.net().pending(), 0u);
  LockId b = Take(c[2], rec, "y", LockMode::kPR);
  EXPECT_TRUE(rec.Granted(b));  // before any message was delivered
  EXPECT_EQ(c.net().pending(), 0u);
}

TEST(DistributedTest, RemoteRequestWaitsAndIsGrantedWhenHolderReleases) {
  Cluster c(3);
  Recorder r1, r2;
  LockId a = Take(c[1], r1, "x", LockMode::kEX);
  c.Settle();
  ASSERT_TRUE(r1.Granted(a));
  LockId b = Take(c[2], r2, "x", LockMode::kPR);
  c.Settle();
  EXPECT_EQ(r2.Count(b), 0);
  ASSERT_EQ(r1.Basts(a), 1);  // BAST crossed the network with the blocking mode
  EXPECT_EQ(r1.basts[0].second, LockMode::kPR);
  ASSERT_TRUE(c[1].Unlock(a).ok());
  c.Settle();
  EXPECT_TRUE(r2.Granted(b));
  EXPECT_EQ(MasterOf(c[2], b), 1u);
}

TEST(DistributedTest, RemoteConversionAndLvbTravelWithReplies) {
  Cluster c(3);
  Recorder r1, r3;
  LockId a = Take(c[1], r1, "v", LockMode::kNL, kValBlk);
  c.Settle();
  LockId b = Take(c[3], r3, "v", LockMode::kEX, kValBlk);
  c.Settle();
  ASSERT_TRUE(r3.Granted(b));
  Lvb v{};
  v[5] = 55;
  ConvertRequest cv = Cvt(LockMode::kNL, kValBlk);
  cv.lvb = &v;
  ASSERT_TRUE(c[3].Convert(b, cv).ok());
  c.Settle();
  ASSERT_TRUE(c[1].Convert(a, Cvt(LockMode::kPR, kValBlk)).ok());
  c.Settle();
  auto done = r1.Last(a);
  ASSERT_TRUE(done && done->lvb_valid_read);
  EXPECT_EQ(done->lvb[5], 55);
}

TEST(DistributedTest, ThreeNodeDeadlockDeniesExactlyOneAndOthersAreGrantedAfter) {
  Cluster c(3);
  Recorder rec[4];
  const char* names[] = {"", "r1", "r2", "r3"};
  LockId held[4], want[4];
  // Each node masters its own resource and holds it EX (owner = node id).
  for (net::NodeId n = 1; n <= 3; ++n) {
    held[n] = Take(c[n], rec[n], names[n], LockMode::kEX, 0, n);
    c.Settle();
    ASSERT_TRUE(rec[n].Granted(held[n]));
    ASSERT_EQ(MasterOf(c[n], held[n]), n);
  }
  // n1 wants r2, n2 wants r3, n3 wants r1: a cycle across three nodes.
  for (net::NodeId n = 1; n <= 3; ++n) {
    want[n] = Take(c[n], rec[n], names[n % 3 + 1], LockMode::kEX, 0, n);
  }
  c.Settle();
  c.RunDeadlockRounds(4);
  int denied = 0;
  net::NodeId victim = 0;
  for (net::NodeId n = 1; n <= 3; ++n) {
    auto done = rec[n].Last(want[n]);
    if (done) {
      EXPECT_EQ(done->status, Code::kDeadlock);
      ++denied;
      victim = n;
    }
  }
  ASSERT_EQ(denied, 1);
  // The victim's owner gives up what it holds; the chain then resolves in order.
  ASSERT_TRUE(c[victim].Unlock(held[victim]).ok());
  c.Settle();
  net::NodeId next = victim == 1 ? 3 : victim - 1;  // waits on the victim's resource
  ASSERT_TRUE(rec[next].Granted(want[next]));
  ASSERT_TRUE(c[next].Unlock(want[next]).ok());
  ASSERT_TRUE(c[next].Unlock(held[next]).ok());
  c.Settle();
  net::NodeId last = next == 1 ? 3 : next - 1;
  EXPECT_TRUE(rec[last].Granted(want[last]));
}

TEST(DistributedTest, DeadNodesLocksArePurgedAndWaiterGranted) {
  Cluster c(3);
  Recorder r1, r2, r3;
  LockId a = Take(c[1], r1, "x", LockMode::kNL);
  c.Settle();
  LockId b = Take(c[2], r2, "x", LockMode::kEX);
  c.Settle();
  ASSERT_TRUE(r2.Granted(b));
  LockId w = Take(c[3], r3, "x", LockMode::kEX);
  c.Settle();
  EXPECT_EQ(r3.Count(w), 0);
  c.Kill(2);
  c.Settle();
  EXPECT_TRUE(r3.Granted(w));
  for (const MasterLockInfo& m : c[1].MasterLocks()) EXPECT_NE(m.node, 2u);
  (void)a;
}

TEST(DistributedTest, MasterDeathRemastersFromSurvivorsState) {
  Cluster c(4);
  Recorder r1, r2, r3;
  LockId m = Take(c[1], r1, "x", LockMode::kNL);  // n1 masters x
  c.Settle();
  LockId a = Take(c[2], r2, "x", LockMode::kPR);
  LockId b = Take(c[3], r3, "x", LockMode::kPR);
  c.Settle();
  ASSERT_TRUE(r2.Granted(a) && r3.Granted(b));
  c.Kill(1);
  c.Settle();
  net::NodeId nm = MasterOf(c[2], a);
  ASSERT_NE(nm, 1u);
  EXPECT_EQ(MasterOf(c[3], b), nm);
  EXPECT_EQ(c[nm].MasterLocks().size(), 2u);
  // The rebuilt queues still serve: an EX request waits for both PRs.
  LockId x = Take(c[4], r3, "x", LockMode::kEX);
  c.Settle();
  EXPECT_EQ(r3.Count(x), 0);
  ASSERT_TRUE(c[2].Unlock(a).ok());
  ASSERT_TRUE(c[3].Unlock(b).ok());
  c.Settle();
  EXPECT_TRUE(r3.Granted(x));
  (void)m;
}

TEST(DistributedTest, LvbIsInvalidatedWhenLastExHolderDies) {
  Cluster c(3);
  Recorder r1, r2, r3;
  Take(c[1], r1, "x", LockMode::kNL, kValBlk);  // n1 masters x
  c.Settle();
  LockId b = Take(c[2], r2, "x", LockMode::kEX, kValBlk);
  c.Settle();
  ASSERT_TRUE(r2.Granted(b));
  LockId w = Take(c[3], r3, "x", LockMode::kPR, kValBlk);
  c.Settle();
  c.Kill(2);
  c.Settle();
  auto done = r3.Last(w);
  ASSERT_TRUE(done && done->status == Code::kOk);
  EXPECT_TRUE(done->lvb_invalid);
}

TEST(DistributedTest, NodeWithoutQuorumRefusesNewLocks) {
  Cluster c(3);
  Recorder rec;
  c.net().Partition({{1}, {2, 3}});
  c.Settle();
  LockId a = Take(c[1], rec, "q", LockMode::kPR);
  c.Settle();
  auto done = rec.Last(a);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->status, Code::kUnavailable);
  LockId b = Take(c[2], rec, "q", LockMode::kPR);
  c.Settle();
  EXPECT_TRUE(rec.Granted(b));
}

TEST(DistributedTest, RequestsDuringRecoveryAreParkedThenServed) {
  Cluster c(3);
  Recorder rec;
  c.Kill(3);  // recovery starts; nothing delivered yet
  ASSERT_TRUE(c[1].recovering());
  LockId a = Take(c[1], rec, "p", LockMode::kEX);
  EXPECT_EQ(rec.Count(a), 0);
  c.Settle();
  EXPECT_TRUE(rec.Granted(a));
}

TEST(DistributedTest, RecoveryRestartsWhenMembershipChangesAgain) {
  Cluster c(5);
  Recorder rec;
  LockId a = Take(c[4], rec, "s", LockMode::kEX);
  c.Settle();
  LockId b = Take(c[1], rec, "s", LockMode::kEX);
  c.Settle();
  c.Kill(4);
  c.net().Step();  // part of a recovery
  c.Kill(5);       // and again, mid-recovery
  c.Settle();
  EXPECT_TRUE(rec.Granted(b));
  for (auto& [id, ls] : c.nodes()) {
    EXPECT_FALSE(ls->recovering());
    EXPECT_TRUE(ls->CheckInvariants().ok());
  }
  (void)a;
}

TEST(DistributedTest, RestartedNodeJoinsAndTakesLocks) {
  Cluster c(3);
  Recorder rec;
  c.Kill(2);
  c.Settle();
  c.Start(2);
  c.Settle();
  LockId a = Take(c[2], rec, "j", LockMode::kEX);
  c.Settle();
  EXPECT_TRUE(rec.Granted(a));
}

TEST(DistributedTest, IdleResourcesAreFreedEverywhereWithDirectoryEntries) {
  Cluster c(3);
  Recorder rec;
  for (const char* n : {"i1", "i2", "i3", "i4", "i5", "i6"}) {
    LockId a = Take(c[2], rec, n, LockMode::kEX);
    c.Settle();
    ASSERT_TRUE(c[2].Unlock(a).ok());
  }
  c.Settle();
  for (int i = 0; i < 40; ++i) c.Advance(kNanosPerSecond);
  for (auto& [id, ls] : c.nodes()) {
    EXPECT_EQ(ls->resource_count(), 0u) << "n" << id;
    EXPECT_EQ(ls->directory_size(), 0u) << "n" << id;
  }
}

TEST(DistributedTest, TimeoutOfRemoteRequestCancelsItAtTheMaster) {
  Cluster c(2);
  Recorder r1, r2;
  LockId a = Take(c[1], r1, "t", LockMode::kEX);
  c.Settle();
  LockRequest req = Req(r2, "t", LockMode::kEX);
  req.timeout = 2 * kNanosPerSecond;
  LockId b = *c[2].Lock(std::move(req));
  c.Settle();
  c.Advance(3 * kNanosPerSecond);
  auto done = r2.Last(b);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->status, Code::kTimedOut);
  EXPECT_EQ(c[1].MasterLocks().size(), 1u);
  (void)a;
}

}  // namespace
}  // namespace cohort::dlm
