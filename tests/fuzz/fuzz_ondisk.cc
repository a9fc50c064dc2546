// tests/fuzz/fuzz_ondisk.cc: libFuzzer target for the on-disk decoders
// (docs/ondisk-format.md). Every decoder must return OK or Corruption on any input and
// never crash, read out of bounds or loop. The first byte picks the decoder; the rest
// is the block (padded or cut to 4096 bytes). Blocks are re-sealed with a valid crc half
// of the time so that the fuzzer gets past the checksum into the field checks.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "fs/dir_ops.h"
#include "fs/directory.h"
#include "fs/extent.h"
#include "fs/format.h"
#include "fs/group.h"
#include "fs/inode.h"
#include "fs/journal_format.h"
#include "fs/superblock.h"
#include "fs/system_blocks.h"
#include "fs/xattr_block.h"

using namespace cohort;
using namespace cohort::fs;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint8_t which = data[0];
  const bool reseal = data[1] & 1;
  std::vector<uint8_t> block(4096, 0);
  std::memcpy(block.data(), data + 2, std::min<size_t>(size - 2, block.size()));
  const uint64_t blkno = 100;
  const uint64_t block_count = 1 << 20;
  BlockContext ctx{4096, 0x1122334455667788ull};
  static const BlockType kTypes[] = {
      BlockType::kSuperblock, BlockType::kGroupTable, BlockType::kGroupHeader,
      BlockType::kBitmap,     BlockType::kHeartbeat,  BlockType::kJournalIndex,
      BlockType::kStatfs,     BlockType::kNodeBlock,  BlockType::kInode,
      BlockType::kExtentNode, BlockType::kDirLeaf,    BlockType::kDirTable,
      BlockType::kXattr};
  const BlockType type = kTypes[which % (sizeof kTypes / sizeof kTypes[0])];
  if (reseal) SealBlock(block, type, type == BlockType::kSuperblock ? 16 : blkno, ctx);
  switch (type) {
    case BlockType::kSuperblock: (void)DecodeSuperblock(block, 16); break;
    case BlockType::kGroupTable: (void)DecodeGroupTableBlock(block, blkno, ctx); break;
    case BlockType::kGroupHeader: (void)DecodeGroupHeader(block, blkno, ctx); break;
    case BlockType::kBitmap: (void)DecodeBitmapBlock(block, blkno, ctx); break;
    case BlockType::kHeartbeat: (void)DecodeHeartbeat(block, blkno, ctx); break;
    case BlockType::kJournalIndex: (void)DecodeJournalIndex(block, blkno, ctx, 32, block_count); break;
    case BlockType::kStatfs: (void)DecodeStatfs(block, blkno, ctx); break;
    case BlockType::kNodeBlock: (void)DecodeNodeBlock(block, blkno, ctx, 3); break;
    case BlockType::kInode: {
      auto in = DecodeInode(block, blkno, ctx, block_count);
      if (in.ok() && (in->content_kind == ContentKind::kExtents ||
                      in->content_kind == ContentKind::kHashedDir)) {
        (void)in->ExtentRoot(4096, block_count);
      }
      if (in.ok() && in->content_kind == ContentKind::kInlineDir) {
        (void)DecodeDirEntries(in->content);
      }
      break;
    }
    case BlockType::kExtentNode: (void)DecodeExtentBlock(block, blkno, ctx, block_count); break;
    case BlockType::kDirLeaf: (void)DecodeDirLeaf(block, blkno, ctx); break;
    case BlockType::kDirTable: (void)DecodeDirTableBlock(block, blkno, ctx, block_count); break;
    case BlockType::kXattr: (void)DecodeXattrBlock(block, blkno, ctx); break;
    default: break;
  }
  return 0;
}
