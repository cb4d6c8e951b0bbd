#!/usr/bin/env bash
# meterctl's Modbus commands against real meterd processes on loopback: reads by name and
# by register, writes under each Modbus access setting and their persistence, device
# identification, time, watch, the map, exit codes, and what firmware versions serve.
#
# Usage: meterctl_modbus_test.sh [SECTION...]   (default: every section)
# Each section starts its own meters, so ctest runs them as separate tests and a failure
# names the behaviour that broke.

. "$(dirname "$0")/lib.sh"

ALL_SECTIONS=(read write access identify cli firmware rollback)

section_read() {
  start_meterd

  expect_ok "read voltage_an by name" meterctl -o json modbus read voltage_an
  local document=$OUT
  [[ $(json_get - 'd["values"][0]["name"]' <<<"$document") == voltage_an ]] || fail "read by name: wrong name in $document"
  [[ $(json_get - 'd["values"][0]["register"]' <<<"$document") == 3028 ]] || fail "voltage_an is not register 3028: $document"
  [[ $(json_get - 'd["values"][0]["address"]' <<<"$document") == 3027 ]] || fail "voltage_an is not address 3027: $document"
  [[ $(json_get - 'd["function"]' <<<"$document") == holding ]] || fail "read by name did not use holding registers: $document"
  py_check '200 < float(a[0]) < 260' "voltage_an of the steady-state scenario" \
    "$(json_get - 'd["values"][0]["value"]' <<<"$document")"

  expect_ok "read register 3028 as float32" meterctl -o json modbus read 3028 --type float32
  document=$OUT
  [[ $(json_get - 'd["values"][0]["address"]' <<<"$document") == 3027 ]] || fail "register 3028 is not address 3027: $document"
  py_check '200 < float(a[0]) < 260' "register 3028 (voltage_an) as float32" \
    "$(json_get - 'd["values"][0]["value"]' <<<"$document")"

  expect_ok "read address 3027 zero-based" meterctl -o json modbus read 3027 --zero-based --type float32
  py_check '200 < float(a[0]) < 260' "zero-based address 3027" "$(json_get - 'd["values"][0]["value"]' <<<"$OUT")"

  # A configuration register holds its documented default on a new meter.
  expect_ok "read pt_primary" meterctl -o json modbus read pt_primary
  [[ $(json_get - 'd["values"][0]["value"]' <<<"$OUT") == 230 ]] || fail "pt_primary of a new meter is not 230: $OUT"
  expect_ok "read register 8102 as u32" meterctl -o json modbus read 8102 --type u32
  [[ $(json_get - 'd["values"][0]["value"]' <<<"$OUT") == 230 ]] || fail "register 8102 (u32) is not 230: $OUT"

  expect_ok "read three consecutive points" meterctl -o json modbus read current_a --count 3
  [[ $(json_get - '",".join(v["name"] for v in d["values"])' <<<"$OUT") == current_a,current_b,current_c ]] ||
    fail "--count 3 from current_a: $OUT"

  expect_ok "read with function 4" meterctl -o json modbus read voltage_an --input
  [[ $(json_get - 'd["function"]' <<<"$OUT") == input ]] || fail "--input did not use input registers: $OUT"
  py_check '200 < float(a[0]) < 260' "voltage_an over function 4" "$(json_get - 'd["values"][0]["value"]' <<<"$OUT")"

  expect_ok "table output" meterctl modbus read voltage_an
  expect_contains "$OUT" "voltage_an" "table output of modbus read"
  expect_contains "$OUT" "3028" "table output of modbus read"

  # Register 5000 lies in no block of the map: exception 2, exit 1.
  expect_exit 1 "read of an unmapped register" meterctl modbus read 5000
  expect_contains "$ERR" "exception 2" "unmapped register"

  # The default access of a new meter is read-only.
  expect_exit 1 "write under the default (read-only) access" meterctl modbus write pt_primary 400
  expect_contains "$ERR" "exception 1" "write under read-only"
  expect_contains "$ERR" "illegal function" "write under read-only"
  stop_meterd
}

