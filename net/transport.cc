// net/transport.cc: the small helpers of net/transport.h.
#include "net/transport.h"

#include <algorithm>

namespace cohort::net {

bool MembershipView::Contains(NodeId n) const {
  return std::binary_search(members.begin(), members.end(), n);
}

std::string MembershipView::ToString() const {
  std::string s = "gen " + std::to_string(generation) + " {";
  for (size_t i = 0; i < members.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(members[i]);
  }
  s += quorate ? "} quorate" : "} inquorate";
  return s;
}

}  // namespace cohort::net
