#!/usr/bin/python3
"""Golden fixtures for every lanmsff layer, merge and the loss, computed by PyTorch (an independent framework).

Rerun (from the repository root or anywhere; Debian's python3-torch 1.13, not a pyenv python):
    /usr/bin/python3 tools/make_golden_layers.py
It rewrites tests/golden/layers/<case>.safetensors, which tests/test_golden_layers.cpp compares against in
double and in float. The output is deterministic: every case draws from its own generator seeded by its name.

Each fixture holds, in lanmsff's layouts (activations NHWC; Conv2D kernel (kh, kw, in, out); depthwise kernel
(kh, kw, C); Conv2DTranspose kernel (kh, kw, out, in); Dense kernel (in, out)), all stored as F64:
    input (merges: input.0, input.1, ...)   parameters under lanmsff's names (kernel, bias, gamma, ...)
    output   grad_output (random)   grad_input (merges: grad_input.i)   grad.<parameter>
    <statistic>.after for BatchNorm's moving statistics after a training step.
Gradients are those of the scalar sum(output * grad_output). Loss fixtures hold input (logits), labels (I64),
class_weights / label_smoothing when used, loss and grad_input (dLoss/dlogits).
The metadata names the C++ layer, the mode (training / inference), the batch and the sample shapes.

PyTorch is driven in float64 with explicit emulation where conventions differ: TF 'same' padding is an explicit
F.pad (smaller half before), Keras' BatchNorm moving statistics (momentum 0.99, biased variance) are computed
by hand, and MaxMedian's tie rule (compose/merges.hpp) is implemented with explicit index logic.
"""

import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_common import (  # noqa: E402
    case_rng,
    depthwise_to_torch,
    hwio_to_oihw,
    nchw_to_nhwc,
    nhwc_to_nchw,
    pad_tf_same,
    read_safetensors,
    shape_string,
    tf_same_padding,
    transpose_kernel_to_torch,
    write_safetensors,
)

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden", "layers")
written = []


def uniform(rng, shape, lo=-1.0, hi=1.0):
    return rng.uniform(lo, hi, size=shape)


def save_case(name, rng, layer, description, forward, inputs, params=None, state=None, mode="training"):
    """Runs forward on float64 leaves in lanmsff's layouts, backpropagates sum(output * grad_output), writes the case.

    inputs / params: {name: array} that receive gradients; state: {name: array} that do not (moving statistics).
    forward(t) gets every tensor by name and returns the output, or (output, {extra name: tensor}).
    """
    params, state = params or {}, state or {}
    leaves = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in {**inputs, **params}.items()}
    tensors = dict(leaves)
    tensors.update({k: torch.tensor(v, dtype=torch.float64) for k, v in state.items()})
    result = forward(tensors)
    output, extras = result if isinstance(result, tuple) else (result, {})
    grad_output = uniform(rng, tuple(output.shape))
    objective = (output * torch.from_numpy(grad_output)).sum()
    grads = torch.autograd.grad(objective, list(leaves.values()), allow_unused=True)

    out = {k: np.asarray(v, dtype=np.float64) for k, v in {**inputs, **params, **state}.items()}
    out["output"] = output.detach().numpy()
    out["grad_output"] = grad_output
    for (key, leaf), grad in zip(leaves.items(), grads):
        grad = torch.zeros_like(leaf) if grad is None else grad
        out[key.replace("input", "grad_input", 1) if key in inputs else "grad." + key] = grad.numpy()
    for key, value in extras.items():
        out[key] = value.detach().numpy()

    first = next(iter(inputs.values()))
    metadata = {
        "description": description,
        "layer": layer,
        "mode": mode,
        "batch": first.shape[0],
        "input_shapes": ",".join(shape_string(v.shape) for v in inputs.values()),
        "output_shape": shape_string(out["output"].shape),
    }
    write(name, out, metadata)


def write(name, tensors, metadata):
    metadata = dict(metadata, generator="tools/make_golden_layers.py", torch=torch.__version__)
    path = os.path.join(OUT_DIR, name + ".safetensors")
    write_safetensors(path, tensors, metadata)
    back, _ = read_safetensors(path)  # the writer must round-trip exactly
    assert all(np.array_equal(back[k], np.asarray(v)) for k, v in tensors.items()), name
    written.append(path)


# ---- convolutions ------------------------------------------------------------------------------------
def padded(x, padding, kernel, stride, dilation):
    """NCHW input padded by lanmsff's Padding: 'same' (TF), 'valid', or an int (symmetric, as PyTorch)."""
    if padding == "same":
        return pad_tf_same(x, kernel, stride, dilation)
    if padding == "valid":
        return x
    return F.pad(x, (padding,) * 4)


