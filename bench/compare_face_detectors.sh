#!/usr/bin/env bash
# Compares face detectors on hand-annotated photos (bench/compare_face_detectors.cpp): fetches dlib's
# examples/faces (PASCAL VOC photos with hand-annotated boxes) from Debian's dlib source package into
# a cache directory, builds the comparison against this checkout's headers, runs it, prints a table.
# Needs libdlib-dev, libdlib-data, libopencv-dev, opencv-data, facedetect (the portrait), curl.
#   bash bench/compare_face_detectors.sh [CACHE_DIR]     (default: ~/.cache/lanmsff)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/lanmsff}
faces=$cache/dlib-19.24+dfsg/examples/faces
mkdir -p "$cache"
if [[ ! -f $faces/training.xml ]]; then
  tarball=dlib_19.24+dfsg.orig.tar.bz2
  echo "fetching $tarball (8.6 MB) from Debian" >&2
  curl -fsSL -o "$cache/$tarball" "http://deb.debian.org/debian/pool/main/d/dlib/$tarball"
  tar -xjf "$cache/$tarball" -C "$cache" dlib-19.24+dfsg/examples/faces
fi
program=$cache/compare_face_detectors
g++ -std=c++20 -O2 -march=native -fopenmp -w -I"$here/../include" -I/usr/include/stb -I/usr/include/eigen3 \
  $(pkg-config --cflags opencv4) "$here/compare_face_detectors.cpp" -o "$program" \
  -lopencv_objdetect -lopencv_imgproc -lopencv_core $(pkg-config --libs dlib-1)
"$program" "$faces" /usr/share/doc/facedetect/examples/grace_hopper_512x512.jpg
