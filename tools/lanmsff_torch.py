"""LANMSFF in PyTorch: an independent implementation of include/lanmsff/models/lanmsff.hpp with Keras semantics.

Used as the reference for the whole-model golden fixtures (tools/make_golden_lanmsff.py) and as the PyTorch
peer in benchmarks. It needs only torch and numpy (Debian's python3-torch 1.13 at /usr/bin/python3).

    from lanmsff_torch import LANMSFF, import_weights, export_weights, export_gradients
    model = LANMSFF(classes=8)            # NCHW input (N, 1, 64, 64); works on channels_last tensors too
    logits = model(x)                     # (N, classes), no softmax

With keras_semantics=True (the default) every convention of the Keras reference and of the C++ library holds
exactly: TensorFlow 'same' padding (total max((ceil(n/s)-1)*s + (k-1)*d + 1 - n, 0), the smaller half before);
Conv2DTranspose(k3, s2, 'same') as the full transposed output cropped to its first 2n rows and columns;
BatchNorm with epsilon 1e-3, Keras momentum 0.99 (new = 0.99*old + 0.01*batch) and the BIASED batch variance fed
to the moving variance; PWFS with the tie rule of include/lanmsff/compose/merges.hpp (MaxMedian), applied by
explicit selection so that autograd routes gradients to the same inputs as the C++ backward pass.
With keras_semantics=False the model uses PyTorch's idioms instead (symmetric padding for the stride-2
convolutions, ConvTranspose2d(padding=1, output_padding=1), unbiased moving variance): same parameters and cost,
different numbers; meant for timing a natural PyTorch peer only.

Parameters live in PyTorch's layouts (conv weight OIHW, Linear weight (out, in)); export_weights /
import_weights / export_gradients convert to and from lanmsff's names and layouts: Conv2D kernel (kh, kw, in,
out), depthwise kernel (kh, kw, C), Conv2DTranspose kernel (kh, kw, out, in), Dense kernel (in, out), biases,
BatchNorm gamma / beta / moving_mean / moving_variance, under the dotted names of the C++ model
("block2.twopath.stage1.h.conv.kernel", "classifier.bias", ...).
"""

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def tf_same_padding(size, kernel, stride, dilation=1):
    """(before, after) padding of TensorFlow's 'same' along one axis: the smaller half goes before."""
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def _like(y, x):
    """y in x's memory format (channels_last in, channels_last out)."""
    if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        return y.contiguous(memory_format=torch.channels_last)
    return y


def _he_uniform_(tensor, fan_in):
    limit = math.sqrt(6.0 / fan_in)
    with torch.no_grad():
        tensor.uniform_(-limit, limit)


# ---- layers: each knows its lanmsff names and layouts (LAYOUT: name -> (attribute, to ours, from ours)) ----
# Module-level functions (not lambdas) so that models stay picklable.
def _same(t):
    return t


def _oihw_to_hwio(w):  # also PyTorch's transposed-conv (in, out, kh, kw) -> Keras' (kh, kw, out, in)
    return w.permute(2, 3, 1, 0)


def _hwio_to_oihw(k):
    return k.permute(3, 2, 0, 1)


def _depthwise_to_ours(w):  # (C, 1, kh, kw) -> (kh, kw, C)
    return w[:, 0].permute(1, 2, 0)


def _depthwise_from_ours(k):
    return k.permute(2, 0, 1).unsqueeze(1)


def _transpose(w):  # Linear (out, in) <-> Dense (in, out)
    return w.t()


_IDENTITY = (_same, _same)


