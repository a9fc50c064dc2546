// net/auth.cc: see net/auth.h (docs/wire-protocol.md §2.1, §5; docs/operations.md §3).
#include "net/auth.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

// MacKey keeps the SHA-256 states after the HMAC key pads and copies them per MAC (a
// struct copy, no allocation): OpenSSL 3 marks these SHA256_* functions deprecated in
// favour of EVP, whose context copies allocate (EVP_MAC_CTX_dup per frame cost ~1/8 of
// the CPU of a pipelined lock run, docs/wire-protocol.md §12). HMAC itself is RFC 2104.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "common/coding.h"

namespace cohort::net {
namespace {

constexpr size_t kShaBlock = 64;  // SHA-256 block size, the HMAC pad length

std::span<const uint8_t> Label(const char* s) {
  return {reinterpret_cast<const uint8_t*>(s), std::strlen(s)};
}

}  // namespace

// The SHA-256 states after absorbing (K' ^ ipad) and (K' ^ opad), RFC 2104.
struct MacKey::Rep {
  SHA256_CTX inner;
  SHA256_CTX outer;
  ~Rep() {
    OPENSSL_cleanse(&inner, sizeof inner);
    OPENSSL_cleanse(&outer, sizeof outer);
  }
};

MacKey::MacKey(std::span<const uint8_t> key) : rep_(std::make_unique<Rep>()) {
  uint8_t k[kShaBlock] = {};
  if (key.size() > kShaBlock) {
    SHA256(key.data(), key.size(), k);  // K' = H(K) for a key longer than a block
  } else {
    std::memcpy(k, key.data(), key.size());
  }
  uint8_t pad[kShaBlock];
  for (size_t i = 0; i < kShaBlock; ++i) pad[i] = k[i] ^ 0x36;
  if (SHA256_Init(&rep_->inner) != 1 || SHA256_Update(&rep_->inner, pad, kShaBlock) != 1) {
    std::fprintf(stderr, "cohort: SHA-256 init failed\n");
    std::abort();
  }
  for (size_t i = 0; i < kShaBlock; ++i) pad[i] = k[i] ^ 0x5c;
  if (SHA256_Init(&rep_->outer) != 1 || SHA256_Update(&rep_->outer, pad, kShaBlock) != 1) {
    std::fprintf(stderr, "cohort: SHA-256 init failed\n");
    std::abort();
  }
  OPENSSL_cleanse(k, sizeof k);
  OPENSSL_cleanse(pad, sizeof pad);
}
MacKey::~MacKey() = default;
MacKey::MacKey(MacKey&&) noexcept = default;
MacKey& MacKey::operator=(MacKey&&) noexcept = default;

Digest MacKey::Mac(std::initializer_list<std::span<const uint8_t>> parts) const {
  // HMAC = H((K' ^ opad) || H((K' ^ ipad) || m)); the states are copied, never shared.
  Digest inner_hash{};
  Digest out{};
  SHA256_CTX c = rep_->inner;
  for (auto p : parts) {
    if (!p.empty()) SHA256_Update(&c, p.data(), p.size());
  }
  SHA256_Final(inner_hash.data(), &c);
  c = rep_->outer;
  SHA256_Update(&c, inner_hash.data(), inner_hash.size());
  SHA256_Final(out.data(), &c);
  return out;
}

bool MacEqual(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

Status RandomBytes(std::span<uint8_t> out) {
  if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) {
    return Status::Internal("RAND_bytes failed");
  }
  return Status::OK();
}

uint64_t RandomNonZero64() {
  for (int i = 0; i < 64; ++i) {
    uint8_t b[8];
    if (!RandomBytes(b).ok()) break;
    uint64_t v = DecodeFixed64(b);
    if (v != 0) return v;
  }
  // RAND_bytes failing is not expected; fall back to something that differs per run.
  return (static_cast<uint64_t>(getpid()) << 32) ^ static_cast<uint64_t>(time(nullptr)) ^ 1;
}

Digest ListenerProof(const MacKey& k, std::span<const uint8_t> hello,
                     std::span<const uint8_t> challenge_without_proof) {
  return k.Mac({Label("cohort/1 listener"), hello, challenge_without_proof});
}

Digest DialerProof(const MacKey& k, std::span<const uint8_t> hello,
                   std::span<const uint8_t> challenge) {
  return k.Mac({Label("cohort/1 dialer"), hello, challenge});
}

SessionKeys DeriveSessionKeys(const MacKey& k, std::span<const uint8_t> dn,
                              std::span<const uint8_t> ln, uint32_t dialer_id,
                              uint32_t listener_id) {
  uint8_t ids[8];
  EncodeFixed32(ids, dialer_id);
  EncodeFixed32(ids + 4, listener_id);
  Digest a = k.Mac({Label("cohort/1 d2l"), dn, ln, ids});
  Digest b = k.Mac({Label("cohort/1 l2d"), dn, ln, ids});
  return {std::vector<uint8_t>(a.begin(), a.end()), std::vector<uint8_t>(b.begin(), b.end())};
}

Result<std::vector<uint8_t>> LoadKeyFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "key file " + path);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return Status::FromErrno(e, "key file " + path);
  }
  if ((st.st_mode & (S_IRWXO | S_IWGRP)) != 0) {
    ::close(fd);
    return Status::Permission("key file " + path +
                              " is accessible by others or writable by its group; "
                              "chmod 600 it (docs/operations.md §3)");
  }
  std::vector<uint8_t> raw;
  uint8_t buf[4096];
  for (int i = 0; i < 1024; ++i) {  // at most 4 MiB: a key file is tiny
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      return Status::FromErrno(e, "key file " + path);
    }
    if (n == 0) break;
    raw.insert(raw.end(), buf, buf + n);
  }
  ::close(fd);
  bool all_hex = !raw.empty();
  size_t digits = 0;
  for (uint8_t c : raw) {
    if (std::isxdigit(c)) {
      ++digits;
    } else if (!std::isspace(c)) {
      all_hex = false;
      break;
    }
  }
  std::vector<uint8_t> key;
  if (all_hex && digits % 2 == 0 && digits >= 2 * kMinKeyBytes) {
    auto nib = [](uint8_t c) -> uint8_t {
      return std::isdigit(c) ? c - '0' : static_cast<uint8_t>(std::tolower(c) - 'a' + 10);
    };
    int hi = -1;
    for (uint8_t c : raw) {
      if (!std::isxdigit(c)) continue;
      if (hi < 0) {
        hi = nib(c);
      } else {
        key.push_back(static_cast<uint8_t>(hi << 4 | nib(c)));
        hi = -1;
      }
    }
  } else {
    key = std::move(raw);
  }
  if (key.size() < kMinKeyBytes) {
    return Status::InvalidArgument("key file " + path + " holds " +
                                   std::to_string(key.size()) + " bytes; at least " +
                                   std::to_string(kMinKeyBytes) + " are required");
  }
  return key;
}

}  // namespace cohort::net