section_write() {
  start_meterd --modbus-access read-write
  local state_dir=$STATE_DIR

  expect_ok "write pt_primary under read-write" meterctl modbus write pt_primary 400
  expect_ok "read back pt_primary" meterctl -o json modbus read pt_primary
  [[ $(json_get - 'd["values"][0]["value"]' <<<"$OUT") == 400 ]] || fail "pt_primary after writing 400: $OUT"

  expect_ok "write register 8105 (ct_primary) with function 16" meterctl -o json modbus write 8105 250 --multiple
  [[ $(json_get - 'd["function_code"]' <<<"$OUT") == 16 ]] || fail "--multiple did not use function 16: $OUT"
  expect_ok "read back ct_primary" meterctl -o json modbus read ct_primary
  [[ $(json_get - 'd["values"][0]["value"]' <<<"$OUT") == 250 ]] || fail "ct_primary after writing 250: $OUT"

  # pt_secondary accepts 1..690: the meter answers exception 3 and keeps the old value.
  expect_exit 1 "out-of-range write" meterctl modbus write pt_secondary 5000
  expect_contains "$ERR" "exception 3" "out-of-range write"
  expect_ok "read pt_secondary after the refused write" meterctl -o json modbus read pt_secondary
  [[ $(json_get - 'd["values"][0]["value"]' <<<"$OUT") == 230 ]] || fail "a refused write changed pt_secondary: $OUT"

  # Read-only points are refused by meterctl before anything is sent.
  expect_exit 64 "write to a read-only point" meterctl modbus write voltage_an 1

  stop_meterd
  STATE_DIR=$state_dir
  start_meterd --modbus-access read-write
  expect_ok "read pt_primary after a restart" meterctl -o json modbus read pt_primary
  [[ $(json_get - 'd["values"][0]["value"]' <<<"$OUT") == 400 ]] || fail "pt_primary did not survive a restart: $OUT"
  expect_ok "read ct_primary after a restart" meterctl -o json modbus read ct_primary
  [[ $(json_get - 'd["values"][0]["value"]' <<<"$OUT") == 250 ]] || fail "ct_primary did not survive a restart: $OUT"

  # A write is saved before it is acknowledged, so even kill -9 right after keeps it.
  expect_ok "write ct_secondary" meterctl modbus write ct_secondary 1
  kill_meterd
  start_meterd --modbus-access read-write
  expect_ok "read ct_secondary after kill -9" meterctl -o json modbus read ct_secondary
  [[ $(json_get - 'd["values"][0]["value"]' <<<"$OUT") == 1 ]] || fail "acknowledged write lost by kill -9: $OUT"
  stop_meterd
}

section_access() {
  start_meterd --modbus-access read-only
  expect_exit 1 "write under read-only" meterctl modbus write pt_primary 400
  expect_contains "$ERR" "exception 1" "write under read-only"
  expect_contains "$ERR" "access" "the hint of a write refused under read-only"
  expect_ok "read under read-only" meterctl modbus read voltage_an
  stop_meterd

  STATE_DIR=
  start_meterd --modbus-access none
  expect_exit 1 "write under none" meterctl modbus write pt_primary 400
  expect_contains "$ERR" "exception 1" "write under none"
  expect_exit 1 "read under none" meterctl modbus read voltage_an
  expect_contains "$ERR" "exception 1" "read under none"
  expect_contains "$ERR" "illegal function" "read under none"
  stop_meterd
}

