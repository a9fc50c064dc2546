// fs/directory.cc: docs/ondisk-format.md §7.
#include "fs/directory.h"

#include <algorithm>
#include <cstring>
#include <set>

#include "common/coding.h"
#include "common/crc32c.h"

namespace cohort::fs {

uint32_t NameHash(std::string_view name) { return crc32c::Value(name.data(), name.size()); }

Status ValidateName(std::string_view name) {
  if (name.empty()) return Status::InvalidArgument("empty name");
  if (name.size() > kMaxNameLen) return Status::NameTooLong("name longer than 255 bytes");
  if (name == "." || name == "..") return Status::InvalidArgument("'.' and '..' are implied");
  if (name.find('/') != std::string_view::npos || name.find('\0') != std::string_view::npos) {
    return Status::InvalidArgument("name contains '/' or NUL");
  }
  return Status::OK();
}

void AppendDirEntry(std::vector<uint8_t>* out, const DirEntry& e) {
  Writer w(out);
  w.U64(e.inode);
  w.U32(NameHash(e.name));
  w.U8(static_cast<uint8_t>(e.type));
  w.U8(static_cast<uint8_t>(e.name.size()));
  w.Bytes(e.name);
}

Result<std::vector<DirEntry>> DecodeDirEntries(std::span<const uint8_t> bytes) {
  std::vector<DirEntry> out;
  Reader r(bytes);
  while (r.remaining() > 0) {
    DirEntry e;
    uint32_t hash = 0;
    uint8_t type = 0, len = 0;
    COHORT_RETURN_IF_ERROR(r.U64(&e.inode));
    COHORT_RETURN_IF_ERROR(r.U32(&hash));
    COHORT_RETURN_IF_ERROR(r.U8(&type));
    COHORT_RETURN_IF_ERROR(r.U8(&len));
    std::span<const uint8_t> name;
    COHORT_RETURN_IF_ERROR(r.Bytes(len, &name));
    e.name.assign(reinterpret_cast<const char*>(name.data()), name.size());
    if (e.inode == 0) return Status::Corruption("directory entry with inode 0");
    if (type > static_cast<uint8_t>(DirentType::kSock)) {
      return Status::Corruption("directory entry with unknown type");
    }
    e.type = static_cast<DirentType>(type);
    if (!ValidateName(e.name).ok()) return Status::Corruption("directory entry: bad name");
    if (hash != NameHash(e.name)) return Status::Corruption("directory entry: wrong hash");
    out.push_back(std::move(e));
  }
  if (out.size() > 1) {
    std::vector<std::string_view> sorted;
    sorted.reserve(out.size());
    for (const DirEntry& e : out) sorted.push_back(e.name);
    std::sort(sorted.begin(), sorted.end());
    if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) {
      return Status::Corruption("duplicate directory entry");
    }
  }
  return out;
}

namespace {
// Byte offset and size of `name` in packed entries, if present. REQUIRES: valid bytes.
std::optional<std::pair<size_t, size_t>> FindPacked(std::span<const uint8_t> c,
                                                    std::string_view name) {
  size_t pos = 0;
  while (pos + kDirEntryHeaderSize <= c.size()) {
    size_t len = c[pos + 13];
    if (pos + kDirEntryHeaderSize + len > c.size()) break;
    std::string_view n(reinterpret_cast<const char*>(c.data() + pos + kDirEntryHeaderSize), len);
    if (n == name) return std::make_pair(pos, kDirEntryHeaderSize + len);
    pos += kDirEntryHeaderSize + len;
  }
  return std::nullopt;
}
}  // namespace

Result<DirEntry> InlineDirLookup(std::span<const uint8_t> content, std::string_view name) {
  auto at = FindPacked(content, name);
  if (!at) return Status::NotFound(std::string(name));
  COHORT_ASSIGN_OR_RETURN(auto v, DecodeDirEntries(content.subspan(at->first, at->second)));
  return v.front();
}

