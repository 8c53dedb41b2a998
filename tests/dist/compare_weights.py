#!/usr/bin/env python3
"""How far apart the weights of two safetensors checkpoints are: the relative difference
||a - b|| / ||b|| over all their tensors (the Euclidean norm of everything, as one vector). Every tensor
of A must be in B with the same shape.

A relative difference per tensor would not do: a convolution's bias before a BatchNorm has a gradient of
zero in exact arithmetic and holds rounding noise, and BatchNorm's beta gradients are sums with heavy
cancellation, so two runs that differ only in the order of float sums (the thread count, the split of a
batch over processes) already differ by percents there after one step, and by about 1e-5..1e-4 overall.

Usage: compare_weights.py A.safetensors B.safetensors [--tol T] [--trainable]
  --trainable   leave out the BatchNorm moving statistics (names with "moving_")
Prints the relative difference (and the tensors that contribute most); exit status 1 when it exceeds T
(default: never)."""
import argparse
import json
import struct
import sys

import numpy as np

DTYPES = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I64": np.int64, "I32": np.int32, "U8": np.uint8}


def load(path):
    with open(path, "rb") as f:
        data = f.read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    body = data[8 + length:]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        tensors[name] = np.frombuffer(body[begin:end], dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
    return tensors


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--tol", type=float, default=float("inf"))
    parser.add_argument("--trainable", action="store_true")
    args = parser.parse_args()
    a, b = load(args.a), load(args.b)
    squared_difference = squared_norm = 0.0
    parts = []
    for name, x in a.items():
        if args.trainable and "moving_" in name:
            continue
        if name not in b:
            print(f"{name}: in {args.a}, not in {args.b}")
            return 1
        y = b[name]
        if x.shape != y.shape:
            print(f"{name}: shape {x.shape} vs {y.shape}")
            return 1
        d = float(np.sum((x.astype(np.float64) - y.astype(np.float64)) ** 2))
        squared_difference += d
        squared_norm += float(np.sum(y.astype(np.float64) ** 2))
        parts.append((d, name))
    if not parts or squared_norm == 0:
        print("nothing to compare")
        return 1
    relative = (squared_difference / squared_norm) ** 0.5
    print(f"{relative:.3g}")
    if relative > args.tol:
        parts.sort(reverse=True)
        print(f"relative difference {relative:.3g} > {args.tol:.3g}; the largest parts:", file=sys.stderr)
        for d, name in parts[:5]:
            print(f"  {name}: {d ** 0.5:.3g}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
