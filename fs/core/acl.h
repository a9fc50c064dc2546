// fs/core/acl.h: POSIX access control lists in their Linux xattr form
// (system.posix_acl_access / system.posix_acl_default), and the rules that tie them to
// the mode bits (docs/filesystem.md §10).
//
// The value is the kernel's "posix_acl_xattr" layout, little-endian:
//   u32 version (= 2), then entries of 8 bytes: u16 tag, u16 perm (rwx = 4|2|1), u32 id.
// A valid ACL has its entries in tag order USER_OBJ, USER*, GROUP_OBJ, GROUP*, MASK,
// OTHER; exactly one USER_OBJ, GROUP_OBJ and OTHER; at most one MASK, required as soon
// as there is a named USER or GROUP entry; no id twice within USER or within GROUP.
// Pure functions; no locking.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/status.h"

namespace cohort::fs::acl {

inline constexpr uint32_t kVersion = 2;
inline constexpr uint16_t kUserObj = 0x01;
inline constexpr uint16_t kUser = 0x02;
inline constexpr uint16_t kGroupObj = 0x04;
inline constexpr uint16_t kGroup = 0x08;
inline constexpr uint16_t kMask = 0x10;
inline constexpr uint16_t kOther = 0x20;
inline constexpr uint32_t kUndefinedId = 0xffffffff;

inline constexpr char kAccessName[] = "system.posix_acl_access";
inline constexpr char kDefaultName[] = "system.posix_acl_default";

struct Entry {
  uint16_t tag = 0;
  uint16_t perm = 0;
  uint32_t id = kUndefinedId;
  bool operator==(const Entry&) const = default;
};

struct Acl {
  std::vector<Entry> entries;
  // Only USER_OBJ, GROUP_OBJ and OTHER: the ACL says nothing the mode bits do not.
  bool IsMinimal() const;
  bool empty() const { return entries.empty(); }
};

// Parses and validates an xattr value. An empty list (the 4-byte header alone) is valid
// and means "no ACL" (setfacl -k writes it for a default ACL). InvalidArgument otherwise.
Result<Acl> Decode(std::span<const uint8_t> value);
std::vector<uint8_t> Encode(const Acl& acl);

// The permission bits (0777) an access ACL implies: USER_OBJ, MASK (or GROUP_OBJ when
// there is no mask), OTHER.
uint32_t ModeBits(const Acl& acl);

// chmod on a file with an access ACL: USER_OBJ, MASK (or GROUP_OBJ) and OTHER take the
// new mode's permission bits; named entries are kept.
void ApplyMode(Acl* acl, uint32_t mode);

// Creation under a directory with a default ACL (POSIX 1003.1e, as Linux's
// posix_acl_create): `acl` starts as a copy of the parent's default ACL; entries are
// masked by the requested `mode` (umask is not applied). Returns the new inode's mode
// (file type and set-id bits of `mode` kept, permission bits from the ACL).
uint32_t MaskForCreate(Acl* acl, uint32_t mode);

// Permission check against an access ACL (as Linux's posix_acl_permission). `want` is a
// mask of 4 (read), 2 (write), 1 (execute). Only the caller's primary gid is known.
bool Permits(const Acl& acl, uint32_t owner_uid, uint32_t owner_gid, uint32_t uid, uint32_t gid,
             uint32_t want);

}  // namespace cohort::fs::acl
