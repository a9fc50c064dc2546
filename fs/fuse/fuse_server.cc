// fs/fuse/fuse_server.cc: the FUSE low-level operations over FileSystem.
#include "fs/fuse/fuse_server.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <exception>
#include <new>

#include "common/logging.h"
#include "fs/fuse/kernel_wire.h"

namespace cohort::fs {
namespace {

// The request this worker thread read last (FuseServer::IoRead). libfuse's workers read
// a request and run its handler on the same thread before reading the next one.
thread_local wire::RequestInfo t_request;

// Requests read per opcode (one daemon serves one session; relaxed counters).
std::array<std::atomic<uint64_t>, wire::kOpcodeSlots> g_requests{};
std::atomic<bool> g_killpriv_v2{false};

FuseServer* Server(fuse_req_t req) { return static_cast<FuseServer*>(fuse_req_userdata(req)); }

OpContext ContextOf(fuse_req_t req) {
  const fuse_ctx* c = fuse_req_ctx(req);
  OpContext o;
  o.uid = c->uid;
  o.gid = c->gid;
  o.pid = static_cast<uint32_t>(c->pid);
  o.umask = c->umask;  // FUSE_CAP_DONT_MASK: we apply it (or a default ACL instead)
  return o;
}

// Runs `fn` and turns an escaping exception into an error reply (STYLE.md principle 5).
template <typename Fn>
void Guard(fuse_req_t req, Fn&& fn) {
  try {
    fn();
  } catch (const std::bad_alloc&) {
    fuse_reply_err(req, ENOMEM);
  } catch (const std::exception& e) {
    COHORT_LOG_ERROR("FUSE request failed with an exception: {}", e.what());
    fuse_reply_err(req, EIO);
  }
}

void ReplyStatus(fuse_req_t req, const Status& s) { fuse_reply_err(req, s.ToErrno()); }

void FillEntry(FuseServer* srv, const EntryInfo& info, fuse_entry_param* e) {
  std::memset(e, 0, sizeof *e);
  e->ino = srv->ToId(info.ino);
  e->generation = info.generation;
  e->attr = info.attr;
  e->attr.st_ino = e->ino;
  e->attr_timeout = srv->options().timeout_seconds;
  // A name handed out while its directory's glock is being given up is not cached
  // (docs/locking.md §3 rule 2).
  e->entry_timeout = info.cache_entry ? srv->options().timeout_seconds : 0.0;
}

void ReplyEntry(fuse_req_t req, const Result<EntryInfo>& r) {
  if (!r.ok()) return ReplyStatus(req, r.status());
  fuse_entry_param e;
  FillEntry(Server(req), *r, &e);
  if (fuse_reply_entry(req, &e) != 0) {
    // The kernel did not take the entry (interrupted): give the lookup count back.
    Server(req)->fs()->Forget(r->ino, 1);
  }
}

void ReplyAttr(fuse_req_t req, fuse_ino_t id, const Result<struct stat>& r) {
  if (!r.ok()) return ReplyStatus(req, r.status());
  struct stat st = *r;
  st.st_ino = id;
  fuse_reply_attr(req, &st, Server(req)->options().timeout_seconds);
}

// ---------------------------------------------------------------------------- the ops

void OpInit(void* userdata, fuse_conn_info* conn) {
  auto* srv = static_cast<FuseServer*>(userdata);
  conn->max_write = 1 << 20;
  conn->max_readahead = 1 << 20;
  unsigned want = FUSE_CAP_READDIRPLUS | FUSE_CAP_PARALLEL_DIROPS | FUSE_CAP_AUTO_INVAL_DATA |
                  FUSE_CAP_ASYNC_DIO | FUSE_CAP_ATOMIC_O_TRUNC | FUSE_CAP_EXPORT_SUPPORT |
                  FUSE_CAP_DONT_MASK;
  // POSIX ACLs: the kernel enforces them and caches them per inode; we validate them,
  // keep them in step with the mode and inherit default ACLs (docs/filesystem.md §10).
  // With it the kernel no longer applies the umask: the daemon does, unless a default
  // ACL applies (hence DONT_MASK, so that the kernel does not apply it either).
  if (srv->options().acl) want |= FUSE_CAP_POSIX_ACL;
  conn->want |= (want & conn->capable);
  // No writeback cache: writes reach the daemon at once, so a demotion never has dirty
  // kernel pages to launder (docs/locking.md §3 rule 1). No kernel-local POSIX locks
  // either: they would not hold across the cluster.
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
  (void)srv;
}

void OpDestroy(void* userdata) {}

void OpLookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Guard(req, [&] {
    FuseServer* srv = Server(req);
    ReplyEntry(req, srv->fs()->Lookup(ContextOf(req), srv->ToIno(parent), name));
  });
}

void OpForget(fuse_req_t req, fuse_ino_t id, uint64_t n) {
  try {
    Server(req)->fs()->Forget(Server(req)->ToIno(id), n);
  } catch (...) {
  }
  fuse_reply_none(req);
}

void OpForgetMulti(fuse_req_t req, size_t count, fuse_forget_data* f) {
  try {
    for (size_t i = 0; i < count; ++i) {
      Server(req)->fs()->Forget(Server(req)->ToIno(f[i].ino), f[i].nlookup);
    }
  } catch (...) {
  }
  fuse_reply_none(req);
}

void OpGetattr(fuse_req_t req, fuse_ino_t id, fuse_file_info*) {
  Guard(req, [&] { ReplyAttr(req, id, Server(req)->fs()->GetAttr(Server(req)->ToIno(id))); });
}

void OpSetattr(fuse_req_t req, fuse_ino_t id, struct stat* attr, int to_set, fuse_file_info*) {
  Guard(req, [&] {
    SetAttrRequest r;
    if (to_set & FUSE_SET_ATTR_MODE) r.mode = attr->st_mode;
    if (to_set & FUSE_SET_ATTR_UID) r.uid = attr->st_uid;
    if (to_set & FUSE_SET_ATTR_GID) r.gid = attr->st_gid;
    if (to_set & FUSE_SET_ATTR_SIZE) r.size = static_cast<uint64_t>(attr->st_size);
    auto ns = [](const timespec& t) { return int64_t{t.tv_sec} * kNanosPerSecond + t.tv_nsec; };
    if (to_set & FUSE_SET_ATTR_ATIME_NOW) {
      r.atime_ns = SetAttrRequest::kTimeNow;
    } else if (to_set & FUSE_SET_ATTR_ATIME) {
      r.atime_ns = ns(attr->st_atim);
    }
    if (to_set & FUSE_SET_ATTR_MTIME_NOW) {
      r.mtime_ns = SetAttrRequest::kTimeNow;
    } else if (to_set & FUSE_SET_ATTR_MTIME) {
      r.mtime_ns = ns(attr->st_mtim);
    }
    if (to_set & FUSE_SET_ATTR_CTIME) r.ctime_ns = ns(attr->st_ctim);
    OpContext c = ContextOf(req);
    c.kill_suidgid = FuseServer::KillSuidgidRequested(wire::kOpSetattr, id);
    ReplyAttr(req, id, Server(req)->fs()->SetAttr(c, Server(req)->ToIno(id), r));
  });
}

void OpReadlink(fuse_req_t req, fuse_ino_t id) {
  Guard(req, [&] {
    auto r = Server(req)->fs()->Readlink(Server(req)->ToIno(id));
    if (!r.ok()) return ReplyStatus(req, r.status());
    fuse_reply_readlink(req, r->c_str());
  });
}

void OpMknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
  Guard(req, [&] {
    FuseServer* srv = Server(req);
    OpContext c = ContextOf(req);
    ReplyEntry(req, srv->fs()->Mknod(c, srv->ToIno(parent), name, mode, rdev));
  });
}

void OpMkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  Guard(req, [&] {
    FuseServer* srv = Server(req);
    OpContext c = ContextOf(req);
    ReplyEntry(req, srv->fs()->Mkdir(c, srv->ToIno(parent), name, mode));
  });
}

void OpUnlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Guard(req, [&] {
    ReplyStatus(req, Server(req)->fs()->Unlink(ContextOf(req), Server(req)->ToIno(parent), name));
  });
}

void OpRmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Guard(req, [&] {
    ReplyStatus(req, Server(req)->fs()->Rmdir(ContextOf(req), Server(req)->ToIno(parent), name));
  });
}

void OpSymlink(fuse_req_t req, const char* link, fuse_ino_t parent, const char* name) {
  Guard(req, [&] {
    FuseServer* srv = Server(req);
    ReplyEntry(req, srv->fs()->Symlink(ContextOf(req), srv->ToIno(parent), name, link));
  });
}

void OpRename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
              const char* newname, unsigned int flags) {
  Guard(req, [&] {
    FuseServer* srv = Server(req);
    ReplyStatus(req, srv->fs()->Rename(ContextOf(req), srv->ToIno(parent), name,
                                       srv->ToIno(newparent), newname, flags));
  });
}

void OpLink(fuse_req_t req, fuse_ino_t id, fuse_ino_t newparent, const char* newname) {
  Guard(req, [&] {
    FuseServer* srv = Server(req);
    ReplyEntry(req, srv->fs()->Link(ContextOf(req), srv->ToIno(id), srv->ToIno(newparent), newname));
  });
}

