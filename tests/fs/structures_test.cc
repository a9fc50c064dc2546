// tests/fs/structures_test.cc: behaviour of allocation groups (§5), directories (§7)
// and extent trees (§6.4) of docs/ondisk-format.md.
#include <gtest/gtest.h>

#include <map>

#include "fs/directory.h"
#include "fs/extent.h"
#include "fs/group.h"
#include "fs/inode.h"
#include "tests/fs/sample_blocks.h"

namespace cohort::fs {
namespace {

// "<c><n>", written so that GCC 12 -O3 does not warn (-Wrestrict false positive on
// operator+ with a one-character literal, GCC bug 105651).
std::string PrefixedNumber(char c, uint64_t n) {
  std::string s(1, c);
  s += std::to_string(n);
  return s;
}

const BlockContext kCtx = testing::SampleContext();

std::vector<std::vector<uint8_t>> Bitmaps(const std::vector<MetaBlock>& all) {
  std::vector<std::vector<uint8_t>> out;
  for (size_t i = 1; i < all.size(); ++i) out.push_back(all[i].data);
  return out;
}

TEST(AllocGroupTest, FormattedGroupReservesOnlyItsHeaderAndBitmaps) {
  AllocGroup g = AllocGroup::Format(3, 100000, 40000, kCtx);
  EXPECT_EQ(g.header().bitmap_blocks, 3u);
  EXPECT_EQ(g.header().free_blocks, 40000u - 4);
  EXPECT_EQ(g.Get(100000), BlockState::kUsed);
  EXPECT_EQ(g.Get(100003), BlockState::kUsed);
  EXPECT_EQ(g.Get(100004), BlockState::kFree);
}

TEST(AllocGroupTest, AllocateFreeAndReloadKeepCountsConsistent) {
  AllocGroup g = AllocGroup::Format(0, 5000, 20000, kCtx);
  auto ino = g.Allocate(BlockState::kInode, 0);
  ASSERT_TRUE(ino.ok());
  EXPECT_EQ(*ino, 5000u + 1 + 2);
  auto run = g.AllocateRun(10, 9000);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->first, 9000u);
  EXPECT_EQ(run->second, 10u);
  ASSERT_TRUE(g.Free(9003).ok());
  EXPECT_EQ(g.Free(9003).code(), Code::kInvalidArgument);  // double free
  EXPECT_EQ(g.Free(5000).code(), Code::kInvalidArgument);  // own header
  ASSERT_TRUE(g.SetState(*ino, BlockState::kUnlinkedInode).ok());
  auto all = g.EncodeAll(kCtx);
  auto loaded = AllocGroup::Load(all[0].data, Bitmaps(all), 5000, kCtx);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->header(), g.header());
  EXPECT_EQ(loaded->header().inodes, 1u);
  EXPECT_EQ(loaded->Get(9003), BlockState::kFree);
  EXPECT_EQ(loaded->Get(9004), BlockState::kUsed);
}

TEST(AllocGroupTest, FullGroupReportsNoSpace) {
  AllocGroup g = AllocGroup::Format(0, 5000, 64, kCtx);
  for (uint32_t i = 0; i < 62; ++i) ASSERT_TRUE(g.Allocate(BlockState::kUsed).ok());
  EXPECT_EQ(g.Allocate(BlockState::kUsed).code(), Code::kNoSpace);
}

TEST(AllocGroupTest, HeaderCountThatDisagreesWithBitmapIsCorruption) {
  AllocGroup g = AllocGroup::Format(0, 5000, 20000, kCtx);
  auto all = g.EncodeAll(kCtx);
  GroupHeader h = g.header();
  h.free_blocks -= 1;
  auto bad = AllocGroup::Load(h.Encode(kCtx), Bitmaps(all), 5000, kCtx);
  EXPECT_EQ(bad.code(), Code::kCorruption);
}

