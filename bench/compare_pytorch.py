#!/usr/bin/env python3
"""lanmsff vs PyTorch and ONNX Runtime, side by side in one run on this machine, for LANMSFF and MA-Net.

For each model, one process after the other at the same thread count: `lanmsff bench --model M` and the same
measurements on the PyTorch implementation of the same network (tools/lanmsff_torch.py, tools/manet_torch.py;
channels-last, torch.no_grad() for inference, each model's own optimizer for training), then a table with the
ratios (lanmsff's images/s over PyTorch's: above 1 is faster; memory: lanmsff's over PyTorch's, below 1 is
less), and the peak memory (ru_maxrss) of each library's training-step process.

  lanmsff  inference at batch 1 and 32, training step (cross-entropy, Adam) at 32, 64x64x1, 8 classes. Two
           PyTorch references: with PyTorch's own conventions (symmetric padding, its fastest form), and with the
           Keras semantics the golden tests compare against (TF 'same' padding by an explicit F.pad, Keras BN).
  manet    inference at batch 1 and 16, training step (SGD momentum 0.9, weight decay 1e-4, loss
           0.6 CE(fc_1) + 0.4 CE(fc_2)) at 16, 224x224x3, 7 classes; one reference, the golden tests' model.

PyTorch's CPU allocator hands every tensor to malloc and back. glibc's malloc serves blocks above its mmap
threshold (at most 32 MB, and LANMSFF's batch-32 activations are 35 MB) with fresh mappings that it unmaps on
free, so on machines where page faults are dear (virtual machines) PyTorch spends much of its time faulting in
zeroed pages. The PyTorch references therefore run with glibc's malloc told to keep freed memory
(MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ / MALLOC_TOP_PAD_, the effect of LD_PRELOADing a caching
allocator): PyTorch at its best. --as-installed adds a column with PyTorch's default malloc, as a user would run it.

ONNX Runtime (npm onnxruntime-node, its CPU execution provider, every graph optimisation, the same thread count,
bench/onnxruntime_bench.js) runs the PyTorch reference with PyTorch's conventions and the weights of the PyTorch
column, exported to ONNX (opset 13, dynamic batch, NCHW as ONNX models take it); it has no training, so its
training cells are empty. The column is there when node and bench/node_modules/onnxruntime-node are (install it
with `npm install --ignore-scripts --prefix bench`, from bench/package.json), or with --onnxruntime DIR. The last
ratio column is lanmsff over the best of the peers (PyTorch at its best and ONNX Runtime) in each row.

The machine may be shared: every measurement is repeated --rounds times, the whole sequence round after round
(so that a slow spell hits every column alike), and the table gives the median of each cell.

Usage: /usr/bin/python3 bench/compare_pytorch.py [--model lanmsff|manet|all] [--tool build/examples/lanmsff]
                                                 [--threads 2] [--seconds 5] [--rounds 3] [--as-installed]
                                                 [--pytorch-only] [--onnxruntime DIR | --no-onnxruntime]
Needs Debian's python3-torch. --pytorch-only measures the peers alone (no lanmsff tool needed).
"""
import argparse
import json
import os
import pathlib
import statistics
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent

# glibc malloc keeping what it frees (no mmap per large block, no trimming): PyTorch's fastest form here.
CACHING_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(1 << 31), "MALLOC_TRIM_THRESHOLD_": str(1 << 31),
                  "MALLOC_TOP_PAD_": str(1 << 28)}

# name: (rows as (label, batch, train), PyTorch references as (column, options)). The peak-memory row is the
# training run's.
MODELS = {
    "lanmsff": ([("inference, batch 1", 1, False), ("inference, batch 32", 32, False),
                 ("training step, batch 32", 32, True)],
                [("PyTorch", {"keras_semantics": False}), ("PyTorch (Keras semantics)", {"keras_semantics": True})]),
    "manet": ([("inference, batch 1", 1, False), ("inference, batch 16", 16, False),
               ("training step, batch 16", 16, True)],
              [("PyTorch", {})]),
}


