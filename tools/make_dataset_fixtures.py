#!/usr/bin/python3
"""Writes the small data-set and image fixtures under tests/data/datasets/ that
tests/test_image.cpp, tests/test_datasets.cpp and tests/test_augment.cpp read.

Every file is produced independently of lanmsff: PNG and BMP by the writers below (zlib + struct),
JPEG by libjpeg-turbo's cjpeg (Debian: libjpeg-turbo-progs), the bilinear-resize reference by
PyTorch's F.interpolate(mode='bilinear', align_corners=False, antialias=False). Output is
deterministic (fixed seeds, gzip mtime 0). Run: /usr/bin/python3 tools/make_dataset_fixtures.py
"""

import gzip
import os
import shutil
import struct
import subprocess
import tempfile
import zlib

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "datasets")


def path(*parts):
    p = os.path.join(ROOT, *parts)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    return p


def write_bytes(p, data):
    with open(path(p), "wb") as f:
        f.write(data)


def write_text(p, text, newline="\n"):
    with open(path(p), "w", newline=newline) as f:
        f.write(text)


# ---- images ------------------------------------------------------------------------------------

def png_bytes(pixels, bit_depth=8):
    """pixels: H x W (gray), H x W x 2 (gray+alpha), x3 (RGB) or x4 (RGBA) array of ints."""
    a = np.asarray(pixels)
    if a.ndim == 2:
        a = a[:, :, None]
    h, w, c = a.shape
    color_type = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    dtype = ">u2" if bit_depth == 16 else "u1"
    raw = b"".join(b"\x00" + a[y].astype(dtype).tobytes() for y in range(h))

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9)) +
            chunk(b"IEND", b""))


def bmp_bytes(rgb):
    """24-bit BMP, bottom-up rows padded to 4 bytes, BGR order."""
    a = np.asarray(rgb, dtype=np.uint8)
    h, w, _ = a.shape
    row_size = (w * 3 + 3) // 4 * 4
    rows = b""
    for y in reversed(range(h)):
        row = a[y][:, ::-1].tobytes()
        rows += row + b"\x00" * (row_size - len(row))
    header = struct.pack("<2sIHHI", b"BM", 14 + 40 + len(rows), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, len(rows), 2835, 2835, 0, 0)
    return header + info + rows


def jpeg_bytes(pixels, progressive=False):
    """Baseline (or progressive: several scans, Huffman tables between them) JPEG through cjpeg at quality
    100 without chroma subsampling."""
    a = np.asarray(pixels, dtype=np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "in.pnm")
        with open(src, "wb") as f:
            if a.ndim == 2:
                f.write(b"P5 %d %d 255\n" % (a.shape[1], a.shape[0]) + a.tobytes())
            else:
                f.write(b"P6 %d %d 255\n" % (a.shape[1], a.shape[0]) + a.tobytes())
        mode = ["-progressive", "-optimize"] if progressive else ["-baseline"]
        return subprocess.run(["cjpeg", "-quality", "100", "-sample", "1x1", *mode, src],
                              check=True, capture_output=True).stdout


def flat(h, w, color):
    return np.tile(np.asarray(color, dtype=np.uint8), (h, w, 1))


def make_images():
    # 3 rows x 5 columns: odd width exercises BMP row padding; no symmetry hides a transposition.
    gray = np.array([[0, 10, 20, 30, 40], [50, 60, 70, 80, 90], [100, 110, 120, 130, 255]])
    rgb = np.stack([gray, 255 - gray, (gray * 3) % 256], axis=2)
    rgba = np.concatenate([rgb, np.full((3, 5, 1), 77)], axis=2)
    write_bytes("images/gray_3x5.png", png_bytes(gray))
    write_bytes("images/rgb_3x5.png", png_bytes(rgb))
    write_bytes("images/rgba_3x5.png", png_bytes(rgba))
    write_bytes("images/gray16_3x5.png", png_bytes(gray * 256 + 128, bit_depth=16))  # stb keeps the high byte
    write_bytes("images/rgb_3x5.bmp", bmp_bytes(rgb))
    # 8x8 JPEG, left half one colour, right half another (block-aligned, so decoders agree closely).
    jpg = np.concatenate([flat(8, 4, (200, 40, 40)), flat(8, 4, (30, 160, 90))], axis=1)
    write_bytes("images/two_colours_8x8.jpg", jpeg_bytes(jpg))
    write_bytes("images/two_colours_8x8_progressive.jpg", jpeg_bytes(jpg, progressive=True))
    write_bytes("images/corrupt.png", png_bytes(gray)[:40])      # cut inside IDAT
    write_text("images/not_an_image.png", "this is text, not a PNG\n")
    write_bytes("images/empty.png", b"")


