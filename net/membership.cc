// net/membership.cc: see net/membership.h (docs/wire-protocol.md §7).
#include "net/membership.h"

#include <algorithm>
#include <set>

namespace cohort::net {

Membership::Membership(NodeId self, uint64_t self_incarnation,
                       std::map<NodeId, uint32_t> votes)
    : self_(self), self_incarnation_(self_incarnation), votes_(std::move(votes)) {
  for (auto& [id, v] : votes_) total_votes_ += v;
  Install(NextGeneration(), {Member{self_, self_incarnation_}});
}

void Membership::SetLive(std::vector<Member> live) {
  live_ = std::move(live);
  // §7.5: a member once seen not live has failed for this view, even if it comes back.
  for (const Member& m : members_) {
    if (m.id != self_ && !IsLive(m) && !Failed(m)) failed_.push_back(m);
  }
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

bool Membership::Failed(const Member& m) const {
  return std::find(failed_.begin(), failed_.end(), m) != failed_.end();
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
  failed_.clear();
  defer_ticks_ = 0;
  if (pending_ && pending_->second.generation <= generation_) pending_.reset();
}

bool Membership::Quorate(const std::vector<Member>& members) const {
  uint32_t votes = 0;
  for (const Member& m : members) {
    auto it = votes_.find(m.id);
    if (it != votes_.end()) votes += it->second;
  }
  return total_votes_ > 0 && 2 * votes > total_votes_;
}

const HeartbeatMsg* Membership::ReportOf(NodeId id) const {
  auto r = reports_.find(id);
  return r == reports_.end() ? nullptr : &r->second;
}

bool Membership::HasLeft(const Member& m) const {
  // §7.5: m's latest HEARTBEAT shows it in a newer view that is inquorate (its own
  // singleton, §7.3 rule 3): it has left the installed view and never returns to it.
  const HeartbeatMsg* r = ReportOf(m.id);
  return r != nullptr && r->view_generation > generation_ && !Quorate(r->view);
}

Membership::Verdict Membership::Judge(NodeId from, const ProposeMsg& p) const {
  if (p.generation <= generation_) return Verdict::kReject;
  if (from != Coordinator()) return Verdict::kReject;
  bool has_self = false;
  for (const Member& m : p.members) {
    if (m.id == self_) {
      if (m.incarnation != self_incarnation_) return Verdict::kReject;
      has_self = true;
    } else if (!IsLive(m)) {
      return Verdict::kReject;
    }
  }
  if (!has_self) return Verdict::kReject;
  // §7.5 rule M: a member of the installed view that is live to this node may be left
  // out only if it failed at the proposer (the proposer was with it in this view and no
  // longer lists it among its links) or it has left. Otherwise wait: the proposer's next
  // HEARTBEAT, or the member's, may show either; or a later proposal keeps it.
  const HeartbeatMsg* cr = ReportOf(from);
  bool from_in_view = MemberIncarnation(from) != 0;
  for (const Member& m : members_) {
    if (m.id == self_ || !IsLive(m) || Failed(m)) continue;
    if (std::find(p.members.begin(), p.members.end(), m) != p.members.end()) continue;
    // ... and only once m has reported this view (or a newer one): it then holds a view
    // with the proposer, which it has lost too, and never installs an older proposal.
    const HeartbeatMsg* mr = ReportOf(m.id);
    bool failed_at_proposer = from_in_view && cr != nullptr &&
                              !std::binary_search(cr->links.begin(), cr->links.end(), m.id) &&
                              mr != nullptr && mr->view_generation >= generation_;
    if (!failed_at_proposer && !HasLeft(m)) return Verdict::kDefer;
  }
  return Verdict::kAccept;
}

std::vector<Member> Membership::Target(bool* stale_report) const {
  *stale_report = false;  // a live peer still follows a coordinator dead to us
  auto coordinator_of = [](NodeId p, const HeartbeatMsg& r) {
    NodeId c = p;
    if (!r.links.empty()) c = std::min(c, r.links.front());
    return c;
  };
  for (const Member& p : live_) {
    const HeartbeatMsg* r = ReportOf(p.id);
    if (r == nullptr) continue;
    NodeId their_coord = coordinator_of(p.id, *r);
    if (their_coord != self_ &&
        std::none_of(live_.begin(), live_.end(),
                     [&](const Member& m) { return m.id == their_coord; })) {
      *stale_report = true;
    }
  }
  // §7.5 rule C1: every member of the installed view stays unless it failed (seen not
  // live with its incarnation since the install: dead_timeout, or restarted) or left.
  std::vector<Member> kept{Member{self_, self_incarnation_}};
  for (const Member& m : members_) {
    if (m.id != self_ && IsLive(m) && !Failed(m) && !HasLeft(m)) kept.push_back(m);
  }
  auto in = [](const std::vector<Member>& set, NodeId id) {
    return std::any_of(set.begin(), set.end(), [&](const Member& m) { return m.id == id; });
  };
  // Rule C2: newcomers, in ascending id order, each if it chose this coordinator and is
  // mutually live with everyone already in (both its links and theirs say so), and if
  // every node of its own installed view that is live to it is in too (it would refuse
  // the proposal otherwise, rule M). A newcomer that fails the last test is excluded
  // and the pass starts again without it (at most once per live peer).
  std::set<NodeId> excluded;
  std::vector<Member> target;
  for (size_t pass = 0; pass <= live_.size(); ++pass) {
    target = kept;
    for (const Member& p : live_) {
      if (in(kept, p.id) || excluded.count(p.id)) continue;
      uint64_t inc = MemberIncarnation(p.id);
      if (inc != 0 && inc != p.incarnation) continue;  // restarted: joins in the next view
      const HeartbeatMsg* r = ReportOf(p.id);
      if (r == nullptr || coordinator_of(p.id, *r) != self_) continue;
      bool clique = std::all_of(target.begin(), target.end(), [&](const Member& m) {
        if (m.id == self_) return true;
        if (!std::binary_search(r->links.begin(), r->links.end(), m.id)) return false;
        const HeartbeatMsg* mr = ReportOf(m.id);
        return mr != nullptr && std::binary_search(mr->links.begin(), mr->links.end(), p.id);
      });
      if (clique) target.push_back(p);
    }
    bool changed = false;
    for (const Member& p : target) {
      if (in(kept, p.id)) continue;
      const HeartbeatMsg* r = ReportOf(p.id);
      for (const Member& q : r->view) {
        if (q.id == p.id || !std::binary_search(r->links.begin(), r->links.end(), q.id)) {
          continue;
        }
        if (std::find(target.begin(), target.end(), q) != target.end()) continue;
        // An entry for an incarnation that has since restarted does not count: p sees
        // that member fail (§7.1) and does not demand it.
        bool restarted = q.id == self_ || std::any_of(live_.begin(), live_.end(),
                                                      [&](const Member& m) {
          return m.id == q.id && m.incarnation != q.incarnation;
        });
        if (!restarted) {
          excluded.insert(p.id);
          changed = true;
          break;
        }
      }
    }
    if (!changed) break;
    target.clear();
  }
  if (target.empty()) target = kept;
  std::sort(target.begin(), target.end(),
            [](const Member& x, const Member& y) { return x.id < y.id; });
  return target;
}

Membership::Action Membership::Evaluate(bool tick) {
  Action a;
  if (Coordinator() == self_) {
    pending_.reset();
    bool stale_report = false;
    std::vector<Member> target = Target(&stale_report);
    // A member that failed and came back (same incarnation, it never stopped) may be
    // in the target again as a newcomer: the view is still replaced, by a new
    // generation, because that member has left this one on its side (§7.5).
    bool need = target != members_ || !failed_.empty();
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
        const HeartbeatMsg* r = ReportOf(m.id);
        bool same = r != nullptr && r->view_generation == generation_;
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
  // Not the coordinator. A proposal deferred by rule M is taken as soon as it passes.
  if (pending_) {
    Verdict v = Judge(pending_->first, pending_->second);
    if (v == Verdict::kAccept) {
      ProposeMsg p = std::move(pending_->second);
      Install(p.generation, std::move(p.members));
      a.installed = true;
      return a;
    }
    if (v == Verdict::kReject) pending_.reset();
  }
  // Leave a view that holds a member that failed (§7.3 rule 3: not live, or not live at
  // some time since the install, §7.5), after giving the coordinator kMaxDeferTicks
  // ticks to propose the new view.
  if (failed_.empty()) {
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
  Verdict v = Judge(from, p);
  if (v == Verdict::kDefer) {
    if (!pending_ || pending_->second.generation < p.generation) pending_.emplace(from, p);
    return false;
  }
  if (v == Verdict::kReject) return false;
  Install(p.generation, p.members);
  return true;
}

MembershipView Membership::view() const {
  MembershipView v;
  v.generation = generation_;
  for (const Member& m : members_) v.members.push_back(m.id);
  v.quorate = Quorate(members_);
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