TEST(AllocGroupTest, EncodeDirtyReturnsHeaderAndOnlyChangedBitmaps) {
  AllocGroup g = AllocGroup::Format(0, 5000, 40000, kCtx);
  g.ClearDirty();
  ASSERT_TRUE(g.AllocateRun(1, 5000 + 20000).ok());  // in the second bitmap block
  auto dirty = g.EncodeDirty(kCtx);
  ASSERT_EQ(dirty.size(), 2u);
  EXPECT_EQ(dirty[0].blkno, 5000u);
  EXPECT_EQ(dirty[1].blkno, 5002u);
}

TEST(DirectoryTest, InlineInsertLookupRemove) {
  std::vector<uint8_t> c;
  const size_t cap = InodeContentCapacity(4096);
  ASSERT_TRUE(InlineDirInsert(&c, cap, {10, DirentType::kFile, "a"}).ok());
  ASSERT_TRUE(InlineDirInsert(&c, cap, {11, DirentType::kDir, "bb"}).ok());
  EXPECT_EQ(InlineDirInsert(&c, cap, {12, DirentType::kFile, "a"}).code(), Code::kExists);
  auto e = InlineDirLookup(c, "bb");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->inode, 11u);
  EXPECT_EQ(e->type, DirentType::kDir);
  ASSERT_TRUE(InlineDirRemove(&c, "a").ok());
  EXPECT_EQ(InlineDirLookup(c, "a").code(), Code::kNotFound);
  EXPECT_EQ(InlineDirRemove(&c, "a").code(), Code::kNotFound);
  auto all = DecodeDirEntries(c);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 1u);
}

TEST(DirectoryTest, InlineDirectoryFullReportsNoSpaceSoCallerConvertsToHashed) {
  std::vector<uint8_t> c;
  const size_t cap = InodeContentCapacity(4096);
  int n = 0;
  Status s;
  while ((s = InlineDirInsert(&c, cap, {100u + n, DirentType::kFile, "file-" + std::to_string(n)}))
             .ok()) {
    ++n;
  }
  EXPECT_EQ(s.code(), Code::kNoSpace);
  EXPECT_GT(n, 100);
  EXPECT_LE(c.size(), cap);
}

TEST(DirectoryTest, BadNamesAreRejected) {
  EXPECT_EQ(ValidateName("").code(), Code::kInvalidArgument);
  EXPECT_EQ(ValidateName(".").code(), Code::kInvalidArgument);
  EXPECT_EQ(ValidateName("..").code(), Code::kInvalidArgument);
  EXPECT_EQ(ValidateName("a/b").code(), Code::kInvalidArgument);
  EXPECT_EQ(ValidateName(std::string(256, 'x')).code(), Code::kNameTooLong);
  EXPECT_TRUE(ValidateName(std::string(255, 'x')).ok());
}

TEST(DirectoryTest, TruncatedEntryIsCorruptionNotACrash) {
  std::vector<uint8_t> c;
  ASSERT_TRUE(InlineDirInsert(&c, 4000, {10, DirentType::kFile, "hello"}).ok());
  for (size_t n = 1; n < c.size(); ++n) {
    EXPECT_EQ(DecodeDirEntries(std::span(c).first(n)).code(), Code::kCorruption) << n;
  }
}

TEST(DirectoryTest, HashedLookupFindsEveryNameAmongManyLeaves) {
  // Builds an extendible-hash directory in memory (table + leaves, as §7.2) with
  // 20000 names and checks every lookup touches exactly one leaf.
  const uint16_t depth = 8;
  std::vector<DirLeaf> leaves(1u << depth);
  for (auto& l : leaves) {
    l.depth = depth;
    l.dir_inode = 99;
  }
  for (int i = 0; i < 20000; ++i) {
    std::string name = PrefixedNumber('n', i);
    auto& leaf = leaves[HashTableIndex(NameHash(name), depth)];
    ASSERT_TRUE(leaf.Insert({1000u + i, DirentType::kFile, name}, 4096).ok());
  }
  for (size_t i = 0; i < leaves.size(); ++i) {
    auto back = DecodeDirLeaf(leaves[i].Encode(5000 + i, kCtx), 5000 + i, kCtx);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    leaves[i] = *back;
  }
  for (int i = 0; i < 20000; i += 7) {
    std::string name = PrefixedNumber('n', i);
    auto e = leaves[HashTableIndex(NameHash(name), depth)].Lookup(name);
    ASSERT_TRUE(e.has_value()) << name;
    EXPECT_EQ(e->inode, 1000u + i);
  }
}