void OpOpen(fuse_req_t req, fuse_ino_t id, fuse_file_info* fi) {
  Guard(req, [&] {
    OpContext c = ContextOf(req);
    c.kill_suidgid = FuseServer::KillSuidgidRequested(wire::kOpOpen, id);
    Status s = Server(req)->fs()->Open(c, Server(req)->ToIno(id), fi->flags);
    if (!s.ok()) return ReplyStatus(req, s);
    fi->keep_cache = 1;  // the page cache stays valid while mtime does (AUTO_INVAL_DATA)
    if (fuse_reply_open(req, fi) != 0) (void)Server(req)->fs()->Release(Server(req)->ToIno(id));
  });
}

void OpCreate(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
              fuse_file_info* fi) {
  Guard(req, [&] {
    FuseServer* srv = Server(req);
    OpContext c = ContextOf(req);
    c.kill_suidgid = FuseServer::KillSuidgidRequested(wire::kOpCreate, parent);
    auto r = srv->fs()->Create(c, srv->ToIno(parent), name, mode, fi->flags);
    if (!r.ok()) return ReplyStatus(req, r.status());
    fuse_entry_param e;
    FillEntry(srv, *r, &e);
    fi->keep_cache = 1;
    if (fuse_reply_create(req, &e, fi) != 0) {
      srv->fs()->Forget(r->ino, 1);
      (void)srv->fs()->Release(r->ino);
    }
  });
}

void OpRead(fuse_req_t req, fuse_ino_t id, size_t size, off_t off, fuse_file_info*) {
  Guard(req, [&] {
    thread_local std::vector<uint8_t> buf;  // keeps its capacity between requests
    Status s = Server(req)->fs()->Read(Server(req)->ToIno(id), static_cast<uint64_t>(off), size, &buf);
    if (!s.ok()) return ReplyStatus(req, s);
    fuse_reply_buf(req, reinterpret_cast<const char*>(buf.data()), buf.size());
  });
}

void OpWrite(fuse_req_t req, fuse_ino_t id, const char* data, size_t size, off_t off,
             fuse_file_info* fi) {
  Guard(req, [&] {
    FuseServer* srv = Server(req);
    uint64_t ino = srv->ToIno(id);
    uint64_t at = static_cast<uint64_t>(off);
    bool append = (fi->flags & O_APPEND) != 0;
    OpContext c = ContextOf(req);
    c.kill_suidgid = FuseServer::KillSuidgidRequested(wire::kOpWrite, id);
    auto r = srv->fs()->Write(c, ino, at,
                              std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data), size),
                              append);
    if (!r.ok()) return ReplyStatus(req, r.status());
    fuse_reply_write(req, *r);
  });
}

void OpFlush(fuse_req_t req, fuse_ino_t, fuse_file_info*) { fuse_reply_err(req, 0); }

void OpRelease(fuse_req_t req, fuse_ino_t id, fuse_file_info*) {
  Guard(req, [&] { ReplyStatus(req, Server(req)->fs()->Release(Server(req)->ToIno(id))); });
}

void OpFsync(fuse_req_t req, fuse_ino_t id, int datasync, fuse_file_info*) {
  Guard(req, [&] { ReplyStatus(req, Server(req)->fs()->Fsync(Server(req)->ToIno(id), datasync)); });
}

void OpOpendir(fuse_req_t req, fuse_ino_t id, fuse_file_info* fi) {
  Guard(req, [&] {
    Status s = Server(req)->fs()->OpenDir(ContextOf(req), Server(req)->ToIno(id));
    if (!s.ok()) return ReplyStatus(req, s);
    // The kernel may keep the listing (FOPEN_CACHE_DIR) across opens: it drops it when
    // the directory's mtime changes, which every entry change moves strictly forward, here
    // or on another node (whose change reaches us through the attribute invalidation of
    // locking.md §3 rule 1); with AUTO_INVAL_DATA the kernel revalidates mtime at each
    // listing from the start.
    fi->cache_readdir = 1;
    fi->keep_cache = 1;
    fuse_reply_open(req, fi);
  });
}