Status InlineDirInsert(std::vector<uint8_t>* content, size_t capacity, const DirEntry& e) {
  COHORT_RETURN_IF_ERROR(ValidateName(e.name));
  if (e.inode == 0) return Status::InvalidArgument("entry with inode 0");
  if (FindPacked(*content, e.name)) return Status::Exists(e.name);
  if (content->size() + DirEntrySize(e) > capacity) return Status::NoSpace("inline dir full");
  AppendDirEntry(content, e);
  return Status::OK();
}

Status InlineDirRemove(std::vector<uint8_t>* content, std::string_view name) {
  auto at = FindPacked(*content, name);
  if (!at) return Status::NotFound(std::string(name));
  content->erase(content->begin() + static_cast<ptrdiff_t>(at->first),
                 content->begin() + static_cast<ptrdiff_t>(at->first + at->second));
  return Status::OK();
}

size_t DirLeaf::UsedBytes() const {
  size_t n = 0;
  for (const DirEntry& e : entries) n += DirEntrySize(e);
  return n;
}

std::optional<DirEntry> DirLeaf::Lookup(std::string_view name) const {
  for (const DirEntry& e : entries) {
    if (e.name == name) return e;
  }
  return std::nullopt;
}

Status DirLeaf::Insert(const DirEntry& e, uint32_t bs) {
  COHORT_RETURN_IF_ERROR(ValidateName(e.name));
  if (e.inode == 0) return Status::InvalidArgument("entry with inode 0");
  if (Lookup(e.name)) return Status::Exists(e.name);
  if (entries.size() >= UINT16_MAX || UsedBytes() + DirEntrySize(e) > Capacity(bs)) {
    return Status::NoSpace("leaf full");
  }
  entries.push_back(e);
  return Status::OK();
}

Status DirLeaf::Remove(std::string_view name) {
  auto it = std::find_if(entries.begin(), entries.end(),
                         [&](const DirEntry& e) { return e.name == name; });
  if (it == entries.end()) return Status::NotFound(std::string(name));
  entries.erase(it);
  return Status::OK();
}

std::vector<uint8_t> DirLeaf::Encode(uint64_t blkno, const BlockContext& ctx) const {
  std::vector<uint8_t> packed;
  for (const DirEntry& e : entries) AppendDirEntry(&packed, e);
  std::vector<uint8_t> b = NewBlock(ctx);
  uint8_t* p = b.data();
  EncodeFixed16(p + 32, depth);
  EncodeFixed16(p + 34, static_cast<uint16_t>(entries.size()));
  EncodeFixed32(p + 36, static_cast<uint32_t>(packed.size()));
  EncodeFixed64(p + 40, next);
  EncodeFixed64(p + 48, dir_inode);
  if (!packed.empty()) {
    std::memcpy(p + kLeafHeaderSize, packed.data(),
                std::min(packed.size(), b.size() - kLeafHeaderSize));
  }
  SealBlock(b, BlockType::kDirLeaf, blkno, ctx);
  return b;
}

