#!/usr/bin/env bash
# meterd seen by mbpoll, an independent Modbus TCP master built on libmodbus: float32
# measurements (big-endian word order), the u32 Unix time, u16 configuration, and writes
# refused under read-only but accepted under read-write. Register numbers are one-based,
# as in the map and mbpoll's default.

. "$(dirname "$0")/lib.sh"

MBPOLL=${MBPOLL:-/usr/bin/mbpoll}
[[ -x $MBPOLL ]] || fail "$MBPOLL is missing (Debian package mbpoll)"
# mbpoll's own answer timeout in seconds (its maximum is 10).
MBPOLL_TIMEOUT_S=5

# mbpoll_cmd ARGS...: one poll of the current meter.
mbpoll_cmd() { "$MBPOLL" -m tcp -a 1 -p "$MODBUS_PORT" -o "$MBPOLL_TIMEOUT_S" -1 "$@"; }

# mbpoll_value REGISTER TYPE: prints the value mbpoll reads at REGISTER ("[3028]: 230.1").
mbpoll_value() {
  local register=$1 type=$2
  shift 2
  expect_ok "mbpoll read of register $register as $type" mbpoll_cmd -t "$type" "$@" -r "$register" -c 1 127.0.0.1
  local value
  value=$(sed -n "s/^\[$register\]:[[:space:]]*//p" <<<"$OUT")
  [[ -n $value ]] || fail "mbpoll printed no value for register $register:
$OUT"
  echo "$value"
}

start_meterd

voltage=$(mbpoll_value 3028 4:float -B) || exit 1
py_check '200 < float(a[0]) < 260' "voltage_an (3028) through mbpoll" "$voltage"
current=$(mbpoll_value 3000 4:float -B) || exit 1
py_check '1 < float(a[0]) < 1000' "current_a (3000) through mbpoll" "$current"
power=$(mbpoll_value 3060 4:float -B) || exit 1
py_check '0 < float(a[0]) < 1000' "active_power_total (3060) through mbpoll" "$power"
energy=$(mbpoll_value 2700 4:float -B) || exit 1
py_check 'float(a[0]) >= 0' "active_energy_delivered (2700) through mbpoll" "$energy"
unix_time=$(mbpoll_value 8000 4:int -B) || exit 1
py_check 'abs(int(a[0]) - int(a[1])) <= 2' "unix_time (8000) through mbpoll against date +%s" "$unix_time" "$(date +%s)"
pt_secondary=$(mbpoll_value 8104 4) || exit 1
[[ $pt_secondary == 230 ]] || fail "pt_secondary (8104) through mbpoll is $pt_secondary, not 230"

# Two independent clients agree on the same value (the noise of the steady-state scenario is ~0.2 %).
expect_ok "meterctl read of voltage_an" meterctl -o json modbus read voltage_an
py_check 'abs(float(a[0]) - float(a[1])) < 0.05 * float(a[1])' "mbpoll and meterctl on voltage_an" \
  "$voltage" "$(json_get - 'd["values"][0]["value"]' <<<"$OUT")"

# pt_primary is the u32 230, high word first: mbpoll reads it so with -B, and as
# 230 * 65536 without (low word first).
pt_primary=$(mbpoll_value 8102 4:int -B) || exit 1
[[ $pt_primary == 230 ]] || fail "pt_primary (8102) through mbpoll -B is $pt_primary, not 230"
pt_primary=$(mbpoll_value 8102 4:int) || exit 1
[[ $pt_primary == $((230 * 65536)) ]] || fail "pt_primary (8102) read low word first is $pt_primary, not $((230 * 65536))"

expect_exit 1 "mbpoll write under read-only" mbpoll_cmd -t 4 -r 8104 127.0.0.1 100
expect_contains "$ERR$OUT" "Illegal function" "mbpoll write under read-only"
stop_meterd

STATE_DIR=
start_meterd --modbus-access read-write
expect_ok "mbpoll write under read-write" mbpoll_cmd -t 4 -r 8104 127.0.0.1 110
expect_ok "meterctl read back of pt_secondary" meterctl -o json modbus read pt_secondary
[[ $(json_get - 'd["values"][0]["value"]' <<<"$OUT") == 110 ]] || fail "pt_secondary after mbpoll wrote 110: $OUT"
expect_exit 1 "mbpoll write of an out-of-range value" mbpoll_cmd -t 4 -r 8104 127.0.0.1 5000
expect_contains "$ERR$OUT" "Illegal data value" "mbpoll out-of-range write"
stop_meterd
log "PASS"