void ReadDirCommon(fuse_req_t req, fuse_ino_t id, size_t size, off_t off, bool plus) {
  FuseServer* srv = Server(req);
  // Entries are small; ask for roughly what fits, the rest comes with the next call.
  size_t max = std::max<size_t>(1, size / (plus ? 160 : 32));
  auto r = srv->fs()->ReadDir(srv->ToIno(id), static_cast<uint64_t>(off), max, plus);
  if (!r.ok()) return ReplyStatus(req, r.status());
  std::vector<char> buf(size);
  size_t used = 0;
  size_t i = 0;
  for (; i < r->size(); ++i) {
    DirItem& it = (*r)[i];
    size_t n;
    if (plus) {
      fuse_entry_param e{};
      if (it.entry) {
        FillEntry(srv, *it.entry, &e);
      } else {
        e.attr.st_ino = srv->ToId(it.ino);
        e.attr.st_mode = it.type << 12;
      }
      n = fuse_add_direntry_plus(req, buf.data() + used, size - used, it.name.c_str(), &e,
                                 static_cast<off_t>(it.cookie));
    } else {
      struct stat st {};
      st.st_ino = srv->ToId(it.ino);
      st.st_mode = it.type << 12;
      n = fuse_add_direntry(req, buf.data() + used, size - used, it.name.c_str(), &st,
                            static_cast<off_t>(it.cookie));
    }
    if (n > size - used) break;
    used += n;
  }
  // Entries we looked up but could not send give their lookup count back.
  for (size_t k = i; k < r->size(); ++k) {
    if ((*r)[k].entry) srv->fs()->Forget((*r)[k].entry->ino, 1);
  }
  fuse_reply_buf(req, buf.data(), used);
}

void OpReaddir(fuse_req_t req, fuse_ino_t id, size_t size, off_t off, fuse_file_info*) {
  Guard(req, [&] { ReadDirCommon(req, id, size, off, false); });
}

void OpReaddirplus(fuse_req_t req, fuse_ino_t id, size_t size, off_t off, fuse_file_info*) {
  Guard(req, [&] { ReadDirCommon(req, id, size, off, true); });
}

void OpReleasedir(fuse_req_t req, fuse_ino_t, fuse_file_info*) { fuse_reply_err(req, 0); }

void OpFsyncdir(fuse_req_t req, fuse_ino_t id, int datasync, fuse_file_info*) {
  Guard(req, [&] { ReplyStatus(req, Server(req)->fs()->Fsync(Server(req)->ToIno(id), datasync)); });
}

void OpStatfs(fuse_req_t req, fuse_ino_t) {
  Guard(req, [&] {
    auto r = Server(req)->fs()->StatFs();
    if (!r.ok()) return ReplyStatus(req, r.status());
    struct statvfs s {};
    s.f_bsize = r->block_size;
    s.f_frsize = r->block_size;
    s.f_blocks = r->blocks;
    s.f_bfree = r->free_blocks;
    s.f_bavail = r->free_blocks;
    s.f_files = r->files;
    s.f_ffree = r->free_files;
    s.f_favail = r->free_files;
    s.f_namemax = r->name_max;
    fuse_reply_statfs(req, &s);
  });
}

void OpSetxattr(fuse_req_t req, fuse_ino_t id, const char* name, const char* value, size_t size,
                int flags) {
  Guard(req, [&] {
    ReplyStatus(req, Server(req)->fs()->SetXattr(
                         ContextOf(req), Server(req)->ToIno(id), name,
                         std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(value), size),
                         flags));
  });
}

void OpGetxattr(fuse_req_t req, fuse_ino_t id, const char* name, size_t size) {
  Guard(req, [&] {
    auto r = Server(req)->fs()->GetXattr(Server(req)->ToIno(id), name);
    if (!r.ok()) return ReplyStatus(req, r.status());
    if (size == 0) return (void)fuse_reply_xattr(req, r->size());
    if (size < r->size()) return (void)fuse_reply_err(req, ERANGE);
    fuse_reply_buf(req, reinterpret_cast<const char*>(r->data()), r->size());
  });
}

