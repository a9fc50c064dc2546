// common/status.h: Status and Result<T>, the one error type inside Cohort.
//
// Every fallible function returns Status or Result<T> (STYLE.md principle 4). Both are
// [[nodiscard]]. A Status is converted to an errno exactly once, at the FUSE edge and in
// the command-line tools, through the table in status.cc (ToErrno()); it is made from an
// errno, an Asio error_code or an LMDB rc only at those edges (FromErrno()).
//
// Thread safety: values; distinct objects may be used from different threads.
#pragma once

#include <cstdint>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace cohort {

// Error codes. The numeric values appear in logs and on the wire (DLM status fields):
// DO NOT CHANGE a value; retired values are never reused. Add new codes at the end and
// give them a row in the errno table of status.cc (a test checks every code maps).
enum class Code : uint8_t {
  kOk = 0,
  kNotFound = 1,         // ENOENT
  kCorruption = 2,       // EUCLEAN: on-disk or on-wire data fails a check
  kInvalidArgument = 3,  // EINVAL
  kIOError = 4,          // EIO
  kNoSpace = 5,          // ENOSPC
  kExists = 6,           // EEXIST
  kNotEmpty = 7,         // ENOTEMPTY
  kNotDir = 8,           // ENOTDIR
  kIsDir = 9,            // EISDIR
  kPermission = 10,      // EPERM: operation not permitted
  kAccess = 11,          // EACCES: permission denied by mode bits / ACL
  kBusy = 12,            // EBUSY
  kTimedOut = 13,        // ETIMEDOUT
  kCancelled = 14,       // ECANCELED
  kDeadlock = 15,        // EDEADLK
  kWouldBlock = 16,      // EAGAIN: NOQUEUE request not grantable at once
  kUnavailable = 17,     // EIO: no quorum, fenced, peer not a member
  kNotSupported = 18,    // EOPNOTSUPP
  kNameTooLong = 19,     // ENAMETOOLONG
  kFileTooBig = 20,      // EFBIG
  kLoop = 21,            // ELOOP
  kCrossDevice = 22,     // EXDEV
  kReadOnly = 23,        // EROFS
  kInterrupted = 24,     // EINTR
  kNoMemory = 25,        // ENOMEM
  kProtocol = 26,        // EPROTO: a peer broke the wire protocol
  kAuthFailed = 27,      // EACCES: a peer failed authentication
  kOutOfRange = 28,      // ERANGE
  kNoData = 29,          // ENODATA: no such xattr
  kTooManyLinks = 30,    // EMLINK
  kStale = 31,           // ESTALE
  kInternal = 32,        // EIO: a broken invariant of our own
  kNotConnected = 33,    // ENOTCONN
  kBadFd = 34,           // EBADF
  kTextBusy = 35,        // ETXTBSY
  kNoLock = 36,          // ENOLCK: lock table full / lock not held
  kAborted = 37,         // ECONNABORTED: operation abandoned by shutdown or recovery
  kNoSuchAddress = 38,   // ENXIO: e.g. SEEK_DATA past the last data
};
inline constexpr int kNumCodes = 39;

// Short stable name of a code ("NotFound").
const char* CodeName(Code code);
// The errno a code becomes at the FUSE edge (0 for kOk).
int CodeToErrno(Code code);

class [[nodiscard]] Status {
 public:
  Status() noexcept = default;  // OK
  Status(Code code, std::string_view msg);
  Status(const Status& o) : rep_(o.rep_ ? std::make_unique<Rep>(*o.rep_) : nullptr) {}
  Status& operator=(const Status& o) {
    if (this != &o) rep_ = o.rep_ ? std::make_unique<Rep>(*o.rep_) : nullptr;
    return *this;
  }
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;