section_identify() {
  start_meterd
  expect_ok "modbus id" meterctl modbus id
  local name
  for name in VendorName ProductCode MajorMinorRevision; do expect_contains "$OUT" "$name" "modbus id"; done
  expect_contains "$OUT" "Schneider Electric" "modbus id"

  expect_ok "modbus id -o json" meterctl -o json modbus id
  [[ $(json_get - 'd["identification"]["VendorName"]' <<<"$OUT") == "Schneider Electric" ]] || fail "VendorName: $OUT"
  [[ $(json_get - 'd["identification"]["ProductCode"]' <<<"$OUT") == METSEION7400 ]] || fail "ProductCode: $OUT"
  [[ $(json_get - 'd["identification"]["MajorMinorRevision"]' <<<"$OUT") == 4.6.0 ]] || fail "MajorMinorRevision: $OUT"
  local serial
  serial=$(json_get "$READY_FILE" 'd["meters"][0]["serial_number"]')
  expect_contains "$(json_get - 'd["identification"]["UserApplicationName"]' <<<"$OUT")" "$serial" \
    "UserApplicationName names the serial number of the ready file"

  expect_ok "modbus id --category basic" meterctl -o json modbus id --category basic
  [[ $(json_get - '[o["id"] for o in d["objects"]]' <<<"$OUT") == "[0, 1, 2]" ]] || fail "basic category objects: $OUT"
  expect_ok "modbus id --object 1" meterctl -o json modbus id --object 1
  [[ $(json_get - '[o["id"] for o in d["objects"]]' <<<"$OUT") == "[1]" ]] || fail "individual object 1: $OUT"

  expect_ok "modbus time" meterctl -o json modbus time
  py_check 'abs(float(a[0])) <= 2' "meter clock offset (modbus time)" "$(json_get - 'd["offset_seconds"]' <<<"$OUT")"
  py_check 'abs(int(a[0]) - int(a[1])) <= 2' "meter unix_time against date +%s" \
    "$(json_get - 'd["unix_time"]' <<<"$OUT")" "$(date +%s)"

  # Not a terminal: one line per sample.
  expect_ok "modbus watch" meterctl modbus watch --samples 2 --interval 0.2
  local lines
  lines=$(grep -c . <<<"$OUT")
  [[ $lines -eq 2 ]] || fail "watch --samples 2 printed $lines lines:
$OUT"
  while IFS= read -r line; do
    [[ $line =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T.*voltage_ln_avg=[0-9.]+.*active_energy_delivered= ]] ||
      fail "watch line not as expected: $line"
  done <<<"$OUT"
  expect_ok "modbus watch -o json" meterctl -o json modbus watch voltage_an frequency --samples 2 --interval 0.2
  [[ $(grep -c . <<<"$OUT") -eq 2 ]] || fail "watch -o json --samples 2: $OUT"
  py_check '45 < float(a[0]) < 55' "frequency from watch -o json" \
    "$(head -n 1 <<<"$OUT" | json_get - 'd["values"]["frequency"]')"
  stop_meterd
}

section_cli() {
  expect_ok "modbus map -o csv" "$METERCTL" -o csv modbus map
  local header
  header=$(head -n 1 <<<"$OUT")
  [[ $header == name,register,address,function,type,unit,access* ]] || fail "map CSV header: $header"
  grep -Eq '^[^,]*unix[^,]*,' <<<"$OUT" || fail "no row of modbus map -o csv has a name containing unix"
  grep -q '^unix_time,8000,7999,holding,u32,s,read-only,' <<<"$OUT" || fail "unix_time row of the map: $(grep unix <<<"$OUT")"
  expect_ok "modbus map for firmware 4.0.0" "$METERCTL" -o csv modbus map --firmware 4.0.0
  ! grep -q '^unix_time,' <<<"$OUT" || fail "the 4.0.0 map lists unix_time, which 4.6.0 brought"

  expect_exit 64 "read without a target" "$METERCTL" modbus read
  expect_exit 64 "an unknown point" "$METERCTL" --meter 127.0.0.1:1 modbus read no_such_point
  expect_contains "$ERR" "no_such_point" "message for an unknown point"
  expect_exit 64 "register 0 (one-based)" "$METERCTL" --meter 127.0.0.1:1 modbus read 0
  expect_exit 64 "an unknown subcommand" "$METERCTL" modbus frobnicate
  expect_exit 64 "an unknown output format" "$METERCTL" -o xml modbus map
  expect_exit 64 "an unknown option" "$METERCTL" modbus map --no-such-option
  expect_exit 64 "a write without values" "$METERCTL" --meter 127.0.0.1:1 modbus write pt_primary

  local port
  port=$(closed_port)
  expect_exit 69 "a meter on a closed port" "$METERCTL" --meter "127.0.0.1:$port" --timeout 10 modbus read voltage_an
  expect_contains "$ERR" "$port" "the message for an unreachable meter names the port"
}

