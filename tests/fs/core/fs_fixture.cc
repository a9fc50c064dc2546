// tests/fs/core/fs_fixture.cc: see fs_fixture.h.
#include "tests/fs/core/fs_fixture.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "fs/directory.h"
#include "fs/extent.h"
#include "fs/group.h"
#include "fs/inode.h"
#include "fs/superblock.h"
#include "fs/system_blocks.h"
#include "mkfs/mkfs.h"

namespace cohort::fs::testing {

TestFs::TestFs(TestFsOptions o) : options_(o) {
  dev_ = std::make_unique<MemBlockDevice>(o.device_bytes);
  mkfs::MkfsOptions m;
  m.cluster_name = "test";
  m.journals = o.journals;
  m.journal_bytes = o.journal_bytes;
  m.group_bytes = o.group_bytes;
  m.force = true;
  auto sb = mkfs::Mkfs(*dev_, m);
  EXPECT_TRUE(sb.ok()) << sb.status().ToString();
  NewLockspace();
  Mount();
}

TestFs::~TestFs() {
  if (fs_) Unmount();
}

void TestFs::NewLockspace() {
  ls_.reset();
  net_ = std::make_unique<dlm::SimNetwork>(1234 + incarnation_, 1);
  ++incarnation_;
  dlm::SimTransport* t = net_->NewEndpoint(1);
  ls_ = std::make_unique<dlm::Lockspace>(t, dlm::LockspaceOptions{});
  net_->Join(1);
  net_->RunUntilIdle(1000);
}

Status TestFs::MountStatus() {
  MountOptions mo;
  mo.cluster_name = "test";
  mo.meta.commit_interval = options_.commit_interval;
  auto fs = FileSystem::Mount(dev_.get(), ls_.get(), mo);
  if (!fs.ok()) return fs.status();
  fs_ = std::move(*fs);
  return Status::OK();
}

void TestFs::Mount() {
  Status s = MountStatus();
  ASSERT_TRUE(s.ok()) << s.ToString();
}

void TestFs::Unmount() {
  if (!fs_) return;
  Status s = fs_->Unmount();
  EXPECT_TRUE(s.ok()) << s.ToString();
  fs_.reset();
}

void TestFs::Crash(MemBlockDevice::CrashMode mode, uint64_t seed) {
  // Whatever the dying filesystem still writes is lost with the power.
  dev_->SetWriteBudget(0);
  if (fs_) {
    (void)fs_->Unmount();  // fails on the device: nothing more reaches it
    fs_.reset();
  }
  dev_->SimulateCrash(mode, seed);
  dev_->SetWriteBudget(-1);
  NewLockspace();
}

// ------------------------------------------------------------------- CheckFilesystem

namespace {

struct Checker {
  BlockDevice* dev;
  Superblock sb;
  BlockContext ctx;
  std::string report;
  std::map<uint64_t, uint64_t> owner;      // block -> inode that owns it
  std::map<uint64_t, uint32_t> links;      // inode -> directory entries naming it
  std::map<uint64_t, uint32_t> subdirs;    // dir inode -> subdirectories
  std::set<uint64_t> inodes;               // reachable or orphaned inodes
  std::map<uint64_t, Inode> decoded;

  void Problem(const std::string& p) {
    if (report.size() < 8000) report += p + "\n";
  }

  Result<std::vector<uint8_t>> Block(uint64_t b) {
    if (b == 0 || b >= sb.block_count) return Status::Corruption("block out of range");
    AlignedBuffer buf(ctx.block_size);
    COHORT_RETURN_IF_ERROR(dev->ReadBlock(b, ctx.block_size, buf.span()));
    return std::vector<uint8_t>(buf.data(), buf.data() + ctx.block_size);
  }

  void Own(uint64_t b, uint64_t ino, const char* what) {
    auto [it, fresh] = owner.emplace(b, ino);
    if (!fresh) {
      Problem("block " + std::to_string(b) + " (" + what + ") owned by inodes " +
              std::to_string(it->second) + " and " + std::to_string(ino));
    }
  }

  void WalkExtents(const ExtentNode& n, uint64_t ino, std::vector<Extent>* leaves, int depth) {
    if (depth > kMaxExtentDepth) return Problem("extent tree too deep in " + std::to_string(ino));
    if (n.depth == 0) {
      leaves->insert(leaves->end(), n.entries.begin(), n.entries.end());
      return;
    }
    for (const Extent& e : n.entries) {
      Own(e.physical, ino, "extent node");
      auto b = Block(e.physical);
      if (!b.ok()) return Problem(b.status().ToString());
      auto child = DecodeExtentBlock(*b, e.physical, ctx, sb.block_count);
      if (!child.ok()) return Problem("inode " + std::to_string(ino) + ": " + child.status().ToString());
      WalkExtents(*child, ino, leaves, depth + 1);
    }
  }

