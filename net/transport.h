// net/transport.h: the boundary between the lock manager and the network.
//
// The DLM engine (dlm/) talks to its peers only through this interface, so that it
// runs unchanged on the deterministic in-process SimTransport (dlm/sim_transport.h,
// used by the simulation tests) and on the authenticated TCP transport of net/
// (docs/wire-protocol.md). This header includes no Boost.Asio and no socket header.
//
// Contract of every implementation:
//  1. Delivery is reliable and in order per (sender, receiver) pair within one
//     membership generation: every payload passed to Send() for a peer that stays a
//     member is delivered exactly once, in the order sent, also across reconnects.
//  2. Every payload is delivered with the generation it was sent in. A receiver drops
//     payloads of a generation older than its current one before the handler sees them.
//  3. OnMembershipChange() is called once per new generation, before any payload of
//     that generation is delivered, and generations only grow.
//  4. Handler calls for one Transport are serialized (never two at once), and are never
//     made while the transport holds a lock that Send() needs: a handler may call Send().
//  5. Handlers must not block: no disk or socket I/O, no sleeping, no waiting for
//     another thread, no lock that may be held across any of those. They may take a
//     mutex that is only ever held briefly, call Send(), and queue work for another
//     thread. An implementation may run them on its network thread (TcpTransport does
//     by default), where a call that blocks delays every peer's messages; TcpTransport
//     then keeps the heartbeats going from a spare thread (net/tcp_transport.h), but
//     deliveries still wait for the call to return.
//
// Thread safety: Send() and membership() may be called from any thread.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"

namespace cohort::net {

// Node ids are the ids of the cluster file: 1..kMaxNodeId. 0 means "no node".
using NodeId = uint32_t;
inline constexpr NodeId kNoNode = 0;
inline constexpr NodeId kMaxNodeId = 255;

// One view of the cluster membership. Generations are totally ordered per cluster.
struct MembershipView {
  uint64_t generation = 0;        // bumped on every change of `members`
  std::vector<NodeId> members;    // sorted ascending, includes self when self is in
  bool quorate = false;           // members hold a majority of the configured votes

  bool Contains(NodeId n) const;
  std::string ToString() const;   // "gen 7 {1,2,3} quorate"
};

// Receives what a Transport delivers. See the contract above; in particular (rule 5)
// neither method may block.
class TransportHandler {
 public:
  virtual ~TransportHandler() = default;
  // A payload sent by `from` in `generation` (== the current generation).
  virtual void OnMessage(NodeId from, uint64_t generation,
                         std::span<const uint8_t> payload) = 0;
  // The membership changed; `view.generation` is greater than any seen before.
  virtual void OnMembershipChange(const MembershipView& view) = 0;
};

// A node's endpoint in the cluster.
class Transport {
 public:
  virtual ~Transport() = default;

  // This node's id.
  virtual NodeId self() const = 0;

  // Registers the handler. REQUIRES: called once, before any Send(). The handler must
  // outlive the transport's delivery (until Stop() or destruction).
  virtual void SetHandler(TransportHandler* handler) = 0;

  // Queues `payload` for delivery to `to` as part of `generation`. Returns at once.
  // Errors: Unavailable if `to` is not a member of the current view or `generation` is
  // not the current one (the message is dropped; recovery resends what matters);
  // InvalidArgument if the payload exceeds kMaxPayload. Sending to self() delivers
  // through the handler like any other message (never re-entrantly from Send()).
  virtual Status Send(NodeId to, uint64_t generation, std::vector<uint8_t> payload) = 0;

  // The current membership view.
  virtual MembershipView membership() const = 0;

  static constexpr size_t kMaxPayload = 1 << 20;
};

}  // namespace cohort::net
