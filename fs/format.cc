// fs/format.cc: docs/ondisk-format.md §1 (block header, crc, features).
#include "fs/format.h"

#include <cstdio>
#include <cstring>

#include "common/coding.h"
#include "common/crc32c.h"

namespace cohort::fs {

bool IsValidBlockSize(uint32_t bs) {
  return bs >= kMinBlockSize && bs <= kMaxBlockSize && (bs & (bs - 1)) == 0;
}

std::string BlockTypeName(uint16_t type) {
  switch (static_cast<BlockType>(type)) {
    case BlockType::kSuperblock:
      return "superblock";
    case BlockType::kGroupTable:
      return "group-table";
    case BlockType::kGroupHeader:
      return "group-header";
    case BlockType::kBitmap:
      return "bitmap";
    case BlockType::kHeartbeat:
      return "heartbeat";
    case BlockType::kJournalIndex:
      return "journal-index";
    case BlockType::kJournalHeader:
      return "journal-header";
    case BlockType::kJournalDescriptor:
      return "journal-descriptor";
    case BlockType::kJournalCommit:
      return "journal-commit";
    case BlockType::kInode:
      return "inode";
    case BlockType::kExtentNode:
      return "extent-node";
    case BlockType::kDirLeaf:
      return "dir-leaf";
    case BlockType::kStatfs:
      return "statfs";
    case BlockType::kNodeBlock:
      return "node-block";
    case BlockType::kDirTable:
      return "dir-table";
    case BlockType::kXattr:
      return "xattr";
  }
  return "unknown(" + std::to_string(type) + ")";
}

Result<MountMode> CheckFeatures(uint64_t compat, uint64_t ro_compat, uint64_t incompat,
                                uint64_t known_ro_compat, uint64_t known_incompat) {
  (void)compat;  // unknown compat bits are harmless by definition (§1.5)
  if (uint64_t unknown = incompat & ~known_incompat; unknown != 0) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "unknown incompat features 0x%llx: refusing",
                  static_cast<unsigned long long>(unknown));
    return Status::NotSupported(buf);
  }
  if ((ro_compat & ~known_ro_compat) != 0) return MountMode::kReadOnly;
  return MountMode::kReadWrite;
}

uint32_t BlockCrc(std::span<const uint8_t> block) {
  static constexpr uint8_t kZero[4] = {0, 0, 0, 0};
  uint32_t crc = crc32c::Extend(0, block.data(), kCrcOffset);
  crc = crc32c::Extend(crc, kZero, 4);
  return crc32c::Extend(crc, block.data() + kCrcOffset + 4, block.size() - kCrcOffset - 4);
}

void SealBlock(std::span<uint8_t> block, BlockType type, uint64_t blkno, const BlockContext& ctx) {
  uint8_t* p = block.data();
  EncodeFixed32(p + 0, kMetaMagic);
  EncodeFixed16(p + 4, static_cast<uint16_t>(type));
  EncodeFixed16(p + 6, kHeaderVersion);
  EncodeFixed64(p + 8, blkno);
  EncodeFixed64(p + 16, ctx.fs_stamp);
  EncodeFixed32(p + 28, 0);
  EncodeFixed32(p + kCrcOffset, BlockCrc(block));
}

Result<BlockHeader> PeekHeader(std::span<const uint8_t> block) {
  if (block.size() < kHeaderSize) return Status::Corruption("block shorter than header");
  BlockHeader h;
  const uint8_t* p = block.data();
  h.magic = DecodeFixed32(p);
  h.type = DecodeFixed16(p + 4);
  h.version = DecodeFixed16(p + 6);
  h.blkno = DecodeFixed64(p + 8);
  h.fs_stamp = DecodeFixed64(p + 16);
  h.crc = DecodeFixed32(p + kCrcOffset);
  return h;
}

Status CheckBlock(std::span<const uint8_t> block, BlockType type, uint64_t blkno,
                  const BlockContext& ctx) {
  const std::string what =
      BlockTypeName(static_cast<uint16_t>(type)) + " block " + std::to_string(blkno) + ": ";
  if (block.size() != ctx.block_size) {
    return Status::Corruption(what + "buffer of " + std::to_string(block.size()) +
                              " bytes, block size " + std::to_string(ctx.block_size));
  }
  COHORT_ASSIGN_OR_RETURN(BlockHeader h, PeekHeader(block));
  if (h.magic != kMetaMagic) return Status::Corruption(what + "bad magic");
  if (h.version != kHeaderVersion) {
    return Status::Corruption(what + "unknown header version " + std::to_string(h.version));
  }
  if (h.type != static_cast<uint16_t>(type)) {
    return Status::Corruption(what + "type is " + BlockTypeName(h.type));
  }
  if (h.blkno != blkno) {
    return Status::Corruption(what + "records block number " + std::to_string(h.blkno) +
                              " (misdirected write)");
  }
  if (h.fs_stamp != ctx.fs_stamp) {
    return Status::Corruption(what + "fs_stamp mismatch (block of another filesystem)");
  }
  uint32_t want = BlockCrc(block);
  if (h.crc != want) {
    char buf[80];
    std::snprintf(buf, sizeof buf, "checksum mismatch (stored %08x, computed %08x)", h.crc, want);
    return Status::Corruption(what + buf);
  }
  if (DecodeFixed32(block.data() + 28) != 0) {
    return Status::Corruption(what + "reserved header field not zero");
  }
  return Status::OK();
}

void EncodeFixedString(uint8_t* dst, size_t field_size, std::string_view s) {
  std::memset(dst, 0, field_size);
  if (!s.empty()) std::memcpy(dst, s.data(), std::min(s.size(), field_size));
}

Result<std::string> DecodeFixedString(const uint8_t* src, size_t field_size) {
  size_t n = 0;
  while (n < field_size && src[n] != 0) ++n;
  for (size_t i = n; i < field_size; ++i) {
    if (src[i] != 0) return Status::Corruption("string field has bytes after its NUL");
  }
  return std::string(reinterpret_cast<const char*>(src), n);
}

bool AllZeroFrom(std::span<const uint8_t> bytes, size_t from) {
  if (from >= bytes.size()) return true;
  const uint8_t* p = bytes.data() + from;
  const size_t n = bytes.size() - from;
  uint64_t acc = 0;
  size_t i = 0;
  for (; i + sizeof(uint64_t) <= n; i += sizeof(uint64_t)) {
    uint64_t w;
    std::memcpy(&w, p + i, sizeof w);
    acc |= w;
  }
  for (; i < n; ++i) acc |= p[i];
  return acc == 0;
}

uint64_t FsStampFromUuid(const uint8_t uuid[16]) { return DecodeFixed64(uuid); }

std::string UuidToString(const uint8_t uuid[16]) {
  std::string s;
  char buf[4];
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
    std::snprintf(buf, sizeof buf, "%02x", uuid[i]);
    s += buf;
  }
  return s;
}

}  // namespace cohort::fs
