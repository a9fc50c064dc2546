// tests/fs/journal_test.cc: the journal of docs/ondisk-format.md §8: commit, replay,
// crash at every point of a transaction, idempotent replay, stale and torn records.
#include "fs/journal.h"

#include <functional>

#include <gtest/gtest.h>

#include "common/clock.h"
#include "common/coding.h"
#include "fs/block_device.h"
#include "fs/dir_ops.h"
#include "fs/group.h"
#include "fs/inode.h"
#include "fs/meta_store.h"
#include "fs/system_blocks.h"
#include "tests/fs/sample_blocks.h"

namespace cohort::fs {
namespace {

constexpr uint64_t kBlocks = 256;  // a 1 MiB device
constexpr uint64_t kJournalStart = 20;
constexpr uint32_t kJournalBlocks = 64;

// Distinct, valid metadata blocks (statfs blocks) whose content depends on `version`.
std::vector<uint8_t> Meta(uint64_t blkno, uint64_t version, const BlockContext& ctx) {
  StatfsBlock s{1000000, version, blkno};
  return s.Encode(blkno, ctx);
}

std::vector<uint8_t> Data(uint8_t v) { return std::vector<uint8_t>(4096, v); }

class JournalTest : public ::testing::Test {
 protected:
  void Format(MemBlockDevice* dev) {
    ASSERT_TRUE(Journal::Format(dev, ctx_, kJournalStart, kJournalBlocks, 0).ok());
    for (uint64_t b : targets_) ASSERT_TRUE(dev->WriteBlock(b, Meta(b, 1, ctx_)).ok());
    ASSERT_TRUE(dev->WriteBlock(kDataBlock, Data(0xaa)).ok());
    ASSERT_TRUE(dev->Flush().ok());
  }
  Journal::Transaction MakeTx(uint64_t version) {
    Journal::Transaction tx;
    for (uint64_t b : targets_) tx.AddMetadata({b, Meta(b, version, ctx_)});
    tx.AddOrderedData(kDataBlock, Data(static_cast<uint8_t>(version)));
    return tx;
  }
  // 0: all targets at version `a`; 1: all at `b`; -1 mixed or garbage.
  int State(MemBlockDevice* dev, uint64_t a, uint64_t b) {
    int state = -2;
    for (uint64_t t : targets_) {
      std::vector<uint8_t> buf(4096);
      EXPECT_TRUE(dev->ReadBlock(t, 4096, buf).ok());
      int s = buf == Meta(t, a, ctx_) ? 0 : buf == Meta(t, b, ctx_) ? 1 : -1;
      if (state == -2) state = s;
      if (s != state) return -1;
    }
    return state;
  }

  // Crash at every point of one commit: `run` commits on a freshly formatted device
  // with that many writes allowed (-1: no limit) and says whether the commit returned
  // OK. It runs once to count the writes, then once per prefix of them, with every
  // crash mode and several seeds; after each crash the log is replayed and the targets
  // must be all old or all new, and new if the commit returned OK. `check` adds the
  // test's own assertions on the replayed device. Both outcomes must be seen.
  void CrashAtEveryWrite(const std::function<bool(MemBlockDevice*, int64_t)>& run,
                         const std::function<void(MemBlockDevice*, bool, int)>& check) {
    uint64_t writes = 0;
    {
      MemBlockDevice dev(kBlocks * 4096);
      Format(&dev);
      uint64_t before = dev.writes();
      ASSERT_TRUE(run(&dev, -1));
      writes = dev.writes() - before;
    }
    // At least: the log (descriptor + images, one batched write), the commit block, and
    // the in-place images; a torn batched write cuts a transaction mid-log.
    ASSERT_GE(writes, 3u);
    int saw_old = 0, saw_new = 0;
    for (uint64_t k = 0; k <= writes; ++k) {
      for (auto mode : {MemBlockDevice::CrashMode::kDropAll,
                        MemBlockDevice::CrashMode::kDropRandom, MemBlockDevice::CrashMode::kTear}) {
        for (uint64_t seed = 0; seed < 8; ++seed) {
          SCOPED_TRACE("crash after " + std::to_string(k) + " writes, mode " +
                       std::to_string(static_cast<int>(mode)) + ", seed " + std::to_string(seed));
          MemBlockDevice dev(kBlocks * 4096);
          Format(&dev);
          const bool committed = run(&dev, static_cast<int64_t>(k));
          dev.SimulateCrash(mode, seed);
          auto st = Journal::Replay(&dev, ctx_, kJournalStart, kBlocks);
          ASSERT_TRUE(st.ok()) << st.status().ToString();
          int state = State(&dev, 1, 2);
          ASSERT_NE(state, -1) << "partial transaction after replay";
          if (committed) {
            ASSERT_EQ(state, 1) << "a commit that returned OK was lost";
          }
          check(&dev, committed, state);
          if (HasFatalFailure()) return;
          (state == 0 ? saw_old : saw_new)++;
        }
      }
    }
    EXPECT_GT(saw_old, 0);
    EXPECT_GT(saw_new, 0);
  }