TEST(DirectoryTest, LeafReportsNoSpaceWhenFull) {
  DirLeaf l;
  l.dir_inode = 5;
  int n = 0;
  Status s;
  while (
      (s = l.Insert({1u + n, DirentType::kFile, std::string(200, 'a' + n % 26) + std::to_string(n)},
                    4096))
          .ok()) {
    ++n;
  }
  EXPECT_EQ(s.code(), Code::kNoSpace);
  EXPECT_TRUE(DecodeDirLeaf(l.Encode(77, kCtx), 77, kCtx).ok());
}

TEST(DirectoryTest, LeafRemoveInPlaceMatchesDecodeRemoveEncode) {
  DirLeaf l;
  l.dir_inode = 5;
  l.next = 900;
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(l.Insert({100u + i, DirentType::kFile, "name" + std::to_string(i)}, 4096).ok());
  }
  std::vector<uint8_t> b = l.Encode(77, kCtx);
  uint64_t next = 0;
  ASSERT_TRUE(DirLeafRemoveInPlace(b, 77, kCtx, 5, "name17", &next).ok());
  EXPECT_EQ(next, 900u);
  DirLeaf want = l;
  ASSERT_TRUE(want.Remove("name17").ok());
  EXPECT_EQ(b, want.Encode(77, kCtx));  // byte for byte what the full re-encode gives
  auto back = DecodeDirLeaf(b, 77, kCtx);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->entries.size(), 39u);
  EXPECT_FALSE(back->Lookup("name17").has_value());
  // Absent name: NotFound, next still reported, the block untouched.
  std::vector<uint8_t> before = b;
  EXPECT_EQ(DirLeafRemoveInPlace(b, 77, kCtx, 5, "name17", &next).code(), Code::kNotFound);
  EXPECT_EQ(b, before);
  // The last entry and then every entry.
  ASSERT_TRUE(DirLeafRemoveInPlace(b, 77, kCtx, 5, "name39", &next).ok());
  for (int i = 0; i < 39; ++i) {
    if (i == 17) continue;
    ASSERT_TRUE(DirLeafRemoveInPlace(b, 77, kCtx, 5, "name" + std::to_string(i), &next).ok());
  }
  auto empty = DecodeDirLeaf(b, 77, kCtx);
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_TRUE(empty->entries.empty());
}

TEST(DirectoryTest, LeafRemoveInPlaceRejectsDamagedLeaf) {
  DirLeaf l;
  l.dir_inode = 5;
  ASSERT_TRUE(l.Insert({100, DirentType::kFile, "a"}, 4096).ok());
  ASSERT_TRUE(l.Insert({101, DirentType::kFile, "b"}, 4096).ok());
  uint64_t next = 0;
  std::vector<uint8_t> b = l.Encode(77, kCtx);
  EXPECT_EQ(DirLeafRemoveInPlace(b, 77, kCtx, 6, "a", &next).code(), Code::kCorruption);
  EXPECT_EQ(DirLeafRemoveInPlace(b, 78, kCtx, 5, "a", &next).code(), Code::kCorruption);
  // A name length that runs past the used bytes, resealed so only the framing is wrong.
  b[kLeafHeaderSize + 13] = 200;
  SealBlock(b, BlockType::kDirLeaf, 77, kCtx);
  EXPECT_EQ(DirLeafRemoveInPlace(b, 77, kCtx, 5, "b", &next).code(), Code::kCorruption);
  // A count that disagrees with the entries.
  b = l.Encode(77, kCtx);
  b[34] = 7;
  SealBlock(b, BlockType::kDirLeaf, 77, kCtx);
  EXPECT_EQ(DirLeafRemoveInPlace(b, 77, kCtx, 5, "a", &next).code(), Code::kCorruption);
  // A flipped byte without resealing: the checksum.
  b = l.Encode(77, kCtx);
  b[kLeafHeaderSize + 14] ^= 1;
  EXPECT_EQ(DirLeafRemoveInPlace(b, 77, kCtx, 5, "a", &next).code(), Code::kCorruption);
}

