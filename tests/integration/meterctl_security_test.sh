#!/usr/bin/env bash
# meterctl security and users against a real meterd: the audit's exit status, Advanced
# security with accounts and permissions, new passwords from a file, stdin or nowhere
# (no terminal), lockouts, the security options, and a security document exported,
# applied with its password files, and recorded in the security history.
. "$(dirname "$0")/lib.sh"

export XDG_CONFIG_HOME="$TEST_TMP/config" XDG_STATE_HOME="$TEST_TMP/state-home" USER=tester
unset METERCTL_CONFIG METERCTL_METER
history="$XDG_STATE_HOME/meterctl/security.log"

secret() {  # FILE TEXT: a password file only its owner may read
  printf '%s\n' "$2" >"$1"
  chmod 600 "$1"
}
secret "$TEST_TMP/factory.pw" 0
secret "$TEST_TMP/admin.pw" 'Adm1n-Passw0rd'
secret "$TEST_TMP/operator.pw" 'Op3rator-Pass'

# fleet hashing keeps each password change fast; the audit reports it.
start_meterd --password-hashing fleet
secure_port=$(json_get "$READY_FILE" 'd["secure"]')
m=("$METERCTL" --meter "127.0.0.1:$secure_port" --timeout "$METERCTL_TIMEOUT_S")
factory=(--login-password-file "$TEST_TMP/factory.pw")
admin=(--login-password-file "$TEST_TMP/admin.pw")
expect_ok "pin the meter" "${m[@]}" info --accept-new

# A new meter fails the audit: factory password, Legacy security, weak hashing.
expect_exit 1 "audit of a new meter" "${m[@]}" security audit "${factory[@]}"
expect_contains "$OUT" "FAIL  default-password" "audit checklist"
expect_contains "$OUT" "To do: " "audit remedies"
expect_exit 1 "audit as JSON" "${m[@]}" -o json security audit "${factory[@]}"
py_check 'not __import__("json").loads(a[0])["passed"]' "audit JSON says failed" "$OUT"

expect_ok "switch to advanced" "${m[@]}" -o json security mode advanced "${factory[@]}"
py_check '__import__("json").loads(a[0])["result"]["mode"] == "advanced"' "mode switched" "$OUT"
expect_ok "new password for User1 from a file" \
  "${m[@]}" -q users passwd User1 --password-file "$TEST_TMP/admin.pw" "${factory[@]}"
expect_exit 77 "the factory password no longer logs in" "${m[@]}" users list "${factory[@]}"

expect_ok "add an operator, its password from stdin" bash -c \
  "printf 'Op3rator-Pass\n' | \"\$@\"" _ "${m[@]}" users add operator --grant read,time-sync --password-stdin "${admin[@]}"
expect_contains "$OUT" "read" "added user's permissions"
expect_exit 64 "a new password without file, stdin or terminal" \
  setsid "${m[@]}" users add nobody --grant read "${admin[@]}" </dev/null
expect_exit 64 "both passwords from stdin" \
  "${m[@]}" users add nobody --grant read --password-stdin --login-password-stdin </dev/null
expect_exit 64 "an unknown permission" "${m[@]}" users add nobody --grant superuser "${admin[@]}"
expect_ok "list as JSON" "${m[@]}" -o json users list "${admin[@]}"
py_check 'sorted(u["name"] for u in __import__("json").loads(a[0])["users"]) == ["User1", "operator"]' \
  "the accounts listed" "$OUT"
expect_ok "grant" "${m[@]}" users grant operator peak-demand-reset "${admin[@]}"
expect_contains "$OUT" "peak-demand-reset" "granted permission"
expect_ok "revoke" "${m[@]}" users revoke operator time-sync "${admin[@]}"
expect_not_contains "$OUT" "time-sync" "revoked permission"

# The operator lacks Security Config: refused with EX_NOPERM, except for its own password.
operator=(--user operator --login-password-file "$TEST_TMP/operator.pw")
expect_exit 77 "security show without Security Config" "${m[@]}" security show "${operator[@]}"
expect_contains "$ERR" "permission_denied" "permission refusal"
secret "$TEST_TMP/operator2.pw" 'Op3rator-Pass2'
expect_ok "an operator changes its own password" \
  "${m[@]}" -q users passwd operator --password-file "$TEST_TMP/operator2.pw" "${operator[@]}"