class Conv2dSame(nn.Module):
    """Keras Conv2D / DepthwiseConv2D with 'same' padding (groups == in_channels: depthwise, multiplier 1)."""

    def __init__(self, in_channels, filters, kernel, stride=1, dilation=1, depthwise=False, bias=True,
                 keras_semantics=True):
        super().__init__()
        self.kernel, self.stride, self.dilation = kernel, stride, dilation
        self.groups = in_channels if depthwise else 1
        self.keras_semantics = keras_semantics
        self.weight = nn.Parameter(torch.empty(filters, in_channels // self.groups, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(filters)) if bias else None
        _he_uniform_(self.weight, kernel * kernel * in_channels)  # Keras' fan-in, also for depthwise kernels
        kernel_layout = (_depthwise_to_ours, _depthwise_from_ours) if depthwise else (_oihw_to_hwio, _hwio_to_oihw)
        self.LAYOUT = {"kernel": ("weight", *kernel_layout)}
        if bias:
            self.LAYOUT["bias"] = ("bias", *_IDENTITY)

    def forward(self, x):
        reach = (self.kernel - 1) * self.dilation
        if self.stride == 1 and reach % 2 == 0 or not self.keras_semantics:
            padding = reach // 2  # symmetric: identical to TF 'same' for stride 1 and an odd reach
        else:
            top, bottom = tf_same_padding(x.shape[2], self.kernel, self.stride, self.dilation)
            left, right = tf_same_padding(x.shape[3], self.kernel, self.stride, self.dilation)
            x, padding = F.pad(x, (left, right, top, bottom)), 0
        return F.conv2d(x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)


class SeparableConv2dSame(nn.Module):
    """Keras SeparableConv2D: depthwise k x k (no bias) then pointwise 1 x 1 (with bias)."""

    def __init__(self, in_channels, filters, kernel, dilation=1, keras_semantics=True):
        super().__init__()
        self.depthwise = Conv2dSame(in_channels, in_channels, kernel, 1, dilation, depthwise=True, bias=False,
                                    keras_semantics=keras_semantics)
        self.pointwise = Conv2dSame(in_channels, filters, 1, keras_semantics=keras_semantics)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


class ConvTranspose2dSame(nn.Module):
    """Keras Conv2DTranspose with 'same' padding: in*stride outputs, the full (2n+1 for k3 s2) output cropped."""

    def __init__(self, in_channels, filters, kernel, stride, keras_semantics=True):
        super().__init__()
        self.kernel, self.stride, self.keras_semantics = kernel, stride, keras_semantics
        self.weight = nn.Parameter(torch.empty(in_channels, filters, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(filters))
        _he_uniform_(self.weight, kernel * kernel * filters)  # Keras: fan-in of a (kh, kw, out, in) kernel
        # PyTorch (in, out, kh, kw) <-> Keras (kh, kw, out, in): the same permutation as OIHW <-> HWIO.
        self.LAYOUT = {"kernel": ("weight", _oihw_to_hwio, _hwio_to_oihw), "bias": ("bias", *_IDENTITY)}

    def forward(self, x):
        h, w = x.shape[2] * self.stride, x.shape[3] * self.stride
        if not self.keras_semantics:
            pad = (self.kernel - 1) // 2
            return F.conv_transpose2d(x, self.weight, self.bias, self.stride, pad, self.stride - 1)
        full = F.conv_transpose2d(x, self.weight, self.bias, self.stride)
        # TF places the output where the forward 'same' convolution's padding starts (0 for k3 s2 on even sizes).
        top, left = tf_same_padding(h, self.kernel, self.stride)[0], tf_same_padding(w, self.kernel, self.stride)[0]
        return full[:, :, top : top + h, left : left + w]


class Dense(nn.Module):
    """Keras Dense on (N, in) features: weight (out, in) here, kernel (in, out) in lanmsff."""

    def __init__(self, in_features, units):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(units, in_features))
        self.bias = nn.Parameter(torch.zeros(units))
        limit = math.sqrt(6.0 / (in_features + units))  # Glorot-uniform
        with torch.no_grad():
            self.weight.uniform_(-limit, limit)
        self.LAYOUT = {"kernel": ("weight", _transpose, _transpose), "bias": ("bias", *_IDENTITY)}

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)


class KerasBatchNorm2d(nn.Module):
    """BatchNorm over channels as Keras: eps 1e-3, moving = momentum*moving + (1-momentum)*batch (momentum 0.99),
    the moving variance fed with the biased batch variance (PyTorch's BatchNorm2d feeds the unbiased one)."""

    def __init__(self, channels, momentum=0.99, epsilon=1e-3, keras_semantics=True):
        super().__init__()
        self.momentum, self.epsilon, self.keras_semantics = momentum, epsilon, keras_semantics
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))
        self.register_buffer("moving_mean", torch.zeros(channels))
        self.register_buffer("moving_variance", torch.ones(channels))
        self.LAYOUT = {name: (name, *_IDENTITY) for name in ("gamma", "beta", "moving_mean", "moving_variance")}

    def forward(self, x):
        if not self.training:
            return F.batch_norm(x, self.moving_mean, self.moving_variance, self.gamma, self.beta, False, 0.0,
                                self.epsilon)
        # Normalisation with the batch's biased variance (autograd through F.batch_norm is exact) ...
        y = F.batch_norm(x, None, None, self.gamma, self.beta, True, 0.0, self.epsilon)
        # ... and the moving statistics updated separately, with the variance Keras uses.
        with torch.no_grad():
            variance, mean = torch.var_mean(x, dim=(0, 2, 3), unbiased=not self.keras_semantics)
            self.moving_mean.mul_(self.momentum).add_((1 - self.momentum) * mean)
            self.moving_variance.mul_(self.momentum).add_((1 - self.momentum) * variance)
        return y


