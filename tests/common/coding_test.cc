// Tests of common/coding.h: little-endian layout, the bounds-checked Reader, hex dumps.
#include "common/coding.h"

#include <gtest/gtest.h>

namespace cohort {
namespace {

TEST(CodingTest, FixedWidthIsLittleEndian) {
  uint8_t b[8];
  EncodeFixed32(b, 0x11223344);
  EXPECT_EQ(b[0], 0x44);
  EXPECT_EQ(b[3], 0x11);
  EncodeFixed64(b, 0x0102030405060708ULL);
  EXPECT_EQ(b[0], 0x08);
  EXPECT_EQ(b[7], 0x01);
  EXPECT_EQ(DecodeFixed64(b), 0x0102030405060708ULL);
  EncodeFixed16(b, 0xBEEF);
  EXPECT_EQ(DecodeFixed16(b), 0xBEEF);
}

TEST(CodingTest, WriterThenReaderRoundTrips) {
  std::vector<uint8_t> buf;
  Writer w(&buf);
  w.U8(1);
  w.U16(0x0203);
  w.U32(0x04050607);
  w.U64(0x08090a0b0c0d0e0fULL);
  w.I64(-5);
  w.String16("hello");
  Reader r(buf);
  uint8_t a;
  uint16_t b;
  uint32_t c;
  uint64_t d;
  int64_t e;
  std::string s;
  ASSERT_TRUE(r.U8(&a).ok());
  ASSERT_TRUE(r.U16(&b).ok());
  ASSERT_TRUE(r.U32(&c).ok());
  ASSERT_TRUE(r.U64(&d).ok());
  ASSERT_TRUE(r.I64(&e).ok());
  ASSERT_TRUE(r.String16(&s).ok());
  EXPECT_EQ(a, 1);
  EXPECT_EQ(b, 0x0203);
  EXPECT_EQ(c, 0x04050607u);
  EXPECT_EQ(d, 0x08090a0b0c0d0e0fULL);
  EXPECT_EQ(e, -5);
  EXPECT_EQ(s, "hello");
  EXPECT_TRUE(r.ExpectEnd().ok());
}

TEST(CodingTest, ReaderReportsCorruptionOnShortInputAndStaysFailed) {
  uint8_t three[3] = {1, 2, 3};
  Reader r(three, sizeof three);
  uint32_t v = 0xdead;
  Status s = r.U32(&v);
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_EQ(v, 0xdeadu);  // untouched
  uint8_t one;
  EXPECT_FALSE(r.U8(&one).ok());  // sticky failure
  EXPECT_EQ(r.remaining(), 0u);
}

TEST(CodingTest, StringLongerThanLimitIsCorruption) {
  std::vector<uint8_t> buf;
  Writer w(&buf);
  w.String16("abcdef");
  Reader r(buf);
  std::string s;
  EXPECT_EQ(r.String16(&s, 3).code(), Code::kCorruption);
}

TEST(CodingTest, StringLengthPastEndIsCorruption) {
  std::vector<uint8_t> buf = {0xff, 0x00, 'a'};  // claims 255 bytes, has 1
  Reader r(buf);
  std::string s;
  EXPECT_EQ(r.String16(&s).code(), Code::kCorruption);
}

TEST(CodingTest, TrailingBytesAreCorruption) {
  std::vector<uint8_t> buf = {1, 2};
  Reader r(buf);
  uint8_t a;
  ASSERT_TRUE(r.U8(&a).ok());
  EXPECT_EQ(r.ExpectEnd().code(), Code::kCorruption);
}

TEST(CodingTest, HugeSkipDoesNotOverflow) {
  std::vector<uint8_t> buf = {1, 2, 3};
  Reader r(buf);
  EXPECT_FALSE(r.Skip(SIZE_MAX).ok());
}

TEST(CodingTest, HexDumpParsesBack) {
  std::vector<uint8_t> bytes;
  for (int i = 0; i < 40; ++i) bytes.push_back(static_cast<uint8_t>(i * 7));
  std::string text = HexDump(bytes);
  auto parsed = ParseHexDump("# a comment\n" + text);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(*parsed, bytes);
}

TEST(CodingTest, HexDumpRejectsGarbage) {
  EXPECT_FALSE(ParseHexDump("000000: 0g").ok());
}

}  // namespace
}  // namespace cohort