def make_resize_reference():
    """Bilinear resize cases; each: 'H W C OH OW', the input HWC values, PyTorch's output HWC values."""
    rng = np.random.default_rng(20240318)
    cases = [(3, 5, 2, 7, 4), (6, 6, 1, 4, 4), (4, 3, 1, 8, 6), (5, 5, 3, 3, 7), (2, 9, 1, 5, 2)]
    lines = ["# bilinear resize, half-pixel centres: torch.nn.functional.interpolate(x, size=(OH, OW),",
             "# mode='bilinear', align_corners=False, antialias=False), torch " + torch.__version__ + ".",
             "# Per case: H W C OH OW / input H*W*C values (HWC order) / output OH*OW*C values (HWC order)."]
    for h, w, c, oh, ow in cases:
        x = rng.random((h, w, c)).astype(np.float32)
        y = F.interpolate(torch.from_numpy(x).permute(2, 0, 1)[None], size=(oh, ow), mode="bilinear",
                          align_corners=False, antialias=False)[0].permute(1, 2, 0).numpy()
        lines.append("%d %d %d %d %d" % (h, w, c, oh, ow))
        lines.append(" ".join("%.9g" % v for v in x.ravel()))
        lines.append(" ".join("%.9g" % v for v in y.ravel()))
    write_text("resize_bilinear_torch.txt", "\n".join(lines) + "\n")


# ---- IDX ---------------------------------------------------------------------------------------

def idx_bytes(array, type_code=0x08):
    a = np.asarray(array, dtype=np.uint8)
    return bytes([0, 0, type_code, a.ndim]) + b"".join(struct.pack(">I", d) for d in a.shape) + a.tobytes()


def gz(data):
    return gzip.compress(data, compresslevel=9, mtime=0)


