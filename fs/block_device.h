// fs/block_device.h: the shared block device under the filesystem (DESIGN.md §7,
// docs/ondisk-format.md §1.2, §8.6).
//
// A BlockDevice is a byte-addressed array read and written in whole aligned units
// (offsets and lengths multiples of kIoAlign). Writes are durable only after Flush().
//
// FileBlockDevice opens a regular file or a block device. It uses O_DIRECT when the
// file system underneath accepts it, so that the node's own cache is the only cache
// (DESIGN.md §7); where O_DIRECT is refused (tmpfs answers EINVAL to open), it falls back
// to buffered I/O and says so through direct(): correctness does not depend on
// O_DIRECT because Flush() is fdatasync() either way, but coherence between processes
// sharing an image through the page cache of one machine still holds (one page cache).
//
// MemBlockDevice is the test device: an in-memory durable image plus a list of writes
// not yet flushed. SimulateCrash() throws away (or tears) unflushed writes, with a seed,
// as a power cut would; SetWriteBudget() makes the device "lose power" after N more
// writes, which lets a test crash at every point of a protocol.
//
// FileBlockDevice::Flush() issues no fdatasync when no write of this device completed
// since the last successful one (an fsync with nothing new, a commit whose data and
// log writes were all flushed already): a flush only has to cover this process's own
// writes, and fdatasync of nothing still costs a device cache flush on most disks.
//
// Thread safety: both devices are safe for concurrent calls. FileBlockDevice's only
// mutable state after Open() is its two atomic write/flush generations; MemBlockDevice guards its state with a Mutex of rank
// kFsBlockDevice (a leaf: no call leaves the device while holding it).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "common/mutex.h"
#include "common/status.h"

namespace cohort::fs {

// Unit of alignment for offsets, lengths and (for O_DIRECT) buffers.
inline constexpr size_t kIoAlign = 4096;

class BlockDevice {
 public:
  virtual ~BlockDevice() = default;

  // Size of the device in bytes (rounded down to kIoAlign).
  virtual uint64_t size_bytes() const = 0;

  // Reads out.size() bytes at `offset`. REQUIRES: offset and out.size() multiples of
  // kIoAlign, range inside the device. IOError on a failed or short read,
  // InvalidArgument on a misaligned or out-of-range request.
  virtual Status ReadAt(uint64_t offset, std::span<uint8_t> out) = 0;
  // Writes data at `offset`; not durable until Flush(). Same requirements.
  virtual Status WriteAt(uint64_t offset, std::span<const uint8_t> data) = 0;
  // Makes every completed write durable (fdatasync).
  virtual Status Flush() = 0;

  // Block helpers: block `blkno` of size `bs`.
  Status ReadBlock(uint64_t blkno, uint32_t bs, std::span<uint8_t> out) {
    return ReadAt(blkno * bs, out.first(bs));
  }
  Status WriteBlock(uint64_t blkno, std::span<const uint8_t> data) {
    return WriteAt(blkno * data.size(), data);
  }

 protected:
  // InvalidArgument unless the request is aligned and inside [0, size).
  Status CheckRange(uint64_t offset, size_t len) const;
};

// A buffer aligned to kIoAlign, for O_DIRECT. Move-only.
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  // Zero-filled.
  explicit AlignedBuffer(size_t size);
  // Contents undefined: for a buffer the caller overwrites whole before any read of it
  // (a journal write assembled from block images).
  static AlignedBuffer Uninitialized(size_t size);
  AlignedBuffer(AlignedBuffer&& o) noexcept : data_(o.data_), size_(o.size_) {
    o.data_ = nullptr;
    o.size_ = 0;
  }
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  ~AlignedBuffer();
  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  std::span<uint8_t> span() { return {data_, size_}; }

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

class FileBlockDevice final : public BlockDevice {
 public:
  struct Options {
    bool read_only = false;
    bool direct = true;      // try O_DIRECT; fall back to buffered if refused
    bool exclusive = false;  // O_EXCL on block devices (refuses a mounted kernel fs)
  };
  // Opens `path`. NotFound if it does not exist, Permission/Access if not openable for
  // writing, InvalidArgument if it is neither a regular file nor a block device or is
  // smaller than kIoAlign.
  static Result<std::unique_ptr<FileBlockDevice>> Open(const std::string& path,
                                                       const Options& options);
  ~FileBlockDevice() override;

