// fs/superblock.cc: docs/ondisk-format.md §3.
#include "fs/superblock.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "common/coding.h"
#include "fs/block_device.h"

namespace cohort::fs {

uint64_t Superblock::GroupLength(uint64_t g) const {
  uint64_t start = GroupStart(g);
  uint64_t end = std::min(start + ag_blocks, backup_blkno);
  return end - start;
}

bool IsValidClusterName(std::string_view name) {
  if (name.empty() || name.size() >= kClusterNameSize) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
  });
}

bool IsValidLabel(std::string_view label) {
  return label.size() < kLabelSize && label.find('\0') == std::string_view::npos;
}

Status Superblock::Validate() const {
  auto bad = [](const std::string& m) { return Status::InvalidArgument("superblock: " + m); };
  if (format_version != kFormatVersion) {
    return bad("unsupported format version " + std::to_string(format_version));
  }
  if (!IsValidBlockSize(block_size)) return bad("bad block size " + std::to_string(block_size));
  if (!IsValidClusterName(cluster_name)) return bad("bad cluster name");
  if (!IsValidLabel(label)) return bad("bad label");
  if (max_nodes == 0 || max_nodes > kMaxNodes) return bad("max_nodes out of range");
  if (journal_count == 0 || journal_count > max_nodes) return bad("journal_count out of range");
  if (heartbeat_interval_ms == 0 || heartbeat_lease_ms < heartbeat_interval_ms) {
    return bad("heartbeat lease shorter than its interval");
  }
  const uint64_t first = primary_blkno() + 1;
  if (block_count <= first + 1 || backup_blkno != block_count - 1) {
    return bad("block_count/backup_blkno inconsistent");
  }
  // Regions, each [start, start+len), must lie in [first, backup) and not overlap.
  if (ag_blocks == 0 || ag_count == 0) return bad("no allocation groups");
  if (ag_bitmap_blocks == 0 || ag_bitmap_blocks >= ag_blocks) return bad("bad ag_bitmap_blocks");
  const uint64_t bits_per_bitmap = uint64_t{block_size - kHeaderSize} * 4;
  if (uint64_t{ag_bitmap_blocks} * bits_per_bitmap < ag_blocks) {
    return bad("ag_bitmap_blocks too few for ag_blocks");
  }
  if (ag_start >= backup_blkno) return bad("groups start past the end");
  // Every group starts before the backup (written without overflowing ag_count *
  // ag_blocks); the last one is cut short by GroupLength().
  if (ag_blocks > backup_blkno || (ag_count - 1) > (backup_blkno - ag_start - 1) / ag_blocks) {
    return bad("groups extend past the end of the filesystem");
  }
  if (ag_blocks > UINT32_MAX) return bad("groups larger than 2^32 blocks");
  if (GroupLength(ag_count - 1) < ag_bitmap_blocks + 2) return bad("last group too short");
  const uint64_t e = GroupTableEntriesPerBlock();
  if (group_table_blocks != (ag_count + e - 1) / e) return bad("group_table_blocks mismatch");
  std::vector<std::pair<uint64_t, uint64_t>> regions = {
      {journal_index_blkno, 1},
      {statfs_blkno, 1},
      {node_blocks_start, max_nodes},
      {heartbeat_start, max_nodes},
      {group_table_start, group_table_blocks},
      {ag_start, backup_blkno - ag_start},
  };
  for (auto& [s, n] : regions) {
    if (s < first || n > backup_blkno || s > backup_blkno - n) return bad("region out of range");
  }
  std::sort(regions.begin(), regions.end());
  for (size_t i = 1; i < regions.size(); ++i) {
    if (regions[i - 1].first + regions[i - 1].second > regions[i].first) {
      return bad("regions overlap");
    }
  }
  if (root_inode < ag_start || root_inode >= backup_blkno) return bad("root inode out of range");
  return Status::OK();
}

