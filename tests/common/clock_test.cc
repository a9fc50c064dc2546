// Tests of common/clock.h.
#include "common/clock.h"

#include <gtest/gtest.h>

namespace cohort {
namespace {

TEST(ClockTest, RealMonotonicClockNeverGoesBack) {
  Clock* c = Clock::Real();
  Nanos prev = c->Now();
  for (int i = 0; i < 1000; ++i) {
    Nanos now = c->Now();
    EXPECT_GE(now, prev);
    prev = now;
  }
}

TEST(ClockTest, RealWallClockIsAfter2020) {
  EXPECT_GT(Clock::Real()->WallNanos(), 1'577'836'800LL * kNanosPerSecond);
}

TEST(FakeClockTest, MovesOnlyWhenAdvanced) {
  FakeClock c(100);
  EXPECT_EQ(c.Now(), 100);
  EXPECT_EQ(c.Now(), 100);
  c.Advance(5 * kNanosPerMilli);
  EXPECT_EQ(c.Now(), 100 + 5 * kNanosPerMilli);
  int64_t wall = c.WallNanos();
  c.Advance(1);
  EXPECT_EQ(c.WallNanos(), wall + 1);
}

}  // namespace
}  // namespace cohort
