// fs/xattr_block.cc: see fs/xattr_block.h.
#include "fs/xattr_block.h"

#include <cstring>

#include "common/coding.h"

namespace cohort::fs {

size_t XattrBlockBytes(const XattrMap& attrs) {
  size_t n = kXattrEntriesOffset;
  for (const auto& [k, v] : attrs) n += 3 + k.size() + v.size();
  return n;
}

std::vector<uint8_t> EncodeXattrBlock(const XattrMap& attrs, uint64_t blkno,
                                      const BlockContext& ctx) {
  std::vector<uint8_t> block = NewBlock(ctx);
  size_t pos = kXattrEntriesOffset;
  for (const auto& [k, v] : attrs) {
    block[pos] = static_cast<uint8_t>(k.size());
    EncodeFixed16(block.data() + pos + 1, static_cast<uint16_t>(v.size()));
    std::memcpy(block.data() + pos + 3, k.data(), k.size());
    if (!v.empty()) std::memcpy(block.data() + pos + 3 + k.size(), v.data(), v.size());
    pos += 3 + k.size() + v.size();
  }
  EncodeFixed32(block.data() + kHeaderSize, static_cast<uint32_t>(attrs.size()));
  EncodeFixed32(block.data() + kHeaderSize + 4, static_cast<uint32_t>(pos - kXattrEntriesOffset));
  SealBlock(block, BlockType::kXattr, blkno, ctx);
  return block;
}

Result<XattrMap> DecodeXattrBlock(std::span<const uint8_t> block, uint64_t blkno,
                                  const BlockContext& ctx) {
  COHORT_RETURN_IF_ERROR(CheckBlock(block, BlockType::kXattr, blkno, ctx));
  auto bad = [blkno](const char* what) {
    return Status::Corruption("xattr block " + std::to_string(blkno) + ": " + what);
  };
  uint32_t count = DecodeFixed32(block.data() + kHeaderSize);
  uint32_t used = DecodeFixed32(block.data() + kHeaderSize + 4);
  if (used > block.size() - kXattrEntriesOffset) return bad("used beyond the block");
  Reader r(block.data() + kXattrEntriesOffset, used);
  XattrMap attrs;
  for (uint32_t i = 0; i < count; ++i) {
    uint8_t name_len = 0;
    uint16_t value_len = 0;
    std::span<const uint8_t> name, value;
    if (!r.U8(&name_len).ok() || !r.U16(&value_len).ok() || !r.Bytes(name_len, &name).ok() ||
        !r.Bytes(value_len, &value).ok()) {
      return bad("entries do not parse");
    }
    if (name_len == 0) return bad("empty name");
    std::string key(name.begin(), name.end());
    if (!attrs.empty() && !(attrs.rbegin()->first < key)) return bad("names not sorted or repeated");
    attrs.emplace_hint(attrs.end(), std::move(key), std::vector<uint8_t>(value.begin(), value.end()));
  }
  if (!r.ExpectEnd().ok()) return bad("entries do not end at 'used'");
  for (size_t i = kXattrEntriesOffset + used; i < block.size(); ++i) {
    if (block[i] != 0) return bad("bytes past the entries are not zero");
  }
  return attrs;
}

}  // namespace cohort::fs
