#!/usr/bin/python3
"""Golden fixtures for the whole MA-Net, computed by an independent PyTorch implementation (manet_torch.py).

Rerun (from anywhere; Debian's python3-torch 1.13 at /usr/bin/python3, not a pyenv python):
    /usr/bin/python3 tools/make_golden_manet.py
    /usr/bin/python3 tools/make_golden_manet.py inference_224    (one fixture; training and inference come together)
It rewrites tests/golden/manet/{training,inference,inference_224}.safetensors, which tests/test_golden_manet.cpp
compares models::MANet<3, 64> (3 classes, 64x64x3 input; training and inference) and the full-size
models::MANet<7, 224> (inference) against. 64 rather than 32 for the small model: at 32 the patches' layer3/layer4
maps are 1x1, and a training-mode BN over a batch of 2 single pixels outputs +-1 whatever its input, so it passes
no gradient and the comparison would see nothing upstream of it.

The weights are not stored (the model has the full model's 50.5 M parameters whatever the input size): they come
from a formula the C++ test reproduces. Tensor t (its 0-based index among the 588 entries of tests/data/manet/names.txt,
moving statistics included), element i (flat, row-major, in lanmsff's layout: HWIO kernels, Dense (in, out)):
    z = splitmix64((t << 32) + i),  u = (z >> 11) * 2^-53  in [0, 1),  r = 2u - 1  in [-1, 1)
    kernel: sqrt(6 / fan_in) * r (fan_in = size / last extent; He-uniform)      bias, beta, moving_mean: 0.1 * r
    gamma: 1 + 0.2 * r                                                          moving_variance: 1 + 0.5 * r
A hash rather than e.g. sin(a*i + b): a sinusoid of the flat index makes every kernel a rank-2 matrix.
Integer arithmetic only, so both sides get bit-identical float64 weights.

training.safetensors   one training step on a batch of 2 (BN batch statistics): input (2, 64, 64, 3) F32 uniform
                       [0, 1], labels (I64), logits (2, 1, 1, 6) (fc_1's 3, then fc_2's), loss (1,) = 0.6 CE(fc_1)
                       + 0.4 CE(fc_2), grad.<name> for a few parameters and <name>.after (the moving statistics
                       after the step) for a few BNs, results F64 (the reference runs in float64).
inference.safetensors  inference (moving statistics from the formula) on another batch of 2: input, logits.
inference_224.safetensors  the full model, MANet<7, 224>, in inference (moving statistics from the formula) on
                       one 224x224 RGB image: image (1, 224, 224, 3) U8 (the input is image / 255), fc_1 and fc_2
                       (1, 1, 1, 7) the two heads' logits, prediction (1, 1, 1, 7) = 0.6 fc_1 + 0.4 fc_2, F64.
                       About 150 KB, nearly all of it the image. The formula's moving statistics are not those of
                       the activations, so the residual sums grow along the way: fc_2's logits are ~1e3, fc_1's ~20
                       (still half of the block outputs positive: nothing saturates or dies out).
"""

import argparse
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from convert_manet import expected_shapes, rename  # noqa: E402
from golden_common import case_rng, read_safetensors, write_safetensors  # noqa: E402
from manet_torch import MANet  # noqa: E402

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden", "manet")
BATCH, SIZE, CLASSES, BETA = 2, 64, 3, 0.6
FULL_SIZE, FULL_CLASSES = 224, 7  # the published model (inference_224)
GRADIENTS = ("conv1.kernel", "layer1.0.conv1.kernel", "layer2.0.downsample.0.kernel",
             "layer3_1_p2.0.cbam.ChannelGate.mlp.1.kernel", "layer3_1_p3.0.cbam.ChannelGate.mlp.3.bias",
             "layer3_1_p4.1.cbam.SpatialGate.spatial.conv.kernel", "layer4_1_p1.1.bn2.beta",
             "layer3_2.0.conv2_2_3.kernel", "layer4_2.1.bn1_2_4.gamma", "fc_1.kernel", "fc_2.bias")
