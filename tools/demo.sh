#!/usr/bin/env bash
# The demo: builds the lanmsff tool (Release) and trains the flagship network, LANMSFF, on a
# subset of Fashion-MNIST (Debian's dataset-fashion-mnist, 28x28 images resized to 64x64), then
# evaluates it on the 10,000 test images, in float and, calibrated for int8 (lanmsff quantize), in int8.
# Takes a few minutes on 2 cores.
# Usage: bash tools/demo.sh [extra train options, e.g. --epochs 5 --limit 20000]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --target example_lanmsff -j"$(nproc)"

data=/usr/share/datasets/fashion-mnist
run=runs/fashion-mnist-demo
tool=build/examples/lanmsff
"$tool" train --data "$data" --limit 6000 --epochs 3 --augment none --seed 1 --out "$run" "$@"
"$tool" eval --weights "$run/best.safetensors" --data "$data" --split test --confusion-png "$run/test-confusion.png"
echo
# The same model in int8: calibrated on 512 training images, then evaluated on the test images again.
"$tool" quantize --weights "$run/best.safetensors" --calibrate "$data" "$run/int8.safetensors"
"$tool" eval --weights "$run/int8.safetensors" --data "$data" --split test --precision int8 | sed -n '1,2p'
echo
echo "demo: the checkpoint is $run/best.safetensors (int8: $run/int8.safetensors); plots: $run/loss.png, $run/accuracy.png, $run/test-confusion.png"
echo "demo: try   $tool predict --weights $run/best.safetensors --faces aligned --explain attention.png IMAGE.png"
