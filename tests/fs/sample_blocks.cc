// tests/fs/sample_blocks.cc: see sample_blocks.h.
#include "tests/fs/sample_blocks.h"

#include "fs/dir_ops.h"
#include "fs/directory.h"
#include "fs/extent.h"
#include "fs/group.h"
#include "fs/inode.h"
#include "fs/journal_format.h"
#include "fs/superblock.h"
#include "fs/system_blocks.h"
#include "fs/xattr_block.h"

namespace cohort::fs::testing {
namespace {

constexpr uint64_t kBlockCount = 262144;  // 1 GiB of 4 KiB blocks

Superblock SampleSuperblock() {
  Superblock sb;
  sb.block_size = 4096;
  sb.block_count = kBlockCount;
  for (int i = 0; i < 16; ++i) sb.uuid[i] = static_cast<uint8_t>(0xa0 + i);
  sb.cluster_name = "alpha";
  sb.label = "shared-data";
  sb.create_time_ns = 1'700'000'000'123'456'789LL;
  sb.max_nodes = 16;
  sb.journal_count = 3;
  sb.journal_index_blkno = 17;
  sb.statfs_blkno = 18;
  sb.node_blocks_start = 19;
  sb.heartbeat_start = 35;
  sb.group_table_start = 51;
  sb.group_table_blocks = 1;
  sb.ag_bitmap_blocks = 3;
  sb.ag_start = 6196;
  sb.ag_blocks = 32768;
  sb.ag_count = 8;
  sb.root_inode = 6200;
  sb.backup_blkno = kBlockCount - 1;
  return sb;
}

template <typename T>
Result<std::vector<uint8_t>> Reencode(Result<T> r,
                                      const std::function<std::vector<uint8_t>(const T&)>& enc) {
  if (!r.ok()) return r.status();
  return enc(*r);
}

}  // namespace

BlockContext SampleContext() { return SampleSuperblock().context(); }

std::vector<SampleBlock> SampleBlocks() {
  const BlockContext ctx = SampleContext();
  std::vector<SampleBlock> out;
  auto add = [&](std::string name, uint64_t blkno, std::vector<uint8_t> bytes, auto decode) {
    out.push_back({std::move(name), blkno, std::move(bytes), decode});
  };

  const Superblock sb = SampleSuperblock();
  add("superblock", 16, sb.Encode(16), [](std::span<const uint8_t> b) {
    return Reencode<Superblock>(DecodeSuperblock(b, 16),
                                [](const Superblock& s) { return s.Encode(16); });
  });

  std::vector<GroupTableEntry> gt;
  for (uint64_t g = 0; g < 8; ++g) {
    gt.push_back({6196 + g * 32768, static_cast<uint32_t>(g == 7 ? 32768 - 6197 : 32768),
                  g == 0 ? kGroupInitialized : 0u});
  }
  add("group_table", 51, EncodeGroupTableBlock(gt, 51, ctx), [ctx](std::span<const uint8_t> b) {
    return Reencode<std::vector<GroupTableEntry>>(
        DecodeGroupTableBlock(b, 51, ctx), [ctx](const std::vector<GroupTableEntry>& v) {
          std::vector<GroupTableEntry> used(v.begin(), v.begin() + 8);
          return EncodeGroupTableBlock(used, 51, ctx);
        });
  });

  AllocGroup g0 = AllocGroup::Format(0, 6196, 32768, ctx);
  (void)g0.Allocate(BlockState::kInode, 6200);
  (void)g0.AllocateRun(5, 7000);
  auto g0_blocks = g0.EncodeAll(ctx);
  add("group_header", 6196, g0_blocks[0].data, [ctx](std::span<const uint8_t> b) {
    return Reencode<GroupHeader>(DecodeGroupHeader(b, 6196, ctx),
                                 [ctx](const GroupHeader& h) { return h.Encode(ctx); });
  });
  add("bitmap", 6197, g0_blocks[1].data, [ctx](std::span<const uint8_t> b) {
    auto bits = DecodeBitmapBlock(b, 6197, ctx);
    if (!bits.ok()) return Result<std::vector<uint8_t>>(bits.status());
    std::vector<uint8_t> blk = NewBlock(ctx);
    std::copy(bits->begin(), bits->end(), blk.begin() + kHeaderSize);
    SealBlock(blk, BlockType::kBitmap, 6197, ctx);
    return Result<std::vector<uint8_t>>(blk);
  });

  Heartbeat hb;
  hb.slot = 2;
  hb.state = HeartbeatState::kMounted;
  hb.counter = 4242;
  hb.wall_time_ns = 1'700'000'100'000'000'000LL;
  hb.mount_generation = 7;
  hb.node_name = "node-c";
  add("heartbeat", 37, hb.Encode(37, ctx), [ctx](std::span<const uint8_t> b) {
    return Reencode<Heartbeat>(DecodeHeartbeat(b, 37, ctx),
                               [ctx](const Heartbeat& h) { return h.Encode(37, ctx); });
  });

  JournalIndex ji;
  ji.entries.resize(16);
  for (uint32_t j = 0; j < 3; ++j) ji.entries[j] = {52 + j * 2048ull, 2048};
  add("journal_index", 17, ji.Encode(17, ctx), [ctx](std::span<const uint8_t> b) {
    return Reencode<JournalIndex>(DecodeJournalIndex(b, 17, ctx, 16, kBlockCount),
                                  [ctx](const JournalIndex& j) { return j.Encode(17, ctx); });
  });

  JournalHeader jh;
  jh.slot = 1;
  jh.blocks = 2048;
  jh.tail_seq = 99;
  jh.tail_pos = 17;
  add("journal_header", 2100, jh.Encode(2100, ctx), [ctx](std::span<const uint8_t> b) {
    return Reencode<JournalHeader>(DecodeJournalHeader(b, 2100, ctx),
                                   [ctx](const JournalHeader& h) { return h.Encode(2100, ctx); });
  });

  JournalDescriptor jd;
  jd.seq = 99;
  jd.entries = {{6196, 0x11223344}, {6197, 0x55667788}, {6200, 0x99aabbcc}};
  add("journal_descriptor", 2118, jd.Encode(2118, ctx), [ctx](std::span<const uint8_t> b) {
    return Reencode<JournalDescriptor>(
        DecodeJournalDescriptor(b, 2118, ctx, kBlockCount),
        [ctx](const JournalDescriptor& d) { return d.Encode(2118, ctx); });
  });

  JournalCommit jc;
  jc.seq = 99;
  jc.count = 3;
  jc.descriptor_crc = 0xdeadbeef;
  jc.commit_time_ns = 1'700'000'200'000'000'000LL;
  add("journal_commit", 2122, jc.Encode(2122, ctx), [ctx](std::span<const uint8_t> b) {
    return Reencode<JournalCommit>(DecodeJournalCommit(b, 2122, ctx),
                                   [ctx](const JournalCommit& c) { return c.Encode(2122, ctx); });
  });

  Inode dir;
  dir.ino = 6200;
  dir.mode = 040755;
  dir.uid = 1000;
  dir.gid = 100;
  dir.nlink = 3;
  dir.atime_ns = dir.mtime_ns = dir.ctime_ns = dir.crtime_ns = 1'700'000'000'000'000'000LL;
  dir.generation = 1;
  dir.parent = 6200;
  dir.content_kind = ContentKind::kInlineDir;
  (void)InlineDirInsert(&dir.content, InodeContentCapacity(4096),
                        {6201, DirentType::kFile, "hello.txt"});
  (void)InlineDirInsert(&dir.content, InodeContentCapacity(4096), {6202, DirentType::kDir, "sub"});
  dir.dir_entries = 2;
  dir.size = dir.content.size();
  auto inode_decoder = [ctx](uint64_t blkno) {
    return [ctx, blkno](std::span<const uint8_t> b) {
      return Reencode<Inode>(DecodeInode(b, blkno, ctx, kBlockCount),
                             [ctx](const Inode& i) { return i.Encode(ctx); });
    };
  };
  add("inode_inline_dir", 6200, dir.Encode(ctx), inode_decoder(6200));

  Inode file;
  file.ino = 6201;
  file.mode = 0100644;
  file.uid = 1000;
  file.nlink = 1;
  file.size = 5;
  file.generation = 3;
  file.content_kind = ContentKind::kInlineData;
  file.content = {'h', 'e', 'l', 'l', 'o'};
  add("inode_inline_data", 6201, file.Encode(ctx), inode_decoder(6201));

  Inode big;
  big.ino = 6203;
  big.mode = 0100600;
  big.nlink = 1;
  big.size = 1ull << 32;
  big.blocks = 40;
  big.generation = 9;
  big.flags = kInodeOrphan;
  big.orphan_next = 6204;
  big.content_kind = ContentKind::kExtents;
  ExtentNode root = Inode::EmptyExtentRoot(4096);
  (void)InsertExtent(&root, {0, 7000, 8, 0});
  (void)InsertExtent(&root, {1000, 9000, 32, kExtentUnwritten});
  big.SetExtentRoot(root);
  add("inode_extents", 6203, big.Encode(ctx), inode_decoder(6203));

  ExtentNode node;
  node.depth = 0;
  node.capacity = ExtentNode::CapacityFor(4096 - kHeaderSize);
  node.entries = {{0, 10000, 100, 0}, {500, 20000, 1, 0}};
  add("extent_node", 7100, EncodeExtentBlock(node, 7100, ctx), [ctx](std::span<const uint8_t> b) {
    return Reencode<ExtentNode>(
        DecodeExtentBlock(b, 7100, ctx, kBlockCount),
        [ctx](const ExtentNode& n) { return EncodeExtentBlock(n, 7100, ctx); });
  });

  DirLeaf leaf;
  leaf.depth = 0;
  leaf.dir_inode = 6202;
  leaf.next = 7201;
  (void)leaf.Insert({6300, DirentType::kFile, "a"}, 4096);
  (void)leaf.Insert({6301, DirentType::kSymlink, "link-to-a"}, 4096);
  add("dir_leaf", 7200, leaf.Encode(7200, ctx), [ctx](std::span<const uint8_t> b) {
    return Reencode<DirLeaf>(DecodeDirLeaf(b, 7200, ctx),
                             [ctx](const DirLeaf& l) { return l.Encode(7200, ctx); });
  });

  std::vector<uint64_t> table(DirTableEntriesPerBlock(4096), 0);
  for (size_t i = 0; i < 16; ++i) table[i] = 7200 + i / 4;
  add("dir_table", 7300, EncodeDirTableBlock(table, 7300, ctx), [ctx](std::span<const uint8_t> b) {
    return Reencode<std::vector<uint64_t>>(
        DecodeDirTableBlock(b, 7300, ctx, kBlockCount),
        [ctx](const std::vector<uint64_t>& t) { return EncodeDirTableBlock(t, 7300, ctx); });
  });

  StatfsBlock st{229000, 228000, 12};
  add("statfs", 18, st.Encode(18, ctx), [ctx](std::span<const uint8_t> b) {
    return Reencode<StatfsBlock>(DecodeStatfs(b, 18, ctx),
                                 [ctx](const StatfsBlock& s) { return s.Encode(18, ctx); });
  });

  NodeBlock nb;
  nb.slot = 2;
  nb.free_blocks_delta = -42;
  nb.inodes_delta = 3;
  nb.orphan_head = 6203;
  nb.orphan_count = 1;
  add("node_block", 21, nb.Encode(21, ctx), [ctx](std::span<const uint8_t> b) {
    return Reencode<NodeBlock>(DecodeNodeBlock(b, 21, ctx, 2),
                               [ctx](const NodeBlock& n) { return n.Encode(21, ctx); });
  });

  XattrMap xa;
  xa["security.selinux"] = {'s', 'y', 's', 't', 'e', 'm', '_', 'u', 0};
  xa["system.posix_acl_access"] = {2, 0, 0, 0, 1, 0, 6, 0, 0xff, 0xff, 0xff, 0xff,
                                   4, 0, 4, 0, 0xff, 0xff, 0xff, 0xff,
                                   0x20, 0, 0, 0, 0xff, 0xff, 0xff, 0xff};
  xa["user.empty"] = {};
  xa["user.mime_type"] = {'t', 'e', 'x', 't', '/', 'p', 'l', 'a', 'i', 'n'};
  add("xattr", 7400, EncodeXattrBlock(xa, 7400, ctx), [ctx](std::span<const uint8_t> b) {
    return Reencode<XattrMap>(DecodeXattrBlock(b, 7400, ctx),
                              [ctx](const XattrMap& m) { return EncodeXattrBlock(m, 7400, ctx); });
  });
  return out;
}

}  // namespace cohort::fs::testing
