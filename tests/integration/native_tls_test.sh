#!/usr/bin/env bash
# meterd's secure native port seen by an independent TLS client, openssl s_client: TLS 1.3
# and 1.2 (ECDHE with an AEAD cipher) complete, TLS 1.1 and CBC suites are refused by the
# server (its alert, not a client-side refusal), the certificate names the meter by serial
# number and verifies as "localhost" against the meter's own certificate file, the key
# file is private, a restart on the same state keeps the same key, and --no-native /
# --no-secure leave exactly the ports they should.
#
# Usage: native_tls_test.sh [SECTION...] (default: all). Needs openssl(1).

. "$(dirname "$0")/lib.sh"

command -v openssl >/dev/null || { echo "SKIP: openssl(1) is not installed"; exit 77; }

# Bounds one s_client run; a handshake takes milliseconds.
S_CLIENT_TIMEOUT_S=20

SECURE_PORT=
NATIVE_PORT=
SERIAL=

read_ports() {
  SECURE_PORT=$(json_get "$READY_FILE" 'd.get("secure", "")')
  NATIVE_PORT=$(json_get "$READY_FILE" 'd.get("native", "")')
  SERIAL=$(json_get "$READY_FILE" 'd["meters"][0]["serial_number"]')
}

# s_client ARGS...: one handshake against the secure port, stdin closed; sets RC, OUT
# (stdout and stderr together).
s_client() {
  timeout "$S_CLIENT_TIMEOUT_S" openssl s_client -connect "127.0.0.1:$SECURE_PORT" "$@" </dev/null \
    >"$TEST_TMP/s_client" 2>&1
  RC=$?
  OUT=$(cat "$TEST_TMP/s_client")
  [[ $RC -ne 124 ]] || fail "openssl s_client $* did not finish within ${S_CLIENT_TIMEOUT_S}s:
$OUT"
}

# expect_handshake DESCRIPTION ARGS...: the handshake completes.
expect_handshake() {
  local what=$1
  shift
  s_client "$@"
  [[ $RC -eq 0 ]] || fail "$what: openssl s_client $* exited $RC:
$OUT"
  [[ $OUT != *"Cipher is (NONE)"* ]] || fail "$what: no cipher negotiated:
$OUT"
}

# expect_server_refusal DESCRIPTION ALERT ARGS...: the handshake fails, and because the
# server said so (its alert ALERT arrived), not because the client refused to try.
expect_server_refusal() {
  local what=$1 alert=$2
  shift 2
  s_client "$@"
  [[ $RC -ne 0 ]] || fail "$what: openssl s_client $* completed a handshake:
$OUT"
  expect_contains "$OUT" "$alert" "$what: the server's alert"
  expect_not_contains "$OUT" "no protocols available" "$what: the client refused on its own"
  expect_not_contains "$OUT" "no ciphers available" "$what: the client refused on its own"
}

# The SHA-256 of the public key the secure port presents.
served_key_fingerprint() {
  s_client -tls1_3
  [[ $RC -eq 0 ]] || fail "handshake for the certificate failed:
$OUT"
  openssl x509 -pubkey -noout <<<"$OUT" | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1
}

# listening_ports PID: the TCP ports process PID listens on, sorted, one a line.
listening_ports() {
  "$PYTHON" - "$1" <<'EOF'
import os, sys
pid = sys.argv[1]
inodes = set()
for entry in os.listdir(f"/proc/{pid}/fd"):
    try:
        target = os.readlink(f"/proc/{pid}/fd/{entry}")
    except OSError:
        continue
    if target.startswith("socket:["):
        inodes.add(target[8:-1])
ports = set()
for table in ("/proc/net/tcp", "/proc/net/tcp6"):
    try:
        lines = open(table).read().splitlines()[1:]
    except OSError:
        continue
    for line in lines:
        fields = line.split()
        if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
            ports.add(int(fields[1].rsplit(":", 1)[1], 16))
for port in sorted(ports):
    print(port)
EOF
}

# The process holding the sockets: the firmware under the boot supervisor, when there is one.
serving_pid() { json_get "$READY_FILE" 'd.get("firmware_pid", d["pid"])'; }

section_versions() {
  start_meterd
  read_ports
  [[ $SECURE_PORT =~ ^[0-9]+$ ]] || fail "ready file has no secure port: $(cat "$READY_FILE")"

  expect_handshake "TLS 1.3" -tls1_3
  [[ $OUT == *"New, TLSv1.3"* || $OUT == *"Protocol  : TLSv1.3"* ]] || fail "TLS 1.3 not negotiated:
$OUT"

  expect_handshake "TLS 1.2" -tls1_2
  [[ $OUT =~ New,\ TLSv1\.2,\ Cipher\ is\ (ECDHE-[A-Z0-9-]*(GCM|CHACHA20)[A-Z0-9-]*) ]] ||
    fail "TLS 1.2 without an ECDHE AEAD suite:
$OUT"
  log "TLS 1.2 cipher: ${BASH_REMATCH[1]}"

  # The client is told it may use anything (security level 0), so the refusal is the server's.
  expect_server_refusal "TLS 1.1" "alert protocol version" -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0'
  expect_server_refusal "TLS 1.0" "alert protocol version" -tls1 -cipher 'DEFAULT:@SECLEVEL=0'
  # CBC with RSA key exchange, and CBC with ECDHE and the meter's ECDSA key.
  expect_server_refusal "AES128-SHA" "alert handshake failure" -tls1_2 -cipher AES128-SHA
  expect_server_refusal "ECDHE-ECDSA-AES128-SHA" "alert handshake failure" -tls1_2 -cipher ECDHE-ECDSA-AES128-SHA
  stop_meterd
}