def run_json(cmd, what, env=None):
    """Runs a command that prints JSON: (the parsed output, the peak memory of its process in MB)."""
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=None if env is None else dict(os.environ, **env))
    # wait4 gives this child's own resource usage (RUSAGE_CHILDREN would be the maximum over all children so
    # far). The outputs are a few lines, far below a pipe's buffer, so waiting before reading cannot block.
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = code = os.waitstatus_to_exitcode(status)
    stdout, stderr = process.stdout.read(), process.stderr.read()
    process.stdout.close(), process.stderr.close()
    if code != 0:
        sys.exit(f"{what} failed (exit {code}): {' '.join(cmd)}\n{stderr.strip()}")
    return json.loads(stdout), usage.ru_maxrss / 1024


def ours(tool, model, threads, batch, train, seconds, precision="float"):
    """images/s of `lanmsff bench` (inference in `precision`, float or int8), and the peak memory of its process
    in MB."""
    cmd = [tool, "--threads", str(threads), "bench", "--model", model, "--batch", str(batch), "--seconds",
           str(seconds), "--json"]
    if train:
        cmd.append("--train")
    if precision != "float":
        cmd += ["--precision", precision]
    result, peak_mb = run_json(cmd, "lanmsff bench")
    return result["images_per_second"], peak_mb


PYTORCH_CHILD = r"""
import json, sys, time, torch
import torch.nn.functional as F
sys.path.insert(0, sys.argv[1])
run = json.loads(sys.argv[2])
batch, train = run["batch"], run["train"]
torch.set_num_threads(run["threads"])
torch.manual_seed(0)
if run["model"] == "lanmsff":
    from lanmsff_torch import LANMSFF
    classes, model = 8, LANMSFF(classes=8, keras_semantics=run["keras_semantics"])
    x = torch.rand(batch, 1, 64, 64)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_of = F.cross_entropy
else:
    from manet_torch import MANet
    classes, model = 7, MANet(num_classes=7)
    x = torch.rand(batch, 3, 224, 224)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    loss_of = lambda heads, y: 0.6 * F.cross_entropy(heads[0], y) + 0.4 * F.cross_entropy(heads[1], y)
model = model.to(memory_format=torch.channels_last)
x = x.contiguous(memory_format=torch.channels_last)
labels = torch.arange(batch) % classes
def step():
    if train:
        model.train(); optimizer.zero_grad()
        loss_of(model(x), labels).backward(); optimizer.step()
    else:
        model.eval()
        with torch.no_grad(): model(x)
step()  # warm-up, as lanmsff bench does
n, start = 0, time.perf_counter()
while time.perf_counter() - start < run["seconds"] or n < 2:
    step(); n += 1
elapsed = time.perf_counter() - start
print(json.dumps({"images_per_second": n * batch / elapsed}))
"""


EXPORT_CHILD = r"""
import json, sys, torch
sys.path.insert(0, sys.argv[1])
run = json.loads(sys.argv[2])
torch.manual_seed(0)
if run["model"] == "lanmsff":
    from lanmsff_torch import LANMSFF
    model, x, outputs = LANMSFF(classes=8, keras_semantics=False), torch.rand(1, 1, 64, 64), ["logits"]
else:
    from manet_torch import MANet
    model, x, outputs = MANet(num_classes=7), torch.rand(1, 3, 224, 224), ["fc_1", "fc_2"]
axes = {name: {0: "batch"} for name in ["input"] + outputs}
torch.onnx.export(model.eval(), x, run["path"], input_names=["input"], output_names=outputs, dynamic_axes=axes,
                  opset_version=13)
"""

INPUT_SHAPE = {"lanmsff": (1, 64, 64), "manet": (3, 224, 224)}  # NCHW, as the exported graph takes it


def export_onnx(model, path):
    """The PyTorch reference (its own conventions, the weights of seed 0) exported to ONNX, dynamic batch."""
    result = subprocess.run([sys.executable, "-c", EXPORT_CHILD, str(ROOT / "tools"),
                             json.dumps({"model": model, "path": str(path)})], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"exporting {model} to ONNX failed:\n{result.stderr.strip()}")


