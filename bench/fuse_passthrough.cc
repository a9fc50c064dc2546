// bench/fuse_passthrough.cc: a minimal low-level FUSE passthrough filesystem, the
// "FUSE ceiling" baseline of the filesystem benchmarks (issue: the filesystem on one
// node). It mirrors a host directory with the same FUSE settings Cohort's daemon uses
// (multi-threaded session, 1 MiB requests, readdirplus, kernel caches with long
// timeouts), so that "Cohort / passthrough" isolates what Cohort itself costs.
//
//   fuse_passthrough SOURCE_DIR MOUNTPOINT [-f] [-o opts]
//
// It is a benchmark baseline, not part of Cohort: it is the one program outside fs/fuse/
// that links libfuse. Unlike libfuse's passthrough examples it accepts O_DIRECT opens on
// purpose (direct_io for that file, the host fd opened with O_DIRECT), so O_DIRECT
// throughput can be compared too.
//
// Thread safety: the inode table is guarded by a mutex; per-file state is immutable after
// open.
#define FUSE_USE_VERSION FUSE_MAKE_VERSION(3, 12)
#include <fuse3/fuse_lowlevel.h>

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

namespace {

struct Inode {
  int fd = -1;  // O_PATH
  dev_t dev = 0;
  ino_t ino = 0;
  uint64_t nlookup = 0;
};

struct Fs {
  Inode root;
  std::mutex mu;
  std::map<std::pair<dev_t, ino_t>, std::unique_ptr<Inode>> inodes;  // GUARDED_BY(mu)
  double timeout = 86400.0;
};

Fs* GetFs(fuse_req_t req) { return static_cast<Fs*>(fuse_req_userdata(req)); }

Inode* GetInode(fuse_req_t req, fuse_ino_t ino) {
  if (ino == FUSE_ROOT_ID) return &GetFs(req)->root;
  return reinterpret_cast<Inode*>(ino);
}

int Fd(fuse_req_t req, fuse_ino_t ino) { return GetInode(req, ino)->fd; }

// fi->fh of a file: the host fd in the low 32 bits, bit 32 set when it was opened with
// O_DIRECT (fi->direct_io is an output of open and is not sent back with each request).
constexpr uint64_t kDirectBit = 1ULL << 32;
uint64_t MakeFh(int fd, int flags) {
  return static_cast<uint32_t>(fd) | ((flags & O_DIRECT) ? kDirectBit : 0);
}
int FhFd(const fuse_file_info* fi) { return static_cast<int>(fi->fh & 0xffffffffu); }
bool FhDirect(const fuse_file_info* fi) { return (fi->fh & kDirectBit) != 0; }

std::string ProcPath(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

int DoLookup(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_entry_param* e) {
  Fs* fs = GetFs(req);
  std::memset(e, 0, sizeof *e);
  e->attr_timeout = fs->timeout;
  e->entry_timeout = fs->timeout;
  int fd = openat(Fd(req, parent), name, O_PATH | O_NOFOLLOW);
  if (fd < 0) return errno;
  if (fstatat(fd, "", &e->attr, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
    int err = errno;
    close(fd);
    return err;
  }
  std::lock_guard<std::mutex> l(fs->mu);
  auto key = std::make_pair(e->attr.st_dev, e->attr.st_ino);
  auto it = fs->inodes.find(key);
  Inode* inode;
  if (it != fs->inodes.end()) {
    inode = it->second.get();
    close(fd);
  } else {
    auto n = std::make_unique<Inode>();
    n->fd = fd;
    n->dev = e->attr.st_dev;
    n->ino = e->attr.st_ino;
    inode = n.get();
    fs->inodes.emplace(key, std::move(n));
  }
  inode->nlookup++;
  e->ino = reinterpret_cast<fuse_ino_t>(inode);
  return 0;
}

void Forget(fuse_req_t req, fuse_ino_t ino, uint64_t n) {
  Fs* fs = GetFs(req);
  Inode* inode = GetInode(req, ino);
  if (inode == &fs->root) return;
  std::lock_guard<std::mutex> l(fs->mu);
  inode->nlookup -= std::min(n, inode->nlookup);
  if (inode->nlookup == 0) {
    close(inode->fd);
    fs->inodes.erase(std::make_pair(inode->dev, inode->ino));
  }
}

void OpInit(void* userdata, fuse_conn_info* conn) {
  conn->max_write = 1 << 20;
  conn->max_readahead = 1 << 20;
  if (conn->capable & FUSE_CAP_READDIRPLUS) conn->want |= FUSE_CAP_READDIRPLUS;
  if (conn->capable & FUSE_CAP_PARALLEL_DIROPS) conn->want |= FUSE_CAP_PARALLEL_DIROPS;
  if (conn->capable & FUSE_CAP_ASYNC_DIO) conn->want |= FUSE_CAP_ASYNC_DIO;
}

void OpLookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  fuse_entry_param e;
  int err = DoLookup(req, parent, name, &e);
  if (err) {
    fuse_reply_err(req, err);
  } else {
    fuse_reply_entry(req, &e);
  }
}

void OpForget(fuse_req_t req, fuse_ino_t ino, uint64_t n) {
  Forget(req, ino, n);
  fuse_reply_none(req);
}

void OpForgetMulti(fuse_req_t req, size_t count, fuse_forget_data* f) {
  for (size_t i = 0; i < count; ++i) Forget(req, f[i].ino, f[i].nlookup);
  fuse_reply_none(req);
}

void OpGetattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  struct stat st;
  if (fstatat(Fd(req, ino), "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
    fuse_reply_err(req, errno);
    return;
  }
  fuse_reply_attr(req, &st, GetFs(req)->timeout);
}

void OpSetattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set,
               fuse_file_info* fi) {
  int fd = Fd(req, ino);
  std::string path = ProcPath(fd);
  if (to_set & FUSE_SET_ATTR_MODE) {
    if (chmod(path.c_str(), attr->st_mode) < 0) return (void)fuse_reply_err(req, errno);
  }
  if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
    uid_t u = (to_set & FUSE_SET_ATTR_UID) ? attr->st_uid : static_cast<uid_t>(-1);
    gid_t g = (to_set & FUSE_SET_ATTR_GID) ? attr->st_gid : static_cast<gid_t>(-1);
    if (fchownat(fd, "", u, g, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
      return (void)fuse_reply_err(req, errno);
  }
  if (to_set & FUSE_SET_ATTR_SIZE) {
    int r = fi ? ftruncate(FhFd(fi), attr->st_size)
               : truncate(path.c_str(), attr->st_size);
    if (r < 0) return (void)fuse_reply_err(req, errno);
  }
  if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)) {
    timespec tv[2];
    tv[0].tv_nsec = UTIME_OMIT;
    tv[1].tv_nsec = UTIME_OMIT;
    if (to_set & FUSE_SET_ATTR_ATIME_NOW) tv[0].tv_nsec = UTIME_NOW;
    else if (to_set & FUSE_SET_ATTR_ATIME) tv[0] = attr->st_atim;
    if (to_set & FUSE_SET_ATTR_MTIME_NOW) tv[1].tv_nsec = UTIME_NOW;
    else if (to_set & FUSE_SET_ATTR_MTIME) tv[1] = attr->st_mtim;
    if (utimensat(AT_FDCWD, path.c_str(), tv, 0) < 0) return (void)fuse_reply_err(req, errno);
  }
  OpGetattr(req, ino, fi);
}

