// Tests of common/mutex.h: mutual exclusion, CondVar, and the debug lock-rank check.
#include "common/mutex.h"

#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace cohort {
namespace {

class Counter {
 public:
  void Add() EXCLUDES(mu_) {
    MutexLock l(&mu_);
    ++n_;
  }
  int Get() EXCLUDES(mu_) {
    MutexLock l(&mu_);
    return n_;
  }

 private:
  Mutex mu_{LockRank::kTestLow, "test.counter"};
  int n_ GUARDED_BY(mu_) = 0;
};

TEST(MutexTest, ExcludesConcurrentIncrements) {
  Counter c;
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) c.Add();
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(c.Get(), 40000);
}

TEST(MutexTest, InOrderAcquisitionIsAllowed) {
  Mutex low(LockRank::kTestLow, "low");
  Mutex high(LockRank::kTestHigh, "high");
  MutexLock a(&low);
  MutexLock b(&high);
  SUCCEED();
}

bool TryLockOnce(Mutex* mu) NO_THREAD_SAFETY_ANALYSIS {
  bool got = mu->TryLock();
  if (got) mu->Unlock();
  return got;
}

TEST(MutexTest, TryLockFailsWhenHeldAndSucceedsWhenFree) {
  Mutex mu(LockRank::kTestLow, "t");
  bool got = true;
  {
    MutexLock l(&mu);
    std::thread t([&] { got = TryLockOnce(&mu); });
    t.join();
  }
  EXPECT_FALSE(got);
  EXPECT_TRUE(TryLockOnce(&mu));
}

TEST(CondVarTest, WaitForTimesOutWithoutSignal) {
  Mutex mu(LockRank::kTestLow, "t");
  CondVar cv(&mu);
  MutexLock l(&mu);
  EXPECT_FALSE(cv.WaitFor(std::chrono::milliseconds(1)));
}

TEST(CondVarTest, SignalWakesWaiter) {
  Mutex mu(LockRank::kTestLow, "t");
  CondVar cv(&mu);
  bool ready = false;  // guarded by mu (local, so not annotated)
  std::thread t([&] {
    MutexLock l(&mu);
    ready = true;
    cv.Signal();
  });
  {
    MutexLock l(&mu);
    while (!ready) cv.Wait();
  }
  t.join();
  EXPECT_TRUE(ready);
}

#ifdef COHORT_LOCK_RANK_CHECK
// The check is compiled into debug builds only: out-of-order acquisition aborts with the
// names of both mutexes.
void AcquireOutOfOrder() NO_THREAD_SAFETY_ANALYSIS {
  Mutex low(LockRank::kTestLow, "test.low");
  Mutex high(LockRank::kTestHigh, "test.high");
  high.Lock();
  low.Lock();  // rank 900 after 901: must abort
  low.Unlock();
  high.Unlock();
}

void AcquireTwice() NO_THREAD_SAFETY_ANALYSIS {
  Mutex m(LockRank::kTestLow, "test.self");
  m.Lock();
  m.Lock();
}

TEST(MutexDeathTest, OutOfOrderAcquisitionAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(AcquireOutOfOrder(), "lock rank violation: acquiring test.low\\(900\\) while "
                                    "holding test.high\\(901\\)");
}

TEST(MutexDeathTest, RecursiveAcquisitionAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(AcquireTwice(), "re-acquiring test.self");
}

TEST(MutexTest, RankBookkeepingFollowsCondVarWait) {
  Mutex low(LockRank::kTestLow, "test.low");
  CondVar cv(&low);
  {
    MutexLock l(&low);
    EXPECT_EQ(HeldLockRanksForDebug(), "test.low(900)");
    (void)cv.WaitFor(std::chrono::microseconds(10));
    EXPECT_EQ(HeldLockRanksForDebug(), "test.low(900)");
  }
  EXPECT_EQ(HeldLockRanksForDebug(), "");
}
#endif

}  // namespace
}  // namespace cohort