STATISTICS = ("bn1", "layer2.0.downsample.1", "layer3_1_p4.1.cbam.SpatialGate.spatial.bn", "layer4_1_p2.0.bn1",
              "layer4_2.0.bn2_2_1")

MASK = (1 << 64) - 1


def splitmix64(x):
    """splitmix64's output function on a uint64 numpy array (wrapping arithmetic)."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def formula_weights(shapes):
    """{our name: float64 array in our layout} from the formula in the module docstring; `shapes` in names.txt order."""
    weights = {}
    with np.errstate(over="ignore"):
        for t, (name, shape) in enumerate(shapes.items()):
            size = int(np.prod(shape))
            z = splitmix64((np.uint64(t) << np.uint64(32)) + np.arange(size, dtype=np.uint64))
            r = 2.0 * ((z >> np.uint64(11)).astype(np.float64) * 2.0**-53) - 1.0
            leaf = name.rsplit(".", 1)[-1]
            if leaf == "kernel":
                value = np.sqrt(6.0 / (size // shape[-1])) * r
            elif leaf in ("bias", "beta", "moving_mean"):
                value = 0.1 * r
            elif leaf == "gamma":
                value = 1.0 + 0.2 * r
            elif leaf == "moving_variance":
                value = 1.0 + 0.5 * r
            else:
                raise ValueError(f"no formula for parameter '{name}'")
            weights[name] = value.reshape(shape)
    return weights


def load_formula_weights(model, weights):
    """Sets the model's state_dict from our-layout weights, then checks that convert_manet.rename (the C++
    library's documented name and layout mapping) maps it back exactly: the two sides hold the same values."""
    state = model.state_dict()
    batch_norms = {n.rsplit(".", 1)[0] for n in state if n.endswith(".running_mean")}
    leaves = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean", "running_var": "moving_variance"}
    with torch.no_grad():
        for name, tensor in state.items():
            module, _, leaf = name.rpartition(".")
            if leaf == "num_batches_tracked":
                continue
            if module in batch_norms:
                value = weights[f"{module}.{leaves[leaf]}"]
            elif leaf == "weight" and tensor.dim() == 4:
                value = weights[f"{module}.kernel"].transpose(3, 2, 0, 1)  # HWIO -> OIHW
            elif leaf == "weight":
                value = weights[f"{module}.kernel"].T  # (in, out) -> (out, in)
            else:
                value = weights[f"{module}.bias"]
            tensor.copy_(torch.from_numpy(np.ascontiguousarray(value)))
    back = rename({k: v.clone() for k, v in model.state_dict().items()})
    assert back.keys() == weights.keys()
    assert all(np.array_equal(back[k], weights[k].astype(np.float32)) for k in weights)


def nhwc(t):
    return t.detach().permute(0, 2, 3, 1).contiguous().numpy()


def ours(name, grad):
    """A gradient in our layout (the parameter's)."""
    g = grad.detach().numpy()
    return g.transpose(2, 3, 1, 0) if g.ndim == 4 else g.T if g.ndim == 2 else g


def torch_name(name):
    module, _, leaf = name.rpartition(".")
    return f"{module}." + {"kernel": "weight", "gamma": "weight", "beta": "bias", "bias": "bias"}[leaf]


def write(name, tensors, metadata, model=f"MANet<{CLASSES}, {SIZE}>"):
    metadata = dict(metadata, generator="tools/make_golden_manet.py", torch=torch.__version__, model=model)
    path = os.path.join(OUT_DIR, name + ".safetensors")
    write_safetensors(path, tensors, metadata)
    back, _ = read_safetensors(path)
    assert back.keys() == tensors.keys() and all(np.array_equal(back[k], tensors[k]) for k in tensors), name
    print(f"wrote {os.path.relpath(path)} ({os.path.getsize(path) / 1e6:.2f} MB, {len(tensors)} tensors)")


def input_batch(case):
    x = case_rng(case).uniform(0, 1, (BATCH, SIZE, SIZE, 3)).astype(np.float32)
    return x, torch.from_numpy(x.astype(np.float64)).permute(0, 3, 1, 2)


