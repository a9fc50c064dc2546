// mkfs/mkfs.cc: see mkfs/mkfs.h; layout of docs/ondisk-format.md §2.
#include "mkfs/mkfs.h"

#include <algorithm>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "fs/group.h"
#include "fs/inode.h"
#include "fs/journal.h"
#include "fs/system_blocks.h"

namespace cohort::mkfs {

using fs::Superblock;

namespace {

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kGiB = 1ull << 30;

uint64_t RoundDownPow2(uint64_t v) {
  uint64_t p = 1;
  while (p * 2 <= v) p *= 2;
  return p;
}

std::string MiB(uint64_t bytes) { return std::to_string(bytes / kMiB) + " MiB"; }

}  // namespace

Result<uint64_t> ParseSize(const std::string& s, uint64_t default_unit) {
  if (s.empty()) return Status::InvalidArgument("empty size");
  size_t i = 0;
  uint64_t v = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    if (v > (UINT64_MAX - 9) / 10) return Status::InvalidArgument("size too large: " + s);
    v = v * 10 + static_cast<uint64_t>(s[i] - '0');
    ++i;
  }
  if (i == 0) return Status::InvalidArgument("not a size: " + s);
  uint64_t unit = default_unit;
  if (i < s.size()) {
    std::string suf = s.substr(i);
    if (suf == "K" || suf == "k" || suf == "KiB")
      unit = 1ull << 10;
    else if (suf == "M" || suf == "m" || suf == "MiB")
      unit = kMiB;
    else if (suf == "G" || suf == "g" || suf == "GiB")
      unit = kGiB;
    else if (suf == "T" || suf == "t" || suf == "TiB")
      unit = 1ull << 40;
    else if (suf == "B" || suf == "b")
      unit = 1;
    else
      return Status::InvalidArgument("unknown size suffix in " + s);
  }
  if (v != 0 && unit > UINT64_MAX / v) return Status::InvalidArgument("size too large: " + s);
  return v * unit;
}

