#!/usr/bin/python3
"""Golden fixtures for the whole LANMSFF model, computed by an independent PyTorch implementation (lanmsff_torch.py).

Rerun (from anywhere; Debian's python3-torch 1.13 at /usr/bin/python3, not a pyenv python):
    /usr/bin/python3 tools/make_golden_lanmsff.py
It rewrites tests/golden/lanmsff/{weights,training,inference}.safetensors, which tests/test_golden_lanmsff.cpp
compares the C++ model (include/lanmsff/models/lanmsff.hpp, 8 classes, 64x64x1 input) against. Deterministic:
every random number comes from a generator seeded by the case name.

weights.safetensors    a lanmsff checkpoint: every parameter and moving statistic under the C++ model's names
                       and layouts (F32), loadable with io::load_checkpoint. Kernels He-uniform (Dense:
                       Glorot-uniform) as the library initialises them; biases, BN gamma / beta and the moving
                       statistics randomly perturbed from 0 / 1 so that every one of them matters.
training.safetensors   one training step on a batch of 4 (BN batch statistics, every Dropout rate 0 since masks
                       cannot be shared across frameworks): input (4, 64, 64, 1) uniform [0, 1], labels (I64),
                       logits (4, 1, 1, 8), loss (1,) (mean softmax cross-entropy), grad.<name> (dLoss/dParameter of
                       every trainable parameter) and <name>.after (every moving statistic after the step).
inference.safetensors  inference on another batch of 4: input, logits, and the moving statistics to use, under
                       their parameter names (realistic values: the training batch's statistics, perturbed).

The reference runs in float64 from the float32-rounded weights and inputs; results are stored as F32. The C++
test runs the step in double (gradients agree to ~1e-7) and in float (logits ~1e-6; gradients only to ~1e-2,
because float32 rounding flips the ReLU masks of the few activations within ~1e-6 of 0 — the script prints how
many there are, and the PWFS ties: those at 0 after a ReLU are common and harmless).
"""

import copy
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_common import case_rng, read_safetensors, write_safetensors  # noqa: E402
from lanmsff_torch import (  # noqa: E402
    LANMSFF,
    KerasBatchNorm2d,
    SeparableConv2dSame,
    export_gradients,
    export_weights,
    import_weights,
    is_state,
    parameter_count,
    pwfs_selection,
)

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden", "lanmsff")
BATCH, SIZE, CLASSES = 4, 64, 8
MOMENTUM = 0.99


def random_weights(rng, shapes):
    """Weights in lanmsff's layouts for {name: shape}, drawn in sorted name order."""
    weights = {}
    for name in sorted(shapes):
        shape, leaf = shapes[name], name.rsplit(".", 1)[-1]
        if leaf == "kernel" and len(shape) == 2:  # Dense (in, out): Glorot-uniform
            limit = np.sqrt(6.0 / (shape[0] + shape[1]))
            value = rng.uniform(-limit, limit, shape)
        elif leaf == "kernel":  # conv (kh, kw, in, out), transposed (kh, kw, out, in), depthwise (kh, kw, C)
            limit = np.sqrt(6.0 / np.prod(shape[:3]))  # He-uniform with Keras' (and lanmsff's) fan-in
            value = rng.uniform(-limit, limit, shape)
        elif leaf in ("bias", "beta", "moving_mean"):
            value = rng.uniform(-0.1, 0.1, shape)
        elif leaf in ("gamma", "moving_variance"):
            value = rng.uniform(0.8, 1.2, shape)
        else:
            raise ValueError(f"no initialiser for parameter '{name}'")
        weights[name] = value.astype(np.float32)
    return weights


def nhwc(t):
    return t.detach().permute(0, 2, 3, 1).contiguous().numpy()


def nchw(a):
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64)).permute(0, 3, 1, 2)


def f32(arrays):
    return {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}


