# Third-party dependencies, all from Debian 12 (scripts/install-deps.sh).
# Why each was chosen: docs/dependencies.md.
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)
find_package(spdlog REQUIRED)          # logging (common/)
find_package(fmt REQUIRED)
find_package(OpenSSL REQUIRED)         # HMAC-SHA256 for peer authentication (net/)
find_package(Boost 1.74 REQUIRED)      # Asio, header-only (net/ only)
find_package(CLI11 REQUIRED)           # command lines of the programs
find_package(tomlplusplus REQUIRED)    # the cluster file (net/)
find_package(nlohmann_json REQUIRED)   # --json output of bench/ and tools
pkg_check_modules(FUSE3 REQUIRED IMPORTED_TARGET fuse3)   # fs/fuse only
find_path(LMDB_INCLUDE_DIR lmdb.h REQUIRED)                # fsck working set
find_library(LMDB_LIBRARY lmdb REQUIRED)
add_library(cohort_lmdb INTERFACE)
target_include_directories(cohort_lmdb INTERFACE ${LMDB_INCLUDE_DIR})
target_link_libraries(cohort_lmdb INTERFACE ${LMDB_LIBRARY})
if(COHORT_BUILD_TESTS)
  find_package(GTest REQUIRED)
  include(GoogleTest)
endif()
if(COHORT_BUILD_BENCH)
  find_package(benchmark QUIET)
  # net_bench's same-run Redis baseline (client side); without it those rows print as
  # not measured.
  pkg_check_modules(HIREDIS QUIET IMPORTED_TARGET hiredis)
endif()