section_firmware() {
  # Shipped with 4.0.0: no Unix time register, no product code.
  start_meterd --model ION7400 --firmware 4.0.0
  local shipped_400=$STATE_DIR serial
  serial=$(json_get "$READY_FILE" 'd["meters"][0]["serial_number"]')
  expect_exit 1 "modbus time on firmware 4.0.0" meterctl modbus time
  expect_contains "$ERR" "exception 2" "unix_time on firmware 4.0.0"
  expect_exit 1 "read unix_time on firmware 4.0.0" meterctl modbus read unix_time
  expect_contains "$ERR" "exception 2" "unix_time on firmware 4.0.0"
  expect_ok "modbus id on 4.0.0" meterctl -o json modbus id
  [[ $(json_get - 'd["identification"]["MajorMinorRevision"]' <<<"$OUT") == 4.0.0 ]] || fail "4.0.0 revision: $OUT"
  [[ $(json_get - '1 in [o["id"] for o in d["objects"]]' <<<"$OUT") == False ]] ||
    fail "a meter on 4.0.0 serves ProductCode: $OUT"
  stop_meterd

  # Upgraded to 4.6.0: Unix time yes, product code still no (it depends on the shipped version).
  STATE_DIR=$shipped_400
  start_meterd --model ION7400 --firmware 4.6.0
  [[ $(json_get "$READY_FILE" 'd["meters"][0]["serial_number"]') == "$serial" ]] || fail "the upgrade changed the serial number"
  expect_ok "modbus time after the upgrade to 4.6.0" meterctl -o json modbus time
  py_check 'abs(float(a[0])) <= 2' "clock offset after the upgrade" "$(json_get - 'd["offset_seconds"]' <<<"$OUT")"
  expect_ok "modbus id after the upgrade" meterctl -o json modbus id
  [[ $(json_get - 'd["identification"]["MajorMinorRevision"]' <<<"$OUT") == 4.6.0 ]] || fail "upgraded revision: $OUT"
  [[ $(json_get - '1 in [o["id"] for o in d["objects"]]' <<<"$OUT") == False ]] ||
    fail "a meter shipped with 4.0.0 serves ProductCode after an upgrade to 4.6.0: $OUT"
  expect_exit 1 "object 1 alone on a meter shipped with 4.0.0" meterctl modbus id --object 1
  expect_contains "$ERR" "exception 2" "individual object 1 on a meter shipped with 4.0.0"
  stop_meterd

  # Shipped with 4.6.0: the product code is there.
  STATE_DIR=
  start_meterd --model ION7400 --firmware 4.6.0
  expect_ok "modbus id on a meter shipped with 4.6.0" meterctl -o json modbus id
  [[ $(json_get - '[o["value"] for o in d["objects"] if o["id"] == 1]' <<<"$OUT") == '["METSEION7400"]' ]] ||
    fail "a meter shipped with 4.6.0 lacks ProductCode: $OUT"
  stop_meterd
}

# Leaving a rollback floor: ION7400.yaml marks 3.0.0 and 4.0.0 with rollback_floor, from the
# release notes: "A meter upgraded to firmware version 4.0.0 or later cannot be downgraded."
section_rollback() {
  start_meterd --model ION7400 --firmware 4.6.0
  local state_dir=$STATE_DIR
  stop_meterd
  local before
  before=$(cat "$state_dir/meter-state.json")

  STATE_DIR=$state_dir
  expect_meterd_refuses --model ION7400 --firmware 3.0.0
  [[ $METERD_EXIT -ne 0 ]] || fail "4.6.0 -> 3.0.0 exited 0"
  expect_contains "$(cat "$METERD_LOG")" "cannot be downgraded" "message refusing 4.6.0 -> 3.0.0"
  [[ $(cat "$state_dir/meter-state.json") == "$before" ]] || fail "a refused downgrade changed meter-state.json"

  # 4.0.0 itself is a floor, so a meter on 4.6.0 cannot go back to it either.
  STATE_DIR=$state_dir
  expect_meterd_refuses --model ION7400 --firmware 4.0.0
  [[ $METERD_EXIT -ne 0 ]] || fail "4.6.0 -> 4.0.0 exited 0"
  expect_contains "$(cat "$METERD_LOG")" "4.0.0" "message refusing 4.6.0 -> 4.0.0"
  [[ $(cat "$state_dir/meter-state.json") == "$before" ]] || fail "a refused downgrade changed meter-state.json"

  # The refusals left the meter on 4.6.0.
  STATE_DIR=$state_dir
  start_meterd --model ION7400
  expect_ok "modbus id after refused downgrades" meterctl -o json modbus id
  [[ $(json_get - 'd["identification"]["MajorMinorRevision"]' <<<"$OUT") == 4.6.0 ]] ||
    fail "after refused downgrades the meter runs: $OUT"
  stop_meterd
}

run_sections "$@"
