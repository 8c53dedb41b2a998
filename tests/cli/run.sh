#!/usr/bin/env bash
# End-to-end test of the `lanmsff` command-line tool: train / eval / predict / summary / bench on a
# tiny image folder (tests/data/cli/faces, written by tools/make_cli_fixtures.py), the run directory,
# determinism, resuming, and one clean error message (never a crash) for each kind of user mistake;
# then the same commands for MA-Net (--model manet) on a 7-class RGB folder (tests/data/cli/faces_rgb).
# Usage: tests/cli/run.sh path/to/lanmsff        (ctest: cli_end_to_end)
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 path/to/lanmsff" >&2
  exit 2
fi
TOOL=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
[[ -x "$TOOL" ]] || { echo "FAIL: $1 is not an executable" >&2; exit 1; }
TESTS=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FACES=$TESTS/data/cli/faces
FACES_RGB=$TESTS/data/cli/faces_rgb
DATASETS=$TESTS/data/datasets
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lanmsff-cli.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# A fixed thread count: the weights are bit-reproducible for a given seed and thread count.
lanmsff() { "$TOOL" --threads 2 "$@"; }
# The small, fast training setup every run below shares (the seed is given per run).
TRAIN=(train --data "$FACES" --val "$FACES" --batch-size 4 --bn-reestimate 2)

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
expect_file() { [[ -s "$1" ]] || fail "$1 was not written (or is empty)"; }
png_signature() { head -c 8 "$1" | od -An -tx1 | tr -d ' \n'; }
expect_png() {
  expect_file "$1"
  [[ "$(png_signature "$1")" == "89504e470d0a1a0a" ]] || fail "$1 is not a PNG (signature $(png_signature "$1"))"
}
HAVE_PYTHON=0
command -v python3 >/dev/null 2>&1 && HAVE_PYTHON=1
# Checks with a Python snippet when python3 exists (stdin: the JSON file).
check_json() {
  local file=$1 what=$2 snippet=$3
  if [[ $HAVE_PYTHON -eq 1 ]]; then
    python3 -c "import json, sys
d = json.load(sys.stdin)
$snippet" <"$file" || fail "$what: $(cat "$file")"
  fi
}

# check_int8_predict WHAT INT8_WEIGHTS IMAGE FLOAT_JSON [OPTIONS...]: predict --precision int8 on IMAGE sums
# to 1 and is within 0.05 of the float model's probabilities (FLOAT_JSON, predict --json of the same image).
check_int8_predict() {
  local what=$1 weights=$2 image=$3 float_json=$4
  shift 4
  run_ok lanmsff predict --faces aligned --weights "$weights" --precision int8 "$image" --json "$@"
  cp "$WORK/out.txt" "$WORK/predict-int8.json"
  check_json "$WORK/predict-int8.json" "$what predict --precision int8: probabilities within 0.05 of float's" "
f = json.load(open('$float_json'))[0]['probabilities']
p = d[0]['probabilities']
assert abs(sum(p.values()) - 1) < 1e-5, p
assert all(abs(p[c] - f[c]) < 0.05 for c in f), (p, f)"
}

# ---- train: the run directory ------------------------------------------------------------------
RUN=$WORK/run
# --epochs twice: the last value counts (tools/demo.sh appends its extra arguments after its own).
run_ok lanmsff "${TRAIN[@]}" --epochs 4 --seed 11 --epochs 1 --out "$RUN"
for f in best.safetensors last.safetensors resume.safetensors metrics.csv command.txt; do expect_file "$RUN/$f"; done
for f in loss.png accuracy.png confusion.png; do expect_png "$RUN/$f"; done
[[ $(wc -l <"$RUN/metrics.csv") -eq 2 ]] || fail "metrics.csv after 1 epoch should be a header and 1 row: $(cat "$RUN/metrics.csv")"
head -n 1 "$RUN/metrics.csv" | grep -q '^epoch,train_loss,train_accuracy,val_loss,val_accuracy,' ||
  fail "metrics.csv header: $(head -n 1 "$RUN/metrics.csv")"
sed -n 2p "$RUN/metrics.csv" | grep -Eq '^1,[0-9.]+,[0-9.]+,[0-9.]+,[0-9.]+,' ||
  fail "metrics.csv row 1 (with validation columns): $(sed -n 2p "$RUN/metrics.csv")"
grep -qx 'seed 11' "$RUN/command.txt" || fail "command.txt does not record the seed: $(cat "$RUN/command.txt")"
grep -q -- '--seed 11' "$RUN/command.txt" || fail "command.txt does not hold the command: $(cat "$RUN/command.txt")"
# LANMSFF's defaults, untouched by MA-Net's recipe (the options given above: batch 4, bn-reestimate 2).
grep -qx 'recipe --model lanmsff --classes 3 --channels 1 --epochs 1 --batch-size 4 --optimizer adam --lr 0.001 --adam-epsilon 1e-07 --schedule none --augment online --bn-reestimate 2' "$RUN/command.txt" ||
  fail "command.txt: LANMSFF's effective recipe: $(cat "$RUN/command.txt")"