def onnxruntime(module, onnx_path, model, threads, batch, seconds):
    """images/s of ONNX Runtime (npm onnxruntime-node) on the exported model, and its process's peak memory."""
    run = {"module": str(module), "model": str(onnx_path), "shape": [batch, *INPUT_SHAPE[model]],
           "threads": threads, "seconds": seconds}
    result, peak_mb = run_json(["node", str(ROOT / "bench/onnxruntime_bench.js"), json.dumps(run)],
                               "ONNX Runtime " + model)
    return result["images_per_second"], peak_mb


def find_onnxruntime(args):
    """The onnxruntime-node package to use, or None (with the reason printed)."""
    if args.no_onnxruntime:
        return None
    module = pathlib.Path(args.onnxruntime) if args.onnxruntime else ROOT / "bench/node_modules/onnxruntime-node"
    if shutil.which("node") is None or not (module / "package.json").exists():
        why = "no node (Debian: nodejs)" if shutil.which("node") is None else f"no {module}"
        if args.onnxruntime:
            sys.exit(f"--onnxruntime: {why}")
        print(f"(no ONNX Runtime column: {why}; `npm install --ignore-scripts --prefix bench` installs "
              "onnxruntime-node from bench/package.json)\n", flush=True)
        return None
    return module


def pytorch(model, options, threads, batch, train, seconds):
    """images/s of the PyTorch model, and the peak memory of its process in MB. options: the model's keyword
    arguments, "malloc": "caching" (CACHING_MALLOC) or "default", and "env": more environment variables."""
    options = dict(options)
    env = dict(CACHING_MALLOC) if options.pop("malloc", "caching") == "caching" else {}
    env.update(options.pop("env", {}))  # e.g. PyTorch held to an instruction set (compare_paths.py)
    run = dict(options, model=model, threads=threads, batch=batch, train=train, seconds=seconds)
    result, peak_mb = run_json([sys.executable, "-c", PYTORCH_CHILD, str(ROOT / "tools"), json.dumps(run)],
                               "PyTorch " + model, env)
    return result["images_per_second"], peak_mb


