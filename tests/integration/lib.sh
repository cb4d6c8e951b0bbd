# Shared helpers of the shell integration tests. Source it from a test script:
#
#   . "$(dirname "$0")/lib.sh"
#   start_meterd --modbus-access read-write   # sets METERD_PID, MODBUS_PORT, READY_FILE, STATE_DIR
#   expect_exit 0 "read voltage" meterctl modbus read voltage_an
#   stop_meterd
#
# Every meterd runs on 127.0.0.1 with --modbus-port 0 (and port 0 for the native ports) and a state directory under the
# test's own temporary directory. Readiness is the ready file appearing, polled against
# a deadline (never a fixed sleep). Processes are stopped by the PID this shell got from
# `&`, never by name, and whatever is still running when the script exits is stopped by
# the EXIT trap.
#
# Environment: METERD and METERCTL name the binaries (ctest sets them; by hand they
# default to build/ beside the sources). READY_DEADLINE_S bounds start-up (default 30 s,
# which leaves room for AddressSanitizer builds). KEEP_TEST_TMP=1 keeps the temporary
# directory for a post-mortem (a failure prints the tail of the last meterd log anyway).

set -u -o pipefail

INTEGRATION_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SOURCE_DIR=$(cd "$INTEGRATION_DIR/../.." && pwd)
METERD=${METERD:-$SOURCE_DIR/build/firmware/meterd}
METERCTL=${METERCTL:-$SOURCE_DIR/build/cli/meterctl}
# Debian's python3-pymodbus belongs to the system interpreter, whatever `python3` is on PATH.
PYTHON=/usr/bin/python3
READY_DEADLINE_S=${READY_DEADLINE_S:-30}
# How long a SIGTERM'd process may take to save and exit before the test calls it stuck.
STOP_DEADLINE_S=${STOP_DEADLINE_S:-30}
# meterctl's own per-answer timeout: generous, since only unreachable meters should hit it.
METERCTL_TIMEOUT_S=${METERCTL_TIMEOUT_S:-10}

TEST_NAME=$(basename "$0" .sh)
TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/meterctl-$TEST_NAME.XXXXXX")
# Processes this shell started and has not reaped yet; the EXIT trap stops them.
STARTED_PIDS=()
METERD_COUNT=0
METERD_PID=
MODBUS_PORT=
READY_FILE=
METERD_LOG=
STATE_DIR=

for binary in "$METERD" "$METERCTL"; do
  [[ -x $binary ]] || { echo "FAIL: $binary is not an executable (build first, or set METERD/METERCTL)" >&2; exit 1; }
done

log() { echo "[$TEST_NAME] $*" >&2; }

# Prints the tail of the log of the meterd started last, for the reader of a failure.
dump_meterd_log() {
  [[ -n $METERD_LOG && -f $METERD_LOG ]] || return 0
  echo "---- last lines of $METERD_LOG ----" >&2
  tail -n 20 "$METERD_LOG" >&2
}

fail() {
  echo "FAIL [$TEST_NAME]: $*" >&2
  dump_meterd_log
  exit 1
}

process_alive() { kill -0 "$1" 2>/dev/null; }

forget_pid() {
  local pid=$1 kept=() p
  for p in "${STARTED_PIDS[@]}"; do [[ $p == "$pid" ]] || kept+=("$p"); done
  STARTED_PIDS=("${kept[@]}")
}

# Registers a helper process (socat, ...) so the EXIT trap stops it.
track_pid() { STARTED_PIDS+=("$1"); }

# Waits until PID exits, up to $2 seconds; returns 1 if it is still running.
wait_for_exit() {
  local pid=$1 deadline=$((SECONDS + $2))
  while process_alive "$pid"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.05
  done
  return 0
}

# Stops one process we started: SIGTERM, a deadline, then SIGKILL. Sets STOP_STATUS.
terminate_pid() {
  local pid=$1
  kill -TERM "$pid" 2>/dev/null
  if ! wait_for_exit "$pid" "$STOP_DEADLINE_S"; then
    log "PID $pid ignored SIGTERM for ${STOP_DEADLINE_S}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null
  fi
  wait "$pid" 2>/dev/null
  STOP_STATUS=$?
  forget_pid "$pid"
}

