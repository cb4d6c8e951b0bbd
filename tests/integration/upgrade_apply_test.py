#!/usr/bin/python3
"""`meterctl upgrade status` and `meterctl upgrade apply` against real supervised meterd
processes.

Run with /usr/bin/python3. Packages are made with `meterctl upgrade keygen` and `meterctl
upgrade pack`; their payload is a shell script that execs this build's meterd, so the
slot a meter boots into runs the real firmware. Each meterd listens on ports the kernel
picks (port 0), which it keeps across the reboot into new firmware, as a real meter keeps
its address.

Sections (one ctest test each):
  OneMeter  a meter on 4.0.0: --dry-run writes nothing, a 3.0.0 package is refused
            before anything is sent (65), a tampered package is refused (77) with the
            meter unchanged, the upgrade to 4.6.0 commits on slot b with a backup, and
            a second run skips the meter already on 4.6.0
  Resume    a transfer killed half way resumes at the meter's offset
  Fleet     six meters, one without the signing key: --max-failures 0 stops the
            rollout; once the key is installed, --resume upgrades the rest and leaves
            the meters already done alone
"""

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

from meterd_harness import METERD, SOURCE_DIR, Meterd, start_all, meterctl_environment, secret  # noqa: E402

METERCTL = os.environ.get("METERCTL", str(SOURCE_DIR / "build" / "cli" / "meterctl"))
FROM_VERSION = "4.0.0"
TO_VERSION = "4.6.0"
# Room for a sanitizer build to boot the new firmware; a failing trial is not waited for here.
HEALTH_DEADLINE_S = "30"
POLL_S = 0.05



def flip_byte(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset, 0 if offset >= 0 else 2)
        position = f.tell()
        byte = f.read(1)[0]
        f.seek(position)
        f.write(bytes([byte ^ 0x01]))


