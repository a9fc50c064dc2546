// net/membership.h: the membership agreement of docs/wire-protocol.md §7 as a pure,
// deterministic state machine (no sockets, no clock): the transport feeds it the live
// links, the peers' HEARTBEAT reports and PROPOSE messages, and sends what it asks.
//
// Invariants:
//  1. view().generation only grows; every installed generation is
//     (counter << 8 | installer) with counter > every counter seen before (§7.2).
//  2. view() contains self, and, at install time, only peers live to this node with the
//     incarnation listed.
//  3. quorate == (votes of the members) * 2 > (all configured votes).
//  4. A new view never leaves out a member of the installed one that is live to this
//     node, unless that member failed (was not live at some moment since the install),
//     failed at the proposer, or left (§7.5 rules C1-C3, M). With the other nodes'
//     instances this keeps §7.5 (S1)-(S3): two nodes never act at the same time on
//     quorate views with different members (tests/net/membership_test.cc checks it).
//
// Thread safety: none; the transport guards it with its membership mutex.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "net/frame.h"
#include "net/transport.h"

namespace cohort::net {

class Membership {
 public:
  // `votes`: every configured node and its votes (self included).
  Membership(NodeId self, uint64_t self_incarnation, std::map<NodeId, uint32_t> votes);

  // What the caller must do after an evaluation.
  struct Action {
    bool installed = false;            // view() changed: deliver it
    std::optional<ProposeMsg> propose; // send to every member but self
  };

  // The live peers (without self) and their incarnations, ascending by id. Reports of
  // peers no longer live (or live with another incarnation) are forgotten.
  void SetLive(std::vector<Member> live);
  // The latest HEARTBEAT of live peer `from` (ignored if `from` is not live).
  void SetReport(NodeId from, const HeartbeatMsg& hb);
  // Runs §7.3. `tick` is true on the heartbeat tick (counts re-proposal ticks).
  Action Evaluate(bool tick);
  // §7.3 rule 2. Returns true if the proposal was installed. A proposal that fails only
  // rule M (it drops a live member not yet known to have failed or left) is held, and a
  // later Evaluate() installs it (Action::installed) once a HEARTBEAT allows it.
  bool OnPropose(NodeId from, const ProposeMsg& p);

  // The installed view as the Transport interface shows it.
  MembershipView view() const;
  uint64_t generation() const { return generation_; }
  const std::vector<Member>& members() const { return members_; }
  // This node's links for its HEARTBEAT (ascending ids).
  std::vector<NodeId> LinkIds() const;
  // Incarnation of member `id` in the installed view, 0 if not a member.
  uint64_t MemberIncarnation(NodeId id) const;
  NodeId Coordinator() const;
  std::string DebugString() const;

  static uint64_t CounterOf(uint64_t generation) { return generation >> 8; }
  // Heartbeat ticks a change waits for peers' reports to catch up (§7.3).
  static constexpr int kMaxDeferTicks = 3;

 private:
  enum class Verdict { kAccept, kDefer, kReject };
  // §7.3 rule 2 and §7.5 rule M for a proposal from `from`.
  Verdict Judge(NodeId from, const ProposeMsg& p) const;
  // §7.5 rules C1 and C2: the view a coordinator wants. `stale_report`: some live peer
  // still names a coordinator that is not live to this node (§7.3 grace).
  std::vector<Member> Target(bool* stale_report) const;
  // Member `m` of the installed view reports a newer, inquorate view (§7.5).
  bool HasLeft(const Member& m) const;
  bool Quorate(const std::vector<Member>& members) const;
  const HeartbeatMsg* ReportOf(NodeId id) const;
  void Install(uint64_t generation, std::vector<Member> members);
  uint64_t NextGeneration();
  void NoteGeneration(uint64_t g);
  bool IsLive(const Member& m) const;
  bool Failed(const Member& m) const;

  const NodeId self_;
  const uint64_t self_incarnation_;
  const std::map<NodeId, uint32_t> votes_;
  uint32_t total_votes_ = 0;

  uint64_t max_counter_ = 0;
  uint64_t generation_ = 0;
  std::vector<Member> members_;          // ascending
  std::vector<Member> live_;             // ascending, without self
  std::map<NodeId, HeartbeatMsg> reports_;
  std::map<NodeId, int> mismatch_ticks_;
  std::vector<Member> failed_;           // members seen not live since the install
  int defer_ticks_ = 0;
  // A proposal that passes §7.3 rule 2 but not yet §7.5 rule M, with its sender; taken
  // by Evaluate() once a HEARTBEAT shows the dropped member failed or left.
  std::optional<std::pair<NodeId, ProposeMsg>> pending_;
};

}  // namespace cohort::net