cleanup() {
  local status=$? i
  # Last started, first stopped: a meterd goes before the socat that carries its serial line.
  for ((i = ${#STARTED_PIDS[@]} - 1; i >= 0; i--)); do terminate_pid "${STARTED_PIDS[i]}"; done
  if [[ ${KEEP_TEST_TMP:-0} == 1 ]]; then
    log "kept $TEST_TMP"
  else
    rm -rf "$TEST_TMP"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

new_state_dir() { mktemp -d "$TEST_TMP/state.XXXXXX"; }

# json_get FILE EXPRESSION: prints EXPRESSION evaluated on the document `d` read from
# FILE ("-" for stdin), e.g. json_get ready.json 'd["meters"][0]["serial_number"]'.
json_get() {
  "$PYTHON" -c 'import json, sys
d = json.load(sys.stdin if sys.argv[1] == "-" else open(sys.argv[1]))
value = eval(sys.argv[2], {"d": d})
print(json.dumps(value) if isinstance(value, (dict, list)) else value)' "$1" "$2"
}

# wait_for_ready FILE PID LOG: polls until FILE exists, failing early if PID exits and
# after READY_DEADLINE_S. meterd writes the file atomically, so existing means complete.
wait_for_ready() {
  local file=$1 pid=$2 logfile=$3 deadline=$((SECONDS + READY_DEADLINE_S))
  until [[ -s $file ]]; do
    if ! process_alive "$pid"; then
      wait "$pid"
      local status=$?
      forget_pid "$pid"
      fail "meterd (PID $pid) exited with status $status before writing its ready file; log $logfile"
    fi
    ((SECONDS < deadline)) || fail "meterd (PID $pid) wrote no ready file within ${READY_DEADLINE_S}s"
    sleep 0.05
  done
}

# launch_meterd [args...]: starts meterd in the background on the current STATE_DIR
# (a fresh one if unset) without waiting. Sets METERD_PID, READY_FILE, METERD_LOG.
launch_meterd() {
  [[ -n $STATE_DIR ]] || STATE_DIR=$(new_state_dir)
  METERD_COUNT=$((METERD_COUNT + 1))
  READY_FILE=$TEST_TMP/ready-$METERD_COUNT.json
  METERD_LOG=$TEST_TMP/meterd-$METERD_COUNT.log
  "$METERD" --bind 127.0.0.1 --modbus-port 0 --native-port 0 --secure-port 0 --state-dir "$STATE_DIR" --ready-file "$READY_FILE" "$@" \
    >"$METERD_LOG" 2>&1 &
  METERD_PID=$!
  STARTED_PIDS+=("$METERD_PID")
}

# start_meterd [args...]: launches meterd and waits for its ready file. Sets METERD_PID,
# MODBUS_PORT, READY_FILE, METERD_LOG and (when unset) STATE_DIR.
start_meterd() {
  launch_meterd "$@"
  wait_for_ready "$READY_FILE" "$METERD_PID" "$METERD_LOG"
  MODBUS_PORT=$(json_get "$READY_FILE" 'd["modbus"]') || fail "ready file $READY_FILE is not JSON: $(cat "$READY_FILE")"
  local ready_pid
  ready_pid=$(json_get "$READY_FILE" 'd["pid"]')
  [[ $ready_pid == "$METERD_PID" ]] || fail "ready file names PID $ready_pid, but meterd is PID $METERD_PID"
  [[ $MODBUS_PORT =~ ^[0-9]+$ && $MODBUS_PORT -gt 0 ]] || fail "ready file has no usable modbus port: $MODBUS_PORT"
}

# stop_meterd [PID]: SIGTERM (default: the last started meterd), insist on exit status 0
# and, for the last started meterd, on its ready file being gone.
stop_meterd() {
  local pid=${1:-$METERD_PID}
  terminate_pid "$pid"
  [[ $STOP_STATUS -eq 0 ]] || fail "meterd (PID $pid) exited with status $STOP_STATUS on SIGTERM"
  if [[ $pid == "$METERD_PID" && -n ${READY_FILE:-} && -e $READY_FILE ]]; then
    fail "meterd (PID $pid) left its ready file $READY_FILE behind after a clean stop"
  fi
}

# kill_meterd [PID]: SIGKILL, as a power cut would, and reap it.
kill_meterd() {
  local pid=${1:-$METERD_PID}
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  forget_pid "$pid"
}

# expect_meterd_refuses [args...]: runs meterd on STATE_DIR expecting it to exit without
# becoming ready. Sets METERD_EXIT and METERD_LOG.
expect_meterd_refuses() {
  launch_meterd "$@"
  local pid=$METERD_PID deadline=$((SECONDS + READY_DEADLINE_S))
  while process_alive "$pid"; do
    if [[ -s $READY_FILE ]]; then
      terminate_pid "$pid"
      fail "meterd $* started (wrote its ready file) although it should have refused to"
    fi
    ((SECONDS < deadline)) || fail "meterd $* neither became ready nor exited within ${READY_DEADLINE_S}s"
    sleep 0.05
  done
  wait "$pid"
  # shellcheck disable=SC2034 # read by the calling test
  METERD_EXIT=$?
  forget_pid "$pid"
}

# run_cmd CMD...: runs CMD, keeping its exit status in RC, stdout in OUT, stderr in ERR.
run_cmd() {
  "$@" >"$TEST_TMP/stdout" 2>"$TEST_TMP/stderr"
  RC=$?
  OUT=$(cat "$TEST_TMP/stdout")
  ERR=$(cat "$TEST_TMP/stderr")
}

# expect_exit CODE DESCRIPTION CMD...: runs CMD and fails unless it exits with CODE.
expect_exit() {
  local code=$1 what=$2
  shift 2
  run_cmd "$@"
  [[ $RC -eq $code ]] || fail "$what: expected exit $code, got $RC
  command: $*
  stdout: $OUT
  stderr: $ERR"
}

expect_ok() { expect_exit 0 "$@"; }

# expect_contains TEXT NEEDLE DESCRIPTION
expect_contains() {
  [[ $1 == *"$2"* ]] || fail "$3: expected to find '$2' in:
$1"
}

expect_not_contains() {
  [[ $1 != *"$2"* ]] || fail "$3: did not expect '$2' in:
$1"
}

# py_check EXPRESSION DESCRIPTION [ARGS...]: evaluates a Python boolean over `a` (ARGS)
# and fails when it is false, e.g. py_check 'abs(float(a[0]) - 230) < 20' "voltage" "$v".
py_check() {
  local expression=$1 what=$2
  shift 2
  "$PYTHON" -c 'import sys, math
a = sys.argv[2:]
sys.exit(0 if eval(sys.argv[1], {"a": a, "math": math, "abs": abs, "float": float, "int": int}) else 1)' \
    "$expression" "$@" || fail "$what: check '$expression' is false for: $*"
}

# meterctl ARGS...: meterctl against the current meter (MODBUS_PORT) on loopback.
meterctl() { "$METERCTL" --meter "127.0.0.1:$MODBUS_PORT" --timeout "$METERCTL_TIMEOUT_S" "$@"; }

# A loopback port nothing listens on: bound by the kernel, then released.
closed_port() {
  "$PYTHON" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# run_sections [SECTION...]: runs the script's section_<name> functions, the given ones or
# all of ALL_SECTIONS, each starting without a state directory.
run_sections() {
  local sections=("$@") section
  [[ ${#sections[@]} -gt 0 ]] || sections=("${ALL_SECTIONS[@]}")
  for section in "${sections[@]}"; do
    declare -F "section_$section" >/dev/null || fail "unknown section '$section' (known: ${ALL_SECTIONS[*]})"
    log "section $section"
    STATE_DIR=
    "section_$section"
  done
  log "PASS"
}
