// net/frame.cc: see net/frame.h (docs/wire-protocol.md §2-§4).
#include "net/frame.h"

#include <algorithm>

#include "common/coding.h"
#include "common/crc32c.h"
#include "net/auth.h"

namespace cohort::net {

const char* FrameTypeName(FrameType t) {
  switch (t) {
    case FrameType::kHello: return "HELLO";
    case FrameType::kChallenge: return "CHALLENGE";
    case FrameType::kResponse: return "RESPONSE";
    case FrameType::kHeartbeat: return "HEARTBEAT";
    case FrameType::kData: return "DATA";
    case FrameType::kAck: return "ACK";
    case FrameType::kPropose: return "PROPOSE";
  }
  return "UNKNOWN";
}

bool IsHandshakeType(FrameType t) {
  return t == FrameType::kHello || t == FrameType::kChallenge || t == FrameType::kResponse;
}

size_t MaxPayloadBytes(FrameType t) {
  return t == FrameType::kData ? kMaxDataPayload : kMaxControlPayload;
}

Result<FrameHeader> DecodeHeader(std::span<const uint8_t> b) {
  if (b.size() < kHeaderBytes) return Status::Protocol("truncated header");
  const uint8_t* p = b.data();
  if (DecodeFixed32(p) != kFrameMagic) return Status::Protocol("bad magic");
  if (p[4] != kProtocolVersion) {
    return Status::Protocol("unsupported version " + std::to_string(p[4]));
  }
  uint8_t type = p[5];
  if (type < static_cast<uint8_t>(FrameType::kHello) ||
      type > static_cast<uint8_t>(FrameType::kPropose)) {
    return Status::Protocol("unknown frame type " + std::to_string(type));
  }
  FrameHeader h;
  h.type = static_cast<FrameType>(type);
  h.flags = DecodeFixed16(p + 6);
  if (h.flags != 0) return Status::Protocol("reserved flags set");
  h.length = DecodeFixed32(p + 8);
  if (h.length > MaxPayloadBytes(h.type)) {
    return Status::Protocol("oversized " + std::string(FrameTypeName(h.type)) +
                            " payload of " + std::to_string(h.length) + " bytes");
  }
  h.sender = DecodeFixed32(p + 12);
  h.receiver = DecodeFixed32(p + 16);
  h.generation = DecodeFixed64(p + 20);
  h.sequence = DecodeFixed64(p + 28);
  h.ack = DecodeFixed64(p + 36);
  h.crc = DecodeFixed32(p + 44);
  std::copy(p + 48, p + 80, h.mac.begin());
  return h;
}

namespace {

Digest ComputeMac(std::span<const uint8_t> header48, std::span<const uint8_t> payload,
                  const MacInput& m) {
  if (m.use_counter) {
    uint8_t ctr[8];
    EncodeFixed64(ctr, m.counter);
    return m.key->Mac({std::span<const uint8_t>(ctr, 8), header48, payload});
  }
  return m.key->Mac({header48, payload});
}

}  // namespace

void EncodeFrame(const FrameHeader& h, std::span<const uint8_t> payload, const MacInput& mac,
                 std::vector<uint8_t>* out) {
  size_t at = out->size();
  out->resize(at + kHeaderBytes);
  uint8_t* p = out->data() + at;
  EncodeFixed32(p, kFrameMagic);
  p[4] = kProtocolVersion;
  p[5] = static_cast<uint8_t>(h.type);
  EncodeFixed16(p + 6, h.flags);
  EncodeFixed32(p + 8, static_cast<uint32_t>(payload.size()));
  EncodeFixed32(p + 12, h.sender);
  EncodeFixed32(p + 16, h.receiver);
  EncodeFixed64(p + 20, h.generation);
  EncodeFixed64(p + 28, h.sequence);
  EncodeFixed64(p + 36, h.ack);
  uint32_t crc = crc32c::Value(p, kCrcCoveredHeaderBytes);
  crc = crc32c::Extend(crc, payload.data(), payload.size());
  EncodeFixed32(p + 44, crc);
  Digest d = ComputeMac(std::span<const uint8_t>(p, kMacCoveredHeaderBytes), payload, mac);
  std::copy(d.begin(), d.end(), p + 48);
  out->insert(out->end(), payload.begin(), payload.end());
}

Status VerifyFrame(const FrameHeader& h, std::span<const uint8_t> header_bytes,
                   std::span<const uint8_t> payload, const MacInput& mac) {
  if (header_bytes.size() < kHeaderBytes) return Status::Protocol("truncated header");
  if (payload.size() != h.length) return Status::Protocol("truncated payload");
  uint32_t crc = crc32c::Value(header_bytes.data(), kCrcCoveredHeaderBytes);
  crc = crc32c::Extend(crc, payload.data(), payload.size());
  if (crc != h.crc) return Status::Corruption("frame crc32c mismatch");
  Digest d = ComputeMac(header_bytes.first(kMacCoveredHeaderBytes), payload, mac);
  if (!MacEqual(d, h.mac)) return Status::AuthFailed("frame MAC mismatch");
  return Status::OK();
}

// ---- payloads ----
namespace {

void PutMembers(Writer& w, const std::vector<Member>& ms) {
  w.U16(static_cast<uint16_t>(ms.size()));
  for (const Member& m : ms) {
    w.U32(m.id);
    w.U64(m.incarnation);
  }
}

Status CheckId(NodeId id) {
  if (id == kNoNode || id > kMaxNodeId) {
    return Status::Protocol("node id " + std::to_string(id) + " out of range");
  }
  return Status::OK();
}

Status GetCount(Reader& r, uint16_t* n) {
  COHORT_RETURN_IF_ERROR(r.U16(n));
  if (*n > kMaxNodeId) return Status::Protocol("list of " + std::to_string(*n) + " nodes");
  return Status::OK();
}

Status GetMembers(Reader& r, std::vector<Member>* out) {
  uint16_t n = 0;
  COHORT_RETURN_IF_ERROR(GetCount(r, &n));
  out->reserve(n);
  for (uint16_t i = 0; i < n; ++i) {
    Member m;
    COHORT_RETURN_IF_ERROR(r.U32(&m.id));
    COHORT_RETURN_IF_ERROR(r.U64(&m.incarnation));
    COHORT_RETURN_IF_ERROR(CheckId(m.id));
    if (!out->empty() && out->back().id >= m.id) {
      return Status::Protocol("member list not ascending");
    }
    if (m.incarnation == 0) return Status::Protocol("member with incarnation 0");
    out->push_back(m);
  }
  return Status::OK();
}

// Decoding errors of the common Reader are Corruption; on the wire they are Protocol.
template <typename T>
Result<T> Finish(Reader& r, Status s, T value) {
  if (s.ok()) s = r.ExpectEnd();
  if (!s.ok()) return Status::Protocol(s.message());
  return value;
}

}  // namespace

std::vector<uint8_t> EncodeHello(const HelloMsg& m) {
  std::vector<uint8_t> out;
  Writer w(&out);
  w.String16(m.cluster_name);
  w.U64(m.incarnation);
  w.Bytes(m.nonce);
  w.U64(m.known_incarnation);
  w.U64(m.recv_last);
  return out;
}

Result<HelloMsg> DecodeHello(std::span<const uint8_t> p) {
  Reader r(p);
  HelloMsg m;
  Status s = [&]() -> Status {
    COHORT_RETURN_IF_ERROR(r.String16(&m.cluster_name, 255));
    if (m.cluster_name.empty()) return Status::Protocol("empty cluster name");
    COHORT_RETURN_IF_ERROR(r.U64(&m.incarnation));
    if (m.incarnation == 0) return Status::Protocol("incarnation 0");
    COHORT_RETURN_IF_ERROR(r.CopyTo(m.nonce.data(), m.nonce.size()));
    COHORT_RETURN_IF_ERROR(r.U64(&m.known_incarnation));
    return r.U64(&m.recv_last);
  }();
  return Finish(r, std::move(s), std::move(m));
}

std::vector<uint8_t> EncodeChallenge(const ChallengeMsg& m) {
  std::vector<uint8_t> out;
  Writer w(&out);
  w.U64(m.incarnation);
  w.Bytes(m.nonce);
  w.U64(m.known_incarnation);
  w.U64(m.recv_last);
  w.Bytes(m.proof);
  return out;
}

Result<ChallengeMsg> DecodeChallenge(std::span<const uint8_t> p) {
  Reader r(p);
  ChallengeMsg m;
  Status s = [&]() -> Status {
    COHORT_RETURN_IF_ERROR(r.U64(&m.incarnation));
    if (m.incarnation == 0) return Status::Protocol("incarnation 0");
    COHORT_RETURN_IF_ERROR(r.CopyTo(m.nonce.data(), m.nonce.size()));
    COHORT_RETURN_IF_ERROR(r.U64(&m.known_incarnation));
    COHORT_RETURN_IF_ERROR(r.U64(&m.recv_last));
    return r.CopyTo(m.proof.data(), m.proof.size());
  }();
  return Finish(r, std::move(s), std::move(m));
}

std::vector<uint8_t> EncodeResponse(const ResponseMsg& m) {
  return std::vector<uint8_t>(m.proof.begin(), m.proof.end());
}

Result<ResponseMsg> DecodeResponse(std::span<const uint8_t> p) {
  Reader r(p);
  ResponseMsg m;
  Status s = r.CopyTo(m.proof.data(), m.proof.size());
  return Finish(r, std::move(s), std::move(m));
}

std::vector<uint8_t> EncodeHeartbeat(const HeartbeatMsg& m) {
  std::vector<uint8_t> out;
  Writer w(&out);
  w.U16(static_cast<uint16_t>(m.links.size()));
  for (NodeId id : m.links) w.U32(id);
  w.U64(m.view_generation);
  PutMembers(w, m.view);
  return out;
}

Result<HeartbeatMsg> DecodeHeartbeat(std::span<const uint8_t> p) {
  Reader r(p);
  HeartbeatMsg m;
  Status s = [&]() -> Status {
    uint16_t n = 0;
    COHORT_RETURN_IF_ERROR(GetCount(r, &n));
    m.links.reserve(n);
    for (uint16_t i = 0; i < n; ++i) {
      NodeId id = 0;
      COHORT_RETURN_IF_ERROR(r.U32(&id));
      COHORT_RETURN_IF_ERROR(CheckId(id));
      if (!m.links.empty() && m.links.back() >= id) {
        return Status::Protocol("link list not ascending");
      }
      m.links.push_back(id);
    }
    COHORT_RETURN_IF_ERROR(r.U64(&m.view_generation));
    return GetMembers(r, &m.view);
  }();
  return Finish(r, std::move(s), std::move(m));
}

std::vector<uint8_t> EncodePropose(const ProposeMsg& m) {
  std::vector<uint8_t> out;
  Writer w(&out);
  w.U64(m.generation);
  PutMembers(w, m.members);
  return out;
}

Result<ProposeMsg> DecodePropose(std::span<const uint8_t> p) {
  Reader r(p);
  ProposeMsg m;
  Status s = [&]() -> Status {
    COHORT_RETURN_IF_ERROR(r.U64(&m.generation));
    COHORT_RETURN_IF_ERROR(GetMembers(r, &m.members));
    if (m.members.empty()) return Status::Protocol("empty view");
    return Status::OK();
  }();
  return Finish(r, std::move(s), std::move(m));
}

}  // namespace cohort::net
