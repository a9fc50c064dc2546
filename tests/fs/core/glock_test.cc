// Tests of fs/core/glock.h on a one-node lockspace (SimTransport): holders, local
// exclusion, and demotion driven by a blocking callback.
#include "fs/core/glock.h"

#include <atomic>
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "dlm/sim_transport.h"

namespace cohort::fs {
namespace {

class RecordingCallbacks : public GlockCallbacks {
 public:
  Status SyncGlock(Glock*) override {
    syncs++;
    return Status::OK();
  }
  void InvalidateGlock(Glock*) override { invalidations++; }
  bool PrepareDemote(Glock*) override {
    prepares++;
    return prepared.load();
  }
  std::atomic<int> syncs{0};
  std::atomic<int> invalidations{0};
  std::atomic<int> prepares{0};
  std::atomic<bool> prepared{true};
};

class GlockTest : public ::testing::Test {
 protected:
  GlockTest() : net_(7, 1) {
    ls_ = std::make_unique<dlm::Lockspace>(net_.NewEndpoint(1), dlm::LockspaceOptions{});
    net_.Join(1);
    net_.RunUntilIdle(100);
    GlockOptions o;
    o.min_hold = 0;
    o.worker_period = 5 * kNanosPerMilli;
    mgr_ = std::make_unique<GlockManager>(ls_.get(), &cb_, Clock::Real(), o);
  }
  ~GlockTest() override { mgr_.reset(); }

