#!/usr/bin/env bash
# meterctl upgrade keygen, pack and verify with the real binaries: a key pair with the
# right modes, a package of the meterd executable this build made, verified with its key
# and with the trusted-keys directory, refused with another key, after one flipped byte,
# once expired, and when it needs a newer meterctl; its .sha256 file passes sha256sum -c.
# No meterd runs: packages are built and checked offline.
. "$(dirname "$0")/lib.sh"

export XDG_CONFIG_HOME="$TEST_TMP/config"
unset METERCTL_CONFIG METERCTL_METER
work=$TEST_TMP/packages
mkdir -p "$work"
cd "$work" || fail "cannot enter $work"
upgrade() { "$METERCTL" upgrade "$@"; }

# flip_byte FILE OFFSET: XORs one byte of FILE in place (a negative OFFSET counts from the end).
flip_byte() {
  "$PYTHON" -c 'import sys
path, offset = sys.argv[1], int(sys.argv[2])
with open(path, "r+b") as f:
    f.seek(offset, 0 if offset >= 0 else 2)
    position = f.tell()
    byte = f.read(1)[0]
    f.seek(position)
    f.write(bytes([byte ^ 0x01]))' "$1" "$2"
}

# Keys: the private key owner-only, the public key readable; never overwritten silently.
expect_ok "keygen" upgrade keygen --out vendor
[[ $(stat -c %a vendor) == 600 ]] || fail "private key mode is $(stat -c %a vendor), not 600"
[[ $(stat -c %a vendor.pub) == 644 ]] || fail "public key mode is $(stat -c %a vendor.pub), not 644"
expect_contains "$(head -1 vendor)" "BEGIN PRIVATE KEY" "private key is PKCS#8 PEM"
expect_contains "$(head -1 vendor.pub)" "BEGIN PUBLIC KEY" "public key is SubjectPublicKeyInfo PEM"
cp vendor vendor.before
expect_exit 64 "keygen over an existing key" upgrade keygen --out vendor
expect_contains "$ERR" "--force" "refusal names --force"
cmp -s vendor vendor.before || fail "a refused keygen changed the private key"
expect_ok "keygen of another key" upgrade keygen --out other
expect_ok "keygen --force" upgrade keygen --out other --force

# A package of the meterd this build made.
expect_ok "pack" upgrade -o json pack --key vendor --model ION7400 --version 4.6.0 --payload "$METERD" --out meterd.upg
[[ -s meterd.upg && -s meterd.upg.sha256 ]] || fail "pack wrote no package or no .sha256 file"
expect_ok "sha256sum -c of the .sha256 file" sha256sum -c meterd.upg.sha256
expect_contains "$OUT" "meterd.upg: OK" "sha256sum verdict"

expect_ok "verify with the public key" upgrade -o json verify --key vendor.pub meterd.upg
py_check '__import__("json").loads(a[0])["format_version"] == 1 and __import__("json").loads(a[0])["verified"] is True' "verify JSON" "$OUT"
manifest_check() {  # EXPRESSION over m, the manifest of the JSON in $OUT
  "$PYTHON" -c 'import json, os, sys
m = json.loads(sys.argv[1])["manifest"]
sys.exit(0 if eval(sys.argv[2], {"m": m, "os": os}) else 1)' "$OUT" "$1" || fail "manifest check '$1' is false: $OUT"
}
manifest_check 'm["model"] == "ION7400" and m["firmware_version"] == "4.6.0"'
manifest_check 'm["firmware_version_vendor"] == "V004.006.000"'
manifest_check '"bacnet" in m["features"] and "password_complexity" in m["features"]'
manifest_check "m['payload_length'] == os.path.getsize('$METERD')"
expect_ok "verify as a table" upgrade verify --key vendor.pub meterd.upg
expect_contains "$OUT" "V004.006.000" "table shows the vendor version"

# Without --key: the keys in trusted-keys/ beside the configuration file.
expect_exit 78 "verify without a trusted-keys directory" upgrade verify meterd.upg
expect_contains "$ERR" "$XDG_CONFIG_HOME/meterctl/trusted-keys" "names the trusted-keys directory"
mkdir -p "$XDG_CONFIG_HOME/meterctl/trusted-keys"
cp other.pub "$XDG_CONFIG_HOME/meterctl/trusted-keys/"
expect_exit 77 "verify with only another key trusted" upgrade verify meterd.upg
cp vendor.pub "$XDG_CONFIG_HOME/meterctl/trusted-keys/"
expect_ok "verify with the trusted keys" upgrade verify meterd.upg

expect_exit 77 "verify with another key" upgrade verify --key other.pub meterd.upg
expect_contains "$ERR" "unknown_key" "another key"

# One flipped byte anywhere is refused: in the payload, in the signature.
cp meterd.upg payload-flipped.upg
flip_byte payload-flipped.upg 100000
run_cmd upgrade verify --key vendor.pub payload-flipped.upg
((RC != 0)) || fail "a package with a flipped payload byte verified"
expect_contains "$ERR" "payload_hash_mismatch" "flipped payload byte"
cp meterd.upg signature-flipped.upg
flip_byte signature-flipped.upg -1
expect_exit 77 "flipped signature byte" upgrade verify --key vendor.pub signature-flipped.upg
expect_contains "$ERR" "bad_signature" "flipped signature byte"
cp meterd.upg.sha256 payload-flipped.upg.sha256
sed -i 's/meterd.upg$/payload-flipped.upg/' payload-flipped.upg.sha256
run_cmd sha256sum -c payload-flipped.upg.sha256
((RC != 0)) || fail "sha256sum -c passed a changed package"

# Expired, and too new for this meterctl.
expect_ok "pack an expired package" \
  upgrade pack --key vendor --model ION7400 --version 4.6.0 --payload "$METERD" --out expired.upg \
  --released 2020-01-01 --expires 2021-01-01
expect_contains "$ERR" "warning" "pack warns about an expiry in the past"
expect_exit 65 "verify an expired package" upgrade verify --key vendor.pub expired.upg
expect_contains "$ERR" "expired on 2021-01-01" "expiry"
version=$("$METERCTL" --version | awk '{ print $2 }')
expect_ok "pack for a newer meterctl" \
  upgrade pack --key vendor --model ION7400 --version 4.6.0 --payload "$METERD" --out newer.upg --min-meterctl 999.0.0
expect_exit 65 "verify a package for a newer meterctl" upgrade verify --key vendor.pub newer.upg
expect_contains "$ERR" "999.0.0" "names the version needed"
expect_contains "$ERR" "$version" "names this meterctl's version"

# Pack refuses what the device models do not list, naming what they do.
expect_exit 65 "pack an unknown model" \
  upgrade pack --key vendor --model ION1234 --version 4.6.0 --payload "$METERD" --out x.upg
expect_contains "$ERR" "ION7400" "unknown model names the known ones"
expect_exit 65 "pack a version the model does not list" \
  upgrade pack --key vendor --model ION7400 --version 4.7.0 --payload "$METERD" --out x.upg
expect_contains "$ERR" "3.0.0, 4.0.0, 4.6.0" "unknown version names the known ones"
[[ ! -e x.upg ]] || fail "a refused pack wrote x.upg"
expect_exit 74 "pack with the public key" \
  upgrade pack --key vendor.pub --model ION7400 --version 4.6.0 --payload "$METERD" --out x.upg
log "PASS"
