#!/usr/bin/env bash
# A meter's state survives kill -9: meterd restarts on the same state directory with the
# same serial number and energy that never goes backwards, however often it is killed and
# at whatever moment (start-up included); and a corrupted state file stops meterd with
# EX_CONFIG (78) and a message naming the file, which it leaves untouched.

. "$(dirname "$0")/lib.sh"

KILL_ROUNDS=10
# How long energy may take to become non-zero: it integrates once per meter second.
ENERGY_DEADLINE_S=20

# energy_wh: active_energy_delivered_wh (register 3204, i64) of the current meter.
energy_wh() {
  expect_ok "read active_energy_delivered_wh" meterctl -o json modbus read active_energy_delivered_wh
  json_get - 'd["values"][0]["value"]' <<<"$OUT"
}

serial_of_ready_file() { json_get "$READY_FILE" 'd["meters"][0]["serial_number"]'; }

start_meterd
state_dir=$STATE_DIR
serial=$(serial_of_ready_file)
[[ $serial =~ ^VM[0-9]{10}$ ]] || fail "serial number '$serial' is not VM and ten digits"
[[ -f $state_dir/meter-state.json ]] || fail "no meter-state.json in $state_dir after start-up"

deadline=$((SECONDS + ENERGY_DEADLINE_S))
energy=$(energy_wh) || exit 1
while ((energy <= 0)); do
  ((SECONDS < deadline)) || fail "energy still $energy Wh after ${ENERGY_DEADLINE_S}s"
  sleep 0.1
  energy=$(energy_wh) || exit 1
done
log "energy before kill -9: $energy Wh"

kill_meterd
start_meterd
[[ $(serial_of_ready_file) == "$serial" ]] || fail "serial number changed across kill -9: $serial -> $(serial_of_ready_file)"
after=$(energy_wh) || exit 1
((after >= energy)) || fail "energy went backwards across kill -9: $energy Wh -> $after Wh"
energy=$after

# Kill at random moments (the randomness is the point here, not a wait): odd rounds 0 to
# 50 ms after launch, mostly during start-up, when the state file is being loaded and
# saved; even rounds 0 to 300 ms after the meter became ready.
for ((round = 1; round <= KILL_ROUNDS; round++)); do
  if ((round % 2)); then
    kill_meterd
    launch_meterd
    sleep "0.$(printf '%03d' $((RANDOM % 50)))"
  else
    sleep "0.$(printf '%03d' $((RANDOM % 300)))"
  fi
  kill_meterd
  start_meterd
  [[ $(serial_of_ready_file) == "$serial" ]] || fail "round $round: serial number changed to $(serial_of_ready_file)"
  json_get "$state_dir/meter-state.json" 'd["serial_number"]' >/dev/null ||
    fail "round $round: meter-state.json is not valid JSON after kill -9"
  after=$(energy_wh) || exit 1
  ((after >= energy)) || fail "round $round: energy went backwards: $energy Wh -> $after Wh"
  energy=$after
done
log "after $KILL_ROUNDS kill -9 rounds: $energy Wh, serial $serial"
stop_meterd

# Corrupted state files: each is refused with 78, named, and left as it was.
expect_state_refused() {
  local what=$1
  local copy=$TEST_TMP/state-before.json
  cp "$state_dir/meter-state.json" "$copy"
  STATE_DIR=$state_dir
  expect_meterd_refuses
  [[ $METERD_EXIT -eq 78 ]] || fail "$what: meterd exited $METERD_EXIT, not 78 (EX_CONFIG)"
  expect_contains "$(cat "$METERD_LOG")" "$state_dir/meter-state.json" "$what: the message names the state file"
  cmp -s "$copy" "$state_dir/meter-state.json" || fail "$what: meterd changed the corrupted meter-state.json"
}

good_state=$TEST_TMP/good-state.json
cp "$state_dir/meter-state.json" "$good_state"

printf '{"format_version": 1, "serial_number": "%s", "model": "ION7' "$serial" >"$state_dir/meter-state.json"
expect_state_refused "a truncated state file"

printf 'not json at all\n' >"$state_dir/meter-state.json"
expect_state_refused "a state file that is not JSON"

"$PYTHON" -c 'import json, sys
d = json.load(open(sys.argv[1]))
del d["energy"]
json.dump(d, open(sys.argv[2], "w"))' "$good_state" "$state_dir/meter-state.json" || fail "cannot write the test state"
expect_state_refused "a state file without energy"

"$PYTHON" -c 'import json, sys
d = json.load(open(sys.argv[1]))
d["settings"]["pt_secondary"] = 99999
json.dump(d, open(sys.argv[2], "w"))' "$good_state" "$state_dir/meter-state.json" || fail "cannot write the test state"
expect_state_refused "a state file with an out-of-range setting"

: >"$state_dir/meter-state.json"
expect_state_refused "an empty state file"

# Put back, the good state starts the same meter again.
cp "$good_state" "$state_dir/meter-state.json"
STATE_DIR=$state_dir
start_meterd
[[ $(serial_of_ready_file) == "$serial" ]] || fail "the restored state did not bring back serial $serial"
after=$(energy_wh) || exit 1
((after >= energy)) || fail "energy went backwards after restoring the state: $energy Wh -> $after Wh"
stop_meterd
log "PASS"
