// tests/fs/block_device_test.cc: FileBlockDevice (files, tmpfs fallback, loop device)
// and the crash behaviour of MemBlockDevice (fs/block_device.h).
#include "fs/block_device.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

namespace cohort::fs {
namespace {

namespace stdfs = std::filesystem;

std::vector<uint8_t> Pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 7);
  return v;
}

class FileBlockDeviceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = stdfs::path(COHORT_TEST_TMP) / ("bdev-" + std::to_string(::getpid()));
    stdfs::create_directories(dir_);
  }
  void TearDown() override { stdfs::remove_all(dir_); }
  std::string MakeFile(const stdfs::path& dir, uint64_t size) {
    std::string p = (dir / "dev.img").string();
    FILE* f = std::fopen(p.c_str(), "w");
    EXPECT_NE(f, nullptr);
    std::fclose(f);
    stdfs::resize_file(p, size);
    return p;
  }
  stdfs::path dir_;
};

TEST_F(FileBlockDeviceTest, WriteFlushReadRoundTripsWithUnalignedBuffers) {
  auto dev = FileBlockDevice::Open(MakeFile(dir_, 1 << 20), {});
  ASSERT_TRUE(dev.ok()) << dev.status().ToString();
  EXPECT_EQ((*dev)->size_bytes(), 1u << 20);
  std::vector<uint8_t> data = Pattern(8192 + 1, 3);  // +1: data() likely unaligned at +1
  std::span<const uint8_t> unaligned(data.data() + 1, 8192);
  ASSERT_TRUE((*dev)->WriteAt(4096, unaligned).ok());
  ASSERT_TRUE((*dev)->Flush().ok());
  std::vector<uint8_t> back(8192 + 1);
  ASSERT_TRUE((*dev)->ReadAt(4096, std::span(back.data() + 1, 8192)).ok());
  EXPECT_TRUE(std::equal(unaligned.begin(), unaligned.end(), back.begin() + 1));
}

TEST_F(FileBlockDeviceTest, FlushWithNoWriteSinceTheLastFlushIssuesNoFdatasync) {
  auto dev = FileBlockDevice::Open(MakeFile(dir_, 1 << 20), {});
  ASSERT_TRUE(dev.ok()) << dev.status().ToString();
  FileBlockDevice& d = **dev;
  // Nothing written since open: nothing to make durable.
  ASSERT_TRUE(d.Flush().ok());
  EXPECT_EQ(d.device_flushes(), 0u);
  std::vector<uint8_t> data = Pattern(4096, 5);
  ASSERT_TRUE(d.WriteAt(0, data).ok());
  ASSERT_TRUE(d.Flush().ok());
  EXPECT_EQ(d.device_flushes(), 1u);
  ASSERT_TRUE(d.Flush().ok());  // nothing new
  ASSERT_TRUE(d.Flush().ok());
  EXPECT_EQ(d.device_flushes(), 1u);
  // A read is not a write.
  std::vector<uint8_t> back(4096);
  ASSERT_TRUE(d.ReadAt(0, back).ok());
  ASSERT_TRUE(d.Flush().ok());
  EXPECT_EQ(d.device_flushes(), 1u);
  // Any later write makes the next flush real again.
  ASSERT_TRUE(d.WriteAt(8192, data).ok());
  ASSERT_TRUE(d.Flush().ok());
  EXPECT_EQ(d.device_flushes(), 2u);
  // A refused write changed nothing and asks for no flush.
  EXPECT_FALSE(d.WriteAt(1, data).ok());
  ASSERT_TRUE(d.Flush().ok());
  EXPECT_EQ(d.device_flushes(), 2u);
}

TEST_F(FileBlockDeviceTest, MisalignedOrOutOfRangeRequestsAreInvalidArgument) {
  auto dev = FileBlockDevice::Open(MakeFile(dir_, 1 << 20), {});
  ASSERT_TRUE(dev.ok());
  std::vector<uint8_t> b(4096);
  EXPECT_EQ((*dev)->ReadAt(100, b).code(), Code::kInvalidArgument);
  EXPECT_EQ((*dev)->ReadAt(1 << 20, b).code(), Code::kInvalidArgument);
  EXPECT_EQ((*dev)->WriteAt(0, std::span<const uint8_t>(b).first(100)).code(),
            Code::kInvalidArgument);
}

TEST_F(FileBlockDeviceTest, MissingFileIsNotFound) {
  auto dev = FileBlockDevice::Open((dir_ / "nope").string(), {});
  EXPECT_EQ(dev.code(), Code::kNotFound);
}

TEST_F(FileBlockDeviceTest, DirectoryIsInvalidArgument) {
  EXPECT_EQ(FileBlockDevice::Open(dir_.string(), {}).code(), Code::kInvalidArgument);
}

// tmpfs refused O_DIRECT before Linux 6.6 (the fallback path); newer kernels accept it.
// Either way the device must work.
TEST_F(FileBlockDeviceTest, TmpfsWorksWithOrWithoutDirectIo) {
  if (!stdfs::is_directory("/dev/shm")) GTEST_SKIP() << "no /dev/shm";
  stdfs::path shm = stdfs::path("/dev/shm") / ("cohort-bdev-" + std::to_string(::getpid()));
  stdfs::create_directories(shm);
  auto dev = FileBlockDevice::Open(MakeFile(shm, 1 << 20), {});
  ASSERT_TRUE(dev.ok()) << dev.status().ToString();
  RecordProperty("tmpfs_direct", (*dev)->direct() ? "yes" : "no (buffered fallback)");
  std::vector<uint8_t> data = Pattern(4096, 9), back(4096);
  ASSERT_TRUE((*dev)->WriteAt(0, data).ok());
  ASSERT_TRUE((*dev)->Flush().ok());
  ASSERT_TRUE((*dev)->ReadAt(0, back).ok());
  EXPECT_EQ(back, data);
  dev = Status::Aborted("close");
  stdfs::remove_all(shm);
}

