#!/usr/bin/python3
"""Security and user accounts end to end, against real meterd processes.

Run with /usr/bin/python3. The client is native_client.py (written from the protocol's
man page, sharing no code with meterd); the serial connection type is a pty whose other
end meterd serves with --native-serial. Meters use --password-hashing fleet (stated in
their configuration) so that many logins stay fast; one check runs at the OWASP default.

Covered: Legacy security support and the switch to Advanced; every permission against
every operation; revenue lock over the native protocol and over Modbus; the password
policy tables; lockouts per user x protocol x connection type; a brute force of 10,000
wrong passwords from 20 connections; no clear password in the state directory of a meter
with 50 users; the clear-text store migrated to hashes; export then apply changing
nothing; the audit of a factory meter and of a hardened one; the event log across a
kill -9.
"""

import os
import pathlib
import select
import socket
import struct
import sys
import threading
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import native_client as nc  # noqa: E402
from meterd_harness import Meterd  # noqa: E402

FLEET = ("--password-hashing", "fleet")
PERMISSIONS = ("time-sync", "read", "peak-demand-reset", "comm-config", "test-mode", "full-meter-config",
               "security-config")
ADMIN_PASSWORD = "Adm1n-Pass"


class PtyStream:
    """The client end of a pty, with the socket calls NativeClient uses."""

    def __init__(self, master, timeout=10.0):
        self.master = master
        self.timeout = timeout

    def sendall(self, data):
        view = memoryview(data)
        while view:
            written = os.write(self.master, view)
            view = view[written:]

    def recv(self, count):
        ready, _, _ = select.select([self.master], [], [], self.timeout)
        if not ready:
            raise socket.timeout("no answer on the serial line")
        return os.read(self.master, count)

    def close(self):
        pass


class SerialClient(nc.NativeClient):
    def __init__(self, master):  # noqa: super().__init__ opens a socket; this end is a pty
        self.sock = PtyStream(master)
        self.tls = False
        self.next_id = 1
        self.buffer = b""
        self.token = None


def result(frame):
    if frame.type != nc.RESPONSE:
        raise AssertionError(f"expected a response, got {frame!r}")
    return frame.body["result"]


def error_code(frame):
    if frame.type != nc.ERROR:
        raise AssertionError(f"expected an error, got {frame!r}")
    return frame.body["code"]


def connect(meterd, tls=False):
    port = meterd.ready["secure"] if tls else meterd.ready["native"]
    cafile = str(meterd.state_dir / "tls" / "device-cert.pem") if tls else None
    client = nc.NativeClient(port, tls=tls, cafile=cafile)
    assert client.hello().type == nc.HELLO_OK
    return client


def logged_in(meterd, user, password, tls=False):
    client = connect(meterd, tls)
    frame = client.login(user, password)
    if frame.type != nc.LOGIN_OK:
        raise AssertionError(f"login of {user} failed: {frame!r}")
    return client


def admin_request(client, operation, arguments=None):
    return client.request(operation, arguments or {}, auth=client.session_auth())


def make_advanced(meterd):
    """Legacy -> Advanced, and User1 gets a real password."""
    with logged_in(meterd, "User1", "0") as client:
        assert result(admin_request(client, "security.mode", {"mode": "advanced"}))["changed"] is True
        result(admin_request(client, "users.passwd", {"name": "User1", "password": ADMIN_PASSWORD}))