  uint64_t size_bytes() const override { return size_; }
  Status ReadAt(uint64_t offset, std::span<uint8_t> out) override;
  Status WriteAt(uint64_t offset, std::span<const uint8_t> data) override;
  Status Flush() override;

  bool direct() const { return direct_; }
  bool is_block_device() const { return is_block_device_; }
  // fdatasync calls issued by Flush() (for tests: a Flush() with no write since the
  // last one issues none).
  uint64_t device_flushes() const { return device_flushes_.load(std::memory_order_relaxed); }
  const std::string& path() const { return path_; }

 private:
  FileBlockDevice(std::string path, int fd, uint64_t size, bool direct, bool blockdev)
      : path_(std::move(path)), fd_(fd), size_(size), direct_(direct), is_block_device_(blockdev) {}
  const std::string path_;
  const int fd_;
  const uint64_t size_;
  const bool direct_;
  const bool is_block_device_;
  // Completed writes (incremented after each WriteAt) and the value of that counter
  // read before the last successful fdatasync: equal means nothing new to flush.
  std::atomic<uint64_t> write_gen_{0};
  std::atomic<uint64_t> flushed_gen_{0};
  std::atomic<uint64_t> device_flushes_{0};
};

class MemBlockDevice final : public BlockDevice {
 public:
  // A zero-filled device of `size` bytes (rounded down to kIoAlign).
  explicit MemBlockDevice(uint64_t size);

  uint64_t size_bytes() const override { return size_; }
  Status ReadAt(uint64_t offset, std::span<uint8_t> out) override EXCLUDES(mu_);
  Status WriteAt(uint64_t offset, std::span<const uint8_t> data) override EXCLUDES(mu_);
  Status Flush() override EXCLUDES(mu_);

  enum class CrashMode {
    kDropAll,     // every unflushed write is lost
    kDropRandom,  // each unflushed write independently survives or is lost
    kTear,        // as kDropRandom, and one surviving write keeps only a prefix of
                  // its 512-byte sectors (a torn write)
  };
  // Simulates a power cut: unflushed writes are resolved by `mode` with a generator
  // seeded by `seed`, the budget is cleared, and the device comes back "after reboot"
  // showing only durable contents.
  void SimulateCrash(CrashMode mode, uint64_t seed) EXCLUDES(mu_);

  // After `writes` more successful WriteAt calls, every WriteAt and Flush fails with
  // IOError ("power lost") until SimulateCrash(). Negative: no budget.
  void SetWriteBudget(int64_t writes) EXCLUDES(mu_);

  // Counters for tests.
  uint64_t writes() const EXCLUDES(mu_);
  uint64_t flushes() const EXCLUDES(mu_);
  // The durable image (what would survive a crash now).
  std::vector<uint8_t> DurableImage() const EXCLUDES(mu_);
  // The current image as reads see it.
  std::vector<uint8_t> CurrentImage() const EXCLUDES(mu_);

 private:
  struct PendingWrite {
    uint64_t offset;
    std::vector<uint8_t> data;
  };
  const uint64_t size_;
  mutable Mutex mu_{LockRank::kFsBlockDevice, "fs.mem_block_device"};
  std::vector<uint8_t> durable_ GUARDED_BY(mu_);
  std::vector<uint8_t> current_ GUARDED_BY(mu_);
  std::vector<PendingWrite> pending_ GUARDED_BY(mu_);
  int64_t budget_ GUARDED_BY(mu_) = -1;
  uint64_t writes_ GUARDED_BY(mu_) = 0;
  uint64_t flushes_ GUARDED_BY(mu_) = 0;
};

}  // namespace cohort::fs