void OpListxattr(fuse_req_t req, fuse_ino_t id, size_t size) {
  Guard(req, [&] {
    auto r = Server(req)->fs()->ListXattr(Server(req)->ToIno(id));
    if (!r.ok()) return ReplyStatus(req, r.status());
    std::string all;
    for (auto& n : *r) {
      all += n;
      all.push_back('\0');
    }
    if (size == 0) return (void)fuse_reply_xattr(req, all.size());
    if (size < all.size()) return (void)fuse_reply_err(req, ERANGE);
    fuse_reply_buf(req, all.data(), all.size());
  });
}

void OpRemovexattr(fuse_req_t req, fuse_ino_t id, const char* name) {
  Guard(req, [&] {
    ReplyStatus(req, Server(req)->fs()->RemoveXattr(ContextOf(req), Server(req)->ToIno(id), name));
  });
}

void OpAccess(fuse_req_t req, fuse_ino_t id, int mask) {
  Guard(req, [&] {
    ReplyStatus(req, Server(req)->fs()->Access(ContextOf(req), Server(req)->ToIno(id), mask));
  });
}

void OpFallocate(fuse_req_t req, fuse_ino_t id, int mode, off_t off, off_t len,
                 fuse_file_info*) {
  Guard(req, [&] {
    if (off < 0 || len <= 0) return (void)fuse_reply_err(req, EINVAL);
    ReplyStatus(req, Server(req)->fs()->Fallocate(ContextOf(req), Server(req)->ToIno(id), mode,
                                                  static_cast<uint64_t>(off),
                                                  static_cast<uint64_t>(len)));
  });
}

void OpLseek(fuse_req_t req, fuse_ino_t id, off_t off, int whence, fuse_file_info*) {
  Guard(req, [&] {
    if (off < 0) return (void)fuse_reply_err(req, ENXIO);
    auto r = Server(req)->fs()->Lseek(Server(req)->ToIno(id), static_cast<uint64_t>(off), whence);
    if (!r.ok()) return ReplyStatus(req, r.status());
    fuse_reply_lseek(req, static_cast<off_t>(*r));
  });
}

fuse_lowlevel_ops MakeOps() {
  fuse_lowlevel_ops ops{};
  ops.init = OpInit;
  ops.destroy = OpDestroy;
  ops.lookup = OpLookup;
  ops.forget = OpForget;
  ops.forget_multi = OpForgetMulti;
  ops.getattr = OpGetattr;
  ops.setattr = OpSetattr;
  ops.readlink = OpReadlink;
  ops.mknod = OpMknod;
  ops.mkdir = OpMkdir;
  ops.unlink = OpUnlink;
  ops.rmdir = OpRmdir;
  ops.symlink = OpSymlink;
  ops.rename = OpRename;
  ops.link = OpLink;
  ops.open = OpOpen;
  ops.create = OpCreate;
  ops.read = OpRead;
  ops.write = OpWrite;
  ops.flush = OpFlush;
  ops.release = OpRelease;
  ops.fsync = OpFsync;
  ops.opendir = OpOpendir;
  ops.readdir = OpReaddir;
  ops.readdirplus = OpReaddirplus;
  ops.releasedir = OpReleasedir;
  ops.fsyncdir = OpFsyncdir;
  ops.statfs = OpStatfs;
  ops.setxattr = OpSetxattr;
  ops.getxattr = OpGetxattr;
  ops.listxattr = OpListxattr;
  ops.removexattr = OpRemovexattr;
  ops.access = OpAccess;
  ops.fallocate = OpFallocate;
  ops.lseek = OpLseek;
  return ops;
}

}  // namespace

Result<std::unique_ptr<FuseServer>> FuseServer::Create(FileSystem* fs, FuseServerOptions options) {
  auto srv = std::unique_ptr<FuseServer>(new FuseServer(fs, std::move(options)));
  std::vector<std::string> args{"cohort"};
  if (srv->options_.debug) args.push_back("-d");
  std::string o = "default_permissions,fsname=" + srv->options_.fsname + ",subtype=cohort";
  if (srv->options_.allow_other) o += ",allow_other";
  if (srv->options_.read_only) o += ",ro";
  for (const auto& x : srv->options_.extra_options) o += "," + x;
  args.push_back("-o");
  args.push_back(o);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  fuse_args fargs = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  fuse_lowlevel_ops ops = MakeOps();
  srv->se_ = fuse_session_new(&fargs, &ops, sizeof ops, srv.get());
  if (srv->se_ == nullptr) return Status::InvalidArgument("FUSE rejected the mount options: " + o);
  FuseServer* raw = srv.get();
  srv->notifier_ = std::thread([raw] { raw->NotifyLoop(); });
  return srv;
}

