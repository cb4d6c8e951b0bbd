#!/usr/bin/python3
"""Firmware upload and activation on a real meterd, over the native protocol.

Run with /usr/bin/python3. The requests go through native_client.py (written from the
protocol's man page), so the meter is checked against meter-native-protocol(7), FIRMWARE
UPGRADE, rather than against meterctl. Packages are made with `meterctl upgrade keygen`
and `meterctl upgrade pack`; the public key goes into the meter's trusted-keys directory
before meterd starts.

Sections (one ctest test each):
  UploadAndFinish  upload, status, finish, refusals, abort and permissions (--no-supervisor)
  Resume           an upload resumed after a dropped connection and after kill -9 of meterd
  Activate         a supervised meterd activates the package and commits on the new slot
"""

import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import native_client as nc  # noqa: E402
from meterd_harness import METERD, READY_DEADLINE_S, SOURCE_DIR, Meterd  # noqa: E402

METERCTL = os.environ.get("METERCTL", str(SOURCE_DIR / "build" / "cli" / "meterctl"))
FLEET = ("--password-hashing", "fleet")
PACKAGE_REFUSED = 21
# meter-native-protocol(7), LIMITS: upgrade.chunk data.
MAX_CHUNK = 196608
ADMIN_PASSWORD = "Adm1n-Passw0rd!"


def result(frame):
    if frame.type != nc.RESPONSE:
        raise AssertionError(f"expected a response, got {frame!r}")
    return frame.body["result"]


def error_code(frame):
    if frame.type != nc.ERROR:
        raise AssertionError(f"expected an error, got {frame!r}")
    return frame.body["code"]


def logged_in(meterd, user="User1", password="0"):
    client = nc.NativeClient(meterd.ready["native"])
    assert client.hello().type == nc.HELLO_OK
    frame = client.login(user, password)
    if frame.type != nc.LOGIN_OK:
        client.close()
        raise AssertionError(f"login of {user} failed: {frame!r}")
    return client


def call(client, operation, arguments=None):
    return client.request(operation, arguments or {}, auth=client.session_auth())


def send_chunks(client, package, start, end=None, chunk=MAX_CHUNK):
    """upgrade.chunk from `start` up to `end` (default: the whole package)."""
    end = len(package) if end is None else end
    offset = start
    while offset < end:
        stop = min(end, offset + chunk)
        answer = result(call(client, "upgrade.chunk", {"offset": offset, "data": package[offset:stop]}))
        assert answer["offset"] == stop, answer
        offset = stop
    return offset


class UpgradeTestCase(unittest.TestCase):
    def setUp(self):
        self.tmp = pathlib.Path(tempfile.mkdtemp(prefix="meterd-upgrade-"))
        self.env = dict(os.environ)
        self.env.update(XDG_CONFIG_HOME=str(self.tmp / "config"), XDG_STATE_HOME=str(self.tmp / "state"),
                        NO_COLOR="1")
        self.meters = []
        self.key = self.tmp / "vendor"
        self.meterctl("upgrade", "keygen", "--out", str(self.key))

    def tearDown(self):
        for meter in self.meters:
            meter.close()
        if os.environ.get("KEEP_TEST_TMP") != "1":
            shutil.rmtree(self.tmp, ignore_errors=True)

    def meterctl(self, *args):
        completed = subprocess.run([METERCTL, *args], env=self.env, capture_output=True, text=True, timeout=120)
        if completed.returncode != 0:
            self.fail(f"meterctl {' '.join(args)} exited {completed.returncode}\n{completed.stderr}")
        return completed

    def pack(self, payload_file, version="4.6.0", model="ION7400", name=None, key=None):
        out = self.tmp / (name or f"{model}-{version}.upg")
        self.meterctl("upgrade", "pack", "--key", str(key or self.key), "--model", model, "--version", version,
                      "--payload", str(payload_file), "--out", str(out))
        return out.read_bytes()

    def payload(self, size=400_000):
        """A stand-in payload for meters that never run it: more than two full chunks."""
        path = self.tmp / "payload.bin"
        path.write_bytes(os.urandom(size))
        return path

    def state_dir(self):
        """A state directory that trusts the vendor key."""
        state = pathlib.Path(tempfile.mkdtemp(dir=self.tmp, prefix="state-"))
        (state / "trusted-keys").mkdir(mode=0o700)
        shutil.copy(f"{self.key}.pub", state / "trusted-keys" / "vendor.pub")
        return state

    def start(self, *args, state_dir=None):
        meter = Meterd(*FLEET, "--firmware", "4.0.0", *args, state_dir=state_dir or self.state_dir(),
                       work_dir=self.tmp)
        self.meters.append(meter)
        meter.start()
        return meter

    def begin(self, client, package):
        arguments = {"length": len(package), "sha256": hashlib.sha256(package).hexdigest()}
        return result(call(client, "upgrade.begin", arguments))["offset"]