  void Visit(uint64_t ino, uint64_t parent) {
    if (!inodes.insert(ino).second) return;
    auto b = Block(ino);
    if (!b.ok()) return Problem("inode " + std::to_string(ino) + ": " + b.status().ToString());
    auto in = DecodeInode(*b, ino, ctx, sb.block_count);
    if (!in.ok()) return Problem("inode " + std::to_string(ino) + ": " + in.status().ToString());
    Own(ino, ino, "inode");
    decoded[ino] = *in;
    if (in->xattr_blkno) Own(in->xattr_blkno, ino, "xattr");
    std::vector<Extent> leaves;
    if (in->content_kind == ContentKind::kExtents || in->content_kind == ContentKind::kHashedDir) {
      auto root = in->ExtentRoot(ctx.block_size, sb.block_count);
      if (!root.ok()) return Problem(root.status().ToString());
      WalkExtents(*root, ino, &leaves, 0);
      for (const Extent& e : leaves) {
        for (uint32_t i = 0; i < e.length; ++i) Own(e.physical + i, ino, "data");
      }
    }
    if (!in->is_dir()) return;
    // An orphan (parent 0: reached from an orphan list) keeps its old parent pointer.
    if (parent != 0 && in->parent != parent) {
      Problem("directory " + std::to_string(ino) + " has parent " + std::to_string(in->parent) +
              ", reached from " + std::to_string(parent));
    }
    std::vector<DirEntry> entries;
    if (in->content_kind == ContentKind::kInlineDir) {
      auto e = DecodeDirEntries(in->content);
      if (!e.ok()) return Problem("dir " + std::to_string(ino) + ": " + e.status().ToString());
      entries = *e;
    } else if (in->content_kind == ContentKind::kHashedDir) {
      std::set<uint64_t> seen_leaves;
      uint32_t per = (ctx.block_size - kHeaderSize) / 8;
      uint64_t n = uint64_t{1} << in->dir_depth;
      for (const Extent& e : leaves) {
        for (uint32_t k = 0; k < e.length; ++k) {
          auto tb = Block(e.physical + k);
          if (!tb.ok()) continue;
          Status s = CheckBlock(*tb, BlockType::kDirTable, e.physical + k, ctx);
          if (!s.ok()) {
            Problem("dir table: " + s.ToString());
            continue;
          }
          for (uint32_t i = 0; i < per && (e.logical + k) * per + i < n; ++i) {
            uint64_t leaf = 0;
            for (int byte = 0; byte < 8; ++byte) {
              leaf |= uint64_t{(*tb)[kHeaderSize + 8 * i + byte]} << (8 * byte);
            }
            for (int hops = 0; leaf != 0 && hops < 100000 && seen_leaves.insert(leaf).second; ++hops) {
              Own(leaf, ino, "dir leaf");
              auto lb = Block(leaf);
              if (!lb.ok()) break;
              auto l = DecodeDirLeaf(*lb, leaf, ctx);
              if (!l.ok()) {
                Problem("leaf " + std::to_string(leaf) + ": " + l.status().ToString());
                break;
              }
              entries.insert(entries.end(), l->entries.begin(), l->entries.end());
              leaf = l->next;
            }
          }
        }
      }
    }
    if (entries.size() != in->dir_entries) {
      Problem("dir " + std::to_string(ino) + " says " + std::to_string(in->dir_entries) +
              " entries, has " + std::to_string(entries.size()));
    }
    std::set<std::string> names;
    for (const DirEntry& e : entries) {
      if (!names.insert(e.name).second) Problem("dir " + std::to_string(ino) + ": duplicate " + e.name);
      links[e.inode] += 1;
      Visit(e.inode, ino);
      auto it = decoded.find(e.inode);
      if (it != decoded.end() && it->second.is_dir()) subdirs[ino] += 1;
    }
  }

