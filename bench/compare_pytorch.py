#!/usr/bin/env python3
"""lanmsff vs PyTorch, side by side in one run on this machine, for LANMSFF and MA-Net.

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

The machine may be shared: every measurement is repeated --rounds times, the whole sequence round after round
(so that a slow spell hits every column alike), and the table gives the median of each cell.

Usage: /usr/bin/python3 bench/compare_pytorch.py [--model lanmsff|manet|all] [--tool build/examples/lanmsff]
                                                 [--threads 2] [--seconds 5] [--rounds 3] [--as-installed]
                                                 [--pytorch-only]
Needs Debian's python3-torch. --pytorch-only measures the PyTorch side alone (no lanmsff tool needed).
"""
import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys

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


def ours(tool, model, threads, batch, train, seconds):
    """images/s of `lanmsff bench`, and the peak memory of its process in MB."""
    cmd = [tool, "--threads", str(threads), "bench", "--model", model, "--batch", str(batch), "--seconds",
           str(seconds), "--json"]
    if train:
        cmd.append("--train")
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


def compare(model, args):
    rows, references = MODELS[model]
    if args.as_installed:
        name, options = references[0]
        references = references + [(name + ", default malloc", dict(options, malloc="default"))]
    columns = ([] if args.pytorch_only else ["lanmsff"]) + [name for name, _ in references]
    print(f"== {model}, {args.threads} threads, {args.rounds} round(s) of {args.seconds:g} s per measurement",
          flush=True)
    # samples[row][column]: (images/s, peak MB) per round
    samples = [[[] for _ in columns] for _ in rows]
    for round_index in range(args.rounds):
        for row, (label, batch, train) in enumerate(rows):
            results = [] if args.pytorch_only else [ours(args.tool, model, args.threads, batch, train, args.seconds)]
            results += [pytorch(model, options, args.threads, batch, train, args.seconds) for _, options in references]
            for column, result in enumerate(results):
                samples[row][column].append(result)
            print(f"round {round_index + 1}: {label:24s} " +
                  "   ".join(f"{c} {v:7.1f} img/s" for c, (v, _) in zip(columns, results)), flush=True)

    def median(values):
        return statistics.median(values)

    print()
    ratio_columns = [] if args.pytorch_only else [f"ratio vs {name}" for name in columns[1:]]
    print("| measurement | " + " | ".join(columns + ratio_columns) + " |")
    print("|---" * (1 + len(columns) + len(ratio_columns)) + "|")
    peak = None
    for row, (label, batch, train) in enumerate(rows):
        values = [median([speed for speed, _ in cell]) for cell in samples[row]]
        cells = [f"{v:.1f} img/s" + (f" ({1e3 / v:.1f} ms)" if batch == 1 else "") for v in values]
        if not args.pytorch_only:
            cells += [f"{values[0] / v:.2f}×" for v in values[1:]]
        print(f"| {label} | " + " | ".join(cells) + " |")
        if train:
            peak = (f"peak memory, training batch {batch}", [median([mb for _, mb in cell]) for cell in samples[row]])
    label, megabytes = peak
    cells = [f"{mb:.0f} MB" for mb in megabytes]
    if not args.pytorch_only:
        cells += [f"{megabytes[0] / mb:.2f}" for mb in megabytes[1:]]
    print(f"| {label} | " + " | ".join(cells) + " |")
    if args.rounds > 1:
        print("\n(medians of the rounds; the spread, as min-max images/s per cell:)")
        for row, (label, _, _) in enumerate(rows):
            print(f"  {label:26s} " + "   ".join(
                f"{c} {min(v for v, _ in cell):.1f}-{max(v for v, _ in cell):.1f}"
                for c, cell in zip(columns, samples[row])))
    print(flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=["lanmsff", "manet", "all"], default="all")
    parser.add_argument("--tool", default=str(ROOT / "build/examples/lanmsff"), help="the lanmsff command-line tool")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--seconds", type=float, default=5, help="time per measurement and library")
    parser.add_argument("--rounds", type=int, default=3, help="repeat every measurement; the table gives medians")
    parser.add_argument("--as-installed", action="store_true",
                        help="add a column: PyTorch with its default malloc (see above)")
    parser.add_argument("--pytorch-only", action="store_true", help="measure PyTorch alone (no lanmsff tool needed)")
    args = parser.parse_args()
    if args.rounds < 1 or args.seconds <= 0 or args.threads < 1:
        parser.error("--rounds and --threads must be >= 1 and --seconds > 0")
    if not args.pytorch_only and not os.access(args.tool, os.X_OK):
        parser.error(f"--tool {args.tool}: not an executable file (build the examples, or pass --pytorch-only)")
    for model in MODELS if args.model == "all" else [args.model]:
        compare(model, args)


if __name__ == "__main__":
    main()
