#!/usr/bin/env bash
# The README's first command: installs what is needed, builds, and runs the main job.
#
# The main job grows with the project. Today it shows what exists and says what it did;
# each step runs only if the program it needs has been built.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
JOBS=${JOBS:-$(nproc)}

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

say "installing dependencies (Debian packages, skipped when present)"
scripts/install-deps.sh

say "building (cmake --preset debug; programs in build/bin)"
cmake --preset debug >/dev/null
cmake --build --preset debug -j "$JOBS" | tail -n 1

WORK=${COHORT_DEMO_DIR:-/tmp/cohort-demo}
mkdir -p "$WORK"
ran=()

say "unit tests of the foundation (common/)"
ctest --test-dir build -L unit -R '^(Status|Result|Coding|Crc32c|Clock|FakeClock|Mutex|CondVar)' \
  2>&1 | tail -n 3
ran+=("ran the unit tests of common/")

say "crc32c throughput against its table baseline (bench/crc32c_bench --quick)"
build/bin/crc32c_bench --quick
ran+=("measured crc32c (bench/crc32c_bench)")

say "done"
for r in "${ran[@]}"; do echo " - $r"; done
echo "Programs built so far: $(ls build/bin | tr '\n' ' ')"
