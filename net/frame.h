// net/frame.h: the frame header and the control-message payloads of
// docs/wire-protocol.md §2-§4, and their encoders and bounds-checked decoders.
//
// Everything here is pure computation on byte spans (no sockets, no Asio), so the
// decoders can be fuzzed (tests/fuzz) and unit-tested. Decoders never trust a length:
// they return Protocol / Corruption / AuthFailed errors and never read out of bounds.
//
// Thread safety: pure functions and values.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "net/transport.h"

namespace cohort::net {

class MacKey;  // net/auth.h

inline constexpr uint32_t kFrameMagic = 0x54524843;  // "CHRT" little-endian
inline constexpr uint8_t kProtocolVersion = 1;
inline constexpr size_t kHeaderBytes = 80;
inline constexpr size_t kCrcCoveredHeaderBytes = 44;  // header bytes before crc32c
inline constexpr size_t kMacCoveredHeaderBytes = 48;  // header bytes before mac
inline constexpr size_t kMacBytes = 32;
inline constexpr size_t kNonceBytes = 32;
inline constexpr size_t kMaxDataPayload = Transport::kMaxPayload;
inline constexpr size_t kMaxControlPayload = 16 * 1024;

// Frame types (wire-protocol.md §4). DO NOT CHANGE values; never reuse retired ones.
enum class FrameType : uint8_t {
  kHello = 1,
  kChallenge = 2,
  kResponse = 3,
  kHeartbeat = 4,
  kData = 5,
  kAck = 6,
  kPropose = 7,
};
const char* FrameTypeName(FrameType t);
bool IsHandshakeType(FrameType t);
// The largest payload a frame of type `t` may carry (§3).
size_t MaxPayloadBytes(FrameType t);

struct FrameHeader {
  FrameType type = FrameType::kAck;
  uint16_t flags = 0;
  uint32_t length = 0;
  NodeId sender = kNoNode;
  NodeId receiver = kNoNode;
  uint64_t generation = 0;
  uint64_t sequence = 0;
  uint64_t ack = 0;
  uint32_t crc = 0;                       // as read (decode) / computed (encode)
  std::array<uint8_t, kMacBytes> mac{};   // as read
};

// Checks of §2.2 step 1 on the first kHeaderBytes bytes: magic, version, type, flags,
// length limit. Errors: Protocol (with the reason). REQUIRES: bytes.size() >= 80, else
// Protocol("truncated header").
Result<FrameHeader> DecodeHeader(std::span<const uint8_t> bytes);

// How a frame is authenticated (§2.1): with the cluster key for handshake frames
// (counter not used), with a session key and the direction's frame counter otherwise.
struct MacInput {
  const MacKey* key = nullptr;  // REQUIRES: non-null
  bool use_counter = false;
  uint64_t counter = 0;
};

// Appends one complete frame (header with crc32c and mac, then payload) to `out`.
// `h.length`, `h.crc` and `h.mac` are computed. REQUIRES: payload fits MaxPayloadBytes.
void EncodeFrame(const FrameHeader& h, std::span<const uint8_t> payload,
                 const MacInput& mac, std::vector<uint8_t>* out);

// §2.2 steps 3-4 for a frame whose header `h` was decoded from `header_bytes` and whose
// payload was read: Corruption on a crc32c mismatch, AuthFailed on a MAC mismatch,
// Protocol if payload.size() != h.length.
Status VerifyFrame(const FrameHeader& h, std::span<const uint8_t> header_bytes,
                   std::span<const uint8_t> payload, const MacInput& mac);

// ---- control payloads (§4) ----
using Nonce = std::array<uint8_t, kNonceBytes>;
using Proof = std::array<uint8_t, kMacBytes>;

struct Member {
  NodeId id = kNoNode;
  uint64_t incarnation = 0;
  bool operator==(const Member&) const = default;
};

struct HelloMsg {
  std::string cluster_name;
  uint64_t incarnation = 0;
  Nonce nonce{};
  uint64_t known_incarnation = 0;
  uint64_t recv_last = 0;
};
struct ChallengeMsg {
  uint64_t incarnation = 0;
  Nonce nonce{};
  uint64_t known_incarnation = 0;
  uint64_t recv_last = 0;
  Proof proof{};
};
struct ResponseMsg {
  Proof proof{};
};
struct HeartbeatMsg {
  std::vector<NodeId> links;     // ascending, without the writer
  uint64_t view_generation = 0;
  std::vector<Member> view;      // ascending by id
};
struct ProposeMsg {
  uint64_t generation = 0;
  std::vector<Member> members;   // ascending by id
};

std::vector<uint8_t> EncodeHello(const HelloMsg& m);
std::vector<uint8_t> EncodeChallenge(const ChallengeMsg& m);
std::vector<uint8_t> EncodeResponse(const ResponseMsg& m);
std::vector<uint8_t> EncodeHeartbeat(const HeartbeatMsg& m);
std::vector<uint8_t> EncodePropose(const ProposeMsg& m);

// Each decoder consumes the whole span or fails with Protocol (short, trailing bytes,
// bad count, id out of 1..kMaxNodeId, unsorted or duplicate ids, empty cluster name).
Result<HelloMsg> DecodeHello(std::span<const uint8_t> p);
Result<ChallengeMsg> DecodeChallenge(std::span<const uint8_t> p);
Result<ResponseMsg> DecodeResponse(std::span<const uint8_t> p);
Result<HeartbeatMsg> DecodeHeartbeat(std::span<const uint8_t> p);
Result<ProposeMsg> DecodePropose(std::span<const uint8_t> p);

}  // namespace cohort::net
