// Tests of fs/core/filesystem.h on an in-memory device, one behaviour each; every test
// ends with the fsck-style CheckFilesystem of the device.
#include "fs/core/filesystem.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "tests/fs/core/fs_fixture.h"

namespace cohort::fs {
namespace {

using testing::CheckFilesystem;
using testing::TestFs;

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

class FileSystemTest : public ::testing::Test {
 protected:
  void TearDown() override {
    t_.Unmount();
    Status s = CheckFilesystem(t_.dev());
    EXPECT_TRUE(s.ok()) << s.ToString();
  }

  uint64_t Create(uint64_t parent, const std::string& name, uint32_t mode = 0644) {
    auto e = fs()->Create(c_, parent, name, mode, O_RDWR);
    EXPECT_TRUE(e.ok()) << name << ": " << e.status().ToString();
    if (!e.ok()) return 0;
    EXPECT_TRUE(fs()->Release(e->ino).ok());
    return e->ino;
  }
  uint64_t Mkdir(uint64_t parent, const std::string& name) {
    auto e = fs()->Mkdir(c_, parent, name, 0755);
    EXPECT_TRUE(e.ok()) << name << ": " << e.status().ToString();
    return e.ok() ? e->ino : 0;
  }
  void Write(uint64_t ino, uint64_t off, const std::string& data) {
    auto n = fs()->Write(c_, ino, off, Bytes(data));
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    EXPECT_EQ(*n, data.size());
  }
  std::string Read(uint64_t ino, uint64_t off, size_t n) {
    std::vector<uint8_t> out;
    Status s = fs()->Read(ino, off, n, &out);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return std::string(out.begin(), out.end());
  }
  uint64_t Size(uint64_t ino) {
    auto st = fs()->GetAttr(ino);
    EXPECT_TRUE(st.ok());
    return st.ok() ? static_cast<uint64_t>(st->st_size) : 0;
  }
  Code LookupCode(uint64_t parent, const std::string& name) {
    auto e = fs()->Lookup(c_, parent, name);
    return e.code();
  }
  std::set<std::string> List(uint64_t dir) {
    std::set<std::string> names;
    uint64_t cookie = 0;
    for (int rounds = 0; rounds < 100000; ++rounds) {
      auto items = fs()->ReadDir(dir, cookie, 97, false);
      EXPECT_TRUE(items.ok()) << items.status().ToString();
      if (!items.ok() || items->empty()) break;
      for (auto& it : *items) {
        EXPECT_TRUE(names.insert(it.name).second) << "duplicate " << it.name;
        EXPECT_GT(it.cookie, cookie);
        cookie = it.cookie;
      }
    }
    return names;
  }
  FileSystem* fs() { return t_.fs(); }
  uint64_t root() { return t_.root(); }

