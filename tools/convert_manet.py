#!/usr/bin/python3
"""Converts a PyTorch MA-Net state_dict (the authors' parameter names) into a lanmsff safetensors checkpoint.

Usage: /usr/bin/python3 tools/convert_manet.py IN.pth OUT.safetensors [--classes K] [--key state_dict] [--seed S]

Accepts a raw state_dict or a dict holding it under 'state_dict' (the authors' Pretrained_on_MSCeleb.pth.tar),
with or without DataParallel's 'module.' prefix. Renames weight/bias/running_mean/running_var to our
kernel/bias/gamma/beta/moving_mean/moving_variance and transposes kernels into our layouts (convolutions OIHW ->
HWIO, Linear (out, in) -> (in, out)); see docs/checkpoints.md. fc_1/fc_2 whose output count differs from
--classes (the MS-Celeb 12,666-way identity classifier) are re-initialised as PyTorch initialises nn.Linear.
The result must match our parameter list (tests/data/manet/names.txt) exactly, or nothing is written.
"""

import argparse
import os
import pathlib
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from golden_common import write_safetensors  # noqa: E402

NAMES_FILE = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data" / "manet" / "names.txt"
NAMES_CLASSES = 7  # names.txt lists MANet<7>: fc_1/fc_2's last dimension is replaced by the class count
HEADS = ("fc_1", "fc_2")
BN_LEAVES = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean", "running_var": "moving_variance"}


class ConversionError(ValueError):
    """An input that cannot become a MA-Net checkpoint; the message says what and where."""