Result<Geometry> ComputeGeometry(uint64_t device_bytes, const MkfsOptions& o) {
  if (!fs::IsValidClusterName(o.cluster_name)) {
    return Status::InvalidArgument("cluster name must be 1-63 characters of [A-Za-z0-9_.-] (got '" +
                                   o.cluster_name + "')");
  }
  if (!fs::IsValidLabel(o.label)) return Status::InvalidArgument("label longer than 63 bytes");
  if (!fs::IsValidBlockSize(o.block_size)) {
    return Status::InvalidArgument("block size must be 4096, 8192, 16384, 32768 or 65536");
  }
  const uint32_t bs = o.block_size;
  if (o.journals == 0) return Status::InvalidArgument("at least one journal is needed");
  uint32_t max_nodes = o.max_nodes ? o.max_nodes : std::max<uint32_t>(32, o.journals);
  if (max_nodes > fs::kMaxNodes || o.journals > max_nodes) {
    return Status::InvalidArgument("journals and node slots are limited to " +
                                   std::to_string(fs::kMaxNodes));
  }
  if (o.heartbeat_interval_ms == 0 || o.heartbeat_lease_ms < o.heartbeat_interval_ms) {
    return Status::InvalidArgument("heartbeat lease must be at least its interval");
  }
  Superblock sb;
  sb.block_size = bs;
  sb.block_count = device_bytes / bs;
  sb.cluster_name = o.cluster_name;
  sb.label = o.label;
  sb.max_nodes = max_nodes;
  sb.journal_count = o.journals;
  sb.heartbeat_interval_ms = o.heartbeat_interval_ms;
  sb.heartbeat_lease_ms = o.heartbeat_lease_ms;
  sb.feature_incompat = fs::kIncompatLazyGroups;

  // Journal size: 128 MiB (as mkfs.gfs2) on devices of 16 GiB and more, else 1/128 of
  // the device, at least 4 MiB.
  uint64_t jbytes = o.journal_bytes;
  if (jbytes == 0) {
    jbytes = device_bytes >= 16 * kGiB
                 ? 128 * kMiB
                 : std::max<uint64_t>(4 * kMiB, device_bytes / 128 / kMiB * kMiB);
  }
  uint64_t jblocks = jbytes / bs;
  if (jblocks < 64) return Status::InvalidArgument("journal smaller than 64 blocks");
  if (jblocks > UINT32_MAX) return Status::InvalidArgument("journal larger than 2^32 blocks");

  // Group size: 1 GiB on devices of 32 GiB and more, else device/16 rounded down to a
  // power of two, at least 16 MiB.
  uint64_t gbytes = o.group_bytes;
  if (gbytes == 0) {
    gbytes = device_bytes >= 32 * kGiB
                 ? kGiB
                 : std::max<uint64_t>(16 * kMiB, RoundDownPow2(device_bytes / 16));
  }
  uint64_t gblocks = gbytes / bs;
  const uint32_t min_group = 64;
  if (gblocks < min_group) {
    return Status::InvalidArgument("allocation group smaller than " + std::to_string(min_group) +
                                   " blocks");
  }
  if (gblocks > UINT32_MAX) return Status::InvalidArgument("allocation group too large");
  sb.ag_blocks = gblocks;
  sb.ag_bitmap_blocks = fs::BitmapBlocksFor(gblocks, bs);

  const uint64_t sb_blk = fs::PrimarySuperblockBlock(bs);
  const uint64_t too_small_need =
      (sb_blk + 3 + 2ull * max_nodes + 1 + jblocks * o.journals + min_group + 1) * bs;
  if (sb.block_count < 2 || device_bytes < too_small_need) {
    return Status::NoSpace("device too small: " + MiB(device_bytes) + ", need at least " +
                           std::to_string((too_small_need + kMiB - 1) / kMiB) +
                           " MiB with these options (fewer or smaller journals, -J)");
  }
  sb.backup_blkno = sb.block_count - 1;
  sb.journal_index_blkno = sb_blk + 1;
  sb.statfs_blkno = sb_blk + 2;
  sb.node_blocks_start = sb_blk + 3;
  sb.heartbeat_start = sb.node_blocks_start + max_nodes;
  sb.group_table_start = sb.heartbeat_start + max_nodes;
  const uint64_t e = sb.GroupTableEntriesPerBlock();
  // Reserve the table for the most groups the device could hold.
  const uint64_t gt_reserved = (sb.block_count / gblocks + 1 + e - 1) / e;
  const uint64_t journals_start = sb.group_table_start + gt_reserved;
  sb.ag_start = journals_start + jblocks * o.journals;
  if (sb.ag_start + min_group >= sb.backup_blkno) {
    return Status::NoSpace("device too small for " + std::to_string(o.journals) + " journals of " +
                           MiB(jblocks * bs));
  }
  const uint64_t data = sb.backup_blkno - sb.ag_start;
  sb.ag_count = (data + gblocks - 1) / gblocks;
  // Drop a last group too short to be useful.
  if (sb.ag_count > 1 && sb.GroupLength(sb.ag_count - 1) < sb.ag_bitmap_blocks + min_group) {
    --sb.ag_count;
  }
  if (sb.GroupLength(0) < fs::BitmapBlocksFor(sb.GroupLength(0), bs) + 2) {
    return Status::NoSpace("device too small for one allocation group");
  }
  sb.group_table_blocks = static_cast<uint32_t>((sb.ag_count + e - 1) / e);
  // Root inode: the first block after group 0's header and bitmaps.
  sb.root_inode = sb.ag_start + 1 + fs::BitmapBlocksFor(sb.GroupLength(0), bs);
  if (Status s = sb.Validate(); !s.ok()) return Status::Internal(s.message());
  Geometry geo;
  geo.sb = sb;
  geo.journals_start = journals_start;
  geo.journal_blocks = static_cast<uint32_t>(jblocks);
  return geo;
}

Status CheckNotInUse(fs::BlockDevice& dev, const MkfsOptions& o) {
  auto sb = fs::ReadSuperblock(dev);
  if (!sb.ok()) return Status::OK();  // no (readable) Cohort filesystem: nothing mounted
  const fs::BlockContext ctx = sb->context();
  Clock* clock = o.clock ? o.clock : Clock::Real();
  auto sleep =
      o.sleep ? o.sleep : [](Nanos d) { std::this_thread::sleep_for(std::chrono::nanoseconds(d)); };
  std::vector<uint8_t> buf(ctx.block_size);
  auto read_slots = [&](std::vector<fs::Heartbeat>* out) -> Status {
    out->clear();
    for (uint32_t i = 0; i < sb->max_nodes; ++i) {
      uint64_t blk = sb->heartbeat_start + i;
      COHORT_RETURN_IF_ERROR(dev.ReadBlock(blk, ctx.block_size, buf));
      auto hb = fs::DecodeHeartbeat(buf, blk, ctx);
      // A damaged slot carries no information (§4 update rule).
      out->push_back(hb.ok() ? *hb : fs::Heartbeat{});
    }
    return Status::OK();
  };
  std::vector<fs::Heartbeat> first, now;
  COHORT_RETURN_IF_ERROR(read_slots(&first));
  bool any_mounted = std::any_of(first.begin(), first.end(), [](const fs::Heartbeat& h) {
    return h.state == fs::HeartbeatState::kMounted;
  });
  if (!any_mounted) return Status::OK();
  if (o.note) {
    o.note("a slot is marked mounted; watching heartbeats for up to " +
           std::to_string(sb->heartbeat_lease_ms) + " ms");
  }
  const Nanos deadline = clock->Now() + Nanos{sb->heartbeat_lease_ms} * kNanosPerMilli;
  const Nanos step = Nanos{sb->heartbeat_interval_ms} * kNanosPerMilli / 2;
  while (true) {
    COHORT_RETURN_IF_ERROR(read_slots(&now));
    for (uint32_t i = 0; i < now.size(); ++i) {
      if (first[i].state == fs::HeartbeatState::kMounted &&
          (now[i].counter != first[i].counter ||
           now[i].mount_generation != first[i].mount_generation)) {
        return Status::Busy("the filesystem is mounted: heartbeat of slot " + std::to_string(i) +
                            " (node '" + now[i].node_name + "') is live; use -f to override");
      }
    }
    if (clock->Now() >= deadline) break;
    sleep(step);
  }
  if (o.note) o.note("slots marked mounted have stale heartbeats (dead nodes); proceeding");
  return Status::OK();
}