def write(name, tensors, metadata):
    metadata = dict(metadata, generator="tools/make_golden_lanmsff.py", torch=torch.__version__,
                    model=f"LANMSFF<{CLASSES}> {SIZE}x{SIZE}x1")
    path = os.path.join(OUT_DIR, name + ".safetensors")
    write_safetensors(path, tensors, metadata)
    back, _ = read_safetensors(path)  # the writer must round-trip exactly
    assert back.keys() == tensors.keys() and all(np.array_equal(back[k], tensors[k]) for k in tensors), name
    print(f"wrote {os.path.relpath(path)} ({os.path.getsize(path) / 1e6:.2f} MB, {len(tensors)} tensors)")


def pwfs_tie_summary(activations):
    """Counts, per fused block output, the PWFS ties. Only a tie between the median and the min decides where a
    gradient goes (a max/median tie splits it evenly anyway); at 0 it does not matter either, as the ReLU before
    PWFS stops the gradient. Near ties (within 1e-6 of the tensor's scale) are where float32 could rank differently."""
    for block in ("block1", "block2", "block3"):
        x = activations[block].detach()
        values = torch.stack(x.chunk(3, dim=1))
        imax, imedian = pwfs_selection(*values)
        median = values.gather(0, imedian[None])[0]
        minimum = values.gather(0, (3 - imax - imedian)[None])[0]
        ties = (values[0] == values[1]) | (values[0] == values[2]) | (values[1] == values[2])
        routing = (median == minimum) & (median != 0)
        near = ((median - minimum).abs() < 1e-6 * x.abs().max()) & (median != minimum)
        print(f"  PWFS on {block}: {median.numel()} elements, {int(ties.sum())} with tied candidates "
              f"({int((median == minimum).sum())} median/min ties, {int(routing.sum())} of them not at 0), "
              f"{int(near.sum())} near median/min ties")


def near_zero_relu_inputs(weights, x, threshold=1e-5):
    """Counts the BatchNorm outputs (the ReLUs' inputs, directly or after a max pooling) of a training-mode forward
    pass within `threshold` of 0: about float32's rounding error after 20 layers, so float32 may flip their ReLU
    mask and with it the gradients upstream. Why the C++ test checks gradients tightly in double only."""
    model = LANMSFF(CLASSES).double()
    model.set_dropout_rate(0.0)
    import_weights(model, weights)
    counts = {}
    for name, bn in batch_norms(model).items():
        bn.register_forward_hook(
            lambda module, inputs, output, name=name: counts.__setitem__(name, int((output.abs() < threshold).sum())))
    with torch.no_grad():
        model.train()(x)
    print(f"  BatchNorm outputs within {threshold:g} of 0: {sum(counts.values())} in "
          f"{sum(1 for c in counts.values() if c)} of {len(counts)} layers")


def describe_activations(activations, logits):
    for name in ("block1", "block2", "block3", "block4"):
        x = activations[name]
        print(f"  {name}: {tuple(x.shape[1:])} positive {float((x > 0).double().mean()):.2f}, "
              f"mean {float(x.mean()):.3f}, max {float(x.max()):.3f}")
    print(f"  logits: std {float(logits.std()):.3f}, range [{float(logits.min()):.3f}, {float(logits.max()):.3f}]")


def batch_norms(model):
    return {name: m for name, m in model.named_modules() if isinstance(m, KerasBatchNorm2d)}