Status DirLeafRemoveInPlace(std::span<uint8_t> block, uint64_t blkno, const BlockContext& ctx,
                            uint64_t dir_ino, std::string_view name, uint64_t* next) {
  COHORT_RETURN_IF_ERROR(CheckBlock(block, BlockType::kDirLeaf, blkno, ctx));
  uint8_t* p = block.data();
  const uint16_t depth = DecodeFixed16(p + 32);
  const uint16_t count = DecodeFixed16(p + 34);
  const uint32_t used = DecodeFixed32(p + 36);
  const uint64_t nxt = DecodeFixed64(p + 40);
  const uint64_t owner = DecodeFixed64(p + 48);
  auto corrupt = [&](const char* why) {
    return Status::Corruption("dir leaf " + std::to_string(blkno) + ": " + why);
  };
  if (depth > 32) return corrupt("depth > 32");
  if (used > block.size() - kLeafHeaderSize) return corrupt("used too large");
  if (owner == 0 || nxt == blkno) return corrupt("bad links");
  if (owner != dir_ino) return Status::Corruption("dir leaf of another directory");
  uint8_t* entries = p + kLeafHeaderSize;
  size_t pos = 0, found_at = 0, found_size = 0;
  uint32_t seen = 0;
  bool found = false;
  while (pos < used) {
    if (pos + kDirEntryHeaderSize > used) return corrupt("truncated entry");
    const size_t len = entries[pos + 13];
    if (len == 0 || pos + kDirEntryHeaderSize + len > used) return corrupt("bad entry length");
    if (DecodeFixed64(entries + pos) == 0) return corrupt("directory entry with inode 0");
    if (entries[pos + 12] > static_cast<uint8_t>(DirentType::kSock)) {
      return corrupt("directory entry with unknown type");
    }
    std::string_view n(reinterpret_cast<const char*>(entries + pos + kDirEntryHeaderSize), len);
    if (!found && n == name) {
      if (DecodeFixed32(entries + pos + 8) != NameHash(name)) {
        return corrupt("directory entry: wrong hash");
      }
      found = true;
      found_at = pos;
      found_size = kDirEntryHeaderSize + len;
    }
    pos += kDirEntryHeaderSize + len;
    ++seen;
  }
  if (seen != count) return corrupt("count mismatch");
  *next = nxt;
  if (!found) return Status::NotFound(std::string(name));
  std::memmove(entries + found_at, entries + found_at + found_size, used - found_at - found_size);
  std::memset(entries + used - found_size, 0, found_size);
  EncodeFixed16(p + 34, static_cast<uint16_t>(count - 1));
  EncodeFixed32(p + 36, static_cast<uint32_t>(used - found_size));
  SealBlock(block, BlockType::kDirLeaf, blkno, ctx);
  return Status::OK();
}

Result<DirLeaf> DecodeDirLeaf(std::span<const uint8_t> block, uint64_t blkno,
                              const BlockContext& ctx) {
  COHORT_RETURN_IF_ERROR(CheckBlock(block, BlockType::kDirLeaf, blkno, ctx));
  const uint8_t* p = block.data();
  DirLeaf l;
  l.depth = DecodeFixed16(p + 32);
  uint16_t count = DecodeFixed16(p + 34);
  uint32_t used = DecodeFixed32(p + 36);
  l.next = DecodeFixed64(p + 40);
  l.dir_inode = DecodeFixed64(p + 48);
  const std::string what = "dir leaf " + std::to_string(blkno) + ": ";
  if (l.depth > 32) return Status::Corruption(what + "depth > 32");
  if (used > block.size() - kLeafHeaderSize) return Status::Corruption(what + "used too large");
  if (l.dir_inode == 0 || l.next == blkno) return Status::Corruption(what + "bad links");
  auto entries = DecodeDirEntries(block.subspan(kLeafHeaderSize, used));
  if (!entries.ok()) return Status::Corruption(what + std::string(entries.status().message()));
  l.entries = std::move(*entries);
  if (l.entries.size() != count) return Status::Corruption(what + "count mismatch");
  if (l.depth > 0) {
    // All entries share the leaf's depth-bit hash prefix (§7.2 invariant 2).
    const uint64_t prefix =
        l.entries.empty() ? 0 : HashTableIndex(NameHash(l.entries[0].name), l.depth);
    for (size_t i = 1; i < l.entries.size(); ++i) {
      if (HashTableIndex(NameHash(l.entries[i].name), l.depth) != prefix) {
        return Status::Corruption(what + "entries with different hash prefixes");
      }
    }
  }
  if (!AllZeroFrom(block, kLeafHeaderSize + used)) {
    return Status::Corruption(what + "garbage after entries");
  }
  return l;
}

}  // namespace cohort::fs
