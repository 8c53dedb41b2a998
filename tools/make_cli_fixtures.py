#!/usr/bin/env python3
"""Writes the tiny image folder of the command-line tool's end-to-end test (tests/cli/run.sh).

tests/data/cli/faces/{train,test}/{class_a,class_b,class_c}/: 16x16 gray PNGs, one simple pattern per
class (horizontal stripes, vertical stripes, a centred bright square), each image with its own
phase and a little seeded noise so that the images of a class differ. Pure Python (zlib + struct),
deterministic: running it again rewrites byte-identical files.

Usage: python3 tools/make_cli_fixtures.py [output-root]   (default: tests/data/cli/faces)
"""
import os
import random
import struct
import sys
import zlib

SIZE = 16
TRAIN_PER_CLASS = 6
TEST_PER_CLASS = 2


def png_gray8(pixels, width, height):
    """PNG bytes of an 8-bit grayscale image given as rows of ints in [0, 255]."""
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes(row) for row in pixels)  # filter type 0 (none) on every row
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit, colour type 0 (gray)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def pattern(name, phase, rng):
    """One SIZE x SIZE image of class `name`; `phase` shifts the pattern, rng adds noise."""
    rows = []
    for y in range(SIZE):
        row = []
        for x in range(SIZE):
            if name == "class_a":    # horizontal stripes, 2 pixels wide
                on = ((y + phase) // 2) % 2 == 0
            elif name == "class_b":  # vertical stripes, 2 pixels wide
                on = ((x + phase) // 2) % 2 == 0
            else:                    # a bright square on a dark ground, shifted by the phase
                lo = 4 + phase % 3 - 1
                on = lo <= x < lo + 8 and lo <= y < lo + 8
            value = (210 if on else 40) + rng.randint(-20, 20)
            row.append(max(0, min(255, value)))
        rows.append(row)
    return rows


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join("tests", "data", "cli", "faces")
    rng = random.Random(2024)
    for split, count in (("train", TRAIN_PER_CLASS), ("test", TEST_PER_CLASS)):
        for name in ("class_a", "class_b", "class_c"):
            folder = os.path.join(root, split, name)
            os.makedirs(folder, exist_ok=True)
            for i in range(count):
                phase = i if split == "train" else i + TRAIN_PER_CLASS
                with open(os.path.join(folder, "%s_%d.png" % (split, i)), "wb") as f:
                    f.write(png_gray8(pattern(name, phase, rng), SIZE, SIZE))


if __name__ == "__main__":
    main()