  static constexpr uint64_t kDataBlock = 240;
  const BlockContext ctx_ = testing::SampleContext();
  const std::vector<uint64_t> targets_ = {150, 151, 200, 230};
  FakeClock clock_;
};

TEST_F(JournalTest, CommittedTransactionIsInPlaceAndSurvivesReopen) {
  MemBlockDevice dev(kBlocks * 4096);
  Format(&dev);
  auto j = Journal::Open(&dev, ctx_, kJournalStart, kBlocks, &clock_);
  ASSERT_TRUE(j.ok()) << j.status().ToString();
  auto seq = (*j)->Commit(MakeTx(2));
  ASSERT_TRUE(seq.ok()) << seq.status().ToString();
  EXPECT_EQ(*seq, 1u);
  EXPECT_EQ(State(&dev, 1, 2), 1);
  // Crash before any checkpoint: in-place writes lost, replay restores them.
  dev.SimulateCrash(MemBlockDevice::CrashMode::kDropAll, 0);
  auto st = Journal::Replay(&dev, ctx_, kJournalStart, kBlocks);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->transactions, 1u);
  EXPECT_EQ(State(&dev, 1, 2), 1);
  std::vector<uint8_t> d(4096);
  ASSERT_TRUE(dev.ReadBlock(kDataBlock, 4096, d).ok());
  EXPECT_EQ(d, Data(2));  // ordered data was durable before the commit
}

TEST_F(JournalTest, DeferredInPlaceImagesAreReadablePendingAndWrittenByWriteBack) {
  MemBlockDevice dev(kBlocks * 4096);
  Format(&dev);
  auto j = Journal::Open(&dev, ctx_, kJournalStart, kBlocks, &clock_);
  ASSERT_TRUE(j.ok()) << j.status().ToString();
  (*j)->set_defer_in_place(true);
  ASSERT_TRUE((*j)->Commit(MakeTx(2)).ok());
  EXPECT_EQ(State(&dev, 1, 2), 0);  // not in place yet
  EXPECT_EQ((*j)->pending_blocks(), targets_.size());
  std::vector<uint8_t> img(4096);
  ASSERT_TRUE((*j)->ReadPending(targets_[0], img));
  EXPECT_EQ(img, Meta(targets_[0], 2, ctx_));
  EXPECT_FALSE((*j)->ReadPending(kDataBlock, img));
  ASSERT_TRUE((*j)->WriteBack().ok());
  EXPECT_EQ(State(&dev, 1, 2), 1);
  EXPECT_EQ((*j)->pending_blocks(), 0u);
}

TEST_F(JournalTest, DeferredImagesLostInACrashAreReplayed) {
  MemBlockDevice dev(kBlocks * 4096);
  Format(&dev);
  auto j = Journal::Open(&dev, ctx_, kJournalStart, kBlocks, &clock_);
  ASSERT_TRUE(j.ok());
  (*j)->set_defer_in_place(true);
  ASSERT_TRUE((*j)->Commit(MakeTx(2)).ok());
  ASSERT_TRUE((*j)->Commit(MakeTx(3)).ok());
  dev.SimulateCrash(MemBlockDevice::CrashMode::kDropAll, 0);
  auto st = Journal::Replay(&dev, ctx_, kJournalStart, kBlocks);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->transactions, 2u);
  EXPECT_EQ(State(&dev, 1, 3), 1);
}

TEST_F(JournalTest, CheckpointWritesDeferredImagesBeforeFreeingTheLog) {
  MemBlockDevice dev(kBlocks * 4096);
  Format(&dev);
  auto j = Journal::Open(&dev, ctx_, kJournalStart, kBlocks, &clock_);
  ASSERT_TRUE(j.ok());
  (*j)->set_defer_in_place(true);
  ASSERT_TRUE((*j)->Commit(MakeTx(2)).ok());
  ASSERT_TRUE((*j)->Checkpoint().ok());
  EXPECT_EQ((*j)->pending_blocks(), 0u);
  // Nothing left to replay, and the blocks are in place.
  dev.SimulateCrash(MemBlockDevice::CrashMode::kDropAll, 0);
  auto st = Journal::Replay(&dev, ctx_, kJournalStart, kBlocks);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->transactions, 0u);
  EXPECT_EQ(State(&dev, 1, 2), 1);
}

