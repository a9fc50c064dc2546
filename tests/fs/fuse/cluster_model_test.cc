// A randomized multi-node checker (label `cluster`): seeded random file and directory
// operations, each issued as a system call on a randomly chosen node of a 3-node
// cluster, and applied to ONE in-memory POSIX model of the filesystem. Operations run
// one after another, so each must see every earlier one, whichever node did it (the
// coherence promise: an operation that finished on any node before another started on
// any node is seen by it). The result (errno) of every step is compared with the
// model, contents and attributes when read, and every few steps the whole tree as
// seen from every node. A failure prints the seed; COHORT_FS_SEED=<n> replays it,
// COHORT_FS_STEPS=<n> changes the number of steps per seed.
//
// The single-node version is mount_model_test.cc; this one adds append, symlinks,
// chmod and extended attributes, and the node choice.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/fs/fuse/mount_fixture.h"

namespace cohort::testing {
namespace {

enum class Kind { kFile, kDir, kSymlink };

struct MNode {
  Kind kind = Kind::kFile;
  std::string data;     // file content, or symlink target
  uint32_t mode = 0644;
  uint32_t nlink = 1;   // files: names; dirs: computed
  std::map<std::string, std::shared_ptr<MNode>> kids;
  std::map<std::string, std::string> xattrs;
};

class ClusterModel {
 public:
  ClusterModel(CohortCluster* c, int nodes, std::string rel_root, uint64_t seed)
      : c_(c), nodes_(nodes), rel_root_(std::move(rel_root)), rng_(seed), seed_(seed) {
    top_ = std::make_shared<MNode>();
    top_->kind = Kind::kDir;
    top_->mode = 0755;
    dirs_.push_back({"", top_});
  }

  void Run(int steps, int tree_every) {
    for (int i = 0; i < steps && !::testing::Test::HasFailure(); ++i) {
      Step(i);
      if ((i + 1) % tree_every == 0 || i + 1 == steps) CompareTrees(i);
    }
  }

  // The model rendered as TreeOf() renders a mount.
  std::map<std::string, std::string> ModelTree() const {
    std::map<std::string, std::string> out;
    Render(top_, "", &out);
    return out;
  }

 private:
  struct Dir {
    std::string rel;  // "" for the root of the run, else "a/b"
    std::shared_ptr<MNode> node;
  };

  uint64_t R(uint64_t n) { return n ? rng_() % n : 0; }
  int PickNode() { return static_cast<int>(R(static_cast<uint64_t>(nodes_))) + 1; }
  std::string Rel(const Dir& d, const std::string& name) const {
    return d.rel.empty() ? name : d.rel + "/" + name;
  }
  std::string Abs(int node, const std::string& rel) const {
    return c_->path(node, rel.empty() ? rel_root_ : rel_root_ + "/" + rel);
  }
  static int Err(int rc) { return rc == 0 ? 0 : errno; }

