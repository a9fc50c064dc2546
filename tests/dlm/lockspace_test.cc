// tests/dlm/lockspace_test.cc: the engine on one node: grant rules, flags, state machine
// events, callbacks, ranges, parent locks, LVBs (docs/dlm.md §3-§7).
#include "dlm/lockspace.h"

#include <gtest/gtest.h>

#include "dlm/sync.h"
#include "tests/dlm/dlm_test_util.h"

namespace cohort::dlm {
namespace {

using testing::Cluster;
using testing::Cvt;
using testing::Recorder;
using testing::Req;

class LockspaceTest : public ::testing::Test {
 protected:
  Cluster c{1};
  Lockspace& ls = c[1];
  Recorder rec;

  LockId Take(std::string_view name, LockMode m, uint32_t flags = 0,
              Range range = Range::All()) {
    Result<LockId> id = ls.Lock(Req(rec, name, m, flags, range));
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return id.ok() ? *id : kNoLock;
  }
};

TEST_F(LockspaceTest, GrantedAtOnceDeliversAstBeforeLockReturns) {
  LockId a = Take("r", LockMode::kEX);
  ASSERT_TRUE(rec.Granted(a));
  EXPECT_EQ(rec.Last(a)->granted, LockMode::kEX);
}

TEST_F(LockspaceTest, LocallyMasteredLockSendsNoMessage) {
  Take("r", LockMode::kPR);
  EXPECT_EQ(c.net().pending(), 0u);
}

TEST_F(LockspaceTest, EveryCompatibilityCellDecidesGrant) {
  const LockMode modes[] = {LockMode::kNL, LockMode::kCR, LockMode::kCW,
                            LockMode::kPR, LockMode::kPW, LockMode::kEX};
  int n = 0;
  for (LockMode held : modes) {
    for (LockMode want : modes) {
      SCOPED_TRACE(std::string(ModeName(held)) + " vs " + ModeName(want));
      std::string name = "cell" + std::to_string(n++);
      LockId a = Take(name, held);
      LockId b = Take(name, want, kNoQueue);
      ASSERT_TRUE(rec.Granted(a));
      auto cb = rec.Last(b);
      ASSERT_TRUE(cb);
      EXPECT_EQ(cb->status == Code::kOk, ModesCompatible(held, want));
      if (cb->status != Code::kOk) {
        EXPECT_EQ(cb->status, Code::kWouldBlock);
      } else {
        ASSERT_TRUE(ls.Unlock(b).ok());
      }
      ASSERT_TRUE(ls.Unlock(a).ok());
    }
  }
}

TEST_F(LockspaceTest, WaitingRequestGrantedWhenHolderUnlocks) {
  LockId a = Take("r", LockMode::kEX);
  LockId b = Take("r", LockMode::kPR);
  EXPECT_EQ(rec.Count(b), 0);
  ASSERT_TRUE(ls.Unlock(a).ok());
  EXPECT_TRUE(rec.Last(a)->unlocked);
  EXPECT_TRUE(rec.Granted(b));
}

TEST_F(LockspaceTest, BastCarriesBlockingModeAndRedundantOnesAreSuppressed) {
  LockId a = Take("r", LockMode::kPR);
  Take("r", LockMode::kPW);
  Take("r", LockMode::kPW);
  ASSERT_EQ(rec.Basts(a), 1);
  EXPECT_EQ(rec.basts[0].second, LockMode::kPW);
  Take("r", LockMode::kEX);  // a higher mode: BASTed again
  EXPECT_EQ(rec.Basts(a), 2);
  EXPECT_EQ(rec.basts[1].second, LockMode::kEX);
}

TEST_F(LockspaceTest, GrantAstPrecedesBastForThatGrant) {
  LockId a = Take("r", LockMode::kEX);
  LockId b = Take("r", LockMode::kEX);
  LockId c2 = Take("r", LockMode::kEX);
  ASSERT_TRUE(ls.Unlock(a).ok());
  // b is granted and then BASTed for c2, in that order.
  size_t grant_at = 0;
  for (size_t i = 0; i < rec.completions.size(); ++i) {
    if (rec.completions[i].id == b) grant_at = i;
  }
  EXPECT_TRUE(rec.Granted(b));
  EXPECT_EQ(rec.Basts(b), 1);
  (void)grant_at;
  (void)c2;
}

TEST_F(LockspaceTest, ConversionsAreGrantedBeforeNewRequests) {
  LockId a = Take("r", LockMode::kPR);
  LockId b = Take("r", LockMode::kPR);
  LockId w = Take("r", LockMode::kEX);       // waits
  ASSERT_TRUE(ls.Convert(a, Cvt(LockMode::kEX)).ok());  // converts, waits for b
  ASSERT_TRUE(ls.Unlock(b).ok());
  EXPECT_EQ(rec.Last(a)->granted, LockMode::kEX);
  EXPECT_EQ(rec.Count(w), 0);
}

TEST_F(LockspaceTest, NewRequestsAreGrantedInFifoOrder) {
  LockId a = Take("r", LockMode::kEX);
  LockId b = Take("r", LockMode::kEX);
  LockId d = Take("r", LockMode::kPR);  // compatible with nothing held after b, but queued
  ASSERT_TRUE(ls.Unlock(a).ok());
  EXPECT_TRUE(rec.Granted(b));
  EXPECT_EQ(rec.Count(d), 0);
  ASSERT_TRUE(ls.Unlock(b).ok());
  EXPECT_TRUE(rec.Granted(d));
}

TEST_F(LockspaceTest, NewRequestWaitsBehindQueuedConflictingRequest) {
  Take("r", LockMode::kPR);
  Take("r", LockMode::kEX);              // waits
  LockId p = Take("r", LockMode::kPR);   // compatible with the grant, but FIFO
  EXPECT_EQ(rec.Count(p), 0);
}

TEST_F(LockspaceTest, DownConversionIsGrantedAndUnblocksWaiters) {
  LockId a = Take("r", LockMode::kEX);
  LockId b = Take("r", LockMode::kPR);
  ASSERT_TRUE(ls.Convert(a, Cvt(LockMode::kPR)).ok());
  EXPECT_EQ(rec.Last(a)->granted, LockMode::kPR);
  EXPECT_TRUE(rec.Granted(b));
}

TEST_F(LockspaceTest, NoQueueConversionKeepsOldGrant) {
  Take("r", LockMode::kPR);
  LockId b = Take("r", LockMode::kPR);
  ASSERT_TRUE(ls.Convert(b, Cvt(LockMode::kEX, kNoQueue)).ok());
  EXPECT_EQ(rec.Last(b)->status, Code::kWouldBlock);
  EXPECT_EQ(rec.Last(b)->granted, LockMode::kPR);
}

TEST_F(LockspaceTest, NoQueueSendsNoBastWithoutNoQueueBast) {
  LockId a = Take("r", LockMode::kEX);
  Take("r", LockMode::kEX, kNoQueue);
  EXPECT_EQ(rec.Basts(a), 0);
  Take("r", LockMode::kEX, kNoQueue | kNoQueueBast);
  EXPECT_EQ(rec.Basts(a), 1);
}

TEST_F(LockspaceTest, QueCvtConversionWaitsBehindEarlierConflictingConversion) {
  LockId a = Take("r", LockMode::kCR);
  LockId b = Take("r", LockMode::kNL);
  LockId h = Take("r", LockMode::kPR);
  ASSERT_TRUE(ls.Convert(a, Cvt(LockMode::kEX)).ok());  // blocked by h
  ASSERT_TRUE(ls.Convert(b, Cvt(LockMode::kCR, kQueCvt)).ok());
  EXPECT_EQ(rec.Count(b), 1);  // only its original grant: queued behind a's EX
  ASSERT_TRUE(ls.Unlock(h).ok());
  EXPECT_EQ(rec.Last(a)->granted, LockMode::kEX);
  EXPECT_EQ(rec.Count(b), 1);
  ASSERT_TRUE(ls.Convert(a, Cvt(LockMode::kNL)).ok());
  EXPECT_EQ(rec.Last(b)->granted, LockMode::kCR);
}

TEST_F(LockspaceTest, ConversionWithoutQueCvtJumpsTheConvertQueue) {
  LockId a = Take("r", LockMode::kCR);
  LockId b = Take("r", LockMode::kNL);
  Take("r", LockMode::kPR);
  ASSERT_TRUE(ls.Convert(a, Cvt(LockMode::kEX)).ok());
  ASSERT_TRUE(ls.Convert(b, Cvt(LockMode::kCR)).ok());
  EXPECT_EQ(rec.Last(b)->granted, LockMode::kCR);
}

TEST_F(LockspaceTest, QueCvtBehindConversionThatNeedsItsGrantIsADeadlock) {
  LockId a = Take("r", LockMode::kCR);
  LockId b = Take("r", LockMode::kCR);
  Take("r", LockMode::kPR);
  ASSERT_TRUE(ls.Convert(a, Cvt(LockMode::kEX)).ok());  // needs b's CR gone
  ASSERT_TRUE(ls.Convert(b, Cvt(LockMode::kCW, kQueCvt)).ok());  // queued behind a
  EXPECT_EQ(rec.Last(b)->status, Code::kDeadlock);
  EXPECT_EQ(rec.Last(b)->granted, LockMode::kCR);
}

TEST_F(LockspaceTest, ConversionDeadlockFailsNewerConverterWithoutConvdeadlk) {
  LockId a = Take("r", LockMode::kPR);
  LockId b = Take("r", LockMode::kPR);
  ASSERT_TRUE(ls.Convert(a, Cvt(LockMode::kEX)).ok());
  ASSERT_TRUE(ls.Convert(b, Cvt(LockMode::kEX)).ok());
  auto cb = rec.Last(b);
  ASSERT_TRUE(cb);
  EXPECT_EQ(cb->status, Code::kDeadlock);
  EXPECT_EQ(cb->granted, LockMode::kPR);
  EXPECT_EQ(rec.Count(a), 1);  // a still converting
  ASSERT_TRUE(ls.Unlock(b).ok());
  EXPECT_EQ(rec.Last(a)->granted, LockMode::kEX);
}

TEST_F(LockspaceTest, ConversionDeadlockDemotesToNlWhenConvdeadlkSet) {
  LockId a = Take("r", LockMode::kPR);
  LockId b = Take("r", LockMode::kPR);
  ASSERT_TRUE(ls.Convert(a, Cvt(LockMode::kEX)).ok());
  ASSERT_TRUE(ls.Convert(b, Cvt(LockMode::kEX, kConvDeadlk)).ok());
  // b demoted to NL, so a gets EX; b keeps waiting for EX.
  EXPECT_EQ(rec.Last(a)->granted, LockMode::kEX);
  ASSERT_TRUE(ls.Unlock(a).ok());
  auto cb = rec.Last(b);
  ASSERT_TRUE(cb);
  EXPECT_EQ(cb->status, Code::kOk);
  EXPECT_EQ(cb->granted, LockMode::kEX);
  EXPECT_TRUE(cb->demoted);
}

TEST_F(LockspaceTest, CancelRemovesWaitingRequest) {
  LockId a = Take("r", LockMode::kEX);
  LockId b = Take("r", LockMode::kEX);
  ASSERT_TRUE(ls.Cancel(b).ok());
  EXPECT_EQ(rec.Last(b)->status, Code::kCancelled);
  EXPECT_EQ(rec.Count(b), 1);
  EXPECT_EQ(ls.Unlock(b).code(), Code::kNotFound);
  (void)a;
}

TEST_F(LockspaceTest, CancelOfConversionKeepsOldGrant) {
  Take("r", LockMode::kPR);
  LockId b = Take("r", LockMode::kPR);
  ASSERT_TRUE(ls.Convert(b, Cvt(LockMode::kEX)).ok());
  ASSERT_TRUE(ls.Unlock(b, kCancel).ok());  // kCancel on Unlock is Cancel
  EXPECT_EQ(rec.Last(b)->status, Code::kCancelled);
  EXPECT_EQ(rec.Last(b)->granted, LockMode::kPR);
}

TEST_F(LockspaceTest, CancelOfGrantedLockIsNoOp) {
  LockId a = Take("r", LockMode::kEX);
  ASSERT_TRUE(ls.Cancel(a).ok());
  EXPECT_EQ(rec.Count(a), 1);
}

TEST_F(LockspaceTest, ExpediteNlJumpsTheWaitQueue) {
  Take("r", LockMode::kEX);
  Take("r", LockMode::kEX);
  LockId n = Take("r", LockMode::kNL);
  EXPECT_EQ(rec.Count(n), 0);
  LockId e = Take("r", LockMode::kNL, kExpedite);
  EXPECT_TRUE(rec.Granted(e));
}

TEST_F(LockspaceTest, TimeoutCompletesWaitingRequestWithTimedOut) {
  Take("r", LockMode::kEX);
  LockRequest r = Req(rec, "r", LockMode::kEX);
  r.timeout = 5 * kNanosPerSecond;
  LockId b = *ls.Lock(std::move(r));
  c.Advance(4 * kNanosPerSecond);
  EXPECT_EQ(rec.Count(b), 0);
  c.Advance(1 * kNanosPerSecond);
  ASSERT_EQ(rec.Count(b), 1);
  EXPECT_EQ(rec.Last(b)->status, Code::kTimedOut);
}

TEST_F(LockspaceTest, ConvertFlagOnLockConvertsExistingLock) {
  LockId a = Take("r", LockMode::kNL);
  LockRequest r = Req(rec, "r", LockMode::kEX, kConvert);
  r.convert_id = a;
  Result<LockId> id = ls.Lock(std::move(r));
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, a);
  EXPECT_EQ(rec.Last(a)->granted, LockMode::kEX);
}

TEST_F(LockspaceTest, OperationOnBusyLockIsRefused) {
  Take("r", LockMode::kEX);
  LockId b = Take("r", LockMode::kEX);
  EXPECT_EQ(ls.Convert(b, Cvt(LockMode::kNL)).code(), Code::kBusy);
  EXPECT_EQ(ls.Unlock(b).code(), Code::kBusy);
}

TEST_F(LockspaceTest, BadRequestsAreRefusedWithoutCallback) {
  std::string long_name(65, 'x');
  EXPECT_EQ(ls.Lock(Req(rec, long_name, LockMode::kEX)).code(), Code::kNameTooLong);
  EXPECT_EQ(ls.Lock(Req(rec, "", LockMode::kEX)).code(), Code::kInvalidArgument);
  EXPECT_EQ(ls.Lock(Req(rec, "r", LockMode::kNone)).code(), Code::kInvalidArgument);
  EXPECT_EQ(ls.Lock(Req(rec, "r", LockMode::kEX, 0, Range{5, 4})).code(),
            Code::kInvalidArgument);
  EXPECT_EQ(ls.Unlock(12345).code(), Code::kNotFound);
  EXPECT_TRUE(rec.completions.empty());
}

TEST_F(LockspaceTest, CallbackMayCallIntoLockspace) {
  LockId second = kNoLock;
  LockRequest r = Req(rec, "r", LockMode::kEX);
  r.on_complete = [&](const Completion& cmp) {
    rec.completions.push_back(cmp);
    if (second == kNoLock) second = *ls.Lock(Req(rec, "other", LockMode::kEX));
  };
  LockId a = *ls.Lock(std::move(r));
  EXPECT_TRUE(rec.Granted(a));
  EXPECT_TRUE(rec.Granted(second));
}

// ---- ranges (docs/dlm.md §2 range rule) ----

TEST_F(LockspaceTest, DisjointRangesAreGrantedTogetherInExclusiveMode) {
  LockId a = Take("f", LockMode::kEX, 0, Range{0, 99});
  LockId b = Take("f", LockMode::kEX, 0, Range{100, 199});
  EXPECT_TRUE(rec.Granted(a));
  EXPECT_TRUE(rec.Granted(b));
}

TEST_F(LockspaceTest, RangesSharingOneByteConflict) {
  Take("f", LockMode::kEX, 0, Range{0, 100});
  LockId b = Take("f", LockMode::kEX, kNoQueue, Range{100, 200});
  EXPECT_EQ(rec.Last(b)->status, Code::kWouldBlock);
}

TEST_F(LockspaceTest, ContainedRangeConflicts) {
  Take("f", LockMode::kPW, 0, Range{0, 1000});
  LockId b = Take("f", LockMode::kPR, kNoQueue, Range{10, 20});
  EXPECT_EQ(rec.Last(b)->status, Code::kWouldBlock);
}

TEST_F(LockspaceTest, OverlappingCompatibleModesAreGranted) {
  LockId a = Take("f", LockMode::kPR, 0, Range{0, 50});
  LockId b = Take("f", LockMode::kPR, 0, Range{25, 75});
  EXPECT_TRUE(rec.Granted(a));
  EXPECT_TRUE(rec.Granted(b));
}

TEST_F(LockspaceTest, WaiterOnDisjointRangeDoesNotBlockNewRequest) {
  Take("f", LockMode::kEX, 0, Range{0, 9});
  Take("f", LockMode::kEX, 0, Range{0, 9});  // waits on [0,9]
  LockId c3 = Take("f", LockMode::kEX, 0, Range{10, 19});
  EXPECT_TRUE(rec.Granted(c3));
}

TEST_F(LockspaceTest, ConversionMayChangeRange) {
  LockId a = Take("f", LockMode::kEX, 0, Range{0, 9});
  LockId b = Take("f", LockMode::kEX, 0, Range{5, 15});
  EXPECT_EQ(rec.Count(b), 0);
  ASSERT_TRUE(ls.Convert(a, Cvt(LockMode::kEX, 0, Range{0, 4})).ok());
  EXPECT_EQ(rec.Last(a)->range, (Range{0, 4}));
  EXPECT_TRUE(rec.Granted(b));
}

// ---- parent locks ----

TEST_F(LockspaceTest, ChildResourcesLiveInTheirParentsNamespace) {
  LockId p1 = Take("inode12", LockMode::kPR);
  LockId p2 = Take("inode13", LockMode::kPR);
  LockRequest r1 = Req(rec, "range", LockMode::kEX);
  r1.parent = p1;
  LockRequest r2 = Req(rec, "range", LockMode::kEX);
  r2.parent = p2;
  LockId c1 = *ls.Lock(std::move(r1));
  LockId c2 = *ls.Lock(std::move(r2));
  EXPECT_TRUE(rec.Granted(c1));
  EXPECT_TRUE(rec.Granted(c2));  // same name, different namespace
  EXPECT_NE(ls.Dump().find("inode12/range"), std::string::npos);
}

TEST_F(LockspaceTest, ParentWithChildrenCannotBeUnlocked) {
  LockId p = Take("dir", LockMode::kPR);
  LockRequest r = Req(rec, "entry", LockMode::kEX);
  r.parent = p;
  LockId ch = *ls.Lock(std::move(r));
  EXPECT_EQ(ls.Unlock(p).code(), Code::kBusy);
  ASSERT_TRUE(ls.Unlock(ch).ok());
  EXPECT_TRUE(ls.Unlock(p).ok());
}

TEST_F(LockspaceTest, SubtreeUnlockReleasesChildrenFirst) {
  LockId p = Take("dir", LockMode::kPR);
  LockRequest r = Req(rec, "entry", LockMode::kEX);
  r.parent = p;
  LockId ch = *ls.Lock(std::move(r));
  ASSERT_TRUE(ls.Unlock(p, kSubtree).ok());
  ASSERT_TRUE(rec.Last(ch)->unlocked);
  ASSERT_TRUE(rec.Last(p)->unlocked);
  size_t ich = 0, ip = 0;
  for (size_t i = 0; i < rec.completions.size(); ++i) {
    if (rec.completions[i].id == ch) ich = i;
    if (rec.completions[i].id == p) ip = i;
  }
  EXPECT_LT(ich, ip);
}

TEST_F(LockspaceTest, ParentMustBeAGrantedLockOfThisNode) {
  Take("r", LockMode::kEX);
  LockId w = Take("r", LockMode::kEX);  // waiting
  LockRequest r = Req(rec, "child", LockMode::kEX);
  r.parent = w;
  EXPECT_EQ(ls.Lock(std::move(r)).code(), Code::kInvalidArgument);
  LockRequest r2 = Req(rec, "child", LockMode::kEX);
  r2.parent = 999;
  EXPECT_EQ(ls.Lock(std::move(r2)).code(), Code::kNotFound);
}

// ---- LVB (docs/dlm.md §3) ----

TEST_F(LockspaceTest, LvbWrittenOnDownConversionFromExIsReadByNextHolder) {
  LockId a = Take("r", LockMode::kEX, kValBlk);
  Lvb v{};
  v[0] = 42;
  ConvertRequest cv = Cvt(LockMode::kNL, kValBlk);
  cv.lvb = &v;
  ASSERT_TRUE(ls.Convert(a, cv).ok());
  LockId b = Take("r", LockMode::kPR, kValBlk);
  auto cb = rec.Last(b);
  ASSERT_TRUE(cb && cb->lvb_valid_read);
  EXPECT_EQ(cb->lvb[0], 42);
  EXPECT_FALSE(cb->lvb_invalid);
}

TEST_F(LockspaceTest, UnlockFromPwWritesLvb) {
  LockId a = Take("r", LockMode::kPW, kValBlk);
  Lvb v{};
  v[63] = 7;
  ASSERT_TRUE(ls.Unlock(a, kValBlk, &v).ok());
  LockId b = Take("r", LockMode::kCR, kValBlk);
  EXPECT_EQ(rec.Last(b)->lvb[63], 7);
}

TEST_F(LockspaceTest, PrHolderCannotWriteLvb) {
  Take("r", LockMode::kNL, kValBlk);  // keeps the resource (and its LVB) alive
  LockId a = Take("r", LockMode::kPR, kValBlk);
  Lvb v{};
  v[0] = 9;
  ASSERT_TRUE(ls.Unlock(a, kValBlk, &v).ok());
  LockId b = Take("r", LockMode::kPR, kValBlk);
  EXPECT_EQ(rec.Last(b)->lvb[0], 0);
}

TEST_F(LockspaceTest, IvValBlkInvalidatesLvb) {
  LockId a = Take("r", LockMode::kEX, kValBlk);
  ASSERT_TRUE(ls.Unlock(a, kValBlk | kIvValBlk).ok());
  LockId b = Take("r", LockMode::kPR, kValBlk);
  EXPECT_TRUE(rec.Last(b)->lvb_invalid);
}

// ---- deadlock detection on one node (docs/dlm.md §11) ----

TEST_F(LockspaceTest, OwnerDeadlockNeedsTwoConsistentRoundsThenDeniesOne) {
  LockRequest a = Req(rec, "A", LockMode::kEX);
  a.owner = 1;
  LockRequest b = Req(rec, "B", LockMode::kEX);
  b.owner = 2;
  ASSERT_TRUE(rec.Granted(*ls.Lock(std::move(a))));
  ASSERT_TRUE(rec.Granted(*ls.Lock(std::move(b))));
  LockRequest wa = Req(rec, "B", LockMode::kEX);
  wa.owner = 1;
  LockRequest wb = Req(rec, "A", LockMode::kEX);
  wb.owner = 2;
  LockId w1 = *ls.Lock(std::move(wa));
  LockId w2 = *ls.Lock(std::move(wb));
  c.Advance(kNanosPerSecond);  // first round: a snapshot alone proves nothing
  EXPECT_EQ(rec.Count(w1) + rec.Count(w2), 0);
  c.Advance(kNanosPerSecond);
  c.Advance(kNanosPerSecond);
  ASSERT_EQ(rec.Count(w1) + rec.Count(w2), 1);
  LockId victim = rec.Count(w1) ? w1 : w2;
  EXPECT_EQ(rec.Last(victim)->status, Code::kDeadlock);
}

TEST_F(LockspaceTest, LocksOfOneOwnerOnDistinctResourcesAreNoDeadlock) {
  LockRequest a = Req(rec, "A", LockMode::kEX);
  a.owner = 1;
  ASSERT_TRUE(rec.Granted(*ls.Lock(std::move(a))));
  LockRequest b = Req(rec, "A", LockMode::kEX);
  b.owner = 2;
  LockId w = *ls.Lock(std::move(b));
  for (int i = 0; i < 5; ++i) c.Advance(kNanosPerSecond);
  EXPECT_EQ(rec.Count(w), 0);  // a plain wait, not a cycle
}

// ---- sync wrapper and dump ----

TEST_F(LockspaceTest, SyncLockLocksConvertsAndUnlocks) {
  SyncLock s(&ls);
  LockRequest r;
  r.name = "sync";
  r.mode = LockMode::kPR;
  ASSERT_TRUE(s.Lock(std::move(r)).ok());
  EXPECT_EQ(s.last().granted, LockMode::kPR);
  ASSERT_TRUE(s.Convert(Cvt(LockMode::kEX)).ok());
  EXPECT_EQ(s.last().granted, LockMode::kEX);
  ASSERT_TRUE(s.Unlock().ok());
  EXPECT_TRUE(s.last().unlocked);
}

TEST_F(LockspaceTest, DumpListsResourcesAndLocks) {
  Take("alpha", LockMode::kEX);
  Take("alpha", LockMode::kPR);
  std::string d = ls.Dump();
  EXPECT_NE(d.find("resource alpha master n1"), std::string::npos) << d;
  EXPECT_NE(d.find("granted"), std::string::npos) << d;
  EXPECT_NE(d.find("waiting"), std::string::npos) << d;
  EXPECT_TRUE(ls.CheckInvariants().ok());
}

TEST_F(LockspaceTest, IdleResourceIsFreedWithItsDirectoryEntry) {
  LockId a = Take("idle", LockMode::kEX);
  ASSERT_TRUE(ls.Unlock(a).ok());
  EXPECT_EQ(ls.resource_count(), 1u);
  EXPECT_EQ(ls.directory_size(), 1u);
  for (int i = 0; i < 30; ++i) c.Advance(kNanosPerSecond);
  EXPECT_EQ(ls.resource_count(), 0u);
  EXPECT_EQ(ls.directory_size(), 0u);
}

}  // namespace
}  // namespace cohort::dlm
