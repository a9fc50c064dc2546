// Mount tests: a real `cohort mount` daemon serving an image file through FUSE, driven
// with ordinary system calls. Each test checks one behaviour, including the errno of
// error cases. Label `mount`; under CI=true they fail if FUSE cannot mount.
#include <dirent.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "fs/block_device.h"
#include "tests/fs/core/fs_fixture.h"
#include "tests/fs/fuse/mount_fixture.h"

namespace cohort::testing {
namespace {

void WriteFile(const std::string& p, const std::string& data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << data;
}

// Runs `fn` in a child process as uid/gid 65534 and returns its exit code.
int AsNobody(const std::function<int()>& fn) {
  pid_t pid = fork();
  if (pid == 0) {
    if (setgid(65534) != 0 || setuid(65534) != 0) _exit(100);
    _exit(fn());
  }
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 101;
}

class MountTest : public ::testing::Test {
 protected:
  void SetUp() override {
    COHORT_REQUIRE_FUSE();
    ASSERT_TRUE(c_.Setup());
    ASSERT_TRUE(c_.Start(1));
  }
  void TearDown() override {
    if (!c_.image().empty() && IsFuseMounted(c_.mnt(1))) {
      int st = c_.Unmount(1);
      EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "daemon exit " << st << "\n"
                                                         << c_.ReadLog(1);
      auto dev = fs::FileBlockDevice::Open(c_.image(), {});
      ASSERT_TRUE(dev.ok());
      Status s = fs::testing::CheckFilesystem(dev->get());
      EXPECT_TRUE(s.ok()) << s.ToString();
    }
  }
  std::string P(const std::string& rel) { return c_.path(1, rel); }

