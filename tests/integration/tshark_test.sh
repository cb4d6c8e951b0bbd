#!/usr/bin/env bash
# Captures the Modbus/TCP traffic of a session with meterd (reads, writes, exceptions,
# device identification, pipelined requests from pymodbus) and has tshark's own Modbus/TCP
# dissector check every frame: no malformed packet and no expert error may appear.
# Skips (77) where the capture needs privileges this user lacks.
. "$(dirname "$0")/lib.sh"

command -v tshark >/dev/null || fail "tshark is not installed (scripts/install-deps --with-tests installs it)"
capture="$TEST_TMP/modbus.pcapng"
start_meterd --modbus-access read-write

tshark -i lo -f "tcp port $MODBUS_PORT" -w "$capture" >"$TEST_TMP/tshark.log" 2>&1 &
tshark_pid=$!
track_pid "$tshark_pid"
deadline=$((SECONDS + 30))
until grep -q "Capturing on" "$TEST_TMP/tshark.log"; do
  if ! process_alive "$tshark_pid"; then
    if grep -qiE "permission|not permitted|don't have permission" "$TEST_TMP/tshark.log"; then
      log "SKIP: this user cannot capture on lo: $(head -1 "$TEST_TMP/tshark.log")"
      exit 77
    fi
    fail "tshark stopped before capturing: $(cat "$TEST_TMP/tshark.log")"
  fi
  ((SECONDS < deadline)) || fail "tshark did not start capturing within 30 s"
  sleep 0.1
done

expect_ok "read a block" meterctl modbus read current_a --count 5
expect_ok "read with function 4" meterctl modbus read 3028 --type float32 --count 3 --input
expect_ok "read int64 energies" meterctl modbus read active_energy_delivered_wh --count 2
expect_ok "write with function 6" meterctl modbus write demand_interval_minutes 30
expect_ok "write with function 16" meterctl modbus write pt_primary 11000 230
expect_exit 1 "illegal data address" meterctl modbus read 9999
expect_exit 1 "illegal data value" meterctl modbus write demand_interval_minutes 61
expect_exit 1 "unknown unit id" meterctl modbus read 3000 --unit-id 7
expect_ok "device identification" meterctl modbus id
expect_ok "one identification object" meterctl modbus id --object 1
expect_ok "unix time" meterctl modbus time
"$PYTHON" -c "
from pymodbus.client import ModbusTcpClient
from pymodbus.mei_message import ReadDeviceInformationRequest
client = ModbusTcpClient('127.0.0.1', port=$MODBUS_PORT)
assert client.connect()
for address in (2999, 3019, 3053, 3109, 2699, 7999):
    assert not client.read_holding_registers(address, 2, slave=1).isError()
assert client.read_holding_registers(0, 1, slave=1).isError()
assert not client.execute(ReadDeviceInformationRequest(read_code=2, object_id=0, unit=1)).isError()
client.close()
" || fail "the pymodbus session failed"

# Let the last segments reach the capture before stopping it.
sleep 1
kill -INT "$tshark_pid"
wait "$tshark_pid" 2>/dev/null
forget_pid "$tshark_pid"

decode_as=(-d "tcp.port==$MODBUS_PORT,mbtcp")
frames=$(tshark -r "$capture" "${decode_as[@]}" -Y mbtcp 2>/dev/null | wc -l)
((frames >= 30)) || fail "expected at least 30 Modbus/TCP frames in the capture, found $frames"
exceptions=$(tshark -r "$capture" "${decode_as[@]}" -Y "modbus.exception_code" 2>/dev/null | wc -l)
((exceptions >= 4)) || fail "expected the exception responses in the capture, found $exceptions"
bad=$(tshark -r "$capture" "${decode_as[@]}" -Y "_ws.malformed || _ws.expert.severity >= error" 2>/dev/null)
[[ -z "$bad" ]] || fail "tshark found malformed or erroneous Modbus frames:
$bad"
log "tshark dissected $frames Modbus/TCP frames ($exceptions exceptions) without a malformed frame"
stop_meterd
