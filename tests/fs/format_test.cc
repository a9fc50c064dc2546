// tests/fs/format_test.cc: golden bytes and byte flips for every structure of
// docs/ondisk-format.md, the block header rules (§1.3) and the feature rules (§1.5).
#include "fs/format.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

#include "common/coding.h"
#include "fs/superblock.h"
#include "tests/fs/sample_blocks.h"

namespace cohort::fs {
namespace {

std::string GoldenPath(const std::string& name) {
  return std::string(COHORT_GOLDEN_DIR) + "/" + name + ".hex";
}

// Set COHORT_UPDATE_GOLDEN=1 to (re)write the golden files after a deliberate format
// change (which also changes docs/ondisk-format.md and its changelog).
bool UpdateGolden() { return std::getenv("COHORT_UPDATE_GOLDEN") != nullptr; }

class GoldenTest : public ::testing::TestWithParam<testing::SampleBlock> {};

TEST_P(GoldenTest, EncodingMatchesCheckedInBytesAndDecodesBack) {
  const testing::SampleBlock& s = GetParam();
  const std::string path = GoldenPath(s.name);
  if (UpdateGolden()) {
    std::ofstream out(path);
    out << "# " << s.name << " (docs/ondisk-format.md), block " << s.blkno << ", block size 4096\n"
        << HexDump(s.bytes, 32);
  }
  std::ifstream in(path);
  ASSERT_TRUE(in.good()) << "missing golden file " << path;
  std::stringstream text;
  text << in.rdbuf();
  auto golden = ParseHexDump(text.str());
  ASSERT_TRUE(golden.ok()) << golden.status().ToString();
  EXPECT_EQ(*golden, s.bytes) << "encoding of " << s.name << " changed; got\n"
                              << HexDump(s.bytes, 32);
  auto again = s.decode_reencode(*golden);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(*again, *golden) << s.name << " does not survive decode + encode";
}

class ByteFlipTest : public ::testing::TestWithParam<testing::SampleBlock> {};

TEST_P(ByteFlipTest, EverySingleByteFlipIsReportedAsCorruption) {
  const testing::SampleBlock& s = GetParam();
  ASSERT_TRUE(s.decode_reencode(s.bytes).ok());
  std::vector<uint8_t> b = s.bytes;
  for (size_t i = 0; i < b.size(); ++i) {
    for (uint8_t mask : {uint8_t{0x01}, uint8_t{0x80}, uint8_t{0xff}}) {
      b[i] ^= mask;
      auto r = s.decode_reencode(b);
      ASSERT_FALSE(r.ok()) << s.name << ": flip of byte " << i << " with " << int{mask}
                           << " decoded without error";
      ASSERT_EQ(r.code(), Code::kCorruption)
          << s.name << " byte " << i << ": " << r.status().ToString();
      b[i] ^= mask;
    }
  }
}

TEST_P(ByteFlipTest, TruncatedOrOversizedBufferIsCorruption) {
  const testing::SampleBlock& s = GetParam();
  std::vector<uint8_t> shorter(s.bytes.begin(), s.bytes.begin() + 2048);
  EXPECT_EQ(s.decode_reencode(shorter).code(), Code::kCorruption);
  std::vector<uint8_t> tiny(s.bytes.begin(), s.bytes.begin() + 8);
  EXPECT_EQ(s.decode_reencode(tiny).code(), Code::kCorruption);
  std::vector<uint8_t> zeros(4096, 0);
  EXPECT_EQ(s.decode_reencode(zeros).code(), Code::kCorruption);
}

// Mutations that keep a valid checksum (as a buggy writer or an attacker would produce)
// must be caught by the decoders' own checks or decode to something, never crash or
// return another error (run under ASan/UBSan).
TEST_P(ByteFlipTest, ResealedRandomMutationsNeverCrash) {
  const testing::SampleBlock& s = GetParam();
  const BlockContext ctx = testing::SampleContext();
  auto hdr = PeekHeader(s.bytes);
  ASSERT_TRUE(hdr.ok());
  std::mt19937_64 rng(0xC0407 + s.blkno);
  for (int iter = 0; iter < 3000; ++iter) {
    std::vector<uint8_t> b = s.bytes;
    int n = 1 + static_cast<int>(rng() % 8);
    for (int k = 0; k < n; ++k) {
      // Mostly the fields near the start, sometimes anywhere after the header.
      size_t at = kHeaderSize + (rng() % 2 ? rng() % 160 : rng() % (b.size() - kHeaderSize));
      b[at] = static_cast<uint8_t>(rng() % 4 == 0 ? 0xff : rng());
    }
    SealBlock(b, static_cast<BlockType>(hdr->type), s.blkno, ctx);
    auto r = s.decode_reencode(b);
    ASSERT_TRUE(r.ok() || r.code() == Code::kCorruption)
        << s.name << " iteration " << iter << ": " << r.status().ToString();
  }
}

std::string SampleName(const ::testing::TestParamInfo<testing::SampleBlock>& info) {
  return info.param.name;
}
INSTANTIATE_TEST_SUITE_P(AllStructures, GoldenTest, ::testing::ValuesIn(testing::SampleBlocks()),
                         SampleName);
INSTANTIATE_TEST_SUITE_P(AllStructures, ByteFlipTest, ::testing::ValuesIn(testing::SampleBlocks()),
                         SampleName);

testing::SampleBlock Sample(const std::string& name) {
  for (auto& s : testing::SampleBlocks()) {
    if (s.name == name) return s;
  }
  ADD_FAILURE() << "no sample " << name;
  return {};
}

TEST(AllZeroFromTest, FindsANonZeroByteAtEveryPositionFromTheOffsetOn) {
  for (size_t size : {size_t{0}, size_t{7}, size_t{8}, size_t{4096}, size_t{4099}}) {
    std::vector<uint8_t> b(size, 0);
    EXPECT_TRUE(AllZeroFrom(b, 0)) << size;
    EXPECT_TRUE(AllZeroFrom(b, size + 5)) << size;  // an offset past the end: nothing to check
    for (size_t i = 0; i < size; ++i) {
      b[i] = 0x40;
      EXPECT_FALSE(AllZeroFrom(b, 0)) << size << " " << i;
      EXPECT_FALSE(AllZeroFrom(b, i)) << size << " " << i;
      EXPECT_TRUE(AllZeroFrom(b, i + 1)) << size << " " << i;
      b[i] = 0;
    }
  }
}

TEST(BlockHeaderTest, MisdirectedBlockIsCorruption) {
  const BlockContext ctx = testing::SampleContext();
  const auto hb = Sample("heartbeat");  // at block 37
  EXPECT_TRUE(CheckBlock(hb.bytes, BlockType::kHeartbeat, 37, ctx).ok());
  Status s = CheckBlock(hb.bytes, BlockType::kHeartbeat, 38, ctx);
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_NE(s.message().find("misdirected"), std::string_view::npos) << s.ToString();
}

TEST(BlockHeaderTest, BlockOfAnotherFilesystemIsCorruption) {
  BlockContext other = testing::SampleContext();
  other.fs_stamp ^= 1;
  Status s = CheckBlock(Sample("heartbeat").bytes, BlockType::kHeartbeat, 37, other);
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_NE(s.message().find("fs_stamp"), std::string_view::npos);
}

TEST(BlockHeaderTest, WrongTypeIsCorruption) {
  Status s = CheckBlock(Sample("heartbeat").bytes, BlockType::kInode, 37, testing::SampleContext());
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_NE(s.message().find("type is heartbeat"), std::string_view::npos);
}

TEST(BlockHeaderTest, ChecksumMismatchNamesBothValues) {
  std::vector<uint8_t> b = Sample("heartbeat").bytes;
  b[4000] ^= 1;
  Status s = CheckBlock(b, BlockType::kHeartbeat, 37, testing::SampleContext());
  EXPECT_NE(s.message().find("checksum mismatch"), std::string_view::npos) << s.ToString();
}

TEST(BlockSizeTest, OnlyPowersOfTwoFrom4KiBTo64KiBAreAllowed) {
  for (uint32_t bs : {4096u, 8192u, 16384u, 32768u, 65536u}) EXPECT_TRUE(IsValidBlockSize(bs));
  for (uint32_t bs : {0u, 512u, 1024u, 2048u, 6144u, 131072u}) EXPECT_FALSE(IsValidBlockSize(bs));
}

TEST(FeatureTest, UnknownIncompatBitRefuses) {
  auto r = CheckFeatures(0, 0, kIncompatLazyGroups | (1ull << 40));
  EXPECT_EQ(r.code(), Code::kNotSupported);
  EXPECT_NE(r.status().message().find("0x10000000000"), std::string_view::npos);
}

TEST(FeatureTest, UnknownRoCompatBitMountsReadOnly) {
  auto r = CheckFeatures(0, 1ull << 3, kIncompatLazyGroups);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, MountMode::kReadOnly);
}

TEST(FeatureTest, UnknownCompatBitMountsReadWrite) {
  auto r = CheckFeatures(1ull << 63, 0, kIncompatLazyGroups);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, MountMode::kReadWrite);
}