void MakeNode(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, bool dir) {
  int r = dir ? mkdirat(Fd(req, parent), name, mode) : mknodat(Fd(req, parent), name, mode, 0);
  if (r < 0) return (void)fuse_reply_err(req, errno);
  OpLookup(req, parent, name);
}

void OpMkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  MakeNode(req, parent, name, S_IFDIR | mode, true);
}

void OpMknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t) {
  MakeNode(req, parent, name, mode, false);
}

void OpUnlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  fuse_reply_err(req, unlinkat(Fd(req, parent), name, 0) < 0 ? errno : 0);
}

void OpRmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  fuse_reply_err(req, unlinkat(Fd(req, parent), name, AT_REMOVEDIR) < 0 ? errno : 0);
}

void OpRename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
              const char* newname, unsigned int flags) {
  if (flags) return (void)fuse_reply_err(req, EINVAL);
  int r = renameat(Fd(req, parent), name, Fd(req, newparent), newname);
  fuse_reply_err(req, r < 0 ? errno : 0);
}

int OpenFlags(int flags) {
  // The kernel sends O_DIRECT through when the file is opened with it; keep it (the host
  // fd gets O_DIRECT too) and strip what makes no sense on a re-open by path.
  return flags & ~(O_NOFOLLOW | O_CREAT | O_EXCL | O_NOCTTY);
}

void OpOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  int fd = open(ProcPath(Fd(req, ino)).c_str(), OpenFlags(fi->flags));
  if (fd < 0) return (void)fuse_reply_err(req, errno);
  fi->fh = MakeFh(fd, fi->flags);
  if (fi->flags & O_DIRECT) fi->direct_io = 1;
  fi->keep_cache = 1;
  fuse_reply_open(req, fi);
}

