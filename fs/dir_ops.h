// fs/dir_ops.h: directory operations over inline and hashed directories
// (docs/ondisk-format.md §7), for the filesystem layer.
//
// A directory starts inline (ContentKind kInlineDir). When an insert no longer fits,
// DirInsert converts it to a hashed directory (kHashedDir, §7.2): extendible hashing as
// in gfs2. The hash table of 2^dir_depth leaf pointers lives in dir-table blocks (type
// 15) that are the directory's logical blocks 0.. through its extent tree; leaves are
// DirLeaf blocks. A full leaf whose depth is below dir_depth splits; a full leaf at
// dir_depth doubles the table (up to kMaxDirDepth); past that, leaves chain through
// `next`. Lookup reads one table block and one leaf (plus chained leaves only beyond
// 2^16 leaves), whatever the directory's size.
//
// Every function takes the directory inode by value/pointer and a MetaStore (one
// transaction); functions that change the directory write every changed block,
// including the inode, through the store. Entries are never merged back on removal
// (as gfs2; a directory does not shrink).
//
// Thread safety: the caller holds the directory's inode lock (EX to change, PR to read).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "fs/directory.h"
#include "fs/inode.h"
#include "fs/meta_store.h"

namespace cohort::fs {

inline constexpr uint16_t kMaxDirDepth = 16;

// Table entries per dir-table block.
inline uint64_t DirTableEntriesPerBlock(uint32_t bs) { return (bs - kHeaderSize) / 8; }

// A dir-table block (type 15): `entries` leaf pointers (0 = unused slot).
std::vector<uint8_t> EncodeDirTableBlock(std::span<const uint64_t> entries, uint64_t blkno,
                                         const BlockContext& ctx);
// Corruption also if a pointer is >= block_count.
Result<std::vector<uint64_t>> DecodeDirTableBlock(std::span<const uint8_t> block, uint64_t blkno,
                                                  const BlockContext& ctx, uint64_t block_count);

// The entry named `name`, NotFound if absent. Corruption if a block on the way fails.
Result<DirEntry> DirLookup(const Inode& dir, std::string_view name, MetaStore& store);

// Adds `e`. Exists if the name is taken; InvalidArgument for a bad name; NoSpace if
// the store cannot allocate. Updates dir_entries, content, dir_depth and kind; writes
// the inode.
Status DirInsert(Inode* dir, const DirEntry& e, MetaStore& store);

// Removes `name`; NotFound if absent. Writes the changed leaf (or the inode).
Status DirRemove(Inode* dir, std::string_view name, MetaStore& store);

// Every entry (for readdir), in storage order.
Result<std::vector<DirEntry>> DirList(const Inode& dir, MetaStore& store);

}  // namespace cohort::fs
