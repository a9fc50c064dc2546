// common/clock.cc: the real clock.
#include "common/clock.h"

#include <ctime>

namespace cohort {

Nanos SystemClock::Now() const {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<Nanos>(ts.tv_sec) * kNanosPerSecond + ts.tv_nsec;
}

int64_t SystemClock::WallNanos() const {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * kNanosPerSecond + ts.tv_nsec;
}

Clock* Clock::Real() {
  static SystemClock clock;
  return &clock;
}

}  // namespace cohort