FuseServer::~FuseServer() {
  {
    MutexLock l(&notify_mu_);
    notify_stop_ = true;
    notify_cv_.SignalAll();
  }
  if (notifier_.joinable()) notifier_.join();
  Unmount();
  if (se_) {
    if (signals_) fuse_remove_signal_handlers(se_);
    fuse_session_destroy(se_);
  }
}

Status FuseServer::Mount() {
  if (fuse_session_mount(se_, options_.mountpoint.c_str()) != 0) {
    return Status::IOError("cannot mount FUSE at " + options_.mountpoint +
                           " (is /dev/fuse there, fuse3 installed, the directory empty?)");
  }
  mounted_ = true;
  // Same fd, our read/writev around it (kernel_wire.h). Without it the session works
  // as before, only without FUSE_HANDLE_KILLPRIV_V2.
  fuse_custom_io io{};
  io.read = &FuseServer::IoRead;
  io.writev = &FuseServer::IoWritev;
  int rc = fuse_session_custom_io(se_, &io, fuse_session_fd(se_));
  if (rc != 0) COHORT_LOG_WARN("fuse_session_custom_io failed ({}): no KILLPRIV_V2", rc);
  return Status::OK();
}

bool FuseServer::KillSuidgidRequested(uint32_t opcode, fuse_ino_t id) {
  return t_request.opcode == opcode && t_request.nodeid == id && t_request.kill_suidgid;
}

std::string FuseServer::FormatRequestCounts() {
  std::string out;
  uint64_t total = 0;
  for (uint32_t op = 0; op < wire::kOpcodeSlots; ++op) {
    uint64_t n = g_requests[op].load(std::memory_order_relaxed);
    total += n;
    const char* name = wire::OpcodeName(op);
    if (n == 0 || *name == '\0') continue;
    out += std::string("fuse.requests.") + name + " " + std::to_string(n) + "\n";
  }
  out += "fuse.requests.total " + std::to_string(total) + "\n";
  out += std::string("fuse.killpriv_v2 ") + (g_killpriv_v2.load() ? "1" : "0") + "\n";
  return out;
}

ssize_t FuseServer::IoRead(int fd, void* buf, size_t len, void* userdata) {
  ssize_t n = ::read(fd, buf, len);
  if (n <= 0) {
    t_request = wire::RequestInfo{};
    return n;  // errno is read's: libfuse acts on it
  }
  t_request = wire::ParseRequest(buf, static_cast<size_t>(n));
  if (t_request.opcode < wire::kOpcodeSlots) {
    g_requests[t_request.opcode].fetch_add(1, std::memory_order_relaxed);
  }
  if (t_request.opcode == wire::kOpInit) {
    auto* srv = static_cast<FuseServer*>(userdata);
    srv->kernel_offers_killpriv_v2_.store(t_request.offers_killpriv_v2);
    srv->init_unique_.store(t_request.unique);
  }
  return n;
}

ssize_t FuseServer::IoWritev(int fd, struct iovec* iov, int count, void* userdata) {
  auto* srv = static_cast<FuseServer*>(userdata);
  // The reply to INIT: a header (iov[0]) and the body (iov[1]), as libfuse sends it.
  uint64_t unique = 0;
  int32_t error = -1;
  if (count >= 2 && srv->options_.killpriv_v2 && srv->kernel_offers_killpriv_v2_.load() &&
      !srv->killpriv_v2_.load() &&
      wire::ParseReplyHeader(iov[0].iov_base, iov[0].iov_len, &unique, &error)) {
    if (error == 0 && unique != 0 && unique == srv->init_unique_.load() &&
        wire::AddKillPrivV2ToInitReply(iov[1].iov_base, iov[1].iov_len)) {
      srv->killpriv_v2_.store(true);
      g_killpriv_v2.store(true);
      COHORT_LOG_INFO("FUSE: FUSE_HANDLE_KILLPRIV_V2 on (suid/sgid/capability cleared by us)");
    }
  }
  return ::writev(fd, iov, count);
}

