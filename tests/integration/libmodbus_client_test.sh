#!/usr/bin/env bash
# Runs the libmodbus client program (libmodbus_client_test.cpp) against a meterd under each
# Modbus access setting.

. "$(dirname "$0")/lib.sh"

LIBMODBUS_CLIENT=${LIBMODBUS_CLIENT:-$SOURCE_DIR/build/tests/integration/libmodbus_client_test}
[[ -x $LIBMODBUS_CLIENT ]] || fail "$LIBMODBUS_CLIENT is not an executable (build the target libmodbus_client_test)"

for access in read-only read-write none; do
  STATE_DIR=
  start_meterd --modbus-access "$access"
  run_cmd "$LIBMODBUS_CLIENT" "$MODBUS_PORT" "$access"
  echo "$OUT"
  [[ $RC -eq 0 ]] || fail "libmodbus client against a meter with access $access exited $RC:
$(grep '^not ok' <<<"$OUT")
$ERR"
  grep -q '^ok - function 43 basic answers' <<<"$OUT" || fail "the libmodbus client skipped its checks: $OUT"
  stop_meterd
done
log "PASS"
