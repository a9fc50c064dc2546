// dlm/sim_transport.h: a deterministic in-process network for the DLM simulation and
// unit tests (docs/dlm.md §16; implements net/transport.h).
//
// SimNetwork holds every node's endpoint (SimTransport) in one process. Messages wait on
// per-(sender, receiver) FIFO links; Step() delivers the head of one non-empty link
// chosen by a seeded generator, so per-link order holds and delays vary across links.
// Nodes can be killed, restarted (a new endpoint incarnation), partitioned and healed;
// every change bumps the generation and tells every live member its new view
// synchronously, before any message of that generation (contract 3).
//
// Thread safety: all methods may be called from any thread, but the simulation is meant
// to be driven by one thread. mu_ (LockRank::kNetSimScheduler) is never held while a
// handler runs, so handlers may call Send().
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include "common/mutex.h"
#include "net/transport.h"

namespace cohort::dlm {

class SimNetwork;

class SimTransport final : public net::Transport {
 public:
  SimTransport(SimNetwork* net, net::NodeId self) : net_(net), self_(self) {}
  net::NodeId self() const override { return self_; }
  void SetHandler(net::TransportHandler* handler) override;
  Status Send(net::NodeId to, uint64_t generation, std::vector<uint8_t> payload) override;
  net::MembershipView membership() const override;

 private:
  friend class SimNetwork;
  SimNetwork* const net_;
  const net::NodeId self_;
};

class SimNetwork {
 public:
  // `configured` is the number of configured votes (quorum = majority of it).
  SimNetwork(uint64_t seed, int configured);
  ~SimNetwork();

  // A new endpoint incarnation for node `id` (replacing any previous one, which stops
  // receiving). Not a member until Join(id).
  SimTransport* NewEndpoint(net::NodeId id);
  // Makes `id` (with its current endpoint) a live member; membership change.
  void Join(net::NodeId id);
  // Kills `id`: its links are dropped, its endpoint receives nothing more; membership
  // change for the others.
  void Kill(net::NodeId id);
  // Splits live nodes into groups that cannot talk to each other (nodes not listed are in
  // group 0 with the first group). Membership change.
  void Partition(const std::vector<std::vector<net::NodeId>>& groups);
  // Reconnects everyone. Membership change.
  void Heal();

  // Delivers one message; false if none was pending.
  bool Step();
  // Steps until no message is pending or max_steps; returns the steps taken.
  size_t RunUntilIdle(size_t max_steps);
  size_t pending() const;
  bool alive(net::NodeId id) const;
  // The node's current view.
  net::MembershipView ViewOf(net::NodeId id) const;
  // Next value of the simulation's generator.
  uint64_t Rand();
  uint64_t generation() const;

 private:
  friend class SimTransport;
  struct Msg {
    uint64_t generation;
    std::vector<uint8_t> payload;
  };
  struct Node {
    SimTransport* endpoint = nullptr;
    net::TransportHandler* handler = nullptr;
    bool alive = false;
    int group = 0;
    net::MembershipView view;
  };
  void MembershipChanged() EXCLUDES(mu_);
  net::MembershipView ComputeView(net::NodeId id) const REQUIRES(mu_);

  const int configured_;
  mutable Mutex mu_{LockRank::kNetSimScheduler, "dlm.sim"};
  std::mt19937_64 rng_ GUARDED_BY(mu_);
  uint64_t generation_ GUARDED_BY(mu_) = 0;
  std::map<net::NodeId, Node> nodes_ GUARDED_BY(mu_);
  std::map<std::pair<net::NodeId, net::NodeId>, std::deque<Msg>> links_ GUARDED_BY(mu_);
  std::vector<std::unique_ptr<SimTransport>> endpoints_ GUARDED_BY(mu_);
};

}  // namespace cohort::dlm
