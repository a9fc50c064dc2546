// fs/format.h: global rules of the on-disk format (docs/ondisk-format.md §1, §2): byte
// order, block sizes, the 32-byte metadata block header, block types, feature masks.
//
// Every metadata block is sealed with SealBlock() after its fields are encoded and is
// checked with CheckBlock() before any field is decoded, so that a decoder never looks
// at the fields of a block whose magic, type, self block number, fs_stamp or crc32c is
// wrong.
//
// Thread safety: pure functions and constants.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace cohort::fs {

// §1.3
inline constexpr uint32_t kMetaMagic = 0x54524843;  // "CHRT"
inline constexpr uint16_t kHeaderVersion = 1;
inline constexpr uint32_t kFormatVersion = 1;
inline constexpr size_t kHeaderSize = 32;
inline constexpr size_t kCrcOffset = 24;

// §1.2, §2
inline constexpr uint32_t kMinBlockSize = 4096;
inline constexpr uint32_t kMaxBlockSize = 65536;
inline constexpr uint32_t kDefaultBlockSize = 4096;
inline constexpr uint64_t kSuperblockOffset = 65536;
inline constexpr uint32_t kMaxNodes = 128;

// True if `bs` is an allowed block size (§1.2).
bool IsValidBlockSize(uint32_t bs);
// Block number of the primary superblock for block size `bs`.
inline uint64_t PrimarySuperblockBlock(uint32_t bs) { return kSuperblockOffset / bs; }

// §1.6. DO NOT CHANGE the values; retired values are never reused.
enum class BlockType : uint16_t {
  kSuperblock = 1,
  kGroupTable = 2,
  kGroupHeader = 3,
  kBitmap = 4,
  kHeartbeat = 5,
  kJournalIndex = 6,
  kJournalHeader = 7,
  kJournalDescriptor = 8,
  kJournalCommit = 9,
  kInode = 10,
  kExtentNode = 11,
  kDirLeaf = 12,
  kStatfs = 13,
  kNodeBlock = 14,
  kDirTable = 15,
  kXattr = 16,
};
// "superblock", "inode", ... or "unknown(N)".
std::string BlockTypeName(uint16_t type);

// §1.5 feature masks.
inline constexpr uint64_t kIncompatLazyGroups = 1ull << 0;
inline constexpr uint64_t kKnownCompat = 0;
inline constexpr uint64_t kKnownRoCompat = 0;
inline constexpr uint64_t kKnownIncompat = kIncompatLazyGroups;

enum class MountMode { kReadWrite, kReadOnly };
// The feature decision of §1.5: NotSupported if an incompat bit is unknown (naming the
// bits), kReadOnly if a ro_compat bit is unknown, else kReadWrite. `known_*` default to
// this build's masks; tests pass others.
Result<MountMode> CheckFeatures(uint64_t compat, uint64_t ro_compat, uint64_t incompat,
                                uint64_t known_ro_compat = kKnownRoCompat,
                                uint64_t known_incompat = kKnownIncompat);

// What every decoder needs to check a block's header (§1.3).
struct BlockContext {
  uint32_t block_size = kDefaultBlockSize;
  uint64_t fs_stamp = 0;
};

// The decoded header of a metadata block.
struct BlockHeader {
  uint32_t magic = 0;
  uint16_t type = 0;
  uint16_t version = 0;
  uint64_t blkno = 0;
  uint64_t fs_stamp = 0;
  uint32_t crc = 0;
};

// The crc32c of `block` with its crc field taken as zero (§1.4).
// REQUIRES: block.size() >= kHeaderSize.
uint32_t BlockCrc(std::span<const uint8_t> block);

// Writes the header (magic, type, version, blkno, fs_stamp) and then the crc into
// `block`, whose fields past the header the caller has already encoded.
// REQUIRES: block.size() == ctx.block_size.
void SealBlock(std::span<uint8_t> block, BlockType type, uint64_t blkno, const BlockContext& ctx);

// Reads the header without checking anything but the length (for inspect).
Result<BlockHeader> PeekHeader(std::span<const uint8_t> block);

// Checks every header invariant of §1.3 for a block read from `blkno` that should be
// of type `type`: size, magic, version, type, self block number, fs_stamp, crc.
// Corruption with a message naming the first failed check.
Status CheckBlock(std::span<const uint8_t> block, BlockType type, uint64_t blkno,
                  const BlockContext& ctx);

// One encoded block and where it belongs (the unit of journal transactions).
struct MetaBlock {
  uint64_t blkno = 0;
  std::vector<uint8_t> data;
};

// A zeroed block buffer of ctx.block_size bytes.
inline std::vector<uint8_t> NewBlock(const BlockContext& ctx) {
  return std::vector<uint8_t>(ctx.block_size, 0);
}

// Fixed-size NUL-padded string fields (§1.1).
void EncodeFixedString(uint8_t* dst, size_t field_size, std::string_view s);
// Corruption if a NUL is followed by a non-NUL byte.
Result<std::string> DecodeFixedString(const uint8_t* src, size_t field_size);

// True if every byte of `bytes` from offset `from` on is zero (true if from >= size): the
// "bytes past the entries are zero" invariants. A word at a time with no early exit, so
// the compiler vectorizes it: decoders run it on every extent node a read looks up.
bool AllZeroFrom(std::span<const uint8_t> bytes, size_t from);

// The first 8 bytes of a uuid as u64 LE (§1.3 fs_stamp).
uint64_t FsStampFromUuid(const uint8_t uuid[16]);

// "0123abcd-...." rendering of a uuid.
std::string UuidToString(const uint8_t uuid[16]);

}  // namespace cohort::fs