  TestFs t_;
  OpContext c_;
};

TEST_F(FileSystemTest, RootIsAnEmptyDirectory) {
  auto st = fs()->GetAttr(root());
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(S_ISDIR(st->st_mode));
  EXPECT_EQ(st->st_nlink, 2u);
  EXPECT_EQ(List(root()), (std::set<std::string>{".", ".."}));
}

TEST_F(FileSystemTest, SmallFileIsWrittenInlineAndReadBack) {
  uint64_t ino = Create(root(), "a.txt");
  Write(ino, 0, "hello, cluster");
  EXPECT_EQ(Read(ino, 0, 100), "hello, cluster");
  EXPECT_EQ(Read(ino, 7, 3), "clu");
  EXPECT_EQ(Size(ino), 14u);
}

TEST_F(FileSystemTest, LargeFileCrossesBlocksAndReadsBackExactly) {
  uint64_t ino = Create(root(), "big");
  std::string data;
  std::mt19937 rng(7);
  for (int i = 0; i < 3 * 1024 * 1024 + 123; ++i) data.push_back(static_cast<char>(rng()));
  Write(ino, 0, data);
  EXPECT_EQ(Size(ino), data.size());
  EXPECT_EQ(Read(ino, 0, data.size()), data);
  EXPECT_EQ(Read(ino, 4095, 2), data.substr(4095, 2));
}

TEST_F(FileSystemTest, WriteGrowingInlineFileMovesItToBlocks) {
  uint64_t ino = Create(root(), "grow");
  Write(ino, 0, "inline-start");
  std::string tail(10000, 'x');
  Write(ino, 12, tail);
  EXPECT_EQ(Read(ino, 0, 12), "inline-start");
  EXPECT_EQ(Read(ino, 12, 10000), tail);
}

TEST_F(FileSystemTest, SparseFileReadsZerosInHolesAndSeeksData) {
  uint64_t ino = Create(root(), "sparse");
  Write(ino, 10 << 20, "end");
  EXPECT_EQ(Size(ino), (10u << 20) + 3);
  EXPECT_EQ(Read(ino, 5 << 20, 4), std::string(4, '\0'));
  auto st = fs()->GetAttr(ino);
  EXPECT_LE(st->st_blocks, 16) << "holes must not be allocated";
  auto data = fs()->Lseek(ino, 0, 3 /*SEEK_DATA*/);
  ASSERT_TRUE(data.ok());
  EXPECT_EQ(*data, (10u << 20) / 4096 * 4096);
  auto hole = fs()->Lseek(ino, 0, 4 /*SEEK_HOLE*/);
  ASSERT_TRUE(hole.ok());
  EXPECT_EQ(*hole, 0u);
  EXPECT_EQ(fs()->Lseek(ino, (10 << 20) + 3, 3).code(), Code::kNoSuchAddress);
}

TEST_F(FileSystemTest, FileLargerThanFourGiBIsSparseAndAddressable) {
  uint64_t ino = Create(root(), "huge");
  uint64_t off = (5ull << 30) + 17;
  Write(ino, off, "far");
  EXPECT_EQ(Size(ino), off + 3);
  EXPECT_EQ(Read(ino, off, 3), "far");
}

TEST_F(FileSystemTest, TruncateShrinksThenGrowsWithZeros) {
  uint64_t ino = Create(root(), "t");
  std::string data(20000, 'a');
  Write(ino, 0, data);
  SetAttrRequest r;
  r.size = 5000;
  ASSERT_TRUE(fs()->SetAttr(c_, ino, r).ok());
  EXPECT_EQ(Size(ino), 5000u);
  r.size = 9000;
  ASSERT_TRUE(fs()->SetAttr(c_, ino, r).ok());
  EXPECT_EQ(Read(ino, 4990, 20), std::string(10, 'a') + std::string(10, '\0'));
}

TEST_F(FileSystemTest, TruncateToZeroGivesSpaceBack) {
  auto before = fs()->StatFs();
  uint64_t ino = Create(root(), "space");
  Write(ino, 0, std::string(4 << 20, 'z'));
  auto during = fs()->StatFs();
  EXPECT_LT(during->free_blocks, before->free_blocks - 1000);
  SetAttrRequest r;
  r.size = 0;
  ASSERT_TRUE(fs()->SetAttr(c_, ino, r).ok());
  ASSERT_TRUE(fs()->SyncAll().ok());  // freed blocks come back after the commit
  auto after = fs()->StatFs();
  EXPECT_GE(after->free_blocks + 2, before->free_blocks);
}

TEST_F(FileSystemTest, CreateOfExistingNameWithExclFailsExists) {
  Create(root(), "x");
  EXPECT_EQ(fs()->Create(c_, root(), "x", 0644, O_RDWR | O_CREAT | O_EXCL).code(), Code::kExists);
  EXPECT_EQ(fs()->Mkdir(c_, root(), "x", 0755).code(), Code::kExists);
}

TEST_F(FileSystemTest, LookupOfMissingNameIsNotFound) {
  EXPECT_EQ(LookupCode(root(), "nope"), Code::kNotFound);
}

TEST_F(FileSystemTest, NameLongerThan255IsNameTooLong) {
  EXPECT_EQ(fs()->Create(c_, root(), std::string(256, 'n'), 0644, O_RDWR).code(),
            Code::kNameTooLong);
  EXPECT_EQ(LookupCode(root(), std::string(300, 'n')), Code::kNameTooLong);
}

TEST_F(FileSystemTest, OperationsOnAFileAsDirectoryFailNotDir) {
  uint64_t f = Create(root(), "file");
  EXPECT_EQ(fs()->Mkdir(c_, f, "sub", 0755).code(), Code::kNotDir);
  EXPECT_EQ(LookupCode(f, "x"), Code::kNotDir);
  EXPECT_EQ(fs()->Rmdir(c_, root(), "file").code(), Code::kNotDir);
}

TEST_F(FileSystemTest, UnlinkOfDirectoryIsIsDirAndRmdirOfNonEmptyIsNotEmpty) {
  uint64_t d = Mkdir(root(), "d");
  Create(d, "inside");
  EXPECT_EQ(fs()->Unlink(c_, root(), "d").code(), Code::kIsDir);
  EXPECT_EQ(fs()->Rmdir(c_, root(), "d").code(), Code::kNotEmpty);
  ASSERT_TRUE(fs()->Unlink(c_, d, "inside").ok());
  ASSERT_TRUE(fs()->Rmdir(c_, root(), "d").ok());
  EXPECT_EQ(LookupCode(root(), "d"), Code::kNotFound);
  EXPECT_EQ(fs()->GetAttr(root())->st_nlink, 2u);
}

TEST_F(FileSystemTest, MkdirCountsSubdirectoriesInParentLinkCount) {
  Mkdir(root(), "a");
  Mkdir(root(), "b");
  EXPECT_EQ(fs()->GetAttr(root())->st_nlink, 4u);
}

TEST_F(FileSystemTest, HardLinksShareDataAndCountLinks) {
  uint64_t ino = Create(root(), "one");
  Write(ino, 0, "shared");
  auto l = fs()->Link(c_, ino, root(), "two");
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  EXPECT_EQ(fs()->GetAttr(ino)->st_nlink, 2u);
  ASSERT_TRUE(fs()->Unlink(c_, root(), "one").ok());
  auto two = fs()->Lookup(c_, root(), "two");
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(two->ino, ino);
  EXPECT_EQ(Read(ino, 0, 10), "shared");
  EXPECT_EQ(fs()->GetAttr(ino)->st_nlink, 1u);
}

TEST_F(FileSystemTest, HardLinkToDirectoryIsRefused) {
  uint64_t d = Mkdir(root(), "d");
  EXPECT_EQ(fs()->Link(c_, d, root(), "d2").code(), Code::kPermission);
}

TEST_F(FileSystemTest, SymlinkStoresTargetForReadlink) {
  auto e = fs()->Symlink(c_, root(), "ln", "../some/where");
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(S_ISLNK(e->attr.st_mode));
  auto t = fs()->Readlink(e->ino);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, "../some/where");
}

TEST_F(FileSystemTest, MknodMakesFifoAndDeviceWithRdev) {
  auto fifo = fs()->Mknod(c_, root(), "fifo", S_IFIFO | 0600, 0);
  ASSERT_TRUE(fifo.ok());
  EXPECT_TRUE(S_ISFIFO(fifo->attr.st_mode));
  auto chr = fs()->Mknod(c_, root(), "null", S_IFCHR | 0666, makedev(1, 3));
  ASSERT_TRUE(chr.ok());
  EXPECT_EQ(fs()->GetAttr(chr->ino)->st_rdev, makedev(1, 3));
}

TEST_F(FileSystemTest, RenameMovesAndReplacesAtomically) {
  uint64_t a = Create(root(), "a");
  uint64_t b = Create(root(), "b");
  Write(a, 0, "A");
  ASSERT_TRUE(fs()->Rename(c_, root(), "a", root(), "b", 0).ok());
  EXPECT_EQ(LookupCode(root(), "a"), Code::kNotFound);
  auto e = fs()->Lookup(c_, root(), "b");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->ino, a);
  EXPECT_EQ(fs()->GetAttr(b).code(), Code::kStale) << "replaced inode is freed";
}

TEST_F(FileSystemTest, RenameNoReplaceRefusesExistingTarget) {
  Create(root(), "a");
  Create(root(), "b");
  EXPECT_EQ(fs()->Rename(c_, root(), "a", root(), "b", 1).code(), Code::kExists);
}

