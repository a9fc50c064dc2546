// tests/fuzz/fuzz_frame.cc: libFuzzer target for the frame decoder
// (docs/wire-protocol.md §2.2): the input is a byte stream read as consecutive frames,
// exactly as a connection reads it. Properties: no crash, no out-of-bounds read, no
// allocation driven by an unchecked length; a frame that verifies re-encodes to the
// same bytes.
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "net/auth.h"
#include "net/frame.h"

using namespace cohort::net;  // NOLINT

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<uint8_t> kKey(32, 0x42);
  static const MacKey key(kKey);
  std::span<const uint8_t> in(data, size);
  uint64_t counter = 0;
  for (int frames = 0; frames < 64 && in.size() >= kHeaderBytes; ++frames) {
    cohort::Result<FrameHeader> h = DecodeHeader(in);
    if (!h.ok()) return 0;
    if (in.size() - kHeaderBytes < h->length) return 0;  // truncated: connection closes
    std::span<const uint8_t> payload = in.subspan(kHeaderBytes, h->length);
    MacInput mi{&key, !IsHandshakeType(h->type), counter};
    if (VerifyFrame(*h, in.first(kHeaderBytes), payload, mi).ok()) {
      std::vector<uint8_t> again;
      EncodeFrame(*h, payload, mi, &again);
      if (!std::equal(again.begin(), again.end(), in.begin())) std::abort();
      ++counter;
    }
    in = in.subspan(kHeaderBytes + h->length);
  }
  return 0;
}