def compare(model, args, ort_module, work):
    rows, references = MODELS[model]
    if args.as_installed:
        name, options = references[0]
        references = references + [(name + ", default malloc", dict(options, malloc="default"))]
    # A column: (name, measure(batch, train) -> (images/s, peak MB) or None where it cannot run, best peer?);
    # the best peers are PyTorch at its best (not as installed) and ONNX Runtime.
    columns = [] if args.pytorch_only else [("lanmsff", lambda b, t: ours(args.tool, model, args.threads, b, t,
                                                                                   args.seconds), False)]
    for name, options in references:
        columns.append((name, lambda b, t, o=options: pytorch(model, o, args.threads, b, t, args.seconds),
                        options.get("malloc", "caching") == "caching"))
    if ort_module is not None:
        onnx_path = work / f"{model}.onnx"
        export_onnx(model, onnx_path)
        columns.append(("ONNX Runtime", lambda b, t: None if t else onnxruntime(ort_module, onnx_path, model,
                                                                                args.threads, b, args.seconds), True))
    names = [name for name, _, _ in columns]
    print(f"== {model}, {args.threads} threads, {args.rounds} round(s) of {args.seconds:g} s per measurement",
          flush=True)
    # samples[row][column]: (images/s, peak MB) per round, or None (ONNX Runtime does not train)
    samples = [[[] for _ in columns] for _ in rows]
    for round_index in range(args.rounds):
        for row, (label, batch, train) in enumerate(rows):
            results = [measure(batch, train) for _, measure, _ in columns]
            for column, result in enumerate(results):
                samples[row][column].append(result)
            print(f"round {round_index + 1}: {label:24s} " + "   ".join(
                f"{c} {r[0]:7.1f} img/s" for c, r in zip(names, results) if r is not None), flush=True)

    def median(cell, index):
        values = [result[index] for result in cell if result is not None]
        return statistics.median(values) if values else None

    def ratio(a, b, form):
        return "–" if a is None or b is None else form.format(a / b)

    print()
    best = [i for i, (_, _, is_best) in enumerate(columns) if is_best]
    ratio_columns = [] if args.pytorch_only else [f"ratio vs {name}" for name in names[1:]]
    if not args.pytorch_only and len(best) > 1:
        ratio_columns.append("ratio vs the best peer")
    print("| measurement | " + " | ".join(names + ratio_columns) + " |")
    print("|---" * (1 + len(names) + len(ratio_columns)) + "|")
    peak = None
    for row, (label, batch, train) in enumerate(rows):
        values = [median(cell, 0) for cell in samples[row]]
        cells = ["–" if v is None else f"{v:.1f} img/s" + (f" ({1e3 / v:.1f} ms)" if batch == 1 else "")
                 for v in values]
        if not args.pytorch_only:
            cells += [ratio(values[0], v, "{:.2f}×") for v in values[1:]]
            if len(best) > 1:
                peers = [values[i] for i in best if values[i] is not None]
                cells.append(ratio(values[0], max(peers) if peers else None, "{:.2f}×"))
        print(f"| {label} | " + " | ".join(cells) + " |")
        if train:
            peak = (f"peak memory, training batch {batch}", [median(cell, 1) for cell in samples[row]])
    label, megabytes = peak
    cells = ["–" if mb is None else f"{mb:.0f} MB" for mb in megabytes]
    if not args.pytorch_only:
        cells += [ratio(megabytes[0], mb, "{:.2f}") for mb in megabytes[1:]]
        cells += ["–"] if len(best) > 1 else []
    print(f"| {label} | " + " | ".join(cells) + " |")
    if args.rounds > 1:
        print("\n(medians of the rounds; the spread, as min-max images/s per cell:)")
        for row, (label, _, _) in enumerate(rows):
            print(f"  {label:26s} " + "   ".join(
                f"{c} {min(r[0] for r in cell if r):.1f}-{max(r[0] for r in cell if r):.1f}"
                for c, cell in zip(names, samples[row]) if any(cell)))
    print(flush=True)


def measurement_parser(description):
    """The options every side-by-side script takes: --model, --tool, --threads, --seconds, --rounds."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=["lanmsff", "manet", "all"], default="all")
    parser.add_argument("--tool", default=str(ROOT / "build/examples/lanmsff"), help="the lanmsff command-line tool")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--seconds", type=float, default=5, help="time per measurement and library")
    parser.add_argument("--rounds", type=int, default=3, help="repeat every measurement; the table gives medians")
    return parser


def check_measurement_arguments(parser, args):
    if args.rounds < 1 or args.seconds <= 0 or args.threads < 1:
        parser.error("--rounds and --threads must be >= 1 and --seconds > 0")


def main():
    parser = measurement_parser(__doc__)
    parser.add_argument("--as-installed", action="store_true",
                        help="add a column: PyTorch with its default malloc (see above)")
    parser.add_argument("--pytorch-only", action="store_true", help="measure PyTorch alone (no lanmsff tool needed)")
    parser.add_argument("--onnxruntime", metavar="DIR",
                        help="the onnxruntime-node package (default: bench/node_modules/onnxruntime-node, if there)")
    parser.add_argument("--no-onnxruntime", action="store_true", help="leave out the ONNX Runtime column")
    args = parser.parse_args()
    check_measurement_arguments(parser, args)
    if not args.pytorch_only and not os.access(args.tool, os.X_OK):
        parser.error(f"--tool {args.tool}: not an executable file (build the examples, or pass --pytorch-only)")
    ort_module = find_onnxruntime(args)
    with tempfile.TemporaryDirectory(prefix="lanmsff-compare.") as work:
        for model in MODELS if args.model == "all" else [args.model]:
            compare(model, args, ort_module, pathlib.Path(work))


if __name__ == "__main__":
    main()
