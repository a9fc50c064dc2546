// Tests of fs/core/acl.h: the POSIX ACL xattr format and its rules against the mode.
#include "fs/core/acl.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include "common/coding.h"

namespace cohort::fs::acl {
namespace {

Acl Make(std::vector<Entry> e) { return Acl{std::move(e)}; }

// u::rw-, u:1001:r--, g::r--, m::r-x, o::---
Acl Named() {
  return Make({{kUserObj, 6}, {kUser, 4, 1001}, {kGroupObj, 4}, {kMask, 5}, {kOther, 0}});
}

TEST(AclTest, EncodeDecodeRoundTripsAndMatchesTheKernelLayout) {
  std::vector<uint8_t> v = Encode(Named());
  ASSERT_EQ(v.size(), 4u + 5 * 8);
  EXPECT_EQ(DecodeFixed32(v.data()), 2u);                // version
  EXPECT_EQ(DecodeFixed16(v.data() + 4 + 8), kUser);     // second entry's tag
  EXPECT_EQ(DecodeFixed16(v.data() + 4 + 8 + 2), 4);     // its perm
  EXPECT_EQ(DecodeFixed32(v.data() + 4 + 8 + 4), 1001u); // its id
  auto a = Decode(v);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->entries, Named().entries);
  EXPECT_FALSE(a->IsMinimal());
}

TEST(AclTest, EmptyListIsValidAndMeansNoAcl) {
  auto a = Decode(Encode(Acl{}));
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->empty());
}

TEST(AclTest, MalformedValuesAreInvalidArgument) {
  auto bad = [](std::vector<uint8_t> v) { return Decode(v).code(); };
  std::vector<uint8_t> good = Encode(Named());
  EXPECT_EQ(bad({1, 2}), Code::kInvalidArgument);  // shorter than the header
  std::vector<uint8_t> ragged = good;
  ragged.pop_back();
  EXPECT_EQ(bad(ragged), Code::kInvalidArgument);
  std::vector<uint8_t> version = good;
  version[0] = 1;
  EXPECT_EQ(bad(version), Code::kInvalidArgument);
  EXPECT_EQ(bad(Encode(Make({{kUserObj, 8}, {kGroupObj, 4}, {kOther, 0}}))), Code::kInvalidArgument);
  EXPECT_EQ(bad(Encode(Make({{kUserObj, 6}, {0x40, 4}, {kGroupObj, 4}, {kOther, 0}}))),
            Code::kInvalidArgument);  // unknown tag
  EXPECT_EQ(bad(Encode(Make({{kGroupObj, 4}, {kUserObj, 6}, {kOther, 0}}))),
            Code::kInvalidArgument);  // out of order
  EXPECT_EQ(bad(Encode(Make({{kUserObj, 6}, {kOther, 0}}))), Code::kInvalidArgument);  // no group
  EXPECT_EQ(bad(Encode(Make({{kUserObj, 6}, {kUser, 4, 7}, {kGroupObj, 4}, {kOther, 0}}))),
            Code::kInvalidArgument);  // named entry without a mask
  EXPECT_EQ(bad(Encode(Make({{kUserObj, 6}, {kUser, 4, 7}, {kUser, 5, 7}, {kGroupObj, 4},
                             {kMask, 7}, {kOther, 0}}))),
            Code::kInvalidArgument);  // the same user twice
  EXPECT_EQ(bad(Encode(Make({{kUserObj, 6}, {kGroupObj, 4}, {kMask, 7}, {kMask, 7}, {kOther, 0}}))),
            Code::kInvalidArgument);
  EXPECT_EQ(bad(Encode(Make({{kUserObj, 6}, {kUser, 4, kUndefinedId}, {kGroupObj, 4}, {kMask, 7},
                             {kOther, 0}}))),
            Code::kInvalidArgument);
}

TEST(AclTest, ModeBitsTakeTheMaskAsGroupClass) {
  EXPECT_EQ(ModeBits(Named()), 0650u);
  EXPECT_EQ(ModeBits(Make({{kUserObj, 7}, {kGroupObj, 5}, {kOther, 1}})), 0751u);
}

TEST(AclTest, ChmodSetsOwnerMaskAndOtherButKeepsNamedEntries) {
  Acl a = Named();
  ApplyMode(&a, 0741);
  EXPECT_EQ(a.entries[0].perm, 7);  // owner
  EXPECT_EQ(a.entries[1].perm, 4);  // named user untouched
  EXPECT_EQ(a.entries[2].perm, 4);  // owning group untouched (the mask carries the bits)
  EXPECT_EQ(a.entries[3].perm, 4);  // mask
  EXPECT_EQ(a.entries[4].perm, 1);  // other
  Acl minimal = Make({{kUserObj, 7}, {kGroupObj, 7}, {kOther, 7}});
  ApplyMode(&minimal, 0640);
  EXPECT_EQ(ModeBits(minimal), 0640u);
}

TEST(AclTest, CreateMasksTheDefaultAclWithTheRequestedMode) {
  // default: u::rwx, u:1001:rwx, g::r-x, m::rwx, o::r-x; creat(0644)
  Acl a = Make({{kUserObj, 7}, {kUser, 7, 1001}, {kGroupObj, 5}, {kMask, 7}, {kOther, 5}});
  uint32_t mode = MaskForCreate(&a, S_IFREG | 0644);
  EXPECT_EQ(mode, uint32_t{S_IFREG | 0644});
  EXPECT_EQ(a.entries[0].perm, 6);
  EXPECT_EQ(a.entries[1].perm, 7);  // named: unchanged, limited by the mask
  EXPECT_EQ(a.entries[3].perm, 4);  // mask &= group bits of the mode
  EXPECT_EQ(a.entries[4].perm, 4);
}

TEST(AclTest, PermitsFollowsOwnerNamedGroupOtherWithTheMask) {
  Acl a = Named();  // owner 500:600
  EXPECT_TRUE(Permits(a, 500, 600, 500, 1, 6));     // owner rw
  EXPECT_FALSE(Permits(a, 500, 600, 500, 1, 1));    // owner no x
  EXPECT_TRUE(Permits(a, 500, 600, 1001, 1, 4));    // named user r
  EXPECT_FALSE(Permits(a, 500, 600, 1001, 1, 2));   // named user no w
  EXPECT_TRUE(Permits(a, 500, 600, 77, 600, 4));    // owning group r
  EXPECT_FALSE(Permits(a, 500, 600, 77, 1, 4));     // other: nothing
  Acl masked = Make({{kUserObj, 6}, {kUser, 7, 1001}, {kGroupObj, 4}, {kMask, 4}, {kOther, 0}});
  EXPECT_FALSE(Permits(masked, 500, 600, 1001, 1, 2));  // the mask limits a named user
  // A matching group entry that does not grant is final: other is not consulted.
  Acl other_rw = Make({{kUserObj, 6}, {kGroupObj, 0}, {kOther, 6}});
  EXPECT_FALSE(Permits(other_rw, 500, 600, 77, 600, 4));
  EXPECT_TRUE(Permits(other_rw, 500, 600, 77, 1, 4));
}

}  // namespace
}  // namespace cohort::fs::acl
