#!/usr/bin/env bash
# Installs the Debian 12 packages lanmsff needs to build, test and run its demo, when any is missing.
# Used by tools/test.sh and tools/demo.sh; run as root, or as a user with sudo.
set -euo pipefail

packages=(cmake g++ make libeigen3-dev libstb-dev doctest-dev libbenchmark-dev nlohmann-json3-dev
          libcli11-dev pkg-config zlib1g-dev dataset-fashion-mnist)

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
"${sudo[@]}" apt-get update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${packages[@]}"