TEST_F(JournalTest, CrashAtEveryWriteOfATransactionReplaysAllOrNothing) {
  auto run = [&](MemBlockDevice* dev, int64_t budget) -> bool {
    auto j = Journal::Open(dev, ctx_, kJournalStart, kBlocks, &clock_);
    EXPECT_TRUE(j.ok());
    if (!j.ok()) return false;
    dev->SetWriteBudget(budget);
    return (*j)->Commit(MakeTx(2)).ok();
  };
  CrashAtEveryWrite(run, [&](MemBlockDevice* dev, bool, int state) {
    if (state == 1) {
      std::vector<uint8_t> d(4096);
      ASSERT_TRUE(dev->ReadBlock(kDataBlock, 4096, d).ok());
      ASSERT_EQ(d, Data(2)) << "metadata replayed without its ordered data";
    }
    // Replaying again changes nothing.
    auto image = dev->CurrentImage();
    auto again = Journal::Replay(dev, ctx_, kJournalStart, kBlocks);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->transactions, 0u);
    ASSERT_EQ(dev->CurrentImage(), image);
  });
}

TEST_F(JournalTest, OrderingFlushIsSkippedOnlyWhenNoNotedWriteOrOrderedDataPrecedes) {
  MemBlockDevice dev(kBlocks * 4096);
  Format(&dev);
  auto j = Journal::Open(&dev, ctx_, kJournalStart, kBlocks, &clock_);
  ASSERT_TRUE(j.ok());
  (*j)->set_defer_in_place(true);
  (*j)->set_order_noted_writes_only(true);
  auto metadata_only = [&](uint64_t version) {
    Journal::Transaction tx;
    for (uint64_t b : targets_) tx.AddMetadata({b, Meta(b, version, ctx_)});
    return tx;
  };
  // Metadata only, nothing noted: one flush (the commit's own).
  uint64_t f0 = dev.flushes();
  ASSERT_TRUE((*j)->Commit(metadata_only(2)).ok());
  EXPECT_EQ(dev.flushes() - f0, 1u);
  EXPECT_EQ((*j)->ordering_flushes_skipped(), 1u);
  // A noted in-place write: two flushes (data before the commit record).
  ASSERT_TRUE(dev.WriteBlock(kDataBlock, Data(3)).ok());
  (*j)->NoteOrderedWrite();
  f0 = dev.flushes();
  ASSERT_TRUE((*j)->Commit(metadata_only(3)).ok());
  EXPECT_EQ(dev.flushes() - f0, 2u);
  // The note was consumed by that flush: the next commit skips it again.
  f0 = dev.flushes();
  ASSERT_TRUE((*j)->Commit(metadata_only(4)).ok());
  EXPECT_EQ(dev.flushes() - f0, 1u);
  // Ordered data in the transaction always gets the ordering flush.
  f0 = dev.flushes();
  ASSERT_TRUE((*j)->Commit(MakeTx(5)).ok());
  EXPECT_EQ(dev.flushes() - f0, 2u);
  EXPECT_EQ((*j)->ordering_flushes_skipped(), 2u);
}

TEST_F(JournalTest, CrashAtEveryWriteKeepsNotedDataBeforeItsCommitAndUnnotedDataOnceCommitted) {
  // The caller writes two data blocks in place before committing: one noted (a fresh
  // block the metadata maps: it must be durable whenever the commit is replayed) and
  // one not (an overwrite: durable once Commit() returned, like the metadata).
  constexpr uint64_t kOverwritten = kDataBlock + 1;
  auto run = [&](MemBlockDevice* dev, int64_t budget) -> bool {
    auto j = Journal::Open(dev, ctx_, kJournalStart, kBlocks, &clock_);
    EXPECT_TRUE(j.ok());
    (*j)->set_defer_in_place(true);
    (*j)->set_order_noted_writes_only(true);
    dev->SetWriteBudget(budget);
    if (!dev->WriteBlock(kDataBlock, Data(2)).ok()) return false;
    (*j)->NoteOrderedWrite();
    if (!dev->WriteBlock(kOverwritten, Data(0x77)).ok()) return false;
    Journal::Transaction tx;
    for (uint64_t b : targets_) tx.AddMetadata({b, Meta(b, 2, ctx_)});
    return (*j)->Commit(std::move(tx)).ok();
  };
  CrashAtEveryWrite(run, [&](MemBlockDevice* dev, bool committed, int state) {
    std::vector<uint8_t> d(4096);
    if (state == 1) {
      ASSERT_TRUE(dev->ReadBlock(kDataBlock, 4096, d).ok());
      ASSERT_EQ(d, Data(2)) << "metadata replayed without its noted data";
    }
    if (committed) {
      ASSERT_TRUE(dev->ReadBlock(kOverwritten, 4096, d).ok());
      ASSERT_EQ(d, Data(0x77)) << "an overwrite before a returned commit was lost";
    }
  });
}

