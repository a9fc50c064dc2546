// mkfs/mkfs.h: making a Cohort filesystem (docs/ondisk-format.md §2-§9; DESIGN.md §9).
//
// Mkfs() writes a filesystem whose cost does not grow with the device size: groups are
// left uninitialised (incompat kIncompatLazyGroups, §5.1) except group 0, which holds
// the root directory; journals get only their header (§8.5 rejects stale records); what
// grows with the device is the group table, 16 bytes per group. The blocks it writes
// are batched into a handful of large writes and 3 flushes.
//
// Order of writes, so that a crash in the middle never leaves a superblock that points
// at half-written metadata: (1) the old primary and backup superblocks and the first
// 64 KiB are zeroed and flushed; (2) every other structure is written and flushed;
// (3) the backup superblock, flush; (4) the primary, flush.
//
// Thread safety: functions; one Mkfs per device at a time.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "fs/block_device.h"
#include "fs/superblock.h"

namespace cohort::mkfs {

struct MkfsOptions {
  std::string cluster_name;  // required, §3 invariant 5
  std::string label;
  uint32_t journals = 2;                        // -j
  uint32_t block_size = fs::kDefaultBlockSize;  // -b
  uint64_t journal_bytes = 0;                   // -J; 0 = default from the device size
  uint64_t group_bytes = 0;                     // -g; 0 = default from the device size
  uint32_t max_nodes = 0;                       // 0 = max(32, journals)
  uint32_t heartbeat_interval_ms = 1000;
  uint32_t heartbeat_lease_ms = 10000;
  bool force = false;  // -f: skip the "in use" check
  // Progress of the write phase (done, total steps); may be empty.
  std::function<void(uint64_t, uint64_t)> progress;
  // Informational messages ("slot 2 marked mounted but stale"); may be empty.
  std::function<void(const std::string&)> note;
  // Clock for heartbeats and timestamps, and how to wait; nullptr/empty = real ones.
  Clock* clock = nullptr;
  std::function<void(Nanos)> sleep;
  // Fixed uuid for reproducible images (tests); all-zero = random.
  std::array<uint8_t, 16> uuid{};
};

// What mkfs lays out: the superblock (uuid and time not yet set) and the journals,
// which sit contiguously from journals_start, journal_blocks each.
struct Geometry {
  fs::Superblock sb;
  uint64_t journals_start = 0;
  uint32_t journal_blocks = 0;
};

// The geometry mkfs would write on a device of `device_bytes` bytes (no I/O).
// InvalidArgument for a bad option, NoSpace ("device too small ...") if it does not fit.
Result<Geometry> ComputeGeometry(uint64_t device_bytes, const MkfsOptions& options);

// The "in use" check of §4: if `dev` holds a Cohort filesystem with a slot marked
// mounted, watches those slots for up to the lease; Busy naming the slot if a counter
// moves. OK if no filesystem, no mounted slot, or all such slots stay still.
Status CheckNotInUse(fs::BlockDevice& dev, const MkfsOptions& options);

// Makes the filesystem: CheckNotInUse (unless force), ComputeGeometry, writes. Returns
// the superblock written.
Result<fs::Superblock> Mkfs(fs::BlockDevice& dev, const MkfsOptions& options);

// A human summary of the geometry (mkfs's final output).
std::string GeometrySummary(const fs::Superblock& sb);

// Parses "128", "128M", "4G", "1T", "512K" (bare number: `default_unit` bytes).
Result<uint64_t> ParseSize(const std::string& s, uint64_t default_unit);

}  // namespace cohort::mkfs
