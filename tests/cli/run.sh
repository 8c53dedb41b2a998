#!/usr/bin/env bash
# End-to-end test of the `lanmsff` command-line tool: train / eval / predict / summary / bench on a
# tiny image folder (tests/data/cli/faces, written by tools/make_cli_fixtures.py), the run directory,
# determinism, resuming, and one clean error message (never a crash) for each kind of user mistake.
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
DATASETS=$TESTS/data/datasets
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lanmsff-cli.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# A fixed thread count: the weights are bit-reproducible for a given seed and thread count.
lanmsff() { "$TOOL" --threads 2 "$@"; }
# The small, fast training setup every run below shares (the seed is given per run).
TRAIN=(train --data "$FACES" --val "$FACES" --batch-size 4 --bn-reestimate 2)

checks=0
fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { checks=$((checks + 1)); echo "ok: $*"; }
expect_file() { [[ -s "$1" ]] || fail "$1 was not written (or is empty)"; }
png_signature() { head -c 8 "$1" | od -An -tx1 | tr -d ' \n'; }
expect_png() {
  expect_file "$1"
  [[ "$(png_signature "$1")" == "89504e470d0a1a0a" ]] || fail "$1 is not a PNG (signature $(png_signature "$1"))"
}
# Runs a command that must succeed; its stdout and stderr go to $WORK/out.txt and $WORK/err.txt.
run_ok() {
  local rc=0
  "$@" >"$WORK/out.txt" 2>"$WORK/err.txt" || rc=$?
  if [[ $rc -ne 0 ]]; then
    cat "$WORK/err.txt" >&2
    fail "exit code $rc from: $*"
  fi
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

# ---- train: the run directory ------------------------------------------------------------------
RUN=$WORK/run
run_ok lanmsff "${TRAIN[@]}" --epochs 1 --seed 11 --out "$RUN"
for f in best.safetensors last.safetensors resume.safetensors metrics.csv command.txt; do expect_file "$RUN/$f"; done
for f in loss.png accuracy.png confusion.png; do expect_png "$RUN/$f"; done
[[ $(wc -l <"$RUN/metrics.csv") -eq 2 ]] || fail "metrics.csv after 1 epoch should be a header and 1 row: $(cat "$RUN/metrics.csv")"
head -n 1 "$RUN/metrics.csv" | grep -q '^epoch,train_loss,train_accuracy,val_loss,val_accuracy,' ||
  fail "metrics.csv header: $(head -n 1 "$RUN/metrics.csv")"
sed -n 2p "$RUN/metrics.csv" | grep -Eq '^1,[0-9.]+,[0-9.]+,[0-9.]+,[0-9.]+,' ||
  fail "metrics.csv row 1 (with validation columns): $(sed -n 2p "$RUN/metrics.csv")"
grep -qx 'seed 11' "$RUN/command.txt" || fail "command.txt does not record the seed: $(cat "$RUN/command.txt")"
grep -q -- '--seed 11' "$RUN/command.txt" || fail "command.txt does not hold the command: $(cat "$RUN/command.txt")"
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
run_ok lanmsff predict --weights "$RUN/last.safetensors" "$IMAGE"
grep -Eq "^$IMAGE: class_[abc]\$" "$WORK/out.txt" || fail "predict: no '<image>: <class>' line: $(cat "$WORK/out.txt")"
for c in class_a class_b class_c; do
  grep -Eq "^  $c +[01]\.[0-9]{4}\$" "$WORK/out.txt" || fail "predict: no probability line for $c: $(cat "$WORK/out.txt")"
done
run_ok lanmsff predict --weights "$RUN/last.safetensors" "$IMAGE" --json
cp "$WORK/out.txt" "$WORK/predict.json"
grep -q '"prediction"' "$WORK/predict.json" || fail "predict --json has no \"prediction\": $(cat "$WORK/predict.json")"
check_json "$WORK/predict.json" "predict --json: one result, probabilities of the 3 classes summing to 1" '
assert len(d) == 1, d
p = d[0]["probabilities"]
assert sorted(p) == ["class_a", "class_b", "class_c"], p
assert abs(sum(p.values()) - 1) < 1e-5, p
assert d[0]["prediction"] == max(p, key=p.get), d[0]'
run_ok lanmsff predict --weights "$RUN/last.safetensors" "$IMAGE" --explain "$WORK/explain.png"
expect_png "$WORK/explain.png"
pass "predict prints the checkpoint's class names, --json, --explain writes a PNG"

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

# ---- summary and bench -----------------------------------------------------------------------------
run_ok lanmsff summary --classes 3
grep -Eq '^Trainable parameters: +[0-9,]+$' "$WORK/out.txt" || fail "summary: no parameter count: $(cat "$WORK/out.txt")"
grep -Eq '^classifier .* 1x1x3 ' "$WORK/out.txt" || fail "summary --classes 3: no 3-way classifier: $(cat "$WORK/out.txt")"
run_ok lanmsff bench --batch 1 --iterations 1 --json
grep -q '"images_per_second"' "$WORK/out.txt" || fail "bench --json: $(cat "$WORK/out.txt")"
pass "summary and bench"

# ---- errors: a message and a non-zero exit below 128 (128+ is a signal: a crash) ----------------
# expect_error NAME PATTERN COMMAND...: COMMAND fails cleanly and its stderr matches PATTERN (grep -E).
expect_error() {
  local name=$1 pattern=$2 rc=0
  shift 2
  "$@" >"$WORK/out.txt" 2>"$WORK/err.txt" || rc=$?
  [[ $rc -ne 0 ]] || fail "$name: exit code 0 (expected an error)"
  [[ $rc -lt 128 ]] || fail "$name: exit code $rc: killed by signal $((rc - 128)) (a crash): $(cat "$WORK/err.txt")"
  grep -Eq -- "$pattern" "$WORK/err.txt" || fail "$name: stderr does not match '$pattern': $(cat "$WORK/err.txt")"
  pass "error: $name ($(grep -E -m1 -- "$pattern" "$WORK/err.txt"))"
}
expect_error "missing data path" "^lanmsff: error: .*does-not-exist" \
  lanmsff train --data "$WORK/does-not-exist" --epochs 1 --out "$WORK/err1"
expect_error "missing eval data" "^lanmsff: error: .*does-not-exist" \
  lanmsff eval --weights "$RUN/last.safetensors" --data "$WORK/does-not-exist"
expect_error "unreadable image" "^lanmsff: error: .*corrupt\.png" \
  lanmsff predict --weights "$RUN/last.safetensors" "$DATASETS/images/corrupt.png"
expect_error "malformed CSV row (with its line number)" "^lanmsff: error: .*wrong_pixel_count\.csv:3:" \
  lanmsff train --data "$DATASETS/fer2013_bad/wrong_pixel_count.csv" --epochs 1 --out "$WORK/err2"
expect_error "unknown option" "not expected: .*--no-such-option" \
  lanmsff train --data "$FACES" --out "$WORK/err3" --no-such-option
expect_error "eval on a data set with another class count" "^lanmsff: error: .*has 2 classes" \
  lanmsff eval --weights "$RUN/last.safetensors" --data "$DATASETS/folder_flat"
mkdir "$WORK/no-checkpoint"
expect_error "--resume of a directory without a checkpoint" "^lanmsff: error: .*last\.safetensors" \
  lanmsff "${TRAIN[@]}" --resume "$WORK/no-checkpoint" --epochs 2 --out "$WORK/no-checkpoint"
run_ok lanmsff train --data "$DATASETS/folder_flat" --epochs 0 --out "$WORK/two-classes"
expect_error "--init with a checkpoint of another shape" "^lanmsff: error: .*does not match the model" \
  lanmsff "${TRAIN[@]}" --init "$WORK/two-classes/last.safetensors" --epochs 1 --out "$WORK/err4"

echo "cli_end_to_end: all $checks checks passed"
