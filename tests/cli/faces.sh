#!/usr/bin/env bash
# End-to-end test of the face front end in the `lanmsff` tool, on real photos: `predict` on a group
# photo (text, --json, --csv, --annotate, --explain), a photo without a face (its own line, exit status
# 3), a corrupt file among good ones (reported, the others predicted, exit status 1), folders walked
# recursively, --faces aligned (face crops, as before), `prepare-faces` on a class tree, and a video
# (CSV per frame and face with tracked ids, an annotated video). The whole pipeline's CSV and JSON with
# a small trained model (tests/data/faces/lanmsff_3class.safetensors: LANMSFF trained by the tool for
# 2 epochs on tests/data/cli/faces, seed 5) are compared with tests/cli/expected/faces_photos.csv and
# faces_photo.json: byte for byte, or, where another compiler or instruction set rounds a float
# differently, every field equal but the probabilities and scores, which must agree within 1e-4. (The
# expected files are the output of the two predict commands below, run in tests/.)
# Photos: tests/data/faces, and Debian's facedetect package (a portrait, a landscape without a face).
# Usage: tests/cli/faces.sh path/to/lanmsff [python3 with cv2]     (ctest: faces_end_to_end)
set -euo pipefail

if [[ $# -lt 1 ]]; then
  echo "usage: $0 path/to/lanmsff [python3]" >&2
  exit 2
fi
TOOL=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
PYTHON=${2:-python3}
TESTS=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PHOTOS=$TESTS/data/faces
FACEDETECT=/usr/share/doc/facedetect/examples
PORTRAIT=$FACEDETECT/grace_hopper_512x512.jpg
LANDSCAPE=$FACEDETECT/640px-IceBlockNearJoekullsarlon.jpg
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lanmsff-faces.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[[ -f $PORTRAIT && -f $LANDSCAPE ]] || fail "the photos of Debian's facedetect package are missing (apt-get install facedetect)"
"$PYTHON" -c "import cv2" 2>/dev/null || fail "$PYTHON cannot import cv2 (Debian: python3-opencv)"

lanmsff() { "$TOOL" --threads 2 "$@"; }
py() { "$PYTHON" -c "$1" "${@:2}" || fail "check failed: $1"; }

# ---- the small trained model (3 classes, 64x64 gray) -------------------------------------------------
FACES=$TESTS/data/cli/faces
W=$PHOTOS/lanmsff_3class.safetensors
GROUP=$PHOTOS/2007_007763.jpg
THREE=$PHOTOS/2008_001322.jpg

# ---- the whole pipeline's output against the expected files -----------------------------------------
# compare_output EXPECTED ACTUAL: byte for byte, or equal up to float rounding of the numbers that a
# network computes (probabilities, scores: 1e-4); the boxes and landmarks must be equal.
compare_output() {
  if cmp -s "$1" "$2"; then
    return 0
  fi
  "$PYTHON" - "$1" "$2" <<'PYEOF' || fail "$2 differs from $1: $(diff "$1" "$2" | head -5)"
import csv, json, sys
expected, actual = sys.argv[1], sys.argv[2]
# JSON: the same structure and values, but a score or a probability may differ by 1e-4.
def same(x, y, loose=False):
    if isinstance(x, dict):
        return isinstance(y, dict) and x.keys() == y.keys() and all(
            same(x[k], y[k], loose or k in ("score", "probabilities")) for k in x)
    if isinstance(x, list):
        return isinstance(y, list) and len(x) == len(y) and all(same(u, v, loose) for u, v in zip(x, y))
    if loose and isinstance(x, (int, float)) and isinstance(y, (int, float)):
        return abs(x - y) <= 1e-4
    return x == y
if expected.endswith(".json"):
    sys.exit(0 if same(json.load(open(expected)), json.load(open(actual))) else 1)
rows_e, rows_a = list(csv.reader(open(expected))), list(csv.reader(open(actual)))
assert len(rows_e) == len(rows_a) and rows_e[0] == rows_a[0], "rows or header differ"
header = rows_e[0]
for re_, ra in zip(rows_e[1:], rows_a[1:]):
    for name, x, y in zip(header, re_, ra):
        if name == "score" or header.index(name) > header.index("prediction"):
            assert abs(float(x) - float(y)) <= 1e-4, (name, x, y)
        else:
            assert x == y, (name, x, y)
PYEOF
  echo "note: $2 equals $1 up to float rounding (1e-4), not byte for byte"
}
(cd "$TESTS" && "$TOOL" --threads 2 predict --weights data/faces/lanmsff_3class.safetensors --csv \
   data/faces/2007_007763.jpg data/faces/2008_001322.jpg) >"$WORK/actual.csv" || fail "predict --csv failed"
compare_output "$TESTS/cli/expected/faces_photos.csv" "$WORK/actual.csv"
(cd "$TESTS" && "$TOOL" --threads 2 predict --weights data/faces/lanmsff_3class.safetensors --json \
   data/faces/2008_001322.jpg) >"$WORK/actual.json" || fail "predict --json failed"
compare_output "$TESTS/cli/expected/faces_photo.json" "$WORK/actual.json"
pass "the whole pipeline's CSV and JSON with a small trained model are the expected files"

# ---- photos -----------------------------------------------------------------------------------------
run_ok lanmsff --version
grep -q "^face front end: yes (dlib); video: yes (OpenCV)$" "$WORK/out.txt" || fail "--version: $(cat "$WORK/out.txt")"
run_ok lanmsff predict --weights "$W" "$GROUP"
grep -q "2007_007763.jpg: 7 faces" "$WORK/out.txt" || fail "text output: $(head -3 "$WORK/out.txt")"
grep -q "  face 7: " "$WORK/out.txt" || fail "text output lists no face 7"
pass "predict finds the 7 faces of the group photo"

run_ok lanmsff predict --weights "$W" --json "$GROUP" "$THREE"
cp "$WORK/out.txt" "$WORK/photos.json"
py '
import json, sys
d = json.load(open(sys.argv[1]))
assert [len(r["faces"]) for r in d] == [7, 3], [len(r["faces"]) for r in d]
for r in d:
    for i, f in enumerate(r["faces"]):
        assert f["face"] == i + 1
        assert len(f["landmarks"]) == 68 and len(f["eyes"]) == 2
        b = f["box"]
        assert b["width"] > 30 and b["height"] > 30
        p = f["probabilities"]
        assert sorted(p) == ["class_a", "class_b", "class_c"], p
        assert abs(sum(p.values()) - 1) < 1e-5
        assert f["prediction"] == max(p, key=p.get)
' "$WORK/photos.json"
pass "predict --json: per face its box, 68 landmarks, eyes, probabilities and top class"

run_ok lanmsff predict --weights "$W" --csv "$GROUP" "$THREE"
cp "$WORK/out.txt" "$WORK/photos.csv"
[[ $(head -1 "$WORK/photos.csv") == "image,face,left,top,width,height,score,prediction,class_a,class_b,class_c" ]] ||
  fail "CSV header: $(head -1 "$WORK/photos.csv")"
py '
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1])))
faces = [f for r in json.load(open(sys.argv[2])) for f in r["faces"]]
assert len(rows) == len(faces) == 10
for row, f in zip(rows, faces):
    for k, v in f["probabilities"].items():
        assert abs(float(row[k]) - v) <= 5e-5, (row, f)
    assert row["prediction"] == f["prediction"]