class UploadAndFinish(UpgradeTestCase):
    def test_upload_finish_and_status(self):
        meter = self.start("--no-supervisor")
        payload_file = self.payload()
        package = self.pack(payload_file)
        with logged_in(meter) as client:
            status = result(call(client, "upgrade.status"))
            self.assertFalse(status["supervised"])
            self.assertEqual(status["running"], {"slot": None, "version": "4.0.0", "vendor_version": "V004.000.000"})
            self.assertEqual(len(status["trusted_key_ids"]), 1)
            self.assertIsNone(status["upload"])

            self.assertEqual(self.begin(client, package), 0)
            send_chunks(client, package, 0, MAX_CHUNK + 1000)
            upload = result(call(client, "upgrade.status"))["upload"]
            self.assertEqual(upload, {"length": len(package), "sha256": hashlib.sha256(package).hexdigest(),
                                      "offset": MAX_CHUNK + 1000})
            # Past the end, or not at the end: refused, and nothing stored.
            frame = call(client, "upgrade.chunk", {"offset": 0, "data": package[:10]})
            self.assertEqual(error_code(frame), nc.INVALID_ARGUMENT)
            self.assertIn(f"expected offset {MAX_CHUNK + 1000}", frame.body["message"])
            frame = call(client, "upgrade.chunk", {"offset": MAX_CHUNK + 1000, "data": b"x" * (MAX_CHUNK + 1)})
            self.assertEqual(error_code(frame), nc.INVALID_ARGUMENT)
            self.assertEqual(error_code(call(client, "upgrade.finish")), nc.INVALID_ARGUMENT)
            send_chunks(client, package, MAX_CHUNK + 1000)
            frame = call(client, "upgrade.chunk", {"offset": len(package), "data": b"x"})
            self.assertEqual(error_code(frame), nc.INVALID_ARGUMENT)

            finished = result(call(client, "upgrade.finish"))
            self.assertEqual(finished["slot"], "b")
            self.assertEqual(finished["manifest"]["firmware_version"], "4.6.0")
            self.assertEqual(finished["manifest"]["model"], "ION7400")

            status = result(call(client, "upgrade.status"))
            self.assertIsNone(status["upload"])
            self.assertEqual(status["slots"]["b"]["version"], "4.6.0")
            self.assertEqual(status["slots"]["b"]["key_id"], finished["manifest"]["key_id"])
            self.assertEqual(status["slots"]["b"]["payload_sha256"],
                             hashlib.sha256(payload_file.read_bytes()).hexdigest())
            self.assertTrue(status["slots"]["a"]["factory"])
            self.assertEqual(status["active"], "a")

            frame = call(client, "upgrade.activate")
            self.assertEqual(error_code(frame), nc.NOT_AVAILABLE)
            self.assertIn("--no-supervisor", frame.body["message"])

        installed = meter.state_dir / "firmware" / "slot-b" / "meterd"
        self.assertEqual(installed.read_bytes(), payload_file.read_bytes())
        self.assertEqual(installed.stat().st_mode & 0o777, 0o755)
        manifest = json.loads((meter.state_dir / "firmware" / "slot-b" / "manifest.json").read_text())
        self.assertEqual(manifest["firmware_version"], "4.6.0")
        self.assertFalse((meter.state_dir / "firmware" / "upload").exists())

    def test_refused_packages_change_nothing(self):
        meter = self.start("--no-supervisor")
        payload_file = self.payload(50_000)
        stranger = self.tmp / "stranger"
        self.meterctl("upgrade", "keygen", "--out", str(stranger))
        corrupted = bytearray(self.pack(payload_file, name="corrupted.upg"))
        corrupted[-1] ^= 0x01
        cases = [
            (bytes(corrupted), "signature does not verify"),
            (self.pack(payload_file, key=stranger, name="stranger.upg"), "not among the keys offered"),
            (self.pack(payload_file, model="ION9000", version="3.0.0"), "this meter is an ION7400"),
            (self.pack(payload_file, version="4.0.0"), "already runs firmware 4.0.0"),
            (self.pack(payload_file, version="3.0.0"), "cannot be downgraded"),
        ]
        with logged_in(meter) as client:
            for package, expected in cases:
                with self.subTest(expected=expected):
                    self.assertEqual(self.begin(client, package), 0)
                    send_chunks(client, package, 0)
                    frame = call(client, "upgrade.finish")
                    self.assertEqual(error_code(frame), PACKAGE_REFUSED)
                    self.assertIn(expected, frame.body["message"])
                    status = result(call(client, "upgrade.status"))
                    self.assertIsNone(status["upload"])
                    self.assertIsNone(status["slots"]["b"])
        self.assertFalse((meter.state_dir / "firmware" / "slot-b").exists())
        # Each refusal is in the security event log.
        with logged_in(meter) as client:
            events = result(call(client, "security.events"))
        self.assertGreaterEqual(json.dumps(events).count("package refused"), len(cases))

    def test_abort_discards_the_upload(self):
        meter = self.start("--no-supervisor")
        package = self.pack(self.payload(50_000))
        with logged_in(meter) as client:
            self.begin(client, package)
            send_chunks(client, package, 0, 1000)
            self.assertEqual(result(call(client, "upgrade.abort")), {"discarded": True})
            self.assertIsNone(result(call(client, "upgrade.status"))["upload"])
            self.assertEqual(result(call(client, "upgrade.abort")), {"discarded": False})
            self.assertEqual(self.begin(client, package), 0)

    def test_needs_security_config(self):
        meter = self.start("--no-supervisor")
        with logged_in(meter) as admin:
            self.assertTrue(result(call(admin, "security.mode", {"mode": "advanced"}))["changed"])
            result(call(admin, "users.passwd", {"name": "User1", "password": ADMIN_PASSWORD}))
            result(call(admin, "users.add", {"name": "reader", "password": "Rd-123456", "permissions": ["read"]}))
        with logged_in(meter, "reader", "Rd-123456") as client:
            for operation in ("upgrade.status", "upgrade.begin", "upgrade.chunk", "upgrade.finish",
                              "upgrade.activate", "upgrade.abort"):
                with self.subTest(operation=operation):
                    frame = call(client, operation)
                    self.assertEqual(error_code(frame), nc.PERMISSION_DENIED)
                    self.assertIn("security-config", frame.body["message"])


