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

}  // namespace
}  // namespace cohort::fs