def make_idx():
    # 5 train and 3 test images of 4 rows x 3 columns; pixel (n, y, x) = 30n + 10y + x (n counts on
    # from the train images into the test images).
    def images(n, offset):
        return np.array([[[30 * (k + offset) + 10 * y + x for x in range(3)] for y in range(4)] for k in range(n)])
    train_x, train_y = images(5, 0), np.array([9, 0, 3, 3, 7])
    test_x, test_y = images(3, 5), np.array([1, 2, 0])
    files = {"train-images-idx3-ubyte": idx_bytes(train_x), "train-labels-idx1-ubyte": idx_bytes(train_y),
             "t10k-images-idx3-ubyte": idx_bytes(test_x), "t10k-labels-idx1-ubyte": idx_bytes(test_y)}
    for name, data in files.items():
        write_bytes("idx_plain/" + name, data)
        write_bytes("idx_gz/" + name + ".gz", gz(data))
    good_images, good_labels = files["train-images-idx3-ubyte"], files["train-labels-idx1-ubyte"]
    write_bytes("idx_bad/bad_magic/train-images-idx3-ubyte", b"\x01\x02" + good_images[2:])
    write_bytes("idx_bad/bad_magic/train-labels-idx1-ubyte", good_labels)
    write_bytes("idx_bad/truncated/train-images-idx3-ubyte", good_images[:-7])
    write_bytes("idx_bad/truncated/train-labels-idx1-ubyte", good_labels)
    write_bytes("idx_bad/count_mismatch/train-images-idx3-ubyte", good_images)
    write_bytes("idx_bad/count_mismatch/train-labels-idx1-ubyte", idx_bytes(train_y[:4]))
    write_bytes("idx_bad/float_type/train-images-idx3-ubyte", idx_bytes(train_x, type_code=0x0D))
    write_bytes("idx_bad/float_type/train-labels-idx1-ubyte", good_labels)
    compressed = gz(good_images)
    write_bytes("idx_bad/truncated_gz/train-images-idx3-ubyte.gz", compressed[: len(compressed) // 2])
    write_bytes("idx_bad/truncated_gz/train-labels-idx1-ubyte.gz", gz(good_labels))


# ---- FER-2013 and FERPlus ------------------------------------------------------------------------

def face(row):
    """A 48x48 face for row `row`: single-digit pattern (keeps the CSV small) with marked corners."""
    y, x = np.mgrid[0:48, 0:48]
    a = (x + 2 * y + row) % 10
    a[0, 0] = 100 + row
    a[47, 47] = 255 - row
    a[0, 47] = 200
    return a


def pixels_field(a):
    return " ".join(str(v) for v in np.asarray(a).ravel())


FER_ROWS = [(0, "Training"), (3, "Training"), (6, "PublicTest"), (5, "PrivateTest"), (2, "Training")]


def make_fer2013():
    kaggle = ["emotion,pixels,Usage"] + ["%d,%s,%s" % (e, pixels_field(face(r)), u)
                                         for r, (e, u) in enumerate(FER_ROWS)]
    write_text("fer2013/fer2013.csv", "\n".join(kaggle) + "\n")
    # icml_face_data.csv variant: other column order, blanks after commas, quoted pixels, CRLF.
    icml = ["emotion, Usage, pixels"] + ['%d, %s, "%s"' % (e, u, pixels_field(face(r)))
                                         for r, (e, u) in enumerate(FER_ROWS)]
    write_text("fer2013/icml_face_data.csv", "\r\n".join(icml) + "\r\n", newline="")

    zeros = pixels_field(np.zeros((48, 48), dtype=int))
    good = "0," + zeros + ",Training"
    short = " ".join(["0"] * 2303)
    bad = {
        "wrong_pixel_count.csv": ["emotion,pixels,Usage", good, "1," + short + ",Training"],
        "non_numeric.csv": ["emotion,pixels,Usage", good, good, "2," + zeros[:100] + "1a" + zeros[101:] + ",Training"],
        "pixel_out_of_range.csv": ["emotion,pixels,Usage", "3," + "256" + zeros[1:] + ",PublicTest"],
        "label_out_of_range.csv": ["emotion,pixels,Usage", "7," + zeros + ",Training"],
        "unknown_usage.csv": ["emotion,pixels,Usage", good, "4," + zeros + ",Validation"],
        "missing_field.csv": ["emotion,pixels,Usage", "5," + zeros],
        "no_pixels_column.csv": ["emotion,image,Usage", good],
    }
    for name, rows in bad.items():
        write_text("fer2013_bad/" + name, "\n".join(rows) + "\n")


# (Usage, Image name, 10 vote counts) and what the majority rule makes of it.
FERPLUS_ROWS = [
    ("Training", "fer0000000.png", [4, 0, 0, 1, 3, 2, 0, 0, 0, 0]),    # after outliers 4 of 9: excluded
    ("Training", "fer0000001.png", [6, 0, 1, 1, 0, 0, 0, 0, 2, 0]),    # 6 of 8: neutral (0)
    ("Training", "", [0, 10, 0, 0, 0, 0, 0, 0, 0, 0]),                 # no image name: excluded
    ("PublicTest", "fer0000003.png", [0, 0, 0, 0, 0, 0, 0, 0, 3, 7]),  # NF wins: excluded
    ("PublicTest", "fer0000004.png", [0, 0, 6, 0, 0, 0, 4, 0, 0, 0]),  # 6 of 10: surprise (2)
    ("PrivateTest", "fer0000005.png", [0, 0, 0, 0, 0, 0, 0, 10, 0, 0]),  # contempt (7)
    ("Training", "fer0000006.png", [1, 1, 0, 8, 0, 0, 0, 0, 0, 0]),    # 8 of 8: sadness (3)
]
FERPLUS_HEADER = "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"


def make_ferplus():
    pixels = ["emotion,pixels,Usage"] + ["%d,%s,%s" % (r % 7, pixels_field(face(10 + r)), u)
                                         for r, (u, _, _) in enumerate(FERPLUS_ROWS)]
    write_text("ferplus/fer2013.csv", "\n".join(pixels) + "\n")

    def votes_line(usage, name, votes):
        return ",".join([usage, name] + [str(v) for v in votes])

    votes = [FERPLUS_HEADER] + [votes_line(*row) for row in FERPLUS_ROWS]
    write_text("ferplus/fer2013new.csv", "\n".join(votes) + "\n")
    # Malformed vote files, read against ferplus/fer2013.csv (LoadOptions::fer2013_csv).
    mismatch = list(votes)
    mismatch[5] = votes_line("Training", *FERPLUS_ROWS[4][1:])  # line 6: pixels file says PublicTest
    write_text("ferplus_bad/usage_mismatch.csv", "\n".join(mismatch) + "\n")
    write_text("ferplus_bad/too_few_rows.csv", "\n".join(votes[:5]) + "\n")
    write_text("ferplus_bad/too_many_rows.csv", "\n".join(votes + [votes_line(*FERPLUS_ROWS[0])]) + "\n")
    bad_vote = list(votes)
    bad_vote[2] = bad_vote[2].replace(",6,", ",six,", 1)  # line 3
    write_text("ferplus_bad/bad_vote.csv", "\n".join(bad_vote) + "\n")
    write_text("ferplus_bad/missing_column.csv", FERPLUS_HEADER.replace(",contempt", "") + "\n")


# ---- KDEF and image folders ----------------------------------------------------------------------

# Flat 8x6 (H x W) colour per expression, far apart so JPEG decoding cannot confuse them.
KDEF_COLOURS = {"AF": (250, 20, 20), "AN": (20, 250, 20), "DI": (20, 20, 250), "HA": (250, 250, 20),
                "NE": (128, 128, 128), "SA": (20, 250, 250), "SU": (250, 20, 250)}
KDEF_FILES = ["AF01/AF01ANS.JPG", "AF01/AF01HAFL.JPG", "AF01/AF01SUHR.JPG", "BF01/BF01NEHL.JPG",
              "AM02/AM02DIS.JPG", "AM02/AM02AFFR.JPG", "AF03/AF03SAS.JPG", "AF03/af03has.jpg",
              "AM04/AM04NES.JPG", "AM04/AM04ANHL.JPG"]


def make_kdef():
    for name in KDEF_FILES:
        code = os.path.basename(name)[4:6].upper()
        write_bytes("kdef/" + name, jpeg_bytes(flat(8, 6, KDEF_COLOURS[code])))
    write_text("kdef/AF01/notes.txt", "not an image: ignored\n")
    write_bytes("kdef_bad_name/AF01/AF01ANS.JPG", jpeg_bytes(flat(8, 6, KDEF_COLOURS["AN"])))
    write_bytes("kdef_bad_name/AF01/AF01XXS.JPG", jpeg_bytes(flat(8, 6, KDEF_COLOURS["AN"])))
    write_bytes("kdef_corrupt/AF01/AF01ANS.JPG", jpeg_bytes(flat(8, 6, KDEF_COLOURS["AN"]))[:60])


def make_folders():
    g = lambda v: np.full((4, 4), v)
    # train/ and test/ share classes; bird/ exists only in test/, so labels must come from both.
    write_bytes("folder/train/cat/a.png", png_bytes(g(10)))
    write_bytes("folder/train/cat/b.jpg", jpeg_bytes(flat(4, 4, (90, 90, 90))))
    write_bytes("folder/train/dog/c.bmp", bmp_bytes(flat(4, 4, (200, 100, 50))))
    write_bytes("folder/test/bird/f.png", png_bytes(g(240)))
    write_bytes("folder/test/cat/d.png", png_bytes(g(30)))
    write_bytes("folder/test/dog/e.jpg", jpeg_bytes(flat(4, 4, (160, 160, 160))))
    write_bytes("folder_flat/a/1.png", png_bytes(flat(4, 4, (255, 0, 0))))
    write_bytes("folder_flat/b/2.png", png_bytes(g(0)))
    write_bytes("folder_flat/b/sub/3.bmp", bmp_bytes(flat(4, 4, (0, 0, 255))))
    write_text("folder_flat/README.txt", "files that are not images are not samples\n")
    write_text("folder_flat/b/.hidden.png", "hidden files are not looked at\n")
    write_bytes("folder_bad/cls/ok.png", png_bytes(g(1)))
    write_bytes("folder_bad/cls/broken.png", png_bytes(g(1))[:45])
    write_bytes("folder_sizes/cls/a.png", png_bytes(g(50)))
    write_bytes("folder_sizes/cls/b.png", png_bytes(np.full((5, 5), 60)))


def main():
    if shutil.which("cjpeg") is None:
        raise SystemExit("cjpeg not found (Debian: apt-get install libjpeg-turbo-progs)")
    if os.path.isdir(ROOT):
        shutil.rmtree(ROOT)
    make_images()
    make_resize_reference()
    make_idx()
    make_fer2013()
    make_ferplus()
    make_kdef()
    make_folders()
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(ROOT) for f in fs)
    print("wrote %s (%.1f KB)" % (os.path.normpath(ROOT), total / 1024))


if __name__ == "__main__":
    main()
