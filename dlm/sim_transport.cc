// dlm/sim_transport.cc: see sim_transport.h (docs/dlm.md §16).
#include "dlm/sim_transport.h"

#include <algorithm>

namespace cohort::dlm {

void SimTransport::SetHandler(net::TransportHandler* handler) {
  MutexLock l(&net_->mu_);
  auto it = net_->nodes_.find(self_);
  if (it != net_->nodes_.end() && it->second.endpoint == this) it->second.handler = handler;
}

Status SimTransport::Send(net::NodeId to, uint64_t generation, std::vector<uint8_t> payload) {
  if (payload.size() > kMaxPayload) return Status::InvalidArgument("payload too large");
  MutexLock l(&net_->mu_);
  auto it = net_->nodes_.find(self_);
  if (it == net_->nodes_.end() || it->second.endpoint != this || !it->second.alive) {
    return Status::Unavailable("sender not alive");
  }
  const net::MembershipView& v = it->second.view;
  if (generation != v.generation) return Status::Unavailable("stale generation");
  if (!v.Contains(to)) return Status::Unavailable("not a member");
  net_->links_[{self_, to}].push_back(SimNetwork::Msg{generation, std::move(payload)});
  return Status::OK();
}

net::MembershipView SimTransport::membership() const {
  MutexLock l(&net_->mu_);
  auto it = net_->nodes_.find(self_);
  if (it == net_->nodes_.end() || it->second.endpoint != this) return {};
  return it->second.view;
}

SimNetwork::SimNetwork(uint64_t seed, int configured) : configured_(configured) {
  MutexLock l(&mu_);
  rng_.seed(seed);
}

SimNetwork::~SimNetwork() = default;

SimTransport* SimNetwork::NewEndpoint(net::NodeId id) {
  MutexLock l(&mu_);
  endpoints_.push_back(std::make_unique<SimTransport>(this, id));
  Node& n = nodes_[id];
  n.endpoint = endpoints_.back().get();
  n.handler = nullptr;
  n.alive = false;
  n.view = {};
  return n.endpoint;
}

void SimNetwork::Join(net::NodeId id) {
  {
    MutexLock l(&mu_);
    Node& n = nodes_[id];
    n.alive = true;
    n.group = 0;
  }
  MembershipChanged();
}

void SimNetwork::Kill(net::NodeId id) {
  {
    MutexLock l(&mu_);
    Node& n = nodes_[id];
    n.alive = false;
    n.handler = nullptr;
    n.view = {};
    for (auto it = links_.begin(); it != links_.end();) {
      if (it->first.first == id || it->first.second == id) {
        it = links_.erase(it);
      } else {
        ++it;
      }
    }
  }
  MembershipChanged();
}

void SimNetwork::Partition(const std::vector<std::vector<net::NodeId>>& groups) {
  {
    MutexLock l(&mu_);
    for (auto& [id, n] : nodes_) n.group = 0;
    for (size_t g = 0; g < groups.size(); ++g) {
      for (net::NodeId id : groups[g]) nodes_[id].group = static_cast<int>(g);
    }
  }
  MembershipChanged();
}

void SimNetwork::Heal() {
  {
    MutexLock l(&mu_);
    for (auto& [id, n] : nodes_) n.group = 0;
  }
  MembershipChanged();
}

net::MembershipView SimNetwork::ComputeView(net::NodeId id) const {
  net::MembershipView v;
  v.generation = generation_;
  const Node& self = nodes_.at(id);
  for (const auto& [nid, n] : nodes_) {
    if (n.alive && n.group == self.group) v.members.push_back(nid);
  }
  v.quorate = static_cast<int>(v.members.size()) * 2 > configured_;
  return v;
}

void SimNetwork::MembershipChanged() {
  std::vector<std::pair<net::TransportHandler*, net::MembershipView>> notify;
  {
    MutexLock l(&mu_);
    ++generation_;
    for (auto& [id, n] : nodes_) {
      if (!n.alive) continue;
      n.view = ComputeView(id);
      if (n.handler) notify.emplace_back(n.handler, n.view);
    }
    // Messages of older generations would be dropped at delivery; drop them now.
    links_.clear();
  }
  for (auto& [h, v] : notify) h->OnMembershipChange(v);
}

bool SimNetwork::Step() {
  net::TransportHandler* handler = nullptr;
  net::NodeId from = 0;
  Msg msg;
  {
    MutexLock l(&mu_);
    std::vector<std::pair<net::NodeId, net::NodeId>> ready;
    for (auto& [k, q] : links_) {
      if (!q.empty()) ready.push_back(k);
    }
    if (ready.empty()) return false;
    auto key = ready[rng_() % ready.size()];
    auto& q = links_[key];
    msg = std::move(q.front());
    q.pop_front();
    if (q.empty()) links_.erase(key);
    from = key.first;
    auto it = nodes_.find(key.second);
    if (it == nodes_.end() || !it->second.alive ||
        it->second.view.generation != msg.generation) {
      return true;  // dropped (contract 2)
    }
    handler = it->second.handler;
  }
  if (handler) handler->OnMessage(from, msg.generation, msg.payload);
  return true;
}

size_t SimNetwork::RunUntilIdle(size_t max_steps) {
  size_t n = 0;
  while (n < max_steps && Step()) ++n;
  return n;
}

size_t SimNetwork::pending() const {
  MutexLock l(&mu_);
  size_t n = 0;
  for (auto& [k, q] : links_) n += q.size();
  return n;
}

bool SimNetwork::alive(net::NodeId id) const {
  MutexLock l(&mu_);
  auto it = nodes_.find(id);
  return it != nodes_.end() && it->second.alive;
}

net::MembershipView SimNetwork::ViewOf(net::NodeId id) const {
  MutexLock l(&mu_);
  auto it = nodes_.find(id);
  return it == nodes_.end() ? net::MembershipView{} : it->second.view;
}

uint64_t SimNetwork::Rand() {
  MutexLock l(&mu_);
  return rng_();
}

uint64_t SimNetwork::generation() const {
  MutexLock l(&mu_);
  return generation_;
}

}  // namespace cohort::dlm
