// A randomized operation checker through a real mount: seeded random file and
// directory operations issued as system calls on a `cohort mount`, and the same
// operations applied to an in-memory POSIX model; results, errno values, contents, link
// counts and listings are compared after every step. A failure prints the seed;
// COHORT_FS_SEED=<n> replays it. Label `mount`.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/fs/fuse/mount_fixture.h"

namespace cohort::testing {
namespace {

struct Node {
  bool dir = false;
  std::string data;
  std::map<std::string, std::shared_ptr<Node>> kids;
  uint32_t nlink = 1;
};

class MountModel {
 public:
  MountModel(std::string root, uint64_t seed) : root_(std::move(root)), rng_(seed), seed_(seed) {
    top_ = std::make_shared<Node>();
    top_->dir = true;
    dirs_.push_back({"", top_});
  }

  void Run(int steps) {
    for (int i = 0; i < steps && !::testing::Test::HasFailure(); ++i) Step(i);
  }

 private:
  struct Dir {
    std::string rel;  // "" for the root, else "a/b"
    std::shared_ptr<Node> node;
  };
  uint64_t R(uint64_t n) { return n ? rng_() % n : 0; }
  std::string Abs(const Dir& d, const std::string& name) {
    return root_ + "/" + (d.rel.empty() ? "" : d.rel + "/") + name;
  }
  std::string Rel(const Dir& d, const std::string& name) {
    return d.rel.empty() ? name : d.rel + "/" + name;
  }
  void DropDirsUnder(const std::string& rel) {
    for (size_t i = 0; i < dirs_.size();) {
      const std::string& r = dirs_[i].rel;
      if (r == rel || r.rfind(rel + "/", 0) == 0) {
        dirs_.erase(dirs_.begin() + static_cast<long>(i));
      } else {
        ++i;
      }
    }
  }
  static int Err(int rc) { return rc == 0 ? 0 : errno; }