TEST_F(FileSystemTest, RenameExchangeSwapsTwoNames) {
  uint64_t a = Create(root(), "a");
  uint64_t d = Mkdir(root(), "dir");
  uint64_t sub = Mkdir(d, "sub");
  ASSERT_TRUE(fs()->Rename(c_, root(), "a", d, "sub", 2).ok());
  EXPECT_EQ(fs()->Lookup(c_, root(), "a")->ino, sub);
  EXPECT_EQ(fs()->Lookup(c_, d, "sub")->ino, a);
  EXPECT_EQ(fs()->GetAttr(root())->st_nlink, 4u);  // root now holds dir and sub
  EXPECT_EQ(fs()->GetAttr(d)->st_nlink, 2u);
}

TEST_F(FileSystemTest, RenameDirectoryIntoItsOwnSubtreeIsInvalid) {
  uint64_t a = Mkdir(root(), "a");
  uint64_t b = Mkdir(a, "b");
  EXPECT_EQ(fs()->Rename(c_, root(), "a", b, "a2", 0).code(), Code::kInvalidArgument);
}

TEST_F(FileSystemTest, RenameDirectoryOverNonEmptyDirectoryIsNotEmpty) {
  Mkdir(root(), "a");
  uint64_t b = Mkdir(root(), "b");
  Create(b, "x");
  EXPECT_EQ(fs()->Rename(c_, root(), "a", root(), "b", 0).code(), Code::kNotEmpty);
  uint64_t f = Create(root(), "f");
  (void)f;
  EXPECT_EQ(fs()->Rename(c_, root(), "f", root(), "a", 0).code(), Code::kIsDir);
  EXPECT_EQ(fs()->Rename(c_, root(), "a", root(), "f", 0).code(), Code::kNotDir);
}

TEST_F(FileSystemTest, CrossDirectoryRenameOfDirectoryFixesParentAndLinks) {
  uint64_t a = Mkdir(root(), "a");
  uint64_t b = Mkdir(root(), "b");
  uint64_t m = Mkdir(a, "moving");
  ASSERT_TRUE(fs()->Rename(c_, a, "moving", b, "moved", 0).ok());
  EXPECT_EQ(fs()->GetAttr(a)->st_nlink, 2u);
  EXPECT_EQ(fs()->GetAttr(b)->st_nlink, 3u);
  auto items = fs()->ReadDir(m, 0, 10, false);
  ASSERT_TRUE(items.ok());
  EXPECT_EQ((*items)[1].name, "..");
  EXPECT_EQ((*items)[1].ino, b);
}

TEST_F(FileSystemTest, UnlinkedOpenFileKeepsDataUntilLastRelease) {
  auto e = fs()->Create(c_, root(), "tmp", 0644, O_RDWR);
  ASSERT_TRUE(e.ok());
  Write(e->ino, 0, std::string(100000, 'q'));
  ASSERT_TRUE(fs()->Unlink(c_, root(), "tmp").ok());
  EXPECT_EQ(LookupCode(root(), "tmp"), Code::kNotFound);
  EXPECT_EQ(Read(e->ino, 99990, 10), std::string(10, 'q'));
  Write(e->ino, 100000, "more");
  EXPECT_EQ(fs()->GetAttr(e->ino)->st_nlink, 0u);
  ASSERT_TRUE(fs()->Release(e->ino).ok());
  EXPECT_EQ(fs()->GetAttr(e->ino).code(), Code::kStale);
}

TEST_F(FileSystemTest, UnlinkAfterRemountFreesTheFileWithoutTakingItsOpenLock) {
  // After a remount nobody has a lock on the file's open glock and this node is its DLM
  // directory node: the DLM knows that without a request (docs/locking.md §2.7), so the
  // unlink frees the inode in its own transaction and never takes the open lock.
  uint64_t ino = Create(root(), "f");
  Write(ino, 0, "data");
  t_.Unmount();
  t_.Mount();
  ASSERT_EQ(LookupCode(root(), "f"), Code::kOk);
  auto before = fs()->StatFs();
  ASSERT_TRUE(before.ok());
  ASSERT_TRUE(fs()->Unlink(c_, root(), "f").ok());
  auto after = fs()->StatFs();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->free_blocks, before->free_blocks + 1);  // the inode, freed at once
  const std::string dump = fs()->glocks()->Dump();
  EXPECT_NE(dump.find("o:" + std::to_string(ino) + " dlm=--"), std::string::npos) << dump;
  EXPECT_EQ(fs()->GetAttr(ino).code(), Code::kStale);
}

TEST_F(FileSystemTest, FreedBlocksStayQuarantinedAcrossCommitsUntilAWriteBack) {
  // The checkpoint that ends a quarantine is batched (fs/core/meta_cache.h invariant 4):
  // a commit leaves the freed inode quarantined; WriteBack, which runs before this node
  // gives up an EX glock to another node, ends it.
  uint64_t ino = Create(root(), "q");
  ASSERT_TRUE(fs()->Unlink(c_, root(), "q").ok());
  MetaCache* ms = fs()->meta_cache();
  ASSERT_TRUE(ms->Commit().ok());
  EXPECT_TRUE(ms->Quarantined(ino));
  ASSERT_TRUE(ms->WriteBack().ok());
  EXPECT_FALSE(ms->Quarantined(ino));
  EXPECT_EQ(ms->quarantined(), 0u);
}

TEST_F(FileSystemTest, CreatesAfterUnlinkingEveryOtherFileSkipEachQuarantinedBlock) {
  // The freed inodes stay quarantined between allocated ones; a create near them must
  // pass them one by one (more than the 64 tries allocation used to allow) instead of
  // failing inside its transaction.
  Mkdir(root(), "d");
  auto d = fs()->Lookup(c_, root(), "d");
  ASSERT_TRUE(d.ok());
  for (int i = 0; i < 300; ++i) Create(d->ino, "f" + std::to_string(i));
  for (int i = 0; i < 300; i += 2) {
    ASSERT_TRUE(fs()->Unlink(c_, d->ino, "f" + std::to_string(i)).ok()) << i;
  }
  EXPECT_GE(fs()->meta_cache()->quarantined(), 100u);
  for (int i = 0; i < 200; ++i) EXPECT_NE(Create(d->ino, "g" + std::to_string(i)), 0u) << i;
  std::set<std::string> names = List(d->ino);
  names.erase(".");
  names.erase("..");
  EXPECT_EQ(names.size(), 350u);
}

