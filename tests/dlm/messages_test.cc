// tests/dlm/messages_test.cc: the DLM message codec never trusts a length and never
// crashes on bad input (docs/dlm.md §8).
#include "dlm/messages.h"

#include <random>

#include <gtest/gtest.h>

namespace cohort::dlm {
namespace {

std::vector<Message> Samples() {
  Lvb lvb{};
  lvb[3] = 9;
  OpFields f;
  f.op = OpKind::kConvert;
  f.seq = 7;
  f.mode = LockMode::kPW;
  f.flags = kValBlk | kQueCvt;
  f.range = Range{10, 20};
  f.lvb = lvb;
  RecoverEntry e;
  e.lkid = 0x0002000000000005;
  e.owner = 3;
  e.queue = QueueKind::kConverting;
  e.grmode = LockMode::kPR;
  e.rqmode = LockMode::kEX;
  e.lvb = lvb;
  e.inflight = f;
  return {
      LookupMsg{"\x03" "abc"},
      LookupReplyMsg{"\x01" "k", 4},
      RequestMsg{"\x01" "k", 0x0001000000000002, 99, f},
      ReplyMsg{0x0001000000000002, 7, ReplyKind::kFinal, Code::kDeadlock, LockMode::kPR,
               Range{1, 2}, kSbDemoted, lvb},
      BastMsg{0x0001000000000002, LockMode::kEX},
      DirAddMsg{"\x01" "k", 2},
      DirRemoveMsg{"\x01" "k", 2},
      RecoverDoneMsg{12, 2},
      RecoverLocksMsg{"\x01" "k", {e, e}},
      DdQueryMsg{5},
      DdEdgesMsg{5, {DdEdge{1, 2, 3, 4, 5, 6}}},
      DdDenyMsg{0x0003000000000001, 4},
  };
}

TEST(MessagesTest, EveryTypeRoundTrips) {
  for (const Message& m : Samples()) {
    std::vector<uint8_t> b = EncodeMessage(m);
    Result<Message> d = DecodeMessage(b);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_EQ(TypeOf(*d), TypeOf(m));
    EXPECT_EQ(EncodeMessage(*d), b);
  }
}

TEST(MessagesTest, EveryTruncationIsRejected) {
  for (const Message& m : Samples()) {
    std::vector<uint8_t> b = EncodeMessage(m);
    for (size_t n = 0; n < b.size(); ++n) {
      std::vector<uint8_t> cut(b.begin(), b.begin() + static_cast<long>(n));
      EXPECT_FALSE(DecodeMessage(cut).ok()) << "type " << int(TypeOf(m)) << " len " << n;
    }
  }
}

TEST(MessagesTest, TrailingBytesAreRejected) {
  std::vector<uint8_t> b = EncodeMessage(DdQueryMsg{1});
  b.push_back(0);
  EXPECT_EQ(DecodeMessage(b).code(), Code::kCorruption);
  // Even with the length patched to cover them.
  b[4] += 1;
  EXPECT_FALSE(DecodeMessage(b).ok());
}

TEST(MessagesTest, BadMagicVersionAndTypeAreProtocolErrors) {
  std::vector<uint8_t> b = EncodeMessage(DdQueryMsg{1});
  auto bad = b;
  bad[0] ^= 1;
  EXPECT_EQ(DecodeMessage(bad).code(), Code::kProtocol);
  bad = b;
  bad[2] = 2;
  EXPECT_EQ(DecodeMessage(bad).code(), Code::kProtocol);
  bad = b;
  bad[3] = 0;
  EXPECT_EQ(DecodeMessage(bad).code(), Code::kProtocol);
  bad[3] = 13;
  EXPECT_EQ(DecodeMessage(bad).code(), Code::kProtocol);
}

TEST(MessagesTest, LyingCountIsRejectedWithoutAllocatingIt) {
  std::vector<uint8_t> b = EncodeMessage(DdEdgesMsg{1, {}});
  // count field at header(8) + round(8)
  b[16] = 0xff;
  b[17] = 0xff;
  b[18] = 0xff;
  b[19] = 0x7f;
  EXPECT_EQ(DecodeMessage(b).code(), Code::kCorruption);
}

TEST(MessagesTest, BadEnumValuesAreRejected) {
  std::vector<uint8_t> b = EncodeMessage(BastMsg{1, LockMode::kEX});
  b.back() = 6;  // mode out of range
  EXPECT_EQ(DecodeMessage(b).code(), Code::kProtocol);
  std::vector<uint8_t> r = EncodeMessage(
      ReplyMsg{1, 1, ReplyKind::kFinal, Code::kOk, LockMode::kNone, Range{}, 0, {}});
  r[8 + 8 + 4] = 9;  // reply kind
  EXPECT_EQ(DecodeMessage(r).code(), Code::kProtocol);
}

TEST(MessagesTest, RandomBytesNeverCrashTheDecoder) {
  std::mt19937_64 rng(1234);
  auto samples = Samples();
  for (int i = 0; i < 20000; ++i) {
    std::vector<uint8_t> b = EncodeMessage(samples[i % samples.size()]);
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) b[rng() % b.size()] = static_cast<uint8_t>(rng());
    (void)DecodeMessage(b);  // must not crash; ASan build checks memory
  }
  for (int i = 0; i < 5000; ++i) {
    std::vector<uint8_t> b(rng() % 64);
    for (auto& x : b) x = static_cast<uint8_t>(rng());
    if (b.size() >= 4) {
      b[0] = 0x44;
      b[1] = 0x4D;
      b[2] = 1;
    }
    (void)DecodeMessage(b);
  }
}

}  // namespace
}  // namespace cohort::dlm
