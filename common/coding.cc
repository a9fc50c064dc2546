// common/coding.cc: Reader and the hex dump helpers of common/coding.h.
#include "common/coding.h"

#include <cctype>
#include <cstdio>

namespace cohort {

Status Reader::Short(size_t want) {
  failed_ = true;
  return Status::Corruption("truncated: need " + std::to_string(want) + " bytes at offset " +
                            std::to_string(pos_) + " of " + std::to_string(in_.size()));
}

Status Reader::Bytes(size_t n, std::span<const uint8_t>* out) {
  if (failed_ || in_.size() - pos_ < n) return Short(n);
  *out = in_.subspan(pos_, n);
  pos_ += n;
  return Status::OK();
}

Status Reader::CopyTo(void* dst, size_t n) {
  std::span<const uint8_t> s;
  COHORT_RETURN_IF_ERROR(Bytes(n, &s));
  if (n) std::memcpy(dst, s.data(), n);
  return Status::OK();
}

Status Reader::String16(std::string* out, size_t max_len) {
  uint16_t len = 0;
  COHORT_RETURN_IF_ERROR(U16(&len));
  if (len > max_len) {
    failed_ = true;
    return Status::Corruption("string length " + std::to_string(len) + " exceeds " +
                              std::to_string(max_len));
  }
  std::span<const uint8_t> s;
  COHORT_RETURN_IF_ERROR(Bytes(len, &s));
  out->assign(reinterpret_cast<const char*>(s.data()), s.size());
  return Status::OK();
}

Status Reader::Skip(size_t n) {
  std::span<const uint8_t> s;
  return Bytes(n, &s);
}

Status Reader::ExpectEnd() const {
  if (failed_) return Status::Corruption("truncated");
  if (pos_ != in_.size()) {
    return Status::Corruption(std::to_string(in_.size() - pos_) + " trailing bytes");
  }
  return Status::OK();
}

std::string HexDump(std::span<const uint8_t> bytes, size_t per_line) {
  std::string out;
  char buf[32];
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (i % per_line == 0) {
      if (i) out += '\n';
      std::snprintf(buf, sizeof buf, "%06zx:", i);
      out += buf;
    }
    std::snprintf(buf, sizeof buf, " %02x", bytes[i]);
    out += buf;
  }
  if (!bytes.empty()) out += '\n';
  return out;
}

Result<std::vector<uint8_t>> ParseHexDump(std::string_view text) {
  std::vector<uint8_t> out;
  size_t i = 0;
  auto hexval = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  while (i < text.size()) {
    // Skip an "offset:" prefix at the start of a line.
    size_t j = i;
    while (j < text.size() && std::isxdigit(static_cast<unsigned char>(text[j]))) ++j;
    if (j < text.size() && text[j] == ':' ) {
      i = j + 1;
      continue;
    }
    char c = text[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
      continue;
    }
    if (c == '#') {  // comment to end of line
      while (i < text.size() && text[i] != '\n') ++i;
      continue;
    }
    if (i + 1 >= text.size() || hexval(text[i]) < 0 || hexval(text[i + 1]) < 0) {
      return Status::InvalidArgument("bad hex at offset " + std::to_string(i));
    }
    out.push_back(static_cast<uint8_t>(hexval(text[i]) * 16 + hexval(text[i + 1])));
    i += 2;
  }
  return out;
}

}  // namespace cohort