class World:
    """A signing key, packages whose payload runs this build's meterd, and meterctl with a
    private home (pins, trusted keys, backups stay inside the test)."""

    def __init__(self, root):
        self.root = root
        self.env = meterctl_environment(root / "config", root / "state")
        self.password = secret(root / "factory.pw", "0")
        self.key = root / "vendor"
        self.check(self.meterctl("upgrade", "keygen", "--out", str(self.key)))
        self.public_key = root / "vendor.pub"
        self.package = self.pack(TO_VERSION)

    def pack(self, version, padding_bytes=0, name=None):
        payload = self.root / f"payload-{padding_bytes}.sh"
        # The shell stops reading at exec: the padding (comment lines) only makes the
        # package larger.
        payload.write_text(f'#!/bin/sh\nexec "{METERD}" "$@"\n' + ("#" * 99 + "\n") * (padding_bytes // 100))
        payload.chmod(0o755)
        package = self.root / (name or f"ion7400-{version}.upg")
        self.check(self.meterctl("upgrade", "pack", "--key", str(self.key), "--model", "ION7400", "--version", version,
                                 "--payload", str(payload), "--out", str(package)))
        return package

    def meterctl(self, *args, timeout=300):
        return subprocess.run([METERCTL, "--timeout", "10", *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    @staticmethod
    def check(completed, expect=0):
        if completed.returncode != expect:
            raise AssertionError(f"exit {completed.returncode}, expected {expect}:\n{completed.stdout}\n"
                                 f"{completed.stderr}")
        return completed

    def meter(self, name, trusted=True):
        extra = ("--trusted-key", str(self.public_key)) if trusted else ()
        return Meterd("--firmware", FROM_VERSION, "--password-hashing", "fleet", *extra, work_dir=self.root,
                      state_dir=self.root / "meters" / name)

    def on(self, meter, *args, tls=True):
        """meterctl against `meter`: global options, then the subcommand's arguments."""
        port = meter.ready["secure" if tls else "native"]
        connection = ["--password-file", str(self.password)] + (["--accept-new"] if tls else ["--plain"])
        split = args.index("upgrade") + 2
        return self.meterctl("--meter", f"127.0.0.1:{port}", *args[:split], *connection, *args[split:])

    def status(self, meter, tls=False):
        return json.loads(self.check(self.on(meter, "-o", "json", "upgrade", "status", tls=tls)).stdout)


class UpgradeTestCase(unittest.TestCase):
    def setUp(self):
        self.root = pathlib.Path(tempfile.mkdtemp(prefix="meterctl-upgrade-apply-"))
        self.world = World(self.root)
        self.meters = []

    def tearDown(self):
        for meter in self.meters:
            meter.close()
        if os.environ.get("KEEP_TEST_TMP") != "1":
            shutil.rmtree(self.root, ignore_errors=True)

    def started(self, *meters):
        self.meters.extend(meters)
        start_all(list(meters), deadline_s=120)
        return meters


class OneMeter(UpgradeTestCase):
    def test_one_meter(self):
        world = self.world
        (meter,) = self.started(world.meter("one"))
        backups = self.root / "backups"
        before = world.status(meter)
        self.assertEqual(before["running"]["version"], FROM_VERSION)
        self.assertEqual(before["running"]["slot"], "a")
        table = world.check(world.on(meter, "upgrade", "status")).stdout
        self.assertIn("running         4.0.0 (V004.000.000), slot a", table)

        # --dry-run: every check, then nothing written.
        dry = world.check(world.on(meter, "-o", "json", "upgrade", "apply", str(world.package), "--key",
                                   str(world.public_key), "--backup-dir", str(backups), "--dry-run"))
        document = json.loads(dry.stdout)
        self.assertEqual(document["outcome"], "dry_run", document)
        self.assertEqual(len(document["checks"]), 4, document)
        self.assertFalse(backups.exists(), "a dry run took a backup")
        self.assertEqual(world.status(meter), before)

        # A downgrade below the model's rollback floor is refused before anything is sent.
        old = world.pack("3.0.0")
        refused = world.check(world.on(meter, "upgrade", "apply", str(old), "--key", str(world.public_key),
                                       "--backup-dir", str(backups)), expect=65)
        self.assertIn("4.0.0 or later cannot be downgraded, so 3.0.0 is refused", refused.stderr)
        self.assertFalse(backups.exists())
        self.assertEqual(world.status(meter), before)

        # One flipped byte: the signature no longer verifies, offline.
        tampered = self.root / "tampered.upg"
        shutil.copyfile(world.package, tampered)
        flip_byte(tampered, -10)
        bad = world.on(meter, "upgrade", "apply", str(tampered), "--key", str(world.public_key), "--backup-dir",
                       str(backups))
        self.assertIn(bad.returncode, (65, 77), bad.stderr)
        self.assertEqual(world.status(meter), before)

        # The upgrade: backup, transfer, verify, activate, healthy on slot b.
        applied = world.check(world.on(meter, "-o", "json", "upgrade", "apply", str(world.package), "--key",
                                       str(world.public_key), "--backup-dir", str(backups), "--health-deadline",
                                       HEALTH_DEADLINE_S))
        record = json.loads(applied.stdout)
        self.assertEqual(record["outcome"], "upgraded", applied.stderr)
        self.assertEqual((record["before"], record["after"]), (FROM_VERSION, TO_VERSION))
        self.assertTrue(pathlib.Path(record["backup"]).is_file(), record)
        self.assertEqual(pathlib.Path(record["backup"]).parent, backups)
        for line in ("verify ok", "activate slot b", f"healthy on {TO_VERSION}"):
            self.assertIn(line, applied.stderr)
        self.assertRegex(applied.stderr, r"transfer [0-9.]+ [KM]?i?B in [0-9.]+ s \([0-9.]+ MiB/s\)")
        after = world.status(meter)
        self.assertEqual(after["running"], {"slot": "b", "version": TO_VERSION, "vendor_version": "V004.006.000"})
        self.assertEqual(after["active"], "b")
        self.assertIsNone(after["trial"])
        self.assertTrue(after["last_outcome"]["committed"], after)
        self.assertEqual(after["rollback_floor"], FROM_VERSION)

        # Already on the target: skipped, nothing written.
        again = world.check(world.on(meter, "-o", "json", "upgrade", "apply", str(world.package), "--key",
                                     str(world.public_key), "--backup-dir", str(backups)))
        record = json.loads(again.stdout)
        self.assertEqual(record["outcome"], "skipped")
        self.assertEqual(record["reason"], f"already runs {TO_VERSION}")
        self.assertEqual(len(list(backups.iterdir())), 1)
        self.assertEqual(world.status(meter)["last_outcome"], after["last_outcome"])


class Resume(UpgradeTestCase):
    def test_killed_transfer_resumes_at_the_meters_offset(self):
        world = self.world
        big = world.pack(TO_VERSION, padding_bytes=2 * 1024 * 1024, name="big.upg")
        (meter,) = self.started(world.meter("resume"))
        command = [METERCTL, "--timeout", "10", "--meter", f"127.0.0.1:{meter.ready['native']}", "upgrade", "apply",
                   str(big), "--key", str(world.public_key), "--plain", "--password-file", str(world.password),
                   "--no-backup", "--chunk-size", "2048", "--health-deadline", HEALTH_DEADLINE_S]
        transfer = subprocess.Popen(command, env=world.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while True:
                upload = world.status(meter)["upload"]
                if upload and upload["offset"] > 0:
                    break
                self.assertIsNone(transfer.poll(), "the transfer ended before it could be interrupted")
                self.assertLess(time.monotonic(), deadline, "the upload never got under way")
                time.sleep(POLL_S)
        finally:
            transfer.send_signal(signal.SIGKILL)
            transfer.wait()
        held = world.status(meter)["upload"]
        self.assertGreater(held["offset"], 0)
        self.assertLess(held["offset"], held["length"])

        resumed = world.check(world.on(meter, "upgrade", "apply", str(big), "--key", str(world.public_key),
                                       "--no-backup", "--health-deadline", HEALTH_DEADLINE_S, tls=False))
        # The second run sent only what the meter did not hold.
        self.assertRegex(resumed.stderr, r"transfer [0-9.]+ [KM]iB in [0-9.]+ s \([0-9.]+ MiB/s\), resumed at "
                                         r"[0-9.]+ [KM]iB")
        resumes = re.findall(r"event=upgrade\.upload_resumed .*offset=(\d+)", meter.log_path.read_text())
        self.assertTrue(resumes, "the meter logged no resumed upload")
        self.assertGreaterEqual(int(resumes[-1]), held["offset"])
        self.assertEqual(world.status(meter)["running"]["version"], TO_VERSION)


class Fleet(UpgradeTestCase):
    def test_threshold_stops_then_resume_finishes(self):
        world = self.world
        meters = [world.meter(f"m{index}", trusted=index != 3) for index in range(1, 7)]
        self.started(*meters)
        inventory = self.root / "inventory.yaml"
        lines = ["apiVersion: meterctl/v1", "kind: Inventory", "defaults:", "  tls: false",
                 f"  credentials: {{user: User1, password_file: {world.password}}}", "meters:"]
        for index, meter in enumerate(meters, start=1):
            lines += [f"  - name: m{index}", "    address: 127.0.0.1", f"    port: {meter.ready['native']}"]
        inventory.write_text("\n".join(lines) + "\n")
        state_file = pathlib.Path(str(inventory) + ".rollout.json")
        report_file = self.root / "report.json"
        rollout = ["upgrade", "apply", str(world.package), "--key", str(world.public_key), "--inventory",
                   str(inventory), "--no-backup", "--health-deadline", HEALTH_DEADLINE_S, "--report", str(report_file)]

        # One meter at a time: m3 does not trust the key, and --max-failures 0 stops there.
        stopped = world.meterctl(*rollout, "--parallel", "1", "--max-failures", "0")
        self.assertEqual(stopped.returncode, 1, stopped.stdout + stopped.stderr)
        self.assertIn("rollout stopped: 1 failure exceeds --max-failures 0", stopped.stderr)
        state = json.loads(state_file.read_text())
        outcomes = {name: entry["outcome"] for name, entry in state["meters"].items()}
        self.assertEqual(outcomes, {"m1": "upgraded", "m2": "upgraded", "m3": "failed", "m4": "not_started",
                                    "m5": "not_started", "m6": "not_started"})
        self.assertTrue(state["stopped"])
        self.assertIn("the meter trusts no key", state["meters"]["m3"]["reason"])
        report = json.loads(report_file.read_text())
        self.assertEqual(report["summary"]["upgraded"], 2, report)
        self.assertEqual(report["meters"][2]["name"], "m3")
        self.assertEqual(world.status(meters[3])["running"]["version"], FROM_VERSION)

        # The same rollout again without --resume is refused: its state file says where it is.
        refused = world.check(world.meterctl(*rollout), expect=64)
        self.assertIn("--resume", refused.stderr)

        # The key installed on m3, the rollout resumed: the rest, and only the rest.
        trusted = meters[2].state_dir / "trusted-keys"
        trusted.mkdir(exist_ok=True)
        shutil.copyfile(world.public_key, trusted / "vendor.pub")
        done_before = {name: state["meters"][name] for name in ("m1", "m2")}
        resumed = world.check(world.meterctl("-o", "json", *rollout, "--resume", "--parallel", "4"))
        document = json.loads(resumed.stdout)
        self.assertEqual([m["outcome"] for m in document["meters"]], ["upgraded"] * 6, document)
        self.assertFalse(document["stopped"])
        state = json.loads(state_file.read_text())
        self.assertEqual({name: state["meters"][name] for name in ("m1", "m2")}, done_before,
                         "a resumed rollout touched meters already upgraded")
        for meter in meters:
            self.assertEqual(world.status(meter)["running"]["version"], TO_VERSION)


if __name__ == "__main__":
    unittest.main(verbosity=2)
