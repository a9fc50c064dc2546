// fs/core/dir.cc: directories inside transactions, over fs/dir_ops.h.
#include "fs/core/dir.h"

#include <sys/stat.h>

#include <algorithm>
#include <set>

#include "fs/core/txn_store.h"

namespace cohort::fs {

DirentType DirentTypeOf(uint32_t mode) {
  switch (mode & S_IFMT) {
    case S_IFREG: return DirentType::kFile;
    case S_IFDIR: return DirentType::kDir;
    case S_IFLNK: return DirentType::kSymlink;
    case S_IFCHR: return DirentType::kChr;
    case S_IFBLK: return DirentType::kBlk;
    case S_IFIFO: return DirentType::kFifo;
    case S_IFSOCK: return DirentType::kSock;
    default: return DirentType::kUnknown;
  }
}

Result<std::optional<DirEntry>> Directory::Lookup(const Inode& dir, std::string_view name) {
  if (names_ && dir.dir_entries <= DirNameCache::kMaxNames) {
    MutexLock l(&names_->mu);
    if (!names_->complete) {
      // First lookup since the glock was granted: decode every entry once.
      COHORT_ASSIGN_OR_RETURN(auto all, List(dir, 0, SIZE_MAX));
      names_->names.clear();
      names_->names.reserve(all.size());
      for (auto& c : all) {
        std::string key = c.entry.name;
        names_->names.emplace(std::move(key), std::move(c.entry));
      }
      names_->complete = true;
    }
    auto it = names_->names.find(std::string(name));
    if (it == names_->names.end()) return std::optional<DirEntry>();
    return std::optional<DirEntry>(it->second);
  }
  TxnStore store(ms_, owner_);
  auto e = DirLookup(dir, name, store);
  if (e.ok()) return std::optional<DirEntry>(std::move(*e));
  if (e.code() == Code::kNotFound) return std::optional<DirEntry>();
  return e.status();
}

uint64_t Directory::AddReserve(const Inode& dir) const {
  uint64_t per = DirTableEntriesPerBlock(ms_->block_size());
  uint64_t table_blocks_after_double = ((uint64_t{2} << dir.dir_depth) + per - 1) / per;
  // a new leaf and a table block at conversion, the table (doubled), extent nodes for
  // the table (depth + 2)
  return 3 + table_blocks_after_double + kMaxExtentDepth + 2;
}

void Directory::AfterChange(const Status& s, const DirEntry* put, std::string_view erased) {
  if (names_ == nullptr) return;
  MutexLock l(&names_->mu);
  if (!names_->complete) return;
  if (!s.ok() || names_->names.size() >= DirNameCache::kMaxNames) {
    names_->complete = false;
    names_->names.clear();
    return;
  }
  if (put) {
    names_->names[put->name] = *put;
  } else {
    names_->names.erase(std::string(erased));
  }
}

Status Directory::Add(Inode* dir, Reservation& r, MetaCache::Handle& h, const DirEntry& e) {
  TxnStore store(ms_, owner_, &h, alloc_, &r);
  Status s = DirInsert(dir, e, store);
  AfterChange(s, &e, {});
  return s;
}

Status Directory::Remove(Inode* dir, Reservation& r, MetaCache::Handle& h,
                         std::string_view name) {
  TxnStore store(ms_, owner_, &h, alloc_, &r);
  Status s = DirRemove(dir, name, store);
  AfterChange(s, nullptr, name);
  return s;
}

Status Directory::Replace(Inode* dir, Reservation& r, MetaCache::Handle& h, const DirEntry& e) {
  // Same name, same entry size: the insert goes back where the remove made room.
  TxnStore store(ms_, owner_, &h, alloc_, &r);
  Status s = DirRemove(dir, e.name, store);
  if (s.ok()) s = DirInsert(dir, e, store);
  AfterChange(s, &e, {});
  return s;
}

Result<std::vector<uint64_t>> Directory::ReadTable(const Inode& dir) {
  uint64_t n = uint64_t{1} << dir.dir_depth;
  uint64_t per = DirTableEntriesPerBlock(ms_->block_size());
  std::vector<uint64_t> table;
  table.reserve(n);
  for (uint64_t lblk = 0; lblk * per < n; ++lblk) {
    COHORT_ASSIGN_OR_RETURN(auto m, map_.Lookup(dir, lblk, 1));
    if (m.pblk == 0) return Status::Corruption("directory table block unmapped");
    COHORT_ASSIGN_OR_RETURN(auto block, ms_->Read(m.pblk, owner_));
    COHORT_ASSIGN_OR_RETURN(auto entries,
                            DecodeDirTableBlock(block, m.pblk, ms_->context(), ms_->block_count()));
    for (uint64_t i = 0; i < per && table.size() < n; ++i) {
      if (entries[i] == 0) return Status::Corruption("directory table: empty slot");
      table.push_back(entries[i]);
    }
  }
  return table;
}

Result<DirLeaf> Directory::ReadLeaf(uint64_t blkno) {
  COHORT_ASSIGN_OR_RETURN(auto block, ms_->Read(blkno, owner_));
  return DecodeDirLeaf(block, blkno, ms_->context());
}

namespace {

// Sorts `entries` by (hash, name) and assigns cookies.
std::vector<DirCursorEntry> WithCookies(std::vector<DirEntry> entries) {
  std::vector<std::pair<uint32_t, DirEntry>> keyed;
  keyed.reserve(entries.size());
  for (auto& e : entries) keyed.emplace_back(NameHash(e.name), std::move(e));
  std::sort(keyed.begin(), keyed.end(), [](const auto& a, const auto& b) {
    if (a.first != b.first) return a.first < b.first;
    return a.second.name < b.second.name;
  });
  std::vector<DirCursorEntry> out;
  out.reserve(keyed.size());
  uint32_t dup = 0;
  for (size_t i = 0; i < keyed.size(); ++i) {
    dup = (i > 0 && keyed[i - 1].first == keyed[i].first) ? dup + 1 : 0;
    out.push_back({std::move(keyed[i].second), Directory::CookieOf(keyed[i].first, dup)});
  }
  return out;
}

}  // namespace

Result<std::vector<DirCursorEntry>> Directory::List(const Inode& dir, uint64_t cookie,
                                                    size_t max) {
  std::vector<DirCursorEntry> out;
  if (dir.content_kind == ContentKind::kInlineDir) {
    COHORT_ASSIGN_OR_RETURN(auto entries, DecodeDirEntries(dir.content));
    for (auto& c : WithCookies(std::move(entries))) {
      if (c.cookie <= cookie) continue;
      if (out.size() >= max) break;
      out.push_back(std::move(c));
    }
    return out;
  }
  if (dir.content_kind != ContentKind::kHashedDir) {
    return Status::Corruption("inode " + std::to_string(dir.ino) + " is not a directory");
  }
  // Table order is hash-prefix order, so the leaves from the cookie's hash on hold
  // every later entry: start there.
  COHORT_ASSIGN_OR_RETURN(auto table, ReadTable(dir));
  uint32_t start_hash =
      cookie >= kFirstCookie ? static_cast<uint32_t>((cookie - kFirstCookie) >> 30) : 0;
  uint64_t index = HashTableIndex(start_hash, dir.dir_depth);
  uint64_t prev = 0;
  for (; index < table.size() && out.size() < max; ++index) {
    if (table[index] == prev) continue;  // consecutive entries naming the same leaf
    prev = table[index];
    std::vector<DirEntry> entries;
    uint64_t blk = table[index];
    for (int hops = 0; blk != 0 && hops < (1 << 16); ++hops) {
      COHORT_ASSIGN_OR_RETURN(DirLeaf leaf, ReadLeaf(blk));
      entries.insert(entries.end(), leaf.entries.begin(), leaf.entries.end());
      blk = leaf.next;
    }
    for (auto& c : WithCookies(std::move(entries))) {
      if (c.cookie <= cookie) continue;
      if (out.size() >= max) break;
      out.push_back(std::move(c));
    }
  }
  return out;
}

Result<std::vector<uint64_t>> Directory::OwnedBlocks(const Inode& dir) {
  std::vector<uint64_t> out;
  if (dir.content_kind != ContentKind::kHashedDir) return out;
  COHORT_ASSIGN_OR_RETURN(auto table, ReadTable(dir));
  std::set<uint64_t> leaves;
  for (uint64_t b : table) {
    for (int hops = 0; b != 0 && hops < (1 << 16) && leaves.insert(b).second; ++hops) {
      COHORT_ASSIGN_OR_RETURN(DirLeaf leaf, ReadLeaf(b));
      b = leaf.next;
    }
  }
  out.assign(leaves.begin(), leaves.end());
  COHORT_ASSIGN_OR_RETURN(auto extents, map_.AllExtents(dir));
  for (const Extent& e : extents) {
    for (uint32_t i = 0; i < e.length; ++i) out.push_back(e.physical + i);
  }
  COHORT_ASSIGN_OR_RETURN(auto nodes, map_.NodeBlocks(dir));
  out.insert(out.end(), nodes.begin(), nodes.end());
  return out;
}

}  // namespace cohort::fs