  static void Render(const std::shared_ptr<MNode>& dir, const std::string& rel,
                     std::map<std::string, std::string>* out) {
    for (const auto& [name, n] : dir->kids) {
      std::string r = rel.empty() ? name : rel + "/" + name;
      std::ostringstream v;
      uint32_t nlink = n->nlink;
      if (n->kind == Kind::kDir) {
        nlink = 2;
        for (const auto& [k, kid] : n->kids) nlink += kid->kind == Kind::kDir ? 1 : 0;
      }
      v << std::oct << (n->mode & 07777) << std::dec << " nlink=" << nlink;
      if (n->kind == Kind::kDir) {
        v << " dir";
      } else if (n->kind == Kind::kSymlink) {
        v << " link->" << n->data;
      } else {
        v << " size=" << n->data.size() << " data=" << DataDigest(n->data);
      }
      for (const auto& [xn, xv] : n->xattrs) v << " x:" << xn << "=" << xv;
      (*out)[r] = v.str();
      if (n->kind == Kind::kDir) Render(n, r, out);
    }
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

  void CompareTrees(int step) {
    auto want = ModelTree();
    for (int n = 1; n <= nodes_; ++n) {
      auto got = TreeOf(Abs(n, ""));
      EXPECT_TRUE(got == want) << "tree as seen from node " << n << " after step " << step
                               << " (replay: COHORT_FS_SEED=" << seed_ << "):\n"
                               << TreeDiff(got, want) << "node " << n << " log problems:\n"
                               << c_->LogProblems(n);
    }
  }

  void Step(int step) {
    int node = PickNode();
    SCOPED_TRACE("seed=" + std::to_string(seed_) + " step=" + std::to_string(step) + " node=" +
                 std::to_string(node) + " (replay: COHORT_FS_SEED=" + std::to_string(seed_) + ")");
    Dir d = dirs_[R(dirs_.size())];
    std::string name = "n" + std::to_string(R(8));
    auto it = d.node->kids.find(name);
    std::shared_ptr<MNode> ex = it == d.node->kids.end() ? nullptr : it->second;
    std::string rel = Rel(d, name);
    std::string path = Abs(node, rel);
    bool is_file = ex && ex->kind == Kind::kFile;
    uint64_t op = R(15);
    if (trace_) std::fprintf(stderr, "step %d node %d op %d %s\n", step, node, static_cast<int>(op), rel.c_str());
    switch (op) {
      case 0: {  // create
        int fd = open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644);
        int e = fd < 0 ? errno : 0;
        if (fd >= 0) close(fd);
        if (ex) {
          EXPECT_EQ(e, EEXIST) << "create " << rel;
        } else {
          ASSERT_EQ(e, 0) << "create " << rel << ": " << strerror(e);
          d.node->kids[name] = std::make_shared<MNode>();
        }
        break;
      }
      case 1: {  // mkdir
        int e = Err(mkdir(path.c_str(), 0755));
        if (ex) {
          EXPECT_EQ(e, EEXIST) << "mkdir " << rel;
        } else {
          ASSERT_EQ(e, 0) << "mkdir " << rel << ": " << strerror(e);
          auto n = std::make_shared<MNode>();
          n->kind = Kind::kDir;
          n->mode = 0755;
          d.node->kids[name] = n;
          dirs_.push_back({rel, n});
        }
        break;
      }
      case 2: {  // write at an offset
        if (!is_file) break;
        uint64_t off = R(ex->data.size() + 6000);
        std::string data(R(6000) + 1, static_cast<char>('a' + R(26)));
        int fd = open(path.c_str(), O_WRONLY);
        ASSERT_GE(fd, 0) << "open " << rel << ": " << strerror(errno);
        ssize_t n = pwrite(fd, data.data(), data.size(), static_cast<off_t>(off));
        close(fd);
        ASSERT_EQ(n, static_cast<ssize_t>(data.size())) << strerror(errno);
        if (ex->data.size() < off + data.size()) ex->data.resize(off + data.size(), '\0');
        ex->data.replace(off, data.size(), data);
        break;
      }
      case 3: {  // append
        if (!is_file) break;
        std::string data = "<" + std::to_string(step) + ":" + std::to_string(node) + ">";
        int fd = open(path.c_str(), O_WRONLY | O_APPEND);
        ASSERT_GE(fd, 0) << "open " << rel << ": " << strerror(errno);
        ssize_t n = write(fd, data.data(), data.size());
        close(fd);
        ASSERT_EQ(n, static_cast<ssize_t>(data.size())) << strerror(errno);
        ex->data += data;
        break;
      }
      case 4: {  // truncate
        if (!is_file) break;
        uint64_t size = R(ex->data.size() + 6000);
        ASSERT_EQ(Err(truncate(path.c_str(), static_cast<off_t>(size))), 0) << rel;
        ex->data.resize(size, '\0');
        break;
      }
      case 5: {  // unlink / rmdir
        bool dir = ex && ex->kind == Kind::kDir;
        int e = Err(dir ? rmdir(path.c_str()) : unlink(path.c_str()));
        if (!ex) {
          EXPECT_EQ(e, ENOENT) << "unlink " << rel;
        } else if (dir && !ex->kids.empty()) {
          EXPECT_EQ(e, ENOTEMPTY) << "rmdir " << rel;
        } else {
          ASSERT_EQ(e, 0) << "remove " << rel << ": " << strerror(e);
          if (dir) DropDirsUnder(rel);
          ex->nlink -= 1;
          d.node->kids.erase(name);
        }
        break;
      }
      case 6: {  // rename, also across directories
        if (!ex) {
          std::string other = Abs(node, Rel(dirs_[R(dirs_.size())], "n" + std::to_string(R(8))));
          EXPECT_EQ(Err(rename(path.c_str(), other.c_str())), ENOENT) << "rename " << rel;
          break;
        }
        Dir d2 = dirs_[R(dirs_.size())];
        std::string name2 = "n" + std::to_string(R(8));
        auto t = d2.node->kids.find(name2);
        std::shared_ptr<MNode> tgt = t == d2.node->kids.end() ? nullptr : t->second;
        std::string to_rel = Rel(d2, name2);
        bool ex_dir = ex->kind == Kind::kDir;
        bool tgt_dir = tgt && tgt->kind == Kind::kDir;
        bool into_self = ex_dir && (d2.rel == rel || d2.rel.rfind(rel + "/", 0) == 0);
        int e = Err(rename(path.c_str(), Abs(node, to_rel).c_str()));
        if (tgt == ex) {
          EXPECT_EQ(e, 0) << "rename " << rel << " to itself";
        } else if (into_self) {
          EXPECT_EQ(e, EINVAL) << "rename " << rel << " into " << to_rel;
        } else if (tgt_dir && rel.rfind(to_rel + "/", 0) == 0) {
          // The target is an ancestor of the source: the VFS says ENOTEMPTY.
          EXPECT_EQ(e, ENOTEMPTY) << "rename " << rel << " over its ancestor " << to_rel;
        } else if (tgt && ex_dir && !tgt_dir) {
          EXPECT_EQ(e, ENOTDIR) << "rename " << rel << " over " << to_rel;
        } else if (tgt && !ex_dir && tgt_dir) {
          EXPECT_EQ(e, EISDIR) << "rename " << rel << " over " << to_rel;
        } else if (tgt_dir && !tgt->kids.empty()) {
          EXPECT_TRUE(e == ENOTEMPTY || e == EEXIST) << "rename over " << to_rel << ": " << strerror(e);
        } else {
          ASSERT_EQ(e, 0) << "rename " << rel << " to " << to_rel << ": " << strerror(e);
          if (tgt) {
            tgt->nlink -= 1;
            if (tgt_dir) DropDirsUnder(to_rel);
          }
          if (ex_dir) {
            for (auto& x : dirs_) {
              if (x.rel == rel || x.rel.rfind(rel + "/", 0) == 0) {
                x.rel = to_rel + x.rel.substr(rel.size());
              }
            }
          }
          d.node->kids.erase(name);
          d2.node->kids[name2] = ex;
        }
        break;
      }
      case 7: {  // hard link
        if (!is_file) break;
        Dir d2 = dirs_[R(dirs_.size())];
        std::string name2 = "n" + std::to_string(R(8));
        int e = Err(link(path.c_str(), Abs(node, Rel(d2, name2)).c_str()));
        if (d2.node->kids.count(name2)) {
          EXPECT_EQ(e, EEXIST) << "link to " << Rel(d2, name2);
        } else {
          ASSERT_EQ(e, 0) << "link " << rel << ": " << strerror(e);
          ex->nlink += 1;
          d2.node->kids[name2] = ex;
        }
        break;
      }
      case 8: {  // symlink (targets never resolve: names are n<k>, targets t<k>)
        std::string target = "t" + std::to_string(R(100));
        int e = Err(symlink(target.c_str(), path.c_str()));
        if (ex) {
          EXPECT_EQ(e, EEXIST) << "symlink " << rel;
        } else {
          ASSERT_EQ(e, 0) << "symlink " << rel << ": " << strerror(e);
          auto n = std::make_shared<MNode>();
          n->kind = Kind::kSymlink;
          n->data = target;
          n->mode = 0777;
          d.node->kids[name] = n;
        }
        break;
      }
      case 9: {  // chmod (setattr); owner rwx kept so the walk stays possible
        if (!ex || ex->kind == Kind::kSymlink) break;
        uint32_t mode = 0700 | static_cast<uint32_t>(R(0100));
        ASSERT_EQ(Err(chmod(path.c_str(), mode)), 0) << "chmod " << rel;
        ex->mode = mode;
        break;
      }
      case 10: {  // set or remove an extended attribute
        if (!ex || ex->kind == Kind::kSymlink) break;
        std::string xn = "user.k" + std::to_string(R(3));
        bool has = ex->xattrs.count(xn) != 0;
        switch (R(4)) {
          case 0: {
            int e = Err(lremovexattr(path.c_str(), xn.c_str()));
            EXPECT_EQ(e, has ? 0 : ENODATA) << "removexattr " << rel << " " << xn;
            if (has && e == 0) ex->xattrs.erase(xn);
            break;
          }
          default: {
            int flags = static_cast<int>(R(3));  // 0, XATTR_CREATE, XATTR_REPLACE
            std::string value = "v" + std::to_string(step);
            int e = Err(lsetxattr(path.c_str(), xn.c_str(), value.data(), value.size(), flags));
            if (flags == XATTR_CREATE && has) {
              EXPECT_EQ(e, EEXIST) << "setxattr create " << rel << " " << xn;
            } else if (flags == XATTR_REPLACE && !has) {
              EXPECT_EQ(e, ENODATA) << "setxattr replace " << rel << " " << xn;
            } else {
              ASSERT_EQ(e, 0) << "setxattr " << rel << " " << xn << ": " << strerror(e);
              ex->xattrs[xn] = value;
            }
            break;
          }
        }
        break;
      }
      case 11:
      case 12: {  // read back on this node: content, size, links, mode
        struct stat st;
        int e = Err(lstat(path.c_str(), &st));
        if (!ex) {
          EXPECT_EQ(e, ENOENT) << "lstat " << rel;
          break;
        }
        ASSERT_EQ(e, 0) << "lstat " << rel << ": " << strerror(e);
        EXPECT_EQ(st.st_mode & 07777, ex->mode) << rel;
        if (ex->kind == Kind::kFile) {
          EXPECT_EQ(st.st_nlink, ex->nlink) << rel;
          EXPECT_EQ(static_cast<size_t>(st.st_size), ex->data.size()) << rel;
          EXPECT_TRUE(ReadFile(path) == ex->data) << "content of " << rel;
        } else if (ex->kind == Kind::kSymlink) {
          char buf[256];
          ssize_t n = readlink(path.c_str(), buf, sizeof buf);
          ASSERT_GE(n, 0) << strerror(errno);
          EXPECT_EQ(std::string(buf, static_cast<size_t>(n)), ex->data) << rel;
        } else {
          EXPECT_TRUE(S_ISDIR(st.st_mode)) << rel;
        }
        break;
      }
      case 13:
      case 14: {  // list a directory on this node
        std::set<std::string> want;
        for (const auto& [k, v] : d.node->kids) want.insert(k);
        EXPECT_EQ(ListDir(Abs(node, d.rel)), want) << "listing of /" << d.rel;
        break;
      }
    }
  }

