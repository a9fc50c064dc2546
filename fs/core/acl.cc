// fs/core/acl.cc: see fs/core/acl.h.
#include "fs/core/acl.h"

#include <string>

#include "common/coding.h"

namespace cohort::fs::acl {
namespace {

constexpr size_t kHeader = 4;
constexpr size_t kEntrySize = 8;
constexpr size_t kMaxEntries = 1024;  // far more than fits in an xattr block

Entry* Find(Acl* acl, uint16_t tag) {
  for (Entry& e : acl->entries) {
    if (e.tag == tag) return &e;
  }
  return nullptr;
}

const Entry* Find(const Acl& acl, uint16_t tag) {
  for (const Entry& e : acl.entries) {
    if (e.tag == tag) return &e;
  }
  return nullptr;
}

Status Bad(const std::string& why) { return Status::InvalidArgument("POSIX ACL: " + why); }

}  // namespace

bool Acl::IsMinimal() const {
  for (const Entry& e : entries) {
    if (e.tag != kUserObj && e.tag != kGroupObj && e.tag != kOther) return false;
  }
  return true;
}

Result<Acl> Decode(std::span<const uint8_t> value) {
  if (value.size() < kHeader) return Bad("value shorter than its header");
  if ((value.size() - kHeader) % kEntrySize != 0) return Bad("value not a whole number of entries");
  if (DecodeFixed32(value.data()) != kVersion) return Bad("unknown version");
  size_t n = (value.size() - kHeader) / kEntrySize;
  if (n > kMaxEntries) return Bad("too many entries");
  Acl acl;
  acl.entries.reserve(n);
  uint16_t last_tag = 0;
  uint32_t last_id = 0;
  int user_obj = 0, group_obj = 0, other = 0, mask = 0, named = 0;
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* p = value.data() + kHeader + i * kEntrySize;
    Entry e{DecodeFixed16(p), DecodeFixed16(p + 2), DecodeFixed32(p + 4)};
    if (e.perm & ~7u) return Bad("permission bits other than rwx");
    switch (e.tag) {
      case kUserObj: ++user_obj; break;
      case kGroupObj: ++group_obj; break;
      case kOther: ++other; break;
      case kMask: ++mask; break;
      case kUser:
      case kGroup:
        ++named;
        if (e.id == kUndefinedId) return Bad("named entry without an id");
        // Within USER and within GROUP, ids strictly ascending (so none twice).
        if (e.tag == last_tag && e.id <= last_id) return Bad("named entries out of order or repeated");
        last_id = e.id;
        break;
      default: return Bad("unknown tag " + std::to_string(e.tag));
    }
    if (e.tag < last_tag) return Bad("entries out of order");
    if (e.tag != kUser && e.tag != kGroup) e.id = kUndefinedId;
    last_tag = e.tag;
    acl.entries.push_back(e);
  }
  if (n == 0) return acl;
  if (user_obj != 1 || group_obj != 1 || other != 1) {
    return Bad("needs exactly one owner, owning-group and other entry");
  }
  if (mask > 1) return Bad("more than one mask entry");
  if (named > 0 && mask == 0) return Bad("named entries need a mask entry");
  return acl;
}

std::vector<uint8_t> Encode(const Acl& acl) {
  std::vector<uint8_t> out(kHeader + kEntrySize * acl.entries.size());
  EncodeFixed32(out.data(), kVersion);
  for (size_t i = 0; i < acl.entries.size(); ++i) {
    uint8_t* p = out.data() + kHeader + i * kEntrySize;
    const Entry& e = acl.entries[i];
    EncodeFixed16(p, e.tag);
    EncodeFixed16(p + 2, e.perm);
    EncodeFixed32(p + 4, e.id);
  }
  return out;
}

uint32_t ModeBits(const Acl& acl) {
  uint32_t mode = 0;
  const Entry* m = Find(acl, kMask);
  for (const Entry& e : acl.entries) {
    if (e.tag == kUserObj) mode |= uint32_t{e.perm} << 6;
    if (e.tag == kOther) mode |= e.perm;
    if ((e.tag == kMask) || (e.tag == kGroupObj && m == nullptr)) mode |= uint32_t{e.perm} << 3;
  }
  return mode;
}

void ApplyMode(Acl* acl, uint32_t mode) {
  Entry* m = Find(acl, kMask);
  for (Entry& e : acl->entries) {
    if (e.tag == kUserObj) e.perm = (mode >> 6) & 7;
    if (e.tag == kOther) e.perm = mode & 7;
    if (e.tag == kMask || (e.tag == kGroupObj && m == nullptr)) e.perm = (mode >> 3) & 7;
  }
}

uint32_t MaskForCreate(Acl* acl, uint32_t mode) {
  Entry* m = Find(acl, kMask);
  for (Entry& e : acl->entries) {
    if (e.tag == kUserObj) e.perm &= (mode >> 6) & 7;
    if (e.tag == kOther) e.perm &= mode & 7;
    if (e.tag == kMask || (e.tag == kGroupObj && m == nullptr)) e.perm &= (mode >> 3) & 7;
  }
  return (mode & ~0777u) | ModeBits(*acl);
}

bool Permits(const Acl& acl, uint32_t owner_uid, uint32_t owner_gid, uint32_t uid, uint32_t gid,
             uint32_t want) {
  const Entry* mask = Find(acl, kMask);
  uint32_t mask_perm = mask ? mask->perm : 7;
  auto ok = [&](uint32_t perm) { return (perm & want) == want; };
  for (const Entry& e : acl.entries) {
    if (e.tag == kUserObj && uid == owner_uid) return ok(e.perm);
    if (e.tag == kUser && e.id == uid) return ok(e.perm & mask_perm);
  }
  bool group_matched = false;
  for (const Entry& e : acl.entries) {
    bool match = (e.tag == kGroupObj && gid == owner_gid) || (e.tag == kGroup && e.id == gid);
    if (!match) continue;
    group_matched = true;
    if (ok(e.perm & mask_perm)) return true;
  }
  if (group_matched) return false;
  const Entry* other = Find(acl, kOther);
  return other != nullptr && ok(other->perm);
}

}  // namespace cohort::fs::acl