grep -q '^epoch 1/1 ' "$WORK/err.txt" || fail "no progress line 'epoch 1/1 ...' on stderr: $(cat "$WORK/err.txt")"
pass "train writes checkpoints, metrics.csv, plots and command.txt"

run_ok lanmsff "${TRAIN[@]}" --epochs 0 --seed 11 --out "$WORK/init"
expect_file "$WORK/init/last.safetensors"
[[ ! -e "$WORK/init/metrics.csv" ]] || fail "--epochs 0 should not write metrics.csv"
pass "--epochs 0 writes last.safetensors"

# ---- determinism ---------------------------------------------------------------------------------
run_ok lanmsff "${TRAIN[@]}" --epochs 1 --seed 11 --out "$WORK/same"
cmp -s "$RUN/last.safetensors" "$WORK/same/last.safetensors" || fail "same seed, different last.safetensors"
run_ok lanmsff "${TRAIN[@]}" --epochs 1 --seed 12 --out "$WORK/other"
if cmp -s "$RUN/last.safetensors" "$WORK/other/last.safetensors"; then fail "seeds 11 and 12 gave identical weights"; fi
pass "same seed => identical weights, other seed => different"

# ---- eval ------------------------------------------------------------------------------------------
run_ok lanmsff eval --weights "$RUN/last.safetensors" --data "$FACES" --confusion-png "$WORK/eval_confusion.png"
grep -Eq '^loss [0-9.e+-]+, accuracy [0-9.e+-]+ %$' "$WORK/out.txt" || fail "eval prints no accuracy line: $(cat "$WORK/out.txt")"
grep -q '(test), 6 samples' "$WORK/out.txt" || fail "eval should default to the test split (6 images): $(cat "$WORK/out.txt")"
expect_png "$WORK/eval_confusion.png"
run_ok lanmsff eval --weights "$RUN/last.safetensors" --data "$FACES" --json
cp "$WORK/out.txt" "$WORK/eval.json"
grep -q '"accuracy"' "$WORK/eval.json" || fail "eval --json has no \"accuracy\": $(cat "$WORK/eval.json")"
grep -q '"confusion_matrix"' "$WORK/eval.json" || fail "eval --json has no \"confusion_matrix\": $(cat "$WORK/eval.json")"
check_json "$WORK/eval.json" "eval --json: accuracy in [0, 1], a 3x3 confusion matrix over the 6 test images" '
m = d["confusion_matrix"]
assert 0 <= d["accuracy"] <= 1, d["accuracy"]
assert len(m) == 3 and all(len(r) == 3 for r in m), m
assert sum(map(sum, m)) == 6, m
assert abs(d["accuracy"] - sum(m[i][i] for i in range(3)) / 6) < 1e-12
assert d["classes"] == ["class_a", "class_b", "class_c"], d["classes"]'
pass "eval prints accuracy; --json is valid and consistent"

# ---- predict ---------------------------------------------------------------------------------------
IMAGE=$FACES/test/class_b/test_0.png
run_ok lanmsff predict --faces aligned --weights "$RUN/last.safetensors" "$IMAGE"
grep -Eq "^$IMAGE: class_[abc]\$" "$WORK/out.txt" || fail "predict: no '<image>: <class>' line: $(cat "$WORK/out.txt")"
for c in class_a class_b class_c; do
  grep -Eq "^  $c +[01]\.[0-9]{4}\$" "$WORK/out.txt" || fail "predict: no probability line for $c: $(cat "$WORK/out.txt")"
done
run_ok lanmsff predict --faces aligned --weights "$RUN/last.safetensors" "$IMAGE" --json
cp "$WORK/out.txt" "$WORK/predict.json"
grep -q '"prediction"' "$WORK/predict.json" || fail "predict --json has no \"prediction\": $(cat "$WORK/predict.json")"
check_json "$WORK/predict.json" "predict --json: one result, probabilities of the 3 classes summing to 1" '
assert len(d) == 1, d
p = d[0]["probabilities"]
assert sorted(p) == ["class_a", "class_b", "class_c"], p
assert abs(sum(p.values()) - 1) < 1e-5, p
assert d[0]["prediction"] == max(p, key=p.get), d[0]'
run_ok lanmsff predict --faces aligned --weights "$RUN/last.safetensors" "$IMAGE" --explain "$WORK/explain.png"
expect_png "$WORK/explain.png"
pass "predict prints the checkpoint's class names, --json, --explain writes a PNG"

# ---- int8: quantize, then eval / predict / bench --precision int8 --------------------------------------
run_ok lanmsff quantize --weights "$RUN/last.safetensors" --calibrate "$FACES" --images 8 "$WORK/int8.safetensors"
grep -Eq "^wrote .*int8.safetensors: lanmsff with an int8 calibration of [0-9]+ values on 8 images .*, ranges by mse; .* on [0-9.]+ % of them\$" \
  "$WORK/out.txt" || fail "quantize: no summary line: $(cat "$WORK/out.txt")"
