// fs/fuse/kernel_wire.h: the few fields of the raw FUSE wire protocol (the kernel's
// <linux/fuse.h>) that libfuse 3.14 does not pass to a low-level filesystem
// (docs/filesystem.md §8.1).
//
// libfuse 3.14 has no FUSE_CAP_HANDLE_KILLPRIV_V2: it never asks the kernel for
// FUSE_HANDLE_KILLPRIV_V2, and it drops FUSE_WRITE_KILL_SUIDGID (fuse_write_in.
// write_flags), FUSE_OPEN_KILL_SUIDGID (fuse_open_in.open_flags) and, in 3.14.1,
// FATTR_KILL_SUIDGID (fuse_setattr_in.valid) before calling the filesystem. The FUSE
// adapter reads and writes /dev/fuse through fuse_session_custom_io() with these
// helpers: it looks at each request as it is read (RequestKillFlags) and adds
// FUSE_HANDLE_KILLPRIV_V2 to the INIT reply (AddKillPrivV2ToInitReply).
//
// Every function checks lengths first: a short or odd buffer is left alone and yields
// "nothing to kill" (never a read past the end).
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>

namespace cohort::fs::wire {

// What a raw request says, as far as the adapter needs it.
struct RequestInfo {
  uint32_t opcode = 0;      // fuse_in_header.opcode (0: not a request we could parse)
  uint64_t unique = 0;
  uint64_t nodeid = 0;
  // The kernel asks the filesystem to clear set-user-ID, set-group-ID (when group
  // execute is set) and security.capability: a WRITE with FUSE_WRITE_KILL_SUIDGID, a
  // SETATTR with FATTR_KILL_SUIDGID, an OPEN or CREATE with FUSE_OPEN_KILL_SUIDGID.
  bool kill_suidgid = false;
  // INIT only: the kernel offers FUSE_HANDLE_KILLPRIV_V2.
  bool offers_killpriv_v2 = false;
};

// Parses the header of one request of `n` bytes (as read from /dev/fuse).
RequestInfo ParseRequest(const void* buf, size_t n);

// The unique id and error of a reply header (struct fuse_out_header) of `n` bytes; false
// if too short to be one.
bool ParseReplyHeader(const void* header, size_t n, uint64_t* unique, int32_t* error);

// `reply` is the body of a successful reply to INIT (struct fuse_init_out, `n` bytes):
// sets FUSE_HANDLE_KILLPRIV_V2 in its flags. Returns false (and changes nothing) when the
// body is too short to be one.
bool AddKillPrivV2ToInitReply(void* reply, size_t n);

// True if the INIT reply body asks for FUSE_HANDLE_KILLPRIV_V2.
bool InitReplyHasKillPrivV2(const void* reply, size_t n);

// The kernel's name of `opcode` ("WRITE", "GETXATTR", ...), or "" if unknown.
const char* OpcodeName(uint32_t opcode);
inline constexpr uint32_t kOpcodeSlots = 64;  // opcodes counted per name (all of FUSE's < 64)

// The opcodes the adapter looks at (values of <linux/fuse.h>; DO NOT CHANGE).
inline constexpr uint32_t kOpSetattr = 4;
inline constexpr uint32_t kOpOpen = 14;
inline constexpr uint32_t kOpWrite = 16;
inline constexpr uint32_t kOpInit = 26;
inline constexpr uint32_t kOpCreate = 35;

}  // namespace cohort::fs::wire