TEST_F(FileSystemTest, OrphanLeftByCrashIsFreedAtNextMount) {
  auto e = fs()->Create(c_, root(), "tmp", 0644, O_RDWR);
  ASSERT_TRUE(e.ok());
  Write(e->ino, 0, std::string(50000, 'o'));
  ASSERT_TRUE(fs()->Unlink(c_, root(), "tmp").ok());
  ASSERT_TRUE(fs()->SyncAll().ok());
  t_.Crash(MemBlockDevice::CrashMode::kDropAll, 1);  // still open when the node died
  t_.Mount();
  EXPECT_EQ(fs()->GetAttr(e->ino).code(), Code::kStale);
}

TEST_F(FileSystemTest, FsyncOfAnOverwriteCostsOneFlushAndOfAnAppendTwoAndBothSurviveACrash) {
  uint64_t ino = Create(root(), "f");
  Write(ino, 0, std::string(8192, 'a'));  // two extent blocks (past the inline capacity)
  ASSERT_TRUE(fs()->Fsync(ino, false).ok());
  // Overwrite of mapped data within the size: the commit's own flush covers the data.
  Write(ino, 0, std::string(4096, 'b'));
  uint64_t f0 = t_.dev()->flushes();
  ASSERT_TRUE(fs()->Fsync(ino, false).ok());
  EXPECT_EQ(t_.dev()->flushes() - f0, 1u);
  // An append maps a new block: its data is flushed before the commit record.
  Write(ino, 8192, std::string(4096, 'c'));
  f0 = t_.dev()->flushes();
  ASSERT_TRUE(fs()->Fsync(ino, false).ok());
  EXPECT_EQ(t_.dev()->flushes() - f0, 2u);
  t_.Crash(MemBlockDevice::CrashMode::kDropAll, 1);
  t_.Mount();
  EXPECT_EQ(Size(ino), 12288u);
  EXPECT_EQ(Read(ino, 0, 12288),
            std::string(4096, 'b') + std::string(4096, 'a') + std::string(4096, 'c'));
}

TEST_F(FileSystemTest, SetgidDirectoryPassesGroupAndBitToChildren) {
  uint64_t d = Mkdir(root(), "shared");
  SetAttrRequest r;
  r.mode = 02775;
  r.gid = 4242;
  ASSERT_TRUE(fs()->SetAttr(c_, d, r).ok());
  OpContext user;
  user.uid = 1000;
  user.gid = 1000;
  auto f = fs()->Create(user, d, "f", 0644, O_RDWR);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->attr.st_gid, 4242u);
  EXPECT_FALSE(f->attr.st_mode & S_ISGID);
  ASSERT_TRUE(fs()->Release(f->ino).ok());
  auto sub = fs()->Mkdir(user, d, "sub", 0755);
  ASSERT_TRUE(sub.ok());
  EXPECT_EQ(sub->attr.st_gid, 4242u);
  EXPECT_TRUE(sub->attr.st_mode & S_ISGID);
}

// docs/filesystem.md §8.1: what the kernel leaves to us under FUSE_HANDLE_KILLPRIV_V2.
TEST_F(FileSystemTest, WriteAskedToKillClearsSetuidGroupExecSetgidAndCapability) {
  uint64_t ino = Create(root(), "k");
  SetAttrRequest r;
  r.mode = 06775;
  ASSERT_TRUE(fs()->SetAttr(c_, ino, r).ok());
  ASSERT_TRUE(fs()->SetXattr(c_, ino, "security.capability", Bytes("capdata"), 0).ok());
  OpContext user;
  user.uid = 1000;
  user.gid = 1000;
  user.kill_suidgid = true;
  ASSERT_TRUE(fs()->Write(user, ino, 0, Bytes("data")).ok());
  auto st = fs()->GetAttr(ino);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->st_mode & 07777, 0775u);
  EXPECT_EQ(fs()->GetXattr(ino, "security.capability").code(), Code::kNoData);
  EXPECT_EQ(Read(ino, 0, 4), "data");
  // The same on a file past the inline size (the extent path of the write).
  uint64_t big = Create(root(), "big");
  ASSERT_TRUE(fs()->SetAttr(c_, big, r).ok());
  ASSERT_TRUE(fs()->SetXattr(c_, big, "security.capability", Bytes("capdata"), 0).ok());
  ASSERT_TRUE(fs()->SetXattr(c_, big, "user.keep", Bytes("1"), 0).ok());
  ASSERT_TRUE(fs()->Write(user, big, 8192, Bytes(std::string(5000, 'z'))).ok());
  st = fs()->GetAttr(big);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->st_mode & 07777, 0775u);
  EXPECT_EQ(fs()->GetXattr(big, "security.capability").code(), Code::kNoData);
  EXPECT_TRUE(fs()->GetXattr(big, "user.keep").ok());
}

TEST_F(FileSystemTest, WriteNotAskedToKillKeepsSetuidAndSetgidWithoutGroupExecute) {
  uint64_t ino = Create(root(), "keep");
  SetAttrRequest r;
  r.mode = 06755;
  ASSERT_TRUE(fs()->SetAttr(c_, ino, r).ok());
  ASSERT_TRUE(fs()->Write(c_, ino, 0, Bytes("root writes")).ok());  // CAP_FSETID: no kill
  EXPECT_EQ(fs()->GetAttr(ino)->st_mode & 07777, 06755u);
  r.mode = 02744;  // set-group-ID without group execute survives even a kill
  ASSERT_TRUE(fs()->SetAttr(c_, ino, r).ok());
  OpContext user;
  user.uid = 1000;
  user.kill_suidgid = true;
  ASSERT_TRUE(fs()->Write(user, ino, 0, Bytes("x")).ok());
  EXPECT_EQ(fs()->GetAttr(ino)->st_mode & 07777, 02744u);
}

TEST_F(FileSystemTest, ChownClearsSetuidAndSetgidOfFilesButNotOfDirectories) {
  uint64_t f = Create(root(), "f");
  uint64_t d = Mkdir(root(), "d");
  SetAttrRequest m;
  m.mode = 06755;
  ASSERT_TRUE(fs()->SetAttr(c_, f, m).ok());
  ASSERT_TRUE(fs()->SetAttr(c_, d, m).ok());
  ASSERT_TRUE(fs()->SetXattr(c_, f, "security.capability", Bytes("capdata"), 0).ok());
  SetAttrRequest own;
  own.uid = 7;  // root's chown: Linux clears them for every caller
  auto st = fs()->SetAttr(c_, f, own);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->st_mode & 07777, 0755u);
  EXPECT_EQ(st->st_uid, 7u);
  EXPECT_EQ(fs()->GetXattr(f, "security.capability").code(), Code::kNoData);
  st = fs()->SetAttr(c_, d, own);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->st_mode & 07777, 06755u);
}

