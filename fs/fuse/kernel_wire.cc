// fs/fuse/kernel_wire.cc: see kernel_wire.h. The structures are the kernel's own
// (<linux/fuse.h>, host byte order, as /dev/fuse carries them); only this file
// includes that header, so that its names never meet libfuse's.
#include "fs/fuse/kernel_wire.h"

#include <linux/fuse.h>

#include <cstring>

namespace cohort::fs::wire {
namespace {

static_assert(kOpSetattr == FUSE_SETATTR && kOpOpen == FUSE_OPEN && kOpWrite == FUSE_WRITE &&
              kOpInit == FUSE_INIT && kOpCreate == FUSE_CREATE);

// Copies the request body `T` that follows the header, if the buffer holds all of it.
template <typename T>
bool Body(const void* buf, size_t n, const fuse_in_header& h, T* out) {
  const size_t need = sizeof(fuse_in_header) + sizeof(T);
  if (n < need || h.len < need) return false;
  std::memcpy(out, static_cast<const uint8_t*>(buf) + sizeof(fuse_in_header), sizeof(T));
  return true;
}

}  // namespace

RequestInfo ParseRequest(const void* buf, size_t n) {
  RequestInfo info;
  fuse_in_header h;
  if (buf == nullptr || n < sizeof h) return info;
  std::memcpy(&h, buf, sizeof h);
  info.opcode = h.opcode;
  info.unique = h.unique;
  info.nodeid = h.nodeid;
  switch (h.opcode) {
    case FUSE_WRITE: {
      fuse_write_in w;
      if (Body(buf, n, h, &w)) info.kill_suidgid = (w.write_flags & FUSE_WRITE_KILL_SUIDGID) != 0;
      break;
    }
    case FUSE_SETATTR: {
      fuse_setattr_in s;
      if (Body(buf, n, h, &s)) info.kill_suidgid = (s.valid & FATTR_KILL_SUIDGID) != 0;
      break;
    }
    case FUSE_OPEN: {
      fuse_open_in o;
      if (Body(buf, n, h, &o)) info.kill_suidgid = (o.open_flags & FUSE_OPEN_KILL_SUIDGID) != 0;
      break;
    }
    case FUSE_CREATE: {
      fuse_create_in c;
      if (Body(buf, n, h, &c)) info.kill_suidgid = (c.open_flags & FUSE_OPEN_KILL_SUIDGID) != 0;
      break;
    }
    case FUSE_INIT: {
      // Only the first four words are common to every protocol minor version.
      uint32_t w[4];
      const size_t need = sizeof(fuse_in_header) + sizeof w;
      if (n >= need && h.len >= need) {
        std::memcpy(w, static_cast<const uint8_t*>(buf) + sizeof(fuse_in_header), sizeof w);
        info.offers_killpriv_v2 = w[0] == FUSE_KERNEL_VERSION && (w[3] & FUSE_HANDLE_KILLPRIV_V2) != 0;
      }
      break;
    }
    default:
      break;
  }
  return info;
}

const char* OpcodeName(uint32_t opcode) {
  switch (opcode) {
#define COHORT_OP(x) \
  case FUSE_##x:     \
    return #x;
    COHORT_OP(LOOKUP) COHORT_OP(FORGET) COHORT_OP(GETATTR) COHORT_OP(SETATTR)
    COHORT_OP(READLINK) COHORT_OP(SYMLINK) COHORT_OP(MKNOD) COHORT_OP(MKDIR)
    COHORT_OP(UNLINK) COHORT_OP(RMDIR) COHORT_OP(RENAME) COHORT_OP(LINK) COHORT_OP(OPEN)
    COHORT_OP(READ) COHORT_OP(WRITE) COHORT_OP(STATFS) COHORT_OP(RELEASE) COHORT_OP(FSYNC)
    COHORT_OP(SETXATTR) COHORT_OP(GETXATTR) COHORT_OP(LISTXATTR) COHORT_OP(REMOVEXATTR)
    COHORT_OP(FLUSH) COHORT_OP(INIT) COHORT_OP(OPENDIR) COHORT_OP(READDIR)
    COHORT_OP(RELEASEDIR) COHORT_OP(FSYNCDIR) COHORT_OP(GETLK) COHORT_OP(SETLK)
    COHORT_OP(SETLKW) COHORT_OP(ACCESS) COHORT_OP(CREATE) COHORT_OP(INTERRUPT)
    COHORT_OP(BMAP) COHORT_OP(DESTROY) COHORT_OP(IOCTL) COHORT_OP(POLL)
    COHORT_OP(NOTIFY_REPLY) COHORT_OP(BATCH_FORGET) COHORT_OP(FALLOCATE)
    COHORT_OP(READDIRPLUS) COHORT_OP(RENAME2) COHORT_OP(LSEEK) COHORT_OP(COPY_FILE_RANGE)
    COHORT_OP(SETUPMAPPING) COHORT_OP(REMOVEMAPPING) COHORT_OP(SYNCFS) COHORT_OP(TMPFILE)
#undef COHORT_OP
    default:
      return "";
  }
}

bool ParseReplyHeader(const void* header, size_t n, uint64_t* unique, int32_t* error) {
  fuse_out_header h;
  if (header == nullptr || n < sizeof h) return false;
  std::memcpy(&h, header, sizeof h);
  *unique = h.unique;
  *error = h.error;
  return true;
}

bool AddKillPrivV2ToInitReply(void* reply, size_t n) {
  // major, minor, max_readahead, flags: present in every INIT reply libfuse sends to a
  // kernel of protocol 7.23 or later (FUSE_COMPAT_22_INIT_OUT_SIZE and up).
  constexpr size_t kFlagsAt = offsetof(fuse_init_out, flags);
  if (reply == nullptr || n < kFlagsAt + sizeof(uint32_t)) return false;
  uint32_t flags;
  std::memcpy(&flags, static_cast<uint8_t*>(reply) + kFlagsAt, sizeof flags);
  flags |= FUSE_HANDLE_KILLPRIV_V2;
  std::memcpy(static_cast<uint8_t*>(reply) + kFlagsAt, &flags, sizeof flags);
  return true;
}

bool InitReplyHasKillPrivV2(const void* reply, size_t n) {
  constexpr size_t kFlagsAt = offsetof(fuse_init_out, flags);
  if (reply == nullptr || n < kFlagsAt + sizeof(uint32_t)) return false;
  uint32_t flags;
  std::memcpy(&flags, static_cast<const uint8_t*>(reply) + kFlagsAt, sizeof flags);
  return (flags & FUSE_HANDLE_KILLPRIV_V2) != 0;
}

}  // namespace cohort::fs::wire
