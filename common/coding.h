// common/coding.h: little-endian encoding and a bounds-checked decoder.
//
// Everything Cohort writes to disk or to the wire is little-endian (docs/ondisk-format.md
// §1, docs/wire-protocol.md §1). Encoders write into caller buffers or append to a
// std::vector<uint8_t>; Reader never reads past its span: every Read returns a Status
// (Corruption on a short buffer) so that decoders never trust a length or an offset.
//
// Thread safety: Reader and Writer are single-threaded values.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "common/status.h"

namespace cohort {

// ---- fixed-width little-endian, on raw memory (the caller checks the bounds) ----
template <typename T>
inline void EncodeLE(uint8_t* dst, T v) {
  static_assert(std::is_unsigned_v<T>);
  for (size_t i = 0; i < sizeof(T); ++i) dst[i] = static_cast<uint8_t>(v >> (8 * i));
}
template <typename T>
inline T DecodeLE(const uint8_t* src) {
  static_assert(std::is_unsigned_v<T>);
  T v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) v |= static_cast<T>(src[i]) << (8 * i);
  return v;
}
inline void EncodeFixed16(uint8_t* d, uint16_t v) { EncodeLE(d, v); }
inline void EncodeFixed32(uint8_t* d, uint32_t v) { EncodeLE(d, v); }
inline void EncodeFixed64(uint8_t* d, uint64_t v) { EncodeLE(d, v); }
inline uint16_t DecodeFixed16(const uint8_t* s) { return DecodeLE<uint16_t>(s); }
inline uint32_t DecodeFixed32(const uint8_t* s) { return DecodeLE<uint32_t>(s); }
inline uint64_t DecodeFixed64(const uint8_t* s) { return DecodeLE<uint64_t>(s); }

// Appends little-endian values to a byte vector (wire messages, journal records).
class Writer {
 public:
  explicit Writer(std::vector<uint8_t>* out) : out_(out) {}
  void U8(uint8_t v) { out_->push_back(v); }
  void U16(uint16_t v) { Put(v); }
  void U32(uint32_t v) { Put(v); }
  void U64(uint64_t v) { Put(v); }
  void I64(int64_t v) { Put(static_cast<uint64_t>(v)); }
  void Bytes(std::span<const uint8_t> b) {
    // resize + memcpy rather than insert(): GCC 12 at -O2 reports a false
    // -Warray-bounds through vector::insert of a string's bytes.
    if (b.empty()) return;
    size_t at = out_->size();
    out_->resize(at + b.size());
    std::memcpy(out_->data() + at, b.data(), b.size());
  }
  void Bytes(std::string_view s) {
    Bytes(std::span(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
  }
  void Zeros(size_t n) { out_->insert(out_->end(), n, 0); }
  // A u16 length followed by the bytes. REQUIRES: s.size() <= 65535.
  void String16(std::string_view s) {
    U16(static_cast<uint16_t>(s.size()));
    Bytes(s);
  }
  size_t size() const { return out_->size(); }

 private:
  template <typename T>
  void Put(T v) {
    size_t at = out_->size();
    out_->resize(at + sizeof(T));
    EncodeLE(out_->data() + at, v);
  }
  std::vector<uint8_t>* out_;
};

// Reads little-endian values from a span, never past its end. After the first failure
// every further read fails too (so a decoder may check once at the end), and status()
// tells what was short.
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> in) : in_(in) {}
  Reader(const void* p, size_t n) : in_(static_cast<const uint8_t*>(p), n) {}

  Status U8(uint8_t* v) { return Get(v); }
  Status U16(uint16_t* v) { return Get(v); }
  Status U32(uint32_t* v) { return Get(v); }
  Status U64(uint64_t* v) { return Get(v); }
  Status I64(int64_t* v) {
    uint64_t u = 0;
    COHORT_RETURN_IF_ERROR(Get(&u));
    *v = static_cast<int64_t>(u);
    return Status::OK();
  }
  // A view of the next n bytes (valid while the underlying buffer is).
  Status Bytes(size_t n, std::span<const uint8_t>* out);
  Status CopyTo(void* dst, size_t n);
  // A u16 length then that many bytes, at most max_len.
  Status String16(std::string* out, size_t max_len = 65535);
  Status Skip(size_t n);

  size_t remaining() const { return failed_ ? 0 : in_.size() - pos_; }
  size_t position() const { return pos_; }
  bool ok() const { return !failed_; }
  // Corruption unless every byte was consumed and nothing failed.
  Status ExpectEnd() const;

 private:
  Status Short(size_t want);
  template <typename T>
  Status Get(T* v) {
    if (failed_ || in_.size() - pos_ < sizeof(T)) return Short(sizeof(T));
    *v = DecodeLE<T>(in_.data() + pos_);
    pos_ += sizeof(T);
    return Status::OK();
  }
  std::span<const uint8_t> in_;
  size_t pos_ = 0;
  bool failed_ = false;
};

// "00 01 ff ..." rendering for dumps and golden tests.
std::string HexDump(std::span<const uint8_t> bytes, size_t bytes_per_line = 16);
// Parses the output of HexDump (whitespace and "offset:" prefixes ignored).
Result<std::vector<uint8_t>> ParseHexDump(std::string_view text);

}  // namespace cohort