class Dropout(nn.Module):
    """Inverted dropout; `rate` can be changed at run time (0 disables it, as the golden fixtures need)."""

    def __init__(self, rate):
        super().__init__()
        self.rate = rate

    def forward(self, x):
        return F.dropout(x, self.rate, self.training) if self.rate > 0 else x


# ---- parameter-free operations ---------------------------------------------------------------------------
def channel_shuffle(x, groups=2):
    """ShuffleNet's shuffle on the channel axis: reshape C -> (groups, C/groups), transpose, flatten
    (output channel j = input channel (j % groups) * C/groups + j // groups, as lanmsff's ChannelShuffle)."""
    n, c, h, w = x.shape
    y = x.reshape(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)
    return _like(y, x)


def _select(index, a, b, c):
    """a, b or c per element as index is 0, 1 or 2; autograd sends each element's gradient to the chosen one."""
    return torch.where(index == 0, a, torch.where(index == 1, b, c))


def pwfs_selection(a, b, c):
    """Indices (0, 1, 2 for a, b, c) of the max and the median per element, by MaxMedian's tie rule
    (compose/merges.hpp): the max is the lowest-indexed of the largest values; of the other two, the smaller is
    the min, the higher index on a tie; the remaining one is the median."""
    with torch.no_grad():
        b_wins = b > a
        imax = torch.where(b_wins, 1, 0)
        imax = torch.where(c > torch.where(b_wins, b, a), 2, imax)
        first = torch.where(imax == 0, 1, 0)  # the two others, first < second
        second = torch.where(imax == 2, 1, 2)
        imedian = torch.where(_select(first, a, b, c) >= _select(second, a, b, c), first, second)
    return imax, imedian


def pwfs(x):
    """Point-wise feature selection: channels split into three contiguous groups a, b, c -> (max + median) / 2."""
    a, b, c = x.chunk(3, dim=1)
    imax, imedian = pwfs_selection(a, b, c)
    # Selecting by index (not max/median arithmetic) sends the gradient exactly where the C++ backward does.
    return (_select(imax, a, b, c) + _select(imedian, a, b, c)) * 0.5


# ---- blocks ------------------------------------------------------------------------------------------------
class ConvBnReLU(nn.Module):
    def __init__(self, conv, channels, keras_semantics=True):
        super().__init__()
        self.conv = conv
        self.bn = KerasBatchNorm2d(channels, keras_semantics=keras_semantics)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class TwoPathStage(nn.Module):
    """An "H" (3x3) and an "L" (3x3, dilation 2) path, F/2 filters each, concatenated. With split_input, the
    H path sees the first half of the channels and the L path the second half; otherwise both see everything."""

    def __init__(self, in_channels, half, separable=False, split_input=False, keras_semantics=True):
        super().__init__()
        self.split_input = split_input
        path_in = in_channels // 2 if split_input else in_channels

        def path(dilation):
            k = dict(dilation=dilation, keras_semantics=keras_semantics)
            conv = SeparableConv2dSame(path_in, half, 3, **k) if separable else Conv2dSame(path_in, half, 3, **k)
            return ConvBnReLU(conv, half, keras_semantics)

        self.h = path(1)
        self.l = path(2)

    def forward(self, x):
        xh, xl = x.chunk(2, dim=1) if self.split_input else (x, x)
        return torch.cat([self.h(xh), self.l(xl)], dim=1)


