#!/usr/bin/env bash
# Builds Cohort and runs its tests: the README's second command, and what .ci/run calls.
#
#   scripts/test.sh            normal build + all default tests (unit, sim, mount,
#                              cluster), ASan+UBSan build + its tests, clang
#                              thread-safety compile check, bounded fuzz runs
#   scripts/test.sh --quick    the normal build and its tests only
#   scripts/test.sh --stress   also the long `stress` label (release build)
#
# With CI=true, tests that need FUSE or several processes fail instead of skipping when
# the machine cannot run them (docs/testing.md). Exit status: 0 only if everything passed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

QUICK=0
STRESS=0
for a in "$@"; do
  case "$a" in
    --quick) QUICK=1 ;;
    --stress) STRESS=1 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "test.sh: unknown option $a" >&2; exit 2 ;;
  esac
done

JOBS=${JOBS:-$(nproc)}
export CTEST_OUTPUT_ON_FAILURE=1
SECONDS=0

step() { printf '\n==== %s (%dm%02ds)\n' "$*" $((SECONDS / 60)) $((SECONDS % 60)); }

step "install dependencies"
scripts/install-deps.sh

step "build: debug (g++, -Werror)"
cmake --preset debug >/dev/null
cmake --build --preset debug -j "$JOBS"

step "test: debug, labels unit sim mount cluster"
ctest --test-dir build -LE stress -j "$JOBS" --timeout 600

if [[ $QUICK == 0 ]]; then
  step "build: asan (address+undefined)"
  cmake --preset asan >/dev/null
  cmake --build --preset asan -j "$JOBS"

  step "test: asan, labels unit sim"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan -L 'unit|sim' -j "$JOBS" --timeout 900

  step "compile check: clang -Wthread-safety -Wthread-safety-beta"
  cmake --preset clang-tsa >/dev/null
  cmake --build --preset clang-tsa -j "$JOBS"

  if [[ -x scripts/fuzz.sh ]]; then
    step "fuzz: bounded libFuzzer runs"
    scripts/fuzz.sh --seconds "${FUZZ_SECONDS:-20}"
  fi
fi

if [[ $STRESS == 1 ]]; then
  step "build: release + stress tests"
  cmake --preset release >/dev/null
  cmake --build --preset release -j "$JOBS"
  ctest --test-dir build-release -L stress -j "$JOBS" --timeout 3600
fi

step "all tests passed"