def conv2d_case(name, layer, shape, filters, kernel, stride=1, dilation=1, padding="same", bias=True, batch=2):
    rng = case_rng(name)
    inputs = {"input": uniform(rng, (batch, *shape))}
    params = {"kernel": uniform(rng, (kernel, kernel, shape[2], filters), -0.5, 0.5)}
    if bias:
        params["bias"] = uniform(rng, (filters,), -0.5, 0.5)

    def forward(t):
        x = padded(nhwc_to_nchw(t["input"]), padding, kernel, stride, dilation)
        y = F.conv2d(x, hwio_to_oihw(t["kernel"]), t.get("bias"), stride=stride, dilation=dilation)
        return nchw_to_nhwc(y)

    description = f"Conv2D {filters} filters {kernel}x{kernel} stride {stride} dilation {dilation} padding {padding}"
    save_case(name, rng, layer, description + ("" if bias else " no bias"), forward, inputs, params)


def depthwise_case(name, layer, shape, kernel, stride=1, dilation=1, batch=2):
    rng = case_rng(name)
    inputs = {"input": uniform(rng, (batch, *shape))}
    params = {"kernel": uniform(rng, (kernel, kernel, shape[2]), -0.5, 0.5)}

    def forward(t):
        x = pad_tf_same(nhwc_to_nchw(t["input"]), kernel, stride, dilation)
        y = F.conv2d(x, depthwise_to_torch(t["kernel"]), stride=stride, dilation=dilation, groups=shape[2])
        return nchw_to_nhwc(y)

    description = f"DepthwiseConv2D {kernel}x{kernel} stride {stride} dilation {dilation} 'same', no bias"
    save_case(name, rng, layer, description, forward, inputs, params)


def separable_case(name, layer, shape, filters, kernel, dilation=1, batch=2):
    rng = case_rng(name)
    inputs = {"input": uniform(rng, (batch, *shape))}
    params = {
        "depthwise.kernel": uniform(rng, (kernel, kernel, shape[2]), -0.5, 0.5),
        "pointwise.kernel": uniform(rng, (1, 1, shape[2], filters), -0.5, 0.5),
        "pointwise.bias": uniform(rng, (filters,), -0.5, 0.5),
    }

    def forward(t):
        x = pad_tf_same(nhwc_to_nchw(t["input"]), kernel, 1, dilation)
        x = F.conv2d(x, depthwise_to_torch(t["depthwise.kernel"]), dilation=dilation, groups=shape[2])
        return nchw_to_nhwc(F.conv2d(x, hwio_to_oihw(t["pointwise.kernel"]), t["pointwise.bias"]))

    description = f"SeparableConv2D {filters} filters {kernel}x{kernel} dilation {dilation} 'same'"
    save_case(name, rng, layer, description, forward, inputs, params)


def transpose_case(name, layer, shape, filters, kernel, stride, padding, batch=2):
    rng = case_rng(name)
    inputs = {"input": uniform(rng, (batch, *shape))}
    params = {
        "kernel": uniform(rng, (kernel, kernel, filters, shape[2]), -0.5, 0.5),
        "bias": uniform(rng, (filters,), -0.5, 0.5),
    }

    def forward(t):
        full = F.conv_transpose2d(nhwc_to_nchw(t["input"]), transpose_kernel_to_torch(t["kernel"]), t["bias"], stride)
        if padding == "same":  # TF: the output is in*stride, starting at the 'same' padding of that forward conv
            h, w = shape[0] * stride, shape[1] * stride
            top, left = tf_same_padding(h, kernel, stride)[0], tf_same_padding(w, kernel, stride)[0]
            full = full[:, :, top : top + h, left : left + w]
        return nchw_to_nhwc(full)

    description = f"Conv2DTranspose {filters} filters {kernel}x{kernel} stride {stride} '{padding}'"
    save_case(name, rng, layer, description, forward, inputs, params)


# ---- BatchNorm -------------------------------------------------------------------------------------------
def batch_norm_inputs(rng, shape, batch):
    c = shape[2]
    x = rng.normal(rng.uniform(-2, 2, c), rng.uniform(0.3, 2.0, c), size=(batch, *shape))
    params = {"gamma": uniform(rng, (c,), 0.5, 1.5), "beta": uniform(rng, (c,), -0.5, 0.5)}
    state = {"moving_mean": uniform(rng, (c,), -0.5, 0.5), "moving_variance": uniform(rng, (c,), 0.5, 2.0)}
    return {"input": x}, params, state