class TwoPath(nn.Module):
    """LANMSFF's multi-scale extraction: channel shuffle (2 groups), then three H/L stages (see docs/models.md)."""

    def __init__(self, in_channels, filters, keras_semantics=True):
        super().__init__()
        half, k = filters // 2, dict(keras_semantics=keras_semantics)
        self.stage1 = TwoPathStage(in_channels, half, split_input=True, **k)
        self.stage2 = TwoPathStage(filters, half, separable=True, **k)
        self.stage3 = TwoPathStage(filters, half, **k)

    def forward(self, x):
        return self.stage3(self.stage2(self.stage1(channel_shuffle(x, 2))))


class MassAttChannel(nn.Module):
    def __init__(self, channels, ratio):
        super().__init__()
        self.dense1 = Dense(channels, channels // ratio)
        self.dense2 = Dense(channels // ratio, channels)

    def forward(self, x):
        s = torch.sigmoid(self.dense2(F.relu(self.dense1(x.mean(dim=(2, 3))))))
        return s[:, :, None, None]


class MassAttSpatial(nn.Module):
    def __init__(self, keras_semantics=True):
        super().__init__()
        k = dict(keras_semantics=keras_semantics)
        self.conv1 = Conv2dSame(1, 2, 3, stride=2, **k)
        self.conv2 = Conv2dSame(2, 4, 3, stride=2, **k)
        self.deconv1 = ConvTranspose2dSame(4, 4, 3, 2, **k)
        self.deconv2 = ConvTranspose2dSame(4, 1, 3, 2, **k)

    def forward(self, x):
        s = F.relu(self.conv1(x.mean(dim=1, keepdim=True)))
        s = F.relu(self.deconv1(F.relu(self.conv2(s))))
        return torch.sigmoid(self.deconv2(s))


class MassAtt(nn.Module):
    """The attention map A = channel map (N, C, 1, 1) * spatial map (N, 1, H, W); the block computes x * A."""

    def __init__(self, channels, ratio=4, keras_semantics=True):
        super().__init__()
        self.channel = MassAttChannel(channels, ratio)
        self.spatial = MassAttSpatial(keras_semantics)

    def forward(self, x):
        return self.channel(x) * self.spatial(x)


class ConvBlock(nn.Module):
    """Blocks 1 and 3: Conv BN ReLU, SepConv BN ReLU, Conv BN, MaxPool 2, ReLU, Dropout."""

    def __init__(self, in_channels, filters, dropout_rate, keras_semantics=True):
        super().__init__()
        k = dict(keras_semantics=keras_semantics)
        self.conv1 = Conv2dSame(in_channels, filters, 3, **k)
        self.bn1 = KerasBatchNorm2d(filters, **k)
        self.sepconv = SeparableConv2dSame(filters, filters, 3, **k)
        self.bn2 = KerasBatchNorm2d(filters, **k)
        self.conv2 = Conv2dSame(filters, filters, 3, **k)
        self.bn3 = KerasBatchNorm2d(filters, **k)
        self.dropout = Dropout(dropout_rate)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.sepconv(x)))
        x = self.bn3(self.conv2(x))
        return self.dropout(F.relu(F.max_pool2d(x, 2)))


class AttentionBlock(nn.Module):
    """Blocks 2 and 4: TwoPath, x * MassAtt(x), Conv1x1 BN, MaxPool 2, ReLU, Dropout."""

    def __init__(self, in_channels, filters, dropout_rate, keras_semantics=True):
        super().__init__()
        k = dict(keras_semantics=keras_semantics)
        self.twopath = TwoPath(in_channels, filters, **k)
        self.massatt = MassAtt(filters, 4, **k)
        self.conv = Conv2dSame(filters, filters, 1, **k)
        self.bn = KerasBatchNorm2d(filters, **k)
        self.dropout = Dropout(dropout_rate)

    def forward(self, x):
        x = self.twopath(x)
        x = x * self.massatt(x)
        x = self.bn(self.conv(x))
        return self.dropout(F.relu(F.max_pool2d(x, 2)))


