// tests/mkfs/mkfs_test.cc: mkfs.cohort (mkfs/mkfs.h): geometry defaults and errors, the
// layout it writes read back through the format library, the heartbeat "in use" check,
// and the built programs on sparse images of 1 GiB, 100 GiB and 16 TiB with
// `cohort inspect` reading back what was written.
#include "mkfs/mkfs.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <string>

#include "fs/block_device.h"
#include "fs/group.h"
#include "fs/inode.h"
#include "fs/journal.h"
#include "fs/superblock.h"
#include "fs/system_blocks.h"

namespace cohort::mkfs {
namespace {

// "<c><n>", written so that GCC 12 -O3 does not warn (-Wrestrict false positive on
// operator+ with a one-character literal, GCC bug 105651).
std::string PrefixedNumber(char c, uint64_t n) {
  std::string s(1, c);
  s += std::to_string(n);
  return s;
}

namespace stdfs = std::filesystem;
constexpr uint64_t kMiB = 1ull << 20, kGiB = 1ull << 30, kTiB = 1ull << 40;

MkfsOptions Opts() {
  MkfsOptions o;
  o.cluster_name = "alpha";
  o.journals = 3;
  return o;
}

TEST(MkfsGeometryTest, DefaultsScaleWithDeviceSize) {
  auto small = ComputeGeometry(1 * kGiB, Opts());
  ASSERT_TRUE(small.ok()) << small.status().ToString();
  EXPECT_EQ(small->sb.ag_blocks * 4096, 64 * kMiB);
  EXPECT_EQ(uint64_t{small->journal_blocks} * 4096, 8 * kMiB);
  auto big = ComputeGeometry(100 * kGiB, Opts());
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(big->sb.ag_blocks * 4096, kGiB);
  EXPECT_EQ(uint64_t{big->journal_blocks} * 4096, 128 * kMiB);
  EXPECT_EQ(big->sb.ag_count, 100u);
  auto huge = ComputeGeometry(16 * kTiB, Opts());
  ASSERT_TRUE(huge.ok());
  EXPECT_EQ(huge->sb.ag_count, 16384u);
  EXPECT_EQ(huge->sb.group_table_blocks, 65u);
}

TEST(MkfsGeometryTest, TooSmallDeviceIsNoSpaceWithTheMinimumInTheMessage) {
  auto r = ComputeGeometry(8 * kMiB, Opts());
  EXPECT_EQ(r.code(), Code::kNoSpace);
  EXPECT_NE(r.status().message().find("device too small"), std::string_view::npos);
}

TEST(MkfsGeometryTest, BadOptionsAreInvalidArgument) {
  MkfsOptions o = Opts();
  o.cluster_name = "";
  EXPECT_EQ(ComputeGeometry(kGiB, o).code(), Code::kInvalidArgument);
  o = Opts();
  o.block_size = 1000;
  EXPECT_EQ(ComputeGeometry(kGiB, o).code(), Code::kInvalidArgument);
  o = Opts();
  o.journals = 0;
  EXPECT_EQ(ComputeGeometry(kGiB, o).code(), Code::kInvalidArgument);
  o = Opts();
  o.journals = 200;
  EXPECT_EQ(ComputeGeometry(kGiB, o).code(), Code::kInvalidArgument);
  o = Opts();
  o.label = std::string(64, 'x');
  EXPECT_EQ(ComputeGeometry(kGiB, o).code(), Code::kInvalidArgument);
}

TEST(MkfsGeometryTest, EveryBlockSizeGivesAValidSuperblock) {
  for (uint32_t bs = 4096; bs <= 65536; bs *= 2) {
    MkfsOptions o = Opts();
    o.block_size = bs;
    auto g = ComputeGeometry(2 * kGiB, o);
    ASSERT_TRUE(g.ok()) << bs << ": " << g.status().ToString();
    EXPECT_TRUE(g->sb.Validate().ok());
  }
}

TEST(MkfsGeometryTest, ParseSizeAcceptsSuffixes) {
  EXPECT_EQ(ParseSize("128", kMiB).value(), 128 * kMiB);
  EXPECT_EQ(ParseSize("4G", kMiB).value(), 4 * kGiB);
  EXPECT_EQ(ParseSize("512K", kMiB).value(), 512u << 10);
  EXPECT_EQ(ParseSize("12Q", kMiB).code(), Code::kInvalidArgument);
  EXPECT_EQ(ParseSize("x", kMiB).code(), Code::kInvalidArgument);
  EXPECT_EQ(ParseSize("99999999999999999999", 1).code(), Code::kInvalidArgument);
}

class MkfsTest : public ::testing::Test {
 protected:
  fs::MemBlockDevice dev_{256 * kMiB};
  FakeClock clock_;
};

TEST_F(MkfsTest, EveryStructureWrittenDecodesBack) {
  MkfsOptions o = Opts();
  o.label = "data";
  o.clock = &clock_;
  auto sb = Mkfs(dev_, o);
  ASSERT_TRUE(sb.ok()) << sb.status().ToString();
  auto read = fs::ReadSuperblock(dev_);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(*read, *sb);
  EXPECT_EQ(read->label, "data");
  EXPECT_EQ(read->journal_count, 3u);
  const fs::BlockContext ctx = sb->context();
  std::vector<uint8_t> b(4096);
  // Journal index and every journal (empty: replay applies nothing).
  ASSERT_TRUE(dev_.ReadBlock(sb->journal_index_blkno, 4096, b).ok());
  auto ji = fs::DecodeJournalIndex(b, sb->journal_index_blkno, ctx, sb->max_nodes, sb->block_count);
  ASSERT_TRUE(ji.ok()) << ji.status().ToString();
  for (uint32_t j = 0; j < 3; ++j) {
    auto st = fs::Journal::Replay(&dev_, ctx, ji->entries[j].start, sb->block_count);
    ASSERT_TRUE(st.ok()) << st.status().ToString();
    EXPECT_EQ(st->transactions, 0u);
  }
  EXPECT_EQ(ji->entries[3].start, 0u);
  // Heartbeats and node blocks.
  for (uint32_t i = 0; i < sb->max_nodes; ++i) {
    ASSERT_TRUE(dev_.ReadBlock(sb->heartbeat_start + i, 4096, b).ok());
    auto hb = fs::DecodeHeartbeat(b, sb->heartbeat_start + i, ctx);
    ASSERT_TRUE(hb.ok());
    EXPECT_EQ(hb->state, fs::HeartbeatState::kUnused);
    ASSERT_TRUE(dev_.ReadBlock(sb->node_blocks_start + i, 4096, b).ok());
    ASSERT_TRUE(fs::DecodeNodeBlock(b, sb->node_blocks_start + i, ctx, i).ok());
  }
  // Group table: group 0 initialised, the rest lazy; group 0 loads; root decodes.
  ASSERT_TRUE(dev_.ReadBlock(sb->group_table_start, 4096, b).ok());
  auto table = fs::DecodeGroupTableBlock(b, sb->group_table_start, ctx);
  ASSERT_TRUE(table.ok());
  EXPECT_EQ((*table)[0].flags, fs::kGroupInitialized);
  EXPECT_EQ((*table)[1].flags, 0u);
  std::vector<uint8_t> hdr(4096);
  ASSERT_TRUE(dev_.ReadBlock(sb->ag_start, 4096, hdr).ok());
  std::vector<std::vector<uint8_t>> bitmaps(sb->ag_bitmap_blocks, std::vector<uint8_t>(4096));
  for (uint32_t i = 0; i < sb->ag_bitmap_blocks; ++i) {
    ASSERT_TRUE(dev_.ReadBlock(sb->ag_start + 1 + i, 4096, bitmaps[i]).ok());
  }
  auto g0 = fs::AllocGroup::Load(hdr, bitmaps, sb->ag_start, ctx);
  ASSERT_TRUE(g0.ok()) << g0.status().ToString();
  EXPECT_EQ(g0->Get(sb->root_inode), fs::BlockState::kInode);
  ASSERT_TRUE(dev_.ReadBlock(sb->root_inode, 4096, b).ok());
  auto root = fs::DecodeInode(b, sb->root_inode, ctx, sb->block_count);
  ASSERT_TRUE(root.ok()) << root.status().ToString();
  EXPECT_TRUE(root->is_dir());
  EXPECT_EQ(root->parent, sb->root_inode);
  // Statfs: the free count equals what the groups say.
  ASSERT_TRUE(dev_.ReadBlock(sb->statfs_blkno, 4096, b).ok());
  auto st = fs::DecodeStatfs(b, sb->statfs_blkno, ctx);
  ASSERT_TRUE(st.ok());
  uint64_t free_blocks = g0->header().free_blocks;
  for (uint64_t g = 1; g < sb->ag_count; ++g) {
    free_blocks += sb->GroupLength(g) - 1 - fs::BitmapBlocksFor(sb->GroupLength(g), 4096);
  }
  EXPECT_EQ(st->free_blocks, free_blocks);
  EXPECT_EQ(st->inodes, 1u);
}

TEST_F(MkfsTest, DamagedPrimaryFallsBackToBackup) {
  MkfsOptions o = Opts();
  auto sb = Mkfs(dev_, o);
  ASSERT_TRUE(sb.ok());
  std::vector<uint8_t> zero(4096, 0);
  ASSERT_TRUE(dev_.WriteBlock(sb->primary_blkno(), zero).ok());
  bool backup = false;
  auto read = fs::ReadSuperblock(dev_, &backup);
  ASSERT_TRUE(read.ok());
  EXPECT_TRUE(backup);
  EXPECT_EQ(*read, *sb);
}

TEST_F(MkfsTest, ReformatInvalidatesTheOldFilesystemsBlocks) {
  auto first = Mkfs(dev_, Opts());
  ASSERT_TRUE(first.ok());
  auto second = Mkfs(dev_, Opts());
  ASSERT_TRUE(second.ok());
  EXPECT_NE(first->uuid, second->uuid);
  std::vector<uint8_t> b(4096);
  // A group header from the first filesystem would not pass the second's fs_stamp.
  ASSERT_TRUE(dev_.ReadBlock(second->ag_start, 4096, b).ok());
  EXPECT_TRUE(fs::DecodeGroupHeader(b, second->ag_start, second->context()).ok());
  EXPECT_EQ(fs::DecodeGroupHeader(b, second->ag_start, first->context()).code(), Code::kCorruption);
}

// Writes slot `slot` as mounted with `counter`.
void WriteHeartbeat(fs::BlockDevice& dev, const fs::Superblock& sb, uint32_t slot,
                    uint64_t counter) {
  fs::Heartbeat hb;
  hb.slot = slot;
  hb.state = fs::HeartbeatState::kMounted;
  hb.counter = counter;
  hb.node_name = PrefixedNumber('n', slot);
  ASSERT_TRUE(
      dev.WriteBlock(sb.heartbeat_start + slot, hb.Encode(sb.heartbeat_start + slot, sb.context()))
          .ok());
}

TEST_F(MkfsTest, RefusesADeviceWhoseHeartbeatIsLive) {
  auto sb = Mkfs(dev_, Opts());
  ASSERT_TRUE(sb.ok());
  WriteHeartbeat(dev_, *sb, 1, 10);
  MkfsOptions o = Opts();
  o.clock = &clock_;
  uint64_t counter = 10;
  // The "other node" beats every time mkfs waits.
  o.sleep = [&](Nanos d) {
    clock_.Advance(d);
    WriteHeartbeat(dev_, *sb, 1, ++counter);
  };
  auto r = Mkfs(dev_, o);
  EXPECT_EQ(r.code(), Code::kBusy);
  EXPECT_NE(r.status().message().find("slot 1"), std::string_view::npos) << r.status().ToString();
  // The filesystem is untouched.
  auto still = fs::ReadSuperblock(dev_);
  ASSERT_TRUE(still.ok());
  EXPECT_EQ(still->uuid, sb->uuid);
  // -f overrides.
  o.force = true;
  EXPECT_TRUE(Mkfs(dev_, o).ok());
}

TEST_F(MkfsTest, StaleHeartbeatOfADeadNodeDoesNotBlock) {
  auto sb = Mkfs(dev_, Opts());
  ASSERT_TRUE(sb.ok());
  WriteHeartbeat(dev_, *sb, 2, 99);
  MkfsOptions o = Opts();
  o.clock = &clock_;
  int waits = 0;
  o.sleep = [&](Nanos d) {
    clock_.Advance(d);
    ++waits;
  };
  auto r = Mkfs(dev_, o);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(waits, 20);  // the whole lease (10 s) in half-intervals (0.5 s)
}

TEST_F(MkfsTest, UnmountedFilesystemCostsNoWait) {
  ASSERT_TRUE(Mkfs(dev_, Opts()).ok());
  MkfsOptions o = Opts();
  o.sleep = [](Nanos) { FAIL() << "mkfs waited on an unmounted filesystem"; };
  EXPECT_TRUE(Mkfs(dev_, o).ok());
}

// ---- the programs ----

struct RunResult {
  int status = -1;
  std::string out;
};

RunResult RunProgram(const std::string& cmd) {
  RunResult r;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

class MkfsProgramTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = stdfs::path(COHORT_TEST_TMP) / ("mkfs-" + std::to_string(::getpid()));
    stdfs::create_directories(dir_);
  }
  void TearDown() override {
    stdfs::remove_all(dir_);
    if (!shm_dir_.empty()) stdfs::remove_all(shm_dir_);
  }
  // A sparse image of `size` bytes; ext4 cannot hold a 16 TiB file, so such images go
  // to tmpfs (/dev/shm), which can (and also exercises the O_DIRECT fallback).
  std::string Image(uint64_t size) {
    std::string p = (dir_ / ("img-" + std::to_string(size))).string();
    std::error_code ec;
    {
      FILE* f = std::fopen(p.c_str(), "w");
      if (f) std::fclose(f);
    }
    stdfs::resize_file(p, size, ec);
    if (!ec) return p;
    stdfs::remove(p);
    shm_dir_ = stdfs::path("/dev/shm") / ("cohort-mkfs-" + std::to_string(::getpid()));
    stdfs::create_directories(shm_dir_);
    p = (shm_dir_ / "img").string();
    {
      FILE* f = std::fopen(p.c_str(), "w");
      if (f) std::fclose(f);
    }
    stdfs::resize_file(p, size);
    return p;
  }
  void MkfsAndInspect(uint64_t size, uint64_t expect_groups) {
    std::string img = Image(size);
    auto mk = RunProgram(std::string(MKFS_BIN) + " -c alpha -j 3 -L lbl " + img);
    ASSERT_EQ(mk.status, 0) << mk.out;
    EXPECT_NE(mk.out.find("allocation groups: " + std::to_string(expect_groups)), std::string::npos)
        << mk.out;
    auto sb = RunProgram(std::string(COHORT_BIN) + " inspect " + img + " superblock");
    ASSERT_EQ(sb.status, 0) << sb.out;
    EXPECT_NE(sb.out.find("cluster_name: alpha"), std::string::npos) << sb.out;
    EXPECT_NE(sb.out.find("label: lbl"), std::string::npos);
    EXPECT_NE(sb.out.find("journal_count: 3"), std::string::npos);
    EXPECT_NE(sb.out.find("block_count: " + std::to_string(size / 4096)), std::string::npos);
    EXPECT_NE(sb.out.find("ag_count: " + std::to_string(expect_groups)), std::string::npos);
    auto g0 = RunProgram(std::string(COHORT_BIN) + " inspect " + img + " group 0");
    ASSERT_EQ(g0.status, 0) << g0.out;
    EXPECT_NE(g0.out.find(" inode\n"), std::string::npos) << g0.out;
    auto glast = RunProgram(std::string(COHORT_BIN) + " inspect " + img + " group " +
                            std::to_string(expect_groups - 1));
    ASSERT_EQ(glast.status, 0) << glast.out;
    EXPECT_NE(glast.out.find("uninitialised"), std::string::npos) << glast.out;
    auto j = RunProgram(std::string(COHORT_BIN) + " inspect " + img + " journal 2");
    ASSERT_EQ(j.status, 0) << j.out;
    EXPECT_NE(j.out.find("slot 2"), std::string::npos) << j.out;
    auto hb = RunProgram(std::string(COHORT_BIN) + " inspect " + img + " heartbeat");
    ASSERT_EQ(hb.status, 0) << hb.out;
    EXPECT_NE(hb.out.find("slot 31 state unused"), std::string::npos) << hb.out;
    stdfs::remove(img);
  }
  stdfs::path dir_, shm_dir_;
};

TEST_F(MkfsProgramTest, OneGiBImageIsMadeAndInspectedBack) { MkfsAndInspect(kGiB, 16); }
TEST_F(MkfsProgramTest, HundredGiBImageIsMadeAndInspectedBack) { MkfsAndInspect(100 * kGiB, 100); }
TEST_F(MkfsProgramTest, SixteenTiBImageIsMadeAndInspectedBack) { MkfsAndInspect(16 * kTiB, 16384); }

TEST_F(MkfsProgramTest, LoopDeviceIsMadeWithDirectIoAndInspectedBack) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root for losetup";
  std::string img = Image(kGiB);
  auto attach = RunProgram("losetup --find --show " + img);
  if (attach.status != 0) GTEST_SKIP() << "losetup not usable here: " << attach.out;
  std::string loop = attach.out.substr(0, attach.out.find('\n'));
  auto mk = RunProgram(std::string(MKFS_BIN) + " -c loopy -j 2 " + loop);
  auto sb = RunProgram(std::string(COHORT_BIN) + " inspect " + loop);
  auto g0 = RunProgram(std::string(COHORT_BIN) + " inspect " + loop + " group 0");
  EXPECT_EQ(RunProgram("losetup -d " + loop).status, 0);
  ASSERT_EQ(mk.status, 0) << mk.out;
  EXPECT_EQ(mk.out.find("O_DIRECT"), std::string::npos) << "a loop device takes O_DIRECT";
  ASSERT_EQ(sb.status, 0) << sb.out;
  EXPECT_NE(sb.out.find("cluster_name: loopy"), std::string::npos) << sb.out;
  EXPECT_EQ(g0.status, 0) << g0.out;
}

