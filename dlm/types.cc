// dlm/types.cc: the compatibility and LVB matrices (docs/dlm.md §2, §3).
#include "dlm/types.h"

namespace cohort::dlm {

namespace {
// docs/dlm.md §2, rows/cols NL CR CW PR PW EX.
constexpr bool kCompat[kNumModes][kNumModes] = {
    {1, 1, 1, 1, 1, 1},  // NL
    {1, 1, 1, 1, 1, 0},  // CR
    {1, 1, 1, 0, 0, 0},  // CW
    {1, 1, 0, 1, 0, 0},  // PR
    {1, 1, 0, 0, 0, 0},  // PW
    {1, 0, 0, 0, 0, 0},  // EX
};
// docs/dlm.md §3: rows "new request", NL..EX; cols NL..EX. r=1, w=2, -=0.
constexpr uint8_t kLvbOps[kNumModes + 1][kNumModes] = {
    {1, 1, 1, 1, 1, 1},  // -- (new request)
    {1, 1, 1, 1, 1, 1},  // NL
    {0, 1, 1, 1, 1, 1},  // CR
    {0, 0, 1, 1, 1, 1},  // CW
    {0, 0, 0, 1, 1, 1},  // PR
    {2, 2, 2, 2, 2, 1},  // PW
    {2, 2, 2, 2, 2, 2},  // EX
};
}  // namespace

const char* ModeName(LockMode m) {
  switch (m) {
    case LockMode::kNL: return "NL";
    case LockMode::kCR: return "CR";
    case LockMode::kCW: return "CW";
    case LockMode::kPR: return "PR";
    case LockMode::kPW: return "PW";
    case LockMode::kEX: return "EX";
    case LockMode::kNone: return "--";
  }
  return "??";
}

bool ModesCompatible(LockMode a, LockMode b) {
  if (!IsValidMode(a) || !IsValidMode(b)) return true;
  return kCompat[static_cast<int>(a)][static_cast<int>(b)];
}

LvbOp LvbOperation(LockMode from, LockMode to) {
  if (!IsValidMode(to)) return LvbOp::kNone;
  int row = IsValidMode(from) ? static_cast<int>(from) + 1 : 0;
  switch (kLvbOps[row][static_cast<int>(to)]) {
    case 1: return LvbOp::kRead;
    case 2: return LvbOp::kWrite;
    default: return LvbOp::kNone;
  }
}

}  // namespace cohort::dlm
