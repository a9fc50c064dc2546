// fs/xattr_block.h: the extended attribute block of docs/ondisk-format.md §6.5 (type 16):
// every attribute of one inode, sorted by name.
//
// Thread safety: values and pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "fs/format.h"

namespace cohort::fs {

// name (with its namespace prefix) -> value; std::map keeps them sorted by name.
using XattrMap = std::map<std::string, std::vector<uint8_t>>;

inline constexpr size_t kXattrEntriesOffset = kHeaderSize + 8;  // header, count, used
inline constexpr size_t kMaxXattrNameLen = 255;
inline constexpr size_t kMaxXattrValueLen = 65535;

// Bytes the block needs (header and fields included); more than the block size means
// the attributes do not fit (ENOSPC).
size_t XattrBlockBytes(const XattrMap& attrs);

// REQUIRES: XattrBlockBytes(attrs) <= ctx.block_size, every name 1..255 bytes, every
// value at most 65535 bytes.
std::vector<uint8_t> EncodeXattrBlock(const XattrMap& attrs, uint64_t blkno,
                                      const BlockContext& ctx);
// Corruption on any broken invariant of §6.5.
Result<XattrMap> DecodeXattrBlock(std::span<const uint8_t> block, uint64_t blkno,
                                  const BlockContext& ctx);

}  // namespace cohort::fs