TEST(ExtentTest, InsertMergesContiguousAndRejectsOverlap) {
  ExtentNode n = Inode::EmptyExtentRoot(4096);
  ASSERT_TRUE(InsertExtent(&n, {0, 100, 4, 0}).ok());
  ASSERT_TRUE(InsertExtent(&n, {4, 104, 4, 0}).ok());  // merges
  EXPECT_EQ(n.entries.size(), 1u);
  EXPECT_EQ(n.entries[0].length, 8u);
  EXPECT_EQ(InsertExtent(&n, {7, 500, 2, 0}).code(), Code::kInvalidArgument);
  ASSERT_TRUE(InsertExtent(&n, {100, 900, 1, 0}).ok());
  EXPECT_EQ(n.entries.size(), 2u);
}

TEST(ExtentTest, LookupReturnsHolesForSparseRanges) {
  ExtentNode n = Inode::EmptyExtentRoot(4096);
  ASSERT_TRUE(InsertExtent(&n, {10, 100, 5, 0}).ok());
  ASSERT_TRUE(InsertExtent(&n, {1ull << 30, 200, 1, 0}).ok());
  ASSERT_TRUE(InsertExtent(&n, {50, 300, 5, kExtentUnwritten}).ok());
  auto none = [](uint64_t) -> Result<ExtentNode> { return Status::Internal("no children"); };
  auto at = [&](uint64_t l) { return LookupExtent(n, l, none).value(); };
  EXPECT_FALSE(at(0).has_value());
  EXPECT_EQ(at(12), std::optional<uint64_t>(102));
  EXPECT_FALSE(at(15).has_value());
  EXPECT_FALSE(at(52).has_value());  // unwritten reads as zero
  EXPECT_EQ(at(1ull << 30), std::optional<uint64_t>(200));
}

TEST(ExtentTest, FullRootGrowsIntoAChildAndLookupWalksIt) {
  ExtentNode root = Inode::EmptyExtentRoot(4096);
  uint64_t l = 0;
  Status s;
  while ((s = InsertExtent(&root, {l, 1000 + l, 1, 0})).ok()) l += 2;  // no merging
  EXPECT_EQ(s.code(), Code::kNoSpace);
  const uint16_t child_cap = ExtentNode::CapacityFor(4096 - kHeaderSize);
  auto child = GrowRoot(&root, 777, child_cap);
  ASSERT_TRUE(child.ok());
  ASSERT_TRUE(InsertExtent(&*child, {l, 1000 + l, 1, 0}).ok());
  std::map<uint64_t, std::vector<uint8_t>> disk;
  disk[777] = EncodeExtentBlock(*child, 777, kCtx);
  auto read = [&](uint64_t b) { return DecodeExtentBlock(disk[b], b, kCtx, 1ull << 32); };
  EXPECT_EQ(root.depth, 1u);
  EXPECT_EQ(LookupExtent(root, l, read).value(), std::optional<uint64_t>(1000 + l));
  EXPECT_EQ(LookupExtent(root, 2, read).value(), std::optional<uint64_t>(1002));
  EXPECT_FALSE(LookupExtent(root, 3, read).value().has_value());
}

TEST(ExtentTest, ChildOfWrongDepthIsCorruption) {
  ExtentNode root;
  root.depth = 2;
  root.capacity = 4;
  root.entries = {{0, 777, 0, 0}};
  ExtentNode child;  // depth 0, should be 1
  child.capacity = 4;
  auto read = [&](uint64_t) -> Result<ExtentNode> { return child; };
  EXPECT_EQ(LookupExtent(root, 0, read).code(), Code::kCorruption);
}

TEST(InodeTest, ContentKindMustMatchFileType) {
  Inode f;
  f.ino = 6201;
  f.mode = 0100644;
  f.content_kind = ContentKind::kInlineDir;
  auto r = DecodeInode(f.Encode(kCtx), 6201, kCtx, 1ull << 20);
  EXPECT_EQ(r.code(), Code::kCorruption);
}

}  // namespace
}  // namespace cohort::fs