# Lockout after failed logins, listed, then ended by an administrator.
expect_ok "lockout after 2 attempts" "${m[@]}" -q security lockout --attempts 2 "${admin[@]}"
for _ in 1 2 3; do
  run_cmd bash -c "printf 'wrong\n' | \"\$@\"" _ "${m[@]}" users list --user operator --login-password-stdin
done
expect_contains "$ERR" "locked_out" "third attempt locked out"
expect_ok "lockouts" "${m[@]}" -o json users lockouts "${admin[@]}"
py_check 'any(l["user"] == "operator" and l["locked"] for l in __import__("json").loads(a[0])["lockouts"])' \
  "operator locked" "$OUT"
expect_ok "unlock" "${m[@]}" users unlock operator "${admin[@]}"
expect_contains "$OUT" "unlocked" "unlock outcome"

expect_ok "options" "${m[@]}" -o json security options --web-server-programming on --telnet off "${admin[@]}"
py_check '__import__("json").loads(a[0])["options"]["web_server_programming"] is True' "option set" "$OUT"
expect_ok "session timeout" "${m[@]}" -o json security session-timeout 900 "${admin[@]}"
py_check '__import__("json").loads(a[0])["result"]["session_timeout_s"] == 900' "timeout set" "$OUT"
expect_ok "events" "${m[@]}" -o json security events --limit 2 "${admin[@]}"
py_check 'len(__import__("json").loads(a[0])["records"]) == 2' "two events" "$OUT"

# A security document: exported privately, not logged; applied after a local parse, with
# its password files read next to it; every apply recorded in the history.
site=$TEST_TMP/site
mkdir -p "$site"
expect_ok "export to a file" "${m[@]}" security export --out "$site/exported.yaml" "${admin[@]}"
[[ $(stat -c %a "$site/exported.yaml") == 600 ]] || fail "the exported document is not mode 0600"
expect_contains "$(cat "$site/exported.yaml")" "kind: SecurityConfiguration" "exported document"
[[ ! -e $history ]] || fail "export wrote the security history"

cat >"$site/security.yaml" <<'EOF'
apiVersion: meterctl/v1
kind: SecurityConfiguration
options:
  web_server_programming: false
users:
  - name: User1
    permissions: [all]
  - name: auditor
    permissions: [read]
    password_file: auditor.pw
EOF
printf 'Aud1tor-Passw0rd\n' >"$site/auditor.pw"
chmod 644 "$site/auditor.pw"
expect_exit 78 "a password file others can read" "${m[@]}" security apply "$site/security.yaml" "${admin[@]}"
expect_contains "$ERR" "chmod 600" "too-open password file"
chmod 600 "$site/auditor.pw"
expect_ok "apply" "${m[@]}" security apply "$site/security.yaml" "${admin[@]}"
expect_contains "$OUT" "auditor" "changes listed"
expect_ok "apply again" "${m[@]}" security apply "$site/security.yaml" "${admin[@]}"
expect_contains "$OUT" "no changes" "second apply"
expect_ok "the auditor logs in with its password file" \
  "${m[@]}" read voltage_an --user auditor --password-file "$site/auditor.pw"

[[ $(stat -c %a "$history") == 600 ]] || fail "the security history is not mode 0600"
[[ $(stat -c %a "$(dirname "$history")") == 700 ]] || fail "the history directory is not mode 0700"
hash=$(sha256sum "$site/security.yaml" | cut -d' ' -f1)
lines=$(cat "$history")
[[ $(wc -l <"$history") -eq 2 ]] || fail "expected two history lines, got: $lines"
expect_contains "$(head -1 "$history")" " tester 127.0.0.1:$secure_port User1 $site/security.yaml $hash changed " \
  "first history line"
expect_contains "$(tail -1 "$history")" " $hash no changes" "second history line"

printf 'apiVersion: meterctl/v1\nkind: [\n' >"$site/broken.yaml"
expect_exit 65 "a broken document" "${m[@]}" security apply "$site/broken.yaml" "${admin[@]}"
expect_contains "$ERR" "broken.yaml:" "located YAML error"
[[ $(wc -l <"$history") -eq 2 ]] || fail "a refused document was recorded in the history"

stop_meterd
log "PASS"
