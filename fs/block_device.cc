// fs/block_device.cc: FileBlockDevice (O_DIRECT with buffered fallback) and the
// crash-simulating MemBlockDevice. See fs/block_device.h.
#include "fs/block_device.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

namespace cohort::fs {

Status BlockDevice::CheckRange(uint64_t offset, size_t len) const {
  if (offset % kIoAlign != 0 || len % kIoAlign != 0) {
    return Status::InvalidArgument("misaligned device I/O at " + std::to_string(offset) +
                                   " length " + std::to_string(len));
  }
  if (offset > size_bytes() || len > size_bytes() - offset) {
    return Status::InvalidArgument("device I/O past the end: offset " + std::to_string(offset) +
                                   " length " + std::to_string(len) + " size " +
                                   std::to_string(size_bytes()));
  }
  return Status::OK();
}

AlignedBuffer::AlignedBuffer(size_t size) : size_(size) {
  size_t alloc = (size + kIoAlign - 1) / kIoAlign * kIoAlign;
  if (alloc == 0) alloc = kIoAlign;
  data_ = static_cast<uint8_t*>(std::aligned_alloc(kIoAlign, alloc));
  if (data_ == nullptr) throw std::bad_alloc();
  std::memset(data_, 0, alloc);
}

AlignedBuffer AlignedBuffer::Uninitialized(size_t size) {
  AlignedBuffer b;
  size_t alloc = (size + kIoAlign - 1) / kIoAlign * kIoAlign;
  if (alloc == 0) alloc = kIoAlign;
  b.data_ = static_cast<uint8_t*>(std::aligned_alloc(kIoAlign, alloc));
  if (b.data_ == nullptr) throw std::bad_alloc();
  b.size_ = size;
  return b;
}

AlignedBuffer& AlignedBuffer::operator=(AlignedBuffer&& o) noexcept {
  if (this != &o) {
    std::free(data_);
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
  }
  return *this;
}

AlignedBuffer::~AlignedBuffer() { std::free(data_); }

// ---- FileBlockDevice ----

Result<std::unique_ptr<FileBlockDevice>> FileBlockDevice::Open(const std::string& path,
                                                               const Options& options) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    int err = errno;
    if (err == ENOENT) return Status::NotFound(path + ": no such file or device");
    return Status::FromErrno(err, "stat " + path);
  }
  const bool blockdev = S_ISBLK(st.st_mode);
  if (!blockdev && !S_ISREG(st.st_mode)) {
    return Status::InvalidArgument(path + ": neither a regular file nor a block device");
  }
  int flags = (options.read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC;
  if (options.exclusive && blockdev) flags |= O_EXCL;
  bool direct = options.direct;
  int fd = direct ? ::open(path.c_str(), flags | O_DIRECT) : -1;
  if (fd < 0 && direct && errno == EINVAL) {
    // tmpfs and some FUSE file systems refuse O_DIRECT: fall back to buffered I/O
    // (documented in the header; Flush() still makes writes durable).
    direct = false;
  }
  if (fd < 0 && !direct) fd = ::open(path.c_str(), flags);
  if (fd < 0) {
    int err = errno;
    if (err == EACCES || err == EPERM || err == EROFS) {
      return Status::Permission(path + ": cannot open " +
                                (options.read_only ? "for reading" : "for writing") + ": " +
                                std::strerror(err));
    }
    if (err == EBUSY) return Status::Busy(path + ": device is in use (mounted?)");
    return Status::FromErrno(err, "open " + path);
  }
  uint64_t size = static_cast<uint64_t>(st.st_size);
  if (blockdev) {
    if (::ioctl(fd, BLKGETSIZE64, &size) != 0) {
      int err = errno;
      ::close(fd);
      return Status::FromErrno(err, "BLKGETSIZE64 " + path);
    }
  }
  size = size / kIoAlign * kIoAlign;
  if (size == 0) {
    ::close(fd);
    return Status::InvalidArgument(path + ": device is empty");
  }
  return std::unique_ptr<FileBlockDevice>(new FileBlockDevice(path, fd, size, direct, blockdev));
}

FileBlockDevice::~FileBlockDevice() { ::close(fd_); }

Status FileBlockDevice::ReadAt(uint64_t offset, std::span<uint8_t> out) {
  COHORT_RETURN_IF_ERROR(CheckRange(offset, out.size()));
  AlignedBuffer bounce;
  uint8_t* dst = out.data();
  if (direct_ && reinterpret_cast<uintptr_t>(dst) % kIoAlign != 0) {
    bounce = AlignedBuffer(out.size());
    dst = bounce.data();
  }
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::pread(fd_, dst + done, out.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "read " + path_ + " at " + std::to_string(offset + done));
    }
    if (n == 0) return Status::IOError("short read from " + path_);
    done += static_cast<size_t>(n);
  }
  if (dst != out.data()) std::memcpy(out.data(), dst, out.size());
  return Status::OK();
}

