// dlm/messages.h: the DLM's messages inside a transport payload, their encoder and a
// decoder that never trusts a length (docs/dlm.md §8).
//
// Thread safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "common/status.h"
#include "dlm/types.h"

namespace cohort::dlm {

inline constexpr uint16_t kMsgMagic = 0x4D44;
inline constexpr uint8_t kMsgVersion = 1;
inline constexpr size_t kMsgHeaderSize = 8;
// Longest resource key: kMaxDepth levels of [len][name].
inline constexpr size_t kMaxKeyLen = kMaxDepth * (kMaxNameLen + 1);

// Message types: DO NOT CHANGE (docs/dlm.md §8).
enum class MsgType : uint8_t {
  kLookup = 1,
  kLookupReply = 2,
  kRequest = 3,
  kReply = 4,
  kBast = 5,
  kDirAdd = 6,
  kDirRemove = 7,
  kRecoverDone = 8,
  kRecoverLocks = 9,
  kDdQuery = 10,
  kDdEdges = 11,
  kDdDeny = 12,
};

// Operation of a REQUEST: DO NOT CHANGE.
enum class OpKind : uint8_t { kNone = 0, kLock = 1, kConvert = 2, kUnlock = 3, kCancel = 4 };
// Kind of a REPLY: DO NOT CHANGE.
enum class ReplyKind : uint8_t { kQueued = 1, kFinal = 2, kNotMaster = 3 };
// Queue of a reported lock: DO NOT CHANGE.
enum class QueueKind : uint8_t { kNone = 0, kGranted = 1, kConverting = 2, kWaiting = 3 };

// sbflags bits of a REPLY.
inline constexpr uint8_t kSbLvbInvalid = 1;
inline constexpr uint8_t kSbDemoted = 2;

struct LookupMsg { std::string key; };
struct LookupReplyMsg { std::string key; net::NodeId master = 0; };
// An operation on a lock; also the in-flight part of a recovery report.
struct OpFields {
  OpKind op = OpKind::kNone;
  uint32_t seq = 0;
  LockMode mode = LockMode::kNone;
  uint32_t flags = 0;
  Range range;
  std::optional<Lvb> lvb;
  Code cancel_status = Code::kCancelled;
};
struct RequestMsg {
  std::string key;
  LockId lkid = 0;
  uint64_t owner = 0;
  OpFields f;
};
struct ReplyMsg {
  LockId lkid = 0;
  uint32_t op_seq = 0;
  ReplyKind kind = ReplyKind::kFinal;
  Code status = Code::kOk;
  LockMode mode = LockMode::kNone;  // grant held after the operation
  Range range;
  uint8_t sbflags = 0;
  std::optional<Lvb> lvb;
};
struct BastMsg { LockId lkid = 0; LockMode mode = LockMode::kNone; };
struct DirAddMsg { std::string key; net::NodeId master = 0; };
struct DirRemoveMsg { std::string key; net::NodeId master = 0; };
struct RecoverDoneMsg { uint64_t generation = 0; uint8_t phase = 0; };
struct RecoverEntry {
  LockId lkid = 0;
  uint64_t owner = 0;
  uint32_t flags = 0;
  QueueKind queue = QueueKind::kNone;
  LockMode grmode = LockMode::kNone;
  Range grange;
  LockMode rqmode = LockMode::kNone;
  Range rqrange;
  uint32_t op_seq = 0;
  uint64_t lvb_seq = 0;
  std::optional<Lvb> lvb;
  OpFields inflight;
};
struct RecoverLocksMsg { std::string key; std::vector<RecoverEntry> entries; };
struct DdQueryMsg { uint64_t round = 0; };
struct DdEdge {
  LockId waiter = 0;
  uint32_t waiter_seq = 0;
  uint64_t waiter_owner = 0;
  LockId holder = 0;
  uint64_t holder_grant_seq = 0;
  uint64_t holder_owner = 0;
  bool operator==(const DdEdge&) const = default;
};
struct DdEdgesMsg { uint64_t round = 0; std::vector<DdEdge> edges; };
struct DdDenyMsg { LockId lkid = 0; uint32_t op_seq = 0; };

using Message = std::variant<LookupMsg, LookupReplyMsg, RequestMsg, ReplyMsg, BastMsg,
                             DirAddMsg, DirRemoveMsg, RecoverDoneMsg, RecoverLocksMsg,
                             DdQueryMsg, DdEdgesMsg, DdDenyMsg>;

// The type byte of a message.
MsgType TypeOf(const Message& m);
// Header + body, ready for Transport::Send.
std::vector<uint8_t> EncodeMessage(const Message& m);
// Decodes one payload. Never trusts a length: Corruption for a short or over-long
// payload, Protocol for a bad magic, version, type or enum value.
Result<Message> DecodeMessage(std::span<const uint8_t> payload);

}  // namespace cohort::dlm
