#!/usr/bin/python3
"""Firmware version rules end to end: one state directory, meterd restarted with another
--firmware each time (the offline upgrade path), and meterctl reading what the meter
reports afterwards.

Run with /usr/bin/python3; each test class is a section (argument) of its own. Meters run
with --no-supervisor, so that the process started is the one serving, and use
--password-hashing fleet so that logins stay fast.

Covered: Standard security on 2.0.0 becoming Legacy security support on 3.0.0 with User1
and the same password; Advanced staying Advanced; 3.0.0 and 4.0.0 refusing older firmware;
4.0.0 enabling the plain native port; what 4.0.0 and 4.6.0 offer, the FC43 ProductCode
only on a meter shipped with 4.6.0; the ION8650 going from 4.40.1 back to 4.30.0 (mode
kept, every password 0, SSH and SFTP gone, Telnet and FTP off, web read on and web
configuration off) and up again (web server disabled, users kept).
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import native_client as nc  # noqa: E402
from meterd_harness import METERD, SOURCE_DIR, Meterd, MeterdError, meterctl_environment, secret  # noqa: E402

METERCTL = os.environ.get("METERCTL", str(SOURCE_DIR / "build" / "cli" / "meterctl"))
TIMEOUT = "10"
ADMIN_PASSWORD = "Adm1n-Pass"
OPERATOR_PASSWORD = "Op3rator-Pass"


def supervisor_flag():
    """--no-supervisor where this meterd has a boot supervisor to leave out."""
    completed = subprocess.run([METERD, "--help"], capture_output=True, text=True, timeout=30)
    return ["--no-supervisor"] if "--no-supervisor" in completed.stdout + completed.stderr else []


NO_SUPERVISOR = supervisor_flag()


class FirmwareTestCase(unittest.TestCase):
    def setUp(self):
        self.tmp = pathlib.Path(tempfile.mkdtemp(prefix="meterctl-firmware-"))
        self.state_dir = self.tmp / "state"
        self.env = meterctl_environment(self.tmp / "config", self.tmp / "xdg-state")
        self.meter = None

    def tearDown(self):
        if self.meter is not None:
            self.meter.close()
        if os.environ.get("KEEP_TEST_TMP") != "1":
            shutil.rmtree(self.tmp, ignore_errors=True)

    def secret(self, name, text):
        return secret(self.tmp / name, text)

    def boot(self, model, firmware):
        """Stops the running meter and starts the same state directory on `firmware`."""
        if self.meter is not None:
            self.meter.close()
            self.meter = None
        meter = Meterd("--model", model, "--firmware", firmware, "--password-hashing", "fleet", *NO_SUPERVISOR,
                       state_dir=self.state_dir, work_dir=self.tmp)
        meter.start()
        self.meter = meter
        return meter

    def refused_boot(self, model, firmware):
        """Starts meterd on `firmware` expecting it to refuse; returns its log."""
        if self.meter is not None:
            self.meter.close()
            self.meter = None
        before = (self.state_dir / "meter-state.json").read_text()
        meter = Meterd("--model", model, "--firmware", firmware, "--password-hashing", "fleet", *NO_SUPERVISOR,
                       state_dir=self.state_dir, work_dir=self.tmp)
        with self.assertRaises(MeterdError):
            meter.start()
        log = meter.log_path.read_text(errors="replace")
        meter.close()
        self.assertEqual((self.state_dir / "meter-state.json").read_text(), before, "a refused start changed the state")
        return log

    def run_meterctl(self, *args, login=None, user=None, expect=0):
        """meterctl against the plain native port (firmware before 4.0.0 has no other)."""
        port = self.meter.ready["native"]
        command = [METERCTL, "--timeout", TIMEOUT, "-o", "json", "--meter", f"127.0.0.1:{port}", *args, "--plain"]
        if login is not None:
            command += ["--login-password-file", str(login)]
        if user is not None:
            command += ["--user", user]
        completed = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=120)
        if expect is not None and completed.returncode != expect:
            self.fail(f"{' '.join(args)} exited {completed.returncode}, expected {expect}\nstdout:\n{completed.stdout}\n"
                      f"stderr:\n{completed.stderr}\nmeterd log:\n{self.meter.log_tail()}")
        return completed

    def json_of(self, *args, **kwargs):
        return json.loads(self.run_meterctl(*args, **kwargs).stdout)

    def event_details(self, login, event_type):
        records = self.json_of("security", "events", login=login)["records"]
        return [record["detail"] for record in records if record["type"] == event_type]

    def features(self):
        return self.json_of("info")["identity"]["features"]

    def can_log_in(self, user, password):
        """Whether `user` gets a session with `password` on the plain native port."""
        with nc.NativeClient(self.meter.ready["native"]) as client:
            self.assertEqual(client.hello().type, nc.HELLO_OK)
            return client.login(user, password).type == nc.LOGIN_OK


class StandardToLegacy(FirmwareTestCase):
    def test_standard_on_2_0_0_becomes_legacy_on_3_0_0_with_the_same_password(self):
        zero = self.secret("zero.pw", "0")
        legacy_password = self.secret("legacy.pw", "4711")
        self.boot("ION7400", "2.0.0")
        self.assertIn("standard_security", self.features())
        self.assertNotIn("legacy_security", self.features())
        self.assertEqual(self.json_of("security", "show", login=zero)["security"]["mode"], "standard")
        self.run_meterctl("users", "passwd", "User1", "--password-file", str(legacy_password), login=zero)

        self.boot("ION7400", "3.0.0")
        security = self.json_of("security", "show", login=legacy_password)["security"]
        self.assertEqual(security["mode"], "legacy")
        self.assertEqual(security["modes"], ["legacy", "advanced"])
        users = self.json_of("users", "list", login=legacy_password)["users"]
        self.assertEqual([user["name"] for user in users], ["User1"])
        self.assertFalse(users[0]["default_credential"])
        self.assertTrue(self.can_log_in("User1", "4711"))
        self.assertFalse(self.can_log_in("User1", "0"), "the factory password opens the meter after the upgrade")
        self.assertIn("firmware 2.0.0 -> 3.0.0", self.event_details(legacy_password, "firmware_change"))
        self.assertIn("firmware 3.0.0: security mode standard became legacy, User1 keeping its password",
                      self.event_details(legacy_password, "security_configuration_change"))

        log = self.refused_boot("ION7400", "2.0.0")
        self.assertIn("on 3.0.0 or later cannot be downgraded, so 2.0.0 is refused", log)


class AdvancedStaysAdvanced(FirmwareTestCase):
    def test_advanced_on_2_0_0_stays_advanced_on_3_0_0(self):
        # Passwords of at most 6 characters until 4.0.0 (seed 000: "from 6 to 16").
        zero = self.secret("zero.pw", "0")
        admin = self.secret("admin.pw", "Adm1n!")
        operator = self.secret("operator.pw", "0per8r")
        self.boot("ION9000", "2.0.0")
        self.run_meterctl("security", "mode", "advanced", login=zero)
        self.run_meterctl("users", "passwd", "User1", "--password-file", str(admin), login=zero)
        self.run_meterctl("users", "add", "Operator", "--grant", "read", "--password-file", str(operator), login=admin)

        self.boot("ION9000", "3.0.0")
        self.assertEqual(self.json_of("security", "show", login=admin)["security"]["mode"], "advanced")
        users = self.json_of("users", "list", login=admin)["users"]
        self.assertEqual([user["name"] for user in users], ["User1", "Operator"])
        self.assertTrue(all(not user["default_credential"] for user in users), users)
        self.assertTrue(self.can_log_in("Operator", "0per8r"))
        self.assertIn("firmware 3.0.0: security mode advanced kept, with its users (User1, Operator)",
                      self.event_details(admin, "security_configuration_change"))


class Ion7400Upgrades(FirmwareTestCase):
    def test_4_0_0_enables_plain_native_and_4_6_0_adds_its_features(self):
        zero = self.secret("zero.pw", "0")
        self.boot("ION7400", "3.0.0")
        self.assertNotIn("secure_native", self.features())
        self.meter.close()
        self.meter = None
        # Stopped, the plain native port switched off in the stored configuration (3.0.0
        # has no other management port, so nothing a running meter would accept).
        state_file = self.state_dir / "meter-state.json"
        state = json.loads(state_file.read_text())
        state["communications"]["native"]["enabled"] = False
        state_file.write_text(json.dumps(state))

        self.boot("ION7400", "4.0.0")
        self.assertIn("native", self.meter.ready, "4.0.0 left the plain native port closed")
        self.assertIn("secure_native", self.features())
        self.assertNotIn("bacnet", self.features())
        self.assertTrue(json.loads(state_file.read_text())["communications"]["native"]["enabled"])
        self.assertIn("firmware 4.0.0: plain native port enabled", self.event_details(zero, "security_configuration_change"))
        self.assertFalse(self.json_of("security", "show", login=zero)["security"]["policy"]["complexity_available"])

        self.boot("ION7400", "4.6.0")
        for feature in ("bacnet", "password_complexity", "modbus_unix_time"):
            self.assertIn(feature, self.features())
        # Shipped with 3.0.0: "Devices upgraded to firmware version 4.6.0 will not have the
        # device commercial reference available over Modbus."
        self.assertNotIn("modbus_product_code", self.features())
        identification = self.modbus_identification()
        self.assertNotIn("ProductCode", identification)
        self.assertTrue(self.json_of("security", "show", login=zero)["security"]["policy"]["complexity_available"])

        log = self.refused_boot("ION7400", "3.0.0")
        self.assertIn("on 4.0.0 or later cannot be downgraded, so 3.0.0 is refused", log)

    def test_a_meter_shipped_with_4_6_0_serves_the_product_code(self):
        self.boot("ION7400", "4.6.0")
        self.assertEqual(self.modbus_identification().get("ProductCode"), "METSEION7400")

    def modbus_identification(self):
        completed = subprocess.run([METERCTL, "--timeout", TIMEOUT, "-o", "json", "--meter",
                                    f"127.0.0.1:{self.meter.port}", "modbus", "id"],
                                   env=self.env, capture_output=True, text=True, timeout=60)
        self.assertEqual(completed.returncode, 0, completed.stderr)
        return json.loads(completed.stdout)["identification"]


class Ion8650Downgrade(FirmwareTestCase):
    def test_4_40_1_to_4_30_0_and_back(self):
        zero = self.secret("zero.pw", "0")
        admin = self.secret("admin.pw", ADMIN_PASSWORD)
        operator = self.secret("operator.pw", OPERATOR_PASSWORD)
        self.boot("ION8650", "4.40.1")
        self.run_meterctl("security", "mode", "advanced", login=zero)
        self.run_meterctl("users", "passwd", "User1", "--password-file", str(admin), login=zero)
        self.run_meterctl("users", "add", "Operator", "--grant", "read", "--password-file", str(operator), login=admin)
        self.run_meterctl("security", "options", "--ssh", "on", "--web-server", "on", "--web-server-programming", "on",
                          login=admin)

        self.boot("ION8650", "4.30.0")
        # "All user passwords are set to 0": the old ones open nothing, 0 opens both accounts.
        self.assertFalse(self.can_log_in("User1", ADMIN_PASSWORD))
        self.assertFalse(self.can_log_in("Operator", OPERATOR_PASSWORD))
        self.assertTrue(self.can_log_in("Operator", "0"))
        security = self.json_of("security", "show", login=zero)["security"]
        self.assertEqual(security["mode"], "advanced", "the security mode is kept")
        services = security["options"]["services"]
        for name in ("ssh", "sftp", "telnet", "ftp"):
            self.assertFalse(services[name]["enabled"], f"{name} after the downgrade: {services}")
        self.assertFalse(services["ssh"]["offered"])
        self.assertFalse(services["sftp"]["offered"])
        self.assertTrue(services["telnet"]["offered"], "the older firmware has Telnet, to be enabled later")
        self.assertTrue(security["options"]["web_server"], "web read access")
        self.assertFalse(security["options"]["web_server_programming"], "web configuration")
        users = self.json_of("users", "list", login=zero)["users"]
        self.assertEqual([user["name"] for user in users], ["User1", "Operator"])
        self.assertTrue(all(user["default_credential"] for user in users), users)
        audit = self.run_meterctl("security", "audit", login=zero, expect=1)
        findings = {finding["id"]: finding for finding in json.loads(audit.stdout)["findings"]}
        self.assertEqual(findings["default-password"]["severity"], "fail")
        self.assertIn("User1, Operator", findings["default-password"]["detail"])
        notes = self.event_details(zero, "security_configuration_change")
        for note in ("leaving firmware 4.40.1: security mode advanced kept",
                     "leaving firmware 4.40.1: password of every user (User1, Operator) reset to 0",
                     "leaving firmware 4.40.1: ssh removed (it was on)",
                     "leaving firmware 4.40.1: web server configuration disabled"):
            self.assertIn(note, notes)

        # And up again: the security modules stay, the web server comes up disabled.
        self.run_meterctl("users", "passwd", "Operator", "--password-file", str(operator), login=zero)
        self.boot("ION8650", "4.40.1")
        security = self.json_of("security", "show", login=zero)["security"]
        self.assertEqual(security["mode"], "advanced")
        self.assertFalse(security["options"]["web_server"])
        users = self.json_of("users", "list", login=zero)["users"]
        self.assertEqual([user["name"] for user in users], ["User1", "Operator"])
        self.assertTrue(self.can_log_in("Operator", OPERATOR_PASSWORD))
        self.assertIn("firmware 4.40.1: web server disabled", self.event_details(zero, "security_configuration_change"))

    def test_standard_security_stays_standard_across_4_40_1(self):
        zero = self.secret("zero.pw", "0")
        front_panel = self.secret("front-panel.pw", "2468")
        self.boot("ION8650", "4.30.0")
        self.run_meterctl("security", "options", "--telnet", "on", login=zero)
        self.run_meterctl("users", "passwd", "User1", "--password-file", str(front_panel), login=zero)
        self.boot("ION8650", "4.40.1")
        security = self.json_of("security", "show", login=front_panel)["security"]
        self.assertEqual(security["mode"], "standard")
        self.assertFalse(security["options"]["web_server"])
        self.assertFalse(security["options"]["services"]["telnet"]["enabled"])
        self.assertIn("firmware 4.40.1 has no telnet: switched off",
                      self.event_details(front_panel, "security_configuration_change"))


def main():
    sections = sys.argv[1:]
    loader = unittest.TestLoader()
    suite = unittest.TestSuite()
    known = {cls.__name__: cls for cls in (StandardToLegacy, AdvancedStaysAdvanced, Ion7400Upgrades, Ion8650Downgrade)}
    for name in sections or known:
        if name not in known:
            print(f"unknown section {name}; sections: {', '.join(known)}", file=sys.stderr)
            return 2
        suite.addTests(loader.loadTestsFromTestCase(known[name]))
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