run_ok lanmsff eval --weights "$WORK/int8.safetensors" --data "$FACES" --precision int8 --json
cp "$WORK/out.txt" "$WORK/eval_int8.json"
check_json "$WORK/eval_int8.json" "eval --precision int8 --json: the 6 test images, int8" '
m = d["confusion_matrix"]
assert d["precision"] == "int8", d.get("precision")
assert sum(map(sum, m)) == 6, m
assert 0 <= d["accuracy"] <= 1, d["accuracy"]'
run_ok lanmsff eval --weights "$WORK/int8.safetensors" --data "$FACES" --json
cp "$WORK/out.txt" "$WORK/eval_float_of_int8.json"
check_json "$WORK/eval_float_of_int8.json" "eval of the quantised file in float: the float model's loss" "
assert d['precision'] == 'float'
assert d['loss'] == json.load(open('$WORK/eval.json'))['loss'], d['loss']"
run_ok lanmsff eval --weights "$WORK/int8.safetensors" --data "$FACES" --precision int8
grep -q '(test), 6 samples, int8 model$' "$WORK/out.txt" || fail "eval --precision int8: no int8 data line: $(cat "$WORK/out.txt")"
check_int8_predict LANMSFF "$WORK/int8.safetensors" "$IMAGE" "$WORK/predict.json"
run_ok lanmsff bench --batch 2 --iterations 1 --precision int8 --json
check_json "$WORK/out.txt" "bench --precision int8 --json" '
assert d["precision"] == "int8" and d["int8_kernels"] and d["images_per_second"] > 0, d'
expect_error "int8 without a calibration" "has no int8 calibration: make one with .lanmsff quantize" \
  lanmsff eval --weights "$RUN/last.safetensors" --data "$FACES" --precision int8
expect_error "int8 with --explain" "--explain draws the float model's attention maps" \
  lanmsff predict --faces aligned --weights "$WORK/int8.safetensors" --precision int8 "$IMAGE" --explain "$WORK/x.png"
expect_error "bench int8 --train" "--precision int8 runs inference" lanmsff bench --precision int8 --train --iterations 1
expect_error "quantize --method" "--method: .*not in" \
  lanmsff quantize --weights "$RUN/last.safetensors" --calibrate "$FACES" --method best "$WORK/x.safetensors"
if [[ $HAVE_PYTHON -eq 1 ]]; then  # a calibration that names another model's values is refused, not used
  python3 - "$WORK/int8.safetensors" "$WORK/int8_other.safetensors" <<'PY'
import json, struct, sys
data = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", data[:8])[0]
header = json.loads(data[8:8 + n])
calibration = json.loads(header["__metadata__"]["lanmsff.int8"])
calibration["values"][1][0] = "block9.conv"
header["__metadata__"]["lanmsff.int8"] = json.dumps(calibration)
text = json.dumps(header).encode()
text += b" " * (-len(text) % 8)
open(sys.argv[2], "wb").write(struct.pack("<Q", len(text)) + text + data[8 + n:])
PY
  expect_error "a calibration of another model" "int8 calibration .* value 1 is conv 'block9.conv', the model's conv 'block1.conv1'" \
    lanmsff eval --weights "$WORK/int8_other.safetensors" --data "$FACES" --precision int8
fi
pass "quantize; eval, predict and bench --precision int8; their errors"

# ---- resume ----------------------------------------------------------------------------------------
cp -r "$RUN" "$WORK/resumed"
run_ok lanmsff "${TRAIN[@]}" --resume "$WORK/resumed" --epochs 2 --seed 11 --out "$WORK/resumed"
grep -q 'resuming .* after epoch 1' "$WORK/err.txt" || fail "resume: no 'resuming ... after epoch 1' line: $(cat "$WORK/err.txt")"
[[ $(wc -l <"$WORK/resumed/metrics.csv") -eq 3 ]] || fail "resumed metrics.csv should hold 2 rows: $(cat "$WORK/resumed/metrics.csv")"
[[ "$(head -n 2 "$WORK/resumed/metrics.csv")" == "$(head -n 2 "$RUN/metrics.csv")" ]] || fail "resume rewrote epoch 1's row"
sed -n 3p "$WORK/resumed/metrics.csv" | grep -q '^2,' || fail "resumed row is not epoch 2: $(cat "$WORK/resumed/metrics.csv")"
if cmp -s "$RUN/last.safetensors" "$WORK/resumed/last.safetensors"; then fail "resume did not train: weights unchanged"; fi
pass "--resume continues the run to epoch 2"
# Everything a run's future depends on is in the run directory: 1 epoch + resume = 2 epochs at once
# (weights, BN statistics, optimizer state), bit for bit.
run_ok lanmsff "${TRAIN[@]}" --epochs 2 --seed 11 --out "$WORK/straight"
cmp -s "$WORK/straight/last.safetensors" "$WORK/resumed/last.safetensors" ||
  fail "1 epoch + --resume to 2 differs from 2 epochs in one run (last.safetensors): state lost on resume"
cmp -s "$WORK/straight/resume.safetensors" "$WORK/resumed/resume.safetensors" ||
  fail "1 epoch + --resume to 2 differs from 2 epochs in one run (resume.safetensors: optimizer state)"
pass "resuming is exact: 1 epoch + resume == 2 epochs"

