// net/membership.cc: see net/membership.h (docs/wire-protocol.md §7).
#include "net/membership.h"

#include <algorithm>

namespace cohort::net {

Membership::Membership(NodeId self, uint64_t self_incarnation,
                       std::map<NodeId, uint32_t> votes)
    : self_(self), self_incarnation_(self_incarnation), votes_(std::move(votes)) {
  for (auto& [id, v] : votes_) total_votes_ += v;
  Install(NextGeneration(), {Member{self_, self_incarnation_}});
}

void Membership::SetLive(std::vector<Member> live) {
  live_ = std::move(live);
  for (auto it = reports_.begin(); it != reports_.end();) {
    bool keep = std::any_of(live_.begin(), live_.end(),
                            [&](const Member& m) { return m.id == it->first; });
    it = keep ? std::next(it) : reports_.erase(it);
  }
}

void Membership::SetReport(NodeId from, const HeartbeatMsg& hb) {
  NoteGeneration(hb.view_generation);
  if (!std::any_of(live_.begin(), live_.end(), [&](const Member& m) { return m.id == from; })) {
    return;
  }
  reports_[from] = hb;
}

bool Membership::IsLive(const Member& m) const {
  if (m.id == self_) return m.incarnation == self_incarnation_;
  return std::find(live_.begin(), live_.end(), m) != live_.end();
}

NodeId Membership::Coordinator() const {
  NodeId c = self_;
  if (!live_.empty()) c = std::min(c, live_.front().id);
  return c;
}

uint64_t Membership::NextGeneration() {
  ++max_counter_;
  return max_counter_ << 8 | self_;
}

void Membership::NoteGeneration(uint64_t g) {
  max_counter_ = std::max(max_counter_, CounterOf(g));
}

void Membership::Install(uint64_t generation, std::vector<Member> members) {
  NoteGeneration(generation);
  generation_ = generation;
  members_ = std::move(members);
  mismatch_ticks_.clear();
  defer_ticks_ = 0;
}

Membership::Action Membership::Evaluate(bool tick) {
  Action a;
  if (Coordinator() == self_) {
    std::vector<Member> target{Member{self_, self_incarnation_}};
    bool stale_report = false;  // a live peer still follows a coordinator dead to us
    for (const Member& p : live_) {  // ascending ids
      auto r = reports_.find(p.id);
      if (r == reports_.end()) continue;
      const std::vector<NodeId>& links = r->second.links;
      NodeId their_coord = p.id;
      if (!links.empty()) their_coord = std::min(their_coord, links.front());
      if (their_coord != self_) {
        bool coord_live = std::any_of(live_.begin(), live_.end(),
                                      [&](const Member& m) { return m.id == their_coord; });
        if (!coord_live) stale_report = true;
        continue;
      }
      bool clique = std::all_of(target.begin(), target.end(), [&](const Member& m) {
        return m.id == self_ || std::binary_search(links.begin(), links.end(), m.id);
      });
      if (clique) target.push_back(p);
    }
    std::sort(target.begin(), target.end(),
              [](const Member& x, const Member& y) { return x.id < y.id; });
    // A member that came back with a new incarnation (it restarted) leaves the view
    // first and joins in the next one, so the layer above always sees a restart as a
    // leave and a join: its old locks and messages belong to a process that is gone.
    std::erase_if(target, [&](const Member& m) {
      uint64_t inc = MemberIncarnation(m.id);
      return inc != 0 && inc != m.incarnation;
    });
    bool need = target != members_;
    if (!(need && stale_report)) defer_ticks_ = 0;
    if (need && stale_report && defer_ticks_ < kMaxDeferTicks) {
      // §7.3 rule 1: a peer has not yet noticed the death we noticed; its next
      // HEARTBEAT (or a few ticks) settles it, and we avoid a transient smaller view.
      if (tick) ++defer_ticks_;
      return a;
    }
    if (!need && tick) {
      for (const Member& m : members_) {
        if (m.id == self_) continue;
        auto r = reports_.find(m.id);
        bool same = r != reports_.end() && r->second.view_generation == generation_;
        int& t = mismatch_ticks_[m.id];
        t = same ? 0 : t + 1;
        if (t > 2) need = true;
      }
    }
    if (need) {
      Install(NextGeneration(), target);
      a.installed = true;
      if (members_.size() > 1) a.propose = ProposeMsg{generation_, members_};
    }
    return a;
  }
  // Not the coordinator: leave a view that holds a member that is not live (§7.3 rule
  // 3), after giving the coordinator kMaxDeferTicks ticks to propose the new view.
  bool dead_member = std::any_of(members_.begin(), members_.end(),
                                 [&](const Member& m) { return !IsLive(m); });
  if (!dead_member) {
    defer_ticks_ = 0;
    return a;
  }
  if (defer_ticks_ < kMaxDeferTicks) {
    if (tick) ++defer_ticks_;
    return a;
  }
  Install(NextGeneration(), {Member{self_, self_incarnation_}});
  a.installed = true;
  return a;
}

bool Membership::OnPropose(NodeId from, const ProposeMsg& p) {
  NoteGeneration(p.generation);
  if (p.generation <= generation_) return false;
  if (from != Coordinator()) return false;
  bool has_self = false;
  for (const Member& m : p.members) {
    if (m.id == self_) {
      if (m.incarnation != self_incarnation_) return false;
      has_self = true;
    } else if (!IsLive(m)) {
      return false;
    }
  }
  if (!has_self) return false;
  Install(p.generation, p.members);
  return true;
}

MembershipView Membership::view() const {
  MembershipView v;
  v.generation = generation_;
  uint32_t votes = 0;
  for (const Member& m : members_) {
    v.members.push_back(m.id);
    auto it = votes_.find(m.id);
    if (it != votes_.end()) votes += it->second;
  }
  v.quorate = total_votes_ > 0 && 2 * votes > total_votes_;
  return v;
}

std::vector<NodeId> Membership::LinkIds() const {
  std::vector<NodeId> ids;
  for (const Member& m : live_) ids.push_back(m.id);
  return ids;
}

uint64_t Membership::MemberIncarnation(NodeId id) const {
  for (const Member& m : members_) {
    if (m.id == id) return m.incarnation;
  }
  return 0;
}

std::string Membership::DebugString() const {
  std::string s = view().ToString() + " live {";
  for (size_t i = 0; i < live_.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(live_[i].id);
  }
  return s + "} coordinator " + std::to_string(Coordinator());
}

}  // namespace cohort::net
