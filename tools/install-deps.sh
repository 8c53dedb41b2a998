#!/usr/bin/env bash
# Installs the Debian 12 packages lanmsff needs to build, test and run its demo, when any is missing.
# Used by tools/test.sh and tools/demo.sh; run as root, or as a user with sudo.
#   bash tools/install-deps.sh                  GCC, the libraries, the demo's data set, the face front end's
#                                               dlib, its landmark model, OpenCV and the photos of facedetect,
#                                               Open MPI (data-parallel training),
#                                               and for the ONNX export's test python3-onnx, python3-opencv,
#                                               nodejs and npm
#   bash tools/install-deps.sh --all-compilers  also Clang 16 (+ libomp, the sanitizer and libFuzzer runtimes),
#                                               the aarch64 cross compiler, qemu-user and the arm64 zlib
#                                               (multiarch), ccache, MPICH (beside Open MPI, which
#                                               stays the default mpirun), and PyTorch (the converter's
#                                               test and the documented MA-Net commands:
#                                               tests/docs/check_doc_commands.py)
set -euo pipefail

packages=(cmake g++ make libeigen3-dev libstb-dev doctest-dev libbenchmark-dev nlohmann-json3-dev
          libcli11-dev pkg-config zlib1g-dev dataset-fashion-mnist
          libdlib-dev libdlib-data libopencv-dev opencv-data facedetect libopenmpi-dev openmpi-bin
          python3-onnx python3-opencv nodejs)
cross=0
case "${1:-}" in
  "") ;;
  --all-compilers)
    packages+=(ccache clang-16 libomp-16-dev libclang-rt-16-dev g++-aarch64-linux-gnu qemu-user-static zlib1g-dev:arm64 python3-torch
              mpich libmpich-dev)
    cross=1 ;;
  *) echo "usage: bash tools/install-deps.sh [--all-compilers]" >&2; exit 2 ;;
esac

if ! command -v dpkg >/dev/null 2>&1; then
  echo "install-deps: not a Debian system; make sure these (or their equivalents) are installed:" >&2
  echo "  ${packages[*]}" >&2
  exit 0
fi

missing=()
for package in "${packages[@]}"; do
  if ! dpkg -s "$package" 2>/dev/null | grep -q '^Status: install ok installed'; then
    missing+=("$package")
  fi
done
# npm (for ONNX Runtime's npm package, the ONNX export test and bench/): Debian's own package where the
# installed nodejs does not bring it (NodeSource's nodejs does).
if ! command -v npm >/dev/null 2>&1; then
  missing+=(npm)
fi
if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo=()
if [[ $(id -u) -ne 0 ]]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "install-deps: missing packages (${missing[*]}); run as root or install sudo" >&2
    exit 1
  fi
  sudo=(sudo)
fi
# The arm64 zlib comes from Debian's arm64 archive (multiarch): the cross-compiled tests link it.
if [[ $cross -eq 1 ]] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
  "${sudo[@]}" dpkg --add-architecture arm64
fi
"${sudo[@]}" apt-get update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