TEST_F(FileSystemTest, TruncateAskedToKillClearsSetuid) {
  uint64_t ino = Create(root(), "t");
  Write(ino, 0, "abc");
  SetAttrRequest m;
  m.mode = 04755;
  ASSERT_TRUE(fs()->SetAttr(c_, ino, m).ok());
  SetAttrRequest t;
  t.size = 1;
  ASSERT_TRUE(fs()->SetAttr(c_, ino, t).ok());  // without the kernel's flag: kept
  EXPECT_EQ(fs()->GetAttr(ino)->st_mode & 07777, 04755u);
  OpContext user;
  user.uid = 1000;
  user.kill_suidgid = true;
  auto st = fs()->SetAttr(user, ino, t);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->st_mode & 07777, 0755u);
}

TEST_F(FileSystemTest, StickyDirectoryProtectsOthersFiles) {
  uint64_t d = Mkdir(root(), "tmp");
  SetAttrRequest r;
  r.mode = 01777;
  ASSERT_TRUE(fs()->SetAttr(c_, d, r).ok());
  OpContext alice{1000, 1000, 0, 022}, bob{1001, 1001, 0, 022};
  auto f = fs()->Create(alice, d, "alice", 0666, O_RDWR);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(fs()->Release(f->ino).ok());
  EXPECT_EQ(fs()->Unlink(bob, d, "alice").code(), Code::kPermission);
  EXPECT_TRUE(fs()->Unlink(alice, d, "alice").ok());
}

TEST_F(FileSystemTest, SetAttrChangesModeOwnerTimesAndCtime) {
  uint64_t ino = Create(root(), "f");
  auto before = fs()->GetAttr(ino);
  SetAttrRequest r;
  r.mode = 0600;
  r.uid = 7;
  r.gid = 8;
  r.mtime_ns = 1'000'000'000LL * 1000;
  auto st = fs()->SetAttr(c_, ino, r);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->st_mode & 07777, 0600u);
  EXPECT_EQ(st->st_uid, 7u);
  EXPECT_EQ(st->st_gid, 8u);
  EXPECT_EQ(st->st_mtim.tv_sec, 1000);
  EXPECT_GE(st->st_ctim.tv_sec, before->st_ctim.tv_sec);
}

TEST_F(FileSystemTest, EveryWriteMovesMtimeStrictlyForward) {
  uint64_t ino = Create(root(), "m");
  int64_t last = 0;
  for (int i = 0; i < 50; ++i) {
    Write(ino, 0, "x");
    auto st = fs()->GetAttr(ino);
    int64_t m = st->st_mtim.tv_sec * kNanosPerSecond + st->st_mtim.tv_nsec;
    EXPECT_GT(m, last);
    last = m;
  }
}

TEST_F(FileSystemTest, XattrsSetGetListRemoveWithFlags) {
  uint64_t ino = Create(root(), "x");
  ASSERT_TRUE(fs()->SetXattr(c_, ino, "user.color", Bytes("blue"), 0).ok());
  ASSERT_TRUE(fs()->SetXattr(c_, ino, "trusted.t", Bytes("1"), 0).ok());
  EXPECT_EQ(fs()->SetXattr(c_, ino, "user.color", Bytes("red"), 1 /*CREATE*/).code(), Code::kExists);
  EXPECT_EQ(fs()->SetXattr(c_, ino, "user.none", Bytes("x"), 2 /*REPLACE*/).code(), Code::kNoData);
  auto v = fs()->GetXattr(ino, "user.color");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(std::string(v->begin(), v->end()), "blue");
  auto names = fs()->ListXattr(ino);
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, (std::vector<std::string>{"trusted.t", "user.color"}));
  ASSERT_TRUE(fs()->RemoveXattr(c_, ino, "user.color").ok());
  EXPECT_EQ(fs()->GetXattr(ino, "user.color").code(), Code::kNoData);
  EXPECT_EQ(fs()->SetXattr(c_, ino, "bogus.ns", Bytes("x"), 0).code(), Code::kNotSupported);
  OpContext user{1000, 1000, 0, 022};
  EXPECT_EQ(fs()->SetXattr(user, ino, "trusted.u", Bytes("x"), 0).code(), Code::kPermission);
}

uint32_t ModeOf(FileSystem* fs, uint64_t ino) {
  auto st = fs->GetAttr(ino);
  EXPECT_TRUE(st.ok());
  return st.ok() ? st->st_mode : 0;
}

std::vector<uint8_t> AclValue(std::vector<acl::Entry> e) { return acl::Encode(acl::Acl{std::move(e)}); }

TEST_F(FileSystemTest, UmaskAppliesWhenTheParentHasNoDefaultAcl) {
  OpContext c{0, 0, 0, 027};
  auto e = fs()->Create(c, root(), "f", 0666, O_RDWR);
  ASSERT_TRUE(e.ok());
  ASSERT_TRUE(fs()->Release(e->ino).ok());
  EXPECT_EQ(ModeOf(fs(), e->ino) & 07777, 0640u);
  auto d = fs()->Mkdir(c, root(), "d", 0777);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(ModeOf(fs(), d->ino) & 07777, 0750u);
}

