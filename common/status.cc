// common/status.cc: the code table of common/status.h (name and errno per code).
#include "common/status.h"

#include <cerrno>
#include <cstring>

namespace cohort {
namespace {

struct CodeInfo {
  Code code;
  const char* name;
  int err;
};

// One row per code, in code order (checked by StatusTest.EveryCodeHasARow).
constexpr CodeInfo kCodeTable[kNumCodes] = {
    {Code::kOk, "OK", 0},
    {Code::kNotFound, "NotFound", ENOENT},
    {Code::kCorruption, "Corruption", EUCLEAN},
    {Code::kInvalidArgument, "InvalidArgument", EINVAL},
    {Code::kIOError, "IOError", EIO},
    {Code::kNoSpace, "NoSpace", ENOSPC},
    {Code::kExists, "Exists", EEXIST},
    {Code::kNotEmpty, "NotEmpty", ENOTEMPTY},
    {Code::kNotDir, "NotDir", ENOTDIR},
    {Code::kIsDir, "IsDir", EISDIR},
    {Code::kPermission, "Permission", EPERM},
    {Code::kAccess, "Access", EACCES},
    {Code::kBusy, "Busy", EBUSY},
    {Code::kTimedOut, "TimedOut", ETIMEDOUT},
    {Code::kCancelled, "Cancelled", ECANCELED},
    {Code::kDeadlock, "Deadlock", EDEADLK},
    {Code::kWouldBlock, "WouldBlock", EAGAIN},
    {Code::kUnavailable, "Unavailable", EIO},
    {Code::kNotSupported, "NotSupported", EOPNOTSUPP},
    {Code::kNameTooLong, "NameTooLong", ENAMETOOLONG},
    {Code::kFileTooBig, "FileTooBig", EFBIG},
    {Code::kLoop, "Loop", ELOOP},
    {Code::kCrossDevice, "CrossDevice", EXDEV},
    {Code::kReadOnly, "ReadOnly", EROFS},
    {Code::kInterrupted, "Interrupted", EINTR},
    {Code::kNoMemory, "NoMemory", ENOMEM},
    {Code::kProtocol, "Protocol", EPROTO},
    {Code::kAuthFailed, "AuthFailed", EACCES},
    {Code::kOutOfRange, "OutOfRange", ERANGE},
    {Code::kNoData, "NoData", ENODATA},
    {Code::kTooManyLinks, "TooManyLinks", EMLINK},
    {Code::kStale, "Stale", ESTALE},
    {Code::kInternal, "Internal", EIO},
    {Code::kNotConnected, "NotConnected", ENOTCONN},
    {Code::kBadFd, "BadFd", EBADF},
    {Code::kTextBusy, "TextBusy", ETXTBSY},
    {Code::kNoLock, "NoLock", ENOLCK},
    {Code::kAborted, "Aborted", ECONNABORTED},
    {Code::kNoSuchAddress, "NoSuchAddress", ENXIO},
};

constexpr bool TableInCodeOrder() {
  for (int i = 0; i < kNumCodes; ++i) {
    if (static_cast<int>(kCodeTable[i].code) != i) return false;
  }
  return true;
}
static_assert(TableInCodeOrder(), "kCodeTable must list every Code in order");

Code CodeFromErrno(int err) {
  switch (err) {
    case 0: return Code::kOk;
    case ENOENT: return Code::kNotFound;
    case EUCLEAN: return Code::kCorruption;
    case EINVAL: return Code::kInvalidArgument;
    case ENOSPC: case EDQUOT: return Code::kNoSpace;
    case EEXIST: return Code::kExists;
    case ENOTEMPTY: return Code::kNotEmpty;
    case ENOTDIR: return Code::kNotDir;
    case EISDIR: return Code::kIsDir;
    case EPERM: return Code::kPermission;
    case EACCES: return Code::kAccess;
    case EBUSY: return Code::kBusy;
    case ETIMEDOUT: return Code::kTimedOut;
    case ECANCELED: return Code::kCancelled;
    case EDEADLK: return Code::kDeadlock;
    case EAGAIN: return Code::kWouldBlock;
    case EOPNOTSUPP: return Code::kNotSupported;
    case ENAMETOOLONG: return Code::kNameTooLong;
    case EFBIG: return Code::kFileTooBig;
    case ELOOP: return Code::kLoop;
    case EXDEV: return Code::kCrossDevice;
    case EROFS: return Code::kReadOnly;
    case EINTR: return Code::kInterrupted;
    case ENOMEM: return Code::kNoMemory;
    case EPROTO: return Code::kProtocol;
    case ERANGE: return Code::kOutOfRange;
    case ENODATA: return Code::kNoData;
    case EMLINK: return Code::kTooManyLinks;
    case ESTALE: return Code::kStale;
    case ENOTCONN: return Code::kNotConnected;
    case EBADF: return Code::kBadFd;
    case ETXTBSY: return Code::kTextBusy;
    case ENOLCK: return Code::kNoLock;
    case ECONNABORTED: return Code::kAborted;
    case ENXIO: return Code::kNoSuchAddress;
    default: return Code::kIOError;
  }
}

}  // namespace

const char* CodeName(Code code) {
  auto i = static_cast<unsigned>(code);
  return i < static_cast<unsigned>(kNumCodes) ? kCodeTable[i].name : "Unknown";
}

int CodeToErrno(Code code) {
  auto i = static_cast<unsigned>(code);
  return i < static_cast<unsigned>(kNumCodes) ? kCodeTable[i].err : EIO;
}

Status::Status(Code code, std::string_view msg) {
  if (code != Code::kOk) rep_ = std::make_unique<Rep>(Rep{code, std::string(msg)});
}

Status Status::FromErrno(int err, std::string_view context) {
  if (err == 0) return Status::OK();
  std::string msg(context);
  if (!msg.empty()) msg += ": ";
  msg += std::strerror(err);
  return Status(CodeFromErrno(err), msg);
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string s = CodeName(rep_->code);
  if (!rep_->msg.empty()) {
    s += ": ";
    s += rep_->msg;
  }
  return s;
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  std::string msg(context);
  if (!rep_->msg.empty()) {
    msg += ": ";
    msg += rep_->msg;
  }
  return Status(rep_->code, msg);
}

}  // namespace cohort
