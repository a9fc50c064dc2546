// net/asio.h: the one way Cohort includes Boost.Asio (DESIGN.md §1: only net/ does).
//
// Boost 1.74's Asio uses std::exchange without including <utility>, which g++ 12 in
// C++20 mode no longer provides transitively; including <utility> first fixes it.
// PRIVATE header: include it only from net/*.cc (never from a header that dlm/ or fs/
// may include), so that no other layer compiles Asio.
#pragma once

#include <utility>

#include <boost/asio.hpp>

namespace cohort::net {
namespace asio = boost::asio;
}  // namespace cohort::net
