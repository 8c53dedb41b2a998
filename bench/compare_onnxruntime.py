#!/usr/bin/env python3
"""lanmsff against ONNX Runtime on the same model: lanmsff's own ONNX export, side by side in one run, in float
and in int8.

For each model (LANMSFF: 64x64x1, 8 classes; MA-Net: 224x224x3, 7 classes) the script makes a checkpoint of
the initial weights (`lanmsff train --epochs 0` on a throwaway folder of random pictures) and exports it with
`lanmsff export`; for int8 it quantises that checkpoint (`lanmsff quantize`, calibrated on the same pictures)
and exports the int8 model as QDQ (`lanmsff export --precision int8`), which ONNX Runtime runs with its int8
convolutions (QLinearConv). Then, round after round, it times `lanmsff bench [--precision int8]` and ONNX
Runtime (npm onnxruntime-node, CPU execution provider, every graph optimisation, the same thread count:
bench/onnxruntime_bench.js) on that file, at batch 1 and at the batch of the model's benchmarks. The table
gives the median of the rounds and the ratio (lanmsff's images/s over ONNX Runtime's: above 1 is faster).
lanmsff bench runs the same network with its own initial weights (and, in int8, calibrates on its own
input); the values of the weights do not change the work.

bench/compare_pytorch.py runs ONNX Runtime on PyTorch's export of the reference instead (and PyTorch): this
script measures the graphs that lanmsff's users deploy (docs/deployment.md).

Usage: /usr/bin/python3 bench/compare_onnxruntime.py [--model lanmsff|manet|all] [--precision float|int8|both]
                                                     [--tool build/examples/lanmsff] [--threads 2] [--seconds 5]
                                                     [--rounds 3] [--onnxruntime DIR]
Needs node and onnxruntime-node (`npm install --ignore-scripts --prefix bench`), and python3-opencv (to write
the pictures).
"""
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from compare_pytorch import ROOT, check_measurement_arguments, measurement_parser, onnxruntime, ours  # noqa: E402

# model: (classes, channels, batches)
MODELS = {"lanmsff": (8, 1, [1, 32]), "manet": (7, 3, [1, 16])}


def exported(tool, model, work):
    """lanmsff's ONNX exports of the model's initial weights: {"float": path, "int8": path}."""
    import cv2
    import numpy as np

    classes, channels, _ = MODELS[model]
    folder = work / f"{model}-pictures"
    rng = np.random.default_rng(0)
    for k in range(classes):
        (folder / f"class_{k}").mkdir(parents=True, exist_ok=True)
        for i in range(2):
            cv2.imwrite(str(folder / f"class_{k}/{i}.png"), rng.integers(0, 256, (16, 16, channels), np.uint8))
    run = work / f"{model}-run"
    train = [tool, "train", "--data", folder, "--epochs", "0", "--out", run]
    if model == "manet":
        train += ["--model", "manet"]
    weights, quantized = run / "last.safetensors", run / "int8.safetensors"
    paths = {"float": work / f"{model}.onnx", "int8": work / f"{model}.int8.onnx"}
    for cmd in (train, [tool, "export", "--weights", weights, paths["float"]],
                [tool, "quantize", "--weights", weights, "--calibrate", folder, quantized],
                [tool, "export", "--precision", "int8", "--weights", quantized, paths["int8"]]):
        result = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
        if result.returncode != 0:
            sys.exit(f"{' '.join(map(str, cmd))} failed:\n{result.stderr.strip()}")
    return paths


def main():
    parser = measurement_parser(__doc__)
    parser.add_argument("--precision", choices=["float", "int8", "both"], default="both",
                        help="float, int8 (lanmsff's int8 model against ONNX Runtime on its QDQ export), or both")
    parser.add_argument("--onnxruntime", metavar="DIR", default=str(ROOT / "bench/node_modules/onnxruntime-node"),
                        help="the onnxruntime-node package")
    args = parser.parse_args()
    check_measurement_arguments(parser, args)
    if not os.access(args.tool, os.X_OK):
        parser.error(f"--tool {args.tool}: not an executable file (build the examples)")
    module = pathlib.Path(args.onnxruntime).resolve()
    if not (module / "package.json").exists():
        parser.error(f"--onnxruntime {module}: not installed (npm install --ignore-scripts --prefix bench)")
    precisions = ["float", "int8"] if args.precision == "both" else [args.precision]
    with tempfile.TemporaryDirectory(prefix="lanmsff-ort.") as tmp:
        work = pathlib.Path(tmp)
        for model in MODELS if args.model == "all" else [args.model]:
            paths = exported(args.tool, model, work)
            batches = MODELS[model][2]
            print(f"== {model}, {args.threads} threads, {args.rounds} round(s) of {args.seconds:g} s per "
                  f"measurement; ONNX Runtime on lanmsff's export", flush=True)
            cases = [(p, b) for p in precisions for b in batches]
            samples = {c: ([], []) for c in cases}
            for r in range(args.rounds):
                for precision, b in cases:
                    ours_ips = ours(args.tool, model, args.threads, b, False, args.seconds, precision)[0]
                    ort_ips = onnxruntime(module, paths[precision], model, args.threads, b, args.seconds)[0]
                    samples[(precision, b)][0].append(ours_ips)
                    samples[(precision, b)][1].append(ort_ips)
                    print(f"round {r + 1}: {precision:5s} inference, batch {b:<3d} lanmsff {ours_ips:7.1f} img/s   "
                          f"ONNX Runtime {ort_ips:7.1f} img/s", flush=True)
            print("\n| inference | lanmsff | ONNX Runtime (lanmsff's export) | ratio |")
            print("|---|---|---|---|")
            for precision, b in cases:
                a, o = (statistics.median(v) for v in samples[(precision, b)])
                ms = lambda v: f" ({1e3 / v:.2f} ms)" if b == 1 else ""  # noqa: E731
                print(f"| {precision}, batch {b} | {a:.1f} img/s{ms(a)} | {o:.1f} img/s{ms(o)} | {a / o:.2f}× |")
            if args.rounds > 1:
                print("\n(medians of the rounds; min-max images/s: " + "; ".join(
                    f"{p} batch {b}: lanmsff {min(s[0]):.1f}-{max(s[0]):.1f}, ONNX Runtime {min(s[1]):.1f}-{max(s[1]):.1f}"
                    for (p, b), s in samples.items()) + ")")
            print(flush=True)


if __name__ == "__main__":
    main()