void OpCreate(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
              fuse_file_info* fi) {
  int fd = openat(Fd(req, parent), name, (fi->flags | O_CREAT) & ~O_NOFOLLOW, mode);
  if (fd < 0) return (void)fuse_reply_err(req, errno);
  fi->fh = MakeFh(fd, fi->flags);
  if (fi->flags & O_DIRECT) fi->direct_io = 1;
  fuse_entry_param e;
  int err = DoLookup(req, parent, name, &e);
  if (err) {
    close(fd);
    return (void)fuse_reply_err(req, err);
  }
  fuse_reply_create(req, &e, fi);
}

void OpRelease(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  close(FhFd(fi));
  fuse_reply_err(req, 0);
}

void OpFlush(fuse_req_t req, fuse_ino_t, fuse_file_info*) { fuse_reply_err(req, 0); }

void OpFsync(fuse_req_t req, fuse_ino_t, int datasync, fuse_file_info* fi) {
  int fd = FhFd(fi);
  int r = datasync ? fdatasync(fd) : fsync(fd);
  fuse_reply_err(req, r < 0 ? errno : 0);
}

// FUSE_BUFVEC_INIT is a C99 compound literal, which -Wpedantic refuses in C++.
fuse_bufvec MakeBufvec(size_t size) {
  fuse_bufvec v{};
  v.count = 1;
  v.buf[0].size = size;
  v.buf[0].flags = static_cast<fuse_buf_flags>(0);
  v.buf[0].fd = -1;
  return v;
}

// O_DIRECT on the host fd needs aligned memory; libfuse's buffers are not aligned, so
// direct files go through an aligned bounce buffer.
struct AlignedBuf {
  explicit AlignedBuf(size_t n) {
    if (posix_memalign(&p, 4096, n ? n : 4096) != 0) p = nullptr;
  }
  ~AlignedBuf() { free(p); }
  void* p = nullptr;
};

void OpRead(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  if (FhDirect(fi)) {
    AlignedBuf b(size);
    if (!b.p) return (void)fuse_reply_err(req, ENOMEM);
    ssize_t r = pread(FhFd(fi), b.p, size, off);
    if (r < 0) return (void)fuse_reply_err(req, errno);
    fuse_reply_buf(req, static_cast<const char*>(b.p), static_cast<size_t>(r));
    return;
  }
  fuse_bufvec buf = MakeBufvec(size);
  buf.buf[0].flags = static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
  buf.buf[0].fd = FhFd(fi);
  buf.buf[0].pos = off;
  fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

void OpWriteBuf(fuse_req_t req, fuse_ino_t, fuse_bufvec* in, off_t off, fuse_file_info* fi) {
  size_t size = fuse_buf_size(in);
  if (FhDirect(fi)) {
    AlignedBuf b(size);
    if (!b.p) return (void)fuse_reply_err(req, ENOMEM);
    fuse_bufvec mem = MakeBufvec(size);
    mem.buf[0].mem = b.p;
    ssize_t got = fuse_buf_copy(&mem, in, static_cast<fuse_buf_copy_flags>(0));
    if (got < 0) return (void)fuse_reply_err(req, static_cast<int>(-got));
    ssize_t r = pwrite(FhFd(fi), b.p, static_cast<size_t>(got), off);
    if (r < 0) return (void)fuse_reply_err(req, errno);
    fuse_reply_write(req, static_cast<size_t>(r));
    return;
  }
  fuse_bufvec out = MakeBufvec(size);
  out.buf[0].flags = static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
  out.buf[0].fd = FhFd(fi);
  out.buf[0].pos = off;
  ssize_t r = fuse_buf_copy(&out, in, static_cast<fuse_buf_copy_flags>(0));
  if (r < 0) {
    fuse_reply_err(req, static_cast<int>(-r));
  } else {
    fuse_reply_write(req, static_cast<size_t>(r));
  }
}

void OpStatfs(fuse_req_t req, fuse_ino_t ino) {
  struct statvfs s;
  if (fstatvfs(Fd(req, ino), &s) < 0) return (void)fuse_reply_err(req, errno);
  fuse_reply_statfs(req, &s);
}

struct Dir {
  DIR* dp = nullptr;
  off_t offset = 0;
  dirent* entry = nullptr;
};

void OpOpendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  int fd = openat(Fd(req, ino), ".", O_RDONLY | O_DIRECTORY);
  if (fd < 0) return (void)fuse_reply_err(req, errno);
  auto* d = new Dir;
  d->dp = fdopendir(fd);
  if (!d->dp) {
    int err = errno;
    close(fd);
    delete d;
    return (void)fuse_reply_err(req, err);
  }
  fi->fh = reinterpret_cast<uint64_t>(d);
  fi->cache_readdir = 1;
  fi->keep_cache = 1;
  fuse_reply_open(req, fi);
}

void ReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, fuse_file_info* fi,
             bool plus) {
  Dir* d = reinterpret_cast<Dir*>(fi->fh);
  std::unique_ptr<char[]> buf(new char[size]);
  size_t used = 0;
  if (offset != d->offset) {
    seekdir(d->dp, offset);
    d->entry = nullptr;
    d->offset = offset;
  }
  while (true) {
    if (!d->entry) {
      errno = 0;
      d->entry = readdir(d->dp);
      if (!d->entry) {
        if (errno && used == 0) return (void)fuse_reply_err(req, errno);
        break;
      }
    }
    const char* name = d->entry->d_name;
    off_t next = d->entry->d_off;
    size_t n;
    bool dot = std::strcmp(name, ".") == 0 || std::strcmp(name, "..") == 0;
    if (plus) {
      fuse_entry_param e{};
      if (dot) {
        e.attr.st_ino = d->entry->d_ino;
        e.attr.st_mode = d->entry->d_type << 12;
      } else {
        int err = DoLookup(req, ino, name, &e);
        if (err) return (void)fuse_reply_err(req, err);
      }
      n = fuse_add_direntry_plus(req, buf.get() + used, size - used, name, &e, next);
      if (n > size - used) {
        if (!dot) Forget(req, e.ino, 1);
        break;
      }
    } else {
      struct stat st{};
      st.st_ino = d->entry->d_ino;
      st.st_mode = d->entry->d_type << 12;
      n = fuse_add_direntry(req, buf.get() + used, size - used, name, &st, next);
      if (n > size - used) break;
    }
    used += n;
    d->entry = nullptr;
    d->offset = next;
  }
  fuse_reply_buf(req, buf.get(), used);
}

void OpReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  ReadDir(req, ino, size, off, fi, false);
}

void OpReaddirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                   fuse_file_info* fi) {
  ReadDir(req, ino, size, off, fi, true);
}

void OpReleasedir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  Dir* d = reinterpret_cast<Dir*>(fi->fh);
  closedir(d->dp);
  delete d;
  fuse_reply_err(req, 0);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || argv[1][0] == '-') {
    std::fprintf(stderr, "usage: %s SOURCE_DIR MOUNTPOINT [-f] [-o opts]\n", argv[0]);
    return 2;
  }
  // SOURCE_DIR is ours; libfuse parses the rest (its first non-option is the mountpoint).
  const char* source = argv[1];
  argv[1] = argv[0];
  fuse_args args = FUSE_ARGS_INIT(argc - 1, argv + 1);
  fuse_cmdline_opts opts{};
  if (fuse_parse_cmdline(&args, &opts) != 0) return 2;
  if (opts.show_help || !opts.mountpoint) {
    std::fprintf(stderr, "usage: %s SOURCE_DIR MOUNTPOINT [-f] [-o opts]\n", argv[0]);
    return 2;
  }
  Fs fs;
  fs.root.fd = open(source, O_PATH);
  if (fs.root.fd < 0) {
    std::perror(source);
    return 1;
  }
  fuse_lowlevel_ops ops{};
  ops.init = OpInit;
  ops.lookup = OpLookup;
  ops.forget = OpForget;
  ops.forget_multi = OpForgetMulti;
  ops.getattr = OpGetattr;
  ops.setattr = OpSetattr;
  ops.mkdir = OpMkdir;
  ops.mknod = OpMknod;
  ops.unlink = OpUnlink;
  ops.rmdir = OpRmdir;
  ops.rename = OpRename;
  ops.open = OpOpen;
  ops.create = OpCreate;
  ops.release = OpRelease;
  ops.flush = OpFlush;
  ops.fsync = OpFsync;
  ops.read = OpRead;
  ops.write_buf = OpWriteBuf;
  ops.statfs = OpStatfs;
  ops.opendir = OpOpendir;
  ops.readdir = OpReaddir;
  ops.readdirplus = OpReaddirplus;
  ops.releasedir = OpReleasedir;

  fuse_session* se = fuse_session_new(&args, &ops, sizeof ops, &fs);
  if (!se) return 1;
  int rc = 1;
  if (fuse_set_signal_handlers(se) == 0) {
    if (fuse_session_mount(se, opts.mountpoint) == 0) {
      fuse_daemonize(opts.foreground);
      fuse_loop_config* cfg = fuse_loop_cfg_create();
      fuse_loop_cfg_set_max_threads(cfg, 16);
      rc = fuse_session_loop_mt(se, cfg);
      fuse_loop_cfg_destroy(cfg);
      fuse_session_unmount(se);
    }
    fuse_remove_signal_handlers(se);
  }
  fuse_session_destroy(se);
  free(opts.mountpoint);
  fuse_opt_free_args(&args);
  return rc ? 1 : 0;
}
