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

int8: the model quantised with `lanmsff quantize` and exported with `--precision int8` (QDQ): the checker
accepts it; ONNX Runtime fuses its convolutions into int8 ones (QLinearConv, in the graph it runs) and gives
the probabilities of `lanmsff predict --precision int8` closer than int8's own distance from float: the same
int8 model, up to rounding (the engines round a requantised sum and the bias alike but not identically, and a
value one step apart early on moves the output a little). A wrong int8 export (the first convolution's
per-channel scales in the wrong order) must land farther away than that.

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


def onnxruntime_probabilities(module, model, x, work, optimized=None):
    raw = work / "input.raw"
    x.tofile(raw)
    prefix = work / "ort"
    run("node", TESTS / "onnx/run_onnxruntime.js", module, model, raw, ",".join(map(str, x.shape)), prefix,
        *([optimized] if optimized else []))
    return np.fromfile(f"{prefix}.probabilities", dtype=np.float32).reshape(x.shape[0], -1)


def predicted_probabilities(tool, weights, paths, classes, *options):
    """`lanmsff predict --json` on the pictures: (pictures, classes) in the model's class order."""
    predicted = json.loads(run(tool, "--threads", 2, "predict", "--faces", "aligned", "--json", "--weights", weights,
                               *options, *paths))
    if sorted(classes) != sorted(predicted[0]["probabilities"].keys()):
        sys.exit(f"FAIL: the doc string's classes {classes} are not predict's {list(predicted[0]['probabilities'])}")
    return np.array([[p["probabilities"][c] for c in classes] for p in predicted], dtype=np.float64)


def wrong_first_convolution(model, path, int8):
    """The model with its first convolution's weights broken as a layout bug would, saved to path: in float the
    kernel's spatial axes swapped (HWIO read as WHIO); in int8 its per-channel scales in reverse order (the
    input of the DequantizeLinear behind the kernel)."""
    wrong = onnx.load(str(model))
    first_conv = next(n for n in wrong.graph.node if n.op_type == "Conv")
    name = first_conv.input[1]
    if int8:
        name = next(n for n in wrong.graph.node if n.output[0] == name and n.op_type == "DequantizeLinear").input[1]
    tensor = next(t for t in wrong.graph.initializer if t.name == name)
    values = numpy_helper.to_array(tensor)
    values = values[::-1] if int8 else values.transpose(0, 1, 3, 2)
    tensor.CopyFrom(numpy_helper.from_array(np.ascontiguousarray(values), tensor.name))
    onnx.save(wrong, str(path))
    return path


def opencv_probabilities(model, x):
    net = cv2.dnn.readNetFromONNX(str(model))
    net.setInput(x)
    return net.forward("probabilities").reshape(x.shape[0], -1)


