// common/lock_rank.h: the global lock order of Cohort's own mutexes, checked at run time.
//
// Rule: a thread may acquire a Mutex only if its rank is strictly greater than the rank
// of every ranked Mutex the thread already holds. Debug builds (COHORT_LOCK_RANK_CHECK)
// abort with both mutexes' names on a violation; release builds do not check. Mutexes
// with kUnranked are not checked (use it only for leaf locks that never nest).
//
// The ranks follow the layers: the filesystem takes its locks before calling into the
// DLM, the DLM before calling into the network. Gaps leave room to insert. A change
// here is a change of lock order: update docs/locking.md in the same commit.
//
// DO NOT reorder existing entries without re-reading docs/locking.md.
#pragma once

namespace cohort {

enum class LockRank : int {
  kUnranked = 0,

  // fs/ (100..299), outermost first
  kFsRename = 100,        // the node-local side of the cluster rename lock
  kFsInodeTable = 101,    // the inode cache's table and lookup/open counts
  kFsGlockTable = 102,    // the glock manager's name -> glock table
  kFsGlock = 104,         // one glock's state (holders, DLM mode, demote request)
  kFsInode = 120,         // an inode's in-memory state (parent before child by inode no.)
  kFsAllocGroup = 160,    // an allocation group's in-memory bitmap
  kFsCommit = 190,        // serialises transaction commits (held across the journal)
  kFsJournal = 200,       // the node's journal writer
  kFsBlockCache = 240,    // the metadata block cache
  kFsBlockDevice = 280,   // a block device's internal state

  // dlm/ (300..499)
  kDlmLockspace = 300,    // the lockspace engine
  kDlmCallbackQueue = 400,// the queue of pending AST/BAST deliveries

  // net/ (500..699)
  kNetMembership = 500,   // membership view and quorum
  kNetConnWrite = 540,    // one TCP connection's write side (frames, MAC counter, socket)
  kNetPeer = 550,         // one peer connection's send queue
  kNetDelivery = 560,     // the TCP transport's queue of handler calls (leaf)
  kNetSimScheduler = 600, // SimTransport's scheduler (tests)

  // common/ (700..)
  kLogging = 700,
  kTestLow = 900,         // for tests of the rank check itself
  kTestHigh = 901,
};

}  // namespace cohort
