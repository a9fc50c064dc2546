// common/clock.h: time as an interface, so that timeouts, heartbeats and leases can be
// driven by a FakeClock in deterministic tests and simulations.
//
// Thread safety: SystemClock is stateless; FakeClock is safe to read from any thread
// while one thread advances it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace cohort {

// Monotonic time in nanoseconds since an arbitrary origin (CLOCK_MONOTONIC).
using Nanos = int64_t;
inline constexpr Nanos kNanosPerMicro = 1000;
inline constexpr Nanos kNanosPerMilli = 1000 * 1000;
inline constexpr Nanos kNanosPerSecond = 1000 * 1000 * 1000;

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic now: for timeouts, leases and idle timers.
  virtual Nanos Now() const = 0;
  // Wall-clock now in nanoseconds since the Unix epoch: for timestamps on disk
  // (inode times, heartbeat stamps). Never used to measure an interval.
  virtual int64_t WallNanos() const = 0;

  // The process-wide real clock.
  static Clock* Real();
};

class SystemClock final : public Clock {
 public:
  Nanos Now() const override;
  int64_t WallNanos() const override;
};

// A clock that moves only when told to. Starts at `start` (monotonic) and
// `wall_start` (wall).
class FakeClock final : public Clock {
 public:
  explicit FakeClock(Nanos start = kNanosPerSecond,
                     int64_t wall_start = 1'700'000'000LL * kNanosPerSecond)
      : now_(start), wall_offset_(wall_start - start) {}
  Nanos Now() const override { return now_.load(std::memory_order_acquire); }
  int64_t WallNanos() const override { return Now() + wall_offset_; }
  void Advance(Nanos d) { now_.fetch_add(d, std::memory_order_acq_rel); }
  void Set(Nanos t) { now_.store(t, std::memory_order_release); }

 private:
  std::atomic<Nanos> now_;
  int64_t wall_offset_;
};

}  // namespace cohort
