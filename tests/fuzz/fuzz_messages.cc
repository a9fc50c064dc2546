// tests/fuzz/fuzz_messages.cc: libFuzzer target for the handshake and control payload
// decoders (docs/wire-protocol.md §4): HELLO, CHALLENGE, RESPONSE, HEARTBEAT, PROPOSE.
// The first byte picks the decoder. Properties: no crash; whatever decodes re-encodes to
// exactly the input (the encodings are canonical).
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "net/frame.h"

using namespace cohort::net;  // NOLINT

namespace {

template <typename Msg, typename Dec, typename Enc>
void Check(std::span<const uint8_t> p, Dec dec, Enc enc) {
  cohort::Result<Msg> m = dec(p);
  if (!m.ok()) return;
  std::vector<uint8_t> again = enc(*m);
  if (again.size() != p.size() || !std::equal(again.begin(), again.end(), p.begin())) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::span<const uint8_t> p(data + 1, size - 1);
  switch (data[0] % 5) {
    case 0: Check<HelloMsg>(p, DecodeHello, EncodeHello); break;
    case 1: Check<ChallengeMsg>(p, DecodeChallenge, EncodeChallenge); break;
    case 2: Check<ResponseMsg>(p, DecodeResponse, EncodeResponse); break;
    case 3: Check<HeartbeatMsg>(p, DecodeHeartbeat, EncodeHeartbeat); break;
    case 4: Check<ProposeMsg>(p, DecodePropose, EncodePropose); break;
  }
  return 0;
}
