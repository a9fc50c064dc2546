// tests/net/auth_test.cc: keys, proofs, session keys (docs/wire-protocol.md §5) and the
// key file rules (docs/operations.md §3).
#include "net/auth.h"

#include <sys/stat.h>

#include <fstream>

#include <gtest/gtest.h>
#include <openssl/evp.h>

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

std::string Hex(const Digest& d) {
  std::string hex;
  for (uint8_t b : d) hex += "0123456789abcdef"[b >> 4], hex += "0123456789abcdef"[b & 15];
  return hex;
}

TEST(AuthTest, HmacSha256MatchesRfc4231Cases1And6) {
  // Case 1: a 20-byte key; case 6: a 131-byte key, longer than a block (hashed first).
  EXPECT_EQ(Hex(MacKey(std::vector<uint8_t>(20, 0x0b)).Mac({Bytes("Hi There")})),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  EXPECT_EQ(Hex(MacKey(std::vector<uint8_t>(131, 0xaa))
                    .Mac({Bytes("Test Using Larger Than Block-Size Key - Hash Key First")})),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(AuthTest, HmacSha256AgreesWithOpenSslForEveryKeyLength) {
  // The pads are computed by MacKey itself (net/auth.cc); check them against OpenSSL's
  // own HMAC around the block size and with a message split across parts.
  std::vector<uint8_t> msg(300);
  for (size_t i = 0; i < msg.size(); ++i) msg[i] = static_cast<uint8_t>(i * 7 + 1);
  for (size_t len = 1; len <= 130; ++len) {
    std::vector<uint8_t> key(len);
    for (size_t i = 0; i < len; ++i) key[i] = static_cast<uint8_t>(i * 13 + len);
    Digest want{};
    size_t n = 0;
    ASSERT_NE(EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.data(), key.size(),
                        msg.data(), msg.size(), want.data(), want.size(), &n),
              nullptr);
    std::span<const uint8_t> m(msg);
    EXPECT_EQ(Hex(MacKey(key).Mac({m.first(len), m.subspan(len)})), Hex(want)) << len;
  }
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
