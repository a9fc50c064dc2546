// fs/superblock.h: the superblock and its backup (docs/ondisk-format.md §3).
//
// Invariants (§3): a decoded Superblock has passed the header checks of §1.3 and
// Validate(): allowed block size, version 1, a valid cluster name and label, node and
// journal counts in range, every region inside the filesystem and no two overlapping.
//
// Thread safety: values.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "fs/format.h"

namespace cohort::fs {

class BlockDevice;

inline constexpr size_t kClusterNameSize = 64;
inline constexpr size_t kLabelSize = 64;

struct Superblock {
  uint32_t format_version = kFormatVersion;
  uint32_t block_size = kDefaultBlockSize;
  uint64_t block_count = 0;
  uint64_t feature_compat = 0;
  uint64_t feature_ro_compat = 0;
  uint64_t feature_incompat = kIncompatLazyGroups;
  std::array<uint8_t, 16> uuid{};
  std::string cluster_name;
  std::string label;
  int64_t create_time_ns = 0;
  uint32_t max_nodes = 0;
  uint32_t journal_count = 0;
  uint64_t journal_index_blkno = 0;
  uint64_t statfs_blkno = 0;
  uint64_t node_blocks_start = 0;
  uint64_t heartbeat_start = 0;
  uint32_t heartbeat_interval_ms = 1000;
  uint32_t heartbeat_lease_ms = 10000;
  uint64_t group_table_start = 0;
  uint32_t group_table_blocks = 0;
  uint32_t ag_bitmap_blocks = 0;
  uint64_t ag_start = 0;
  uint64_t ag_blocks = 0;
  uint64_t ag_count = 0;
  uint64_t root_inode = 0;
  uint64_t backup_blkno = 0;

  uint64_t fs_stamp() const { return FsStampFromUuid(uuid.data()); }
  BlockContext context() const { return BlockContext{block_size, fs_stamp()}; }
  uint64_t primary_blkno() const { return PrimarySuperblockBlock(block_size); }

  // First block and length of group g. REQUIRES: g < ag_count.
  uint64_t GroupStart(uint64_t g) const { return ag_start + g * ag_blocks; }
  uint64_t GroupLength(uint64_t g) const;
  // Group table entries per block (§5.1).
  uint64_t GroupTableEntriesPerBlock() const { return (block_size - kHeaderSize) / 16; }

  // The invariants of §3 (not the header ones). InvalidArgument naming the first broken
  // one; decoders turn it into Corruption.
  Status Validate() const;

  // The feature decision of §1.5 for this filesystem: NotSupported (refuse) on an
  // unknown incompat bit, kReadOnly on an unknown ro_compat bit, else kReadWrite.
  Result<MountMode> CheckMountable() const {
    return CheckFeatures(feature_compat, feature_ro_compat, feature_incompat);
  }

  // Encodes the superblock as the block at `blkno` (primary_blkno() or backup_blkno).
  std::vector<uint8_t> Encode(uint64_t blkno) const;

  bool operator==(const Superblock&) const = default;
};

// True if `name` is a valid cluster name (§3: [A-Za-z0-9_.-]{1,63}).
bool IsValidClusterName(std::string_view name);
// True if `label` is a valid label (0..63 bytes, no NUL).
bool IsValidLabel(std::string_view label);

// Decodes a superblock read from `blkno`: header checks (with the fs_stamp taken from
// the uuid field), then fields, then Validate(). Corruption on any failure.
Result<Superblock> DecodeSuperblock(std::span<const uint8_t> block, uint64_t blkno);

// Reads the primary superblock of `dev` (at byte 65536 whatever the block size), and
// falls back to the backup (the last block of the device) if the primary is corrupt.
// `*used_backup` (optional) tells which one was returned. NotFound if neither looks like
// a Cohort superblock (no magic at either place), Corruption if both are damaged.
Result<Superblock> ReadSuperblock(BlockDevice& dev, bool* used_backup = nullptr);

// The superblock as "key: value" lines for `cohort inspect`.
std::string DescribeSuperblock(const Superblock& sb);

}  // namespace cohort::fs