# --resume DIR alone continues with the options recorded in DIR/run.json; --epochs may grow the run.
cp -r "$RUN" "$WORK/by-dir"
(cd "$WORK" && run_ok lanmsff train --resume by-dir --epochs 2)
cmp -s "$WORK/straight/last.safetensors" "$WORK/by-dir/last.safetensors" ||
  fail "--resume DIR --epochs 2 (recorded options) differs from 2 epochs in one run"
grep -q '^resumed: ' "$WORK/by-dir/command.txt" && grep -q -- '--seed 11' "$WORK/by-dir/command.txt" ||
  fail "command.txt keeps the first command and adds the continuation: $(cat "$WORK/by-dir/command.txt")"
check_json "$WORK/by-dir/run.json" "run.json records the effective options" '
o = d["options"]
assert o["--seed"] == 11 and o["--batch-size"] == 4 and o["--epochs"] == 2 and o["--lr"] == 0.001, o
assert o["--data"].startswith("/"), o["--data"]'
pass "--resume DIR alone continues with the recorded options (run.json)"

# Interrupted anywhere, continued by --resume DIR alone: the same weights as a run never interrupted.
# kill -9 after a random delay (a crash: only --checkpoint-every's states survive) and SIGTERM (a
# batch system's end of time: the state is saved at the batch the signal arrives in).
LONG=(train --data "$FACES" --val "$FACES" --batch-size 4 --bn-reestimate 2 --epochs 8 --seed 5)
run_ok lanmsff "${LONG[@]}" --out "$WORK/long"
# interrupt SIGNAL DIR [OPTIONS...]: starts the long run, sends SIGNAL after a random delay while it trains.
interrupt() {
  local signal=$1 dir=$2 try delay
  shift 2
  for try in 1 2 3 4 5 6 7 8; do
    rm -rf "$dir"
    # A background job of a script starts with SIGINT ignored (and the tool keeps what it was given
    # ignored, as Ctrl-C must not stop a nohup'ed run): env gives it SIGINT's default back.
    env --default-signal=INT "$TOOL" --threads 2 "${LONG[@]}" "$@" --out "$dir" >"$WORK/out.txt" 2>"$WORK/err.txt" &  # $! is the tool (env execs it)
    local pid=$!
    for _ in $(seq 200); do [[ -e "$dir/resume.safetensors" ]] && break; sleep 0.01; done  # trains now
    delay=0.$((RANDOM % 60))
    sleep "$delay"
    kill "-$signal" "$pid" 2>/dev/null || true
    rc=0  # global: the caller checks it
    { wait "$pid"; } 2>/dev/null || rc=$?
    [[ $rc -ne 0 ]] && { echo "  $signal after ${delay}s of training: exit code $rc"; return 0; }
  done
  fail "$signal: the run always ended before the signal (8 tries)"
}
interrupt KILL "$WORK/killed" --checkpoint-every 1
[[ $rc -eq 137 ]] || fail "kill -9: exit code $rc"
run_ok lanmsff train --resume "$WORK/killed"
grep -E 'resuming .* (after epoch|in epoch)' "$WORK/err.txt" | sed 's/^/  /'
cmp -s "$WORK/long/last.safetensors" "$WORK/killed/last.safetensors" ||
  fail "kill -9 + --resume DIR differs from the uninterrupted run (last.safetensors)"
cmp -s "$WORK/long/resume.safetensors" "$WORK/killed/resume.safetensors" ||
  fail "kill -9 + --resume DIR differs from the uninterrupted run (resume.safetensors)"
pass "kill -9 at a random step, then --resume DIR: bit-identical to the uninterrupted run"
interrupt TERM "$WORK/termed"
[[ $rc -eq 143 ]] || fail "SIGTERM: exit code $rc (expected 128 + 15): $(cat "$WORK/err.txt")"
grep -q 'SIGTERM: stopped after step .*state saved; continue with: lanmsff train --resume' "$WORK/err.txt" ||
  fail "SIGTERM: no message: $(cat "$WORK/err.txt")"
run_ok lanmsff train --resume "$WORK/termed"
grep -E 'resuming .* (after epoch|in epoch)' "$WORK/err.txt" | sed 's/^/  /'
cmp -s "$WORK/long/last.safetensors" "$WORK/termed/last.safetensors" ||
  fail "SIGTERM + --resume DIR differs from the uninterrupted run (last.safetensors)"
pass "SIGTERM saves the state at the current batch; --resume DIR: bit-identical"
interrupt INT "$WORK/inted"
[[ $rc -eq 130 ]] || fail "SIGINT: exit code $rc (expected 128 + 2): $(cat "$WORK/err.txt")"
grep -q 'SIGINT: stopped after step .*state saved; continue with: lanmsff train --resume' "$WORK/err.txt" ||
  fail "SIGINT: no message: $(cat "$WORK/err.txt")"
run_ok lanmsff train --resume "$WORK/inted"
cmp -s "$WORK/long/last.safetensors" "$WORK/inted/last.safetensors" ||
  fail "SIGINT + --resume DIR differs from the uninterrupted run (last.safetensors)"
pass "SIGINT (Ctrl-C) saves the state at the current batch; --resume DIR: bit-identical"