Status FuseServer::Loop() {
  if (!signals_ && fuse_set_signal_handlers(se_) == 0) signals_ = true;
  fuse_loop_config* cfg = fuse_loop_cfg_create();
  fuse_loop_cfg_set_max_threads(cfg, static_cast<unsigned>(options_.max_threads));
  serving_ = true;
  int rc = fuse_session_loop_mt(se_, cfg);
  serving_ = false;
  fuse_loop_cfg_destroy(cfg);
  if (rc < 0) return Status::FromErrno(-rc, "FUSE session loop");
  return Status::OK();
}

void FuseServer::Exit() {
  if (se_) fuse_session_exit(se_);
}

void FuseServer::Unmount() {
  if (mounted_ && se_) {
    fuse_session_unmount(se_);
    mounted_ = false;
  }
}

void FuseServer::InvalidateAttributes(uint64_t ino) {
  if (!serving_ || se_ == nullptr) return;
  // Attributes only (offset -1): takes no kernel page or directory lock, so it cannot
  // deadlock with requests waiting on the glock being given up (docs/locking.md §3).
  int rc = fuse_lowlevel_notify_inval_inode(se_, ToId(ino), -1, 0);
  if (rc != 0 && rc != -ENOENT) {
    COHORT_LOG_WARN("notify_inval_inode({}) failed: {}", ino, std::strerror(-rc));
  }
}

}  // namespace cohort::fs

namespace cohort::fs {

void FuseServer::InvalidateEntries(uint64_t parent, std::vector<std::string> names,
                                   std::function<void()> done) {
  {
    MutexLock l(&notify_mu_);
    if (!notify_stop_) {
      notify_jobs_.push_back({parent, std::move(names), std::move(done)});
      notify_cv_.Signal();
      return;
    }
  }
  if (done) done();
}

bool FuseServer::ExpireAllEntries() {
  if (!serving_ || se_ == nullptr || !epoch_supported_) return false;
  // libfuse 3.14 has no call for it: the notification is a bare header (unique 0, the
  // code in `error`, no payload), written like any reply. The kernel handles it with
  // an atomic increment of the connection's epoch: no lock, cannot block.
  struct OutHeader {  // struct fuse_out_header of <linux/fuse.h>
    uint32_t len;
    int32_t error;
    uint64_t unique;
  };
  static_assert(sizeof(OutHeader) == 16);
  constexpr int32_t kFuseNotifyIncEpoch = 8;  // enum fuse_notify_code, protocol 7.44
  OutHeader h{.len = sizeof(OutHeader), .error = kFuseNotifyIncEpoch, .unique = 0};
  ssize_t n = write(fuse_session_fd(se_), &h, sizeof h);
  if (n == static_cast<ssize_t>(sizeof h)) return true;
  int err = errno;
  if (err == EINVAL || err == ENOSYS) {
    epoch_supported_ = false;
    COHORT_LOG_WARN("the kernel does not support FUSE_NOTIFY_INC_EPOCH (Linux 6.16+): a "
                    "directory given up without its dentry invalidation leaves names "
                    "stale until that invalidation completes (docs/locking.md §3)");
  } else if (err != ENOTCONN && err != ENODEV) {
    COHORT_LOG_WARN("FUSE_NOTIFY_INC_EPOCH failed: {}", std::strerror(err));
  }
  return false;
}

void FuseServer::NotifyLoop() {
  while (true) {
    NotifyJob job;
    {
      MutexLock l(&notify_mu_);
      while (notify_jobs_.empty() && !notify_stop_) notify_cv_.Wait();
      if (notify_jobs_.empty()) return;  // stopping, nothing left
      job = std::move(notify_jobs_.front());
      notify_jobs_.pop_front();
      if (options_.test_hold_entry_notifies) {
        while (!notify_stop_) notify_cv_.Wait();
      }
    }
    // No Cohort mutex and no glock holder here (docs/locking.md §3 rule 3). The kernel
    // takes the directory's lock: this waits while a request in that directory runs.
    for (const std::string& name : job.names) {
      if (!serving_) break;
      int rc = fuse_lowlevel_notify_inval_entry(se_, ToId(job.parent), name.data(), name.size());
      if (rc != 0 && rc != -ENOENT && rc != -ENOTCONN) {
        COHORT_LOG_WARN("notify_inval_entry({}, {}) failed: {}", job.parent, name,
                        std::strerror(-rc));
      }
    }
    if (job.done) job.done();
  }
}

}  // namespace cohort::fs