' "$WORK/photos.csv" "$WORK/photos.json"
pass "predict --csv: a row per face, the probabilities those of --json"

run_ok lanmsff predict --weights "$W" --annotate "$WORK/group.jpg" --explain "$WORK/explain.png" "$GROUP"
py '
import cv2, sys
a = cv2.imread(sys.argv[1]); g = cv2.imread(sys.argv[2]); e = cv2.imread(sys.argv[3])
assert a is not None and a.shape == g.shape, (None if a is None else a.shape, g.shape)
assert abs(a.astype(int) - g.astype(int)).mean() > 0.5   # boxes and labels were drawn
assert e is not None and e.shape[0] == 7 * 214, e.shape   # one row of panels per face
' "$WORK/group.jpg" "$GROUP" "$WORK/explain.png"
run_ok lanmsff predict --weights "$W" --annotate "$WORK/annotated" "$GROUP" "$THREE"
[[ -s $WORK/annotated/2007_007763.jpg && -s $WORK/annotated/2008_001322.jpg ]] || fail "--annotate FOLDER: $(ls "$WORK/annotated")"
pass "predict --annotate (a photo, a folder) and --explain (a row per face)"

# A photo without a face: its own line, exit status 3; the photos with faces are still predicted.
expect_status 3 lanmsff predict --weights "$W" "$LANDSCAPE"
grep -q "640px-IceBlockNearJoekullsarlon.jpg: no face found" "$WORK/out.txt" || fail "no-face line: $(cat "$WORK/out.txt")"
grep -q "no face was found in 1 photo" "$WORK/err.txt" || fail "no-face message: $(cat "$WORK/err.txt")"
expect_status 3 lanmsff predict --weights "$W" --csv "$PORTRAIT" "$LANDSCAPE"
grep -q "^$PORTRAIT,1," "$WORK/out.txt" || fail "the portrait was not predicted: $(cat "$WORK/out.txt")"
grep -q "^$LANDSCAPE,none," "$WORK/out.txt" || fail "no 'none' row for the landscape: $(cat "$WORK/out.txt")"
expect_status 3 lanmsff predict --weights "$W" --json "$LANDSCAPE"
py 'import json, sys; d = json.load(open(sys.argv[1])); assert d == [{"image": sys.argv[2], "faces": []}], d' "$WORK/out.txt" "$LANDSCAPE"
pass "a photo without a face: a line of its own, exit status 3, the others predicted"

