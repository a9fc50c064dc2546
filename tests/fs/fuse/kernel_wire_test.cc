// Unit tests of fs/fuse/kernel_wire.h: the raw /dev/fuse fields libfuse 3.14 does not pass
// on (docs/filesystem.md §8.1), built here with the kernel's own structures.
#include "fs/fuse/kernel_wire.h"

#include <linux/fuse.h>

#include <cstring>
#include <vector>

#include <gtest/gtest.h>

namespace cohort::fs::wire {
namespace {

template <typename Body>
std::vector<uint8_t> Request(uint32_t opcode, uint64_t nodeid, const Body& body) {
  fuse_in_header h{};
  h.len = sizeof h + sizeof body;
  h.opcode = opcode;
  h.unique = 77;
  h.nodeid = nodeid;
  std::vector<uint8_t> b(h.len);
  std::memcpy(b.data(), &h, sizeof h);
  std::memcpy(b.data() + sizeof h, &body, sizeof body);
  return b;
}

TEST(KernelWireTest, WriteWithKillSuidgidFlagIsSeen) {
  fuse_write_in w{};
  w.write_flags = FUSE_WRITE_KILL_SUIDGID;
  auto b = Request(FUSE_WRITE, 5, w);
  RequestInfo r = ParseRequest(b.data(), b.size());
  EXPECT_EQ(r.opcode, kOpWrite);
  EXPECT_EQ(r.nodeid, 5u);
  EXPECT_EQ(r.unique, 77u);
  EXPECT_TRUE(r.kill_suidgid);
  w.write_flags = FUSE_WRITE_CACHE;
  b = Request(FUSE_WRITE, 5, w);
  EXPECT_FALSE(ParseRequest(b.data(), b.size()).kill_suidgid);
}

TEST(KernelWireTest, SetattrOpenAndCreateKillFlagsAreSeen) {
  fuse_setattr_in s{};
  s.valid = FATTR_SIZE | FATTR_KILL_SUIDGID;
  auto b = Request(FUSE_SETATTR, 9, s);
  EXPECT_TRUE(ParseRequest(b.data(), b.size()).kill_suidgid);
  fuse_open_in o{};
  o.open_flags = FUSE_OPEN_KILL_SUIDGID;
  b = Request(FUSE_OPEN, 9, o);
  EXPECT_TRUE(ParseRequest(b.data(), b.size()).kill_suidgid);
  fuse_create_in c{};
  c.open_flags = FUSE_OPEN_KILL_SUIDGID;
  b = Request(FUSE_CREATE, 1, c);
  EXPECT_TRUE(ParseRequest(b.data(), b.size()).kill_suidgid);
  // The same bit in another request means nothing.
  fuse_read_in rd{};
  rd.flags = FUSE_WRITE_KILL_SUIDGID;
  b = Request(FUSE_READ, 9, rd);
  EXPECT_FALSE(ParseRequest(b.data(), b.size()).kill_suidgid);
}

TEST(KernelWireTest, ShortOrTruncatedRequestsYieldNothingToKill) {
  fuse_write_in w{};
  w.write_flags = FUSE_WRITE_KILL_SUIDGID;
  auto b = Request(FUSE_WRITE, 5, w);
  for (size_t n = 0; n < b.size(); ++n) {
    RequestInfo r = ParseRequest(b.data(), n);
    EXPECT_FALSE(r.kill_suidgid) << n;
    if (n < sizeof(fuse_in_header)) {
      EXPECT_EQ(r.opcode, 0u) << n;
    }
  }
  EXPECT_EQ(ParseRequest(nullptr, 100).opcode, 0u);
  // A header whose len says the body is missing, in a buffer that is long enough.
  fuse_in_header h{};
  std::memcpy(&h, b.data(), sizeof h);
  h.len = sizeof h;
  std::memcpy(b.data(), &h, sizeof h);
  EXPECT_FALSE(ParseRequest(b.data(), b.size()).kill_suidgid);
}

TEST(KernelWireTest, InitOfferAndReplyFlag) {
  fuse_init_in in{};
  in.major = FUSE_KERNEL_VERSION;
  in.minor = 38;
  in.flags = FUSE_HANDLE_KILLPRIV_V2 | FUSE_INIT_EXT;
  auto b = Request(FUSE_INIT, 0, in);
  EXPECT_TRUE(ParseRequest(b.data(), b.size()).offers_killpriv_v2);
  in.flags = FUSE_INIT_EXT;
  b = Request(FUSE_INIT, 0, in);
  EXPECT_FALSE(ParseRequest(b.data(), b.size()).offers_killpriv_v2);

  fuse_init_out out{};
  out.major = 7;
  out.minor = 31;
  out.flags = FUSE_ASYNC_READ;
  EXPECT_FALSE(InitReplyHasKillPrivV2(&out, sizeof out));
  ASSERT_TRUE(AddKillPrivV2ToInitReply(&out, sizeof out));
  EXPECT_TRUE(InitReplyHasKillPrivV2(&out, sizeof out));
  EXPECT_EQ(out.flags, uint32_t{FUSE_ASYNC_READ | FUSE_HANDLE_KILLPRIV_V2});
  EXPECT_EQ(out.minor, 31u);  // nothing else touched
  fuse_init_out tiny{};
  EXPECT_FALSE(AddKillPrivV2ToInitReply(&tiny, 12));  // too short to hold the flags
  EXPECT_EQ(tiny.flags, 0u);
}

TEST(KernelWireTest, ReplyHeaderGivesUniqueAndError) {
  fuse_out_header h{};
  h.len = sizeof h;
  h.error = -2;
  h.unique = 1234;
  uint64_t unique = 0;
  int32_t error = 0;
  ASSERT_TRUE(ParseReplyHeader(&h, sizeof h, &unique, &error));
  EXPECT_EQ(unique, 1234u);
  EXPECT_EQ(error, -2);
  EXPECT_FALSE(ParseReplyHeader(&h, sizeof h - 1, &unique, &error));
  EXPECT_FALSE(ParseReplyHeader(nullptr, 64, &unique, &error));
}

TEST(KernelWireTest, OpcodeNamesAreTheKernels) {
  EXPECT_STREQ(OpcodeName(FUSE_GETXATTR), "GETXATTR");
  EXPECT_STREQ(OpcodeName(FUSE_WRITE), "WRITE");
  EXPECT_STREQ(OpcodeName(0), "");
  EXPECT_STREQ(OpcodeName(4096), "");
}

}  // namespace
}  // namespace cohort::fs::wire