def keras_batch_norm_case(name, layer, shape, batch, training):
    rng = case_rng(name)
    inputs, params, state = batch_norm_inputs(rng, shape, batch)
    momentum, eps = 0.99, 1e-3

    def forward(t):
        x = nhwc_to_nchw(t["input"])
        if not training:
            y = F.batch_norm(x, t["moving_mean"], t["moving_variance"], t["gamma"], t["beta"], False, 0.0, eps)
            return nchw_to_nhwc(y)
        y = F.batch_norm(x, None, None, t["gamma"], t["beta"], True, 0.0, eps)
        data = t["input"].detach()
        mean, variance = data.mean(dim=(0, 1, 2)), data.var(dim=(0, 1, 2), unbiased=False)  # Keras: biased
        return nchw_to_nhwc(y), {
            "moving_mean.after": momentum * t["moving_mean"] + (1 - momentum) * mean,
            "moving_variance.after": momentum * t["moving_variance"] + (1 - momentum) * variance,
        }

    mode = "training" if training else "inference"
    description = f"BatchNorm (Keras: momentum 0.99, eps 1e-3, biased moving variance), {mode}"
    save_case(name, rng, layer, description, forward, inputs, params, state, mode)


def torch_batch_norm_case(name, layer, shape, batch, momentum):
    rng = case_rng(name)
    inputs, params, state = batch_norm_inputs(rng, shape, batch)

    def forward(t):
        running_mean, running_var = t["moving_mean"].clone(), t["moving_variance"].clone()
        x = nhwc_to_nchw(t["input"])
        y = F.batch_norm(x, running_mean, running_var, t["gamma"], t["beta"], True, momentum, 1e-5)
        return nchw_to_nhwc(y), {"moving_mean.after": running_mean, "moving_variance.after": running_var}

    description = f"TorchBatchNorm (PyTorch BatchNorm2d: momentum {momentum}, eps 1e-5, unbiased running var), training"
    save_case(name, rng, layer, description, forward, inputs, params, state)


# ---- parameter-free layers -------------------------------------------------------------------------------
def simple_case(name, layer, description, x, forward, mode="training"):
    """A parameter-free layer on input x; grad_output comes from a second generator, as x was drawn by the caller."""
    rng = case_rng(name + ".grad")
    save_case(name, rng, layer, description, lambda t: forward(t["input"]), {"input": x}, mode=mode)


def max_pool(kernel, stride, padding=0):
    """PyTorch's max pooling on NHWC data (padding acts as -inf; ties go to the first maximum)."""
    return lambda v: nchw_to_nhwc(F.max_pool2d(nhwc_to_nchw(v), kernel, stride, padding=padding))


def elementwise_and_pooling_cases():
    rng = case_rng("relu")
    x = uniform(rng, (2, 5, 4, 3))
    x.reshape(-1)[::7] = 0.0  # exact zeros: the gradient there is 0
    simple_case("relu", "ReLU", "ReLU with exact zeros in the input", x, torch.relu)

    rng = case_rng("sigmoid")
    x = uniform(rng, (2, 3, 4, 5), -6, 6)
    x.reshape(-1)[:6] = [30.0, -30.0, 45.0, -45.0, 0.0, -12.5]  # saturated tails must not overflow
    simple_case("sigmoid", "Sigmoid", "Sigmoid, including saturated inputs", x, torch.sigmoid)

    x = uniform(case_rng("softmax"), (2, 2, 3, 6), -3, 3)
    simple_case("softmax", "Softmax", "Softmax over channels at every position", x, lambda v: F.softmax(v, dim=-1))

    # Values on a 1/4 grid: many windows hold tied maxima; the gradient goes to the first in row-major order.
    x = np.round(uniform(case_rng("max_pool_2x2"), (2, 6, 5, 3)) * 4) / 4
    description = "MaxPool 2x2 stride 2 'valid' (odd width: last column dropped), with ties"
    simple_case("max_pool_2x2", "MaxPool<2>", description, x, max_pool(2, 2))

    x = uniform(case_rng("max_pool_3x3_s2_pad1"), (2, 7, 6, 3))
    x[1] = -np.abs(x[1]) - 0.1  # all negative: padding must act as -inf, not 0
    description = "MaxPool 3x3 stride 2 padding 1 (PyTorch), one all-negative sample"
    simple_case("max_pool_3x3_s2_pad1", "MaxPool<3, 2, pad(1)>", description, x, max_pool(3, 2, padding=1))

    x = uniform(case_rng("global_avg_pool"), (2, 4, 3, 5))
    simple_case("global_avg_pool", "GlobalAvgPool", "GlobalAvgPool", x, lambda v: v.mean(dim=(1, 2), keepdim=True))
    x = uniform(case_rng("global_max_pool"), (2, 4, 3, 5))
    simple_case("global_max_pool", "GlobalMaxPool", "GlobalMaxPool", x, lambda v: v.amax(dim=(1, 2), keepdim=True))

    x = uniform(case_rng("flatten"), (2, 3, 2, 5))
    simple_case("flatten", "Flatten", "Flatten in NHWC order", x, lambda v: v.reshape(v.shape[0], 1, 1, -1))
    x = uniform(case_rng("dropout_inference"), (2, 3, 4, 5))
    simple_case("dropout_inference", "Dropout<0.4>", "Dropout in inference: the identity", x, lambda v: v * 1.0,
                mode="inference")


