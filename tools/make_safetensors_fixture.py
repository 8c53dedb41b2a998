#!/usr/bin/python3
"""Writes the safetensors fixtures of tests/test_safetensors.cpp with an implementation independent of
lanmsff's: plain json + numpy, following the format description of huggingface/safetensors (8-byte
little-endian header length, compact JSON header padded with spaces to a multiple of 8, raw data).

Usage: /usr/bin/python3 tools/make_safetensors_fixture.py   (from the repository root)
"""
import json
import pathlib
import struct

import numpy as np

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data" / "safetensors"


def safetensors_bytes(tensors, metadata=None):
    """tensors: list of (name, dtype string, shape, raw little-endian bytes), written in that order."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = dict(sorted(metadata.items()))
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def numpy_tensor(name, dtype, array):
    array = np.asarray(array)
    return (name, dtype, array.shape, array.astype(array.dtype.newbyteorder("<")).tobytes())


def bfloat16_tensor(name, values):
    """numpy has no bfloat16: the top 16 bits of float32 (values chosen to be exact in bfloat16)."""
    bits = (np.asarray(values, dtype="<f4").view("<u4") >> 16).astype("<u2")
    assert np.array_equal((bits.astype("<u4") << 16).view("<f4"), np.asarray(values, dtype="<f4"))
    return (name, "BF16", bits.shape, bits.tobytes())


def dtypes_fixture():
    """Every dtype the reader supports, with values the test knows by heart; stored out of name order."""
    return safetensors_bytes(
        [
            numpy_tensor("i64", "I64", np.array([[-(2**63), 2**63 - 1], [0, -1]], dtype=np.int64)),
            numpy_tensor("f32", "F32", np.array([[0.0, 1.5, -2.25], [3.4028235e38, 1e-45, -0.0]], dtype=np.float32)),
            numpy_tensor("f64", "F64", np.array([0.1, -1e300, 2.5], dtype=np.float64)),
            numpy_tensor("f16", "F16", np.array([1.0, -2.5, 65504.0, 2.0**-24, np.inf, np.nan], dtype=np.float16)),
            bfloat16_tensor("bf16", [1.0, -3.5, 0.15625, 2.0**100]),
            numpy_tensor("i32", "I32", np.array([-(2**31), 2**31 - 1, 7], dtype=np.int32)),
            numpy_tensor("i16", "I16", np.array([-32768, 32767], dtype=np.int16)),
            numpy_tensor("i8", "I8", np.array([-128, 127, -1], dtype=np.int8)),
            numpy_tensor("u8", "U8", np.array([[0, 255], [17, 128]], dtype=np.uint8)),
            numpy_tensor("u16", "U16", np.array([65535], dtype=np.uint16)),
            numpy_tensor("u32", "U32", np.array([4294967295], dtype=np.uint32)),
            numpy_tensor("u64", "U64", np.array([2**64 - 1], dtype=np.uint64)),
            numpy_tensor("bool", "BOOL", np.array([True, False, True])),
            numpy_tensor("scalar", "F32", np.array(42.5, dtype=np.float32)),
            numpy_tensor("empty", "F32", np.zeros((0, 3), dtype=np.float32)),
        ],
        metadata={"format": "pt", "note": "h\u00e9llo \u2713"},
    )


def writer_reference():
    """What SafetensorsWriter must produce byte for byte for the calls in the test."""
    return safetensors_bytes(
        [
            numpy_tensor("block1.conv1.kernel", "F32", np.array([[1.0, -2.5], [3.25, 1e-3]], dtype=np.float32)),
            numpy_tensor("from_double", "F32", np.array([0.1, -1e-30, 2.5], dtype=np.float64).astype(np.float32)),
            numpy_tensor("wide", "F64", np.array([0.1, -1e300, 2.5], dtype=np.float64)),
            numpy_tensor("step", "I64", np.array([-3, 2**40], dtype=np.int64)),
            numpy_tensor("scalar", "F32", np.array(7.0, dtype=np.float32)),
            numpy_tensor("empty", "F32", np.zeros((0,), dtype=np.float32)),
            numpy_tensor('quote " and \u00e9', "F32", np.array([0.5], dtype=np.float32)),
        ],
        metadata={"z": "last", "a": "1"},
    )


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    for name, data in (("dtypes.safetensors", dtypes_fixture()), ("writer_reference.safetensors", writer_reference())):
        (OUT / name).write_bytes(data)
        print(f"{OUT / name}: {len(data)} bytes")