TEST(FeatureTest, UnknownIncompatWinsOverUnknownRoCompat) {
  EXPECT_EQ(CheckFeatures(0, 1, 1ull << 9).code(), Code::kNotSupported);
}

TEST(FeatureTest, KnownRoCompatBitOfANewerBuildMountsReadWrite) {
  auto r = CheckFeatures(0, 1ull << 2, 0, /*known_ro_compat=*/1ull << 2);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, MountMode::kReadWrite);
}

// Superblock-level logic: features are decoded faithfully so the mount decides (§1.5).
TEST(SuperblockTest, UnknownIncompatFeatureOnDiskRefusesTheFilesystem) {
  auto sb = DecodeSuperblock(Sample("superblock").bytes, 16);
  ASSERT_TRUE(sb.ok());
  sb->feature_incompat |= 1ull << 17;
  auto back = DecodeSuperblock(sb->Encode(16), 16);
  ASSERT_TRUE(back.ok()) << "unknown bits must decode so that the mount can decide";
  EXPECT_EQ(back->CheckMountable().code(), Code::kNotSupported);
}

TEST(SuperblockTest, UnknownRoCompatFeatureOnDiskMountsReadOnly) {
  auto sb = DecodeSuperblock(Sample("superblock").bytes, 16);
  ASSERT_TRUE(sb.ok());
  ASSERT_EQ(sb->CheckMountable().value(), MountMode::kReadWrite);
  sb->feature_ro_compat |= 1ull << 5;
  sb->feature_compat |= 1ull << 6;
  auto back = DecodeSuperblock(sb->Encode(16), 16);
  ASSERT_TRUE(back.ok());
  auto mode = back->CheckMountable();
  ASSERT_TRUE(mode.ok());
  EXPECT_EQ(*mode, MountMode::kReadOnly);
}

