#!/usr/bin/env bash
# Installs the Debian 12 packages Cohort needs to build, test and run.
# Idempotent and quiet: does nothing (and needs no network) when all are present.
# Why each library was chosen over hand-written code: docs/dependencies.md.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  g++ clang clang-tidy clang-format libclang-rt-14-dev lld
  libfuse3-dev fuse3
  libboost-dev libboost-system-dev
  libssl-dev
  liblmdb-dev lmdb-utils
  libspdlog-dev libfmt-dev
  libcli11-dev
  libtomlplusplus-dev
  nlohmann-json3-dev
  libgtest-dev libgmock-dev
  libbenchmark-dev
  redis-server libhiredis-dev
  e2fsprogs util-linux iproute2 procps psmisc kmod
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  echo "install-deps: installing ${#missing[@]} package(s): ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >/dev/null
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # redis-server is only for bench/net_bench's baseline, which starts a private server
  # of its own: the system service Debian starts on install is not wanted.
  if [[ " ${missing[*]} " == *" redis-server "* ]] && [[ -d /run/systemd/system ]]; then
    $SUDO systemctl disable --now redis-server >/dev/null 2>&1 || true
  fi
fi

# FUSE: the mount tests need /dev/fuse and fusermount3.
if [[ ! -e /dev/fuse ]]; then
  modprobe fuse 2>/dev/null || true
fi
