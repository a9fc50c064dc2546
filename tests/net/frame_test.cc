// tests/net/frame_test.cc: the frame codec and control payloads of
// docs/wire-protocol.md §2-§4: round trips and every malformed case.
#include "net/frame.h"

#include <gtest/gtest.h>

#include "common/coding.h"
#include "common/crc32c.h"
#include "net/auth.h"

namespace cohort::net {
namespace {

std::vector<uint8_t> Bytes(std::string_view s) { return {s.begin(), s.end()}; }

class FrameTest : public ::testing::Test {
 protected:
  MacKey key_{Bytes("0123456789abcdef0123456789abcdef")};
  MacKey other_key_{Bytes("fedcba9876543210fedcba9876543210")};

  FrameHeader Header(FrameType t = FrameType::kData) {
    FrameHeader h;
    h.type = t;
    h.sender = 3;
    h.receiver = 7;
    h.generation = 0x1234'5678'9abc'def0ULL;
    h.sequence = 42;
    h.ack = 41;
    return h;
  }
  std::vector<uint8_t> Encode(const FrameHeader& h, std::span<const uint8_t> payload,
                              uint64_t counter = 5) {
    std::vector<uint8_t> out;
    EncodeFrame(h, payload, MacInput{&key_, true, counter}, &out);
    return out;
  }
  Status Verify(const std::vector<uint8_t>& f, uint64_t counter = 5,
                const MacKey* key = nullptr) {
    Result<FrameHeader> h = DecodeHeader(f);
    if (!h.ok()) return h.status();
    std::span<const uint8_t> all(f);
    if (all.size() < kHeaderBytes + h->length) return Status::Protocol("truncated payload");
    return VerifyFrame(*h, all.first(kHeaderBytes), all.subspan(kHeaderBytes, h->length),
                       MacInput{key ? key : &key_, true, counter});
  }
};

TEST_F(FrameTest, RoundTripKeepsEveryField) {
  std::vector<uint8_t> payload = Bytes("hello, lock manager");
  std::vector<uint8_t> f = Encode(Header(), payload);
  ASSERT_EQ(f.size(), kHeaderBytes + payload.size());
  Result<FrameHeader> h = DecodeHeader(f);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->type, FrameType::kData);
  EXPECT_EQ(h->flags, 0);
  EXPECT_EQ(h->length, payload.size());
  EXPECT_EQ(h->sender, 3u);
  EXPECT_EQ(h->receiver, 7u);
  EXPECT_EQ(h->generation, 0x1234'5678'9abc'def0ULL);
  EXPECT_EQ(h->sequence, 42u);
  EXPECT_EQ(h->ack, 41u);
  EXPECT_TRUE(Verify(f).ok());
}

TEST_F(FrameTest, HeaderIsLittleEndianAtDocumentedOffsets) {
  std::vector<uint8_t> f = Encode(Header(), {});
  EXPECT_EQ(DecodeFixed32(&f[0]), kFrameMagic);
  EXPECT_EQ(f[0], 'C');
  EXPECT_EQ(f[3], 'T');
  EXPECT_EQ(f[4], 1);
  EXPECT_EQ(f[5], 5);
  EXPECT_EQ(DecodeFixed32(&f[12]), 3u);
  EXPECT_EQ(DecodeFixed64(&f[20]), 0x1234'5678'9abc'def0ULL);
  EXPECT_EQ(f[20], 0xf0);
  EXPECT_EQ(DecodeFixed64(&f[28]), 42u);
  EXPECT_EQ(DecodeFixed64(&f[36]), 41u);
}

TEST_F(FrameTest, TruncatedHeaderIsProtocolError) {
  std::vector<uint8_t> f = Encode(Header(), Bytes("x"));
  f.resize(kHeaderBytes - 1);
  EXPECT_TRUE(DecodeHeader(f).status().Is(Code::kProtocol));
}

TEST_F(FrameTest, TruncatedPayloadIsProtocolError) {
  std::vector<uint8_t> f = Encode(Header(), Bytes("payload"));
  Result<FrameHeader> h = DecodeHeader(f);
  ASSERT_TRUE(h.ok());
  std::span<const uint8_t> all(f);
  EXPECT_TRUE(VerifyFrame(*h, all.first(kHeaderBytes), all.subspan(kHeaderBytes, 3),
                          MacInput{&key_, true, 5})
                  .Is(Code::kProtocol));
}

TEST_F(FrameTest, BadMagicIsProtocolError) {
  std::vector<uint8_t> f = Encode(Header(), {});
  f[0] ^= 1;
  EXPECT_TRUE(DecodeHeader(f).status().Is(Code::kProtocol));
}

TEST_F(FrameTest, WrongVersionIsProtocolErrorNamingIt) {
  std::vector<uint8_t> f = Encode(Header(), {});
  f[4] = 2;
  Status s = DecodeHeader(f).status();
  EXPECT_TRUE(s.Is(Code::kProtocol));
  EXPECT_NE(s.ToString().find("unsupported version 2"), std::string::npos);
}

TEST_F(FrameTest, UnknownTypeAndReservedFlagsAreProtocolErrors) {
  std::vector<uint8_t> f = Encode(Header(), {});
  f[5] = 0;
  EXPECT_TRUE(DecodeHeader(f).status().Is(Code::kProtocol));
  f[5] = 8;
  EXPECT_TRUE(DecodeHeader(f).status().Is(Code::kProtocol));
  f = Encode(Header(), {});
  f[6] = 1;
  EXPECT_TRUE(DecodeHeader(f).status().Is(Code::kProtocol));
}

TEST_F(FrameTest, OversizedLengthIsRejectedBeforeThePayloadIsRead) {
  std::vector<uint8_t> f = Encode(Header(), {});
  EncodeFixed32(&f[8], static_cast<uint32_t>(kMaxDataPayload + 1));
  EXPECT_TRUE(DecodeHeader(f).status().Is(Code::kProtocol));
  f = Encode(Header(FrameType::kHeartbeat), {});
  EncodeFixed32(&f[8], static_cast<uint32_t>(kMaxControlPayload + 1));
  EXPECT_TRUE(DecodeHeader(f).status().Is(Code::kProtocol));
  EncodeFixed32(&f[8], 0xffffffffu);
  EXPECT_TRUE(DecodeHeader(f).status().Is(Code::kProtocol));
}

TEST_F(FrameTest, CorruptedPayloadIsCorruption) {
  std::vector<uint8_t> f = Encode(Header(), Bytes("payload"));
  f[kHeaderBytes + 2] ^= 0x40;
  EXPECT_TRUE(Verify(f).Is(Code::kCorruption));
}

TEST_F(FrameTest, CorruptedHeaderFieldIsCorruption) {
  std::vector<uint8_t> f = Encode(Header(), Bytes("payload"));
  f[30] ^= 1;  // sequence
  EXPECT_TRUE(Verify(f).Is(Code::kCorruption));
}

TEST_F(FrameTest, ForgedFrameWithRecomputedCrcFailsMac) {
  std::vector<uint8_t> f = Encode(Header(), Bytes("payload"));
  f[kHeaderBytes] = 'P';
  uint32_t crc = crc32c::Value(f.data(), kCrcCoveredHeaderBytes);
  crc = crc32c::Extend(crc, f.data() + kHeaderBytes, f.size() - kHeaderBytes);
  EncodeFixed32(&f[44], crc);
  EXPECT_TRUE(Verify(f).Is(Code::kAuthFailed));
}

TEST_F(FrameTest, WrongKeyFailsMac) {
  std::vector<uint8_t> f = Encode(Header(), Bytes("payload"));
  EXPECT_TRUE(Verify(f, 5, &other_key_).Is(Code::kAuthFailed));
}

TEST_F(FrameTest, ReplayedFrameFailsMacBecauseTheCounterMoved) {
  std::vector<uint8_t> f = Encode(Header(), Bytes("payload"), /*counter=*/5);
  EXPECT_TRUE(Verify(f, 5).ok());
  EXPECT_TRUE(Verify(f, 6).Is(Code::kAuthFailed));
}

TEST_F(FrameTest, HelloRoundTrip) {
  HelloMsg m;
  m.cluster_name = "prod";
  m.incarnation = 77;
  m.nonce.fill(9);
  m.known_incarnation = 5;
  m.recv_last = 1000;
  Result<HelloMsg> d = DecodeHello(EncodeHello(m));
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->cluster_name, "prod");
  EXPECT_EQ(d->incarnation, 77u);
  EXPECT_EQ(d->nonce, m.nonce);
  EXPECT_EQ(d->known_incarnation, 5u);
  EXPECT_EQ(d->recv_last, 1000u);
}

TEST_F(FrameTest, ChallengeResponseRoundTrip) {
  ChallengeMsg c;
  c.incarnation = 3;
  c.nonce.fill(1);
  c.proof.fill(2);
  c.recv_last = 4;
  Result<ChallengeMsg> d = DecodeChallenge(EncodeChallenge(c));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->proof, c.proof);
  EXPECT_EQ(d->recv_last, 4u);
  ResponseMsg r;
  r.proof.fill(8);
  Result<ResponseMsg> dr = DecodeResponse(EncodeResponse(r));
  ASSERT_TRUE(dr.ok());
  EXPECT_EQ(dr->proof, r.proof);
}

TEST_F(FrameTest, HeartbeatAndProposeRoundTrip) {
  HeartbeatMsg hb{{1, 2, 9}, 0x305, {{1, 11}, {2, 22}, {9, 99}}};
  Result<HeartbeatMsg> d = DecodeHeartbeat(EncodeHeartbeat(hb));
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->links, hb.links);
  EXPECT_EQ(d->view_generation, 0x305u);
  EXPECT_EQ(d->view, hb.view);
  ProposeMsg p{0x401, {{1, 11}, {4, 44}}};
  Result<ProposeMsg> dp = DecodePropose(EncodePropose(p));
  ASSERT_TRUE(dp.ok());
  EXPECT_EQ(dp->members, p.members);
}