# ---- summary and bench -----------------------------------------------------------------------------
run_ok lanmsff summary --classes 3
grep -Eq '^Trainable parameters: +[0-9,]+$' "$WORK/out.txt" || fail "summary: no parameter count: $(cat "$WORK/out.txt")"
grep -Eq '^classifier .* 1x1x3 ' "$WORK/out.txt" || fail "summary --classes 3: no 3-way classifier: $(cat "$WORK/out.txt")"
run_ok lanmsff bench --batch 1 --iterations 1 --json
grep -q '"images_per_second"' "$WORK/out.txt" || fail "bench --json: $(cat "$WORK/out.txt")"
run_ok lanmsff bench --batch 2 --iterations 1 --train --profile --json
cp "$WORK/out.txt" "$WORK/profile.json"
grep -q '"block1.conv2"' "$WORK/profile.json" || fail "bench --profile --json: no block1.conv2 entry: $(cat "$WORK/profile.json")"
check_json "$WORK/profile.json" "bench --train --profile --json: every layer timed forward and backward" '
layers = {e["path"]: e for e in d["profile"]}
assert layers["block1"]["forward_ms"] > 0 and layers["block1"]["backward_ms"] > 0, layers["block1"]
assert layers["block1"]["forward_ms"] >= layers["block1.conv2"]["forward_ms"]
assert 0 < sum(e["share"] for p, e in layers.items() if "." not in p) <= 1.0 + 1e-9'
run_ok lanmsff bench --batch 1 --iterations 1 --profile --profile-depth 1
grep -Eq '^block1 +[0-9.]+ +[0-9.]+ +[0-9.]+%$' "$WORK/out.txt" || fail "bench --profile: no block1 row: $(cat "$WORK/out.txt")"
! grep -q '^  conv2' "$WORK/out.txt" || fail "bench --profile-depth 1 printed nested rows: $(cat "$WORK/out.txt")"
pass "summary, bench and bench --profile"

# ---- the kernels' instruction set: named by --version, bench --json and the training log; forced
# by --isa or LANMSFF_ISA (the baseline exists on every CPU) ----------------------------------------
run_ok lanmsff --version
grep -Eq '^kernels: (avx512|avx2|neon|baseline) \(.*\); this CPU: .*baseline$' "$WORK/out.txt" ||
  fail "--version does not name the kernels' path: $(cat "$WORK/out.txt")"
run_ok lanmsff --isa baseline bench --batch 1 --iterations 1 --json
grep -q '"isa": "baseline"' "$WORK/out.txt" || fail "--isa baseline: bench --json says $(cat "$WORK/out.txt")"
LANMSFF_ISA=baseline run_ok "$TOOL" --threads 2 --version
grep -q '^kernels: baseline ' "$WORK/out.txt" || fail "LANMSFF_ISA=baseline: --version says $(cat "$WORK/out.txt")"
run_ok lanmsff "${TRAIN[@]}" --epochs 0 --seed 1 --out "$WORK/isa-log"
grep -Eq '^kernels: (avx512|avx2|neon|baseline) .*, 2 threads$' "$WORK/err.txt" ||
  fail "train does not log the kernels' path: $(cat "$WORK/err.txt")"
pass "the kernels' instruction set in --version, bench --json and the training log; --isa and LANMSFF_ISA"

# ---- errors: a message and a non-zero exit below 128 (128+ is a signal: a crash) ----------------
expect_error "missing data path" "^lanmsff: error: .*does-not-exist: no such file or directory" \
  lanmsff train --data "$WORK/does-not-exist" --epochs 1 --out "$WORK/err1"
expect_error "missing eval data" "^lanmsff: error: .*does-not-exist: no such file or directory" \
  lanmsff eval --weights "$RUN/last.safetensors" --data "$WORK/does-not-exist"
expect_error "unreadable image" "^lanmsff: error: .*corrupt\.png" \
  lanmsff predict --faces aligned --weights "$RUN/last.safetensors" "$DATASETS/images/corrupt.png"
expect_error "malformed CSV row (with its line number)" "^lanmsff: error: .*wrong_pixel_count\.csv:3:" \
  lanmsff train --data "$DATASETS/fer2013_bad/wrong_pixel_count.csv" --epochs 1 --out "$WORK/err2"
expect_error "unknown instruction set in LANMSFF_ISA" "^lanmsff: error: LANMSFF_ISA: unknown instruction set 'sse9'" \
  env LANMSFF_ISA=sse9 "$TOOL" bench --batch 1 --iterations 1
expect_error "an instruction set this CPU lacks" "^lanmsff: error: --isa (neon|avx2): this CPU has no (neon|avx2) path; it supports .*baseline" \
  lanmsff --isa "$(uname -m | grep -q aarch64 && echo avx2 || echo neon)" bench --batch 1 --iterations 1
expect_error "unknown option" "not expected: .*--no-such-option" \
  lanmsff train --data "$FACES" --out "$WORK/err3" --no-such-option
expect_error "eval on a data set with another class count" "^lanmsff: error: .*has 2 classes, the checkpoint .* 3" \
  lanmsff eval --weights "$RUN/last.safetensors" --data "$DATASETS/folder_flat"
