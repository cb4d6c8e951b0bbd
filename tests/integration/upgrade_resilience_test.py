#!/usr/bin/python3
"""Firmware upgrades under failure, end to end: real supervised meterd processes upgraded
by `meterctl upgrade apply`.

CrashInjection: upgrades killed with SIGKILL at random moments (meterctl mid-transfer, the
firmware, or its boot supervisor with the firmware it runs: a power cut), then the meter
powered up again. Every meter must start, on the old or the new firmware and never neither,
with its configuration unchanged and its security event log intact (the lines written
before the upgrade still there, in order). UPGRADE_CRASH_RUNS upgrades (default 100), run
UPGRADE_CRASH_BATCH at a time (default 10).

FleetThreshold: a rollout over UPGRADE_FLEET_SIZE separate meters (default 100), three of
which do not trust the package's key, stops when its failures exceed --max-failures; fixed
and resumed, it upgrades the rest without touching the meters already done.

Run with /usr/bin/python3.
"""

import json
import os
import pathlib
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from meterd_harness import METERD, SOURCE_DIR, Meterd, start_all, meterctl_environment, secret  # noqa: E402

METERCTL = os.environ.get("METERCTL", str(SOURCE_DIR / "build" / "cli" / "meterctl"))
CRASH_RUNS = int(os.environ.get("UPGRADE_CRASH_RUNS", "100"))
CRASH_BATCH = int(os.environ.get("UPGRADE_CRASH_BATCH", "10"))
FLEET_SIZE = int(os.environ.get("UPGRADE_FLEET_SIZE", "100"))
FROM_VERSION = "4.0.0"
TO_VERSION = "4.6.0"
# Long enough for a sanitizer build to boot; short enough that a stuck trial ends the test.
HEALTH_DEADLINE_S = "30"
SETTLE_DEADLINE_S = 120.0
# Members of meter-state.json that are the meter's configuration (not its measurements).
CONFIGURATION_KEYS = ("security", "communications", "settings", "modbus_access", "modbus_unit_id", "metering",
                      "time_zone", "recorders", "scenario", "config_version", "serial_number", "model",
                      "feature_set", "shipped_firmware")