class LegacyAndModesTest(unittest.TestCase):
    def test_factory_meter_is_legacy_with_anonymous_read_and_advanced_needs_a_login(self):
        with Meterd(*FLEET) as meterd:
            with connect(meterd) as anonymous:
                self.assertIn("values", result(anonymous.request("read")))
                self.assertEqual(error_code(anonymous.request("demand.reset")), nc.AUTHENTICATION_REQUIRED)
            with logged_in(meterd, "User1", "0") as client:
                self.assertEqual(result(admin_request(client, "security.show"))["mode"], "legacy")
                # Legacy security support has one user only.
                refused = admin_request(client, "users.add", {"name": "alice", "password": "Secret-12",
                                                              "permissions": ["read"]})
                self.assertEqual(error_code(refused), nc.INVALID_ARGUMENT)
                self.assertIn("advanced", refused.body["message"])
                # Legacy passwords are numeric, at most 8 digits.
                self.assertEqual(error_code(admin_request(client, "users.passwd", {"name": "User1", "password": "abc"})),
                                 nc.INVALID_ARGUMENT)
                self.assertEqual(error_code(admin_request(client, "users.passwd",
                                                          {"name": "User1", "password": "123456789"})),
                                 nc.INVALID_ARGUMENT)
                switched = result(admin_request(client, "security.mode", {"mode": "advanced"}))
                self.assertTrue(switched["changed"])
                users = result(admin_request(client, "users.list"))["users"]
                self.assertEqual([u["name"] for u in users], ["User1"])
                self.assertEqual(users[0]["permissions"], list(PERMISSIONS))
                self.assertTrue(users[0]["default_credential"])
                # No change may leave nobody with Security Config.
                refused = admin_request(client, "users.revoke", {"name": "User1", "permissions": ["security-config"]})
                self.assertEqual(error_code(refused), nc.INVALID_ARGUMENT)
                self.assertIn("security-config", refused.body["message"])
                events = result(admin_request(client, "security.events"))["records"]
                self.assertIn("mode_change", [event["type"] for event in events])
            with connect(meterd) as anonymous:
                self.assertEqual(error_code(anonymous.request("read")), nc.AUTHENTICATION_REQUIRED)

    def test_ion8650_offers_standard_and_advanced_only(self):
        with Meterd(*FLEET, "--model", "ION8650") as meterd:
            with logged_in(meterd, "User1", "0") as client:
                shown = result(admin_request(client, "security.show"))
                self.assertEqual(shown["mode"], "standard")
                self.assertEqual(shown["modes"], ["standard", "advanced"])
                self.assertFalse(shown["policy"]["complexity_available"])
                self.assertEqual(shown["options"]["services"]["sftp"], {"enabled": True, "offered": True,
                                                                      "emulated": False})
                self.assertFalse(shown["options"]["services"]["ssh"]["enabled"])
                self.assertFalse(shown["options"]["web_server"])
                self.assertEqual(error_code(admin_request(client, "security.mode", {"mode": "legacy"})),
                                 nc.INVALID_ARGUMENT)
                refused = admin_request(client, "security.policy", {"complexity": "nerc-cip-007-5"})
                self.assertEqual(error_code(refused), nc.INVALID_ARGUMENT)
                self.assertIn("ION8650", refused.body["message"])


OPERATIONS = [
    # operation, arguments, the permission it needs
    ("identity", {}, "read"),
    ("read", {"points": ["frequency"]}, "read"),
    ("time.get", {}, "read"),
    ("settings.get", {}, "read"),
    ("comm.get", {}, "read"),
    ("time.set", {"unix_time": 1_800_000_000}, "time-sync"),
    ("demand.reset", {}, "peak-demand-reset"),
    ("comm.set", {"modbus_unit_id": 1}, "comm-config"),
    ("test_mode.set", {"enabled": False}, "test-mode"),
    ("settings.set", {"settings": {"demand_interval_minutes": 15}}, "full-meter-config"),
    ("security.show", {}, "security-config"),
    ("users.list", {}, "security-config"),
    ("security.events", {"limit": 1}, "security-config"),
    ("security.audit", {}, "security-config"),
    ("security.export", {}, "security-config"),
]


class PermissionsTest(unittest.TestCase):
    def test_every_permission_against_every_operation(self):
        with Meterd(*FLEET) as meterd:
            make_advanced(meterd)
            with logged_in(meterd, "User1", ADMIN_PASSWORD) as admin:
                for permission in PERMISSIONS:
                    name = "u-" + permission
                    result(admin_request(admin, "users.add", {"name": name, "password": "Pw-" + permission[:6] + "1",
                                                              "permissions": [permission]}))
            for permission in PERMISSIONS:
                with logged_in(meterd, "u-" + permission, "Pw-" + permission[:6] + "1") as client:
                    for operation, arguments, needed in OPERATIONS:
                        frame = client.request(operation, arguments, auth=client.session_auth())
                        with self.subTest(user=permission, operation=operation):
                            if needed == permission:
                                result(frame)
                            else:
                                self.assertEqual(error_code(frame), nc.PERMISSION_DENIED)
                                self.assertIn(needed, frame.body["message"])
                    # Anyone may change their own password over a session; not another's.
                    other = "u-read" if permission != "read" else "u-time-sync"
                    frame = client.request("users.passwd", {"name": other, "password": "Xx-123456"},
                                           auth=client.session_auth())
                    if permission == "security-config":
                        result(frame)
                    else:
                        self.assertEqual(error_code(frame), nc.PERMISSION_DENIED)

    def test_revenue_lock_holds_over_native_and_modbus(self):
        with Meterd(*FLEET, "--modbus-access", "read-write") as meterd:
            with logged_in(meterd, "User1", "0") as client:
                result(admin_request(client, "security.options", {"revenue_lock": True}))
                refused = admin_request(client, "settings.set", {"settings": {"ct_primary": 200}})
                self.assertEqual(error_code(refused), nc.PERMISSION_DENIED)
                self.assertIn("revenue", refused.body["message"])
            # Modbus FC6 to ct_primary (8104): exception 1 while revenue-locked.
            with socket.create_connection(("127.0.0.1", meterd.port), timeout=5) as modbus:
                modbus.sendall(struct.pack(">HHHBBHH", 1, 0, 6, 1, 6, 8104, 200))
                answer = modbus.recv(64)
                self.assertEqual(answer[7], 0x86, answer)
                self.assertEqual(answer[8], 1, answer)
            with logged_in(meterd, "User1", "0") as client:
                result(admin_request(client, "security.options", {"revenue_lock": False}))
                result(admin_request(client, "settings.set", {"settings": {"ct_primary": 200}}))


