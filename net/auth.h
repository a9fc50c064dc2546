// net/auth.h: the cryptography of docs/wire-protocol.md §2.1 and §5: HMAC-SHA256 keys
// (OpenSSL EVP_MAC), the handshake proofs, the per-direction session keys, nonces, and
// the cluster key file (docs/operations.md §3).
//
// Thread safety: a MacKey is immutable after construction; Mac() may be called from
// any number of threads at once.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"

namespace cohort::net {

inline constexpr size_t kMinKeyBytes = 16;
using Digest = std::array<uint8_t, 32>;

// An HMAC-SHA256 key. Keeps an initialized OpenSSL context that each Mac() duplicates.
class MacKey {
 public:
  // REQUIRES: key non-empty. Aborts only if OpenSSL cannot provide HMAC-SHA256.
  explicit MacKey(std::span<const uint8_t> key);
  ~MacKey();
  MacKey(const MacKey&) = delete;
  MacKey& operator=(const MacKey&) = delete;
  MacKey(MacKey&&) noexcept;
  MacKey& operator=(MacKey&&) noexcept;

  // HMAC(key, parts[0] || parts[1] || ...).
  Digest Mac(std::initializer_list<std::span<const uint8_t>> parts) const;

 private:
  struct Rep;
  std::unique_ptr<Rep> rep_;
};

// Constant-time equality of two MACs.
bool MacEqual(std::span<const uint8_t> a, std::span<const uint8_t> b);

// Fills `out` from OpenSSL's CSPRNG. Internal error if it fails.
Status RandomBytes(std::span<uint8_t> out);
// A random non-zero u64 (incarnations).
uint64_t RandomNonZero64();

// §5.2: the listener's and the dialer's proofs.
Digest ListenerProof(const MacKey& cluster_key, std::span<const uint8_t> hello,
                     std::span<const uint8_t> challenge_without_proof);
Digest DialerProof(const MacKey& cluster_key, std::span<const uint8_t> hello,
                   std::span<const uint8_t> challenge);

// §5.3: the two session keys of one connection.
struct SessionKeys {
  std::vector<uint8_t> dialer_to_listener;
  std::vector<uint8_t> listener_to_dialer;
};
SessionKeys DeriveSessionKeys(const MacKey& cluster_key, std::span<const uint8_t> dialer_nonce,
                              std::span<const uint8_t> listener_nonce, uint32_t dialer_id,
                              uint32_t listener_id);

// Reads a cluster key file (docs/operations.md §3): either hex text (at least 32 hex
// digits, whitespace ignored) or raw bytes (anything that is not all hex). Errors:
// NotFound / IOError reading it; Permission if readable or writable by "other" or
// writable by the group; InvalidArgument if shorter than kMinKeyBytes.
Result<std::vector<uint8_t>> LoadKeyFile(const std::string& path);

}  // namespace cohort::net