std::vector<uint8_t> Superblock::Encode(uint64_t blkno) const {
  BlockContext ctx = context();
  std::vector<uint8_t> b = NewBlock(ctx);
  uint8_t* p = b.data();
  EncodeFixed32(p + 32, format_version);
  EncodeFixed32(p + 36, block_size);
  EncodeFixed64(p + 40, block_count);
  EncodeFixed64(p + 48, feature_compat);
  EncodeFixed64(p + 56, feature_ro_compat);
  EncodeFixed64(p + 64, feature_incompat);
  std::memcpy(p + 72, uuid.data(), 16);
  EncodeFixedString(p + 88, kClusterNameSize, cluster_name);
  EncodeFixedString(p + 152, kLabelSize, label);
  EncodeFixed64(p + 216, static_cast<uint64_t>(create_time_ns));
  EncodeFixed32(p + 224, max_nodes);
  EncodeFixed32(p + 228, journal_count);
  EncodeFixed64(p + 232, journal_index_blkno);
  EncodeFixed64(p + 240, statfs_blkno);
  EncodeFixed64(p + 248, node_blocks_start);
  EncodeFixed64(p + 256, heartbeat_start);
  EncodeFixed32(p + 264, heartbeat_interval_ms);
  EncodeFixed32(p + 268, heartbeat_lease_ms);
  EncodeFixed64(p + 272, group_table_start);
  EncodeFixed32(p + 280, group_table_blocks);
  EncodeFixed32(p + 284, ag_bitmap_blocks);
  EncodeFixed64(p + 288, ag_start);
  EncodeFixed64(p + 296, ag_blocks);
  EncodeFixed64(p + 304, ag_count);
  EncodeFixed64(p + 312, root_inode);
  EncodeFixed64(p + 320, backup_blkno);
  SealBlock(b, BlockType::kSuperblock, blkno, ctx);
  return b;
}

Result<Superblock> DecodeSuperblock(std::span<const uint8_t> block, uint64_t blkno) {
  if (block.size() < kMinBlockSize) return Status::Corruption("superblock: short buffer");
  const uint8_t* p = block.data();
  Superblock sb;
  sb.block_size = DecodeFixed32(p + 36);
  std::memcpy(sb.uuid.data(), p + 72, 16);
  COHORT_RETURN_IF_ERROR(
      CheckBlock(block, BlockType::kSuperblock, blkno,
                 BlockContext{static_cast<uint32_t>(block.size()), sb.fs_stamp()}));
  if (sb.block_size != block.size()) return Status::Corruption("superblock: block size mismatch");
  sb.format_version = DecodeFixed32(p + 32);
  sb.block_count = DecodeFixed64(p + 40);
  sb.feature_compat = DecodeFixed64(p + 48);
  sb.feature_ro_compat = DecodeFixed64(p + 56);
  sb.feature_incompat = DecodeFixed64(p + 64);
  COHORT_ASSIGN_OR_RETURN(sb.cluster_name, DecodeFixedString(p + 88, kClusterNameSize));
  COHORT_ASSIGN_OR_RETURN(sb.label, DecodeFixedString(p + 152, kLabelSize));
  sb.create_time_ns = static_cast<int64_t>(DecodeFixed64(p + 216));
  sb.max_nodes = DecodeFixed32(p + 224);
  sb.journal_count = DecodeFixed32(p + 228);
  sb.journal_index_blkno = DecodeFixed64(p + 232);
  sb.statfs_blkno = DecodeFixed64(p + 240);
  sb.node_blocks_start = DecodeFixed64(p + 248);
  sb.heartbeat_start = DecodeFixed64(p + 256);
  sb.heartbeat_interval_ms = DecodeFixed32(p + 264);
  sb.heartbeat_lease_ms = DecodeFixed32(p + 268);
  sb.group_table_start = DecodeFixed64(p + 272);
  sb.group_table_blocks = DecodeFixed32(p + 280);
  sb.ag_bitmap_blocks = DecodeFixed32(p + 284);
  sb.ag_start = DecodeFixed64(p + 288);
  sb.ag_blocks = DecodeFixed64(p + 296);
  sb.ag_count = DecodeFixed64(p + 304);
  sb.root_inode = DecodeFixed64(p + 312);
  sb.backup_blkno = DecodeFixed64(p + 320);
  if (blkno != sb.primary_blkno() && blkno != sb.backup_blkno) {
    return Status::Corruption("superblock found at neither primary nor backup location");
  }
  if (Status s = sb.Validate(); !s.ok()) return Status::Corruption(s.message());
  return sb;
}