TEST_F(JournalTest, CrashDuringReplayThenReplayAgainGivesTheSameResult) {
  MemBlockDevice dev(kBlocks * 4096);
  Format(&dev);
  {
    auto j = Journal::Open(&dev, ctx_, kJournalStart, kBlocks, &clock_);
    ASSERT_TRUE(j.ok());
    ASSERT_TRUE((*j)->Commit(MakeTx(2)).ok());
    ASSERT_TRUE((*j)->Commit(MakeTx(3)).ok());
  }
  dev.SimulateCrash(MemBlockDevice::CrashMode::kDropAll, 0);
  auto base = dev.DurableImage();
  for (int64_t k = 0; k < 12; ++k) {
    MemBlockDevice d2(kBlocks * 4096);
    ASSERT_TRUE(d2.WriteAt(0, base).ok());
    ASSERT_TRUE(d2.Flush().ok());
    d2.SetWriteBudget(k);
    (void)Journal::Replay(&d2, ctx_, kJournalStart, kBlocks);
    d2.SimulateCrash(MemBlockDevice::CrashMode::kDropRandom, static_cast<uint64_t>(k));
    auto st = Journal::Replay(&d2, ctx_, kJournalStart, kBlocks);
    ASSERT_TRUE(st.ok());
    EXPECT_EQ(State(&d2, 1, 3), 1) << "after crash in replay at write " << k;
  }
}

TEST_F(JournalTest, WrapAroundRejectsStaleRecordsFromTheEarlierLap) {
  MemBlockDevice dev(kBlocks * 4096);
  Format(&dev);
  auto j = Journal::Open(&dev, ctx_, kJournalStart, kBlocks, &clock_);
  ASSERT_TRUE(j.ok());
  // Each transaction uses 6 log blocks; 63 log blocks: several laps.
  for (uint64_t v = 2; v < 40; ++v) ASSERT_TRUE((*j)->Commit(MakeTx(v)).ok());
  dev.SimulateCrash(MemBlockDevice::CrashMode::kDropAll, 0);
  auto st = Journal::Replay(&dev, ctx_, kJournalStart, kBlocks);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(State(&dev, 0, 39), 1);
  EXPECT_FALSE(st->stop_reason.empty());
  EXPECT_EQ(st->next_seq, 39u);
}

TEST_F(JournalTest, RecordWithAnOlderSequenceNumberIsStaleAndNotReplayed) {
  MemBlockDevice dev(kBlocks * 4096);
  Format(&dev);
  {
    auto j = Journal::Open(&dev, ctx_, kJournalStart, kBlocks, &clock_);
    ASSERT_TRUE(j.ok());
    ASSERT_TRUE((*j)->Commit(MakeTx(2)).ok());  // seq 1 at pos 0
    ASSERT_TRUE((*j)->Checkpoint().ok());       // tail: seq 2 at pos 6
  }
  // As if the log had wrapped back to pos 0 expecting seq 2: pos 0 still holds the
  // complete, valid record of seq 1 from the earlier lap.
  JournalHeader h;
  h.blocks = kJournalBlocks;
  h.tail_seq = 2;
  h.tail_pos = 0;
  ASSERT_TRUE(dev.WriteBlock(kJournalStart, h.Encode(kJournalStart, ctx_)).ok());
  for (uint64_t t : targets_) ASSERT_TRUE(dev.WriteBlock(t, Meta(t, 5, ctx_)).ok());
  ASSERT_TRUE(dev.Flush().ok());
  auto st = Journal::Replay(&dev, ctx_, kJournalStart, kBlocks);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->transactions, 0u);
  EXPECT_NE(st->stop_reason.find("stale"), std::string::npos) << st->stop_reason;
  EXPECT_EQ(State(&dev, 5, 2), 0);  // the old images were not written back
}