def check_model(tool, module, work, name, data, train_args, size, channels):
    run_dir = work / name
    run(tool, "--threads", 2, "train", "--data", data, *train_args, "--epochs", 1, "--out", run_dir, "--seed", 7)
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
    expected = predicted_probabilities(tool, weights, paths, classes)
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

    # A wrong export: the first convolution's kernel with its spatial axes swapped.
    wrong = wrong_first_convolution(model, work / f"{name}-wrong.onnx", False)
    error = float(np.abs(onnxruntime_probabilities(module, wrong, x, work) - expected).max())
    if error <= TOLERANCE:
        sys.exit(f"FAIL: {name}: a transposed kernel still matches ({error:.3g}): the comparison cannot fail")
    print(f"ok: {name}: a wrong export (a transposed kernel) is caught (difference {error:.2g})")

    # int8: quantise, export as QDQ, run in ONNX Runtime against predict --precision int8. The calibration
    # pictures are of the test pictures' kind (the faces would leave them out of range, where int8 clips).
    calibration = work / f"{name}-calibration"
    for k in range(2):  # an image folder has classes: the same 8 pictures in two
        (calibration / f"class_{k}").mkdir(parents=True)
        images(calibration / f"class_{k}", size, channels, 8)
    quantized = run_dir / "int8.safetensors"
    run(tool, "--threads", 2, "quantize", "--weights", weights, "--calibrate", calibration, "--images", 0, quantized)
    int8_model = work / f"{name}.int8.onnx"
    out = run(tool, "export", "--precision", "int8", "--weights", quantized, int8_model)
    if f"wrote {int8_model}" not in out or "int8" not in out:
        sys.exit(f"FAIL: {name}: export --precision int8 printed {out!r}")
    int8_graph = onnx.load(str(int8_model))
    onnx.checker.check_model(int8_graph, full_check=True)
    # Every convolution runs in int8: its kernel is an int8 initializer behind a DequantizeLinear.
    producers = {n.output[0]: n for n in int8_graph.graph.node}
    int8_initializers = {t.name for t in int8_graph.graph.initializer if t.data_type == onnx.TensorProto.INT8}
    convolutions = [n for n in int8_graph.graph.node if n.op_type == "Conv"]
    int8_kernels = sum(n.input[1] in producers and producers[n.input[1]].op_type == "DequantizeLinear" and
                       producers[n.input[1]].input[0] in int8_initializers for n in convolutions)
    if int8_kernels != len(convolutions) or int8_kernels == 0:
        sys.exit(f"FAIL: {name}: the int8 export has {int8_kernels} int8 kernels for {len(convolutions)} convolutions")
    print(f"ok: {name}: the ONNX checker accepts the int8 export (all {int8_kernels} convolutions with int8 kernels)")
    expected8 = predicted_probabilities(tool, quantized, paths, classes, "--precision", "int8")
    optimized = work / f"{name}.int8.optimized.onnx"
    probabilities = onnxruntime_probabilities(module, int8_model, x, work, optimized)
    fused = sum(n.op_type == "QLinearConv" for n in onnx.load(str(optimized)).graph.node)
    if fused < int8_kernels // 2:
        sys.exit(f"FAIL: {name}: ONNX Runtime runs {fused} of the {int8_kernels} int8 convolutions as QLinearConv")
    print(f"ok: {name}: ONNX Runtime runs {fused} of the {int8_kernels} convolutions as QLinearConv")
    error = float(np.abs(probabilities - expected8).max())
    tolerance = float(np.abs(expected8 - expected).max())  # the int8 model's own error
    if not error < tolerance:
        sys.exit(f"FAIL: {name}: ONNX Runtime's int8 run differs from predict --precision int8 by {error:.3g}, more "
                 f"than int8 from float ({tolerance:.3g})")
    print(f"ok: {name}: ONNX Runtime gives predict --precision int8's probabilities (max difference {error:.2g}; "
          f"int8 to float: {tolerance:.2g})")
    wrong = wrong_first_convolution(int8_model, work / f"{name}-wrong.int8.onnx", True)
    error = float(np.abs(onnxruntime_probabilities(module, wrong, x, work) - expected8).max())
    if error <= tolerance:
        sys.exit(f"FAIL: {name}: int8 kernel scales in the wrong order still match ({error:.3g}): the comparison "
                 "cannot fail")
    print(f"ok: {name}: a wrong int8 export (kernel scales in the wrong order) is caught (difference {error:.2g})")


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
        check_model(tool, module, work, "lanmsff", faces, ["--batch-size", 4], 64, 1)
        check_model(tool, module, work, "manet", faces_rgb, ["--model", "manet", "--batch-size", 2, "--lr", 0.005], 224, 3)
        # A bad option: a clear error, not a crash.
        result = subprocess.run([str(tool), "export", "--weights", str(work / "lanmsff/last.safetensors"),
                                 "--format", "tflite", str(work / "x.onnx")], capture_output=True, text=True)
        if result.returncode == 0 or "--format" not in result.stderr:
            sys.exit(f"FAIL: export --format tflite: rc {result.returncode}, {result.stderr!r}")
        print("ok: export --format tflite is refused, naming the option")
        # int8 from a checkpoint without a calibration: a clear error that says how to make one.
        result = subprocess.run([str(tool), "export", "--precision", "int8", "--weights",
                                 str(work / "lanmsff/last.safetensors"), str(work / "x.onnx")], capture_output=True, text=True)
        if result.returncode == 0 or "has no int8 calibration: make one with `lanmsff quantize" not in result.stderr:
            sys.exit(f"FAIL: export --precision int8 without a calibration: rc {result.returncode}, {result.stderr!r}")
        if (work / "x.onnx").exists():
            sys.exit("FAIL: export --precision int8 without a calibration wrote a file")
        print("ok: export --precision int8 of a checkpoint without a calibration is refused, saying how to make one")
    print("onnx_export: all checks passed")


if __name__ == "__main__":
    main()
