// Tests of common/status.h: the code table, Result<T>, the macros.
#include "common/status.h"

#include <cerrno>
#include <set>
#include <string>

#include <gtest/gtest.h>

namespace cohort {
namespace {

TEST(StatusTest, DefaultIsOkAndMapsToZeroErrno) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), Code::kOk);
  EXPECT_EQ(s.ToErrno(), 0);
  EXPECT_EQ(s.ToString(), "OK");
}

TEST(StatusTest, EveryCodeHasANameAndAPositiveErrno) {
  std::set<std::string> names;
  for (int i = 1; i < kNumCodes; ++i) {
    Code c = static_cast<Code>(i);
    std::string name = CodeName(c);
    EXPECT_NE(name, "Unknown") << "code " << i;
    EXPECT_TRUE(names.insert(name).second) << "duplicate name " << name;
    EXPECT_GT(CodeToErrno(c), 0) << name;
  }
}

TEST(StatusTest, ErrnosRoundTripThroughFromErrnoForDistinctCodes) {
  // Every code whose errno is not shared with another code comes back from its errno.
  for (int i = 1; i < kNumCodes; ++i) {
    Code c = static_cast<Code>(i);
    int err = CodeToErrno(c);
    int sharing = 0;
    for (int j = 1; j < kNumCodes; ++j) sharing += CodeToErrno(static_cast<Code>(j)) == err;
    if (sharing > 1) continue;  // EIO, EACCES are shared on purpose
    EXPECT_EQ(Status::FromErrno(err, "x").code(), c) << CodeName(c);
  }
}

TEST(StatusTest, UnknownErrnoBecomesIOError) {
  EXPECT_EQ(Status::FromErrno(EHOSTDOWN, "probe").code(), Code::kIOError);
}

TEST(StatusTest, FromErrnoKeepsContextAndStrerror) {
  Status s = Status::FromErrno(ENOENT, "open /dev/none");
  EXPECT_EQ(s.code(), Code::kNotFound);
  EXPECT_NE(s.ToString().find("open /dev/none"), std::string::npos);
  EXPECT_NE(s.ToString().find("No such file"), std::string::npos);
}

TEST(StatusTest, WithContextPrependsAndKeepsCode) {
  Status s = Status::Corruption("bad crc").WithContext("block 12");
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_EQ(s.ToString(), "Corruption: block 12: bad crc");
  EXPECT_TRUE(Status::OK().WithContext("x").ok());
}

TEST(StatusTest, CopyIsIndependent) {
  Status a = Status::NotFound("a");
  Status b = a;
  a = Status::OK();
  EXPECT_EQ(b.code(), Code::kNotFound);
  EXPECT_EQ(b.message(), "a");
}

Result<int> Half(int x) {
  if (x % 2) return Status::InvalidArgument("odd");
  return x / 2;
}

Result<int> Quarter(int x) {
  COHORT_ASSIGN_OR_RETURN(int h, Half(x));
  COHORT_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

Status CheckEven(int x) {
  COHORT_RETURN_IF_ERROR(Half(x).status());
  return Status::OK();
}

TEST(ResultTest, HoldsValueOrStatus) {
  Result<int> r = Half(8);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 4);
  Result<int> e = Half(3);
  EXPECT_FALSE(e.ok());
  EXPECT_EQ(e.code(), Code::kInvalidArgument);
  EXPECT_EQ(e.value_or(-1), -1);
}

TEST(ResultTest, MadeFromOkStatusBecomesInternalError) {
  Result<int> r{Status::OK()};
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.code(), Code::kInternal);
}

TEST(ResultTest, AssignOrReturnPropagatesFirstError) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_EQ(Quarter(6).code(), Code::kInvalidArgument);  // 6 -> 3 -> odd
  EXPECT_TRUE(CheckEven(4).ok());
  EXPECT_EQ(CheckEven(5).code(), Code::kInvalidArgument);
}

TEST(ResultTest, MoveOnlyValue) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(7);
  ASSERT_TRUE(r.ok());
  std::unique_ptr<int> p = std::move(r).value();
  EXPECT_EQ(*p, 7);
}

}  // namespace
}  // namespace cohort