# A corrupt file and a missing one among good photos: reported, the others predicted, exit status 1.
head -c 3000 "$PORTRAIT" >"$WORK/truncated.jpg"
expect_status 1 lanmsff predict --weights "$W" --csv "$PORTRAIT" "$WORK/truncated.jpg" "$WORK/missing.png" "$THREE"
[[ $(grep -c ",1," "$WORK/out.txt") -ge 2 ]] || fail "good photos not predicted past the bad ones: $(cat "$WORK/out.txt")"
grep -q "truncated.jpg" "$WORK/err.txt" && grep -q "missing.png" "$WORK/err.txt" || fail "bad files not named: $(cat "$WORK/err.txt")"
grep -q "2 files could not be read" "$WORK/err.txt" || fail "no summary of the bad files: $(cat "$WORK/err.txt")"
# An image whose header claims 9000 x 8000 pixels (72 megapixels): refused before decoding, by name.
"$PYTHON" -c '
import struct, sys, zlib
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 9000, 8000, 8, 2, 0, 0, 0))
                             + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))' "$WORK/huge.png"
expect_status 1 lanmsff predict --weights "$W" "$WORK/huge.png" "$PORTRAIT"
grep -q "huge.png: cannot decode image (9000x8000 pixels: more than" "$WORK/err.txt" || fail "oversized: $(cat "$WORK/err.txt")"
grep -q "grace_hopper_512x512.jpg: 1 face" "$WORK/out.txt" || fail "the portrait after the oversized image: $(cat "$WORK/out.txt")"
pass "bad files among photos (truncated, missing, oversized): named, the others predicted, exit status 1"

# Folders are walked recursively.
mkdir -p "$WORK/tree/a/b"
cp "$GROUP" "$WORK/tree/a/"
cp "$PORTRAIT" "$WORK/tree/a/b/"
echo "not an image" >"$WORK/tree/notes.txt"
run_ok lanmsff predict --weights "$W" --csv "$WORK/tree"
[[ $(tail -n +2 "$WORK/out.txt" | wc -l) -eq 8 ]] || fail "folder: $(cat "$WORK/out.txt")"
pass "a folder of photos is walked recursively"

# --faces aligned: the whole image is a face crop (the behaviour for crops), and its options' checks.
run_ok lanmsff predict --weights "$W" --faces aligned --json "$PORTRAIT"
py 'import json, sys; d = json.load(open(sys.argv[1])); assert len(d) == 1 and "prediction" in d[0] and "faces" not in d[0], d' "$WORK/out.txt"
expect_status 1 lanmsff predict --weights "$W" --faces aligned --annotate "$WORK/x.jpg" "$PORTRAIT"
grep -q "needs --faces detect" "$WORK/err.txt" || fail "$(cat "$WORK/err.txt")"
expect_status 1 lanmsff predict --weights "$W" --annotate "$WORK/x.gif" "$PORTRAIT"
grep -q "write a .jpg or .png" "$WORK/err.txt" || fail "$(cat "$WORK/err.txt")"
expect_status 1 lanmsff predict --weights "$W" --json --csv "$PORTRAIT"
grep -q "choose one" "$WORK/err.txt" || fail "$(cat "$WORK/err.txt")"
pass "--faces aligned classifies the whole image; bad option combinations are clear errors"

