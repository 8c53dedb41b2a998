#!/usr/bin/env python3
"""LANMSFF speed, lanmsff vs PyTorch, side by side in one run on this machine.

Runs, one after the other: `lanmsff bench` (inference at batch 1 and 32, training step at batch 32) and the
same measurements on the PyTorch implementation of the same network that the golden tests use
(tools/lanmsff_torch.py, with PyTorch's own conventions, channels-last, the same thread count), then prints a
table with the ratios. Also reports each process's peak memory (ru_maxrss).

Usage: /usr/bin/python3 bench/compare_pytorch.py [--tool build/examples/lanmsff] [--threads 2] [--seconds 5]
Needs Debian's python3-torch.
"""
import argparse
import json
import os
import pathlib
import resource
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent


def ours(tool, threads, batch, train, seconds):
    cmd = [tool, "--threads", str(threads), "bench", "--batch", str(batch), "--seconds", str(seconds), "--json"]
    if train:
        cmd.append("--train")
    start = time.time()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout)["images_per_second"], time.time() - start


PYTORCH_CHILD = r"""
import json, resource, sys, time, torch
sys.path.insert(0, sys.argv[1])
from lanmsff_torch import LANMSFF
threads, batch, train, seconds = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1", float(sys.argv[5])
torch.set_num_threads(threads)
torch.manual_seed(0)
model = LANMSFF(classes=8, keras_semantics=False).to(memory_format=torch.channels_last)
x = torch.rand(batch, 1, 64, 64).to(memory_format=torch.channels_last)
labels = torch.arange(batch) % 8
opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
def step():
    if train:
        model.train(); opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), labels); loss.backward(); opt.step()
    else:
        model.eval()
        with torch.no_grad(): model(x)
step()
n, start = 0, time.perf_counter()
while time.perf_counter() - start < seconds or n < 2:
    step(); n += 1
elapsed = time.perf_counter() - start
print(json.dumps({"images_per_second": n * batch / elapsed,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def pytorch(threads, batch, train, seconds):
    out = subprocess.run([sys.executable, "-c", PYTORCH_CHILD, str(ROOT / "tools"), str(threads), str(batch),
                          "1" if train else "0", str(seconds)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def ours_peak_rss(tool, threads, batch, train, seconds):
    """Peak memory of a separate `lanmsff bench` process (ru_maxrss of the finished child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    ours(tool, threads, batch, train, seconds)
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(after, before) / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tool", default=str(ROOT / "build/examples/lanmsff"))
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--seconds", type=float, default=5)
    args = parser.parse_args()

    rows = []
    for name, batch, train in [("inference, batch 1", 1, False), ("inference, batch 32", 32, False),
                               ("training step, batch 32", 32, True)]:
        ips_ours, _ = ours(args.tool, args.threads, batch, train, args.seconds)
        torch_result = pytorch(args.threads, batch, train, args.seconds)
        rows.append((name, ips_ours, torch_result["images_per_second"]))
        print(f"{name:26s} lanmsff {ips_ours:9.1f} img/s   PyTorch {torch_result['images_per_second']:9.1f} img/s   "
              f"ratio {ips_ours / torch_result['images_per_second']:5.2f}", flush=True)
    # Peak memory of a training process at batch 32 (a separate run each, after the timings).
    rss_torch = pytorch(args.threads, 32, True, 1)["peak_rss_mb"]
    rss_ours = ours_peak_rss(args.tool, args.threads, 32, True, 1)
    print(f"{'peak memory, training 32':26s} lanmsff {rss_ours:7.0f} MB     PyTorch {rss_torch:7.0f} MB     "
          f"ratio {rss_ours / rss_torch:5.2f}")
    print()
    print("| measurement | lanmsff | PyTorch | ratio |")
    print("|---|---|---|---|")
    for name, a, b in rows:
        latency = f" ({1e3 / a:.1f} ms vs {1e3 / b:.1f} ms)" if "batch 1" in name else ""
        print(f"| {name} | {a:.1f} img/s | {b:.1f} img/s | {a / b:.2f}×{latency} |")
    print(f"| peak memory, training batch 32 | {rss_ours:.0f} MB | {rss_torch:.0f} MB | {rss_ours / rss_torch:.2f} |")


if __name__ == "__main__":
    main()