class PolicyTest(unittest.TestCase):
    def add(self, client, name, password):
        return admin_request(client, "users.add", {"name": name, "password": password, "permissions": ["read"]})

    def test_lengths_and_complexity(self):
        with Meterd(*FLEET) as meterd:
            make_advanced(meterd)
            with logged_in(meterd, "User1", ADMIN_PASSWORD) as client:
                result(self.add(client, "sixteen", "a" * 15 + "B"))
                refused = self.add(client, "seventeen", "Ab" * 8 + "c")
                self.assertEqual(error_code(refused), nc.INVALID_ARGUMENT)
                self.assertNotIn("Ab" * 8, refused.body["message"])
                result(admin_request(client, "security.policy", {"complexity": "nerc-cip-007-5", "min_length": 8}))
                result(self.add(client, "nerc", "Abcdefg1"))  # three classes of four
                self.assertEqual(error_code(self.add(client, "nerc2", "abcdefg1")), nc.INVALID_ARGUMENT)
                result(admin_request(client, "security.policy", {"complexity": "ieee-1686-2013"}))
                refused = self.add(client, "ieee", "Abcdefg1")
                self.assertEqual(error_code(refused), nc.INVALID_ARGUMENT)
                self.assertIn("4", refused.body["message"])
                self.assertNotIn("Abcdefg1", refused.body["message"])
                result(self.add(client, "ieee", "Abcdefg1!"))
                self.assertEqual(error_code(admin_request(client, "security.policy", {"min_length": 5})),
                                 nc.INVALID_ARGUMENT)
                # Existing passwords keep working when the rules tighten.
            logged_in(meterd, "sixteen", "a" * 15 + "B").close()

    def test_before_4_0_0_passwords_stop_at_6(self):
        with Meterd(*FLEET, "--firmware", "3.0.0") as meterd:
            make_advanced_with = "Ab1-xy"
            with logged_in(meterd, "User1", "0") as client:
                result(admin_request(client, "security.mode", {"mode": "advanced"}))
                result(admin_request(client, "users.passwd", {"name": "User1", "password": make_advanced_with}))
                self.assertEqual(error_code(self.add(client, "seven", "Abcdef1")), nc.INVALID_ARGUMENT)
                result(self.add(client, "six", "Abcde1"))
                refused = admin_request(client, "security.policy", {"complexity": "nerc-cip-007-5"})
                self.assertEqual(error_code(refused), nc.INVALID_ARGUMENT)
                self.assertIn("4.6.0", refused.body["message"])