  CohortCluster* c_;
  int nodes_;
  std::string rel_root_;
  std::mt19937_64 rng_;
  uint64_t seed_;
  std::shared_ptr<MNode> top_;
  std::vector<Dir> dirs_;
  bool trace_ = std::getenv("COHORT_FS_TRACE") != nullptr;  // each step on stderr
};

class ClusterModelTest : public ::testing::Test {
 protected:
  static constexpr int kNodes = 3;
};

TEST_F(ClusterModelTest, RandomOperationsOnAllNodesMatchOneModel) {
  COHORT_REQUIRE_FUSE();
  CohortCluster c(ClusterSpec{.nodes = kNodes, .image_bytes = 256ull << 20});
  ASSERT_TRUE(c.Setup());
  ASSERT_TRUE(c.StartAll());
  std::vector<uint64_t> seeds{31, 32};
  if (const char* env = std::getenv("COHORT_FS_SEED")) seeds = {std::strtoull(env, nullptr, 10)};
  int steps = 300;
  if (const char* env = std::getenv("COHORT_FS_STEPS")) steps = std::atoi(env);
  for (uint64_t seed : seeds) {
    std::string rel = "run" + std::to_string(seed);
    ASSERT_EQ(mkdir(c.path(1, rel).c_str(), 0755), 0);
    ClusterModel m(&c, kNodes, rel, seed);
    m.Run(steps, /*tree_every=*/50);
    if (HasFailure()) {
      ADD_FAILURE() << "failing seed " << seed << " (replay: COHORT_FS_SEED=" << seed << ")";
      break;
    }
  }
  c.UnmountAndCheck(kNodes);
}

}  // namespace
}  // namespace cohort::testing