TEST_F(JournalTest, RecordOfAnEarlierFilesystemIsNotReplayed) {
  MemBlockDevice dev(kBlocks * 4096);
  BlockContext old_ctx = ctx_;
  old_ctx.fs_stamp ^= 0xffff;
  // An earlier mkfs left a complete transaction at pos 0 with seq 1.
  ASSERT_TRUE(Journal::Format(&dev, old_ctx, kJournalStart, kJournalBlocks, 0).ok());
  {
    auto j = Journal::Open(&dev, old_ctx, kJournalStart, kBlocks, &clock_);
    ASSERT_TRUE(j.ok());
    ASSERT_TRUE((*j)->Commit(MakeTx(2)).ok());
  }
  Format(&dev);  // the new filesystem: header only, seq 1 at pos 0
  auto st = Journal::Replay(&dev, ctx_, kJournalStart, kBlocks);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->transactions, 0u);
  EXPECT_NE(st->stop_reason.find("fs_stamp"), std::string::npos) << st->stop_reason;
  EXPECT_EQ(State(&dev, 1, 2), 0);
}

TEST_F(JournalTest, TornImageStopsReplayBeforeThatTransaction) {
  MemBlockDevice dev(kBlocks * 4096);
  Format(&dev);
  {
    auto j = Journal::Open(&dev, ctx_, kJournalStart, kBlocks, &clock_);
    ASSERT_TRUE(j.ok());
    ASSERT_TRUE((*j)->Commit(MakeTx(2)).ok());
    ASSERT_TRUE((*j)->Commit(MakeTx(3)).ok());
  }
  dev.SimulateCrash(MemBlockDevice::CrashMode::kDropAll, 0);
  // Damage one image of the second transaction (log pos 6 = desc, 7.. images).
  std::vector<uint8_t> b(4096);
  ASSERT_TRUE(dev.ReadBlock(kJournalStart + 1 + 7, 4096, b).ok());
  b[100] ^= 0xff;
  ASSERT_TRUE(dev.WriteBlock(kJournalStart + 1 + 7, b).ok());
  ASSERT_TRUE(dev.Flush().ok());
  auto st = Journal::Replay(&dev, ctx_, kJournalStart, kBlocks);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->transactions, 1u);
  EXPECT_EQ(State(&dev, 2, 3), 0);
  EXPECT_NE(st->stop_reason.find("torn"), std::string::npos) << st->stop_reason;
}

TEST_F(JournalTest, CheckpointFreesLogSpaceAndAdvancesTheTail) {
  MemBlockDevice dev(kBlocks * 4096);
  Format(&dev);
  auto j = Journal::Open(&dev, ctx_, kJournalStart, kBlocks, &clock_);
  ASSERT_TRUE(j.ok());
  ASSERT_TRUE((*j)->Commit(MakeTx(2)).ok());
  EXPECT_EQ((*j)->used_blocks(), 6u);
  ASSERT_TRUE((*j)->Checkpoint().ok());
  EXPECT_EQ((*j)->used_blocks(), 0u);
  std::vector<uint8_t> b(4096);
  ASSERT_TRUE(dev.ReadBlock(kJournalStart, 4096, b).ok());
  auto h = DecodeJournalHeader(b, kJournalStart, ctx_);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->tail_seq, 2u);
  EXPECT_EQ(h->tail_pos, 6u);
}

TEST_F(JournalTest, BadTransactionsAreRejectedBeforeAnyWrite) {
  MemBlockDevice dev(kBlocks * 4096);
  Format(&dev);
  auto j = Journal::Open(&dev, ctx_, kJournalStart, kBlocks, &clock_);
  ASSERT_TRUE(j.ok());
  uint64_t before = dev.writes();
  EXPECT_EQ((*j)->Commit(Journal::Transaction()).code(), Code::kInvalidArgument);
  Journal::Transaction big;
  for (uint64_t b = 100; b < 100 + 70; ++b) big.AddMetadata({b, Meta(b, 1, ctx_)});
  EXPECT_EQ((*j)->Commit(std::move(big)).code(), Code::kInvalidArgument);  // > journal
  Journal::Transaction outside;
  outside.AddMetadata({kBlocks + 5, std::vector<uint8_t>(4096)});
  EXPECT_EQ((*j)->Commit(std::move(outside)).code(), Code::kInvalidArgument);
  EXPECT_EQ(dev.writes(), before);
}

