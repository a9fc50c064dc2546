// Tests of common/crc32c.h against published check values.
#include "common/crc32c.h"

#include <cstring>
#include <random>
#include <vector>

#include <gtest/gtest.h>

namespace cohort {
namespace {

TEST(Crc32cTest, MatchesStandardCheckValue) {
  EXPECT_EQ(crc32c::Value("123456789", 9), 0xE3069283u);
  EXPECT_EQ(crc32c::ExtendPortable(0, "123456789", 9), 0xE3069283u);
}

TEST(Crc32cTest, MatchesRfc3720Vectors) {
  // iSCSI (RFC 3720 B.4): 32 bytes of zeros, of 0xff, and an ascending sequence.
  uint8_t buf[32];
  std::memset(buf, 0, sizeof buf);
  EXPECT_EQ(crc32c::Value(buf, sizeof buf), 0x8A9136AAu);
  std::memset(buf, 0xff, sizeof buf);
  EXPECT_EQ(crc32c::Value(buf, sizeof buf), 0x62A8AB43u);
  for (int i = 0; i < 32; ++i) buf[i] = static_cast<uint8_t>(i);
  EXPECT_EQ(crc32c::Value(buf, sizeof buf), 0x46DD794Eu);
}

TEST(Crc32cTest, EmptyInputIsZero) { EXPECT_EQ(crc32c::Value("", 0), 0u); }

TEST(Crc32cTest, ExtendEqualsWholeValue) {
  std::string s = "hello, shared storage world";
  uint32_t whole = crc32c::Value(s.data(), s.size());
  for (size_t cut = 0; cut <= s.size(); ++cut) {
    uint32_t part = crc32c::Extend(crc32c::Value(s.data(), cut), s.data() + cut,
                                   s.size() - cut);
    EXPECT_EQ(part, whole) << "cut at " << cut;
  }
}

TEST(Crc32cTest, HardwareAndPortablePathsAgreeOnRandomBuffers) {
  std::mt19937 rng(42);
  for (int iter = 0; iter < 200; ++iter) {
    size_t len = rng() % 5000;
    size_t off = rng() % 8;  // exercise unaligned starts
    std::vector<uint8_t> buf(len + off);
    for (auto& b : buf) b = static_cast<uint8_t>(rng());
    EXPECT_EQ(crc32c::Value(buf.data() + off, len),
              crc32c::ExtendPortable(0, buf.data() + off, len));
  }
}

TEST(Crc32cTest, SingleBitFlipChangesValue) {
  std::vector<uint8_t> buf(4096, 0xab);
  uint32_t base = crc32c::Value(buf.data(), buf.size());
  for (size_t i = 0; i < buf.size(); i += 97) {
    buf[i] ^= 0x10;
    EXPECT_NE(crc32c::Value(buf.data(), buf.size()), base);
    buf[i] ^= 0x10;
  }
}

}  // namespace
}  // namespace cohort
