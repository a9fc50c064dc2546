// fs/core/fs_data.cc: file data of FileSystem: read, write, truncate, fallocate, lseek,
// fsync (docs/filesystem.md §6). Data blocks are written in place, directly to the
// device, before the transaction that maps them commits (ordered mode).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <set>

#include "common/logging.h"
#include "fs/core/filesystem.h"
#include "fs/core/filesystem_internal.h"

namespace cohort::fs {
namespace {

// Largest file: 2^44 blocks would overflow nothing, but keep sizes well inside off_t.
constexpr uint64_t kMaxFileSize = uint64_t{1} << 50;  // 1 PiB
// Blocks freed per transaction when truncating (bounds the bitmap blocks logged).
constexpr uint64_t kFreeChunkBlocks = uint64_t{1} << 16;
constexpr int kSeekData = 3;
constexpr int kSeekHole = 4;

// A per-thread aligned I/O buffer of at least `n` bytes, kept between requests: a fresh
// 1 MiB allocation per request costs an mmap, page faults and an munmap.
uint8_t* Scratch(size_t n) {
  thread_local AlignedBuffer buf;
  if (buf.size() < n) buf = AlignedBuffer(std::max<size_t>(n, size_t{1} << 20));
  return buf.data();
}

}  // namespace

// ------------------------------------------------------------------------------- read

Status FileSystem::Read(uint64_t ino, uint64_t off, size_t size, std::vector<uint8_t>* out) {
  out->clear();
  InodeRef ci = Get(ino);
  COHORT_ASSIGN_OR_RETURN(GlockHolder h, Hold(ci, HolderMode::kShared));
  const Inode& d = ci->disk;
  if (d.is_dir()) return Status::IsDir();
  if (off >= d.size || size == 0) return Status::OK();
  uint64_t n = std::min<uint64_t>(size, d.size - off);
  out->resize(n);
  if (d.content_kind == ContentKind::kInlineData || d.content_kind == ContentKind::kNone) {
    for (uint64_t i = 0; i < n; ++i) {
      uint64_t p = off + i;
      (*out)[i] = p < d.content.size() ? d.content[p] : 0;
    }
    return Status::OK();
  }
  if (d.content_kind != ContentKind::kExtents) return Status::InvalidArgument("not a file");
  const uint32_t bs = ctx_.block_size;
  FileMap map = MapOf(ci);
  uint64_t pos = off;
  uint64_t end = off + n;
  while (pos < end) {
    uint64_t lblk = pos / bs;
    uint64_t last_lblk = (end - 1) / bs;
    COHORT_ASSIGN_OR_RETURN(auto m, map.Lookup(d, lblk, last_lblk - lblk + 1));
    uint64_t run_end = std::min<uint64_t>(end, (lblk + m.len) * bs);
    uint8_t* dst = out->data() + (pos - off);
    if (m.pblk == 0 || m.unwritten) {
      std::memset(dst, 0, run_end - pos);
    } else {
      uint8_t* buf = Scratch(m.len * bs);
      COHORT_RETURN_IF_ERROR(dev_->ReadAt(m.pblk * bs, std::span<uint8_t>(buf, m.len * bs)));
      std::memcpy(dst, buf + (pos - lblk * bs), run_end - pos);
    }
    pos = run_end;
  }
  return Status::OK();
}

// ------------------------------------------------------------------------------ write

Result<size_t> FileSystem::Write(const OpContext& c, uint64_t ino, uint64_t off,
                                 std::span<const uint8_t> data, bool append) {
  if (read_only_) return Status::ReadOnly();
  if (data.empty()) return size_t{0};
  if (off > kMaxFileSize || data.size() > kMaxFileSize - off) {
    return Status::FileTooBig("write past the maximum file size");
  }
  InodeRef ci = Get(ino);
  COHORT_ASSIGN_OR_RETURN(GlockHolder h, Hold(ci, HolderMode::kExclusive));
  if (ci->disk.is_dir()) return Status::IsDir();
  if (append) {
    off = ci->disk.size;
    if (off > kMaxFileSize || data.size() > kMaxFileSize - off) {
      return Status::FileTooBig("write past the maximum file size");
    }
  }
  COHORT_RETURN_IF_ERROR(WriteData(ci, off, data, c.kill_suidgid));
  return data.size();
}

Status FileSystem::UnshareInline(CachedInode* ci, Reservation& r, MetaCache::Handle& h) {
  // Moves inline data into a data block and turns the inode into an extent file.
  Inode& d = ci->disk;
  std::vector<uint8_t> bytes = std::move(d.content);
  d.content.clear();
  d.content_kind = ContentKind::kExtents;
  d.SetExtentRoot(Inode::EmptyExtentRoot(ctx_.block_size));
  if (bytes.empty()) return Status::OK();
  COHORT_ASSIGN_OR_RETURN(uint64_t pblk, alloc_->AllocBlock(r, h, BlockState::kUsed, ci->ino));
  AlignedBuffer buf(ctx_.block_size);
  std::memset(buf.data(), 0, ctx_.block_size);
  std::memcpy(buf.data(), bytes.data(), std::min<size_t>(bytes.size(), ctx_.block_size));
  COHORT_RETURN_IF_ERROR(dev_->WriteAt(pblk * ctx_.block_size, buf.span()));
  NoteOrderedWrite();
  Extent e;
  e.logical = 0;
  e.physical = pblk;
  e.length = 1;
  COHORT_RETURN_IF_ERROR(MapOf(ci).Insert(&d, r, h, e));
  d.blocks += 1;
  return Status::OK();
}

Status FileSystem::WriteData(CachedInode* ci, uint64_t off, std::span<const uint8_t> data,
                             bool kill_privs) {
  Inode& d = ci->disk;
  const uint32_t bs = ctx_.block_size;
  const uint64_t end = off + data.size();
  const size_t inline_cap = InodeContentCapacity(bs);
  bool is_inline = d.content_kind == ContentKind::kNone ||
                   d.content_kind == ContentKind::kInlineData;
  if (is_inline && end <= inline_cap) {
    if (d.content.size() < end) d.content.resize(end, 0);
    std::memcpy(d.content.data() + off, data.data(), data.size());
    d.content_kind = ContentKind::kInlineData;
    d.size = std::max<uint64_t>(d.size, end);
    if (d.content.size() < d.size) d.content.resize(d.size, 0);
    d.mtime_ns = NextMtime(d);
    d.ctime_ns = d.mtime_ns;
    COHORT_ASSIGN_OR_RETURN(auto h, ms_->Begin(3));
    if (kill_privs) COHORT_RETURN_IF_ERROR(KillPrivs(*h, ci));
    Store(*h, ci);
    return Status::OK();
  }
  FileMap map = MapOf(ci);
  // Which blocks of [off, end) are holes (and will be allocated)?
  uint64_t first = off / bs, last = (end - 1) / bs;
  struct Run {
    uint64_t lblk, pblk, len;
    bool fresh;  // newly allocated: no old contents to preserve
  };
  std::vector<Run> runs;
  uint64_t hole_blocks = 0;
  // Must the data be durable before the commit that records this write? Yes when the
  // commit maps new blocks or extends the size (else a crash could show stale blocks
  // or zeros the metadata says are data); an overwrite of mapped data within the size
  // becomes durable with the commit's own flush (docs/filesystem.md §3).
  bool ordered = is_inline || end > d.size;
  if (!is_inline) {
    for (uint64_t l = first; l <= last;) {
      COHORT_ASSIGN_OR_RETURN(auto m, map.Lookup(d, l, last - l + 1));
      // Unwritten extents are never created by this version (fallocate zeroes); treat
      // one found on disk as mapped and zero-filled by its reader's rule.
      runs.push_back({l, m.pblk, m.len, false});
      if (m.unwritten) ordered = true;
      if (m.pblk == 0) hole_blocks += m.len;
      l += m.len;
    }
  } else {
    runs.push_back({first, 0, last - first + 1, false});
    hole_blocks = last - first + 1;
  }
  Reservation r;
  uint64_t tree_blocks = kMaxExtentDepth + 2 + map.BlocksForExtents(runs.size() + 1);
  if (hole_blocks > 0 || is_inline) {
    COHORT_RETURN_IF_ERROR(alloc_->Reserve(&r, hole_blocks + tree_blocks + 1, ci->ino));
  }
  COHORT_ASSIGN_OR_RETURN(auto h, ms_->Begin(17 + tree_blocks + 2 * r.groups.size()));
  if (is_inline) COHORT_RETURN_IF_ERROR(UnshareInline(ci, r, *h));
  // Allocate the holes, run by run.
  std::vector<Run> mapped;
  for (const Run& run : runs) {
    if (run.pblk != 0) {
      mapped.push_back(run);
      continue;
    }
    uint64_t l = run.lblk, left = run.len;
    while (left > 0) {
      // After UnshareInline, block 0 may now be mapped: look again.
      COHORT_ASSIGN_OR_RETURN(auto m, map.Lookup(d, l, left));
      if (m.pblk != 0) {
        mapped.push_back({l, m.pblk, m.len, false});
        l += m.len;
        left -= m.len;
        continue;
      }
      uint64_t want = std::min<uint64_t>(m.len, 1u << 16);
      uint64_t goal = mapped.empty() ? ci->ino : mapped.back().pblk + mapped.back().len;
      COHORT_ASSIGN_OR_RETURN(auto got, alloc_->AllocRun(r, *h, static_cast<uint32_t>(want), goal));
      Extent e;
      e.logical = l;
      e.physical = got.first;
      e.length = got.second;
      COHORT_RETURN_IF_ERROR(map.Insert(&d, r, *h, e));
      d.blocks += got.second;
      mapped.push_back({l, got.first, got.second, true});
      l += got.second;
      left -= got.second;
    }
  }
  // Write the data, one device write per physically contiguous stretch. Partial blocks
  // at the edges are read first unless freshly allocated (then zero).
  std::sort(mapped.begin(), mapped.end(), [](const Run& a, const Run& b) { return a.lblk < b.lblk; });
  for (size_t i = 0; i < mapped.size();) {
    size_t j = i + 1;
    while (j < mapped.size() && mapped[j].pblk == mapped[j - 1].pblk + mapped[j - 1].len &&
           mapped[j].lblk == mapped[j - 1].lblk + mapped[j - 1].len) {
      ++j;
    }
    uint64_t l0 = mapped[i].lblk;
    uint64_t p0 = mapped[i].pblk;
    uint64_t nblk = mapped[j - 1].lblk + mapped[j - 1].len - l0;
    uint8_t* const buf = Scratch(nblk * bs);
    uint64_t seg_start = l0 * bs, seg_end = (l0 + nblk) * bs;
    uint64_t w0 = std::max(off, seg_start), w1 = std::min(end, seg_end);
    auto fresh_at = [&](uint64_t lblk) {
      for (size_t k = i; k < j; ++k) {
        if (lblk >= mapped[k].lblk && lblk < mapped[k].lblk + mapped[k].len) return mapped[k].fresh;
      }
      return false;
    };
    // Head and tail partial blocks.
    for (uint64_t edge : {w0 / bs, (w1 - 1) / bs}) {
      bool partial = (edge == w0 / bs && w0 % bs != 0) || (edge == (w1 - 1) / bs && w1 % bs != 0);
      if (!partial) continue;
      uint8_t* dst = buf + (edge - l0) * bs;
      if (fresh_at(edge)) {
        std::memset(dst, 0, bs);
      } else {
        COHORT_RETURN_IF_ERROR(dev_->ReadAt((p0 + (edge - l0)) * bs, std::span<uint8_t>(dst, bs)));
      }
    }
    std::memcpy(buf + (w0 - seg_start), data.data() + (w0 - off), w1 - w0);
    uint64_t b0 = w0 / bs, b1 = (w1 - 1) / bs;
    COHORT_RETURN_IF_ERROR(dev_->WriteAt((p0 + (b0 - l0)) * bs,
                                         std::span<const uint8_t>(buf + (b0 - l0) * bs,
                                                                  (b1 - b0 + 1) * bs)));
    if (ordered || hole_blocks > 0) NoteOrderedWrite();
    i = j;
  }
  d.size = std::max<uint64_t>(d.size, end);
  d.mtime_ns = NextMtime(d);
  d.ctime_ns = d.mtime_ns;
  if (kill_privs) COHORT_RETURN_IF_ERROR(KillPrivs(*h, ci));
  Store(*h, ci);
  return Status::OK();
}

// --------------------------------------------------------------------------- truncate

Status FileSystem::UnmapExtents(CachedInode* ci, const std::vector<Extent>& remain,
                                const std::vector<std::pair<uint64_t, uint32_t>>& to_free,
                                const std::function<void(Inode*)>& also) {
  // One transaction: the tree rebuilt from `remain` (freeing the old node blocks), the
  // runs of `to_free` freed, the inode stored. The groups of everything freed are
  // locked first, then room for the new tree reserved (docs/filesystem.md §2).
  Inode& d = ci->disk;
  FileMap map = MapOf(ci);
  std::vector<uint64_t> touched;
  for (auto [p, n] : to_free) {
    touched.push_back(p);
    touched.push_back(p + n - 1);
  }
  COHORT_ASSIGN_OR_RETURN(auto nodes, map.NodeBlocks(d));
  touched.insert(touched.end(), nodes.begin(), nodes.end());
  Reservation r;
  COHORT_RETURN_IF_ERROR(alloc_->LockGroupsOf(&r, touched));
  COHORT_RETURN_IF_ERROR(alloc_->Reserve(&r, map.BlocksForExtents(remain.size()), ci->ino));
  COHORT_ASSIGN_OR_RETURN(auto h, ms_->Begin(32 + nodes.size() + 4 * r.groups.size()));
  COHORT_RETURN_IF_ERROR(map.Rebuild(&d, r, *h, remain));
  for (auto [p, n] : to_free) {
    COHORT_RETURN_IF_ERROR(alloc_->Free(r, *h, p, n));
    d.blocks -= std::min<uint64_t>(d.blocks, n);
  }
  also(&d);
  Store(*h, ci);
  return Status::OK();
}


Status FileSystem::Truncate(CachedInode* ci, uint64_t size) {
  if (size > kMaxFileSize) return Status::FileTooBig("size past the maximum file size");
  Inode& d = ci->disk;
  const uint32_t bs = ctx_.block_size;
  const size_t inline_cap = InodeContentCapacity(bs);
  bool is_inline = d.content_kind == ContentKind::kNone ||
                   d.content_kind == ContentKind::kInlineData;
  if (is_inline && size <= inline_cap) {
    d.content.resize(size, 0);
    d.content_kind = size ? ContentKind::kInlineData : ContentKind::kNone;
    d.size = size;
    d.mtime_ns = NextMtime(d);
    d.ctime_ns = d.mtime_ns;
    COHORT_ASSIGN_OR_RETURN(auto h, ms_->Begin(2));
    Store(*h, ci);
    return Status::OK();
  }
  if (is_inline) {
    // Growing past the inline capacity: becomes a sparse extent file.
    Reservation r;
    COHORT_RETURN_IF_ERROR(alloc_->Reserve(&r, 2 + kMaxExtentDepth, ci->ino));
    COHORT_ASSIGN_OR_RETURN(auto h, ms_->Begin(16 + 2 * r.groups.size()));
    COHORT_RETURN_IF_ERROR(UnshareInline(ci, r, *h));
    d.size = size;
    d.mtime_ns = NextMtime(d);
    d.ctime_ns = d.mtime_ns;
    Store(*h, ci);
    return Status::OK();
  }
  FileMap map = MapOf(ci);
  const uint64_t keep = (size + bs - 1) / bs;  // blocks that stay mapped
  bool size_set = false;
  while (true) {
    COHORT_ASSIGN_OR_RETURN(auto extents, map.AllExtents(d));
    // Take a chunk from the end: whole extents (or the tail part) beyond `keep`.
    std::vector<Extent> remain = extents;
    std::vector<std::pair<uint64_t, uint32_t>> to_free;
    uint64_t budget = kFreeChunkBlocks;
    while (!remain.empty() && budget > 0) {
      Extent& e = remain.back();
      uint64_t e_end = e.logical + e.length;
      if (e_end <= keep) break;
      uint64_t cut_from = std::max<uint64_t>(keep, e.logical);
      cut_from = std::max<uint64_t>(cut_from, e_end - std::min<uint64_t>(budget, e_end - cut_from));
      uint64_t n = e_end - cut_from;
      to_free.emplace_back(e.physical + (cut_from - e.logical), static_cast<uint32_t>(n));
      budget -= n;
      if (cut_from == e.logical) {
        remain.pop_back();
      } else {
        e.length = static_cast<uint32_t>(cut_from - e.logical);
      }
    }
    if (to_free.empty()) break;
    uint64_t new_size = size_set ? d.size : std::min(d.size, size);
    size_set = true;
    COHORT_RETURN_IF_ERROR(UnmapExtents(ci, remain, to_free, [&](Inode* in) { in->size = new_size; }));
  }
  // Zero the tail of the last kept block so that a later extension reads zeros.
  if (size % bs != 0 && size < d.size + bs) {
    COHORT_ASSIGN_OR_RETURN(auto m, map.Lookup(d, size / bs, 1));
    if (m.pblk != 0 && !m.unwritten) {
      AlignedBuffer buf(bs);
      COHORT_RETURN_IF_ERROR(dev_->ReadAt(m.pblk * bs, buf.span()));
      std::memset(buf.data() + size % bs, 0, bs - size % bs);
      COHORT_RETURN_IF_ERROR(dev_->WriteAt(m.pblk * bs, buf.span()));
      NoteOrderedWrite();
    }
  }
  d.size = size;
  d.mtime_ns = NextMtime(d);
  d.ctime_ns = d.mtime_ns;
  COHORT_ASSIGN_OR_RETURN(auto h, ms_->Begin(2));
  Store(*h, ci);
  return Status::OK();
}

// -------------------------------------------------------------------------- fallocate

Status FileSystem::ZeroRange(CachedInode* ci, uint64_t off, uint64_t len) {
  // Writes zeros over [off, off+len) of mapped blocks only (holes already read zero).
  const uint32_t bs = ctx_.block_size;
  FileMap map = MapOf(ci);
  uint64_t pos = off, end = off + len;
  while (pos < end) {
    uint64_t lblk = pos / bs;
    COHORT_ASSIGN_OR_RETURN(auto m, map.Lookup(ci->disk, lblk, (end - 1) / bs - lblk + 1));
    uint64_t run_end = std::min<uint64_t>(end, (lblk + m.len) * bs);
    if (m.pblk != 0) {
      uint64_t b0 = pos / bs, b1 = (run_end - 1) / bs;
      AlignedBuffer buf((b1 - b0 + 1) * bs);
      if (pos % bs || run_end % bs) {
        COHORT_RETURN_IF_ERROR(dev_->ReadAt((m.pblk + (b0 - lblk)) * bs, buf.span()));
      }
      std::memset(buf.data() + (pos - b0 * bs), 0, run_end - pos);
      COHORT_RETURN_IF_ERROR(dev_->WriteAt((m.pblk + (b0 - lblk)) * bs, buf.span()));
      NoteOrderedWrite();
    }
    pos = run_end;
  }
  return Status::OK();
}

Status FileSystem::Fallocate(const OpContext& c, uint64_t ino, int mode, uint64_t off,
                             uint64_t len) {
  if (read_only_) return Status::ReadOnly();
  if (len == 0) return Status::InvalidArgument("zero length");
  if (mode & ~(kFallocKeepSize | kFallocPunchHole)) {
    return Status::NotSupported("fallocate mode " + std::to_string(mode));
  }
  if ((mode & kFallocPunchHole) && !(mode & kFallocKeepSize)) {
    return Status::NotSupported("PUNCH_HOLE requires KEEP_SIZE");
  }
  if (off > kMaxFileSize || len > kMaxFileSize - off) return Status::FileTooBig();
  InodeRef ci = Get(ino);
  COHORT_ASSIGN_OR_RETURN(GlockHolder h, Hold(ci, HolderMode::kExclusive));
  Inode& d = ci->disk;
  if (d.is_dir()) return Status::IsDir();
  if (!d.is_reg()) return Status::NotSupported("fallocate of a special file");
  const uint32_t bs = ctx_.block_size;
  uint64_t end = off + len;
  if (mode & kFallocPunchHole) {
    if (d.content_kind != ContentKind::kExtents) {
      // Inline data: zero the range in the inode.
      for (uint64_t p = off; p < std::min<uint64_t>(end, d.content.size()); ++p) d.content[p] = 0;
      COHORT_ASSIGN_OR_RETURN(auto th, ms_->Begin(2));
      d.ctime_ns = Now();
      Store(*th, ci);
      return Status::OK();
    }
    end = std::min<uint64_t>(end, d.size);
    if (end <= off) return Status::OK();
    // Whole blocks inside the range are unmapped; partial edges are zeroed.
    uint64_t b0 = (off + bs - 1) / bs, b1 = end / bs;  // [b0, b1) whole blocks
    if (off % bs) COHORT_RETURN_IF_ERROR(ZeroRange(ci, off, std::min(end, b0 * bs) - off));
    if (end % bs && end > b1 * bs && b1 * bs >= off) {
      COHORT_RETURN_IF_ERROR(ZeroRange(ci, std::max(off, b1 * bs), end - std::max(off, b1 * bs)));
    }
    if (b0 < b1) {
      FileMap map = MapOf(ci);
      COHORT_ASSIGN_OR_RETURN(auto extents, map.AllExtents(d));
      std::vector<Extent> remain;
      std::vector<std::pair<uint64_t, uint32_t>> to_free;
      for (const Extent& e : extents) {
        uint64_t e0 = e.logical, e1 = e.logical + e.length;
        if (e1 <= b0 || e0 >= b1) {
          remain.push_back(e);
          continue;
        }
        if (e0 < b0) remain.push_back({e0, e.physical, static_cast<uint32_t>(b0 - e0), e.flags});
        uint64_t c0 = std::max(e0, b0), c1 = std::min(e1, b1);
        to_free.emplace_back(e.physical + (c0 - e0), static_cast<uint32_t>(c1 - c0));
        if (e1 > b1) {
          remain.push_back({b1, e.physical + (b1 - e0), static_cast<uint32_t>(e1 - b1), e.flags});
        }
      }
      if (!to_free.empty()) {
        COHORT_RETURN_IF_ERROR(UnmapExtents(ci, remain, to_free, [&](Inode* in) {
          in->ctime_ns = Now();
        }));
      }
    }
    return Status::OK();
  }
  // Allocate (and zero) every hole in [off, end), in bounded steps, then set the size
  // unless KEEP_SIZE. Zeroing instead of unwritten extents keeps reads trivially
  // correct; see docs/filesystem.md §6 for the trade-off.
  uint64_t step = uint64_t{bs} * 8192;  // 32 MiB per transaction at 4 KiB
  std::vector<uint8_t> zeros;
  for (uint64_t pos = off; pos < end;) {
    uint64_t n = std::min(step, end - pos);
    uint64_t old_size = d.size;
    // Writing zeros over holes only: find the holes first.
    FileMap map = MapOf(ci);
    bool inline_now = d.content_kind != ContentKind::kExtents;
    uint64_t l = pos / bs, last = (pos + n - 1) / bs;
    while (l <= last) {
      uint64_t run_len = last - l + 1;
      bool hole = true;
      if (!inline_now) {
        COHORT_ASSIGN_OR_RETURN(auto m, map.Lookup(d, l, run_len));
        hole = m.pblk == 0;
        run_len = m.len;
      }
      if (hole) {
        uint64_t a = std::max(pos, l * bs), b = std::min(pos + n, (l + run_len) * bs);
        // Inline bytes already present must be kept: write only beyond them.
        if (inline_now) a = std::max<uint64_t>(a, std::min<uint64_t>(d.content.size(), b));
        if (b > a) {
          zeros.assign(b - a, 0);
          COHORT_RETURN_IF_ERROR(WriteData(ci, a, zeros));
          inline_now = d.content_kind != ContentKind::kExtents;
        }
      }
      l += run_len;
    }
    if (mode & kFallocKeepSize) {
      if (d.size != old_size) {
        // WriteData extended the size; KEEP_SIZE puts it back (the blocks stay).
        d.size = old_size;
        COHORT_ASSIGN_OR_RETURN(auto th, ms_->Begin(2));
        Store(*th, ci);
      }
    }
    pos += n;
  }
  if (!(mode & kFallocKeepSize) && d.size < end) {
    d.size = end;
    COHORT_ASSIGN_OR_RETURN(auto th, ms_->Begin(2));
    Store(*th, ci);
  }
  return Status::OK();
}

// ------------------------------------------------------------------------------ lseek

Result<uint64_t> FileSystem::Lseek(uint64_t ino, uint64_t off, int whence) {
  if (whence != kSeekData && whence != kSeekHole) return Status::InvalidArgument("whence");
  InodeRef ci = Get(ino);
  COHORT_ASSIGN_OR_RETURN(GlockHolder h, Hold(ci, HolderMode::kShared));
  const Inode& d = ci->disk;
  if (off >= d.size) return Status(Code::kNoSuchAddress, "offset at or past the end");
  if (d.content_kind != ContentKind::kExtents) {
    return whence == kSeekData ? off : d.size;
  }
  const uint32_t bs = ctx_.block_size;
  FileMap map = MapOf(ci);
  uint64_t l = off / bs, last = (d.size - 1) / bs;
  while (l <= last) {
    COHORT_ASSIGN_OR_RETURN(auto m, map.Lookup(d, l, last - l + 1));
    bool data = m.pblk != 0 && !m.unwritten;
    if (whence == kSeekData && data) return std::max(off, l * bs);
    if (whence == kSeekHole && !data) return std::max(off, l * bs);
    l += m.len;
  }
  if (whence == kSeekHole) return d.size;  // the implicit hole at EOF
  return Status(Code::kNoSuchAddress, "no data after offset");
}

// ------------------------------------------------------------------------------ fsync

Status FileSystem::Fsync(uint64_t ino, bool datasync) {
  if (read_only_) return Status::OK();
  // One journal per node: a commit covers this file's metadata (and its data, written
  // in place before). The flush makes in-place data writes since the last commit
  // durable too.
  uint64_t before = ms_->stats().commits;
  COHORT_RETURN_IF_ERROR(ms_->Commit());
  if (ms_->stats().commits != before) return Status::OK();  // the commit flushed
  return dev_->Flush();
}

}  // namespace cohort::fs