TEST_F(FileSystemTest, DefaultAclIsInheritedInsteadOfTheUmask) {
  using namespace acl;
  uint64_t dir = Mkdir(root(), "shared");
  auto def = AclValue({{kUserObj, 7}, {kUser, 7, 1001}, {kGroupObj, 5}, {kMask, 7}, {kOther, 0}});
  ASSERT_TRUE(fs()->SetXattr(c_, dir, kDefaultName, def, 0).ok());
  OpContext c{0, 0, 0, 077};  // would give 0600 without the default ACL
  auto f = fs()->Create(c, dir, "f", 0664, O_RDWR);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  ASSERT_TRUE(fs()->Release(f->ino).ok());
  EXPECT_EQ(ModeOf(fs(), f->ino) & 07777, 0660u);  // group class = mask & 6
  auto access = fs()->GetXattr(f->ino, kAccessName);
  ASSERT_TRUE(access.ok()) << access.status().ToString();
  auto a = Decode(*access);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->entries, (std::vector<Entry>{{kUserObj, 6}, {kUser, 7, 1001}, {kGroupObj, 5},
                                            {kMask, 6}, {kOther, 0}}));
  EXPECT_EQ(fs()->GetXattr(f->ino, kDefaultName).code(), Code::kNoData);  // files get none
  // A subdirectory gets the access ACL and the default ACL itself.
  auto sub = fs()->Mkdir(c, dir, "sub", 0777);
  ASSERT_TRUE(sub.ok());
  EXPECT_EQ(ModeOf(fs(), sub->ino) & 07777, 0770u);
  auto subdef = fs()->GetXattr(sub->ino, kDefaultName);
  ASSERT_TRUE(subdef.ok());
  EXPECT_EQ(*subdef, def);
  EXPECT_TRUE(fs()->GetXattr(sub->ino, kAccessName).ok());
}

TEST_F(FileSystemTest, AccessAclSetsTheModeAndChmodUpdatesTheAcl) {
  using namespace acl;
  uint64_t ino = Create(root(), "f", 0600);
  auto v = AclValue({{kUserObj, 6}, {kUser, 4, 1001}, {kGroupObj, 0}, {kMask, 4}, {kOther, 0}});
  ASSERT_TRUE(fs()->SetXattr(c_, ino, kAccessName, v, 0).ok());
  EXPECT_EQ(ModeOf(fs(), ino) & 0777, 0640u);
  EXPECT_TRUE(fs()->Access(OpContext{1001, 1001, 0, 022}, ino, R_OK).ok());
  EXPECT_EQ(fs()->Access(OpContext{1001, 1001, 0, 022}, ino, W_OK).code(), Code::kAccess);
  EXPECT_EQ(fs()->Access(OpContext{1002, 1002, 0, 022}, ino, R_OK).code(), Code::kAccess);
  SetAttrRequest r;
  r.mode = 0600;  // chmod g-r: the mask follows, the named user loses read
  ASSERT_TRUE(fs()->SetAttr(c_, ino, r).ok());
  auto got = fs()->GetXattr(ino, kAccessName);
  ASSERT_TRUE(got.ok());
  auto a = Decode(*got);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->entries[3], (Entry{kMask, 0}));
  EXPECT_EQ(a->entries[1], (Entry{kUser, 4, 1001}));
  EXPECT_EQ(fs()->Access(OpContext{1001, 1001, 0, 022}, ino, R_OK).code(), Code::kAccess);
}

TEST_F(FileSystemTest, MinimalAccessAclIsNotStoredButSetsTheMode) {
  using namespace acl;
  uint64_t ino = Create(root(), "f", 0600);
  ASSERT_TRUE(fs()->SetXattr(c_, ino, kAccessName,
                             AclValue({{kUserObj, 7}, {kGroupObj, 5}, {kOther, 4}}), 0).ok());
  EXPECT_EQ(ModeOf(fs(), ino) & 0777, 0754u);
  EXPECT_EQ(fs()->GetXattr(ino, kAccessName).code(), Code::kNoData);
}

TEST_F(FileSystemTest, BadAclsAreRefusedAndOnlyTheOwnerSetsOne) {
  using namespace acl;
  uint64_t ino = Create(root(), "f", 0644);
  std::vector<uint8_t> junk{2, 0, 0, 0, 1, 0};
  EXPECT_EQ(fs()->SetXattr(c_, ino, kAccessName, junk, 0).code(), Code::kInvalidArgument);
  auto ok = AclValue({{kUserObj, 6}, {kGroupObj, 4}, {kOther, 4}});
  EXPECT_EQ(fs()->SetXattr(OpContext{1000, 1000, 0, 022}, ino, kAccessName, ok, 0).code(),
            Code::kPermission);
  EXPECT_EQ(fs()->SetXattr(c_, ino, kDefaultName, ok, 0).code(), Code::kAccess);  // not a dir
  EXPECT_EQ(ModeOf(fs(), ino) & 0777, 0644u);  // nothing changed
}

TEST_F(FileSystemTest, XattrsBeyondOneBlockAreNoSpace) {
  uint64_t ino = Create(root(), "x");
  std::string big(3000, 'v');
  ASSERT_TRUE(fs()->SetXattr(c_, ino, "user.a", Bytes(big), 0).ok());
  EXPECT_EQ(fs()->SetXattr(c_, ino, "user.b", Bytes(big), 0).code(), Code::kNoSpace);
}

TEST_F(FileSystemTest, FallocateAllocatesAndPunchHoleFrees) {
  uint64_t ino = Create(root(), "fa");
  ASSERT_TRUE(fs()->Fallocate(c_, ino, 0, 0, 1 << 20).ok());
  EXPECT_EQ(Size(ino), 1u << 20);
  auto st = fs()->GetAttr(ino);
  EXPECT_GE(st->st_blocks, (1 << 20) / 512);
  EXPECT_EQ(Read(ino, 500000, 4), std::string(4, '\0'));
  Write(ino, 0, std::string(1 << 20, 'd'));
  ASSERT_TRUE(fs()->Fallocate(c_, ino, kFallocPunchHole | kFallocKeepSize, 4096 * 10, 4096 * 20).ok());
  EXPECT_EQ(Size(ino), 1u << 20);
  EXPECT_EQ(Read(ino, 4096 * 10, 4096 * 20), std::string(4096 * 20, '\0'));
  EXPECT_EQ(Read(ino, 4096 * 10 - 1, 1), "d");
  EXPECT_EQ(Read(ino, 4096 * 30, 1), "d");
  auto hole = fs()->Lseek(ino, 0, 4);
  ASSERT_TRUE(hole.ok());
  EXPECT_EQ(*hole, 4096u * 10);
  EXPECT_EQ(fs()->Fallocate(c_, ino, 0x10 /*COLLAPSE*/, 0, 4096).code(), Code::kNotSupported);
}

TEST_F(FileSystemTest, FallocateKeepSizeDoesNotChangeSize) {
  uint64_t ino = Create(root(), "ks");
  Write(ino, 0, "abc");
  ASSERT_TRUE(fs()->Fallocate(c_, ino, kFallocKeepSize, 0, 1 << 20).ok());
  EXPECT_EQ(Size(ino), 3u);
  EXPECT_EQ(Read(ino, 0, 10), "abc");
}