TEST(SuperblockTest, BackupCopyDecodesAtTheLastBlock) {
  auto sb = DecodeSuperblock(Sample("superblock").bytes, 16);
  ASSERT_TRUE(sb.ok());
  auto backup = DecodeSuperblock(sb->Encode(sb->backup_blkno), sb->backup_blkno);
  ASSERT_TRUE(backup.ok()) << backup.status().ToString();
  EXPECT_EQ(*backup, *sb);
  EXPECT_EQ(DecodeSuperblock(sb->Encode(1234), 1234).code(), Code::kCorruption);
}

TEST(SuperblockTest, ValidateRejectsOverlappingRegions) {
  auto sb = DecodeSuperblock(Sample("superblock").bytes, 16);
  ASSERT_TRUE(sb.ok());
  Superblock bad = *sb;
  bad.heartbeat_start = bad.node_blocks_start + 1;
  EXPECT_EQ(bad.Validate().code(), Code::kInvalidArgument);
  bad = *sb;
  bad.ag_count = 9;  // past the end
  EXPECT_FALSE(bad.Validate().ok());
  bad = *sb;
  bad.cluster_name = "has space";
  EXPECT_FALSE(bad.Validate().ok());
  bad = *sb;
  bad.journal_count = bad.max_nodes + 1;
  EXPECT_FALSE(bad.Validate().ok());
  // A consistent but invalid superblock on disk is Corruption, not InvalidArgument.
  EXPECT_EQ(DecodeSuperblock(bad.Encode(16), 16).code(), Code::kCorruption);
}

TEST(SuperblockTest, ClusterNamesFollowTheDocumentedAlphabet) {
  EXPECT_TRUE(IsValidClusterName("prod-01.eu_west"));
  EXPECT_FALSE(IsValidClusterName(""));
  EXPECT_FALSE(IsValidClusterName("a/b"));
  EXPECT_FALSE(IsValidClusterName(std::string(64, 'a')));
  EXPECT_TRUE(IsValidClusterName(std::string(63, 'a')));
}

}  // namespace
}  // namespace cohort::fs