  void Step(int step) {
    SCOPED_TRACE("seed=" + std::to_string(seed_) + " step=" + std::to_string(step) +
                 " (replay: COHORT_FS_SEED=" + std::to_string(seed_) + ")");
    Dir d = dirs_[R(dirs_.size())];
    std::string name = "n" + std::to_string(R(8));
    auto it = d.node->kids.find(name);
    std::shared_ptr<Node> ex = it == d.node->kids.end() ? nullptr : it->second;
    std::string path = Abs(d, name);
    switch (R(10)) {
      case 0: {
        int fd = open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644);
        if (ex) {
          EXPECT_EQ(fd, -1);
          EXPECT_EQ(errno, EEXIST);
        } else {
          ASSERT_GE(fd, 0) << strerror(errno);
          close(fd);
          d.node->kids[name] = std::make_shared<Node>();
        }
        break;
      }
      case 1: {
        int e = Err(mkdir(path.c_str(), 0755));
        if (ex) {
          EXPECT_EQ(e, EEXIST);
        } else {
          ASSERT_EQ(e, 0) << strerror(e);
          auto n = std::make_shared<Node>();
          n->dir = true;
          d.node->kids[name] = n;
          dirs_.push_back({Rel(d, name), n});
        }
        break;
      }
      case 2:
      case 3: {
        if (!ex || ex->dir) break;
        uint64_t off = R(ex->data.size() + 9000);
        std::string data(R(9000) + 1, static_cast<char>('a' + R(26)));
        int fd = open(path.c_str(), O_WRONLY);
        ASSERT_GE(fd, 0) << strerror(errno);
        ASSERT_EQ(pwrite(fd, data.data(), data.size(), static_cast<off_t>(off)),
                  static_cast<ssize_t>(data.size()));
        close(fd);
        if (ex->data.size() < off + data.size()) ex->data.resize(off + data.size(), '\0');
        ex->data.replace(off, data.size(), data);
        break;
      }
      case 4: {
        if (!ex || ex->dir) break;
        uint64_t size = R(ex->data.size() + 9000);
        ASSERT_EQ(truncate(path.c_str(), static_cast<off_t>(size)), 0) << strerror(errno);
        ex->data.resize(size, '\0');
        break;
      }
      case 5: {
        int e = Err(ex && ex->dir ? rmdir(path.c_str()) : unlink(path.c_str()));
        if (!ex) {
          EXPECT_EQ(e, ENOENT);
        } else if (ex->dir && !ex->kids.empty()) {
          EXPECT_EQ(e, ENOTEMPTY);
        } else {
          ASSERT_EQ(e, 0) << strerror(e);
          if (ex->dir) DropDirsUnder(Rel(d, name));
          ex->nlink -= 1;
          d.node->kids.erase(name);
        }
        break;
      }
      case 6: {
        if (!ex) break;
        Dir d2 = dirs_[R(dirs_.size())];
        std::string name2 = "n" + std::to_string(R(8));
        auto t = d2.node->kids.find(name2);
        std::shared_ptr<Node> tgt = t == d2.node->kids.end() ? nullptr : t->second;
        std::string from_rel = Rel(d, name);
        bool into_self = ex->dir && (d2.rel == from_rel || d2.rel.rfind(from_rel + "/", 0) == 0);
        int e = Err(rename(path.c_str(), Abs(d2, name2).c_str()));
        if (tgt == ex) {
          EXPECT_EQ(e, 0);
        } else if (into_self) {
          EXPECT_EQ(e, EINVAL);
        } else if (tgt && ex->dir && !tgt->dir) {
          EXPECT_EQ(e, ENOTDIR);
        } else if (tgt && !ex->dir && tgt->dir) {
          EXPECT_EQ(e, EISDIR);
        } else if (tgt && tgt->dir && !tgt->kids.empty()) {
          EXPECT_TRUE(e == ENOTEMPTY || e == EEXIST) << strerror(e);
        } else {
          ASSERT_EQ(e, 0) << strerror(e);
          if (tgt) {
            tgt->nlink -= 1;
            if (tgt->dir) DropDirsUnder(Rel(d2, name2));
          }
          if (ex->dir) {
            // Re-root every known directory under the moved one.
            std::string to_rel = Rel(d2, name2);
            for (auto& x : dirs_) {
              if (x.rel == from_rel || x.rel.rfind(from_rel + "/", 0) == 0) {
                x.rel = to_rel + x.rel.substr(from_rel.size());
              }
            }
          }
          d.node->kids.erase(name);
          d2.node->kids[name2] = ex;
        }
        break;
      }
      case 7: {
        if (!ex || ex->dir) break;
        Dir d2 = dirs_[R(dirs_.size())];
        std::string name2 = "n" + std::to_string(R(8));
        int e = Err(link(path.c_str(), Abs(d2, name2).c_str()));
        if (d2.node->kids.count(name2)) {
          EXPECT_EQ(e, EEXIST);
        } else {
          ASSERT_EQ(e, 0) << strerror(e);
          ex->nlink += 1;
          d2.node->kids[name2] = ex;
        }
        break;
      }
      case 8: {
        if (!ex || ex->dir) break;
        int fd = open(path.c_str(), O_RDONLY);
        ASSERT_GE(fd, 0) << strerror(errno);
        std::string got(ex->data.size() + 16, '\0');
        ssize_t n = pread(fd, got.data(), got.size(), 0);
        close(fd);
        ASSERT_EQ(n, static_cast<ssize_t>(ex->data.size()));
        got.resize(static_cast<size_t>(n));
        EXPECT_TRUE(got == ex->data) << "content of " << path;
        struct stat st;
        ASSERT_EQ(stat(path.c_str(), &st), 0);
        EXPECT_EQ(st.st_nlink, ex->nlink);
        EXPECT_EQ(static_cast<size_t>(st.st_size), ex->data.size());
        break;
      }
      case 9: {
        std::string dpath = d.rel.empty() ? root_ : root_ + "/" + d.rel;
        DIR* dp = opendir(dpath.c_str());
        ASSERT_NE(dp, nullptr) << strerror(errno);
        std::set<std::string> got, want;
        while (dirent* e = readdir(dp)) {
          std::string n = e->d_name;
          if (n != "." && n != "..") got.insert(n);
        }
        closedir(dp);
        for (auto& [k, v] : d.node->kids) want.insert(k);
        EXPECT_EQ(got, want) << "listing of " << dpath;
        break;
      }
    }
  }

  std::string root_;
  std::mt19937_64 rng_;
  uint64_t seed_;
  std::shared_ptr<Node> top_;
  std::vector<Dir> dirs_;
};

TEST(MountModelTest, RandomSystemCallsMatchThePosixModel) {
  COHORT_REQUIRE_FUSE();
  CohortCluster c;
  ASSERT_TRUE(c.Setup());
  ASSERT_TRUE(c.Start(1));
  std::vector<uint64_t> seeds{11, 12, 13, 14};
  if (const char* env = std::getenv("COHORT_FS_SEED")) seeds = {std::strtoull(env, nullptr, 10)};
  for (uint64_t seed : seeds) {
    std::string root = c.path(1, "run" + std::to_string(seed));
    ASSERT_EQ(mkdir(root.c_str(), 0755), 0);
    MountModel m(root, seed);
    m.Run(400);
    if (::testing::Test::HasFailure()) {
      ADD_FAILURE() << "failing seed " << seed << " (replay: COHORT_FS_SEED=" << seed << ")";
      break;
    }
  }
}

}  // namespace
}  // namespace cohort::testing