class UpgradeWorld:
    """A signing key, a package whose payload runs this build's meterd, and meterctl with a
    private home that trusts the key."""

    def __init__(self, root, padding_bytes=0):
        self.root = root
        self.env = meterctl_environment(root / "config", root / "state")
        self.password = secret(root / "factory.pw", "0")
        self.key = root / "signing"
        self.check(self.meterctl("upgrade", "keygen", "--out", str(self.key)))
        self.public_key = root / "signing.pub"
        trusted = root / "config" / "meterctl" / "trusted-keys"
        trusted.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.public_key, trusted / "signing.pub")
        payload = root / "payload.sh"
        # The shell stops reading at exec, so the padding (a comment) only makes the
        # transfer long enough to be interrupted.
        payload.write_text(f'#!/bin/sh\nexec "{METERD}" "$@"\n' + ("#" * 99 + "\n") * (padding_bytes // 100))
        payload.chmod(0o755)
        self.package = root / f"ion7400-{TO_VERSION}.upg"
        self.check(self.meterctl("upgrade", "pack", "--key", str(self.key), "--model", "ION7400", "--version",
                                 TO_VERSION, "--payload", str(payload), "--out", str(self.package)))

    def meterctl(self, *args, timeout=300):
        return subprocess.run([METERCTL, "--timeout", "10", *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    def spawn_apply(self, meter, *extra):
        return subprocess.Popen([METERCTL, "--timeout", "10", "--meter", f"127.0.0.1:{meter.ready['native']}",
                                 "upgrade", "apply", str(self.package), "--no-backup", "--plain", "--password-file",
                                 str(self.password), "--health-deadline", HEALTH_DEADLINE_S, *extra],
                                env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def status(self, meter):
        answer = self.meterctl("--meter", f"127.0.0.1:{meter.ready['native']}", "-o", "json", "upgrade", "status",
                               "--plain", "--password-file", str(self.password))
        return json.loads(answer.stdout) if answer.returncode == 0 else None

    @staticmethod
    def check(completed):
        if completed.returncode != 0:
            raise AssertionError(f"exit {completed.returncode}: {completed.stdout}\n{completed.stderr}")
        return completed

    def meter(self, name, *extra):
        return Meterd("--firmware", FROM_VERSION, "--password-hashing", "fleet", "--trusted-key",
                      str(self.public_key), *extra, work_dir=self.root, state_dir=self.root / "meters" / name)


def configuration_of(state_dir):
    state = json.loads((state_dir / "meter-state.json").read_text())
    return {key: state.get(key) for key in CONFIGURATION_KEYS}


def event_lines(state_dir):
    path = state_dir / "security-events.log"
    return path.read_text().splitlines() if path.exists() else []


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class CrashInjection(unittest.TestCase):
    def setUp(self):
        self.root = pathlib.Path(tempfile.mkdtemp(prefix="meterctl-upgrade-crash-"))
        self.world = UpgradeWorld(self.root, padding_bytes=2 * 1024 * 1024)
        self.meters = []

    def tearDown(self):
        for meter in self.meters:
            meter.kill()
            meter.close()
        if os.environ.get("KEEP_TEST_TMP") != "1":
            shutil.rmtree(self.root, ignore_errors=True)

    def settle(self, meter):
        """Powers the meter up and waits until no trial is pending; returns its status."""
        deadline = time.monotonic() + SETTLE_DEADLINE_S
        meter.start()
        while time.monotonic() < deadline:
            status = self.world.status(meter)
            if status is not None and status.get("trial") is None:
                return status
            time.sleep(0.5)
            # A trial reboots the firmware: the ready file is rewritten with its ports.
            meter.ready = json.loads(meter.ready_file.read_text()) if meter.ready_file.exists() else meter.ready
        self.fail(f"meter {meter.state_dir.name} still on trial after {SETTLE_DEADLINE_S} s:\n{meter.log_tail(40)}")

    def test_kill_at_random_points(self):
        rng = random.Random(int(os.environ.get("UPGRADE_CRASH_SEED", "6")))
        # One undisturbed upgrade tells how long the whole thing takes here.
        probe = self.world.meter("probe")
        self.meters.append(probe)
        probe.start()
        started = time.monotonic()
        applied = self.world.spawn_apply(probe)
        out, err = applied.communicate(timeout=600)
        self.assertEqual(applied.returncode, 0, out + err)
        span = time.monotonic() - started
        probe.close()
        self.meters.remove(probe)

        outcomes = {"old": 0, "new": 0}
        victims = {"meterctl": 0, "firmware": 0, "supervisor": 0}
        for first in range(0, CRASH_RUNS, CRASH_BATCH):
            batch = [self.world.meter(f"m{index:03d}") for index in range(first, min(first + CRASH_BATCH, CRASH_RUNS))]
            self.meters.extend(batch)
            start_all(batch, deadline_s=120)
            before = {}
            for meter in batch:
                meter.stop()  # a clean stop saves the state this comparison starts from
            for meter in batch:
                before[meter] = (configuration_of(meter.state_dir), event_lines(meter.state_dir))
            start_all(batch, deadline_s=120)
            runs = [(meter, self.world.spawn_apply(meter), rng.uniform(0.0, span * 1.2),
                     rng.choice(("meterctl", "firmware", "supervisor"))) for meter in batch]
            begun = time.monotonic()
            for meter, apply, delay, victim in sorted(runs, key=lambda run: run[2]):
                time.sleep(max(0.0, begun + delay - time.monotonic()))
                victims[victim] += 1
                if victim == "meterctl":
                    apply.kill()
                elif victim == "firmware":
                    ready = json.loads(meter.ready_file.read_text()) if meter.ready_file.exists() else {}
                    pid = ready.get("firmware_pid")
                    if pid and pid_alive(pid):
                        os.kill(pid, signal.SIGKILL)
                meter.kill()  # then the power goes: the supervisor and its firmware
                apply.kill()
                apply.communicate()
            for meter in batch:
                status = self.settle(meter)
                running = status["running"]["version"]
                self.assertIn(running, (FROM_VERSION, TO_VERSION), status)
                outcomes["new" if running == TO_VERSION else "old"] += 1
                meter.stop()
                configuration, events = before[meter]
                self.assertEqual(configuration_of(meter.state_dir), configuration, meter.state_dir)
                after = event_lines(meter.state_dir)
                self.assertEqual(after[:len(events)], events, f"{meter.state_dir}: event log lost lines")
            for meter in batch:
                meter.close()
                self.meters.remove(meter)
        print(f"{CRASH_RUNS} upgrades killed at random ({victims}); every meter started: "
              f"{outcomes['old']} on {FROM_VERSION}, {outcomes['new']} on {TO_VERSION}", file=sys.stderr)


class FleetThreshold(unittest.TestCase):
    def setUp(self):
        self.root = pathlib.Path(tempfile.mkdtemp(prefix="meterctl-upgrade-fleet-"))
        self.world = UpgradeWorld(self.root)
        self.meters = []

    def tearDown(self):
        for meter in self.meters:
            meter.close()
        if os.environ.get("KEEP_TEST_TMP") != "1":
            shutil.rmtree(self.root, ignore_errors=True)

    def test_stops_at_threshold_then_resumes(self):
        untrusting = {2, 5, 8}
        for index in range(FLEET_SIZE):
            self.meters.append(self.world.meter(f"m{index:03d}"))
        start_all(self.meters, deadline_s=300)
        for index in untrusting:
            shutil.rmtree(self.meters[index].state_dir / "trusted-keys")
        inventory = self.root / "inventory.yaml"
        lines = ["apiVersion: meterctl/v1", "kind: Inventory", "defaults:", "  tls: false",
                 f"  credentials: {{user: User1, password_file: {self.world.password}}}", "meters:"]
        for index, meter in enumerate(self.meters):
            lines += [f"  - name: m{index:03d}", "    address: 127.0.0.1", f"    port: {meter.ready['native']}"]
        inventory.write_text("\n".join(lines) + "\n")
        state_file = self.root / "rollout.json"
        rollout = ["-o", "json", "upgrade", "apply", str(self.world.package), "--inventory", str(inventory),
                   "--parallel", "16", "--waves", "1,10,100%", "--max-failures", "2", "--state-file",
                   str(state_file), "--no-backup", "--health-deadline", HEALTH_DEADLINE_S]
        stopped = self.world.meterctl(*rollout, timeout=1800)
        self.assertEqual(stopped.returncode, 1, stopped.stdout[-2000:] + stopped.stderr[-2000:])
        state = json.loads(state_file.read_text())
        outcomes = {name: entry["outcome"] for name, entry in state["meters"].items()}
        failed = sorted(name for name, outcome in outcomes.items() if outcome == "failed")
        self.assertEqual(failed, [f"m{index:03d}" for index in sorted(untrusting)])
        self.assertTrue(state["stopped"], state)
        not_started = [name for name, outcome in outcomes.items() if outcome == "not_started"]
        # The third failure came in the second wave (meters 2 to 10): the third wave never began.
        self.assertEqual(len(not_started), FLEET_SIZE - 10, outcomes)
        upgraded_first = {name for name, outcome in outcomes.items() if outcome == "upgraded"}

        for index in untrusting:
            trusted = self.meters[index].state_dir / "trusted-keys"
            trusted.mkdir()
            shutil.copyfile(self.world.public_key, trusted / "signing.pub")
        resumed = self.world.meterctl(*rollout, "--resume", timeout=1800)
        self.assertEqual(resumed.returncode, 0, resumed.stdout[-2000:] + resumed.stderr[-2000:])
        state = json.loads(state_file.read_text())
        self.assertTrue(all(entry["outcome"] == "upgraded" for entry in state["meters"].values()), state)
        report = json.loads(resumed.stdout)
        records = report["meters"] if isinstance(report, dict) else report
        # A meter contacted again would be "skipped" (already on the target), from 4.6.0.
        for record in records:
            if record["name"] in upgraded_first:
                self.assertEqual((record["outcome"], record["before"]), ("upgraded", FROM_VERSION), record)
        for meter in self.meters:
            meter.ready = json.loads(meter.ready_file.read_text())
        for meter in self.meters[:5] + self.meters[-5:]:
            self.assertEqual(self.world.status(meter)["running"]["version"], TO_VERSION)


if __name__ == "__main__":
    unittest.main(verbosity=2)