class LockoutTest(unittest.TestCase):
    def setUp(self):
        master, slave = os.openpty()
        self.master = master
        self.slave = slave
        self.meterd = Meterd(*FLEET, "--native-serial", os.ttyname(slave), "--parity", "N").__enter__()
        make_advanced(self.meterd)
        with logged_in(self.meterd, "User1", ADMIN_PASSWORD) as admin:
            result(admin_request(admin, "security.lockout", {"protocol": "native", "attempts": 3, "window_s": 600,
                                                             "duration_s": 900}))
            result(admin_request(admin, "users.add", {"name": "alice", "password": "Alice-pw1",
                                                      "permissions": ["read"]}))
            result(admin_request(admin, "users.add", {"name": "bob", "password": "Bob-pw12",
                                                      "permissions": ["read"]}))

    def tearDown(self):
        self.meterd.close()
        os.close(self.master)
        os.close(self.slave)

    def serial_login(self, user, password):
        client = SerialClient(self.master)
        self.assertEqual(client.hello().type, nc.HELLO_OK)
        frame = client.login(user, password)
        if frame.type != nc.LOGIN_OK:
            print("serial login:", frame.body, file=sys.stderr)
        return frame

    def test_lockout_scope(self):
        with connect(self.meterd) as client:
            for _ in range(3):
                self.assertEqual(error_code(client.login("alice", "wrong")), nc.AUTHENTICATION_FAILED)
            locked = client.login("alice", "Alice-pw1")
            self.assertEqual(error_code(locked), nc.LOCKED_OUT)
            self.assertNotIn("Alice-pw1", locked.body["message"])
        # Plain and secure ports are both Ethernet: locked on both.
        with connect(self.meterd, tls=True) as client:
            self.assertEqual(error_code(client.login("alice", "Alice-pw1")), nc.LOCKED_OUT)
        # Other users are untouched; the serial connection type is separate.
        logged_in(self.meterd, "bob", "Bob-pw12").close()
        self.assertEqual(self.serial_login("alice", "Alice-pw1").type, nc.LOGIN_OK)
        with logged_in(self.meterd, "User1", ADMIN_PASSWORD) as admin:
            lockouts = result(admin_request(admin, "users.lockouts"))["lockouts"]
            alice = [entry for entry in lockouts if entry["user"] == "alice"]
            self.assertEqual(len(alice), 1)
            self.assertEqual((alice[0]["connection"], alice[0]["locked"]), ("ethernet", True))
            self.assertGreater(alice[0]["remaining_s"], 800)
            self.assertEqual(result(admin_request(admin, "users.unlock", {"name": "alice"}))["unlocked"], 1)
            events = [e["type"] for e in result(admin_request(admin, "security.events"))["records"]]
            for expected in ("login_failed", "lockout", "unlock", "login"):
                self.assertIn(expected, events)
        logged_in(self.meterd, "alice", "Alice-pw1").close()

    def test_brute_force_from_20_connections_ends_in_lockout(self):
        attempts_per_connection = 500
        answers = {}
        lock = threading.Lock()

        def attack(index):
            counts = {}
            with connect(self.meterd, tls=index % 2 == 1) as client:
                for attempt in range(attempts_per_connection):
                    frame = client.login("alice", f"guess-{index}-{attempt}")
                    code = "ok" if frame.type == nc.LOGIN_OK else frame.body["code"]
                    counts[code] = counts.get(code, 0) + 1
            with lock:
                for code, count in counts.items():
                    answers[code] = answers.get(code, 0) + count

        threads = [threading.Thread(target=attack, args=(index,)) for index in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual(sum(answers.values()), 10_000)
        self.assertNotIn("ok", answers)
        self.assertGreater(answers.get(nc.LOCKED_OUT, 0), 9_000, answers)
        # The right password is refused over Ethernet, works over serial.
        with connect(self.meterd) as client:
            self.assertEqual(error_code(client.login("alice", "Alice-pw1")), nc.LOCKED_OUT)
        self.assertEqual(self.serial_login("alice", "Alice-pw1").type, nc.LOGIN_OK)
        logged_in(self.meterd, "bob", "Bob-pw12").close()


class StorageTest(unittest.TestCase):
    def test_fifty_users_and_no_clear_password_on_disk(self):
        passwords = [ADMIN_PASSWORD]
        with Meterd(*FLEET) as meterd:
            make_advanced(meterd)
            with logged_in(meterd, "User1", ADMIN_PASSWORD) as admin:
                for index in range(49):
                    password = f"Pw{index:02d}-zq{index * 7919 % 1000:03d}"
                    passwords.append(password)
                    result(admin_request(admin, "users.add", {"name": f"user{index:02d}", "password": password,
                                                              "permissions": ["read"]}))
                refused = admin_request(admin, "users.add", {"name": "one-too-many", "password": "Pw-99-zzz",
                                                             "permissions": ["read"]})
                self.assertEqual(error_code(refused), nc.INVALID_ARGUMENT)
                self.assertIn("50", refused.body["message"])
            logged_in(meterd, "user48", passwords[49]).close()
            meterd.stop()
            state_text = (meterd.state_dir / "meter-state.json").read_text()
            self.assertEqual(state_text.count("$scrypt$"), 50)
            for path in meterd.state_dir.rglob("*"):
                if path.is_file():
                    data = path.read_bytes()
                    for password in passwords:
                        self.assertNotIn(password.encode(), data, f"{path} holds a clear password")
            self.assertNotIn(ADMIN_PASSWORD, meterd.log_path.read_text())

    def test_clear_text_store_is_hashed_at_start(self):
        import json
        work = pathlib.Path(os.environ.get("TMPDIR", "/tmp"))
        with Meterd(*FLEET) as meterd:
            state_dir = meterd.state_dir
            meterd.stop()
            state_file = state_dir / "meter-state.json"
            state = json.loads(state_file.read_text())
            user = state["security"]["users"][0]
            del user["password_hash"]
            user["password"] = "4711"  # an older firmware's clear-text store
            state_file.write_text(json.dumps(state))
            del work
            meterd.start()
            self.assertNotIn("4711", state_file.read_text())
            self.assertIn("$scrypt$", state_file.read_text())
            with logged_in(meterd, "User1", "4711") as client:
                events = result(admin_request(client, "security.events"))["records"]
                self.assertTrue(any("hashed" in event["detail"] for event in events), events)

    def test_default_hashing_cost_is_owasp(self):
        with Meterd() as meterd:
            with logged_in(meterd, "User1", "0") as client:
                hashing = result(admin_request(client, "security.show"))["password_hashing"]
                self.assertEqual((hashing["log2_n"], hashing["r"], hashing["p"]), (17, 8, 1))
                self.assertTrue(hashing["meets_minimum"])
            self.assertIn("$scrypt$ln=17,r=8,p=1$", (meterd.state_dir / "meter-state.json").read_text())


class DocumentAndAuditTest(unittest.TestCase):
    def test_export_then_apply_changes_nothing(self):
        with Meterd(*FLEET) as meterd:
            make_advanced(meterd)
            with logged_in(meterd, "User1", ADMIN_PASSWORD) as admin:
                document = result(admin_request(admin, "security.export"))["document"]
                self.assertNotIn("$scrypt$", document)
                applied = result(admin_request(admin, "security.apply", {"document": document, "source": "x.yaml"}))
                self.assertEqual(applied, {"changed": False, "changes": []})
                changed = document.replace("session_timeout_s: 300", "session_timeout_s: 600")
                applied = result(admin_request(admin, "security.apply", {"document": changed, "source": "x.yaml"}))
                self.assertEqual(applied["changes"], ["session_timeout_s: 300 -> 600"])
                broken = changed.replace("mode: advanced", "mode: sideways")
                refused = admin_request(admin, "security.apply", {"document": broken, "source": "x.yaml"})
                self.assertEqual(error_code(refused), nc.INVALID_ARGUMENT)
                self.assertRegex(refused.body["message"], r"^x\.yaml:\d+:\d+: ")
                # A password in a document goes by file; the same password again changes nothing.
                with_password = changed.replace('- name: "User1"', '- name: "User1"\n    password_file: p')
                arguments = {"document": with_password, "source": "x.yaml", "passwords": {"User1": ADMIN_PASSWORD}}
                self.assertFalse(result(admin_request(admin, "security.apply", arguments))["changed"])
                events = result(admin_request(admin, "security.events"))["records"]
                self.assertTrue(any("no changes" in event["detail"] for event in events))

    def test_audit_flags_a_factory_meter_and_passes_a_hardened_one(self):
        with Meterd(*FLEET) as meterd:
            with logged_in(meterd, "User1", "0") as client:
                audit = result(admin_request(client, "security.audit"))
                self.assertFalse(audit["passed"])
                failed = {f["id"] for f in audit["findings"] if f["severity"] == "fail"}
                self.assertEqual(failed, {"default-password", "single-password-mode", "plain-native-port",
                                          "weak-password-hashing"})
        with Meterd("--no-native") as meterd:
            with logged_in(meterd, "User1", "0", tls=True) as client:
                result(admin_request(client, "security.mode", {"mode": "advanced"}))
                result(admin_request(client, "users.passwd", {"name": "User1", "password": ADMIN_PASSWORD}))
                audit = result(admin_request(client, "security.audit"))
                self.assertTrue(audit["passed"], audit)

    def test_event_log_survives_kill_9(self):
        with Meterd(*FLEET) as meterd:
            with logged_in(meterd, "User1", "0") as client:
                result(admin_request(client, "security.mode", {"mode": "advanced"}))
                before = result(admin_request(client, "security.events"))["last_number"]
            meterd.kill()
            meterd.start()
            with logged_in(meterd, "User1", "0") as client:
                records = result(admin_request(client, "security.events"))["records"]
                numbers = [record["number"] for record in records]
                self.assertEqual(numbers, sorted(set(numbers)))
                self.assertGreaterEqual(numbers[-1], before)
                self.assertIn("mode_change", [record["type"] for record in records])


if __name__ == "__main__":
    unittest.main(verbosity=2)