class Resume(UpgradeTestCase):
    def test_resume_after_a_dropped_connection(self):
        meter = self.start("--no-supervisor")
        package = self.pack(self.payload())
        with logged_in(meter) as client:
            self.assertEqual(self.begin(client, package), 0)
            send_chunks(client, package, 0, 300_000, chunk=100_000)
        # The connection is gone; a new one learns where the upload stands.
        with logged_in(meter) as client:
            offset = self.begin(client, package)
            self.assertEqual(offset, 300_000)
            send_chunks(client, package, offset)
            self.assertEqual(result(call(client, "upgrade.finish"))["slot"], "b")

    def test_resume_after_meterd_is_killed(self):
        state = self.state_dir()
        meter = self.start("--no-supervisor", state_dir=state)
        package = self.pack(self.payload())
        with logged_in(meter) as client:
            self.begin(client, package)
            send_chunks(client, package, 0, 250_000, chunk=50_000)
        meter.kill()  # SIGKILL: no chance to tidy up
        on_disk = (state / "firmware" / "upload" / "package.part").stat().st_size
        self.assertEqual(on_disk, 250_000)

        meter = self.start("--no-supervisor", state_dir=state)
        with logged_in(meter) as client:
            self.assertEqual(result(call(client, "upgrade.status"))["upload"]["offset"], on_disk)
            frame = call(client, "upgrade.chunk", {"offset": 0, "data": package[:10]})
            self.assertIn(f"expected offset {on_disk}", frame.body["message"])
            offset = self.begin(client, package)
            self.assertEqual(offset, on_disk)
            send_chunks(client, package, offset)
            self.assertEqual(result(call(client, "upgrade.finish"))["manifest"]["firmware_version"], "4.6.0")
            # Another package announced: the upload starts again from 0.
            other = self.pack(self.payload(60_000), version="4.6.0", name="other.upg")
            self.assertEqual(self.begin(client, other), 0)


