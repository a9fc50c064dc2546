// tools/cmd_inspect.cc: `cohort inspect DEVICE [superblock|group N|inode N|block N|
// journal N|heartbeat]`: decodes and prints on-disk structures
// (docs/ondisk-format.md; LMDB's mdb_stat / mdb_dump habit). Read-only.
//
// Exit codes: 0 everything shown decoded cleanly; 1 a structure failed its checks
// (printed as "CORRUPT: ..." with the reason, e.g. a checksum mismatch) or the device
// could not be read; 2 usage error.
#include <cstdio>
#include <string>
#include <vector>

#include "common/coding.h"
#include "fs/block_device.h"
#include "fs/dir_ops.h"
#include "fs/directory.h"
#include "fs/extent.h"
#include "fs/group.h"
#include "fs/inode.h"
#include "fs/journal.h"
#include "fs/journal_format.h"
#include "fs/superblock.h"
#include "fs/system_blocks.h"
#include "tools/command.h"

namespace cohort::tools {
namespace {

struct InspectArgs {
  std::string device;
  std::string what = "superblock";
  uint64_t number = 0;
  bool number_given = false;
  bool hex = false;
};

int Error(const std::string& msg) {
  std::fprintf(stderr, "cohort inspect: %s\n", msg.c_str());
  return 1;
}

int Corrupt(const Status& s) {
  std::printf("CORRUPT: %s\n", std::string(s.message()).c_str());
  return 1;
}

// Decodes one block by the type its header claims.
int ShowBlock(fs::BlockDevice& dev, const fs::Superblock& sb, uint64_t blkno, bool hex) {
  const fs::BlockContext ctx = sb.context();
  if (blkno >= sb.block_count) return Error("block " + std::to_string(blkno) + " out of range");
  std::vector<uint8_t> b(ctx.block_size);
  if (Status s = dev.ReadBlock(blkno, ctx.block_size, b); !s.ok()) return Error(s.ToString());
  auto h = fs::PeekHeader(b);
  std::printf("block %llu\n", static_cast<unsigned long long>(blkno));
  if (hex) std::printf("%s", HexDump(b).c_str());
  if (!h.ok() || h->magic != fs::kMetaMagic) {
    std::printf("  no metadata header (data block, free or uninitialised)\n");
    return 0;
  }
  std::printf("  type %s, header blkno %llu, crc %08x\n", fs::BlockTypeName(h->type).c_str(),
              static_cast<unsigned long long>(h->blkno), h->crc);
  const auto type = static_cast<fs::BlockType>(h->type);
  Status s = fs::CheckBlock(b, type, blkno, ctx);
  if (!s.ok()) return Corrupt(s);
  std::string out;
  switch (type) {
    case fs::BlockType::kSuperblock: {
      auto v = fs::DecodeSuperblock(b, blkno);
      if (!v.ok()) return Corrupt(v.status());
      out = fs::DescribeSuperblock(*v);
      break;
    }
    case fs::BlockType::kInode: {
      auto v = fs::DecodeInode(b, blkno, ctx, sb.block_count);
      if (!v.ok()) return Corrupt(v.status());
      out = v->Describe();
      break;
    }
    case fs::BlockType::kHeartbeat: {
      auto v = fs::DecodeHeartbeat(b, blkno, ctx);
      if (!v.ok()) return Corrupt(v.status());
      out = v->Describe() + "\n";
      break;
    }
    case fs::BlockType::kGroupHeader: {
      auto v = fs::DecodeGroupHeader(b, blkno, ctx);
      if (!v.ok()) return Corrupt(v.status());
      out = "group " + std::to_string(v->group_no) + " blocks " + std::to_string(v->blocks) +
            " free " + std::to_string(v->free_blocks) + " inodes " + std::to_string(v->inodes) +
            "\n";
      break;
    }
    case fs::BlockType::kExtentNode: {
      auto v = fs::DecodeExtentBlock(b, blkno, ctx, sb.block_count);
      if (!v.ok()) return Corrupt(v.status());
      out = fs::DescribeExtentNode(*v);
      break;
    }
    case fs::BlockType::kDirLeaf: {
      auto v = fs::DecodeDirLeaf(b, blkno, ctx);
      if (!v.ok()) return Corrupt(v.status());
      out = "dir leaf depth " + std::to_string(v->depth) + " next " + std::to_string(v->next) +
            " dir " + std::to_string(v->dir_inode) + "\n";
      for (const auto& e : v->entries)
        out += "  " + e.name + " -> " + std::to_string(e.inode) + "\n";
      break;
    }
    case fs::BlockType::kStatfs: {
      auto v = fs::DecodeStatfs(b, blkno, ctx);
      if (!v.ok()) return Corrupt(v.status());
      out = "total_blocks " + std::to_string(v->total_blocks) + " free_blocks " +
            std::to_string(v->free_blocks) + " inodes " + std::to_string(v->inodes) + "\n";
      break;
    }
    case fs::BlockType::kJournalHeader: {
      auto v = fs::DecodeJournalHeader(b, blkno, ctx);
      if (!v.ok()) return Corrupt(v.status());
      out = "journal slot " + std::to_string(v->slot) + " blocks " + std::to_string(v->blocks) +
            " tail_seq " + std::to_string(v->tail_seq) + " tail_pos " +
            std::to_string(v->tail_pos) + "\n";
      break;
    }
    case fs::BlockType::kJournalDescriptor: {
      auto v = fs::DecodeJournalDescriptor(b, blkno, ctx, sb.block_count);
      if (!v.ok()) return Corrupt(v.status());
      out = "descriptor seq " + std::to_string(v->seq) + " count " +
            std::to_string(v->entries.size()) + "\n";
      break;
    }
    case fs::BlockType::kJournalCommit: {
      auto v = fs::DecodeJournalCommit(b, blkno, ctx);
      if (!v.ok()) return Corrupt(v.status());
      out = "commit seq " + std::to_string(v->seq) + " count " + std::to_string(v->count) + "\n";
      break;
    }
    case fs::BlockType::kDirTable: {
      auto v = fs::DecodeDirTableBlock(b, blkno, ctx, sb.block_count);
      if (!v.ok()) return Corrupt(v.status());
      out = "dir table:";
      for (size_t i = 0; i < v->size(); ++i) {
        if ((*v)[i] != 0) out += " [" + std::to_string(i) + "]=" + std::to_string((*v)[i]);
      }
      out += "\n";
      break;
    }
    default:
      out = "(header checks passed; use the structure's own subcommand for its fields)\n";
  }
  std::printf("%s", out.c_str());
  return 0;
}

int ShowGroup(fs::BlockDevice& dev, const fs::Superblock& sb, uint64_t g) {
  const fs::BlockContext ctx = sb.context();
  if (g >= sb.ag_count) {
    return Error("group " + std::to_string(g) + " out of range (" + std::to_string(sb.ag_count) +
                 " groups)");
  }
  const uint64_t e = sb.GroupTableEntriesPerBlock();
  const uint64_t tblk = sb.group_table_start + g / e;
  std::vector<uint8_t> b(ctx.block_size);
  if (Status s = dev.ReadBlock(tblk, ctx.block_size, b); !s.ok()) return Error(s.ToString());
  auto table = fs::DecodeGroupTableBlock(b, tblk, ctx);
  if (!table.ok()) return Corrupt(table.status());
  const fs::GroupTableEntry& ent = (*table)[g % e];
  if (ent.start != sb.GroupStart(g) || ent.blocks != sb.GroupLength(g)) {
    return Corrupt(Status::Corruption("group table entry disagrees with the superblock"));
  }
  if (!(ent.flags & fs::kGroupInitialized)) {
    std::printf(
        "group %llu: start %llu blocks %u uninitialised (lazy): free except its header "
        "and %u bitmap blocks\n",
        static_cast<unsigned long long>(g), static_cast<unsigned long long>(ent.start), ent.blocks,
        fs::BitmapBlocksFor(ent.blocks, ctx.block_size));
    return 0;
  }
  if (Status s = dev.ReadBlock(ent.start, ctx.block_size, b); !s.ok()) return Error(s.ToString());
  auto hdr = fs::DecodeGroupHeader(b, ent.start, ctx);
  if (!hdr.ok()) return Corrupt(hdr.status());
  std::vector<std::vector<uint8_t>> bitmaps(hdr->bitmap_blocks,
                                            std::vector<uint8_t>(ctx.block_size));
  for (uint32_t i = 0; i < hdr->bitmap_blocks; ++i) {
    if (Status s = dev.ReadBlock(ent.start + 1 + i, ctx.block_size, bitmaps[i]); !s.ok()) {
      return Error(s.ToString());
    }
  }
  auto group = fs::AllocGroup::Load(b, bitmaps, ent.start, ctx);
  if (!group.ok()) return Corrupt(group.status());
  std::printf("%s", group->Describe().c_str());
  return 0;
}

int ShowHeartbeats(fs::BlockDevice& dev, const fs::Superblock& sb) {
  const fs::BlockContext ctx = sb.context();
  std::vector<uint8_t> b(ctx.block_size);
  int rc = 0;
  for (uint32_t i = 0; i < sb.max_nodes; ++i) {
    uint64_t blk = sb.heartbeat_start + i;
    if (Status s = dev.ReadBlock(blk, ctx.block_size, b); !s.ok()) return Error(s.ToString());
    auto hb = fs::DecodeHeartbeat(b, blk, ctx);
    if (!hb.ok()) {
      std::printf("CORRUPT: slot %u: %s\n", i, std::string(hb.status().message()).c_str());
      rc = 1;
      continue;
    }
    std::printf("%s\n", hb->Describe().c_str());
  }
  return rc;
}

int ShowJournal(fs::BlockDevice& dev, const fs::Superblock& sb, uint64_t j) {
  const fs::BlockContext ctx = sb.context();
  if (j >= sb.max_nodes) return Error("journal " + std::to_string(j) + " out of range");
  std::vector<uint8_t> b(ctx.block_size);
  if (Status s = dev.ReadBlock(sb.journal_index_blkno, ctx.block_size, b); !s.ok()) {
    return Error(s.ToString());
  }
  auto ji = fs::DecodeJournalIndex(b, sb.journal_index_blkno, ctx, sb.max_nodes, sb.block_count);
  if (!ji.ok()) return Corrupt(ji.status());
  const auto& e = ji->entries[j];
  if (e.start == 0) {
    std::printf("slot %llu has no journal\n", static_cast<unsigned long long>(j));
    return 0;
  }
  auto d = fs::DescribeJournal(&dev, ctx, e.start, sb.block_count);
  if (!d.ok()) return Corrupt(d.status());
  std::printf("%s", d->c_str());
  return 0;
}

int RunInspect(const InspectArgs& a) {
  auto dev = fs::FileBlockDevice::Open(a.device, {.read_only = true, .direct = true});
  if (!dev.ok()) return Error(a.device + ": " + std::string(dev.status().message()));
  bool used_backup = false;
  auto sb = fs::ReadSuperblock(**dev, &used_backup);
  if (!sb.ok()) {
    if (sb.status().Is(Code::kCorruption)) return Corrupt(sb.status());
    return Error(a.device + ": " + std::string(sb.status().message()));
  }
  const bool needs_number =
      a.what == "group" || a.what == "inode" || a.what == "block" || a.what == "journal";
  if (needs_number && !a.number_given) return Error(a.what + " needs a number");
  if (a.what == "superblock") {
    if (used_backup) std::printf("CORRUPT: primary superblock damaged; showing the backup\n");
    std::printf("%s", fs::DescribeSuperblock(*sb).c_str());
    // The backup must match the primary.
    std::vector<uint8_t> b(sb->block_size);
    Status s = (*dev)->ReadBlock(sb->backup_blkno, sb->block_size, b);
    if (s.ok()) {
      auto backup = fs::DecodeSuperblock(b, sb->backup_blkno);
      if (!backup.ok())
        return Corrupt(
            Status::Corruption("backup superblock: " + std::string(backup.status().message())));
      if (!(*backup == *sb)) return Corrupt(Status::Corruption("backup differs from primary"));
    }
    return used_backup ? 1 : 0;
  }
  if (a.what == "group") return ShowGroup(**dev, *sb, a.number);
  if (a.what == "block") return ShowBlock(**dev, *sb, a.number, a.hex);
  if (a.what == "journal") return ShowJournal(**dev, *sb, a.number);
  if (a.what == "heartbeat") return ShowHeartbeats(**dev, *sb);
  if (a.what == "inode") {
    const fs::BlockContext ctx = sb->context();
    if (a.number >= sb->block_count) return Error("inode out of range");
    std::vector<uint8_t> b(ctx.block_size);
    if (Status s = (*dev)->ReadBlock(a.number, ctx.block_size, b); !s.ok()) {
      return Error(s.ToString());
    }
    auto ino = fs::DecodeInode(b, a.number, ctx, sb->block_count);
    if (!ino.ok()) return Corrupt(ino.status());
    std::printf("%s", ino->Describe().c_str());
    return 0;
  }
  return Error("unknown structure '" + a.what +
               "' (superblock, group N, inode N, block N, journal N, heartbeat)");
}

CommandRegistration reg({
    .name = "inspect",
    .help = "decode and print on-disk structures (superblock, group N, inode N, block N, "
            "journal N, heartbeat); flags checksum errors",
    .setup = [](CLI::App* sub) -> std::function<int()> {
      auto args = std::make_shared<InspectArgs>();
      auto number = std::make_shared<std::string>();
      sub->add_option("device", args->device, "device or image")->required();
      sub->add_option("what", args->what,
                      "superblock | group | inode | block | journal | heartbeat")
          ->capture_default_str();
      sub->add_option("number", *number, "group, inode, block or journal number");
      sub->add_flag("--hex", args->hex, "also hex-dump the block (block N)");
      return [args, number]() {
        if (!number->empty()) {
          try {
            size_t used = 0;
            args->number = std::stoull(*number, &used, 0);
            if (used != number->size()) throw std::invalid_argument(*number);
          } catch (const std::exception&) {
            std::fprintf(stderr, "cohort inspect: not a number: %s\n", number->c_str());
            return 2;
          }
          args->number_given = true;
        }
        return RunInspect(*args);
      };
    },
});

}  // namespace
}  // namespace cohort::tools
