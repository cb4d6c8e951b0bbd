#!/usr/bin/env bash
# meterctl over the native protocol against a real meterd: TLS pinning on first contact,
# a changed meter key refused with both fingerprints, passwords from a file or stdin
# (never argv), and the operations info, read, time, demand reset and test mode.
. "$(dirname "$0")/lib.sh"

export XDG_CONFIG_HOME="$TEST_TMP/config"
unset METERCTL_CONFIG METERCTL_METER
known_meters="$XDG_CONFIG_HOME/meterctl/known_meters"
password_file="$TEST_TMP/password"
printf '0\n' >"$password_file"
chmod 600 "$password_file"

start_meterd
secure_port=$(json_get "$READY_FILE" 'd["secure"]')
native_port=$(json_get "$READY_FILE" 'd["native"]')
state_dir=$STATE_DIR
secure=(--meter "127.0.0.1:$secure_port")
plain=(--meter "127.0.0.1:$native_port")

# First contact without a terminal and without --accept-new: refused, nothing pinned.
expect_exit 77 "first contact without --accept-new" setsid "$METERCTL" "${secure[@]}" info
expect_contains "$ERR" "--accept-new" "first-contact refusal"
if [[ -f $known_meters ]] && grep -q SHA256 "$known_meters"; then fail "a refused first contact pinned the meter"; fi

expect_ok "info with --accept-new" "$METERCTL" "${secure[@]}" info --accept-new
expect_contains "$(cat "$known_meters")" "127.0.0.1:$secure_port SHA256:" "pinned entry"
expect_ok "info, pinned" "$METERCTL" "${secure[@]}" -o json info
expect_contains "$OUT" '"serial_number"' "info output"
expect_ok "read over TLS" "$METERCTL" "${secure[@]}" read voltage_an frequency
expect_contains "$OUT" "voltage_an" "read output"
expect_ok "read over the plain port" "$METERCTL" "${plain[@]}" read voltage_an --plain
expect_ok "time get" "$METERCTL" "${secure[@]}" time get

expect_ok "time sync with a password file" "$METERCTL" "${secure[@]}" time sync --password-file "$password_file" -q
expect_ok "demand reset with --password-stdin" bash -c \
  "printf '0\n' | '$METERCTL' --meter 127.0.0.1:$secure_port demand reset --password-stdin -q"
expect_exit 77 "a wrong password" bash -c \
  "printf 'wrong\n' | '$METERCTL' --meter 127.0.0.1:$secure_port demand reset --password-stdin"
expect_exit 64 "a change without any password source or terminal" setsid "$METERCTL" "${secure[@]}" demand reset </dev/null
expect_ok "test mode on" "$METERCTL" "${secure[@]}" test-mode on --password-file "$password_file" -q
expect_ok "read in test mode" "$METERCTL" "${secure[@]}" -o json read active_energy_delivered
expect_contains "$OUT" '"test_mode": true' "test mode flag in readings"
expect_ok "test mode off" "$METERCTL" "${secure[@]}" test-mode off --password-file "$password_file" -q
stop_meterd

# The meter comes back with a new key (its tls/ directory replaced). Pin the old key for
# its new address as well: the presented key no longer matches, which is a hard failure
# whatever the flags, and the message names both fingerprints.
old_fingerprint=$(grep -v '^#' "$known_meters" | awk 'NF {print $2}')
rm -rf "$state_dir/tls"
STATE_DIR=$state_dir
start_meterd
secure_port=$(json_get "$READY_FILE" 'd["secure"]')
printf '127.0.0.1:%s %s\n' "$secure_port" "$old_fingerprint" >>"$known_meters"
new_fingerprint=$(grep -o 'fingerprint=SHA256:[A-Za-z0-9+/]*' "$METERD_LOG" | tail -1 | cut -d= -f2)
[[ -n $new_fingerprint && $new_fingerprint != "$old_fingerprint" ]] || fail "meterd did not log a new fingerprint"
expect_exit 77 "a changed key, even with --accept-new" "$METERCTL" --meter "127.0.0.1:$secure_port" info --accept-new
expect_contains "$ERR" "$old_fingerprint" "changed-key message shows the pinned fingerprint"
expect_contains "$ERR" "$new_fingerprint" "changed-key message shows the presented fingerprint"
stop_meterd
log "PASS"