class Activate(UpgradeTestCase):
    def wait_for_new_firmware(self, meter, old_firmware_pid):
        """The ready file of the firmware booted after the activation."""
        deadline = time.monotonic() + 3 * READY_DEADLINE_S
        while time.monotonic() < deadline:
            if meter.process.poll() is not None:
                self.fail(f"the supervisor exited with {meter.process.returncode}:\n{meter.log_tail(40)}")
            try:
                ready = json.loads(meter.ready_file.read_text())
            except (OSError, ValueError):
                ready = None
            if ready and ready.get("firmware_pid") not in (None, old_firmware_pid):
                return ready
            time.sleep(0.05)
        self.fail(f"no new firmware became ready:\n{meter.log_tail(40)}")

    def test_activate_commits_on_the_new_slot(self):
        meter = self.start()
        self.assertEqual(meter.ready["pid"], meter.pid)
        old_firmware_pid = meter.ready["firmware_pid"]
        self.assertNotEqual(old_firmware_pid, meter.pid)
        # The package carries this very meterd: the new slot runs it as firmware 4.6.0.
        package = self.pack(pathlib.Path(METERD))
        with logged_in(meter) as client:
            status = result(call(client, "upgrade.status"))
            self.assertTrue(status["supervised"])
            self.assertEqual(status["running"]["slot"], "a")
            self.begin(client, package)
            send_chunks(client, package, 0)
            self.assertEqual(result(call(client, "upgrade.finish"))["slot"], "b")
            activated = result(call(client, "upgrade.activate", {"health_deadline_s": 120}))
            self.assertEqual(activated, {"slot": "b", "version": "4.6.0", "rebooting": True})
        self.assertTrue((meter.state_dir / "firmware" / "pre-trial-state.json").exists())

        meter.ready = self.wait_for_new_firmware(meter, old_firmware_pid)
        self.assertEqual(meter.ready["pid"], meter.pid)
        deadline = time.monotonic() + READY_DEADLINE_S
        while True:
            with logged_in(meter) as client:
                status = result(call(client, "upgrade.status"))
            # The supervisor commits once the firmware reports healthy, just after the ready file.
            if status["trial"] is None or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(status["running"], {"slot": "b", "version": "4.6.0", "vendor_version": "V004.006.000"})
        self.assertEqual(status["active"], "b")
        self.assertIsNone(status["trial"])
        self.assertTrue(status["last_outcome"]["committed"], status["last_outcome"])
        self.assertEqual(status["last_outcome"]["version"], "4.6.0")
        self.assertEqual(status["rollback_floor"], "4.0.0")
        self.assertEqual(meter.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