mkdir "$WORK/no-checkpoint"
expect_error "--resume of a directory without a checkpoint" "^lanmsff: error: safetensors file '.*last\.safetensors' does not exist" \
  lanmsff "${TRAIN[@]}" --resume "$WORK/no-checkpoint" --epochs 2 --out "$WORK/no-checkpoint"
# Batch commands carry on past a bad file: the others' results, then exit status 1 naming the bad ones.
rc=0
lanmsff predict --faces aligned --weights "$RUN/last.safetensors" "$IMAGE" "$DATASETS/images/corrupt.png" "$IMAGE" \
  >"$WORK/out.txt" 2>"$WORK/err.txt" || rc=$?
[[ $rc -eq 1 ]] || fail "predict with a bad file among good ones: exit code $rc"
[[ $(grep -c "^$IMAGE: " "$WORK/out.txt") -eq 2 ]] || fail "predict stopped at the bad file: $(cat "$WORK/out.txt")"
grep -q '1 file could not be read, the others were predicted' "$WORK/err.txt" && grep -q '^  .*corrupt\.png$' "$WORK/err.txt" ||
  fail "predict does not list the bad file at the end: $(cat "$WORK/err.txt")"
rc=0
lanmsff predict --faces aligned --json --weights "$RUN/last.safetensors" "$DATASETS/images/corrupt.png" "$IMAGE" >"$WORK/predict.json" 2>/dev/null || rc=$?
[[ $rc -eq 1 ]] || fail "predict --json with a bad file: exit code $rc"
check_json "$WORK/predict.json" "predict --json: an error entry for the bad file, a prediction for the good one" '
assert len(d) == 2 and "error" in d[0] and d[0]["image"].endswith("corrupt.png") and "prediction" in d[1], d'
cp -r "$FACES" "$WORK/faces-bad"
cp "$DATASETS/images/corrupt.png" "$WORK/faces-bad/test/class_a/"
rc=0
lanmsff eval --json --weights "$RUN/last.safetensors" --data "$WORK/faces-bad" >"$WORK/eval-bad.json" 2>"$WORK/err.txt" || rc=$?
[[ $rc -eq 1 ]] || fail "eval of a folder with a bad file: exit code $rc: $(cat "$WORK/err.txt")"
grep -q '1 file could not be read, evaluated without them' "$WORK/err.txt" && grep -q '^lanmsff: error: .*corrupt\.png.* (left out)$' "$WORK/err.txt" &&
  grep -q '^  .*corrupt\.png$' "$WORK/err.txt" || fail "eval does not report and list the bad file: $(cat "$WORK/err.txt")"
check_json "$WORK/eval-bad.json" "eval --json lists the skipped file and evaluates the others" '
assert len(d["skipped"]) == 1 and d["skipped"][0]["file"].endswith("corrupt.png"), d["skipped"]
assert d["samples"] == '"$(find "$FACES/test" -type f | wc -l)"', d'
pass "predict and eval carry on past a bad file, list it and exit with 1"

expect_error "train without --data" "--data is required" lanmsff train --epochs 1 --out "$WORK/err5"
expect_error "an empty --data path (fuzz_options found it parsed)" "--data: an empty path" \
  lanmsff train --data "" --epochs 1 --out "$WORK/err6"
expect_error "--resume with an option that contradicts the recorded run" \
  "^lanmsff: error: --lr 0.01 contradicts the run being resumed, which .*run.json records as --lr 0.001" \
  lanmsff train --resume "$RUN" --lr 0.01
expect_error "--resume of an older run (no run.json) without --data" "^lanmsff: error: .*has no run.json" \
  bash -c 'mkdir -p "$1" && cp "$2"/*.safetensors "$1"/ && "$0" train --resume "$1"' "$TOOL" "$WORK/old-run" "$RUN"
cp "$RUN/last.safetensors" "$WORK/run-before-lock.safetensors"
expect_error "a second training into a run directory in use" "^lanmsff: error: .* is in use by another training" \
  flock "$RUN/.lock" "$TOOL" --threads 2 train --resume "$RUN" --epochs 2
cmp -s "$RUN/last.safetensors" "$WORK/run-before-lock.safetensors" || fail "the refused training changed the run's checkpoint"
run_ok lanmsff train --data "$DATASETS/folder_flat" --epochs 0 --out "$WORK/two-classes"
expect_error "--init with a checkpoint of another shape" "^lanmsff: error: .*does not match the model" \
  lanmsff "${TRAIN[@]}" --init "$WORK/two-classes/last.safetensors" --epochs 1 --out "$WORK/err4"

# ---- MA-Net: 224x224 RGB, two heads, the authors' recipe ---------------------------------------------
# Every MA-Net checkpoint is ~200 MB and a training step of one image takes about a second on 2
# cores, so these runs are few and tiny: 7 training images (one per class), batch 2, one epoch.
metadata_has() { head -c 1024 "$1" | grep -aq -- "$2"; }  # the safetensors header starts with __metadata__
MANET=$WORK/manet
run_ok lanmsff train --model manet --data "$FACES_RGB" --epochs 0 --out "$WORK/manet-init"
grep -qx 'recipe --model manet --classes 7 --epochs 0 --batch-size 16 --optimizer sgd --lr 0.01 --momentum 0.9 --weight-decay 0.0001 --schedule step --step-size 15 --factor 0.1 --augment resized-crop --bn-reestimate 0 --beta 0.6' \
  "$WORK/manet-init/command.txt" || fail "MA-Net's default recipe in command.txt: $(cat "$WORK/manet-init/command.txt")"