  Status Run() {
    auto s = ReadSuperblock(*dev);
    if (!s.ok()) return s.status();
    sb = *s;
    ctx = sb.context();
    links[sb.root_inode] = 0;
    Visit(sb.root_inode, sb.root_inode);
    // Orphans: on the node blocks' lists.
    std::set<uint64_t> orphans;
    int64_t free_delta = 0, inode_delta = 0;
    for (uint32_t slot = 0; slot < sb.max_nodes; ++slot) {
      auto b = Block(sb.node_blocks_start + slot);
      if (!b.ok()) continue;
      auto nb = DecodeNodeBlock(*b, sb.node_blocks_start + slot, ctx, slot);
      if (!nb.ok()) {
        Problem("node block " + std::to_string(slot) + ": " + nb.status().ToString());
        continue;
      }
      free_delta += nb->free_blocks_delta;
      inode_delta += nb->inodes_delta;
      uint64_t cur = nb->orphan_head, length = 0;
      for (; cur != 0 && length <= nb->orphan_count; ++length) {
        orphans.insert(cur);
        Visit(cur, 0);
        auto it = decoded.find(cur);
        if (it != decoded.end() && !(it->second.flags & kInodeOrphan)) {
          Problem("inode " + std::to_string(cur) + " on orphan list " + std::to_string(slot) +
                  " is not flagged orphan");
        }
        cur = it == decoded.end() ? 0 : it->second.orphan_next;
      }
      if (cur != 0 || length != nb->orphan_count) {
        Problem("orphan list " + std::to_string(slot) + ": " + std::to_string(length) +
                " entries walked, count " + std::to_string(nb->orphan_count) +
                (cur != 0 ? ", does not end" : ""));
      }
    }
    // Link counts.
    for (uint64_t ino : inodes) {
      auto it = decoded.find(ino);
      if (it == decoded.end()) continue;
      const Inode& in = it->second;
      uint32_t want = in.is_dir() ? (in.nlink == 0 ? 0 : 2 + subdirs[ino]) : links[ino];
      if (orphans.count(ino)) want = 0;
      if (in.nlink != want) {
        Problem("inode " + std::to_string(ino) + " nlink " + std::to_string(in.nlink) +
                ", expected " + std::to_string(want));
      }
    }
    // Bitmaps against ownership.
    uint64_t free_total = 0, inode_total = 0;
    uint64_t per = sb.GroupTableEntriesPerBlock();
    for (uint64_t g = 0; g < sb.ag_count; ++g) {
      auto tb = Block(sb.group_table_start + g / per);
      if (!tb.ok()) return tb.status();
      auto entries = DecodeGroupTableBlock(*tb, sb.group_table_start + g / per, ctx);
      if (!entries.ok()) return entries.status();
      uint64_t start = sb.GroupStart(g), len = sb.GroupLength(g);
      if (!((*entries)[g % per].flags & kGroupInitialized)) {
        free_total += len - 1 - BitmapBlocksFor(len, ctx.block_size);
        for (uint64_t b = start; b < start + len; ++b) {
          if (owner.count(b)) Problem("block " + std::to_string(b) + " in uninitialised group");
        }
        continue;
      }
      auto hb = Block(start);
      if (!hb.ok()) return hb.status();
      std::vector<std::vector<uint8_t>> bitmaps;
      uint32_t nbm = BitmapBlocksFor(len, ctx.block_size);
      for (uint32_t i = 0; i < nbm; ++i) {
        auto bb = Block(start + 1 + i);
        if (!bb.ok()) return bb.status();
        bitmaps.push_back(*bb);
      }
      auto ag = AllocGroup::Load(*hb, bitmaps, start, ctx);
      if (!ag.ok()) {
        Problem("group " + std::to_string(g) + ": " + ag.status().ToString());
        continue;
      }
      free_total += ag->header().free_blocks;
      inode_total += ag->header().inodes;
      for (uint64_t b = start + 1 + nbm; b < start + len; ++b) {
        BlockState st = ag->Get(b);
        bool owned = owner.count(b) != 0;
        bool is_inode = inodes.count(b) != 0;
        if (st == BlockState::kFree && owned) Problem("block " + std::to_string(b) + " in use but free in bitmap");
        if (st != BlockState::kFree && !owned) Problem("block " + std::to_string(b) + " leaked (" + BlockStateName(st) + ")");
        if ((st == BlockState::kInode || st == BlockState::kUnlinkedInode) && owned && !is_inode) {
          Problem("block " + std::to_string(b) + " marked inode, used as data");
        }
        if (st == BlockState::kUnlinkedInode && !orphans.count(b)) {
          Problem("block " + std::to_string(b) + " unlinked inode not on an orphan list");
        }
      }
    }
    auto stb = Block(sb.statfs_blkno);
    if (stb.ok()) {
      auto st = DecodeStatfs(*stb, sb.statfs_blkno, ctx);
      if (st.ok()) {
        int64_t f = static_cast<int64_t>(st->free_blocks) + free_delta;
        if (f != static_cast<int64_t>(free_total)) {
          Problem("statfs free " + std::to_string(f) + " != bitmaps " + std::to_string(free_total));
        }
        int64_t i = static_cast<int64_t>(st->inodes) + inode_delta;
        if (i != static_cast<int64_t>(inode_total)) {
          Problem("statfs inodes " + std::to_string(i) + " != bitmaps " + std::to_string(inode_total));
        }
      }
    }
    if (report.empty()) return Status::OK();
    return Status::Corruption(report);
  }
};

}  // namespace

Status CheckFilesystem(BlockDevice* dev) {
  Checker c;
  c.dev = dev;
  return c.Run();
}

}  // namespace cohort::fs::testing
