#!/usr/bin/python3
"""The boot supervisor end to end: real meterd processes booting firmware slots staged on disk.

Run with /usr/bin/python3. Each test creates a meter (supervised, the default), stops it,
then stages what upgrade.activate would leave behind: a package in slot b (an executable
payload and its manifest), a trial in the boot record, and pre-trial-state.json. The
payloads are shell scripts: one that runs the real meterd (a good firmware), one that
exits at once, one that never reports healthy, one that hangs on its first boot only.

Covered: a healthy trial commits and the meter then runs slot b; a failing trial is tried
max_attempts times and falls back with the meter state of before the trial; a silent trial
falls back at its health deadline; kill -9 of the supervisor during a trial takes the
firmware with it, and the restarted supervisor carries on counting; a committed meter
restarted five times stays committed; upgrade.activate answers, then the firmware exits
with status 100 and the supervisor boots the trial slot; SIGTERM stops the firmware
cleanly; --trusted-key; --no-supervisor.
"""

import hashlib
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import native_client as nc  # noqa: E402
from meterd_harness import METERD, Meterd  # noqa: E402

METERD_REAL = os.path.realpath(METERD)
FROM_VERSION = "4.0.0"
TO_VERSION = "4.6.0"
DEADLINE_S = 30.0
POLL_S = 0.05


def wait_until(predicate, what, deadline_s=DEADLINE_S):
    deadline = time.monotonic() + deadline_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {deadline_s} s")
        time.sleep(POLL_S)