Result<Superblock> Mkfs(fs::BlockDevice& dev, const MkfsOptions& o) {
  COHORT_ASSIGN_OR_RETURN(Geometry geo, ComputeGeometry(dev.size_bytes(), o));
  Superblock& sb = geo.sb;
  if (!o.force) COHORT_RETURN_IF_ERROR(CheckNotInUse(dev, o));
  Clock* clock = o.clock ? o.clock : Clock::Real();
  const int64_t now = clock->WallNanos();
  sb.create_time_ns = now;
  if (o.uuid == std::array<uint8_t, 16>{}) {
    std::random_device rd;
    for (auto& b : sb.uuid) b = static_cast<uint8_t>(rd());
    sb.uuid[6] = static_cast<uint8_t>((sb.uuid[6] & 0x0f) | 0x40);  // RFC 4122 v4
    sb.uuid[8] = static_cast<uint8_t>((sb.uuid[8] & 0x3f) | 0x80);
  } else {
    sb.uuid = o.uuid;
  }
  const fs::BlockContext ctx = sb.context();
  const uint32_t bs = sb.block_size;
  const uint64_t total_steps = 4 + sb.journal_count;
  uint64_t step = 0;
  auto progress = [&] {
    if (o.progress) o.progress(++step, total_steps);
  };

  // (1) Invalidate what was there: first 64 KiB, old primary, old backup(s).
  {
    std::vector<uint8_t> zero(fs::kSuperblockOffset + bs, 0);
    COHORT_RETURN_IF_ERROR(dev.WriteAt(0, zero));
    std::vector<uint8_t> zb(fs::kMaxBlockSize, 0);
    for (uint32_t b = fs::kMinBlockSize; b <= fs::kMaxBlockSize; b *= 2) {
      uint64_t last = dev.size_bytes() / b;
      if (last >= 2) {
        COHORT_RETURN_IF_ERROR(dev.WriteAt((last - 1) * b, std::span(zb).first(b)));
      }
    }
    COHORT_RETURN_IF_ERROR(dev.Flush());
    progress();
  }

  // (2a) The system area, one contiguous write: journal index, statfs, node blocks,
  // heartbeat slots, group table.
  fs::AllocGroup g0 =
      fs::AllocGroup::Format(0, sb.GroupStart(0), static_cast<uint32_t>(sb.GroupLength(0)), ctx);
  {
    auto root = g0.Allocate(fs::BlockState::kInode, sb.root_inode);
    if (!root.ok() || *root != sb.root_inode) return Status::Internal("root inode placement");
  }
  uint64_t total_blocks = 0, reserved = 0;
  for (uint64_t g = 0; g < sb.ag_count; ++g) {
    uint64_t len = sb.GroupLength(g);
    total_blocks += len;
    if (g > 0) reserved += 1 + fs::BitmapBlocksFor(len, bs);
  }
  const uint64_t sys_first = sb.journal_index_blkno;
  const uint64_t sys_end = sb.group_table_start + sb.group_table_blocks;
  std::vector<uint8_t> sys((sys_end - sys_first) * bs, 0);
  auto put = [&](uint64_t blkno, const std::vector<uint8_t>& block) {
    std::memcpy(sys.data() + (blkno - sys_first) * bs, block.data(), bs);
  };
  fs::JournalIndex ji;
  ji.entries.resize(sb.max_nodes);
  for (uint32_t j = 0; j < sb.journal_count; ++j) {
    ji.entries[j] = {geo.journals_start + uint64_t{j} * geo.journal_blocks, geo.journal_blocks};
  }
  put(sb.journal_index_blkno, ji.Encode(sb.journal_index_blkno, ctx));
  fs::StatfsBlock st;
  st.total_blocks = total_blocks;
  st.free_blocks = total_blocks - reserved - (g0.header().blocks - g0.header().free_blocks);
  st.inodes = 1;
  put(sb.statfs_blkno, st.Encode(sb.statfs_blkno, ctx));
  for (uint32_t i = 0; i < sb.max_nodes; ++i) {
    fs::NodeBlock nb;
    nb.slot = i;
    put(sb.node_blocks_start + i, nb.Encode(sb.node_blocks_start + i, ctx));
    fs::Heartbeat hb;
    hb.slot = i;
    put(sb.heartbeat_start + i, hb.Encode(sb.heartbeat_start + i, ctx));
  }
  const uint64_t e = sb.GroupTableEntriesPerBlock();
  for (uint32_t t = 0; t < sb.group_table_blocks; ++t) {
    std::vector<fs::GroupTableEntry> entries;
    for (uint64_t g = t * e; g < std::min<uint64_t>(sb.ag_count, (t + 1) * e); ++g) {
      entries.push_back({sb.GroupStart(g), static_cast<uint32_t>(sb.GroupLength(g)),
                         g == 0 ? fs::kGroupInitialized : 0u});
    }
    put(sb.group_table_start + t,
        fs::EncodeGroupTableBlock(entries, sb.group_table_start + t, ctx));
  }
  COHORT_RETURN_IF_ERROR(dev.WriteAt(sys_first * bs, sys));
  progress();

  // (2b) Group 0 (header, bitmaps) and the root directory, one contiguous write.
  {
    fs::Inode root;
    root.ino = sb.root_inode;
    root.mode = 040755;
    root.nlink = 2;
    root.atime_ns = root.mtime_ns = root.ctime_ns = root.crtime_ns = now;
    root.generation = 1;
    root.parent = sb.root_inode;
    root.content_kind = fs::ContentKind::kInlineDir;
    std::vector<fs::MetaBlock> blocks = g0.EncodeAll(ctx);
    blocks.push_back({sb.root_inode, root.Encode(ctx)});
    std::vector<uint8_t> run(blocks.size() * bs);
    for (size_t i = 0; i < blocks.size(); ++i) {
      if (blocks[i].blkno != sb.GroupStart(0) + i) return Status::Internal("group 0 layout");
      std::memcpy(run.data() + i * bs, blocks[i].data.data(), bs);
    }
    COHORT_RETURN_IF_ERROR(dev.WriteAt(sb.GroupStart(0) * bs, run));
    progress();
  }

  // (2c) Journal headers only (§8.5).
  for (uint32_t j = 0; j < sb.journal_count; ++j) {
    COHORT_RETURN_IF_ERROR(
        fs::Journal::Format(&dev, ctx, ji.entries[j].start, ji.entries[j].blocks, j));
    progress();
  }
  COHORT_RETURN_IF_ERROR(dev.Flush());

  // (3) Backup, flush; (4) primary, flush.
  COHORT_RETURN_IF_ERROR(dev.WriteBlock(sb.backup_blkno, sb.Encode(sb.backup_blkno)));
  COHORT_RETURN_IF_ERROR(dev.Flush());
  COHORT_RETURN_IF_ERROR(dev.WriteBlock(sb.primary_blkno(), sb.Encode(sb.primary_blkno())));
  COHORT_RETURN_IF_ERROR(dev.Flush());
  progress();
  return geo.sb;
}

std::string GeometrySummary(const Superblock& sb) {
  auto human = [](uint64_t bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = static_cast<double>(bytes);
    int u = 0;
    while (v >= 1024 && u < 5) {
      v /= 1024;
      ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
    return std::string(buf);
  };
  const uint64_t bs = sb.block_size;
  std::string o;
  o += "Cohort filesystem\n";
  o += "  cluster:          " + sb.cluster_name + "\n";
  o += "  label:            " + (sb.label.empty() ? std::string("(none)") : sb.label) + "\n";
  o += "  uuid:             " + fs::UuidToString(sb.uuid.data()) + "\n";
  o += "  size:             " + human(sb.block_count * bs) + " (" + std::to_string(sb.block_count) +
       " blocks of " + std::to_string(bs) + " bytes)\n";
  o += "  journals:         " + std::to_string(sb.journal_count) + " (node slots " +
       std::to_string(sb.max_nodes) + ")\n";
  o += "  allocation groups: " + std::to_string(sb.ag_count) + " of " + human(sb.ag_blocks * bs) +
       " (initialised lazily)\n";
  o += "  root inode:       " + std::to_string(sb.root_inode) + "\n";
  return o;
}

}  // namespace cohort::mkfs
