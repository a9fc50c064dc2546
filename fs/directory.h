// fs/directory.h: directory entries, inline directories and hashed-directory leaves
// (docs/ondisk-format.md §7).
//
// A small directory keeps its entries inline in the inode's content area (§7.1). When
// an insert no longer fits (NoSpace), the filesystem converts it to a hashed directory
// (§7.2): a table of 2^dir_depth leaf pointers stored as the directory's data through
// its extent tree, and DirLeaf blocks holding the entries. Lookup costs one table block
// and one or two leaves whatever the directory's size.
//
// Thread safety: values and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "fs/format.h"

namespace cohort::fs {

inline constexpr size_t kDirEntryHeaderSize = 14;
inline constexpr size_t kMaxNameLen = 255;
inline constexpr size_t kLeafHeaderSize = 56;

// §7.1 DirentType. DO NOT CHANGE.
enum class DirentType : uint8_t {
  kUnknown = 0,
  kFile = 1,
  kDir = 2,
  kSymlink = 3,
  kChr = 4,
  kBlk = 5,
  kFifo = 6,
  kSock = 7,
};

struct DirEntry {
  uint64_t inode = 0;
  DirentType type = DirentType::kUnknown;
  std::string name;
  bool operator==(const DirEntry&) const = default;
};

// The name hash of §7 (crc32c of the name bytes). DO NOT CHANGE.
uint32_t NameHash(std::string_view name);
// InvalidArgument unless 1..255 bytes, no '/' or NUL, not "." or ".."
// (NameTooLong if longer than 255).
Status ValidateName(std::string_view name);
inline size_t DirEntrySize(const DirEntry& e) { return kDirEntryHeaderSize + e.name.size(); }

// Appends the packed encoding of `e`. REQUIRES: ValidateName(e.name).ok().
void AppendDirEntry(std::vector<uint8_t>* out, const DirEntry& e);
// Parses packed entries filling exactly `bytes`; Corruption on a short entry, a bad
// name, a wrong hash, inode 0, unknown type or a duplicate name.
Result<std::vector<DirEntry>> DecodeDirEntries(std::span<const uint8_t> bytes);

// Operations on packed inline entries (an Inode's content of kind kInlineDir). `content`
// holds exactly the used bytes. Insert returns NoSpace if the result would exceed
// `capacity` bytes, Exists if the name is there; Remove returns NotFound.
Result<DirEntry> InlineDirLookup(std::span<const uint8_t> content, std::string_view name);
Status InlineDirInsert(std::vector<uint8_t>* content, size_t capacity, const DirEntry& e);
Status InlineDirRemove(std::vector<uint8_t>* content, std::string_view name);

// §7.2 leaf block.
struct DirLeaf {
  uint16_t depth = 0;
  uint64_t next = 0;
  uint64_t dir_inode = 0;
  std::vector<DirEntry> entries;

  size_t UsedBytes() const;
  // Bytes of entries that fit in one leaf of block size bs.
  static size_t Capacity(uint32_t bs) { return bs - kLeafHeaderSize; }
  // Lookup/Insert/Remove as for inline dirs; Insert returns NoSpace when full.
  std::optional<DirEntry> Lookup(std::string_view name) const;
  Status Insert(const DirEntry& e, uint32_t bs);
  Status Remove(std::string_view name);

  std::vector<uint8_t> Encode(uint64_t blkno, const BlockContext& ctx) const;
  bool operator==(const DirLeaf&) const = default;
};
// Decodes a leaf; Corruption also if its entries do not share one `depth`-bit hash
// prefix, depth > 32, or the counts disagree.
Result<DirLeaf> DecodeDirLeaf(std::span<const uint8_t> block, uint64_t blkno,
                              const BlockContext& ctx);

// Removes `name` from the leaf block `block` (blkno, of directory dir_ino) in place: the
// entries after it move down, the freed tail is zeroed and the block is resealed, without
// decoding every entry (unlink's hot path). Checks the block first (CheckBlock, the
// header, each entry's framing, inode and type, the count and used bytes; Corruption
// otherwise). NotFound if the name is not in this leaf; *next is set to the leaf's next
// pointer in every non-error case.
Status DirLeafRemoveInPlace(std::span<uint8_t> block, uint64_t blkno, const BlockContext& ctx,
                            uint64_t dir_ino, std::string_view name, uint64_t* next);

// The table index for hash h in a table of 2^dir_depth entries (§7.2).
inline uint64_t HashTableIndex(uint32_t h, uint16_t dir_depth) {
  return dir_depth == 0 ? 0 : (h >> (32 - dir_depth));
}

}  // namespace cohort::fs
