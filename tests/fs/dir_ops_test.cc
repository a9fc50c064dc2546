// tests/fs/dir_ops_test.cc: inline and hashed directories (fs/dir_ops.h) and extent tree
// insertion through a MetaStore (fs/extent.h), docs/ondisk-format.md §6.4, §7.
#include "fs/dir_ops.h"

#include <gtest/gtest.h>

#include <set>

#include "fs/extent.h"
#include "fs/meta_store.h"
#include "tests/fs/read_counting_store.h"
#include "tests/fs/sample_blocks.h"

namespace cohort::fs {
namespace {

constexpr uint64_t kBlockCount = 1ull << 32;
constexpr uint64_t kDirIno = 5000;

using testing::ReadCountingStore;

class DirOpsTest : public ::testing::Test {
 protected:
  DirOpsTest() : store_(testing::SampleContext(), kBlockCount, 10000) {
    dir_.ino = kDirIno;
    dir_.mode = 040755;
    dir_.nlink = 2;
    dir_.parent = kDirIno;
    dir_.content_kind = ContentKind::kInlineDir;
  }
  static std::string Name(int i) { return "file-" + std::to_string(i) + ".dat"; }
  void InsertN(int n) {
    for (int i = 0; i < n; ++i) {
      Status s = DirInsert(&dir_, {100000u + i, DirentType::kFile, Name(i)}, store_);
      ASSERT_TRUE(s.ok()) << i << ": " << s.ToString();
    }
  }
  // The inode as written through the store must decode to the in-memory one.
  void ExpectInodeWritten() {
    std::vector<uint8_t> b;
    ASSERT_TRUE(store_.Read(kDirIno, &b).ok());
    auto back = DecodeInode(b, kDirIno, store_.context(), kBlockCount);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, dir_);
  }
  MemMetaStore store_;
  Inode dir_;
};

TEST_F(DirOpsTest, SmallDirectoryStaysInline) {
  InsertN(20);
  EXPECT_EQ(dir_.content_kind, ContentKind::kInlineDir);
  EXPECT_EQ(store_.allocated(), 0u);
  auto e = DirLookup(dir_, Name(7), store_);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->inode, 100007u);
  ExpectInodeWritten();
}

TEST_F(DirOpsTest, FullInlineDirectoryBecomesHashedAndKeepsEveryName) {
  InsertN(300);
  EXPECT_EQ(dir_.content_kind, ContentKind::kHashedDir);
  EXPECT_EQ(dir_.dir_entries, 300u);
  for (int i = 0; i < 300; ++i) {
    auto e = DirLookup(dir_, Name(i), store_);
    ASSERT_TRUE(e.ok()) << Name(i) << ": " << e.status().ToString();
    EXPECT_EQ(e->inode, 100000u + i);
  }
  auto all = DirList(dir_, store_);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(all->size(), 300u);
  EXPECT_EQ(dir_.blocks, store_.allocated());
  ExpectInodeWritten();
}

TEST_F(DirOpsTest, DuplicateNameIsExistsInlineAndHashed) {
  InsertN(5);
  EXPECT_EQ(DirInsert(&dir_, {1, DirentType::kFile, Name(3)}, store_).code(), Code::kExists);
  for (int i = 5; i < 400; ++i) {
    ASSERT_TRUE(DirInsert(&dir_, {100000u + i, DirentType::kFile, Name(i)}, store_).ok());
  }
  ASSERT_EQ(dir_.content_kind, ContentKind::kHashedDir);
  EXPECT_EQ(DirInsert(&dir_, {1, DirentType::kFile, Name(3)}, store_).code(), Code::kExists);
  EXPECT_EQ(DirInsert(&dir_, {1, DirentType::kFile, "a/b"}, store_).code(), Code::kInvalidArgument);
  EXPECT_EQ(dir_.dir_entries, 400u);
}