Status FileBlockDevice::WriteAt(uint64_t offset, std::span<const uint8_t> data) {
  COHORT_RETURN_IF_ERROR(CheckRange(offset, data.size()));
  AlignedBuffer bounce;
  const uint8_t* src = data.data();
  if (direct_ && reinterpret_cast<uintptr_t>(src) % kIoAlign != 0) {
    bounce = AlignedBuffer(data.size());
    std::memcpy(bounce.data(), src, data.size());
    src = bounce.data();
  }
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::pwrite(fd_, src + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "write " + path_ + " at " + std::to_string(offset + done));
    }
    done += static_cast<size_t>(n);
  }
  // Counted only once complete: a Flush() that starts after this returns covers it.
  write_gen_.fetch_add(1, std::memory_order_acq_rel);
  return Status::OK();
}

Status FileBlockDevice::Flush() {
  // Every write counted in `gen` completed before the fdatasync below starts, so a
  // successful fdatasync makes all of them durable; a write still in flight is counted
  // later and keeps the next Flush() real.
  const uint64_t gen = write_gen_.load(std::memory_order_acquire);
  if (gen == flushed_gen_.load(std::memory_order_acquire)) return Status::OK();
  device_flushes_.fetch_add(1, std::memory_order_relaxed);
  while (::fdatasync(fd_) != 0) {
    if (errno != EINTR) return Status::FromErrno(errno, "fdatasync " + path_);
  }
  // Raise flushed_gen_ to `gen` unless a concurrent Flush() already raised it further.
  uint64_t cur = flushed_gen_.load(std::memory_order_acquire);
  while (cur < gen && !flushed_gen_.compare_exchange_weak(cur, gen, std::memory_order_acq_rel)) {
  }
  return Status::OK();
}

// ---- MemBlockDevice ----

MemBlockDevice::MemBlockDevice(uint64_t size) : size_(size / kIoAlign * kIoAlign) {
  MutexLock l(&mu_);
  durable_.assign(size_, 0);
  current_.assign(size_, 0);
}

Status MemBlockDevice::ReadAt(uint64_t offset, std::span<uint8_t> out) {
  COHORT_RETURN_IF_ERROR(CheckRange(offset, out.size()));
  MutexLock l(&mu_);
  std::memcpy(out.data(), current_.data() + offset, out.size());
  return Status::OK();
}

Status MemBlockDevice::WriteAt(uint64_t offset, std::span<const uint8_t> data) {
  COHORT_RETURN_IF_ERROR(CheckRange(offset, data.size()));
  MutexLock l(&mu_);
  if (budget_ == 0) return Status::IOError("simulated power loss");
  if (budget_ > 0) --budget_;
  ++writes_;
  std::memcpy(current_.data() + offset, data.data(), data.size());
  pending_.push_back(PendingWrite{offset, std::vector<uint8_t>(data.begin(), data.end())});
  return Status::OK();
}

Status MemBlockDevice::Flush() {
  MutexLock l(&mu_);
  if (budget_ == 0) return Status::IOError("simulated power loss");
  ++flushes_;
  // Cost proportional to what was written, not to the device size.
  for (const PendingWrite& w : pending_) {
    std::memcpy(durable_.data() + w.offset, w.data.data(), w.data.size());
  }
  pending_.clear();
  return Status::OK();
}

void MemBlockDevice::SimulateCrash(CrashMode mode, uint64_t seed) {
  MutexLock l(&mu_);
  std::mt19937_64 rng(seed);
  if (mode != CrashMode::kDropAll && !pending_.empty()) {
    size_t torn = mode == CrashMode::kTear ? rng() % pending_.size() : pending_.size();
    for (size_t i = 0; i < pending_.size(); ++i) {
      const PendingWrite& w = pending_[i];
      if (i == torn) {
        size_t sectors = w.data.size() / 512;
        size_t keep = rng() % (sectors + 1);
        std::memcpy(durable_.data() + w.offset, w.data.data(), keep * 512);
      } else if (rng() & 1) {
        std::memcpy(durable_.data() + w.offset, w.data.data(), w.data.size());
      }
    }
  }
  pending_.clear();
  current_ = durable_;
  budget_ = -1;
}

void MemBlockDevice::SetWriteBudget(int64_t writes) {
  MutexLock l(&mu_);
  budget_ = writes;
}

uint64_t MemBlockDevice::writes() const {
  MutexLock l(&mu_);
  return writes_;
}

uint64_t MemBlockDevice::flushes() const {
  MutexLock l(&mu_);
  return flushes_;
}

std::vector<uint8_t> MemBlockDevice::DurableImage() const {
  MutexLock l(&mu_);
  return durable_;
}

std::vector<uint8_t> MemBlockDevice::CurrentImage() const {
  MutexLock l(&mu_);
  return current_;
}

}  // namespace cohort::fs
