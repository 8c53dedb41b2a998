#!/usr/bin/env python3
"""End-to-end test of `lanmsff export` (ctest: onnx_export).

For LANMSFF and MA-Net: trains a small model with the tool (real BatchNorm statistics), exports it with
`lanmsff export`, and checks the ONNX file three ways:
  1. python3-onnx's checker (full check, with shape inference) accepts it;
  2. ONNX Runtime (npm onnxruntime-node, through tests/onnx/run_onnxruntime.js) and
  3. OpenCV's dnn module (python3-opencv)
give the class probabilities that `lanmsff predict --json` gives for the same images, within 1e-5.
Then a deliberately wrong export (the first convolution's kernel transposed, as a layout bug would write
it) must fail the same comparison: the check can fail.

Usage: check_export.py TOOL ONNXRUNTIME_MODULE_DIR
Exit status 77 (ctest: skipped) when onnxruntime-node is not installed
(`npm install --ignore-scripts --prefix bench` installs it; tools/test.sh does).
"""
import json
import pathlib
import subprocess
import sys
import tempfile

import cv2
import numpy as np
import onnx
from onnx import numpy_helper

TESTS = pathlib.Path(__file__).resolve().parent.parent
TOLERANCE = 1e-5


def run(*args, **kwargs):
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        sys.exit(f"FAIL: {' '.join(map(str, args))} exited with {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def images(work, size, channels, count=3):
    """Deterministic test pictures at the model's own size (so that predict's resize is the identity)."""
    rng = np.random.default_rng(2024 + size)
    paths = []
    yy, xx = np.mgrid[0:size, 0:size]
    for i in range(count):
        base = 127.5 + 100 * np.sin((xx * (i + 1) + yy * (3 - i)) / size * np.pi)
        planes = [np.clip(base + rng.normal(0, 20, base.shape) + 30 * c, 0, 255) for c in range(channels)]
        picture = np.stack(planes, axis=-1).astype(np.uint8)
        path = work / f"picture_{size}_{i}.png"
        # OpenCV writes BGR: reverse the planes so that the file's RGB is planes 0, 1, 2.
        cv2.imwrite(str(path), picture[..., ::-1] if channels == 3 else picture[..., 0])
        paths.append(path)
    return paths


def network_input(paths, channels):
    """The batch the tool feeds the network (values / 255 in float32), NCHW."""
    batch = []
    for path in paths:
        picture = cv2.imread(str(path), cv2.IMREAD_COLOR if channels == 3 else cv2.IMREAD_GRAYSCALE)
        if channels == 3:
            picture = cv2.cvtColor(picture, cv2.COLOR_BGR2RGB)
        else:
            picture = picture[..., None]
        batch.append(picture.astype(np.float32) * np.float32(1.0 / 255.0))
    return np.ascontiguousarray(np.stack(batch).transpose(0, 3, 1, 2))


def onnxruntime_probabilities(module, model, x, work):
    raw = work / "input.raw"
    x.tofile(raw)
    prefix = work / "ort"
    run("node", TESTS / "onnx/run_onnxruntime.js", module, model, raw, ",".join(map(str, x.shape)), prefix)
    return np.fromfile(f"{prefix}.probabilities", dtype=np.float32).reshape(x.shape[0], -1)


def opencv_probabilities(model, x):
    net = cv2.dnn.readNetFromONNX(str(model))
    net.setInput(x)
    return net.forward("probabilities").reshape(x.shape[0], -1)


def check_model(tool, module, work, name, train_args, size, channels):
    run_dir = work / name
    run(tool, "--threads", 2, "train", *train_args, "--epochs", 1, "--out", run_dir, "--seed", 7)
    weights = run_dir / "last.safetensors"
    model = work / f"{name}.onnx"
    out = run(tool, "export", "--weights", weights, model)
    if f"wrote {model}" not in out:
        sys.exit(f"FAIL: {name}: export printed {out!r}")

    graph = onnx.load(str(model))
    onnx.checker.check_model(graph, full_check=True)
    print(f"ok: {name}: the ONNX checker accepts the export (full check)")
    # The class names in the model's index order, from the doc string (predict's JSON keys are sorted).
    lines = [line for line in graph.graph.doc_string.splitlines() if line.startswith("classes: ")]
    if len(lines) != 1:
        sys.exit(f"FAIL: {name}: the doc string has no 'classes: [...]' line: {graph.graph.doc_string!r}")
    classes = json.loads(lines[0][len("classes: "):])

    paths = images(work, size, channels)
    predicted = json.loads(run(tool, "--threads", 2, "predict", "--faces", "aligned", "--json", "--weights", weights, *paths))
    if sorted(classes) != sorted(predicted[0]["probabilities"].keys()):
        sys.exit(f"FAIL: {name}: the doc string's classes {classes} are not predict's "
                 f"{list(predicted[0]['probabilities'])}")
    expected = np.array([[p["probabilities"][c] for c in classes] for p in predicted], dtype=np.float64)
    x = network_input(paths, channels)

    for engine, probabilities in (("ONNX Runtime", onnxruntime_probabilities(module, model, x, work)),
                                  ("OpenCV dnn", opencv_probabilities(model, x))):
        if probabilities.shape != expected.shape:
            sys.exit(f"FAIL: {name}: {engine} gives probabilities of shape {probabilities.shape}, "
                     f"predict {expected.shape}")
        error = float(np.abs(probabilities - expected).max())
        if not error <= TOLERANCE:
            sys.exit(f"FAIL: {name}: {engine} differs from lanmsff predict by {error:.3g} (> {TOLERANCE})")
        print(f"ok: {name}: {engine} gives predict's probabilities (max difference {error:.2g})")
    spread = float(expected.max() - expected.min())
    if spread < 0.05:
        sys.exit(f"FAIL: {name}: the probabilities are nearly flat ({spread:.3g}): the comparison would prove little")

    # A wrong export: the first convolution's kernel with its spatial axes swapped (HWIO read as WHIO).
    wrong = onnx.load(str(model))
    first_conv = next(n for n in wrong.graph.node if n.op_type == "Conv")
    kernel = next(t for t in wrong.graph.initializer if t.name == first_conv.input[1])
    kernel.CopyFrom(numpy_helper.from_array(np.ascontiguousarray(numpy_helper.to_array(kernel).transpose(0, 1, 3, 2)),
                                            kernel.name))
    wrong_path = work / f"{name}-wrong.onnx"
    onnx.save(wrong, str(wrong_path))
    error = float(np.abs(onnxruntime_probabilities(module, wrong_path, x, work) - expected).max())
    if error <= TOLERANCE:
        sys.exit(f"FAIL: {name}: a transposed kernel still matches ({error:.3g}): the comparison cannot fail")
    print(f"ok: {name}: a wrong export (a transposed kernel) is caught (difference {error:.2g})")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    tool, module = pathlib.Path(sys.argv[1]).resolve(), pathlib.Path(sys.argv[2]).resolve()
    if not (module / "package.json").exists():
        print(f"skipped: onnxruntime-node is not installed at {module} "
              "(npm install --ignore-scripts --prefix bench installs it)")
        sys.exit(77)
    faces, faces_rgb = TESTS / "data/cli/faces", TESTS / "data/cli/faces_rgb"
    with tempfile.TemporaryDirectory(prefix="lanmsff-onnx.") as tmp:
        work = pathlib.Path(tmp)
        check_model(tool, module, work, "lanmsff", ["--data", faces, "--batch-size", 4], 64, 1)
        check_model(tool, module, work, "manet",
                    ["--model", "manet", "--data", faces_rgb, "--batch-size", 2, "--lr", 0.005], 224, 3)
        # A bad option: a clear error, not a crash.
        result = subprocess.run([str(tool), "export", "--weights", str(work / "lanmsff/last.safetensors"),
                                 "--format", "tflite", str(work / "x.onnx")], capture_output=True, text=True)
        if result.returncode == 0 or "--format" not in result.stderr:
            sys.exit(f"FAIL: export --format tflite: rc {result.returncode}, {result.stderr!r}")
        print("ok: export --format tflite is refused, naming the option")
    print("onnx_export: all checks passed")


if __name__ == "__main__":
    main()