# ---- prepare-faces --------------------------------------------------------------------------------
mkdir -p "$WORK/raw/happy" "$WORK/raw/sad"
cp "$PORTRAIT" "$WORK/raw/happy/portrait.jpg"
cp "$THREE" "$WORK/raw/sad/three.jpg"
cp "$LANDSCAPE" "$WORK/raw/sad/landscape.jpg"
expect_status 3 lanmsff prepare-faces "$WORK/raw" "$WORK/crops"
grep -q "2 of 3 photos written" "$WORK/out.txt" || fail "prepare-faces: $(cat "$WORK/out.txt")"
grep -q "1 had several faces" "$WORK/out.txt" || fail "prepare-faces: $(cat "$WORK/out.txt")"
grep -q "landscape.jpg" "$WORK/err.txt" || fail "prepare-faces does not name the photo without a face: $(cat "$WORK/err.txt")"
py 'import cv2, sys
for f in sys.argv[1:]:
    im = cv2.imread(f, cv2.IMREAD_UNCHANGED)
    assert im is not None and im.shape == (64, 64), (f, None if im is None else im.shape)' \
  "$WORK/crops/happy/portrait.png" "$WORK/crops/sad/three.png"
[[ ! -e $WORK/crops/sad/landscape.png ]] || fail "prepare-faces wrote a crop for a photo without a face"
# The prepared folder trains as a class folder.
run_ok lanmsff train --data "$WORK/crops" --epochs 1 --batch-size 2 --out "$WORK/run2"
run_ok lanmsff prepare-faces --model manet "$WORK/raw/happy" "$WORK/crops_rgb"
py 'import cv2, sys; im = cv2.imread(sys.argv[1], cv2.IMREAD_UNCHANGED); assert im.shape == (224, 224, 3), im.shape' "$WORK/crops_rgb/portrait.png"
pass "prepare-faces: aligned crops in the same layout, photos without a face reported (exit status 3)"

# ---- video --------------------------------------------------------------------------------------------
# A 2-second clip at 10 frames/s: the portrait drifting right over a gray 640x480 frame.
py '
import cv2, numpy as np, sys
face = cv2.resize(cv2.imread(sys.argv[1]), (300, 300))
out = cv2.VideoWriter(sys.argv[2], cv2.VideoWriter_fourcc(*"MJPG"), 10, (640, 480))
assert out.isOpened()
for i in range(20):
    frame = np.full((480, 640, 3), 110, np.uint8)
    x = 60 + 10 * i
    frame[90:390, x:x + 300] = face
    out.write(frame)
out.release()' "$PORTRAIT" "$WORK/clip.avi"
run_ok lanmsff predict --weights "$W" "$WORK/clip.avi" --annotate "$WORK/annotated.avi"
cp "$WORK/out.txt" "$WORK/clip.csv"
py '
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert len(rows) == 20, len(rows)
assert [int(r["frame"]) for r in rows] == list(range(20))
assert all(r["face"] == "1" for r in rows), [r["face"] for r in rows]   # one face, tracked
t = [float(r["time"]) for r in rows]
assert abs(t[1] - t[0] - 0.1) < 1e-3, t[:3]
lefts = [float(r["left"]) for r in rows]
assert lefts[-1] - lefts[0] > 150, lefts   # the box follows the face
for r in rows:
    assert abs(sum(float(r[k]) for k in ("class_a", "class_b", "class_c")) - 1) < 1e-3
import cv2
v = cv2.VideoCapture(sys.argv[2]); n = 0
while v.read()[0]: n += 1
assert n == 20, n' "$WORK/clip.csv" "$WORK/annotated.avi"
grep -q "20 frames (20 with faces, 1 face tracks)" "$WORK/err.txt" || fail "video summary: $(cat "$WORK/err.txt")"
run_ok lanmsff predict --weights "$W" --max-frames 5 "$WORK/clip.avi"
[[ $(tail -n +2 "$WORK/out.txt" | wc -l) -eq 5 ]] || fail "--max-frames 5: $(cat "$WORK/out.txt")"
echo "not a video" >"$WORK/broken.mp4"
expect_status 1 lanmsff predict --weights "$W" "$WORK/broken.mp4"
grep -q "broken.mp4" "$WORK/err.txt" || fail "$(cat "$WORK/err.txt")"
expect_status 1 lanmsff predict --weights "$W" "$WORK/clip.avi" "$PORTRAIT"
grep -q "photos and videos" "$WORK/err.txt" || fail "$(cat "$WORK/err.txt")"
pass "video: a CSV row per frame and face with a tracked id, an annotated video, clear errors"

echo "faces_end_to_end: $checks checks passed"