class LANMSFF(nn.Module):
    """The LANMSFF network (Ezati et al., arXiv 2403.14318): NCHW input (N, channels, H, W), H and W divisible by
    32; output logits (N, classes). 356,451 trainable parameters for 64x64x1 inputs and 8 classes."""

    def __init__(self, classes=8, in_channels=1, dropout_rate=0.4, keras_semantics=True):
        super().__init__()
        k = dict(keras_semantics=keras_semantics)
        self.block1 = ConvBlock(in_channels, 66, dropout_rate, **k)
        self.block2 = AttentionBlock(66, 72, dropout_rate, **k)
        self.block3 = ConvBlock(72, 78, dropout_rate, **k)
        self.block4 = AttentionBlock(78, 84, dropout_rate, **k)
        self.classifier = Dense(66 // 3 + 72 // 3 + 78 // 3 + 84, classes)

    def set_dropout_rate(self, rate):
        for module in self.modules():
            if isinstance(module, Dropout):
                module.rate = rate

    def forward(self, x, activations=None):
        """Logits. If `activations` is a dict, it receives every block's output and the fused features (NCHW)."""
        b1 = self.block1(x)
        b2 = self.block2(b1)
        b3 = self.block3(b2)
        b4 = self.block4(b3)
        features = torch.cat([pwfs(b1).mean(dim=(2, 3)), pwfs(b2).mean(dim=(2, 3)), pwfs(b3).mean(dim=(2, 3)),
                              b4.mean(dim=(2, 3))], dim=1)
        if activations is not None:
            activations.update(block1=b1, block2=b2, block3=b3, block4=b4, features=features)
        return self.classifier(features)


# ---- lanmsff names and layouts -------------------------------------------------------------------------------
def _entries(model):
    """(lanmsff name, module, attribute, to ours, from ours) for every parameter and moving statistic."""
    for path, module in model.named_modules():
        for suffix, (attribute, to_ours, from_ours) in getattr(module, "LAYOUT", {}).items():
            yield (f"{path}.{suffix}" if path else suffix), module, attribute, to_ours, from_ours


def is_state(name):
    """True for BatchNorm moving statistics (non-trainable state), False for trainable parameters."""
    return name.rsplit(".", 1)[-1] in ("moving_mean", "moving_variance")


def export_weights(model):
    """{lanmsff name: numpy array in lanmsff's layout} of every parameter and moving statistic (model's dtype)."""
    return {name: to_ours(getattr(module, attribute).detach()).contiguous().cpu().numpy()
            for name, module, attribute, to_ours, _ in _entries(model)}


def export_gradients(model):
    """{lanmsff name: gradient in lanmsff's layout} of every trainable parameter (zeros where autograd left none)."""
    grads = {}
    for name, module, attribute, to_ours, _ in _entries(model):
        if is_state(name):
            continue
        p = getattr(module, attribute)
        g = p.grad if p.grad is not None else torch.zeros_like(p)
        grads[name] = to_ours(g.detach()).contiguous().cpu().numpy()
    return grads


def import_weights(model, tensors):
    """Sets every parameter and moving statistic from {lanmsff name: array in lanmsff's layout}.

    The names must match the model's exactly, both ways, and every shape must be the model's; otherwise
    ValueError lists every difference and the model is unchanged."""
    entries = list(_entries(model))
    problems = [f"missing: {name}" for name, *_ in entries if name not in tensors]
    known = {name for name, *_ in entries}
    problems += [f"unexpected: {name}" for name in tensors if name not in known]
    converted = []
    for name, module, attribute, to_ours, from_ours in entries:
        if name not in tensors:
            continue
        target = getattr(module, attribute)
        expected = tuple(to_ours(target.detach()).shape)
        value = torch.from_numpy(np.array(tensors[name]))  # a copy: the caller's array stays untouched
        if tuple(value.shape) != expected:
            problems.append(f"shape: {name} is {tuple(value.shape)}, the model's is {expected}")
            continue
        converted.append((target, from_ours(value).to(dtype=target.dtype, device=target.device)))
    if problems:
        raise ValueError("weights do not match the LANMSFF model:\n  " + "\n  ".join(problems))
    with torch.no_grad():
        for target, value in converted:
            target.copy_(value)


def parameter_count(model):
    """(trainable, state): element counts as lanmsff's Network::parameter_count() reports them."""
    weights = export_weights(model)
    trainable = sum(v.size for k, v in weights.items() if not is_state(k))
    return trainable, sum(v.size for k, v in weights.items() if is_state(k))