def biases_feeding_batch_norm(model):
    """Biases of the convolutions that feed a BatchNorm directly: their exact gradient is 0 in training mode."""
    conv_of = {"bn": "conv", "bn1": "conv1", "bn2": "sepconv", "bn3": "conv2"}  # the layer before each BN
    modules = dict(model.named_modules())
    names = []
    for bn_name in batch_norms(model):
        parent, _, leaf = bn_name.rpartition(".")
        conv = f"{parent}.{conv_of[leaf]}"
        names.append(conv + (".pointwise.bias" if isinstance(modules[conv], SeparableConv2dSame) else ".bias"))
    return sorted(names)


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    rng = case_rng("lanmsff")
    model = LANMSFF(CLASSES).double()
    model.set_dropout_rate(0.0)
    shapes = {k: v.shape for k, v in export_weights(model).items()}
    trainable, state = parameter_count(model)
    assert (trainable, state) == (356_451, 2_112), (trainable, state)

    weights = random_weights(rng, shapes)
    import_weights(model, weights)
    train_input = rng.uniform(0.0, 1.0, (BATCH, SIZE, SIZE, 1)).astype(np.float32)
    labels = rng.permutation(CLASSES)[:BATCH].astype(np.int64)
    infer_input = rng.uniform(0.0, 1.0, (BATCH, SIZE, SIZE, 1)).astype(np.float32)

    # ---- training step: logits, loss, gradients, moving statistics --------------------------------------
    print("training step (float64):")
    model.train()
    activations = {}
    logits = model(nchw(train_input), activations)
    loss = F.cross_entropy(logits, torch.from_numpy(labels))
    model.zero_grad()
    loss.backward()
    describe_activations(activations, logits)
    pwfs_tie_summary(activations)
    near_zero_relu_inputs(weights, nchw(train_input))
    after = export_weights(model)
    grads = export_gradients(model)

    # Gradients that vanish in exact arithmetic: judged on their layer's kernel-gradient scale by the test.
    def vanishes(name):
        kernel = name[: -len("bias")] + "kernel"
        return np.abs(grads[name]).max() <= 1e-12 * np.abs(grads[kernel]).max()

    zero = sorted(k for k in grads if k.endswith(".bias") and vanishes(k))
    assert zero == biases_feeding_batch_norm(model), (zero, biases_feeding_batch_norm(model))
    print(f"  {len(zero)} bias gradients are 0 in exact arithmetic (conv biases feeding a training BatchNorm)")

    training = {"input": train_input, "labels": labels, "logits": nhwc(logits[:, :, None, None]),
                "loss": np.asarray([loss.item()], dtype=np.float32)}
    training.update(f32({"grad." + k: v for k, v in grads.items()}))
    training.update(f32({k + ".after": v for k, v in after.items() if is_state(k)}))
    print(f"  loss {loss.item():.6f}, labels {labels.tolist()}")

    # ---- inference: realistic moving statistics (the training batch's, perturbed) --------------------------
    probe = copy.deepcopy(model)
    import_weights(probe, weights)
    for bn in batch_norms(probe).values():
        bn.momentum = 0.0  # the moving statistics become the batch's
    with torch.no_grad():
        probe.train()(nchw(train_input))
    batch_statistics = export_weights(probe)
    moving = {}
    for bn in sorted(batch_norms(probe)):
        mean, variance = batch_statistics[bn + ".moving_mean"], batch_statistics[bn + ".moving_variance"]
        moving[bn + ".moving_mean"] = mean + 0.1 * np.sqrt(variance) * rng.uniform(-1.0, 1.0, mean.shape)
        moving[bn + ".moving_variance"] = variance * rng.uniform(0.8, 1.25, variance.shape)
    moving = f32(moving)
    import_weights(model, {**weights, **moving})
    model.eval()
    print("inference (float64):")
    activations = {}
    with torch.no_grad():
        infer_logits = model(nchw(infer_input), activations)
    describe_activations(activations, infer_logits)
    inference = {"input": infer_input, "logits": nhwc(infer_logits[:, :, None, None]), **moving}

    description = ("LANMSFF weights: He-uniform kernels (Dense Glorot-uniform), biases/beta/moving_mean U(-0.1, 0.1),"
                   " gamma/moving_variance U(0.8, 1.2)")
    write("weights", weights, {"description": description, "trainable": trainable, "state": state})
    write("training", f32(training) | {"labels": labels},
          {"description": "one training step: BN batch statistics, Dropout rate 0, mean softmax cross-entropy",
           "mode": "training", "batch": BATCH, "momentum": MOMENTUM, "zero_gradients": ",".join(zero)})
    write("inference", inference,
          {"description": "inference with the moving statistics stored here (the weights file's otherwise)",
           "mode": "inference", "batch": BATCH})


if __name__ == "__main__":
    main()