TEST_F(JournalTest, FailedCommitPoisonsTheJournalUntilReopen) {
  MemBlockDevice dev(kBlocks * 4096);
  Format(&dev);
  auto j = Journal::Open(&dev, ctx_, kJournalStart, kBlocks, &clock_);
  ASSERT_TRUE(j.ok());
  dev.SetWriteBudget(2);
  EXPECT_EQ((*j)->Commit(MakeTx(2)).code(), Code::kIOError);
  dev.SetWriteBudget(-1);
  EXPECT_EQ((*j)->Commit(MakeTx(3)).code(), Code::kIOError);
}

TEST_F(JournalTest, DescribeListsTransactionsFromTheTail) {
  MemBlockDevice dev(kBlocks * 4096);
  Format(&dev);
  auto j = Journal::Open(&dev, ctx_, kJournalStart, kBlocks, &clock_);
  ASSERT_TRUE(j.ok());
  ASSERT_TRUE((*j)->Commit(MakeTx(2)).ok());
  auto d = DescribeJournal(&dev, ctx_, kJournalStart, kBlocks);
  ASSERT_TRUE(d.ok());
  EXPECT_NE(d->find("seq 1 at pos 0: 4 blocks -> 150 151 200 230"), std::string::npos) << *d;
}

}  // namespace
}  // namespace cohort::fs

namespace cohort::fs {
namespace {

// End to end: a hashed directory built through a TransactionMetaStore, committed in
// journal transactions, survives a crash that loses every in-place write.
TEST_F(JournalTest, HashedDirectoryBuiltThroughTransactionsSurvivesACrash) {
  MemBlockDevice dev(kBlocks * 4096);
  Format(&dev);
  auto j = Journal::Open(&dev, ctx_, kJournalStart, kBlocks, &clock_);
  ASSERT_TRUE(j.ok());
  AllocGroup group = AllocGroup::Format(0, 91, 160, ctx_);
  Inode dir;
  dir.ino = 90;
  dir.mode = 040755;
  dir.nlink = 2;
  dir.parent = 90;
  dir.content_kind = ContentKind::kInlineDir;
  int inserted = 0;
  for (int batch = 0; batch < 10; ++batch) {
    Journal::Transaction tx;
    TransactionMetaStore store(
        &dev, ctx_, kBlocks, &tx,
        [&](uint64_t goal) { return group.Allocate(BlockState::kUsed, goal); },
        [&](uint64_t b) { return group.Free(b); });
    for (int i = 0; i < 40; ++i, ++inserted) {
      ASSERT_TRUE(
          DirInsert(&dir,
                    {91u + inserted % 150, DirentType::kFile, "entry-" + std::to_string(inserted)},
                    store)
              .ok());
    }
    for (auto& b : group.EncodeDirty(ctx_)) tx.AddMetadata(std::move(b));
    group.ClearDirty();
    ASSERT_TRUE((*j)->Commit(std::move(tx)).ok());
  }
  ASSERT_EQ(dir.content_kind, ContentKind::kHashedDir);
  dev.SimulateCrash(MemBlockDevice::CrashMode::kDropAll, 7);
  ASSERT_TRUE(Journal::Replay(&dev, ctx_, kJournalStart, kBlocks).ok());
  std::vector<uint8_t> b(4096);
  ASSERT_TRUE(dev.ReadBlock(90, 4096, b).ok());
  auto back = DecodeInode(b, 90, ctx_, kBlocks);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  Journal::Transaction none;
  TransactionMetaStore reader(
      &dev, ctx_, kBlocks, &none, [](uint64_t) -> Result<uint64_t> { return Status::ReadOnly(); },
      [](uint64_t) { return Status::ReadOnly(); });
  for (int i = 0; i < inserted; ++i) {
    auto e = DirLookup(*back, "entry-" + std::to_string(i), reader);
    ASSERT_TRUE(e.ok()) << i << ": " << e.status().ToString();
    EXPECT_EQ(e->inode, 91u + i % 150);
  }
  // The group's bitmaps on disk agree with the directory's blocks.
  std::vector<uint8_t> hdr(4096);
  ASSERT_TRUE(dev.ReadBlock(91, 4096, hdr).ok());
  std::vector<std::vector<uint8_t>> bitmaps(1, std::vector<uint8_t>(4096));
  ASSERT_TRUE(dev.ReadBlock(92, 4096, bitmaps[0]).ok());
  auto g = AllocGroup::Load(hdr, bitmaps, 91, ctx_);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(g->header().free_blocks, 160u - 2 - back->blocks);
}

}  // namespace
}  // namespace cohort::fs