TEST_F(FrameTest, PayloadDecodersRejectShortTrailingAndBadLists) {
  HelloMsg m;
  m.cluster_name = "c";
  m.incarnation = 1;
  std::vector<uint8_t> b = EncodeHello(m);
  for (size_t n = 0; n < b.size(); ++n) {
    EXPECT_TRUE(DecodeHello(std::span(b).first(n)).status().Is(Code::kProtocol)) << n;
  }
  b.push_back(0);
  EXPECT_TRUE(DecodeHello(b).status().Is(Code::kProtocol));

  HeartbeatMsg unsorted{{2, 1}, 1, {}};
  EXPECT_TRUE(DecodeHeartbeat(EncodeHeartbeat(unsorted)).status().Is(Code::kProtocol));
  HeartbeatMsg bad_id{{256}, 1, {}};
  EXPECT_TRUE(DecodeHeartbeat(EncodeHeartbeat(bad_id)).status().Is(Code::kProtocol));
  ProposeMsg dup{5, {{1, 1}, {1, 1}}};
  EXPECT_TRUE(DecodePropose(EncodePropose(dup)).status().Is(Code::kProtocol));
  ProposeMsg empty{5, {}};
  EXPECT_TRUE(DecodePropose(EncodePropose(empty)).status().Is(Code::kProtocol));
  std::vector<uint8_t> huge_count = {0xff, 0xff};
  EXPECT_TRUE(DecodeHeartbeat(huge_count).status().Is(Code::kProtocol));
}

}  // namespace
}  // namespace cohort::net
