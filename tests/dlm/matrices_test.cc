// tests/dlm/matrices_test.cc: every cell of the compatibility and LVB matrices
// (docs/dlm.md §2, §3).
#include <gtest/gtest.h>

#include "dlm/types.h"

namespace cohort::dlm {
namespace {

const LockMode kModes[] = {LockMode::kNL, LockMode::kCR, LockMode::kCW,
                           LockMode::kPR, LockMode::kPW, LockMode::kEX};

TEST(CompatibilityMatrixTest, EveryCellMatchesTheVmsTable) {
  const char* rows[] = {"111111", "111110", "111000", "110100", "110000", "100000"};
  for (int a = 0; a < 6; ++a) {
    for (int b = 0; b < 6; ++b) {
      SCOPED_TRACE(std::string(ModeName(kModes[a])) + "/" + ModeName(kModes[b]));
      EXPECT_EQ(ModesCompatible(kModes[a], kModes[b]), rows[a][b] == '1');
      EXPECT_EQ(ModesCompatible(kModes[a], kModes[b]), ModesCompatible(kModes[b], kModes[a]));
    }
  }
}

TEST(CompatibilityMatrixTest, NoneIsCompatibleWithEverything) {
  for (LockMode m : kModes) EXPECT_TRUE(ModesCompatible(LockMode::kNone, m));
}

TEST(LvbMatrixTest, EveryCellMatchesTheVmsTable) {
  // rows: new request, NL..EX; cols NL..EX.
  const char* rows[] = {"rrrrrr", "rrrrrr", "-rrrrr", "--rrrr", "---rrr", "wwwwwr", "wwwwww"};
  const LockMode from[] = {LockMode::kNone, LockMode::kNL, LockMode::kCR, LockMode::kCW,
                           LockMode::kPR,   LockMode::kPW, LockMode::kEX};
  for (int a = 0; a < 7; ++a) {
    for (int b = 0; b < 6; ++b) {
      SCOPED_TRACE(std::string(ModeName(from[a])) + "->" + ModeName(kModes[b]));
      LvbOp want = rows[a][b] == 'r' ? LvbOp::kRead
                   : rows[a][b] == 'w' ? LvbOp::kWrite
                                       : LvbOp::kNone;
      EXPECT_EQ(LvbOperation(from[a], kModes[b]), want);
    }
  }
}

TEST(RangeTest, InclusiveBoundsOverlap) {
  EXPECT_TRUE((Range{0, 10}).Overlaps(Range{10, 20}));
  EXPECT_FALSE((Range{0, 9}).Overlaps(Range{10, 20}));
  EXPECT_TRUE((Range{5, 5}).Overlaps(Range{0, 100}));
  EXPECT_TRUE(Range::All().Overlaps(Range{UINT64_MAX, UINT64_MAX}));
  EXPECT_TRUE(Conflicts(LockMode::kEX, Range{0, 10}, LockMode::kNL, Range{0, 10}) == false);
  EXPECT_TRUE(Conflicts(LockMode::kEX, Range{0, 10}, LockMode::kCR, Range{10, 10}));
  EXPECT_FALSE(Conflicts(LockMode::kEX, Range{0, 10}, LockMode::kEX, Range{11, 12}));
}

}  // namespace
}  // namespace cohort::dlm