TEST_F(DirOpsTest, RemoveThenLookupIsNotFound) {
  for (int i = 0; i < 500; ++i) {
    ASSERT_TRUE(DirInsert(&dir_, {100000u + i, DirentType::kFile, Name(i)}, store_).ok());
  }
  for (int i = 0; i < 500; i += 2) ASSERT_TRUE(DirRemove(&dir_, Name(i), store_).ok());
  EXPECT_EQ(DirRemove(&dir_, Name(0), store_).code(), Code::kNotFound);
  EXPECT_EQ(dir_.dir_entries, 250u);
  for (int i = 0; i < 500; ++i) {
    EXPECT_EQ(DirLookup(dir_, Name(i), store_).ok(), i % 2 == 1) << i;
  }
  auto all = DirList(dir_, store_);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 250u);
  ExpectInodeWritten();
}

TEST_F(DirOpsTest, LookupAmongManyNamesReadsTwoBlocks) {
  const int n = 6000;  // 1,000,000 in tests/fs/dir_stress_test.cc (label stress)
  for (int i = 0; i < n; ++i) {
    ASSERT_TRUE(DirInsert(&dir_, {100000u + i, DirentType::kFile, Name(i)}, store_).ok()) << i;
  }
  EXPECT_GE(dir_.dir_depth, 5);
  ReadCountingStore counting(store_);
  for (int i = 0; i < n; i += 997) {
    counting.reads = 0;
    auto e = DirLookup(dir_, Name(i), counting);
    ASSERT_TRUE(e.ok()) << Name(i);
    EXPECT_EQ(e->inode, 100000u + i);
    EXPECT_EQ(counting.reads, 2) << "table block + leaf";
  }
  counting.reads = 0;
  EXPECT_EQ(DirLookup(dir_, "absent", counting).code(), Code::kNotFound);
  EXPECT_EQ(counting.reads, 2);
  auto all = DirList(dir_, store_);
  ASSERT_TRUE(all.ok());
  std::set<std::string> names;
  for (auto& e : *all) names.insert(e.name);
  EXPECT_EQ(names.size(), static_cast<size_t>(n));
}

TEST_F(DirOpsTest, DamagedLeafIsCorruptionOnLookup) {
  InsertN(300);
  // Damage every leaf/table block but the inode: any lookup must fail cleanly.
  for (auto& [blk, data] : store_.blocks()) {
    if (blk != kDirIno) data[200] ^= 0x40;
  }
  auto e = DirLookup(dir_, Name(1), store_);
  EXPECT_EQ(e.code(), Code::kCorruption) << e.status().ToString();
}

TEST(ExtentTreeTest, ThousandsOfFragmentedExtentsGrowTheTreeAndAllResolve) {
  MemMetaStore store(testing::SampleContext(), kBlockCount, 1000);
  ExtentNode root = Inode::EmptyExtentRoot(4096);
  const uint64_t n = 6000;
  // Insert in a scrambled order so splits happen everywhere.
  for (uint64_t k = 0; k < n; ++k) {
    uint64_t i = (k * 7919) % n;
    Status s = InsertExtentInTree(&root, {i * 3, 1'000'000 + i * 5, 2, 0}, store);
    ASSERT_TRUE(s.ok()) << k << ": " << s.ToString();
  }
  EXPECT_GE(root.depth, 1);
  EXPECT_GT(store.blocks().size(), 30u);  // many node blocks
  for (uint64_t i = 0; i < n; i += 13) {
    auto p = LookupExtentInTree(root, i * 3 + 1, store);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    ASSERT_EQ(*p, std::optional<uint64_t>(1'000'000 + i * 5 + 1)) << i;
    auto hole = LookupExtentInTree(root, i * 3 + 2, store);
    ASSERT_TRUE(hole.ok());
    EXPECT_FALSE(hole->has_value());
  }
  // Every node block written decodes.
  for (auto& [blk, data] : store.blocks()) {
    ASSERT_TRUE(DecodeExtentBlock(data, blk, store.context(), kBlockCount).ok()) << blk;
  }
}

TEST(ExtentTreeTest, OverlappingInsertIsRejected) {
  MemMetaStore store(testing::SampleContext(), kBlockCount, 1000);
  ExtentNode root = Inode::EmptyExtentRoot(4096);
  ASSERT_TRUE(InsertExtentInTree(&root, {10, 500, 10, 0}, store).ok());
  EXPECT_EQ(InsertExtentInTree(&root, {15, 900, 1, 0}, store).code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace cohort::fs