grep -q '^recipe: --model manet .*--optimizer sgd' "$WORK/err.txt" || fail "MA-Net: no 'recipe:' line on stderr: $(cat "$WORK/err.txt")"
pass "manet: the authors' recipe is the default (SGD 0.01, momentum 0.9, wd 1e-4, step 15, resized-crop)"

run_ok lanmsff train --model manet --data "$FACES_RGB" --val "$FACES_RGB" --epochs 1 --batch-size 2 --lr 0.005 \
  --seed 3 --out "$MANET"
for f in best.safetensors last.safetensors resume.safetensors metrics.csv command.txt; do expect_file "$MANET/$f"; done
metadata_has "$MANET/last.safetensors" '"model":"manet"' || fail "MA-Net checkpoint metadata: $(head -c 400 "$MANET/last.safetensors")"
metadata_has "$MANET/last.safetensors" '"input_shape":"224x224x3"' || fail "MA-Net checkpoint input_shape: $(head -c 400 "$MANET/last.safetensors")"
grep -q -- '--batch-size 2 --optimizer sgd --lr 0.005 --momentum 0.9 ' "$MANET/command.txt" ||
  fail "MA-Net: the user's --batch-size / --lr must win over the recipe: $(cat "$MANET/command.txt")"
sed -n 2p "$MANET/metrics.csv" | grep -Eq '^1,[0-9.]+,[0-9.]+,[0-9.]+,[0-9.]+,0\.005,' ||
  fail "MA-Net metrics.csv row 1 (validation columns, lr 0.005): $(cat "$MANET/metrics.csv")"
grep -q '^epoch 1/1 ' "$WORK/err.txt" || fail "MA-Net: no progress line: $(cat "$WORK/err.txt")"
pass "manet: train writes a run directory (metadata model=manet, 224x224x3); explicit options win"

run_ok lanmsff eval --weights "$MANET/last.safetensors" --data "$FACES_RGB" --json
cp "$WORK/out.txt" "$WORK/manet-eval.json"
check_json "$WORK/manet-eval.json" "MA-Net eval --json: accuracy consistent with a 7x7 confusion matrix over the 7 test images" '
m = d["confusion_matrix"]
assert len(m) == 7 and all(len(r) == 7 for r in m), m
assert sum(map(sum, m)) == 7, m
assert abs(d["accuracy"] - sum(m[i][i] for i in range(7)) / 7) < 1e-12, d["accuracy"]
assert d["classes"] == ["anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise"], d["classes"]
assert d["loss"] > 0, d["loss"]'
grep -q '"accuracy"' "$WORK/manet-eval.json" || fail "MA-Net eval --json has no \"accuracy\": $(cat "$WORK/manet-eval.json")"
pass "manet: eval --json"

# predict: softmax(beta * fc_1 + (1 - beta) * fc_2). With beta 1 and 0 the tool gives softmax(fc_1) and
# softmax(fc_2); their logs are the heads up to a constant, so 0.6 / 0.4 of them re-derive beta 0.6.
MANET_IMAGE=$FACES_RGB/test/happiness/test_0.png
for beta in 1 0 0.6; do
  run_ok lanmsff predict --faces aligned --weights "$MANET/last.safetensors" "$MANET_IMAGE" --json --beta $beta
  cp "$WORK/out.txt" "$WORK/manet-predict-$beta.json"
done
check_json "$WORK/manet-predict-0.6.json" "MA-Net predict --json: 7 class probabilities summing to 1" '
p = d[0]["probabilities"]
assert sorted(p) == ["anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise"], p
assert abs(sum(p.values()) - 1) < 1e-5, p
assert d[0]["prediction"] == max(p, key=p.get), d[0]'
check_json "$WORK/manet-predict-0.6.json" "MA-Net predict: the heads combined with beta 0.6" "
import math
heads = [json.load(open('$WORK/manet-predict-1.json'))[0]['probabilities'],
         json.load(open('$WORK/manet-predict-0.json'))[0]['probabilities']]
assert heads[0] != heads[1], heads
score = {k: 0.6 * math.log(heads[0][k]) + 0.4 * math.log(heads[1][k]) for k in heads[0]}
total = sum(math.exp(v) for v in score.values())
p = d[0]['probabilities']
assert all(abs(p[k] - math.exp(score[k]) / total) < 1e-5 for k in p), (p, score)"
pass "manet: predict --json, --beta combines the two heads"

# int8: the same program path as LANMSFF's (CBAM, the patch crops, the grid of patches, two heads).
run_ok lanmsff quantize --weights "$MANET/last.safetensors" --calibrate "$FACES_RGB" --images 4 "$WORK/manet-int8.safetensors"
grep -q 'manet with an int8 calibration' "$WORK/out.txt" || fail "MA-Net quantize: $(cat "$WORK/out.txt")"
check_int8_predict MA-Net "$WORK/manet-int8.safetensors" "$MANET_IMAGE" "$WORK/manet-predict-0.6.json"
pass "manet: quantize and predict --precision int8"

