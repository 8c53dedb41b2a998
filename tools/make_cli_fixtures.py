#!/usr/bin/env python3
"""Writes the tiny image folders of the command-line tool's end-to-end test (tests/cli/run.sh).

faces/{train,test}/{class_a,class_b,class_c}/: 16x16 gray PNGs, one simple pattern per class
(horizontal stripes, vertical stripes, a centred bright square), each image with its own phase and a
little seeded noise so that the images of a class differ (LANMSFF, 3 classes).

faces_rgb/{train,test}/{anger,...,surprise}/: one 16x16 RGB PNG per class and split, RAF-DB's seven
class names, a coloured pattern per class (MA-Net, which the tool ships for 7 and 8 classes; the
loader upscales them to 224x224).

Pure Python (zlib + struct), deterministic: running it again rewrites byte-identical files.

Usage: python3 tools/make_cli_fixtures.py [output-dir]   (default: tests/data/cli)
"""
import os
import random
import struct
import sys
import zlib

SIZE = 16
TRAIN_PER_CLASS = 6
TEST_PER_CLASS = 2
RGB_CLASSES = ("anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise")


def png8(pixels, width, height, colour_type=0):
    """PNG bytes of an 8-bit image given as rows of ints in [0, 255]: gray (colour type 0, one value
    per pixel) or RGB (colour type 2, three values per pixel, interleaved)."""
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes(row) for row in pixels)  # filter type 0 (none) on every row
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
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


def rgb_pattern(index, phase, rng):
    """One SIZE x SIZE RGB image of class `index`: stripes of a class colour whose period and
    direction depend on the class, shifted by `phase`, with seeded noise. Rows of interleaved RGB."""
    colour = ((220, 60, 60), (60, 200, 60), (60, 60, 220), (220, 200, 60), (200, 200, 200), (60, 200, 200),
              (200, 60, 200))[index]
    period = 2 + index % 3
    rows = []
    for y in range(SIZE):
        row = []
        for x in range(SIZE):
            on = (((x if index % 2 else y) + phase) // period) % 2 == 0
            for c in range(3):
                value = (colour[c] if on else 30) + rng.randint(-15, 15)
                row.append(max(0, min(255, value)))
        rows.append(row)
    return rows


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join("tests", "data", "cli")
    root = os.path.join(out, "faces")
    rng = random.Random(2024)
    for split, count in (("train", TRAIN_PER_CLASS), ("test", TEST_PER_CLASS)):
        for name in ("class_a", "class_b", "class_c"):
            folder = os.path.join(root, split, name)
            os.makedirs(folder, exist_ok=True)
            for i in range(count):
                phase = i if split == "train" else i + TRAIN_PER_CLASS
                with open(os.path.join(folder, "%s_%d.png" % (split, i)), "wb") as f:
                    f.write(png8(pattern(name, phase, rng), SIZE, SIZE))

    rng = random.Random(2025)
    for split, phase in (("train", 0), ("test", 1)):
        for index, name in enumerate(RGB_CLASSES):
            folder = os.path.join(out, "faces_rgb", split, name)
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, "%s_0.png" % split), "wb") as f:
                f.write(png8(rgb_pattern(index, phase, rng), SIZE, SIZE, colour_type=2))


if __name__ == "__main__":
    main()
