"""Shared helpers for the golden-fixture generators in tools/ (make_golden_*.py).

A minimal safetensors writer and reader in pure Python (json + struct + numpy; Debian's torch 1.13
has no safetensors package), the conversions between lanmsff's layouts (NHWC activations, HWIO
convolution kernels) and PyTorch's (NCHW, OIHW), TensorFlow's 'same' padding rule, and a
per-case random generator seeded from the case name so that every fixture is reproducible on its own.
"""

import json
import struct
import zlib

import numpy as np
import torch

# safetensors dtype names of the numpy types the fixtures use.
_DTYPE_NAMES = {
    np.dtype(np.float64): "F64",
    np.dtype(np.float32): "F32",
    np.dtype(np.int64): "I64",
    np.dtype(np.int32): "I32",
    np.dtype(np.uint8): "U8",
}
_NAME_DTYPES = {name: dtype for dtype, name in _DTYPE_NAMES.items()}


def write_safetensors(path, tensors, metadata=None):
    """Writes {name: numpy array} (and string metadata) as a safetensors file.

    Layout: u64 little-endian header length, the JSON header (padded with spaces to a multiple of
    8 bytes, as the reference implementation does), then the tensors' little-endian bytes in name order.
    """
    header = {}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        array = np.ascontiguousarray(tensors[name])
        if array.dtype not in _DTYPE_NAMES:
            raise TypeError(f"{path}: tensor '{name}' has unsupported dtype {array.dtype}")
        data = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {
            "dtype": _DTYPE_NAMES[array.dtype],
            "shape": list(array.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in sorted(metadata.items())}
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for data in blobs:
            f.write(data)


def read_safetensors(path):
    """Reads a safetensors file back: ({name: numpy array}, metadata dict)."""
    with open(path, "rb") as f:
        raw = f.read()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + length])
    metadata = header.pop("__metadata__", {})
    base = 8 + length
    tensors = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        dtype = _NAME_DTYPES[entry["dtype"]].newbyteorder("<")
        tensors[name] = np.frombuffer(raw[base + begin : base + end], dtype=dtype).reshape(entry["shape"])
    return tensors, metadata


def case_rng(name):
    """A numpy generator seeded from the case name: cases do not shift each other's random numbers."""
    return np.random.default_rng(zlib.crc32(name.encode("utf-8")))


# ---- layouts ----------------------------------------------------------------------------------
def nhwc_to_nchw(x):
    return x.permute(0, 3, 1, 2)


def nchw_to_nhwc(x):
    return x.permute(0, 2, 3, 1)


def hwio_to_oihw(kernel):
    """Conv2D kernel (kh, kw, in, out) -> PyTorch conv2d weight (out, in, kh, kw)."""
    return kernel.permute(3, 2, 0, 1)


def depthwise_to_torch(kernel):
    """DepthwiseConv2D kernel (kh, kw, C) -> PyTorch grouped conv2d weight (C, 1, kh, kw)."""
    return kernel.permute(2, 0, 1).unsqueeze(1)


def transpose_kernel_to_torch(kernel):
    """Conv2DTranspose kernel (kh, kw, out, in) as Keras -> PyTorch conv_transpose2d weight (in, out, kh, kw)."""
    return kernel.permute(3, 2, 0, 1)


# ---- TensorFlow's padding ----------------------------------------------------------------------
def tf_same_padding(size, kernel, stride, dilation=1):
    """(before, after) padding of TF 'same': total max((ceil(n/s)-1)*s + (k-1)*d + 1 - n, 0), smaller half before."""
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def pad_tf_same(x_nchw, kernel, stride, dilation=1):
    """Zero-pads an NCHW tensor as TF 'same' would before a convolution."""
    top, bottom = tf_same_padding(x_nchw.shape[2], kernel, stride, dilation)
    left, right = tf_same_padding(x_nchw.shape[3], kernel, stride, dilation)
    return torch.nn.functional.pad(x_nchw, (left, right, top, bottom))


def shape_string(shape):
    """lanmsff's to_string(Shape): 'HxWxC' for the sample shape of an NHWC array."""
    return "x".join(str(d) for d in shape[1:])
