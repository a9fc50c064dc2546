#!/bin/sh
# tests/fuzz/run_fuzz.sh [SECONDS] [BUILD_DIR]: runs every libFuzzer target (wire and on-disk decoders) for a
# bounded time (default 30 s each). Build first:
#   CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCOHORT_FUZZ=ON
#   cmake --build build-fuzz --target fuzz_frame fuzz_messages fuzz_ondisk
# Exit status: non-zero if any target found a crash (the reproducer is left in the
# corpus directory's parent as crash-*).
set -eu
secs=${1:-30}
build=${2:-build-fuzz}
status=0
for t in fuzz_frame fuzz_messages fuzz_ondisk; do
  corpus="$build/fuzz/corpus-$t"
  mkdir -p "$corpus"
  echo "== $t for ${secs}s"
  "$build/fuzz/$t" -max_total_time="$secs" -max_len=4096 -timeout=10 \
    -artifact_prefix="$build/fuzz/$t-" "$corpus" || status=1
done
exit $status
