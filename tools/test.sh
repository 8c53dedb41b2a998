#!/usr/bin/env bash
# Builds lanmsff with its tests, examples and benchmarks in build/ (Release) and runs every test.
# Usage: bash tools/test.sh   (from anywhere; installs missing Debian packages first)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash tools/install-deps.sh
jobs=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DLANMSFF_BUILD_TESTS=ON
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs"
