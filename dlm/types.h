// dlm/types.h: the vocabulary of the lock manager: modes, flags, ranges, LVBs, completion
// and blocking callbacks (docs/dlm.md §1-§4, §7).
//
// Thread safety: plain values and pure functions.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>

#include "common/status.h"
#include "net/transport.h"

namespace cohort::dlm {

// Lock modes (docs/dlm.md §2). Values are on the wire: DO NOT CHANGE.
enum class LockMode : uint8_t {
  kNL = 0,
  kCR = 1,
  kCW = 2,
  kPR = 3,
  kPW = 4,
  kEX = 5,
  kNone = 0xFF,  // not granted / no request
};
inline constexpr int kNumModes = 6;

const char* ModeName(LockMode m);
// True if `m` is one of NL..EX.
inline bool IsValidMode(LockMode m) { return static_cast<uint8_t>(m) < kNumModes; }
// The compatibility matrix (docs/dlm.md §2). kNone is compatible with everything.
bool ModesCompatible(LockMode a, LockMode b);

// Request flags (docs/dlm.md §4). Bit values are on the wire: DO NOT CHANGE.
enum LockFlags : uint32_t {
  kNoQueue = 0x0001,
  kConvert = 0x0002,
  kValBlk = 0x0004,
  kQueCvt = 0x0008,
  kConvDeadlk = 0x0010,
  kNoQueueBast = 0x0020,
  kCancel = 0x0040,
  kIvValBlk = 0x0080,
  kExpedite = 0x0100,
  kTimeout = 0x0200,
  kSubtree = 0x0400,
};
inline constexpr uint32_t kAllLockFlags = 0x07FF;

// An inclusive range [start, end] of a resource.
struct Range {
  uint64_t start = 0;
  uint64_t end = std::numeric_limits<uint64_t>::max();
  bool Overlaps(const Range& o) const { return start <= o.end && o.start <= end; }
  bool Contains(const Range& o) const { return start <= o.start && o.end <= end; }
  bool Valid() const { return start <= end; }
  bool operator==(const Range&) const = default;
  static Range All() { return Range{}; }
};

// Two grants/requests conflict iff modes are incompatible and ranges overlap (§2).
inline bool Conflicts(LockMode a, const Range& ra, LockMode b, const Range& rb) {
  return !ModesCompatible(a, b) && ra.Overlaps(rb);
}

inline constexpr size_t kLvbSize = 64;
using Lvb = std::array<uint8_t, kLvbSize>;

// What the LVB table of §3 says for a grant from `from` (kNone = new request) to `to`.
enum class LvbOp { kNone, kRead, kWrite };
LvbOp LvbOperation(LockMode from, LockMode to);

// Lock ids: node << 48 | counter (docs/dlm.md §1). 0 is never a lock.
using LockId = uint64_t;
inline constexpr LockId kNoLock = 0;
inline net::NodeId LockIdNode(LockId id) { return static_cast<net::NodeId>(id >> 48); }

inline constexpr size_t kMaxNameLen = 64;
inline constexpr int kMaxDepth = 4;

// What a completion callback (AST) reports (docs/dlm.md §4, §7).
struct Completion {
  LockId id = kNoLock;
  // OK (granted or unlocked), WouldBlock, Deadlock, Cancelled, TimedOut, Unavailable,
  // Aborted.
  Code status = Code::kOk;
  bool unlocked = false;      // the lock is gone (Unlock finished)
  LockMode granted = LockMode::kNone;  // the grant now held (after failure: the old one)
  Range range;                // the granted range
  bool lvb_valid_read = false;  // `lvb` holds the resource LVB (kValBlk read)
  bool lvb_invalid = false;   // the resource LVB was invalidated (§3)
  bool demoted = false;       // kConvDeadlk demoted the grant to NL
  Lvb lvb{};
};

using CompletionFn = std::function<void(const Completion&)>;
// BAST: the lock `id` blocks a request of mode `blocking`.
using BlockingFn = std::function<void(LockId id, LockMode blocking)>;

}  // namespace cohort::dlm
