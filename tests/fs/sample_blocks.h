// tests/fs/sample_blocks.h: one fixed instance of every on-disk structure of
// docs/ondisk-format.md, with its decoder, for the golden-bytes and byte-flip tests.
#pragma once

#include <functional>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "fs/format.h"

namespace cohort::fs::testing {

struct SampleBlock {
  std::string name;  // golden file stem: tests/fs/golden/<name>.hex
  uint64_t blkno = 0;
  std::vector<uint8_t> bytes;  // the encoded block
  // Decodes `block` read from blkno, re-encodes the result and returns the bytes, or the
  // decoder's Status.
  std::function<Result<std::vector<uint8_t>>(std::span<const uint8_t>)> decode_reencode;
};

// The filesystem every sample belongs to (block size 4096, fixed uuid).
BlockContext SampleContext();
std::vector<SampleBlock> SampleBlocks();

}  // namespace cohort::fs::testing