def training_and_inference():
    """The small model (MANet<3, 64>): training.safetensors and inference.safetensors."""
    weights = formula_weights(expected_shapes(CLASSES))
    model = MANet(CLASSES).double()
    load_formula_weights(model, weights)

    # training step
    x_nhwc, x = input_batch("manet/training")
    labels = np.array([0, 2], dtype=np.int64)
    fc1, fc2 = model.train()(x)
    target = torch.from_numpy(labels)
    loss = BETA * F.cross_entropy(fc1, target) + (1 - BETA) * F.cross_entropy(fc2, target)
    loss.backward()
    parameters = dict(model.named_parameters())
    state = model.state_dict()
    logits = torch.cat((fc1, fc2), dim=1).detach().numpy().reshape(BATCH, 1, 1, 2 * CLASSES)
    tensors = {"input": x_nhwc, "labels": labels, "logits": logits, "loss": np.array([loss.item()])}
    for name in GRADIENTS:
        tensors["grad." + name] = ours(name, parameters[torch_name(name)].grad)
    for bn in STATISTICS:
        tensors[f"{bn}.moving_mean.after"] = state[f"{bn}.running_mean"].numpy().copy()
        tensors[f"{bn}.moving_variance.after"] = state[f"{bn}.running_var"].numpy().copy()
    print(f"training: loss {loss.item():.6f}, logits range [{logits.min():.3f}, {logits.max():.3f}]")
    for name in GRADIENTS:
        print(f"  grad.{name}: max |g| {np.abs(tensors['grad.' + name]).max():.3e}")
    write("training", tensors, {"mode": "training", "beta": BETA})

    # inference with the formula's moving statistics
    load_formula_weights(model, weights)
    x_nhwc, x = input_batch("manet/inference")
    with torch.no_grad():
        fc1, fc2 = model.eval()(x)
    logits = torch.cat((fc1, fc2), dim=1).numpy().reshape(BATCH, 1, 1, 2 * CLASSES)
    print(f"inference: logits range [{logits.min():.3f}, {logits.max():.3f}]")
    write("inference", {"input": x_nhwc, "logits": logits}, {"mode": "inference"})


def full_size_inference():
    """The published model (MANet<7, 224>) on one 8-bit RGB image: inference_224.safetensors."""
    weights = formula_weights(expected_shapes(FULL_CLASSES))
    model = MANet(FULL_CLASSES).double()
    load_formula_weights(model, weights)
    image = case_rng("manet/inference_224").integers(0, 256, (1, FULL_SIZE, FULL_SIZE, 3), dtype=np.uint8)
    x = torch.from_numpy(image.astype(np.float64) / 255).permute(0, 3, 1, 2)
    with torch.no_grad():
        fc1, fc2 = model.eval()(x)
    prediction = BETA * fc1 + (1 - BETA) * fc2
    heads = {name: t.numpy().reshape(1, 1, 1, FULL_CLASSES)
             for name, t in (("fc_1", fc1), ("fc_2", fc2), ("prediction", prediction))}
    for name, values in heads.items():
        print(f"inference_224: {name} {np.array2string(values.ravel(), precision=3)}")
    write("inference_224", dict(heads, image=image), {"mode": "inference", "beta": BETA, "input": "image / 255"},
          model=f"MANet<{FULL_CLASSES}, {FULL_SIZE}>")


FIXTURES = {"training": training_and_inference, "inference": training_and_inference,
            "inference_224": full_size_inference}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # Checked by hand: argparse rejects an empty list against `choices` with nargs="*".
    parser.add_argument("fixtures", nargs="*", metavar="FIXTURE",
                        help=f"which to write, of {', '.join(FIXTURES)} (default: all)")
    args = parser.parse_args()
    for name in args.fixtures:
        if name not in FIXTURES:
            parser.error(f"unknown fixture '{name}' (expected one of {', '.join(FIXTURES)})")
    os.makedirs(OUT_DIR, exist_ok=True)
    torch.set_num_threads(2)
    for make in dict.fromkeys(FIXTURES[name] for name in (args.fixtures or FIXTURES)):
        make()


if __name__ == "__main__":
    main()