TEST_F(FileBlockDeviceTest, LoopDeviceIsABlockDeviceWithDirectIo) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root for losetup";
  std::string img = MakeFile(dir_, 16 << 20);
  std::string cmd = "losetup --find --show " + img + " 2>/dev/null";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  char buf[128] = {};
  bool got = std::fgets(buf, sizeof buf, p) != nullptr;
  int rc = ::pclose(p);
  if (!got || rc != 0) GTEST_SKIP() << "losetup not usable here";
  std::string loop(buf);
  while (!loop.empty() && (loop.back() == '\n' || loop.back() == ' ')) loop.pop_back();
  {
    auto dev = FileBlockDevice::Open(loop, {});
    ASSERT_TRUE(dev.ok()) << dev.status().ToString();
    EXPECT_TRUE((*dev)->is_block_device());
    EXPECT_TRUE((*dev)->direct());
    EXPECT_EQ((*dev)->size_bytes(), 16u << 20);
    std::vector<uint8_t> data = Pattern(65536, 1), back(65536);
    ASSERT_TRUE((*dev)->WriteAt(1 << 20, data).ok());
    ASSERT_TRUE((*dev)->Flush().ok());
    ASSERT_TRUE((*dev)->ReadAt(1 << 20, back).ok());
    EXPECT_EQ(back, data);
  }
  EXPECT_EQ(std::system(("losetup -d " + loop).c_str()), 0);
}

TEST_F(FileBlockDeviceTest, BufferedModeWhenDirectIsNotRequested) {
  auto dev = FileBlockDevice::Open(MakeFile(dir_, 1 << 20), {.direct = false});
  ASSERT_TRUE(dev.ok());
  EXPECT_FALSE((*dev)->direct());
  std::vector<uint8_t> data = Pattern(4096, 4), back(4096);
  ASSERT_TRUE((*dev)->WriteAt(8192, data).ok());
  ASSERT_TRUE((*dev)->Flush().ok());
  ASSERT_TRUE((*dev)->ReadAt(8192, back).ok());
  EXPECT_EQ(back, data);
}

TEST_F(FileBlockDeviceTest, ReadOnlyDeviceRefusesWrites) {
  auto dev = FileBlockDevice::Open(MakeFile(dir_, 1 << 20), {.read_only = true});
  ASSERT_TRUE(dev.ok());
  std::vector<uint8_t> data(4096);
  EXPECT_FALSE((*dev)->WriteAt(0, data).ok());
}

TEST(MemBlockDeviceTest, UnflushedWritesAreLostOnCrash) {
  MemBlockDevice dev(1 << 20);
  auto a = Pattern(4096, 1), b = Pattern(4096, 2), back = std::vector<uint8_t>(4096);
  ASSERT_TRUE(dev.WriteAt(0, a).ok());
  ASSERT_TRUE(dev.Flush().ok());
  ASSERT_TRUE(dev.WriteAt(0, b).ok());
  ASSERT_TRUE(dev.ReadAt(0, back).ok());
  EXPECT_EQ(back, b);  // reads see unflushed writes
  dev.SimulateCrash(MemBlockDevice::CrashMode::kDropAll, 1);
  ASSERT_TRUE(dev.ReadAt(0, back).ok());
  EXPECT_EQ(back, a);
}

TEST(MemBlockDeviceTest, TornWriteKeepsASectorPrefix) {
  bool saw_partial = false;
  for (uint64_t seed = 0; seed < 64 && !saw_partial; ++seed) {
    MemBlockDevice dev(1 << 20);
    auto a = Pattern(8192, 5);
    ASSERT_TRUE(dev.WriteAt(0, a).ok());
    dev.SimulateCrash(MemBlockDevice::CrashMode::kTear, seed);
    auto img = dev.DurableImage();
    size_t kept = 0;
    while (kept < 8192 && img[kept] == a[kept]) ++kept;
    // What survives is always a whole number of 512-byte sectors, and then zeros.
    if (kept < 8192) {
      size_t sector_start = kept / 512 * 512;
      EXPECT_TRUE(std::all_of(img.begin() + sector_start, img.begin() + 8192,
                              [](uint8_t c) { return c == 0; }));
    }
    saw_partial = kept > 0 && kept < 8192;
  }
  EXPECT_TRUE(saw_partial);
}

TEST(MemBlockDeviceTest, WriteBudgetSimulatesPowerLoss) {
  MemBlockDevice dev(1 << 20);
  dev.SetWriteBudget(1);
  auto a = Pattern(4096, 1);
  EXPECT_TRUE(dev.WriteAt(0, a).ok());
  EXPECT_EQ(dev.WriteAt(4096, a).code(), Code::kIOError);
  EXPECT_EQ(dev.Flush().code(), Code::kIOError);
  dev.SimulateCrash(MemBlockDevice::CrashMode::kDropAll, 0);
  EXPECT_TRUE(dev.WriteAt(4096, a).ok());
}

TEST(MemBlockDeviceTest, SameSeedGivesSameCrashImage) {
  auto run = [](uint64_t seed) {
    MemBlockDevice dev(1 << 20);
    for (uint8_t i = 0; i < 20; ++i) (void)dev.WriteAt(4096u * i, Pattern(4096, i));
    dev.SimulateCrash(MemBlockDevice::CrashMode::kDropRandom, seed);
    return dev.DurableImage();
  };
  EXPECT_EQ(run(42), run(42));
  EXPECT_NE(run(42), run(43));
}

}  // namespace
}  // namespace cohort::fs