def process_gone(pid):
    """True once `pid` no longer runs (a zombie counts as gone: it runs no code)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def children_of(pid):
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == str(pid) and fields[0] != "Z":
            found.append(int(entry))
    return found


def identity(port):
    with nc.NativeClient(port) as client:
        client.hello()
        frame = client.request("identity")
        assert frame.type == nc.RESPONSE, frame
        return frame.body["result"]


class SupervisorTestCase(unittest.TestCase):
    def setUp(self):
        self.tmp = pathlib.Path(tempfile.mkdtemp(prefix="meterd-supervisor-"))
        self.state_dir = self.tmp / "state"
        self.firmware_dir = self.state_dir / "firmware"
        self.meters = []

    def tearDown(self):
        for meter in self.meters:
            meter.close()
        if os.environ.get("KEEP_TEST_TMP") != "1":
            shutil.rmtree(self.tmp, ignore_errors=True)

    def meter(self, *args):
        meter = Meterd("--password-hashing", "fleet", "--firmware", FROM_VERSION, *args, state_dir=self.state_dir,
                       work_dir=self.tmp)
        self.meters.append(meter)
        return meter

    def start(self, *args):
        return self.meter(*args).start()

    def stop(self, meter):
        status = meter.stop()
        self.meters.remove(meter)
        self.assertEqual(status, 0, meter.log_tail())
        return status

    def boot_record(self):
        return json.loads((self.firmware_dir / "boot.json").read_text())

    def write_boot_record(self, record):
        (self.firmware_dir / "boot.json").write_text(json.dumps(record, indent=2))

    def state(self):
        return json.loads((self.state_dir / "meter-state.json").read_text())

    def stage_trial(self, payload, *, max_attempts=3, health_deadline_s=60):
        """Creates the meter, then leaves slot b, the trial and the pre-trial state as
        upgrade.activate would. Returns the pre-trial meter state."""
        meter = self.start()
        self.assertEqual(self.boot_record()["slots"]["a"]["executable"], METERD_REAL)
        self.stop(meter)
        slot = self.firmware_dir / "slot-b"
        slot.mkdir(mode=0o700)
        executable = slot / "meterd"
        executable.write_text(payload)
        executable.chmod(0o755)
        manifest = {"model": "ION7400", "firmware_version": TO_VERSION}
        (slot / "manifest.json").write_text(json.dumps(manifest, sort_keys=True, separators=(",", ":")))
        pre_trial = self.state()
        (self.firmware_dir / "pre-trial-state.json").write_text(json.dumps(pre_trial, indent=2))
        # What the trial firmware might have changed before failing: a fallback undoes it.
        changed = json.loads(json.dumps(pre_trial))
        changed["modbus"]["unit_id"] = 42
        (self.state_dir / "meter-state.json").write_text(json.dumps(changed, indent=2))
        record = self.boot_record()
        record["slots"]["b"] = {"executable": str(executable), "factory": False,
                                "installed_at": "2026-01-01T00:00:00Z", "key_id": "0123456789abcdef",
                                "payload_sha256": hashlib.sha256(payload.encode()).hexdigest(),
                                "version": TO_VERSION}
        record["trial"] = {"slot": "b", "attempts": 0, "max_attempts": max_attempts,
                           "health_deadline_s": health_deadline_s, "from_version": FROM_VERSION,
                           "to_version": TO_VERSION, "floor_on_commit": "4.0.0", "requested_at": int(time.time())}
        self.write_boot_record(record)
        return pre_trial

    def good_payload(self):
        return f'#!/bin/sh\nexec "{METERD_REAL}" "$@"\n'

    def boots_logged(self, meter, slot):
        return len(re.findall(rf"event=firmware\.booting slot={slot}\b", meter.log_path.read_text()))

    def assertFellBack(self, meter, pre_trial, reason):
        record = self.boot_record()
        self.assertEqual(record["active"], "a", record)
        self.assertIsNone(record["trial"], record)
        outcome = record["last_outcome"]
        self.assertFalse(outcome["committed"], record)
        self.assertEqual(outcome["slot"], "b", record)
        self.assertEqual(outcome["version"], TO_VERSION, record)
        self.assertEqual(outcome["reason"], reason, record)
        # The meter runs the factory firmware on the state of before the trial.
        self.assertEqual(meter.ready["meters"][0]["unit_id"], pre_trial["modbus"]["unit_id"], meter.ready)
        self.assertEqual(meter.ready["meters"][0]["serial_number"], pre_trial["serial_number"])
        firmware_pid = meter.ready["firmware_pid"]
        self.assertIn(b"METERD_BOOT_SLOT=a", pathlib.Path(f"/proc/{firmware_pid}/environ").read_bytes())
        self.assertEqual(identity(meter.ready["native"])["firmware"], FROM_VERSION)
        self.assertIn(f'event=firmware.fell_back slot=b version={TO_VERSION} active=a reason="{reason}"',
                      meter.log_path.read_text())


class HealthyTrial(SupervisorTestCase):
    def test_a_healthy_trial_commits_and_the_meter_runs_the_new_slot(self):
        self.stage_trial(self.good_payload())
        meter = self.start()
        record = wait_until(lambda: (r := self.boot_record())["trial"] is None and r, "the trial to end")
        self.assertEqual(record["active"], "b", record)
        self.assertTrue(record["last_outcome"]["committed"], record)
        self.assertEqual(record["last_outcome"]["version"], TO_VERSION, record)
        self.assertEqual(record["rollback_floor"], "4.0.0", record)
        self.assertEqual(meter.ready["pid"], meter.pid)
        firmware_pid = meter.ready["firmware_pid"]
        self.assertNotEqual(firmware_pid, meter.pid)
        environment = pathlib.Path(f"/proc/{firmware_pid}/environ").read_bytes().split(b"\0")
        self.assertIn(b"METERD_BOOT_SLOT=b", environment)
        arguments = pathlib.Path(f"/proc/{firmware_pid}/cmdline").read_bytes().split(b"\0")
        # The package slot runs its own version in place of the command line's.
        self.assertEqual(arguments[-4:], [b"--firmware", TO_VERSION.encode(), b"--no-supervisor", b""], arguments)
        self.assertNotIn(FROM_VERSION.encode(), arguments)
        self.assertEqual(identity(meter.ready["native"])["firmware"], TO_VERSION)
        log = meter.log_path.read_text()
        self.assertIn("event=firmware.healthy slot=b", log)
        self.assertIn(f"event=firmware.committed slot=b version={TO_VERSION}", log)
        self.assertEqual(self.boots_logged(meter, "b"), 1)
        self.stop(meter)


class CommittedRestarts(SupervisorTestCase):
    def test_a_committed_meter_restarted_five_times_keeps_its_slot(self):
        self.stage_trial(self.good_payload())
        meter = self.start()
        wait_until(lambda: self.boot_record()["trial"] is None, "the trial to end")
        self.stop(meter)
        committed = self.boot_record()
        self.assertEqual(committed["active"], "b")
        for restart in range(5):
            meter = self.start()
            environment = pathlib.Path(f"/proc/{meter.ready['firmware_pid']}/environ").read_bytes()
            self.assertIn(b"METERD_BOOT_SLOT=b", environment)
            self.stop(meter)
            self.assertEqual(self.boot_record(), committed, f"restart {restart + 1} changed the boot record")


class FailingTrial(SupervisorTestCase):
    def test_a_trial_that_exits_is_tried_max_attempts_times_then_falls_back(self):
        pre_trial = self.stage_trial("#!/bin/sh\nexit 3\n", max_attempts=3)
        meter = self.start()
        self.assertFellBack(meter, pre_trial, "exited with status 3 on 3 boots")
        self.assertEqual(self.boots_logged(meter, "b"), 3)
        self.assertEqual(json.loads((self.firmware_dir / "pre-trial-state.json").read_text()), pre_trial)
        self.stop(meter)
        # Fallen back for good: the next start boots slot a at once.
        meter = self.start()
        self.assertEqual(self.boots_logged(meter, "b"), 0)
        self.stop(meter)


class SilentTrial(SupervisorTestCase):
    def test_a_trial_with_no_health_report_falls_back_at_its_deadline(self):
        pre_trial = self.stage_trial("#!/bin/sh\nexec sleep 120\n", health_deadline_s=3)
        started = time.monotonic()
        meter = self.start()
        self.assertGreaterEqual(time.monotonic() - started, 3.0)
        self.assertFellBack(meter, pre_trial, "no health report within 3 s")
        self.assertEqual(self.boots_logged(meter, "b"), 1)
        self.stop(meter)


class KilledSupervisor(SupervisorTestCase):
    def test_kill_9_during_a_trial_takes_the_firmware_and_the_count_goes_on(self):
        # The first boot hangs (the power goes off during it); later boots are healthy.
        marker = self.tmp / "booted-once"
        payload = (f'#!/bin/sh\nif [ -e "{marker}" ]; then exec "{METERD_REAL}" "$@"; fi\n'
                   f'touch "{marker}"\nexec sleep 120\n')
        self.stage_trial(payload, max_attempts=3)
        meter = self.meter().launch()
        wait_until(lambda: (self.boot_record()["trial"] or {}).get("attempts") == 1, "the first trial boot")
        firmware = wait_until(lambda: marker.exists() and children_of(meter.pid), "the trial firmware")[0]
        meter.kill()
        self.meters.remove(meter)
        wait_until(lambda: process_gone(firmware), f"firmware PID {firmware} to die with its supervisor", 10)
        self.assertEqual(self.boot_record()["trial"]["attempts"], 1, "a kill counts no boot")

        meter = self.start()
        record = wait_until(lambda: (r := self.boot_record())["trial"] is None and r, "the trial to end")
        self.assertTrue(record["last_outcome"]["committed"], record)
        self.assertEqual(record["active"], "b", record)
        self.assertIn("event=firmware.booting slot=b version=4.6.0 trial=\"boot 2 of 3", meter.log_path.read_text())
        self.stop(meter)

    def test_kill_9_on_every_trial_boot_ends_in_a_fallback(self):
        pre_trial = self.stage_trial("#!/bin/sh\nexec sleep 120\n", max_attempts=2)
        for attempt in (1, 2):
            meter = self.meter().launch()
            wait_until(lambda: (self.boot_record()["trial"] or {}).get("attempts") == attempt, f"trial boot {attempt}")
            firmware = wait_until(lambda: children_of(meter.pid), "the trial firmware")[0]
            meter.kill()
            self.meters.remove(meter)
            wait_until(lambda: process_gone(firmware), f"firmware PID {firmware} to die with its supervisor", 10)
        meter = self.start()
        self.assertFellBack(meter, pre_trial, "no health report in 2 boots")
        self.stop(meter)


class Reboot(SupervisorTestCase):
    def test_an_activation_reboots_into_the_trial_slot_after_its_reply(self):
        # A package already installed in slot b, not yet activated.
        self.stage_trial(self.good_payload())
        record = self.boot_record()
        record["trial"] = None
        self.write_boot_record(record)
        meter = self.start()
        first_firmware = meter.ready["firmware_pid"]
        with nc.NativeClient(meter.ready["native"]) as client:
            client.hello()
            self.assertEqual(client.login().type, nc.LOGIN_OK)
            frame = client.request("upgrade.activate", {"health_deadline_s": 30}, auth=client.session_auth())
            self.assertEqual(frame.type, nc.RESPONSE, frame)
            self.assertEqual(frame.body["result"], {"slot": "b", "version": TO_VERSION, "rebooting": True})
            client.expect_closed()
        record = wait_until(lambda: (r := self.boot_record())["trial"] is None and r["active"] == "b" and r,
                            "the activated slot to commit")
        self.assertTrue(record["last_outcome"]["committed"], record)
        wait_until(lambda: process_gone(first_firmware), "the firmware that activated to exit")
        ready = wait_until(lambda: meter.ready_file.exists() and json.loads(meter.ready_file.read_text()),
                           "the new firmware's ready file")
        self.assertEqual(ready["pid"], meter.pid)
        self.assertNotEqual(ready["firmware_pid"], first_firmware)
        self.assertEqual(identity(ready["native"])["firmware"], TO_VERSION)
        log = meter.log_path.read_text()
        self.assertIn("event=meterd.stopped exit_status=100", log)
        self.assertIn('status="exited with status 100" healthy=yes', log)
        self.stop(meter)


class Stop(SupervisorTestCase):
    def test_sigterm_stops_the_firmware_cleanly_and_the_supervisor_exits_0(self):
        meter = self.start()
        firmware = meter.ready["firmware_pid"]
        self.assertNotEqual(firmware, meter.pid)
        self.assertEqual(children_of(meter.pid), [firmware])
        state_file = self.state_dir / "meter-state.json"
        saved_before = state_file.stat().st_mtime_ns
        self.assertEqual(meter.stop(), 0, meter.log_tail())
        self.meters.remove(meter)
        self.assertTrue(process_gone(firmware))
        self.assertFalse(meter.ready_file.exists(), "the firmware removes its ready file when it stops")
        log = meter.log_path.read_text()
        self.assertIn("event=supervisor.stopping signal=SIGTERM", log)
        self.assertIn("event=meterd.stopping signal=SIGTERM", log)
        self.assertRegex(log, r"event=firmware\.exited slot=a pid=\d+ status=\"exited with status 0\" healthy=yes")
        self.assertGreater(state_file.stat().st_mtime_ns, saved_before, "the state is saved at stop")
        self.assertIn("event=meterd.stopped exit_status=0", log)

    def test_a_firmware_that_cannot_start_ends_the_supervisor_with_its_status(self):
        other = self.start()
        # The same state directory twice: the second supervisor refuses at once.
        second = Meterd("--firmware", FROM_VERSION, state_dir=self.state_dir, work_dir=self.tmp)
        self.addCleanup(second.kill)
        second.launch()
        self.assertEqual(second.process.wait(timeout=DEADLINE_S), 78)
        self.assertIn("is in use by another meterd", second.log_path.read_text())
        self.stop(other)
        # A firmware refusing the state (another model) ends the supervisor with the firmware's status.
        refused = Meterd("--model", "ION9000", state_dir=self.state_dir, work_dir=self.tmp)
        self.addCleanup(refused.kill)
        refused.launch()
        self.assertEqual(refused.process.wait(timeout=DEADLINE_S), 78, refused.log_tail())
        self.assertIn("event=firmware.exited slot=a", refused.log_path.read_text())


class Options(SupervisorTestCase):
    def test_no_supervisor_serves_in_the_started_process(self):
        meter = self.start("--no-supervisor")
        self.assertEqual(meter.ready["pid"], meter.pid)
        self.assertEqual(meter.ready["firmware_pid"], meter.pid)
        self.assertEqual(children_of(meter.pid), [])
        self.assertFalse((self.firmware_dir / "boot.json").exists())
        self.stop(meter)

    def test_trusted_keys_are_copied_into_each_meter_of_a_fleet(self):
        private = self.tmp / "vendor.key"
        public = self.tmp / "vendor.pub"
        subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(private)], check=True)
        subprocess.run(["openssl", "pkey", "-in", str(private), "-pubout", "-out", str(public)], check=True)
        der = subprocess.run(["openssl", "pkey", "-pubin", "-in", str(public), "-outform", "DER"], check=True,
                             capture_output=True).stdout
        key_id = hashlib.sha256(der[-32:]).hexdigest()[:16]
        added = []
        for _ in range(2):  # the second start finds the keys already there
            meter = self.start("--fleet", "2", "--trusted-key", str(public))
            self.assertEqual(meter.ready["firmware_pid"], meter.pid, "a fleet runs without the supervisor")
            self.stop(meter)
            added.append(meter.log_path.read_text().count("event=meter.trusted_key_added"))
        self.assertEqual(added, [2, 0])
        for name in ("meter-001", "meter-002"):
            stored = self.state_dir / name / "trusted-keys" / f"{key_id}.pub"
            self.assertTrue(stored.exists(), stored)
            self.assertEqual(stored.stat().st_mode & 0o777, 0o600)
            self.assertIn("BEGIN PUBLIC KEY", stored.read_text())
        # A private key is no trusted key.
        refused = self.meter("--no-supervisor", "--trusted-key", str(private)).launch()
        self.meters.remove(refused)
        self.assertEqual(refused.process.wait(timeout=DEADLINE_S), 78)
        self.assertIn("--trusted-key", refused.log_path.read_text())


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], *sys.argv[1:]], verbosity=2)