TEST_F(MkfsProgramTest, InspectFlagsAChecksumError) {
  std::string img = Image(kGiB);
  ASSERT_EQ(RunProgram(std::string(MKFS_BIN) + " -q -c alpha " + img).status, 0);
  auto sb = RunProgram(std::string(COHORT_BIN) + " inspect " + img);
  ASSERT_EQ(sb.status, 0) << sb.out;
  // Flip one byte of the root inode.
  auto pos = sb.out.find("root_inode: ");
  ASSERT_NE(pos, std::string::npos);
  uint64_t root = std::stoull(sb.out.substr(pos + 12));
  {
    FILE* f = std::fopen(img.c_str(), "r+");
    ASSERT_NE(f, nullptr);
    std::fseek(f, static_cast<long>(root * 4096 + 300), SEEK_SET);
    std::fputc(0x5a, f);
    std::fclose(f);
  }
  auto ino =
      RunProgram(std::string(COHORT_BIN) + " inspect " + img + " inode " + std::to_string(root));
  EXPECT_EQ(ino.status, 1) << ino.out;
  EXPECT_NE(ino.out.find("CORRUPT"), std::string::npos) << ino.out;
  EXPECT_NE(ino.out.find("checksum mismatch"), std::string::npos) << ino.out;
  auto blk =
      RunProgram(std::string(COHORT_BIN) + " inspect " + img + " block " + std::to_string(root));
  EXPECT_EQ(blk.status, 1) << blk.out;
}

