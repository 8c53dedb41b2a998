# The helpers the command-line tests share (sourced by run.sh, mpi.sh and faces.sh, after they set
# WORK, the folder each command's output goes to).
checks=0
fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { checks=$((checks + 1)); echo "ok: $*"; }
# run_ok COMMAND...: the command succeeds; its stdout and stderr go to $WORK/out.txt and $WORK/err.txt.
run_ok() {
  local rc=0
  "$@" >"$WORK/out.txt" 2>"$WORK/err.txt" || rc=$?
  if [[ $rc -ne 0 ]]; then
    cat "$WORK/err.txt" >&2
    fail "exit code $rc from: $*"
  fi
}
# expect_status N COMMAND...: the command exits with status N; its output in out.txt / err.txt.
expect_status() {
  local want=$1 rc=0
  shift
  "$@" >"$WORK/out.txt" 2>"$WORK/err.txt" || rc=$?
  [[ $rc -eq $want ]] || { cat "$WORK/err.txt" >&2; fail "exit code $rc (expected $want) from: $*"; }
}
# expect_error NAME PATTERN COMMAND...: COMMAND fails cleanly (a non-zero exit below 128; 128 and
# above is a signal: a crash) and its stderr matches PATTERN (grep -E).
expect_error() {
  local name=$1 pattern=$2 rc=0
  shift 2
  "$@" >"$WORK/out.txt" 2>"$WORK/err.txt" || rc=$?
  [[ $rc -ne 0 ]] || fail "$name: exit code 0 (expected an error)"
  [[ $rc -lt 128 ]] || fail "$name: exit code $rc: killed by signal $((rc - 128)) (a crash): $(cat "$WORK/err.txt")"
  grep -Eq -- "$pattern" "$WORK/err.txt" || fail "$name: stderr does not match '$pattern': $(cat "$WORK/err.txt")"
  pass "error: $name ($(grep -E -m1 -- "$pattern" "$WORK/err.txt"))"
}
