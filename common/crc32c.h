// common/crc32c.h: CRC-32C (Castagnoli), the checksum of every metadata block, journal
// record and wire frame (docs/ondisk-format.md §1.4, docs/wire-protocol.md §2).
//
// Uses the SSE4.2 crc32 instruction when the CPU has it (checked once at start-up) and a
// slicing-by-8 table otherwise; both give identical results (tested). No library in
// Debian 12 ships a plain crc32c (see docs/dependencies.md).
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>

namespace cohort::crc32c {

// The CRC-32C of data[0, n) continuing from the CRC `crc` of earlier bytes.
// Extend(0, "", 0) == 0; Value("123456789") == 0xE3069283.
uint32_t Extend(uint32_t crc, const void* data, size_t n);
inline uint32_t Value(const void* data, size_t n) { return Extend(0, data, n); }

// True if the hardware path is in use (for benchmarks and logs).
bool HardwareAccelerated();

// The portable path, exposed so tests can compare it with the hardware one.
uint32_t ExtendPortable(uint32_t crc, const void* data, size_t n);

}  // namespace cohort::crc32c
