#!/usr/bin/env bash
# meterd --fleet 3: three meters on consecutive ports, each with its own serial number and
# state directory (meter-001..003), each answering Modbus as itself; a restart on the
# same state directory brings back the same meters in the same order.

. "$(dirname "$0")/lib.sh"

FLEET_SIZE=3

start_meterd --fleet "$FLEET_SIZE"
fleet_dir=$STATE_DIR

[[ $(json_get "$READY_FILE" 'len(d["meters"])') == "$FLEET_SIZE" ]] || fail "ready file lists not $FLEET_SIZE meters: $(cat "$READY_FILE")"
base_port=$(json_get "$READY_FILE" 'd["meters"][0]["modbus"]')
[[ $base_port == "$MODBUS_PORT" ]] || fail "ready file's modbus ($MODBUS_PORT) is not the first meter's port ($base_port)"

declare -a serials
for ((i = 0; i < FLEET_SIZE; i++)); do
  port=$(json_get "$READY_FILE" "d['meters'][$i]['modbus']")
  serial=$(json_get "$READY_FILE" "d['meters'][$i]['serial_number']")
  meter_dir=$(json_get "$READY_FILE" "d['meters'][$i]['state_dir']")
  name=$(printf 'meter-%03d' $((i + 1)))

  [[ $port -eq $((base_port + i)) ]] || fail "meter $((i + 1)) listens on $port, not $((base_port + i)) (consecutive ports)"
  [[ $serial =~ ^VM[0-9]{10}$ ]] || fail "meter $((i + 1)) has serial number '$serial'"
  [[ -d $fleet_dir/$name ]] || fail "no state directory $fleet_dir/$name"
  [[ -f $fleet_dir/$name/meter-state.json ]] || fail "no meter-state.json in $fleet_dir/$name"
  [[ $meter_dir -ef $fleet_dir/$name ]] || fail "ready file gives meter $((i + 1)) the state directory $meter_dir, not $fleet_dir/$name"
  [[ $(json_get "$fleet_dir/$name/meter-state.json" 'd["serial_number"]') == "$serial" ]] ||
    fail "$name/meter-state.json does not hold serial $serial"
  for other in "${serials[@]}"; do
    [[ $other != "$serial" ]] || fail "two meters of the fleet share the serial number $serial"
  done
  serials+=("$serial")

  MODBUS_PORT=$port
  expect_ok "meter $((i + 1)) answers a read" meterctl -o json modbus read voltage_an
  py_check '200 < float(a[0]) < 260' "voltage_an of meter $((i + 1))" "$(json_get - 'd["values"][0]["value"]' <<<"$OUT")"
  # The identification carries the serial number: the port is answered by its own meter.
  expect_ok "meter $((i + 1)) identifies itself" meterctl -o json modbus id
  expect_contains "$(json_get - 'd["identification"]["UserApplicationName"]' <<<"$OUT")" "$serial" \
    "identification of the meter on port $port"
done
[[ ! -e $fleet_dir/meter-004 ]] || fail "a fleet of $FLEET_SIZE made meter-004"
stop_meterd

STATE_DIR=$fleet_dir
start_meterd --fleet "$FLEET_SIZE"
for ((i = 0; i < FLEET_SIZE; i++)); do
  [[ $(json_get "$READY_FILE" "d['meters'][$i]['serial_number']") == "${serials[i]}" ]] ||
    fail "after a restart meter $((i + 1)) is $(json_get "$READY_FILE" "d['meters'][$i]['serial_number']"), not ${serials[i]}"
done
stop_meterd
log "PASS"
