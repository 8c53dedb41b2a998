#!/usr/bin/env python3
"""Writes the hand-made seed inputs of the fuzz targets to tests/fuzz/corpus/<target>/ (small, valid or
nearly valid examples of each format, so that fuzzing starts deep in each parser). The targets' other
seeds are the test fixtures of their format (tests/fuzz/CMakeLists.txt). Inputs a fuzzing run found
worth keeping, and every input that once crashed, are committed there too (named crash-* / kept-*).

Usage: python3 tools/make_fuzz_seeds.py      (from the repository root; standard library only)
"""
import gzip
import json
import pathlib
import struct

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "fuzz" / "corpus"
IMAGES = ROOT / "tests" / "data" / "datasets" / "images"


def write(target, name, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())


def safetensors(tensors, metadata=None):
    header, blob = {}, b""
    for name, dtype, shape, payload in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(blob), len(blob) + len(payload)]}
        blob += payload
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + blob


def main():
    write("safetensors", "seed-f32.safetensors",
          safetensors([("a.kernel", "F32", [2, 2], struct.pack("<4f", 1, -2, 3.5, 0))], {"model": "lanmsff"}))
    write("safetensors", "seed-dtypes.safetensors",
          safetensors([("h", "F16", [2], b"\x00\x3c\x00\xc0"), ("b", "BF16", [1], b"\x80\x3f"),
                       ("d", "F64", [1], struct.pack("<d", 0.25)), ("e", "F32", [0], b"")]))

    labels = struct.pack(">I", 0x00000801) + struct.pack(">I", 3) + bytes([0, 9, 4])
    images = struct.pack(">I", 0x00000803) + struct.pack(">3I", 2, 2, 3) + bytes(range(12))
    write("idx", "seed-labels-idx1-ubyte", labels)
    write("idx", "seed-images-idx3-ubyte", images)
    write("idx", "seed-images-idx3-ubyte.gz", gzip.compress(images, mtime=0))

    row = " ".join(str((i * 7) % 256) for i in range(48 * 48))
    write("fer2013", "seed-kaggle.csv", f"emotion,pixels,Usage\n3,{row},Training\n6,{row},PublicTest\n")
    write("fer2013", "seed-icml.csv", f"emotion, Usage, pixels\n0,PrivateTest,{row}\n")

    write("ferplus", "seed-votes.csv",
          "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF\n"
          "Training,fer0000000.png,4,0,0,1,3,2,0,0,0,0\nTraining,,0,0,0,0,0,0,0,0,0,10\n")

    for name in ["AF01ANS.JPG", "bm35suhr.jpeg", "AF01AFFL.JPG", "BF12NEHL.jpg"]:
        write("kdef_names", "seed-" + name.replace(".", "-"), name)

    write("image", "seed-gray-2x2.pgm", b"P5\n2 2\n255\n" + bytes([0, 64, 128, 255]))

    # image_folder records: [where][length][bytes]; where % 3 = split, (where / 3) % 4 = class, (where / 12) % 4
    # = extension (0 .png, 1 .jpg, 2 .bmp, 3 .txt).
    def record(where, payload):
        assert len(payload) < 256
        return bytes([where, len(payload)]) + payload
    gray = (IMAGES / "gray_3x5.png").read_bytes()
    rgb = (IMAGES / "rgb_3x5.png").read_bytes()
    bmp = (IMAGES / "rgb_3x5.bmp").read_bytes()
    write("image_folder", "seed-flat", record(0, gray) + record(3, rgb) + record(6 + 24, bmp))
    write("image_folder", "seed-splits", record(1, gray) + record(2, rgb) + record(4, gray) + record(5, rgb) +
          record(1 + 36, b"notes") + record(9, gray))
    write("image_folder", "seed-corrupt", record(0, gray) + record(3, (IMAGES / "corrupt.png").read_bytes()))


if __name__ == "__main__":
    main()
