#!/usr/bin/env bash
# Builds lanmsff with its tests, examples and benchmarks and runs every test, on every supported
# compiler and architecture this machine can build for:
#   build/          GCC (the system g++), Release: the whole suite, each kernel, golden and gradient
#                   test once per instruction set of this CPU (ctest -L isa-avx2, ...), and every command
#                   of README.md and docs/ (ctest doc_commands); then the demo (tools/demo.sh)
#   build-clang/    Clang 16 with libomp, AddressSanitizer and UndefinedBehaviorSanitizer: the test suite and
#                   the fuzz targets' corpora, warning-free under -Wall -Wextra too, any sanitizer finding fatal
#   build-mpich/    GCC with MPICH instead of Open MPI: dist/'s test on 2 ranks (test_mpi_2ranks)
#   build-aarch64/  g++-aarch64-linux-gnu: the kernel, golden and gradient tests on the NEON path,
#                   run under qemu-user (the baseline path's code is the same portable templates that
#                   build/ tests on x86-64; under emulation every path costs minutes)
# Usage: bash tools/test.sh [--gcc-only]   (from anywhere; installs missing Debian packages first)
# A compiler cache (ccache) is used when installed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# Compile commands name files by absolute path; relative to the checkout, a cache filled by one checkout
# serves another one (a CI runner's) as well.
export CCACHE_BASEDIR="$PWD"

all=1
for arg in "$@"; do
  case $arg in
    --gcc-only) all=0 ;;
    *) echo "usage: bash tools/test.sh [--gcc-only]" >&2; exit 2 ;;
  esac
done

if [[ $all -eq 1 ]]; then bash tools/install-deps.sh --all-compilers; else bash tools/install-deps.sh; fi
jobs=$(nproc)
launcher=()
if command -v ccache >/dev/null 2>&1; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
section() { printf '\n==== %s (%s)\n' "$1" "$(date +%H:%M:%S)"; }

# ONNX Runtime for the ONNX export test (ctest onnx_export) and bench/compare_pytorch.py: the npm package,
# whose CPU binaries ship inside it (no install scripts run).
if [[ ! -f bench/node_modules/onnxruntime-node/package.json ]]; then
  section "ONNX Runtime (npm onnxruntime-node) into bench/node_modules"
  npm install --ignore-scripts --no-audit --no-fund --prefix bench
fi

section "GCC: build/"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DLANMSFF_BUILD_TESTS=ON "${launcher[@]}"
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs" --no-tests=error
section "the demo, as the README gives it"
bash tools/demo.sh
[[ $all -eq 1 ]] || exit 0

section "Clang 16 with AddressSanitizer and UndefinedBehaviorSanitizer: build-clang/"
# The tests and the fuzz targets (libFuzzer programs here, replaying their corpora); the tool and the
# benchmarks are GCC's build's (sanitized, the tool's eleven LANMSFF instantiations alone compile for over 10 minutes).
cmake -S . -B build-clang -DCMAKE_BUILD_TYPE=Release -DLANMSFF_BUILD_TESTS=ON -DCMAKE_CXX_COMPILER=clang++-16 \
  -DLANMSFF_WERROR=ON -DLANMSFF_DOC_TESTS=OFF -DLANMSFF_BUILD_BENCHMARKS=OFF -DLANMSFF_BUILD_EXAMPLES=OFF \
  -DLANMSFF_SANITIZE=address,undefined "${launcher[@]}"
cmake --build build-clang -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-clang --output-on-failure -j"$jobs" --no-tests=error

section "MPICH: build-mpich/"
# dist/ is written to the MPI standard alone; this runs its 2-rank test with the other MPI library.
cmake -S . -B build-mpich -DCMAKE_BUILD_TYPE=Release -DLANMSFF_BUILD_TESTS=ON -DLANMSFF_BUILD_EXAMPLES=OFF \
  -DLANMSFF_BUILD_BENCHMARKS=OFF -DLANMSFF_FACES=OFF -DLANMSFF_DOC_TESTS=OFF \
  -DMPI_CXX_COMPILER=/usr/bin/mpicxx.mpich -DMPIEXEC_EXECUTABLE=/usr/bin/mpiexec.mpich "${launcher[@]}"
cmake --build build-mpich -j"$jobs" --target test_mpi
ctest --test-dir build-mpich --output-on-failure -R '^test_mpi_2ranks$' --no-tests=error

section "aarch64 under qemu: build-aarch64/"
cmake -S . -B build-aarch64 -DCMAKE_BUILD_TYPE=Release -DLANMSFF_BUILD_TESTS=ON -DLANMSFF_BUILD_EXAMPLES=OFF \
  -DLANMSFF_BUILD_BENCHMARKS=OFF -DLANMSFF_FACES=OFF -DLANMSFF_MPI=OFF -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake "${launcher[@]}"
cmake --build build-aarch64 -j"$jobs" --target lanmsff_isa_tests
ctest --test-dir build-aarch64 --output-on-failure -j"$jobs" -L '^isa-neon$' --timeout 1200 --no-tests=error
section "done"