Result<Superblock> ReadSuperblock(BlockDevice& dev, bool* used_backup) {
  if (used_backup) *used_backup = false;
  // The primary is at byte 65536; its block size is not known yet, so read the minimum
  // block first, peek the block_size field, then read the whole block.
  Status primary_status;
  std::vector<uint8_t> buf(kMinBlockSize);
  bool primary_has_magic = false;
  uint32_t bs = 0;
  if (dev.size_bytes() >= kSuperblockOffset + kMinBlockSize) {
    Status s = dev.ReadAt(kSuperblockOffset, buf);
    if (s.ok()) {
      primary_has_magic = DecodeFixed32(buf.data()) == kMetaMagic;
      bs = DecodeFixed32(buf.data() + 36);
      if (!IsValidBlockSize(bs)) {
        primary_status = Status::Corruption("primary superblock: bad block size");
      } else if (dev.size_bytes() < kSuperblockOffset + bs) {
        primary_status = Status::Corruption("primary superblock: device too short");
      } else {
        buf.resize(bs);
        primary_status = dev.ReadAt(kSuperblockOffset, buf);
        if (primary_status.ok()) {
          auto sb = DecodeSuperblock(buf, kSuperblockOffset / bs);
          if (sb.ok()) return sb;
          primary_status = sb.status();
        }
      }
    } else {
      primary_status = s;
    }
  } else {
    primary_status = Status::NotFound("device smaller than 68 KiB");
  }
  // Backup: the last block of the device, for each allowed block size (mkfs uses the
  // whole device, so block_count - 1 is the device's last block).
  bool backup_has_magic = false;
  for (uint32_t b = kMinBlockSize; b <= kMaxBlockSize; b *= 2) {
    uint64_t nblocks = dev.size_bytes() / b;
    if (nblocks < 2) break;
    std::vector<uint8_t> bb(b);
    if (!dev.ReadAt((nblocks - 1) * b, bb).ok()) continue;
    if (DecodeFixed32(bb.data()) != kMetaMagic) continue;
    backup_has_magic = true;
    auto sb = DecodeSuperblock(bb, nblocks - 1);
    if (sb.ok()) {
      if (used_backup) *used_backup = true;
      return sb;
    }
  }
  if (!primary_has_magic && !backup_has_magic) {
    return Status::NotFound("no Cohort superblock (not a Cohort filesystem)");
  }
  return Status::Corruption(std::string("primary and backup superblocks damaged: ") +
                            std::string(primary_status.message()));
}

std::string DescribeSuperblock(const Superblock& sb) {
  std::string o;
  auto line = [&o](const char* k, const std::string& v) {
    o += k;
    o += ": ";
    o += v;
    o += '\n';
  };
  auto num = [](uint64_t v) { return std::to_string(v); };
  char hex[32];
  line("format_version", num(sb.format_version));
  line("block_size", num(sb.block_size));
  line("block_count", num(sb.block_count));
  std::snprintf(hex, sizeof hex, "0x%llx", static_cast<unsigned long long>(sb.feature_compat));
  line("feature_compat", hex);
  std::snprintf(hex, sizeof hex, "0x%llx", static_cast<unsigned long long>(sb.feature_ro_compat));
  line("feature_ro_compat", hex);
  std::snprintf(hex, sizeof hex, "0x%llx", static_cast<unsigned long long>(sb.feature_incompat));
  line("feature_incompat", hex);
  line("uuid", UuidToString(sb.uuid.data()));
  line("cluster_name", sb.cluster_name);
  line("label", sb.label);
  line("create_time_ns", std::to_string(sb.create_time_ns));
  line("max_nodes", num(sb.max_nodes));
  line("journal_count", num(sb.journal_count));
  line("journal_index_blkno", num(sb.journal_index_blkno));
  line("statfs_blkno", num(sb.statfs_blkno));
  line("node_blocks_start", num(sb.node_blocks_start));
  line("heartbeat_start", num(sb.heartbeat_start));
  line("heartbeat_interval_ms", num(sb.heartbeat_interval_ms));
  line("heartbeat_lease_ms", num(sb.heartbeat_lease_ms));
  line("group_table_start", num(sb.group_table_start));
  line("group_table_blocks", num(sb.group_table_blocks));
  line("ag_bitmap_blocks", num(sb.ag_bitmap_blocks));
  line("ag_start", num(sb.ag_start));
  line("ag_blocks", num(sb.ag_blocks));
  line("ag_count", num(sb.ag_count));
  line("root_inode", num(sb.root_inode));
  line("backup_blkno", num(sb.backup_blkno));
  return o;
}

}  // namespace cohort::fs