  static Status OK() { return Status(); }
#define COHORT_STATUS_FACTORY(Name) \
  static Status Name(std::string_view msg = {}) { return Status(Code::k##Name, msg); }
  COHORT_STATUS_FACTORY(NotFound)
  COHORT_STATUS_FACTORY(Corruption)
  COHORT_STATUS_FACTORY(InvalidArgument)
  COHORT_STATUS_FACTORY(IOError)
  COHORT_STATUS_FACTORY(NoSpace)
  COHORT_STATUS_FACTORY(Exists)
  COHORT_STATUS_FACTORY(NotEmpty)
  COHORT_STATUS_FACTORY(NotDir)
  COHORT_STATUS_FACTORY(IsDir)
  COHORT_STATUS_FACTORY(Permission)
  COHORT_STATUS_FACTORY(Access)
  COHORT_STATUS_FACTORY(Busy)
  COHORT_STATUS_FACTORY(TimedOut)
  COHORT_STATUS_FACTORY(Cancelled)
  COHORT_STATUS_FACTORY(Deadlock)
  COHORT_STATUS_FACTORY(WouldBlock)
  COHORT_STATUS_FACTORY(Unavailable)
  COHORT_STATUS_FACTORY(NotSupported)
  COHORT_STATUS_FACTORY(NameTooLong)
  COHORT_STATUS_FACTORY(FileTooBig)
  COHORT_STATUS_FACTORY(ReadOnly)
  COHORT_STATUS_FACTORY(Protocol)
  COHORT_STATUS_FACTORY(AuthFailed)
  COHORT_STATUS_FACTORY(OutOfRange)
  COHORT_STATUS_FACTORY(Internal)
  COHORT_STATUS_FACTORY(Aborted)
  COHORT_STATUS_FACTORY(Stale)
  COHORT_STATUS_FACTORY(NoData)
  COHORT_STATUS_FACTORY(TooManyLinks)
  COHORT_STATUS_FACTORY(Loop)
  COHORT_STATUS_FACTORY(CrossDevice)
  COHORT_STATUS_FACTORY(NoSuchAddress)
#undef COHORT_STATUS_FACTORY

  // From an errno value (positive), e.g. after a failed syscall. `context` says what
  // failed ("open /dev/sdb"); strerror(err) is appended.
  static Status FromErrno(int err, std::string_view context);

  bool ok() const { return rep_ == nullptr; }
  Code code() const { return rep_ ? rep_->code : Code::kOk; }
  // The message without the code name ("" when OK).
  std::string_view message() const { return rep_ ? std::string_view(rep_->msg) : ""; }
  // The positive errno for the FUSE edge (0 when OK).
  int ToErrno() const { return CodeToErrno(code()); }
  // "NotFound: inode 12" or "OK".
  std::string ToString() const;

  // Returns a copy with "context: " prepended to the message.
  Status WithContext(std::string_view context) const;

  bool Is(Code c) const { return code() == c; }

 private:
  struct Rep {
    Code code;
    std::string msg;
  };
  std::unique_ptr<Rep> rep_;
};

// Result<T>: a T or a non-OK Status. std::expected is C++23 and not in clang 14's
// library, hence our own.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT: implicit by design
    if (std::get<Status>(v_).ok()) v_ = Status::Internal("Result made from OK Status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  // OK if a value is held.
  Status status() const { return ok() ? Status::OK() : std::get<Status>(v_); }
  Code code() const { return ok() ? Code::kOk : std::get<Status>(v_).code(); }

  // REQUIRES: ok().
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  T value_or(T fallback) const& { return ok() ? value() : std::move(fallback); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace cohort

// Returns early with the Status of `expr` if it is not OK.
#define COHORT_RETURN_IF_ERROR(expr)                 \
  do {                                               \
    ::cohort::Status cohort_status_ = (expr);        \
    if (!cohort_status_.ok()) return cohort_status_; \
  } while (0)

#define COHORT_CONCAT_INNER_(a, b) a##b
#define COHORT_CONCAT_(a, b) COHORT_CONCAT_INNER_(a, b)

// `lhs` = value of the Result `rexpr`, or return its Status. `lhs` may declare:
//   COHORT_ASSIGN_OR_RETURN(auto block, dev.Read(n));
#define COHORT_ASSIGN_OR_RETURN(lhs, rexpr) \
  COHORT_ASSIGN_OR_RETURN_IMPL_(COHORT_CONCAT_(cohort_result_, __LINE__), lhs, rexpr)
#define COHORT_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                                  \
  if (!tmp.ok()) return tmp.status();                  \
  lhs = std::move(tmp).value()
