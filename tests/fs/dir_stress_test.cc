// tests/fs/dir_stress_test.cc (label stress): a hashed directory of one million names
// (docs/ondisk-format.md §7.2): every lookup reads one table block and one leaf.
#include <gtest/gtest.h>

#include "fs/dir_ops.h"
#include "fs/meta_store.h"
#include "tests/fs/read_counting_store.h"
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

TEST(DirStressTest, MillionNameDirectoryLookupReadsAtMostThreeBlocks) {
  MemMetaStore store(testing::SampleContext(), 1ull << 32, 10000);
  Inode dir;
  dir.ino = 5000;
  dir.mode = 040755;
  dir.nlink = 2;
  dir.parent = 5000;
  dir.content_kind = ContentKind::kInlineDir;
  const int n = 1000000;
  for (int i = 0; i < n; ++i) {
    Status s = DirInsert(&dir, {100000u + i, DirentType::kFile, PrefixedNumber('f', i)}, store);
    ASSERT_TRUE(s.ok()) << i << ": " << s.ToString();
  }
  EXPECT_EQ(dir.dir_entries, static_cast<uint64_t>(n));
  testing::ReadCountingStore counting(store);
  int max_reads = 0;
  for (int i = 0; i < n; i += 101) {
    counting.reads = 0;
    auto e = DirLookup(dir, PrefixedNumber('f', i), counting);
    ASSERT_TRUE(e.ok());
    ASSERT_EQ(e->inode, 100000u + i);
    max_reads = std::max(max_reads, counting.reads);
  }
  // Table block (+ an extent node once the table outgrows the inode's root) + leaf.
  EXPECT_LE(max_reads, 3) << "dir_depth " << dir.dir_depth;
}

}  // namespace
}  // namespace cohort::fs