section_certificate() {
  start_meterd
  read_ports
  local cert=$STATE_DIR/tls/device-cert.pem key=$STATE_DIR/tls/device-key.pem
  [[ -f $cert && -f $key ]] || fail "no device certificate or key in $STATE_DIR/tls: $(ls -la "$STATE_DIR/tls" 2>&1)"

  # The served certificate is the one in the file, it verifies against that file as
  # "localhost", and its subject CN is the serial number.
  s_client -tls1_3 -CAfile "$cert" -verify_hostname localhost -verify_return_error
  [[ $RC -eq 0 ]] || fail "verification against $cert as localhost failed:
$OUT"
  expect_contains "$OUT" "Verify return code: 0 (ok)" "verification against the meter's certificate"
  local served file_der served_der
  served=$(openssl x509 <<<"$OUT") || fail "no certificate in the s_client output"
  served_der=$(openssl x509 -outform DER <<<"$served" | sha256sum | cut -d' ' -f1)
  file_der=$(openssl x509 -outform DER -in "$cert" | sha256sum | cut -d' ' -f1)
  [[ $served_der == "$file_der" ]] || fail "the secure port serves a certificate other than $cert"
  local subject cn
  subject=$(openssl x509 -noout -subject -nameopt RFC2253 <<<"$served")
  cn=$(sed -n 's/.*CN=\([^,]*\).*/\1/p' <<<"$subject")
  [[ $cn == "$SERIAL" ]] || fail "certificate subject CN '$cn' is not the serial number '$SERIAL' ($subject)"

  local mode
  mode=$(stat -c %a "$key")
  [[ $mode == 600 ]] || fail "$key has mode $mode, not 600"

  local before after cert_before
  before=$(served_key_fingerprint)
  cert_before=$(sha256sum <"$cert")
  stop_meterd
  start_meterd  # same STATE_DIR
  read_ports
  after=$(served_key_fingerprint)
  [[ $before =~ ^[0-9a-f]{64}$ && $after =~ ^[0-9a-f]{64}$ ]] || fail "no public key fingerprint: '$before', '$after'"
  [[ $before == "$after" ]] || fail "a restart on the same state changed the public key: $before -> $after"
  [[ $(sha256sum <"$cert") == "$cert_before" ]] || fail "a restart rewrote $cert"
  [[ $(stat -c %a "$key") == 600 ]] || fail "$key lost mode 600 after a restart"
  log "public key SHA-256 $after kept across a restart"
  stop_meterd
}

section_no_native() {
  start_meterd --no-native
  read_ports
  [[ -z $NATIVE_PORT ]] || fail "--no-native: the ready file still has \"native\": $(cat "$READY_FILE")"
  [[ $(json_get "$READY_FILE" '"native" in d["meters"][0]') == False ]] ||
    fail "--no-native: the meter entry still has \"native\": $(cat "$READY_FILE")"
  [[ $SECURE_PORT =~ ^[0-9]+$ ]] || fail "--no-native: no secure port: $(cat "$READY_FILE")"
  local ports
  ports=$(listening_ports "$(serving_pid)" | tr '\n' ' ')
  [[ $ports == "$(printf '%s\n' "$MODBUS_PORT" "$SECURE_PORT" | sort -n | tr '\n' ' ')" ]] ||
    fail "--no-native: meterd listens on ports $ports, expected Modbus $MODBUS_PORT and TLS $SECURE_PORT only"
  expect_handshake "--no-native: TLS port" -tls1_3
  stop_meterd
}

section_no_secure() {
  start_meterd --no-secure
  read_ports
  [[ -z $SECURE_PORT ]] || fail "--no-secure: the ready file still has \"secure\": $(cat "$READY_FILE")"
  [[ $(json_get "$READY_FILE" '"secure" in d["meters"][0]') == False ]] ||
    fail "--no-secure: the meter entry still has \"secure\": $(cat "$READY_FILE")"
  [[ $NATIVE_PORT =~ ^[0-9]+$ ]] || fail "--no-secure: no native port: $(cat "$READY_FILE")"
  local ports
  ports=$(listening_ports "$(serving_pid)" | tr '\n' ' ')
  [[ $ports == "$(printf '%s\n' "$MODBUS_PORT" "$NATIVE_PORT" | sort -n | tr '\n' ' ')" ]] ||
    fail "--no-secure: meterd listens on ports $ports, expected Modbus $MODBUS_PORT and native $NATIVE_PORT only"
  stop_meterd
}

ALL_SECTIONS=(versions certificate no_native no_secure)
run_sections "$@"