def channel_cases():
    x = uniform(case_rng("channel_shuffle"), (2, 3, 2, 8))

    def shuffle(v, groups=2):  # reshape C -> (groups, C/groups), transpose, flatten
        n, h, w, c = v.shape
        return v.reshape(n, h, w, groups, c // groups).transpose(3, 4).reshape(n, h, w, c)

    simple_case("channel_shuffle", "ChannelShuffle<2>", "ChannelShuffle with 2 groups", x, shuffle)
    x = uniform(case_rng("split_1_of_2"), (2, 3, 2, 6))
    simple_case("split_1_of_2", "Split<1, 2>", "second half of the channels", x, lambda v: v[..., 3:6])
    x = uniform(case_rng("split_1_of_3"), (2, 2, 3, 9))
    simple_case("split_1_of_3", "Split<1, 3>", "middle third of the channels", x, lambda v: v[..., 3:6])
    x = uniform(case_rng("channel_mean"), (2, 4, 3, 5))
    simple_case("channel_mean", "ChannelMean", "mean over channels", x, lambda v: v.mean(dim=-1, keepdim=True))
    x = uniform(case_rng("channel_max"), (2, 4, 3, 5))
    simple_case("channel_max", "ChannelMax", "max over channels", x, lambda v: v.amax(dim=-1, keepdim=True))
    x = uniform(case_rng("crop"), (2, 5, 6, 3))
    simple_case("crop", "Crop<1, 2, 3, 2>", "rows 1..3, columns 2..3", x, lambda v: v[:, 1:4, 2:4, :])


def dense_case(name, layer, shape, units, batch):
    rng = case_rng(name)
    inputs = {"input": uniform(rng, (batch, *shape))}
    params = {"kernel": uniform(rng, (shape[2], units), -0.7, 0.7), "bias": uniform(rng, (units,), -0.5, 0.5)}

    def forward(t):  # F.linear acts on the last (channel) axis, at every position
        return F.linear(t["input"], t["kernel"].t(), t["bias"])

    save_case(name, rng, layer, f"Dense {units} units on {shape_string((batch, *shape))}", forward, inputs, params)


# ---- merges ----------------------------------------------------------------------------------------------
def merge_case(name, layer, description, arrays, forward):
    """A merge of arrays (input.0, input.1, ...); forward takes them as positional arguments."""
    inputs = {f"input.{i}": a for i, a in enumerate(arrays)}
    save_case(name, case_rng(name + ".grad"), layer, description, lambda t: forward(*(t[k] for k in inputs)), inputs)


def max_median_indices(a, b, c):
    """The tie rule of compose/merges.hpp: the max is the lowest index among the largest values; of the two
    others the smaller value is the min, the higher index on a tie; the remaining one is the median."""
    values = (a, b, c)
    top = 0
    for i in (1, 2):
        if values[i] > values[top]:
            top = i
    low, high = [i for i in range(3) if i != top]
    minimum = high if values[high] <= values[low] else low
    median = low if minimum == high else high
    return top, median


def max_median(a, b, c):
    stacked = torch.stack([a, b, c])
    flat = stacked.detach().reshape(3, -1).numpy()
    picks = np.array([max_median_indices(*flat[:, e]) for e in range(flat.shape[1])]).T  # (2, elements)
    index = torch.from_numpy(picks).reshape(2, *a.shape)
    out = 0.5 * (stacked.gather(0, index[:1]) + stacked.gather(0, index[1:])).squeeze(0)
    ordered = stacked.detach().sort(dim=0).values  # the value does not depend on the tie rule
    assert torch.allclose(out.detach(), 0.5 * (ordered[2] + ordered[1]), rtol=0, atol=1e-15)
    return out


def merge_cases():
    rng = case_rng("concat_channels")
    arrays = [uniform(rng, (2, 3, 2, c)) for c in (2, 3, 4)]
    merge_case("concat_channels", "Concat<>", "concatenation of 2, 3, 4 channels", arrays, lambda *v: torch.cat(v, -1))

    rng = case_rng("add")
    arrays = [uniform(rng, (2, 3, 4, 2)) for _ in range(3)]
    merge_case("add", "Add", "sum of three inputs", arrays, lambda a, b, c: a + b + c)

    rng = case_rng("multiply_broadcast")
    arrays = [uniform(rng, (2, 1, 1, 4)), uniform(rng, (2, 3, 2, 1)), uniform(rng, (2, 3, 2, 4))]
    merge_case("multiply_broadcast", "Multiply", "1x1xC * HxWx1 * HxWxC", arrays, lambda a, b, c: a * b * c)
    rng = case_rng("multiply_attention_map")
    arrays = [uniform(rng, (2, 1, 1, 4)), uniform(rng, (2, 3, 2, 1))]
    merge_case("multiply_attention_map", "Multiply", "1x1xC * HxWx1 (MassAtt's map)", arrays, lambda a, b: a * b)

    rng = case_rng("tile_grid")
    arrays = [uniform(rng, (2, 2, 3, 2)) for _ in range(4)]

    def tile(a, b, c, d):  # row by row: a b / c d
        return torch.cat([torch.cat([a, b], 2), torch.cat([c, d], 2)], 1)

    merge_case("tile_grid", "TileGrid<2, 2>", "four 2x3 cells tiled row by row", arrays, tile)

    # Post-ReLU-like values on a 1/8 grid (many zeros and exact ties), then every tie pattern on purpose.
    rng = case_rng("max_median")
    arrays = [np.maximum(np.round(uniform(rng, (2, 3, 4, 2), -0.5, 1.0) * 8) / 8, 0.0) for _ in range(3)]
    patterns = [(0, 0, 0), (0.5, 0.5, 0.1), (0.1, 0.5, 0.5), (0.5, 0.1, 0.5), (0.25, 0.25, 0.75), (0.75, 0.25, 0.25),
                (0.25, 0.75, 0.25), (0, 0, 0.375), (0.375, 0, 0), (0, 0.375, 0), (-0.25, 0, -0.25), (1, 2, 3)]
    for e, pattern in enumerate(patterns):
        for i in range(3):
            arrays[i].reshape(-1)[e] = pattern[i]
    merge_case("max_median", "MaxMedian", "PWFS selection (max + median) / 2 with deliberate ties", arrays, max_median)


# ---- loss -----------------------------------------------------------------------------------------------
def loss_case(name, classes, batch, class_weights=None, label_smoothing=0.0):
    """SoftmaxCrossEntropy as train/loss.hpp defines it: sum_n w[y_n] * CE(q_n, softmax(z_n)) / sum_n w[y_n]
    with q_n = (1 - eps) * onehot(y_n) + eps / K."""
    rng = case_rng(name)
    logits = uniform(rng, (batch, 1, 1, classes), -3, 3)
    labels = rng.integers(0, classes, size=batch)
    z = torch.tensor(logits, requires_grad=True)
    y = torch.from_numpy(labels)
    weights = torch.tensor([1.0] * classes if class_weights is None else class_weights, dtype=torch.float64)
    flat = z.reshape(batch, classes)
    target = (1 - label_smoothing) * F.one_hot(y, classes).double() + label_smoothing / classes
    per_sample = -(target * F.log_softmax(flat, dim=1)).sum(dim=1)
    loss = (weights[y] * per_sample).sum() / weights[y].sum()
    if class_weights is None or label_smoothing == 0:  # PyTorch's own loss agrees where its conventions match ours
        reference = F.cross_entropy(flat, y, weight=None if class_weights is None else weights,
                                    label_smoothing=label_smoothing)
        assert abs(reference.item() - loss.item()) < 1e-12, name
    (grad,) = torch.autograd.grad(loss, z)
    tensors = {"input": logits, "labels": labels.astype(np.int64), "loss": np.array([loss.item()]),
               "grad_input": grad.numpy()}
    if class_weights is not None:
        tensors["class_weights"] = np.asarray(class_weights, dtype=np.float64)
    if label_smoothing:
        tensors["label_smoothing"] = np.array([label_smoothing])
    description = f"SoftmaxCrossEntropy, class weights {class_weights}, label smoothing {label_smoothing}"
    metadata = {"description": description, "layer": "SoftmaxCrossEntropy", "mode": "training", "batch": batch,
                "input_shapes": shape_string(logits.shape)}
    write(name, tensors, metadata)


def main():
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    os.makedirs(OUT_DIR, exist_ok=True)

    conv2d_case("conv2d_same_s1", "Conv2D<4, 3>", (6, 5, 3), 4, 3)
    conv2d_case("conv2d_same_s2", "Conv2D<4, 3, 2>", (7, 6, 3), 4, 3, stride=2)
    conv2d_case("conv2d_same_dilation2", "Conv2D<3, 3, 1, 2>", (6, 7, 2), 3, 3, dilation=2)
    conv2d_case("conv2d_same_even_kernel", "Conv2D<3, 4>", (5, 6, 2), 3, 4)
    conv2d_case("conv2d_same_even_kernel_s2", "Conv2D<3, 4, 2>", (7, 8, 2), 3, 4, stride=2)
    conv2d_case("conv2d_valid", "Conv2D<3, 3, 1, 1, valid>", (6, 5, 2), 3, 3, padding="valid")
    conv2d_case("conv2d_valid_s2", "Conv2D<2, 3, 2, 1, valid>", (7, 6, 2), 2, 3, stride=2, padding="valid")
    conv2d_case("conv2d_stem_7x7_s2_pad3", "TorchConv2D<3, 7, 2>", (9, 8, 2), 3, 7, stride=2, padding=3, bias=False)
    conv2d_case("conv2d_1x1_s2", "TorchConv2D<4, 1, 2, 0>", (5, 6, 3), 4, 1, stride=2, padding=0, bias=False)

    depthwise_case("depthwise_s1", "DepthwiseConv2D<3>", (6, 5, 4), 3)
    depthwise_case("depthwise_s2", "DepthwiseConv2D<3, 2>", (7, 6, 4), 3, stride=2)
    depthwise_case("depthwise_dilation2", "DepthwiseConv2D<3, 1, 2>", (6, 6, 3), 3, dilation=2)
    separable_case("separable", "SeparableConv2D<5, 3>", (6, 5, 4), 5, 3)
    separable_case("separable_dilation2", "SeparableConv2D<4, 3, 1, 2>", (7, 6, 3), 4, 3, dilation=2)

    transpose_case("conv2d_transpose_same", "Conv2DTranspose<3, 3, 2>", (3, 4, 2), 3, 3, 2, "same")
    transpose_case("conv2d_transpose_same_1filter", "Conv2DTranspose<1, 3, 2>", (3, 3, 4), 1, 3, 2, "same")
    transpose_case("conv2d_transpose_valid", "Conv2DTranspose<2, 3, 2, valid>", (3, 4, 2), 2, 3, 2, "valid")

    keras_batch_norm_case("batch_norm_training", "BatchNorm<>", (4, 3, 5), 3, training=True)
    keras_batch_norm_case("batch_norm_inference", "BatchNorm<>", (4, 3, 5), 2, training=False)
    torch_batch_norm_case("torch_batch_norm_training", "TorchBatchNorm<>", (3, 4, 6), 2, 0.1)
    torch_batch_norm_case("torch_batch_norm_momentum_001", "TorchBatchNorm<0.01>", (3, 3, 4), 2, 0.01)

    elementwise_and_pooling_cases()
    dense_case("dense_1x1", "Dense<4>", (1, 1, 6), 4, batch=3)
    dense_case("dense_every_position", "Dense<3>", (3, 2, 5), 3, batch=2)
    channel_cases()
    merge_cases()

    loss_case("loss_plain", 5, 4)
    loss_case("loss_class_weights", 5, 6, class_weights=[0.5, 2.0, 1.0, 1.5, 0.8])
    loss_case("loss_label_smoothing", 5, 4, label_smoothing=0.1)
    loss_case("loss_class_weights_label_smoothing", 5, 6, class_weights=[0.5, 2.0, 1.0, 1.5, 0.8], label_smoothing=0.2)

    total = sum(os.path.getsize(p) for p in written)
    print(f"wrote {len(written)} fixtures, {total / 1024:.1f} KiB, to {os.path.relpath(OUT_DIR)}")


if __name__ == "__main__":
    main()