TEST_F(FileSystemTest, DirectoryOfThousandsBecomesHashedAndListsEveryName) {
  uint64_t d = Mkdir(root(), "many");
  std::set<std::string> want{".", ".."};
  for (int i = 0; i < 5000; ++i) {
    std::string n = "file-with-a-longish-name-" + std::to_string(i);
    Create(d, n);
    want.insert(n);
  }
  EXPECT_EQ(List(d), want);
  for (int i = 0; i < 5000; i += 7) {
    EXPECT_EQ(LookupCode(d, "file-with-a-longish-name-" + std::to_string(i)), Code::kOk);
  }
  for (int i = 0; i < 5000; i += 2) {
    std::string n = "file-with-a-longish-name-" + std::to_string(i);
    ASSERT_TRUE(fs()->Unlink(c_, d, n).ok());
    want.erase(n);
  }
  EXPECT_EQ(List(d), want);
  EXPECT_EQ(LookupCode(d, "file-with-a-longish-name-2"), Code::kNotFound);
}

TEST_F(FileSystemTest, ReaddirPlusReturnsAttributesAndCountsLookups) {
  uint64_t d = Mkdir(root(), "p");
  Create(d, "one");
  auto items = fs()->ReadDir(d, 0, 100, true);
  ASSERT_TRUE(items.ok());
  ASSERT_EQ(items->size(), 3u);
  ASSERT_TRUE((*items)[2].entry.has_value());
  EXPECT_TRUE(S_ISREG((*items)[2].entry->attr.st_mode));
}

TEST_F(FileSystemTest, ForgetToZeroReclaimsTheInMemoryInode) {
  uint64_t ino = Create(root(), "f");  // one lookup, opened and released
  Write(ino, 0, "kept");
  size_t before = fs()->cached_inodes();
  fs()->Forget(ino, 1);
  EXPECT_EQ(fs()->cached_inodes(), before - 1);
  // A later use (a lookup by name, as after the kernel forgot it) finds it again.
  auto e = fs()->Lookup(c_, root(), "f");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->ino, ino);
  EXPECT_EQ(Read(ino, 0, 4), "kept");
  fs()->Forget(ino, 1);
}

TEST_F(FileSystemTest, ForgottenInodeStaysWhileOpenAndGoesAtLastRelease) {
  auto e = fs()->Create(c_, root(), "f", 0644, O_RDWR);
  ASSERT_TRUE(e.ok());
  size_t before = fs()->cached_inodes();
  fs()->Forget(e->ino, 1);
  EXPECT_EQ(fs()->cached_inodes(), before);  // still open
  ASSERT_TRUE(fs()->Release(e->ino).ok());
  EXPECT_EQ(fs()->cached_inodes(), before - 1);
}

TEST_F(FileSystemTest, LookupsFollowCreateUnlinkAndRenameInALargeDirectory) {
  // Enough names for a hashed directory; lookups are answered by the name cache.
  uint64_t d = Mkdir(root(), "big");
  for (int i = 0; i < 300; ++i) Create(d, "n" + std::to_string(i));
  EXPECT_TRUE(fs()->Lookup(c_, d, "n7").ok());
  EXPECT_EQ(fs()->Lookup(c_, d, "absent").code(), Code::kNotFound);
  ASSERT_TRUE(fs()->Unlink(c_, d, "n7").ok());
  EXPECT_EQ(fs()->Lookup(c_, d, "n7").code(), Code::kNotFound);
  ASSERT_TRUE(fs()->Rename(c_, d, "n8", d, "m8", 0).ok());
  EXPECT_EQ(fs()->Lookup(c_, d, "n8").code(), Code::kNotFound);
  auto m = fs()->Lookup(c_, d, "m8");
  ASSERT_TRUE(m.ok());
  Create(d, "n7");
  EXPECT_TRUE(fs()->Lookup(c_, d, "n7").ok());
  // After the directory's glock is given up, lookups read the blocks again.
  fs()->glocks()->TEST_RequestDemote(fs()->glocks()->Get(GlockType::kInode, d),
                                     dlm::LockMode::kEX);
  auto again = fs()->Lookup(c_, d, "m8");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->ino, m->ino);
  EXPECT_EQ(fs()->Lookup(c_, d, "n8").code(), Code::kNotFound);
}

TEST_F(FileSystemTest, ColdLookupReadsSiblingInodesAheadInOneRead) {
  uint64_t d = Mkdir(root(), "many");
  std::vector<uint64_t> inos;
  for (int i = 0; i < 40; ++i) inos.push_back(Create(d, "f" + std::to_string(i)));
  t_.Unmount();
  t_.Mount();
  auto first = fs()->Lookup(c_, d, "f0");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  uint64_t misses = fs()->meta_cache()->stats().cache_misses;
  // Siblings with nearby inode numbers were read with it: no further device reads.
  int near = 0;
  for (int i = 1; i < 40; ++i) {
    if (inos[i] <= first->ino || inos[i] >= first->ino + 16) continue;
    auto e = fs()->Lookup(c_, d, "f" + std::to_string(i));
    ASSERT_TRUE(e.ok());
    EXPECT_EQ(e->ino, inos[i]);
    ++near;
  }
  EXPECT_GT(near, 4);
  EXPECT_EQ(fs()->meta_cache()->stats().cache_misses, misses);
}

TEST_F(FileSystemTest, DataSurvivesCleanUnmountAndRemount) {
  uint64_t d = Mkdir(root(), "keep");
  uint64_t f = Create(d, "file");
  Write(f, 0, std::string(70000, 'k'));
  ASSERT_TRUE(fs()->SetXattr(c_, f, "user.k", Bytes("v"), 0).ok());
  t_.Unmount();
  t_.Mount();
  auto e = fs()->Lookup(c_, d, "file");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->attr.st_size, 70000);
  EXPECT_EQ(Read(e->ino, 69990, 10), std::string(10, 'k'));
  auto v = fs()->GetXattr(e->ino, "user.k");
  ASSERT_TRUE(v.ok());
}