TEST_F(MkfsProgramTest, ClearErrorsForMissingTooSmallAndUnnamed) {
  auto missing = RunProgram(std::string(MKFS_BIN) + " -c alpha " + (dir_ / "nope").string());
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.out.find("no such file"), std::string::npos) << missing.out;
  std::string small = Image(4 * kMiB);
  auto tiny = RunProgram(std::string(MKFS_BIN) + " -c alpha " + small);
  EXPECT_EQ(tiny.status, 1);
  EXPECT_NE(tiny.out.find("device too small"), std::string::npos) << tiny.out;
  auto noname = RunProgram(std::string(MKFS_BIN) + " " + small);
  EXPECT_EQ(noname.status, 2) << noname.out;
  auto badname = RunProgram(std::string(MKFS_BIN) + " -c 'a b' " + small);
  EXPECT_EQ(badname.status, 1);
  EXPECT_NE(badname.out.find("cluster name"), std::string::npos) << badname.out;
  auto notfs = RunProgram(std::string(COHORT_BIN) + " inspect " + small);
  EXPECT_EQ(notfs.status, 1);
  EXPECT_NE(notfs.out.find("not a Cohort filesystem"), std::string::npos) << notfs.out;
}

TEST_F(MkfsProgramTest, UnwritableDeviceIsAClearError) {
  std::string img = Image(kGiB);
  stdfs::permissions(img, stdfs::perms::owner_read);
  bool immutable = false;
  if (::geteuid() == 0) {
    // Root ignores permission bits; an immutable file refuses even root.
    immutable = std::system(("chattr +i " + img + " 2>/dev/null").c_str()) == 0;
    if (!immutable) GTEST_SKIP() << "root, and chattr +i is not available here";
  }
  auto r = RunProgram(std::string(MKFS_BIN) + " -c alpha " + img);
  if (immutable) {
    EXPECT_EQ(std::system(("chattr -i " + img).c_str()), 0);
  }
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("cannot open for writing"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace cohort::mkfs