  bool WaitFor(const std::function<bool()>& pred) {
    for (int i = 0; i < 2000; ++i) {
      if (pred()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return pred();
  }

  dlm::SimNetwork net_;
  std::unique_ptr<dlm::Lockspace> ls_;
  RecordingCallbacks cb_;
  std::unique_ptr<GlockManager> mgr_;
};

TEST_F(GlockTest, SharedHoldersCoexistAndExclusiveWaitsForThem) {
  Glock* gl = mgr_->Get(GlockType::kInode, 42);
  auto a = mgr_->Acquire(gl, HolderMode::kShared);
  auto b = mgr_->Acquire(gl, HolderMode::kShared);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(mgr_->Acquire(gl, HolderMode::kExclusive, /*try_only=*/true).code(), Code::kWouldBlock);
  std::atomic<bool> got{false};
  std::thread t([&] {
    auto x = mgr_->Acquire(gl, HolderMode::kExclusive);
    got = x.ok();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(got.load());
  a->Release();
  b->Release();
  t.join();
  EXPECT_TRUE(got.load());
}

TEST_F(GlockTest, FreezeHoldsBackLocksGrantedAfterItButNotCachedOnes) {
  Glock* old = mgr_->Get(GlockType::kInode, 10);
  { auto h = mgr_->Acquire(old, HolderMode::kExclusive); ASSERT_TRUE(h.ok()); }  // cached
  uint64_t epoch = mgr_->Freeze();
  EXPECT_TRUE(mgr_->frozen());
  // A lock cached from before the freeze keeps working.
  { auto h = mgr_->Acquire(old, HolderMode::kShared); EXPECT_TRUE(h.ok()); }
  // A lock the DLM grants after the freeze waits for the thaw...
  Glock* fresh = mgr_->Get(GlockType::kInode, 11);
  std::atomic<bool> got{false};
  std::thread t([&] {
    auto h = mgr_->Acquire(fresh, HolderMode::kExclusive);
    got = h.ok();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(got.load());
  // ... except for the recovery's own holders.
  { auto h = mgr_->Acquire(GlockType::kJournal, 3, HolderMode::kExclusive, false, true); EXPECT_TRUE(h.ok()); }
  // A thaw of an older epoch does not end a newer freeze.
  uint64_t newer = mgr_->Freeze();
  mgr_->Thaw(epoch);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(got.load());
  mgr_->Thaw(newer);
  t.join();
  EXPECT_TRUE(got.load());
  EXPECT_FALSE(mgr_->frozen());
}

TEST_F(GlockTest, FreezeAllHoldsBackEvenCachedLocksAndWithdrawFailsThemWithIOError) {
  Glock* old = mgr_->Get(GlockType::kInode, 20);
  { auto h = mgr_->Acquire(old, HolderMode::kExclusive); ASSERT_TRUE(h.ok()); }
  mgr_->Freeze(/*all=*/true);
  std::atomic<int> code{-1};
  std::thread t([&] { code = static_cast<int>(mgr_->Acquire(old, HolderMode::kShared).code()); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(code.load(), -1);  // still waiting
  mgr_->Withdraw("test");
  t.join();
  EXPECT_EQ(code.load(), static_cast<int>(Code::kIOError));
  EXPECT_EQ(mgr_->Acquire(old, HolderMode::kShared).code(), Code::kIOError);
}

TEST_F(GlockTest, AbortWaitersEndsAWaitInAFreezeSoUnmountCanJoinItsThreads) {
  Glock* old = mgr_->Get(GlockType::kInode, 30);
  { auto h = mgr_->Acquire(old, HolderMode::kExclusive); ASSERT_TRUE(h.ok()); }
  mgr_->Freeze(/*all=*/true);  // quorum lost for good
  std::atomic<int> code{-1};
  std::thread t([&] {
    code = static_cast<int>(mgr_->Acquire(old, HolderMode::kExclusive, /*try_only=*/true).code());
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(code.load(), -1);  // still waiting
  mgr_->AbortWaiters();
  t.join();
  EXPECT_EQ(code.load(), static_cast<int>(Code::kAborted));
}

TEST_F(GlockTest, DlmLockStaysCachedAfterLastHolder) {
  Glock* gl = mgr_->Get(GlockType::kInode, 1);
  { auto h = mgr_->Acquire(gl, HolderMode::kExclusive); ASSERT_TRUE(h.ok()); }
  EXPECT_TRUE(gl->exclusive());
  EXPECT_EQ(cb_.syncs.load(), 0);
}

TEST_F(GlockTest, BlockingCallbackDemotesAfterHoldersLeaveSyncingAndInvalidating) {
  Glock* gl = mgr_->Get(GlockType::kInode, 7);
  auto h = mgr_->Acquire(gl, HolderMode::kExclusive);
  ASSERT_TRUE(h.ok());
  mgr_->TEST_RequestDemote(gl, dlm::LockMode::kEX);
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  EXPECT_EQ(cb_.syncs.load(), 0) << "never demoted under a holder";
  EXPECT_TRUE(gl->exclusive());
  h->Release();
  ASSERT_TRUE(WaitFor([&] { return !gl->exclusive() && cb_.invalidations.load() == 1; }));
  EXPECT_EQ(cb_.syncs.load(), 1);
  EXPECT_EQ(mgr_->demotions(), 1u);
}

TEST_F(GlockTest, DemotionToProtectedReadSyncsButKeepsCaches) {
  Glock* gl = mgr_->Get(GlockType::kInode, 8);
  { auto h = mgr_->Acquire(gl, HolderMode::kExclusive); ASSERT_TRUE(h.ok()); }
  mgr_->TEST_RequestDemote(gl, dlm::LockMode::kPR);
  ASSERT_TRUE(WaitFor([&] { return !gl->exclusive(); }));
  EXPECT_EQ(cb_.syncs.load(), 1);
  EXPECT_EQ(cb_.invalidations.load(), 0);
  auto s = mgr_->Acquire(gl, HolderMode::kShared, /*try_only=*/true);
  EXPECT_TRUE(s.ok()) << "PR is still held: a shared holder needs no DLM request";
}

TEST_F(GlockTest, GivingUpProtectedReadPreparesWhileHoldersAreStillAdmitted) {
  Glock* gl = mgr_->Get(GlockType::kInode, 11);
  { auto h = mgr_->Acquire(gl, HolderMode::kShared); ASSERT_TRUE(h.ok()); }
  cb_.prepared = false;
  mgr_->TEST_RequestDemote(gl, dlm::LockMode::kEX);
  ASSERT_TRUE(WaitFor([&] { return cb_.prepares.load() >= 2; })) << "asked again while not ready";
  {
    auto h = mgr_->Acquire(gl, HolderMode::kShared, /*try_only=*/true);
    EXPECT_TRUE(h.ok()) << "a holder is admitted during the prepare phase";
  }
  EXPECT_EQ(cb_.invalidations.load(), 0);
  EXPECT_EQ(mgr_->demotions(), 0u);
  cb_.prepared = true;
  mgr_->Kick(gl);
  ASSERT_TRUE(WaitFor([&] { return mgr_->demotions() == 1u; }));
  EXPECT_EQ(cb_.invalidations.load(), 1);
}

TEST_F(GlockTest, AcquireManyTakesGlocksInLockOrderAndMergesDuplicates) {
  Glock* g = mgr_->Get(GlockType::kGroup, 1);
  Glock* i9 = mgr_->Get(GlockType::kInode, 9);
  Glock* i3 = mgr_->Get(GlockType::kInode, 3);
  auto hs = mgr_->AcquireMany({{g, HolderMode::kExclusive},
                               {i9, HolderMode::kShared},
                               {i3, HolderMode::kShared},
                               {i9, HolderMode::kExclusive}});
  ASSERT_TRUE(hs.ok());
  ASSERT_EQ(hs->size(), 3u);
  EXPECT_EQ((*hs)[0].glock(), i3);
  EXPECT_EQ((*hs)[1].glock(), i9);
  EXPECT_EQ((*hs)[1].mode(), HolderMode::kExclusive);
  EXPECT_EQ((*hs)[2].glock(), g);
}

TEST_F(GlockTest, ShutdownReleasesEveryDlmLock) {
  for (uint64_t n = 0; n < 5; ++n) {
    auto h = mgr_->Acquire(GlockType::kInode, n, HolderMode::kExclusive);
    ASSERT_TRUE(h.ok());
  }
  mgr_->Shutdown();
  EXPECT_EQ(cb_.syncs.load(), 5);
  EXPECT_TRUE(ls_->OwnLocks().empty()) << ls_->Dump();
  EXPECT_EQ(mgr_->Acquire(GlockType::kInode, 1, HolderMode::kShared).code(), Code::kAborted);
}

// The hold time (docs/locking.md §2.6): a glock this node is not using is given up at
// once when another node asks, even inside the minimum hold time ...
class GlockHoldTest : public GlockTest {
 protected:
  // The manager again, with these hold options (worker period as GlockTest's).
  void Restart(Nanos min_hold, Nanos idle_grace) {
    mgr_.reset();
    GlockOptions o;
    o.min_hold = min_hold;
    o.idle_grace = idle_grace;
    o.worker_period = 5 * kNanosPerMilli;
    mgr_ = std::make_unique<GlockManager>(ls_.get(), &cb_, Clock::Real(), o);
  }
};

TEST_F(GlockHoldTest, IdleGlockIsDemotedAtOnceInsideTheHoldTime) {
  Restart(/*min_hold=*/3600 * kNanosPerSecond, /*idle_grace=*/0);  // would block for an hour
  Glock* gl = mgr_->Get(GlockType::kInode, 9);
  { auto h = mgr_->Acquire(gl, HolderMode::kExclusive); ASSERT_TRUE(h.ok()); }
  mgr_->TEST_RequestDemote(gl, dlm::LockMode::kEX);
  EXPECT_TRUE(WaitFor([&] { return mgr_->demotions() == 1; }));
  EXPECT_FALSE(gl->exclusive());
  EXPECT_EQ(cb_.syncs.load(), 1);
  mgr_->Shutdown();
}

// ... while a glock in use keeps it for the hold time, and admits new holders meanwhile
// (the protection against ping-pong).
TEST_F(GlockHoldTest, GlockInUseIsKeptForTheHoldTimeAndStillAdmitsHolders) {
  // "just used" for the whole test
  Restart(/*min_hold=*/3600 * kNanosPerSecond, /*idle_grace=*/3600 * kNanosPerSecond);
  Glock* gl = mgr_->Get(GlockType::kInode, 10);
  auto h = mgr_->Acquire(gl, HolderMode::kExclusive);
  ASSERT_TRUE(h.ok());
  mgr_->TEST_RequestDemote(gl, dlm::LockMode::kEX);
  h->Release();
  for (int i = 0; i < 5; ++i) {
    auto again = mgr_->Acquire(gl, HolderMode::kExclusive, /*try_only=*/true);
    EXPECT_TRUE(again.ok()) << "a holder inside the hold time is admitted";
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(gl->exclusive());
  EXPECT_EQ(mgr_->demotions(), 0u);
  EXPECT_EQ(cb_.syncs.load(), 0);
  mgr_->Shutdown();
  EXPECT_FALSE(gl->exclusive());
}

// A glock the filesystem marks idle (the last close of its file on this node) is given up
// at once although it was used just now: a demotion already pending goes, and so does
// one asked for later; the lock stays cached until then. The next holder ends the mark.
TEST_F(GlockHoldTest, GlockMarkedIdleIsDemotedAtOnceInsideTheGraceTime) {
  Restart(/*min_hold=*/3600 * kNanosPerSecond, /*idle_grace=*/3600 * kNanosPerSecond);
  Glock* gl = mgr_->Get(GlockType::kInode, 12);
  { auto h = mgr_->Acquire(gl, HolderMode::kExclusive); ASSERT_TRUE(h.ok()); }
  mgr_->TEST_RequestDemote(gl, dlm::LockMode::kEX);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(mgr_->demotions(), 0u) << "used within the grace time: pending";
  mgr_->MarkIdle(gl);
  EXPECT_TRUE(WaitFor([&] { return mgr_->demotions() == 1; }));
  EXPECT_FALSE(gl->exclusive());
  EXPECT_EQ(cb_.syncs.load(), 1);

  // Marked idle before the callback: served at once too.
  Glock* g2 = mgr_->Get(GlockType::kInode, 13);
  { auto h = mgr_->Acquire(g2, HolderMode::kExclusive); ASSERT_TRUE(h.ok()); }
  mgr_->MarkIdle(g2);
  EXPECT_TRUE(g2->exclusive()) << "marking idle alone gives nothing up";
  mgr_->TEST_RequestDemote(g2, dlm::LockMode::kEX);
  EXPECT_TRUE(WaitFor([&] { return mgr_->demotions() == 2; }));

  // A holder after the mark ends it: used again, the grace time protects it again.
  Glock* g3 = mgr_->Get(GlockType::kInode, 14);
  { auto h = mgr_->Acquire(g3, HolderMode::kExclusive); ASSERT_TRUE(h.ok()); }
  mgr_->MarkIdle(g3);
  { auto h = mgr_->Acquire(g3, HolderMode::kExclusive); ASSERT_TRUE(h.ok()); }
  mgr_->TEST_RequestDemote(g3, dlm::LockMode::kEX);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(mgr_->demotions(), 2u);
  EXPECT_TRUE(g3->exclusive());
  mgr_->Shutdown();
}

// After the hold time a pending demotion is served and new holders wait for it.
TEST_F(GlockHoldTest, PendingDemotionIsServedWhenTheHoldTimeEnds) {
  Restart(/*min_hold=*/50 * kNanosPerMilli, /*idle_grace=*/3600 * kNanosPerSecond);
  Glock* gl = mgr_->Get(GlockType::kInode, 11);
  { auto h = mgr_->Acquire(gl, HolderMode::kExclusive); ASSERT_TRUE(h.ok()); }
  mgr_->TEST_RequestDemote(gl, dlm::LockMode::kEX);
  EXPECT_TRUE(WaitFor([&] { return mgr_->demotions() == 1; }));
  EXPECT_EQ(cb_.syncs.load(), 1);
  mgr_->Shutdown();
}

// The placement rule (docs/locking.md §2.5): inode/open glocks of an inode in group g and
// the group glock of g prefer node g % max_nodes + 1, the node whose home slot prefers g.
std::string GlockKey(GlockType t, uint64_t n) {
  std::string name(9, '\0');
  name[0] = static_cast<char>(t);
  for (int i = 0; i < 8; ++i) name[1 + i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return dlm::MakeResourceKey("", name);
}

TEST(GlockPlacementTest, InodesAndGroupsPreferTheNodeWhoseSlotAllocatesInTheGroup) {
  GlockPlacement p{/*ag_start=*/100, /*ag_blocks=*/1000, /*max_nodes=*/4};
  EXPECT_EQ(p(GlockKey(GlockType::kInode, 100)), 1u);     // group 0
  EXPECT_EQ(p(GlockKey(GlockType::kOpen, 1099)), 1u);     // still group 0
  EXPECT_EQ(p(GlockKey(GlockType::kInode, 1100)), 2u);    // group 1
  EXPECT_EQ(p(GlockKey(GlockType::kInode, 3100 + 5)), 4u);  // group 3
  EXPECT_EQ(p(GlockKey(GlockType::kOpen, 4100)), 1u);     // group 4 wraps to slot 0
  EXPECT_EQ(p(GlockKey(GlockType::kGroup, 6)), 3u);
}

TEST(GlockPlacementTest, OtherNamesHaveNoPreference) {
  GlockPlacement p{100, 1000, 4};
  EXPECT_EQ(p(GlockKey(GlockType::kInode, 5)), net::kNoNode);  // below the groups
  EXPECT_EQ(p(GlockKey(GlockType::kJournal, 1)), net::kNoNode);
  EXPECT_EQ(p(GlockKey(GlockType::kStatfs, 0)), net::kNoNode);
  EXPECT_EQ(p(GlockKey(GlockType::kRename, 0)), net::kNoNode);
  EXPECT_EQ(p(GlockKey(GlockType::kFlock, 2000)), net::kNoNode);
  // A child key (POSIX lock range under an inode) or a malformed key: none.
  std::string child = dlm::MakeResourceKey(GlockKey(GlockType::kInode, 2000), "p");
  EXPECT_EQ(p(child), net::kNoNode);
  EXPECT_EQ(p(""), net::kNoNode);
  EXPECT_EQ(p(std::string(10, 'i')), net::kNoNode);
  // No geometry: no preference rather than a division by zero.
  EXPECT_EQ((GlockPlacement{0, 0, 4}(GlockKey(GlockType::kInode, 5))), net::kNoNode);
}

}  // namespace
}  // namespace cohort::fs
