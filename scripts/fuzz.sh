#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, the `fuzz` preset) and runs each for a bounded
# time: the wire decoders (docs/wire-protocol.md) and the on-disk decoders
# (docs/ondisk-format.md). Called by scripts/test.sh; exits non-zero on any crash.
#
#   scripts/fuzz.sh [--seconds N]     (default 20 s per target)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=20
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) secs="$2"; shift 2 ;;
    *) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz --target fuzz_frame fuzz_messages fuzz_ondisk -j "${JOBS:-$(nproc)}"
exec tests/fuzz/run_fuzz.sh "$secs" build-fuzz