TEST_F(FileSystemTest, CleanUnmountLeavesNothingToReplay) {
  Write(Create(root(), "f"), 0, "data");
  t_.Unmount();
  auto sb = ReadSuperblock(*t_.dev());
  ASSERT_TRUE(sb.ok());
  // Journal 0 (this node's slot): nothing committed past the tail.
  AlignedBuffer buf(4096);
  ASSERT_TRUE(t_.dev()->ReadBlock(sb->journal_index_blkno, 4096, buf.span()).ok());
  auto idx = DecodeJournalIndex(std::span<const uint8_t>(buf.data(), 4096), sb->journal_index_blkno,
                                sb->context(), sb->max_nodes, sb->block_count);
  ASSERT_TRUE(idx.ok());
  auto stats = Journal::Replay(t_.dev(), sb->context(), idx->entries[0].start, sb->block_count);
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->transactions, 0u);
  t_.Mount();
}

TEST_F(FileSystemTest, StatfsCountsInodesAndBlocks) {
  auto a = fs()->StatFs();
  ASSERT_TRUE(a.ok());
  Create(root(), "s1");
  Mkdir(root(), "s2");
  auto b = fs()->StatFs();
  EXPECT_EQ(b->files - b->free_files, a->files - a->free_files + 2);
  EXPECT_EQ(b->free_blocks, a->free_blocks - 2);
}

TEST_F(FileSystemTest, SpaceOfADeletedFileIsUsableAtOnce) {
  // Freed blocks are quarantined until a checkpoint; allocation must not report ENOSPC
  // while they wait (found by bench/fs_bench: a write right after `rm bigfile` failed).
  uint64_t ino = Create(root(), "big");
  std::string chunk(1 << 20, 'b');
  for (int i = 0; i < 90; ++i) Write(ino, static_cast<uint64_t>(i) << 20, chunk);
  ASSERT_TRUE(fs()->Unlink(c_, root(), "big").ok());
  // No explicit sync: the next allocations must find room by themselves.
  uint64_t again = Create(root(), "again");
  for (int i = 0; i < 90; ++i) Write(again, static_cast<uint64_t>(i) << 20, chunk);
  EXPECT_EQ(Size(again), 90u << 20);
  EXPECT_NE(Mkdir(root(), "dir"), 0u);
}

// A 64 MiB device of four 16 MiB groups: small enough to fill in a test.
testing::TestFsOptions SmallDevice() {
  testing::TestFsOptions o;
  o.device_bytes = 64ull << 20;
  o.journal_bytes = 4ull << 20;
  o.group_bytes = 16ull << 20;
  return o;
}

TEST(FileSystemSmallDeviceTest, FullDiskAnswersNoSpaceAndSpaceComesBack) {
  TestFs t(SmallDevice());
  OpContext c;
  auto e = t.fs()->Create(c, t.root(), "fill", 0644, O_RDWR);
  ASSERT_TRUE(e.ok());
  std::string chunk(1 << 20, 'f');
  Status last;
  uint64_t written = 0;
  for (int i = 0; i < 200; ++i) {
    auto n = t.fs()->Write(c, e->ino, written, Bytes(chunk));
    if (!n.ok()) {
      last = n.status();
      break;
    }
    written += *n;
  }
  EXPECT_EQ(last.code(), Code::kNoSpace) << last.ToString();
  EXPECT_GT(written, 30u << 20);
  // What was written is intact.
  std::vector<uint8_t> out;
  ASSERT_TRUE(t.fs()->Read(e->ino, written - 10, 10, &out).ok());
  EXPECT_EQ(std::string(out.begin(), out.end()), std::string(10, 'f'));
  ASSERT_TRUE(t.fs()->Release(e->ino).ok());
  ASSERT_TRUE(t.fs()->Unlink(c, t.root(), "fill").ok());
  ASSERT_TRUE(t.fs()->SyncAll().ok());
  auto again = t.fs()->Create(c, t.root(), "again", 0644, O_RDWR);
  ASSERT_TRUE(again.ok());
  auto n = t.fs()->Write(c, again->ino, 0, Bytes(std::string(20 << 20, 'a')));
  EXPECT_TRUE(n.ok()) << n.status().ToString();
  ASSERT_TRUE(t.fs()->Release(again->ino).ok());
  t.Unmount();
  Status s = CheckFilesystem(t.dev());
  EXPECT_TRUE(s.ok()) << s.ToString();
}

TEST(FileSystemSmallDeviceTest, SpaceOfASmallDeletedFileIsUsableOnAFullDisk) {
  // A few freed blocks stay quarantined until a batched checkpoint; on a full disk they
  // are the only free space, and an allocation must end the quarantine rather than run
  // out inside its transaction (which would withdraw the filesystem).
  TestFs t(SmallDevice());
  OpContext c;
  auto small = t.fs()->Create(c, t.root(), "small", 0644, O_RDWR);
  ASSERT_TRUE(small.ok());
  ASSERT_TRUE(t.fs()->Write(c, small->ino, 0, Bytes(std::string(400 << 10, 's'))).ok());
  ASSERT_TRUE(t.fs()->Release(small->ino).ok());
  auto e = t.fs()->Create(c, t.root(), "fill", 0644, O_RDWR);
  ASSERT_TRUE(e.ok());
  std::string chunk(64 << 10, 'f');
  uint64_t written = 0;
  Status last;
  for (int i = 0; i < 2000; ++i) {
    auto n = t.fs()->Write(c, e->ino, written, Bytes(chunk));
    if (!n.ok()) {
      last = n.status();
      break;
    }
    written += *n;
  }
  ASSERT_EQ(last.code(), Code::kNoSpace) << last.ToString();
  ASSERT_TRUE(t.fs()->Unlink(c, t.root(), "small").ok());
  // No sync: the 100 freed blocks are quarantined, and nothing else is free.
  auto n = t.fs()->Write(c, e->ino, written, Bytes(std::string(256 << 10, 'g')));
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 256u << 10);
  std::vector<uint8_t> out;
  ASSERT_TRUE(t.fs()->Read(e->ino, written, 10, &out).ok());
  EXPECT_EQ(std::string(out.begin(), out.end()), std::string(10, 'g'));
  ASSERT_TRUE(t.fs()->Release(e->ino).ok());
  t.Unmount();
  Status s = CheckFilesystem(t.dev());
  EXPECT_TRUE(s.ok()) << s.ToString();
}

}  // namespace
}  // namespace cohort::fs