  CohortCluster c_;
};

TEST_F(MountTest, FileWrittenIsReadBackWithSizeAndMode) {
  WriteFile(P("hello.txt"), "hello through FUSE");
  EXPECT_EQ(ReadFile(P("hello.txt")), "hello through FUSE");
  struct stat st;
  ASSERT_EQ(stat(P("hello.txt").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 18);
  EXPECT_TRUE(S_ISREG(st.st_mode));
}

TEST_F(MountTest, OneMiBWritesAndReadsOfALargeFile) {
  int fd = open(P("big").c_str(), O_CREAT | O_RDWR, 0644);
  ASSERT_GE(fd, 0);
  std::string block(1 << 20, 'b');
  for (int i = 0; i < 64; ++i) {
    block[0] = static_cast<char>('A' + i % 26);
    ASSERT_EQ(pwrite(fd, block.data(), block.size(), static_cast<off_t>(i) << 20), 1 << 20);
  }
  std::string back(1 << 20, '\0');
  ASSERT_EQ(pread(fd, back.data(), back.size(), 37 << 20), 1 << 20);
  EXPECT_EQ(back[0], 'A' + 37 % 26);
  EXPECT_EQ(back[100], 'b');
  close(fd);
}

TEST_F(MountTest, ODirectWriteAndReadWork) {
  int fd = open(P("direct").c_str(), O_CREAT | O_RDWR | O_DIRECT, 0644);
  ASSERT_GE(fd, 0) << strerror(errno);
  void* buf = nullptr;
  ASSERT_EQ(posix_memalign(&buf, 4096, 1 << 20), 0);
  std::memset(buf, 0x5c, 1 << 20);
  EXPECT_EQ(pwrite(fd, buf, 1 << 20, 0), 1 << 20) << strerror(errno);
  std::memset(buf, 0, 1 << 20);
  EXPECT_EQ(pread(fd, buf, 1 << 20, 0), 1 << 20) << strerror(errno);
  EXPECT_EQ(static_cast<unsigned char*>(buf)[4095], 0x5c);
  free(buf);
  close(fd);
}

TEST_F(MountTest, SparseFileLargerThanFourGiB) {
  int fd = open(P("sparse").c_str(), O_CREAT | O_RDWR, 0644);
  ASSERT_GE(fd, 0);
  off_t far = (6ll << 30) + 5;
  ASSERT_EQ(pwrite(fd, "x", 1, far), 1);
  struct stat st;
  ASSERT_EQ(fstat(fd, &st), 0);
  EXPECT_EQ(st.st_size, far + 1);
  EXPECT_LT(st.st_blocks, 64);
  EXPECT_EQ(lseek(fd, 0, SEEK_DATA), far / 4096 * 4096);
  EXPECT_EQ(lseek(fd, 0, SEEK_HOLE), 0);
  char c = 0;
  ASSERT_EQ(pread(fd, &c, 1, 1 << 30), 1);
  EXPECT_EQ(c, 0);
  close(fd);
}

TEST_F(MountTest, MissingNameIsENOENT) {
  errno = 0;
  EXPECT_EQ(open(P("missing").c_str(), O_RDONLY), -1);
  EXPECT_EQ(errno, ENOENT);
}

TEST_F(MountTest, ExclusiveCreateOfExistingIsEEXIST) {
  WriteFile(P("e"), "1");
  EXPECT_EQ(open(P("e").c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644), -1);
  EXPECT_EQ(errno, EEXIST);
  EXPECT_EQ(mkdir(P("e").c_str(), 0755), -1);
  EXPECT_EQ(errno, EEXIST);
}

TEST_F(MountTest, RmdirOfNonEmptyIsENOTEMPTY) {
  ASSERT_EQ(mkdir(P("d").c_str(), 0755), 0);
  WriteFile(P("d/f"), "x");
  EXPECT_EQ(rmdir(P("d").c_str()), -1);
  EXPECT_EQ(errno, ENOTEMPTY);
}

TEST_F(MountTest, DirectoryOpenedForWritingIsEISDIR) {
  ASSERT_EQ(mkdir(P("d").c_str(), 0755), 0);
  EXPECT_EQ(open(P("d").c_str(), O_WRONLY), -1);
  EXPECT_EQ(errno, EISDIR);
  EXPECT_EQ(unlink(P("d").c_str()), -1);
  EXPECT_EQ(errno, EISDIR);
}

TEST_F(MountTest, PathThroughAFileIsENOTDIR) {
  WriteFile(P("f"), "x");
  EXPECT_EQ(mkdir(P("f/sub").c_str(), 0755), -1);
  EXPECT_EQ(errno, ENOTDIR);
}

TEST_F(MountTest, RenameToAnotherFilesystemIsEXDEV) {
  WriteFile(P("f"), "x");
  std::string outside = c_.dir().Sub("outside");
  EXPECT_EQ(rename(P("f").c_str(), outside.c_str()), -1);
  EXPECT_EQ(errno, EXDEV);
}

TEST_F(MountTest, SymlinkLoopIsELOOP) {
  ASSERT_EQ(symlink("b", P("a").c_str()), 0);
  ASSERT_EQ(symlink("a", P("b").c_str()), 0);
  EXPECT_EQ(open(P("a").c_str(), O_RDONLY), -1);
  EXPECT_EQ(errno, ELOOP);
  char buf[16] = {};
  ASSERT_EQ(readlink(P("a").c_str(), buf, sizeof buf), 1);
  EXPECT_STREQ(buf, "b");
}

TEST_F(MountTest, NameOf256BytesIsENAMETOOLONG) {
  EXPECT_EQ(open(P(std::string(256, 'n')).c_str(), O_CREAT | O_WRONLY, 0644), -1);
  EXPECT_EQ(errno, ENAMETOOLONG);
}

TEST_F(MountTest, OtherUserReadingPrivateFileIsEACCES) {
  WriteFile(P("private"), "secret");
  ASSERT_EQ(chmod(P("private").c_str(), 0600), 0);
  std::string p = P("private");
  int rc = AsNobody([&] { return open(p.c_str(), O_RDONLY) == -1 && errno == EACCES ? 0 : 1; });
  EXPECT_EQ(rc, 0);
}

// A POSIX ACL in the kernel's xattr layout: version 2, then (tag, perm, id) entries.
std::string AclXattr(std::initializer_list<std::array<uint32_t, 3>> entries) {
  std::string v("\x02\x00\x00\x00", 4);
  for (auto& e : entries) {
    char b[8];
    b[0] = static_cast<char>(e[0]); b[1] = static_cast<char>(e[0] >> 8);
    b[2] = static_cast<char>(e[1]); b[3] = 0;
    for (int i = 0; i < 4; ++i) b[4 + i] = static_cast<char>(e[2] >> (8 * i));
    v.append(b, 8);
  }
  return v;
}
constexpr uint32_t kNoId = 0xffffffff;

TEST_F(MountTest, AccessAclGrantsANamedUserWhatTheModeDenies) {
  WriteFile(P("acl"), "shared secret");
  ASSERT_EQ(chmod(P("acl").c_str(), 0600), 0);
  std::string p = P("acl");
  // u::rw-, u:65534:r--, g::---, m::r--, o::---
  std::string v = AclXattr({{0x01, 6, kNoId}, {0x02, 4, 65534}, {0x04, 0, kNoId}, {0x10, 4, kNoId},
                            {0x20, 0, kNoId}});
  ASSERT_EQ(setxattr(p.c_str(), "system.posix_acl_access", v.data(), v.size(), 0), 0)
      << strerror(errno);
  struct stat st;
  ASSERT_EQ(stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);  // the mask shows as the group bits
  EXPECT_EQ(AsNobody([&] { return open(p.c_str(), O_RDONLY) >= 0 ? 0 : 1; }), 0);
  EXPECT_EQ(AsNobody([&] { return open(p.c_str(), O_WRONLY) == -1 && errno == EACCES ? 0 : 1; }), 0);
  // chmod g-r narrows the mask: the named user loses read at once.
  ASSERT_EQ(chmod(p.c_str(), 0600), 0);
  EXPECT_EQ(AsNobody([&] { return open(p.c_str(), O_RDONLY) == -1 && errno == EACCES ? 0 : 1; }), 0);
}

TEST_F(MountTest, MalformedAclIsEINVAL) {
  WriteFile(P("bad"), "x");
  std::string v = AclXattr({{0x01, 6, kNoId}, {0x02, 4, 65534}, {0x04, 0, kNoId}, {0x20, 0, kNoId}});
  EXPECT_EQ(setxattr(P("bad").c_str(), "system.posix_acl_access", v.data(), v.size(), 0), -1);
  EXPECT_EQ(errno, EINVAL);
}

TEST_F(MountTest, DefaultAclIsInheritedAndTheUmaskIsNot) {
  ASSERT_EQ(mkdir(P("proj").c_str(), 0755), 0);
  // default: u::rwx, u:65534:rwx, g::r-x, m::rwx, o::---
  std::string v = AclXattr({{0x01, 7, kNoId}, {0x02, 7, 65534}, {0x04, 5, kNoId}, {0x10, 7, kNoId},
                            {0x20, 0, kNoId}});
  ASSERT_EQ(setxattr(P("proj").c_str(), "system.posix_acl_default", v.data(), v.size(), 0), 0)
      << strerror(errno);
  std::string f = P("proj/f"), plain = P("plain");
  pid_t pid = fork();
  if (pid == 0) {
    umask(077);
    int a = open(f.c_str(), O_CREAT | O_WRONLY, 0666);
    int b = open(plain.c_str(), O_CREAT | O_WRONLY, 0666);
    _exit(a >= 0 && b >= 0 ? 0 : 1);
  }
  int wst = 0;
  waitpid(pid, &wst, 0);
  ASSERT_TRUE(WIFEXITED(wst) && WEXITSTATUS(wst) == 0);
  struct stat st;
  ASSERT_EQ(stat(f.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u);  // from the default ACL, masked by 0666; no umask
  ASSERT_EQ(stat(plain.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);  // no default ACL: the umask applies
  char buf[256];
  EXPECT_GT(getxattr(f.c_str(), "system.posix_acl_access", buf, sizeof buf), 0);
  EXPECT_EQ(AsNobody([&] { return open(f.c_str(), O_WRONLY) >= 0 ? 0 : 1; }), 0);
}

TEST_F(MountTest, NonOwnerChmodIsEPERM) {
  WriteFile(P("mine"), "x");
  ASSERT_EQ(chmod(P("mine").c_str(), 0666), 0);
  std::string p = P("mine");
  int rc = AsNobody([&] { return chmod(p.c_str(), 0777) == -1 && errno == EPERM ? 0 : 1; });
  EXPECT_EQ(rc, 0);
}

TEST_F(MountTest, StickyDirectoryStopsOthersFromDeleting) {
  ASSERT_EQ(mkdir(P("tmp").c_str(), 0777), 0);
  ASSERT_EQ(chmod(P("tmp").c_str(), 01777), 0);
  WriteFile(P("tmp/roots"), "x");
  std::string p = P("tmp/roots");
  int rc = AsNobody([&] { return unlink(p.c_str()) == -1 && errno == EPERM ? 0 : 1; });
  EXPECT_EQ(rc, 0);
}

TEST_F(MountTest, WriteByNonOwnerClearsSetuid) {
  WriteFile(P("suid"), "x");
  ASSERT_EQ(chmod(P("suid").c_str(), 04777), 0);
  std::string p = P("suid");
  int rc = AsNobody([&] {
    int fd = open(p.c_str(), O_WRONLY);
    if (fd < 0) return 2;
    int r = write(fd, "y", 1) == 1 ? 0 : 3;
    close(fd);
    return r;
  });
  ASSERT_EQ(rc, 0);
  struct stat st;
  ASSERT_EQ(stat(p.c_str(), &st), 0);
  EXPECT_FALSE(st.st_mode & S_ISUID);
}

// ---- suid/sgid/capability clearing by the daemon (FUSE_HANDLE_KILLPRIV_V2,
// docs/filesystem.md §8.1). With KILLPRIV_V2 the kernel clears nothing itself: each
// of these passes only if the daemon does it.

// A version-2 file capability (struct vfs_cap_data, little-endian): CAP_NET_RAW
// permitted and effective. The kernel checks the format on setxattr.
std::vector<uint8_t> FileCapability() {
  std::vector<uint8_t> v(20, 0);
  uint32_t magic = 0x02000000u | 0x1u;  // VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE
  uint32_t permitted = 1u << 13;        // CAP_NET_RAW
  std::memcpy(v.data(), &magic, 4);
  std::memcpy(v.data() + 4, &permitted, 4);
  return v;
}

// Opens `p` as nobody with `flags`, writes one byte unless O_TRUNC, closes; 0 on success.
int WriteAsNobody(const std::string& p, int flags) {
  return AsNobody([&] {
    int fd = open(p.c_str(), flags);
    if (fd < 0) return 2;
    int r = (flags & O_TRUNC) || write(fd, "y", 1) == 1 ? 0 : 3;
    close(fd);
    return r;
  });
}

uint32_t ModeOf(const std::string& p) {
  struct stat st {};
  if (stat(p.c_str(), &st) != 0) return ~0u;
  return st.st_mode & 07777;
}

TEST_F(MountTest, DaemonTakesKillPrivV2FromTheKernel) {
  WriteFile(P("f"), "x");
  EXPECT_EQ(c_.Stats(1)["fuse.killpriv_v2"], 1u) << c_.ReadLog(1);
}

TEST_F(MountTest, WriteByNonRootClearsSetuidAndGroupExecutableSetgid) {
  WriteFile(P("s"), "x");
  ASSERT_EQ(chmod(P("s").c_str(), 06777), 0);
  ASSERT_EQ(WriteAsNobody(P("s"), O_WRONLY | O_APPEND), 0);
  EXPECT_EQ(ModeOf(P("s")), 0777u);
  EXPECT_EQ(ReadFile(P("s")), "xy");
}

TEST_F(MountTest, WriteByNonRootKeepsSetgidWithoutGroupExecute) {
  WriteFile(P("g"), "x");
  ASSERT_EQ(chmod(P("g").c_str(), 02766), 0);  // set-group-ID without g+x: mandatory locking
  ASSERT_EQ(WriteAsNobody(P("g"), O_WRONLY), 0);
  EXPECT_EQ(ModeOf(P("g")), 02766u);
}

TEST_F(MountTest, WriteByNonRootRemovesSecurityCapability) {
  WriteFile(P("cap"), "x");
  ASSERT_EQ(chmod(P("cap").c_str(), 0666), 0);
  auto cap = FileCapability();
  ASSERT_EQ(setxattr(P("cap").c_str(), "security.capability", cap.data(), cap.size(), 0), 0)
      << std::strerror(errno);
  char buf[64];
  ASSERT_EQ(getxattr(P("cap").c_str(), "security.capability", buf, sizeof buf),
            static_cast<ssize_t>(cap.size()));
  ASSERT_EQ(setxattr(P("cap").c_str(), "user.keep", "k", 1, 0), 0);
  ASSERT_EQ(WriteAsNobody(P("cap"), O_WRONLY), 0);
  EXPECT_EQ(getxattr(P("cap").c_str(), "security.capability", buf, sizeof buf), -1);
  EXPECT_EQ(errno, ENODATA);
  EXPECT_EQ(getxattr(P("cap").c_str(), "user.keep", buf, sizeof buf), 1);  // others stay
}

// As on ext4: CAP_FSETID keeps set-user-ID and set-group-ID, but a file capability goes
// on any write (the VFS removes it whoever writes; here through REMOVEXATTR).
TEST_F(MountTest, WriteByRootWithCapFsetidKeepsSetuidAndSetgidButNotCapability) {
  WriteFile(P("r"), "x");
  ASSERT_EQ(chmod(P("r").c_str(), 06755), 0);
  auto cap = FileCapability();
  ASSERT_EQ(setxattr(P("r").c_str(), "security.capability", cap.data(), cap.size(), 0), 0);
  int fd = open(P("r").c_str(), O_WRONLY | O_APPEND);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, "y", 1), 1);
  ASSERT_EQ(fsync(fd), 0);
  close(fd);
  EXPECT_EQ(ModeOf(P("r")), 06755u);
  char buf[64];
  EXPECT_EQ(getxattr(P("r").c_str(), "security.capability", buf, sizeof buf), -1);
  EXPECT_EQ(errno, ENODATA);
  EXPECT_EQ(ReadFile(P("r")), "xy");
}

TEST_F(MountTest, TruncateByNonRootClearsSetuid) {
  WriteFile(P("t"), "xyz");
  ASSERT_EQ(chmod(P("t").c_str(), 04777), 0);
  std::string p = P("t");
  ASSERT_EQ(AsNobody([&] { return truncate(p.c_str(), 1) == 0 ? 0 : 1; }), 0);
  EXPECT_EQ(ModeOf(p), 0777u);
  WriteFile(P("o"), "xyz");
  ASSERT_EQ(chmod(P("o").c_str(), 04777), 0);
  ASSERT_EQ(WriteAsNobody(P("o"), O_WRONLY | O_TRUNC), 0);  // FUSE_OPEN_KILL_SUIDGID
  EXPECT_EQ(ModeOf(P("o")), 0777u);
  struct stat st {};
  ASSERT_EQ(stat(P("o").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 0);
}

TEST_F(MountTest, ChownClearsSetuidGroupExecutableSetgidAndCapabilityEvenForRoot) {
  WriteFile(P("c"), "x");
  ASSERT_EQ(chmod(P("c").c_str(), 06755), 0);
  auto cap = FileCapability();
  ASSERT_EQ(setxattr(P("c").c_str(), "security.capability", cap.data(), cap.size(), 0), 0);
  ASSERT_EQ(chown(P("c").c_str(), 65534, 65534), 0);
  struct stat st {};
  ASSERT_EQ(stat(P("c").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  EXPECT_EQ(st.st_uid, 65534u);
  char buf[64];
  EXPECT_EQ(getxattr(P("c").c_str(), "security.capability", buf, sizeof buf), -1);
  EXPECT_EQ(errno, ENODATA);
  // A directory keeps its set-group-ID (it means "inherit the group" there).
  ASSERT_EQ(mkdir(P("dir").c_str(), 02775), 0);
  ASSERT_EQ(chmod(P("dir").c_str(), 02775), 0);
  ASSERT_EQ(chown(P("dir").c_str(), 65534, 65534), 0);
  EXPECT_EQ(ModeOf(P("dir")), 02775u);
}

// The kernel no longer asks for security.capability before each write (SB_NOSEC).
TEST_F(MountTest, AppendsSendNoGetxattr) {
  int fd = open(P("a").c_str(), O_CREAT | O_WRONLY | O_APPEND, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, "0", 1), 1);  // the first write after the attributes came checks once
  auto before = c_.Stats(1);
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(write(fd, "x", 1), 1);
    ASSERT_EQ(fsync(fd), 0);
  }
  close(fd);
  auto after = c_.Stats(1);
  EXPECT_EQ(after["fuse.requests.GETXATTR"], before["fuse.requests.GETXATTR"]);
  EXPECT_EQ(after["fuse.requests.WRITE"], before["fuse.requests.WRITE"] + 20);
}

// `-o nokillpriv`: the kernel keeps clearing (and asking for security.capability before
// every write), as before FUSE_HANDLE_KILLPRIV_V2.
class MountNoKillPrivTest : public ::testing::Test {
 protected:
  void SetUp() override {
    COHORT_REQUIRE_FUSE();
    ASSERT_TRUE(c_.Setup());
    ASSERT_TRUE(c_.Start(1));
  }
  std::string P(const std::string& rel) { return c_.path(1, rel); }
  CohortCluster c_{ClusterSpec{.mount_extra = "nokillpriv"}};
};

TEST_F(MountNoKillPrivTest, KernelClearsSetuidAndAsksForCapabilityOnEveryWrite) {
  WriteFile(P("s"), "x");
  ASSERT_EQ(chmod(P("s").c_str(), 04777), 0);
  auto before = c_.Stats(1);
  EXPECT_EQ(before["fuse.killpriv_v2"], 0u);
  ASSERT_EQ(WriteAsNobody(P("s"), O_WRONLY | O_APPEND), 0);
  EXPECT_EQ(ModeOf(P("s")), 0777u);
  int fd = open(P("s").c_str(), O_WRONLY | O_APPEND);
  ASSERT_GE(fd, 0);
  for (int i = 0; i < 5; ++i) ASSERT_EQ(write(fd, "z", 1), 1);
  close(fd);
  auto after = c_.Stats(1);
  EXPECT_GE(after["fuse.requests.GETXATTR"], before["fuse.requests.GETXATTR"] + 5);
}

TEST_F(MountTest, WriteBeyondMaximumFileSizeIsEFBIG) {
  int fd = open(P("efbig").c_str(), O_CREAT | O_RDWR, 0644);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(pwrite(fd, "x", 1, (1ll << 50) + 1), -1);
  EXPECT_EQ(errno, EFBIG);
  close(fd);
}

TEST_F(MountTest, RenameFlagsNoReplaceAndExchange) {
  WriteFile(P("a"), "A");
  WriteFile(P("b"), "B");
  EXPECT_EQ(syscall(SYS_renameat2, AT_FDCWD, P("a").c_str(), AT_FDCWD, P("b").c_str(),
                    RENAME_NOREPLACE),
            -1);
  EXPECT_EQ(errno, EEXIST);
  ASSERT_EQ(syscall(SYS_renameat2, AT_FDCWD, P("a").c_str(), AT_FDCWD, P("b").c_str(),
                    RENAME_EXCHANGE),
            0);
  EXPECT_EQ(ReadFile(P("a")), "B");
  EXPECT_EQ(ReadFile(P("b")), "A");
}

TEST_F(MountTest, RenameAndLinkAcrossDirectories) {
  ASSERT_EQ(mkdir(P("x").c_str(), 0755), 0);
  ASSERT_EQ(mkdir(P("y").c_str(), 0755), 0);
  WriteFile(P("x/f"), "moved");
  ASSERT_EQ(rename(P("x/f").c_str(), P("y/g").c_str()), 0);
  ASSERT_EQ(link(P("y/g").c_str(), P("x/h").c_str()), 0);
  struct stat st;
  ASSERT_EQ(stat(P("x/h").c_str(), &st), 0);
  EXPECT_EQ(st.st_nlink, 2u);
  EXPECT_EQ(ReadFile(P("x/h")), "moved");
}

TEST_F(MountTest, UnlinkedOpenFileStaysReadableUntilClose) {
  int fd = open(P("tmp").c_str(), O_CREAT | O_RDWR, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, "still here", 10), 10);
  ASSERT_EQ(unlink(P("tmp").c_str()), 0);
  char buf[16] = {};
  ASSERT_EQ(pread(fd, buf, 10, 0), 10);
  EXPECT_STREQ(buf, "still here");
  close(fd);
}

TEST_F(MountTest, XattrsRoundTripAndSmallBufferIsERANGE) {
  WriteFile(P("x"), "x");
  ASSERT_EQ(setxattr(P("x").c_str(), "user.k", "value", 5, 0), 0);
  char buf[16] = {};
  EXPECT_EQ(getxattr(P("x").c_str(), "user.k", buf, sizeof buf), 5);
  EXPECT_EQ(std::string(buf, 5), "value");
  EXPECT_EQ(getxattr(P("x").c_str(), "user.k", buf, 2), -1);
  EXPECT_EQ(errno, ERANGE);
  EXPECT_EQ(getxattr(P("x").c_str(), "user.none", buf, sizeof buf), -1);
  EXPECT_EQ(errno, ENODATA);
  char list[64] = {};
  EXPECT_EQ(listxattr(P("x").c_str(), list, sizeof list), 7);
  ASSERT_EQ(removexattr(P("x").c_str(), "user.k"), 0);
}

TEST_F(MountTest, FallocatePunchHoleReadsZeros) {
  int fd = open(P("p").c_str(), O_CREAT | O_RDWR, 0644);
  ASSERT_GE(fd, 0);
  std::string data(1 << 20, 'p');
  ASSERT_EQ(write(fd, data.data(), data.size()), 1 << 20);
  ASSERT_EQ(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 65536, 65536), 0)
      << strerror(errno);
  char c = 'x';
  ASSERT_EQ(pread(fd, &c, 1, 70000), 1);
  EXPECT_EQ(c, 0);
  EXPECT_EQ(lseek(fd, 0, SEEK_HOLE), 65536);
  close(fd);
}

TEST_F(MountTest, UtimensatWithOmitAndNowFollowsPosix) {
  WriteFile(P("t"), "x");
  struct timespec ts[2];
  ts[0].tv_sec = 1000;
  ts[0].tv_nsec = 0;
  ts[1].tv_sec = 0;
  ts[1].tv_nsec = UTIME_OMIT;
  struct stat before;
  ASSERT_EQ(stat(P("t").c_str(), &before), 0);
  ASSERT_EQ(utimensat(AT_FDCWD, P("t").c_str(), ts, 0), 0);
  struct stat st;
  ASSERT_EQ(stat(P("t").c_str(), &st), 0);
  EXPECT_EQ(st.st_atim.tv_sec, 1000);
  EXPECT_EQ(st.st_mtim.tv_sec, before.st_mtim.tv_sec);
  ts[1].tv_nsec = UTIME_NOW;
  ASSERT_EQ(utimensat(AT_FDCWD, P("t").c_str(), ts, 0), 0);
  ASSERT_EQ(stat(P("t").c_str(), &st), 0);
  EXPECT_GE(st.st_mtim.tv_sec, before.st_mtim.tv_sec);
}

TEST_F(MountTest, MknodMakesFifo) {
  ASSERT_EQ(mkfifo(P("fifo").c_str(), 0600), 0);
  struct stat st;
  ASSERT_EQ(stat(P("fifo").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
}

TEST_F(MountTest, ReaddirOfTwoThousandEntriesListsEachOnce) {
  ASSERT_EQ(mkdir(P("many").c_str(), 0755), 0);
  for (int i = 0; i < 2000; ++i) WriteFile(P("many/entry-" + std::to_string(i)), "");
  DIR* d = opendir(P("many").c_str());
  ASSERT_NE(d, nullptr);
  std::set<std::string> names;
  while (dirent* e = readdir(d)) EXPECT_TRUE(names.insert(e->d_name).second) << e->d_name;
  closedir(d);
  EXPECT_EQ(names.size(), 2002u);
}

TEST_F(MountTest, StatfsReportsSpaceThatShrinksWhenWriting) {
  struct statvfs a, b;
  ASSERT_EQ(statvfs(P("").c_str(), &a), 0);
  WriteFile(P("fill"), std::string(8 << 20, 'f'));
  ASSERT_EQ(statvfs(P("").c_str(), &b), 0);
  EXPECT_LT(b.f_bfree, a.f_bfree);
  EXPECT_EQ(a.f_bsize, 4096u);
}

TEST_F(MountTest, FsyncReturnsSuccess) {
  int fd = open(P("durable").c_str(), O_CREAT | O_RDWR, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, "d", 1), 1);
  EXPECT_EQ(fsync(fd), 0);
  EXPECT_EQ(fdatasync(fd), 0);
  close(fd);
}

TEST_F(MountTest, DataSurvivesUnmountAndRemount) {
  ASSERT_EQ(mkdir(P("keep").c_str(), 0755), 0);
  WriteFile(P("keep/f"), std::string(100000, 'k'));
  int st = c_.Unmount(1);
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << c_.ReadLog(1);
  ASSERT_TRUE(c_.Start(1));
  EXPECT_EQ(ReadFile(P("keep/f")), std::string(100000, 'k'));
}

TEST_F(MountTest, SigtermUnmountsCleanly) {
  WriteFile(P("f"), "x");
  int st = c_.Stop(1);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st << "\n" << c_.ReadLog(1);
  EXPECT_FALSE(IsFuseMounted(c_.mnt(1)));
  ASSERT_TRUE(c_.Start(1));
  EXPECT_EQ(ReadFile(P("f")), "x");
}

TEST_F(MountTest, KillDashNineDuringWritesRecoversFsyncedFiles) {
  for (int i = 0; i < 20; ++i) {
    std::string p = P("synced-" + std::to_string(i));
    int fd = open(p.c_str(), O_CREAT | O_WRONLY, 0644);
    ASSERT_GE(fd, 0);
    std::string data(5000 + i, static_cast<char>('a' + i));
    ASSERT_EQ(write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
    ASSERT_EQ(fsync(fd), 0);
    close(fd);
  }
  for (int i = 0; i < 50; ++i) WriteFile(P("unsynced-" + std::to_string(i)), std::string(3000, 'u'));
  c_.Kill(1);
  ASSERT_TRUE(c_.Start(1));  // replays the journal
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(ReadFile(P("synced-" + std::to_string(i))), std::string(5000 + i, static_cast<char>('a' + i)));
  }
}

TEST_F(MountTest, MountHelperStartsDaemonForMountCommand) {
  int st = c_.Unmount(1);
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  std::string out;
  int rc = RunCommand({COHORT_MOUNT_HELPER, c_.image(), c_.mnt(1), "-o",
                       "cluster=" + c_.dir().Sub("cluster.toml") + ",node=1"},
                      &out, std::chrono::seconds(60));
  ASSERT_EQ(rc, 0) << out;
  EXPECT_TRUE(IsFuseMounted(c_.mnt(1)));
  WriteFile(P("via-helper"), "ok");
  EXPECT_EQ(ReadFile(P("via-helper")), "ok");
  MountGuard g(c_.mnt(1));
  g.Unmount();
  // The detached daemon exits by itself after the unmount; wait for the image to be
  // released before the fixture's checks read it.
  for (int i = 0; i < 200 && IsFuseMounted(c_.mnt(1)); ++i) usleep(20000);
  usleep(300000);
}

TEST(MountErrorsTest, WrongClusterNameIsRefusedWithAClearMessage) {
  COHORT_REQUIRE_FUSE();
  CohortCluster c;
  ASSERT_TRUE(c.Setup());
  // Make the image belong to another cluster.
  std::string out;
  ASSERT_EQ(RunCommand({COHORT_MKFS, "-q", "-f", "-c", "othercluster", "-j", "1", c.image()}, &out), 0)
      << out;
  Subprocess p;
  ASSERT_TRUE(p.Start({COHORT_BIN, "mount", c.image(), c.mnt(1), "-f", "-o",
                       "cluster=" + c.dir().Sub("cluster.toml") + ",node=1"},
                      c.log(1)));
  int st = p.Wait(std::chrono::seconds(60));
  ASSERT_NE(st, -1);
  EXPECT_EQ(WEXITSTATUS(st), 1);
  EXPECT_NE(c.ReadLog(1).find("belongs to cluster 'othercluster'"), std::string::npos)
      << c.ReadLog(1);
  EXPECT_FALSE(IsFuseMounted(c.mnt(1)));
}

TEST(MountErrorsTest, GarbageDeviceIsRefused) {
  COHORT_REQUIRE_FUSE();
  CohortCluster c;
  ASSERT_TRUE(c.Setup());
  {
    std::ofstream f(c.image(), std::ios::trunc);
    f << std::string(1 << 20, 'g');
  }
  Subprocess p;
  ASSERT_TRUE(p.Start({COHORT_BIN, "mount", c.image(), c.mnt(1), "-f", "-o",
                       "cluster=" + c.dir().Sub("cluster.toml") + ",node=1"},
                      c.log(1)));
  int st = p.Wait(std::chrono::seconds(60));
  ASSERT_NE(st, -1);
  EXPECT_EQ(WEXITSTATUS(st), 1);
  EXPECT_NE(c.ReadLog(1).find("superblock"), std::string::npos) << c.ReadLog(1);
}

}  // namespace
}  // namespace cohort::testing