run_ok lanmsff summary --model manet
grep -Eq '^Trainable parameters: +50,547,214$' "$WORK/out.txt" || fail "summary --model manet: $(tail -n 4 "$WORK/out.txt")"
grep -Eq '^fc_1 .* 1x1x7 ' "$WORK/out.txt" || fail "summary --model manet: no 7-way fc_1: $(grep fc_ "$WORK/out.txt")"
run_ok lanmsff bench --model manet --batch 1 --iterations 1 --train --json
cp "$WORK/out.txt" "$WORK/manet-bench.json"
grep -q '"images_per_second"' "$WORK/manet-bench.json" || fail "bench --model manet --json: $(cat "$WORK/manet-bench.json")"
check_json "$WORK/manet-bench.json" "bench --model manet --train --json: keys and 3 x 7.28 GFLOP per image" '
assert set(d) == {"model", "mode", "precision", "batch", "threads", "isa", "iterations", "seconds", "images_per_second", "ms_per_batch", "gflops"}, d
assert d["precision"] == "float", d
assert d["isa"] in ("avx512", "avx2", "neon", "baseline"), d
assert d["model"] == "manet" and d["mode"] == "train" and d["batch"] == 1 and d["iterations"] == 1, d
assert abs(d["gflops"] - d["images_per_second"] * 3 * 7.28) < 1e-6 * d["gflops"], d'
pass "manet: summary (50,547,214 parameters) and bench --train"

# A checkpoint as tools/convert_manet.py writes it: model, classes, input_shape and source, no class
# names (rewritten here from the trained one: same tensors, the converter's metadata).
if [[ $HAVE_PYTHON -eq 1 ]]; then
  python3 - "$MANET/last.safetensors" "$WORK/converted.safetensors" <<'PY'
import json, shutil, struct, sys
with open(sys.argv[1], "rb") as src, open(sys.argv[2], "wb") as dst:
    header = json.loads(src.read(struct.unpack("<Q", src.read(8))[0]))
    header["__metadata__"] = {"classes": "7", "input_shape": "224x224x3", "model": "manet", "source": "manet.pth"}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    dst.write(struct.pack("<Q", len(text)) + text)
    shutil.copyfileobj(src, dst)
PY
  run_ok lanmsff eval --weights "$WORK/converted.safetensors" --data "$FACES_RGB" --json
  check_json "$WORK/out.txt" "eval of a converter-style checkpoint: the data set's class names, the same results" "
e = json.load(open('$WORK/manet-eval.json'))
assert d['classes'] == e['classes'], d['classes']
assert d['confusion_matrix'] == e['confusion_matrix'] and d['loss'] == e['loss'], (d, e)"
  run_ok lanmsff train --model manet --data "$FACES_RGB" --init "$WORK/converted.safetensors" --epochs 0 --out "$WORK/manet-from-converted"
  expect_file "$WORK/manet-from-converted/last.safetensors"
  pass "manet: a converter-style checkpoint (no class names) works with eval and --init"

  # Metadata that is not what the tool writes: named, with its value, never read as a number prefix.
  for bad in 'classes=7abc' 'input_shape=224x224' 'input_shape=224x112x3'; do
    key=${bad%%=*} value=${bad#*=}
    python3 - "$WORK/converted.safetensors" "$WORK/bad-metadata.safetensors" "$key" "$value" <<'PY'
import json, shutil, struct, sys
with open(sys.argv[1], "rb") as src, open(sys.argv[2], "wb") as dst:
    header = json.loads(src.read(struct.unpack("<Q", src.read(8))[0]))
    header["__metadata__"][sys.argv[3]] = sys.argv[4]
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    dst.write(struct.pack("<Q", len(text)) + text)
    shutil.copyfileobj(src, dst)
PY
    expect_error "checkpoint metadata $bad" "^lanmsff: error: .*bad-metadata.safetensors: the checkpoint's metadata '$key' = '$value' is not " \
      lanmsff eval --weights "$WORK/bad-metadata.safetensors" --data "$FACES_RGB"
  done
fi

expect_error "manet: --explain (MassAtt maps are LANMSFF's)" "^lanmsff: error: --explain .*manet has none" \
  lanmsff predict --faces aligned --weights "$MANET/last.safetensors" "$MANET_IMAGE" --explain "$WORK/manet-explain.png"
expect_error "manet: a class count the tool does not ship" "^lanmsff: error: .*MA-Net models have 7 or 8 classes, not 3 .*models::MANet<K>" \
  lanmsff train --model manet --data "$FACES" --epochs 1 --out "$WORK/manet-3"
expect_error "manet: gray input" "^lanmsff: error: --channels 1: MA-Net takes RGB" \
  lanmsff train --model manet --channels 1 --data "$FACES_RGB" --epochs 1 --out "$WORK/manet-gray"
expect_error "--beta for a one-head model" "^lanmsff: error: --beta .* lanmsff has one head" \
  lanmsff eval --weights "$RUN/last.safetensors" --data "$FACES" --beta 0.5

echo "cli_end_to_end: all $checks checks passed"