def expected_shapes(classes, names_file=NAMES_FILE):
    """Our parameter names and shapes for `classes` classes: {name: tuple}, from names.txt."""
    shapes = {}
    with open(names_file, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            fields = line.split()
            if len(fields) != 2:
                raise ConversionError(f"{names_file}:{number}: expected 'name shape', got '{line}'")
            shape = tuple(int(d) for d in fields[1].split(","))
            if fields[0].split(".")[0] in HEADS and shape[-1] == NAMES_CLASSES:
                shape = shape[:-1] + (classes,)
            shapes[fields[0]] = shape
    return shapes


def load_state_dict(path, key=None, trust_pickle=False):
    """The state_dict in a .pth file: the file itself, or the dict under `key` ('state_dict' if present)."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=not trust_pickle)
    except FileNotFoundError:
        raise ConversionError("no such file") from None
    except Exception as e:  # torch raises many types for a corrupt or foreign file
        hint = "" if trust_pickle else " (if it holds other Python objects and you trust it, pass --trust-pickle)"
        raise ConversionError(f"cannot read it as a PyTorch file: {e}{hint}") from None
    if not isinstance(obj, dict):
        raise ConversionError(f"expected a dict (a state_dict or a checkpoint), got {type(obj).__name__}")
    if key is not None:
        if key not in obj:
            raise ConversionError(f"no key '{key}'; top-level keys: {', '.join(map(str, obj))}")
        obj = obj[key]
    elif "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ConversionError("the state_dict must map names to tensors; use --key to pick it")
    return obj


def strip_data_parallel(state_dict):
    """Removes DataParallel's 'module.' prefix (present on every name or on none)."""
    if state_dict and all(name.startswith("module.") for name in state_dict):
        return {name[len("module.") :]: value for name, value in state_dict.items()}
    return dict(state_dict)


def torch_linear_init(fan_in, classes, rng):
    """nn.Linear.reset_parameters: weight and bias uniform in +-1/sqrt(fan_in). Returns (kernel (in, out), bias)."""
    bound = 1.0 / np.sqrt(fan_in)
    kernel = rng.uniform(-bound, bound, size=(fan_in, classes)).astype(np.float32)
    bias = rng.uniform(-bound, bound, size=(classes,)).astype(np.float32)
    return kernel, bias


def rename(state_dict):
    """PyTorch names and layouts -> ours: {our name: float32 array}. Drops num_batches_tracked."""
    # A module is a BatchNorm when it has running statistics (or a 1-D weight); its weight/bias are gamma/beta.
    batch_norms = {n.rsplit(".", 1)[0] for n, v in state_dict.items()
                   if n.endswith(".running_mean") or (n.endswith(".weight") and v.dim() == 1)}
    converted = {}
    for name, value in state_dict.items():
        module, _, leaf = name.rpartition(".")
        if leaf == "num_batches_tracked":
            continue
        if not value.is_floating_point():
            raise ConversionError(f"'{name}': expected a floating-point tensor, got {value.dtype}")
        array = value.detach().to(torch.float32).numpy()
        if module in batch_norms and leaf in BN_LEAVES:
            converted[f"{module}.{BN_LEAVES[leaf]}"] = array
        elif leaf == "weight" and array.ndim == 4:
            converted[f"{module}.kernel"] = array.transpose(2, 3, 1, 0)  # OIHW -> HWIO
        elif leaf == "weight" and array.ndim == 2:
            converted[f"{module}.kernel"] = array.T  # Linear (out, in) -> Dense (in, out)
        elif leaf == "bias":
            converted[f"{module}.bias"] = array
        else:  # kept under its own name: verify() reports it as unexpected
            converted[name] = array
    return converted


def convert(state_dict, classes=None, seed=0, log=print, names_file=NAMES_FILE):
    """A MA-Net state_dict -> ({our name: float32 array}, class count). Raises ConversionError on any mismatch."""
    tensors = rename(strip_data_parallel(state_dict))
    if classes is None:
        if "fc_1.kernel" not in tensors:
            raise ConversionError("no fc_1.weight to take the class count from; pass --classes")
        classes = tensors["fc_1.kernel"].shape[1]
    if classes < 2:
        raise ConversionError(f"--classes: MA-Net needs at least two classes, got {classes}")
    rng = np.random.default_rng(seed)
    for head in HEADS:
        kernel = tensors.get(f"{head}.kernel")
        if kernel is None or kernel.ndim != 2 or kernel.shape[1] == classes:
            continue  # missing or malformed heads are reported by verify()
        log(f"note: {head} has {kernel.shape[1]} outputs, not {classes}: re-initialised "
            f"(PyTorch nn.Linear init, seed {seed}); fine-tune before use")
        tensors[f"{head}.kernel"], tensors[f"{head}.bias"] = torch_linear_init(kernel.shape[0], classes, rng)
    verify(tensors, expected_shapes(classes, names_file))
    return tensors, classes


def verify(tensors, expected):
    """Refuses unless `tensors` has exactly the expected names and shapes; lists every difference."""
    problems = [f"missing: {n} {expected[n]}" for n in expected if n not in tensors]
    problems += [f"shape: {n} is {tuple(v.shape)} after conversion, expected {expected[n]}"
                 for n, v in tensors.items() if n in expected and tuple(v.shape) != expected[n]]
    problems += [f"unexpected: {n} {tuple(v.shape)}" for n, v in sorted(tensors.items()) if n not in expected]
    if problems:
        raise ConversionError("the state_dict is not MA-Net's (names in lanmsff's spelling, shapes in its "
                              "layouts):\n  " + "\n  ".join(problems))


def write_atomically(path, tensors, metadata):
    """Writes to a temporary file beside `path`, fsyncs it and renames it over `path`."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(prefix=".convert_manet.", suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        write_safetensors(temporary, tensors, metadata)
        fd = os.open(temporary, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("input", help="the PyTorch file (.pth / .pth.tar)")
    parser.add_argument("output", help="the safetensors checkpoint to write")
    parser.add_argument("--classes", type=int, help="class count (default: fc_1's output count)")
    parser.add_argument("--key", help="the key holding the state_dict (default: 'state_dict' if present)")
    parser.add_argument("--seed", type=int, default=0, help="seed of re-initialised fc layers (default 0)")
    parser.add_argument("--trust-pickle", action="store_true",
                        help="load arbitrary pickled objects (only for files you trust)")
    args = parser.parse_args(argv)
    try:
        state_dict = load_state_dict(args.input, args.key, args.trust_pickle)
        tensors, classes = convert(state_dict, args.classes, args.seed)
        metadata = {"model": "manet", "classes": classes, "input_shape": "224x224x3",
                    "source": os.path.basename(args.input)}
        write_atomically(args.output, tensors, metadata)
    except ConversionError as e:
        print(f"convert_manet: {args.input}: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"convert_manet: {e}", file=sys.stderr)
        return 1
    print(f"wrote {args.output}: {len(tensors)} tensors, {classes} classes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
