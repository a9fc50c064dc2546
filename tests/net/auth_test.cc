// tests/net/auth_test.cc: keys, proofs, session keys (docs/wire-protocol.md §5) and the
// key file rules (docs/operations.md §3).
#include "net/auth.h"

#include <sys/stat.h>

#include <fstream>

#include <gtest/gtest.h>

#include "tests/net/test_util.h"

namespace cohort::net {
namespace {

std::vector<uint8_t> Bytes(std::string_view s) { return {s.begin(), s.end()}; }

TEST(AuthTest, HmacSha256MatchesRfc4231Case2) {
  MacKey k(Bytes("Jefe"));
  Digest d = k.Mac({Bytes("what do ya want "), Bytes("for nothing?")});
  std::string hex;
  for (uint8_t b : d) hex += "0123456789abcdef"[b >> 4], hex += "0123456789abcdef"[b & 15];
  EXPECT_EQ(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(AuthTest, ProofsDependOnBothDirectionsAndTranscript) {
  MacKey k(Bytes("0123456789abcdef"));
  std::vector<uint8_t> hello = Bytes("hello"), ch = Bytes("challenge");
  EXPECT_NE(ListenerProof(k, hello, ch), DialerProof(k, hello, ch));
  EXPECT_NE(DialerProof(k, hello, ch), DialerProof(k, Bytes("hellp"), ch));
}

TEST(AuthTest, SessionKeysDifferPerDirectionAndPerNonce) {
  MacKey k(Bytes("0123456789abcdef"));
  std::vector<uint8_t> n1(32, 1), n2(32, 2), n3(32, 3);
  SessionKeys a = DeriveSessionKeys(k, n1, n2, 1, 2);
  SessionKeys b = DeriveSessionKeys(k, n1, n3, 1, 2);
  EXPECT_NE(a.dialer_to_listener, a.listener_to_dialer);
  EXPECT_NE(a.dialer_to_listener, b.dialer_to_listener);
}

TEST(AuthTest, KeyFileHexAndRawForms) {
  testing::TempDir dir;
  std::string hex = dir.path() + "/hex.key";
  testing::WriteKey(hex, "00112233445566778899aabbccddeeff 0011223344556677\n");
  Result<std::vector<uint8_t>> k = LoadKeyFile(hex);
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  EXPECT_EQ(k->size(), 24u);
  EXPECT_EQ((*k)[1], 0x11);
  std::string raw = dir.path() + "/raw.key";
  testing::WriteKey(raw, "this is not hex but it is long enough");
  k = LoadKeyFile(raw);
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->size(), 38u);  // with the newline
}

TEST(AuthTest, KeyFileReadableByOthersIsRefused) {
  testing::TempDir dir;
  std::string p = dir.path() + "/k";
  testing::WriteKey(p, std::string(64, 'a'));
  chmod(p.c_str(), 0644);
  EXPECT_TRUE(LoadKeyFile(p).status().Is(Code::kPermission));
  chmod(p.c_str(), 0640);
  EXPECT_TRUE(LoadKeyFile(p).ok());
}

TEST(AuthTest, ShortOrMissingKeyFileIsRefused) {
  testing::TempDir dir;
  std::string p = dir.path() + "/k";
  testing::WriteKey(p, "abcd");
  EXPECT_TRUE(LoadKeyFile(p).status().Is(Code::kInvalidArgument));
  EXPECT_FALSE(LoadKeyFile(dir.path() + "/missing").ok());
}

}  // namespace
}  // namespace cohort::net
