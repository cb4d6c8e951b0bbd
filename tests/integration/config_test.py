#!/usr/bin/python3
"""Configuration as code end to end: `meterctl config` against real meterd processes.

Run with /usr/bin/python3. meterctl drives the meters over the native protocol (TLS,
pinned on first contact); native_client.py (written from the protocol's man page) checks
the meter side directly where meterctl would hide it (version conflicts).

Covered: every example profile applied, exported and planned again with no change; a
second apply changing nothing; unchanged passwords not counted as changes; a broken
profile reported at file:line:col with the meter untouched; a model limit refused by the
meter; kill -9 of meterd during applies never leaving a mixed configuration; two
concurrent applies; commit-confirm rolling back; a 50-meter fleet applied, then drift
finding exactly the meter changed by hand.
"""

import hashlib
import json
import os
import pathlib
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import native_client as nc  # noqa: E402
from meterd_harness import METERD, SOURCE_DIR, Meterd, meterctl_environment, secret  # noqa: E402

METERCTL = os.environ.get("METERCTL", str(SOURCE_DIR / "build" / "cli" / "meterctl"))
EXAMPLES = SOURCE_DIR / "profiles" / "examples"
FLEET = ("--password-hashing", "fleet")
TIMEOUT = "10"
ADMIN_PASSWORD = "Adm1n-Passw0rd!"
CONFLICT = 20



class Cli:
    """meterctl with a private XDG home, so pins and history stay inside the test."""

    def __init__(self, home):
        self.env = meterctl_environment(home / "config", home / "state")

    def run(self, *args, stdin=None, timeout=120):
        return subprocess.run([METERCTL, "--timeout", TIMEOUT, *args], env=self.env, input=stdin,
                              capture_output=True, text=True, timeout=timeout)


class ConfigTestCase(unittest.TestCase):
    def setUp(self):
        self.tmp = pathlib.Path(tempfile.mkdtemp(prefix="meterctl-config-"))
        self.cli = Cli(self.tmp)
        self.factory_pw = secret(self.tmp / "factory.pw", "0")
        self.meters = []

    def tearDown(self):
        for meter in self.meters:
            meter.close()
        if os.environ.get("KEEP_TEST_TMP") != "1":
            shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self, *args, state_dir=None):
        meter = Meterd(*FLEET, *args, state_dir=state_dir, work_dir=self.tmp)
        meter.start()
        self.meters.append(meter)
        return meter

    def meterctl(self, meter, *args, login=None, user=None, expect=0, port=None):
        """Runs meterctl against `meter`'s TLS port, logged in with the `login` password file."""
        login = login or self.factory_pw
        # The ready file follows the ports a profile moves.
        ready = json.loads(meter.ready_file.read_text())
        # A firmware without Secure ION has only the plain native port.
        secure = "secure" in ready
        port = port or ready["secure" if secure else "native"]
        command = ["--meter", f"127.0.0.1:{port}", *args[:1]]
        rest = list(args[1:]) + ([] if secure else ["--plain"])
        # Options of the subcommand go after it: "config plan -f X --login-password-file P".
        if user:
            rest += ["--user", user]
        completed = self.cli.run(*command, *rest, "--login-password-file", str(login),
                                 *(["--accept-new"] if secure else []))
        if expect is not None and completed.returncode != expect:
            self.fail(f"meterctl {' '.join(args)} exited {completed.returncode}, expected {expect}\n"
                      f"stdout:\n{completed.stdout}\nstderr:\n{completed.stderr}\nmeterd log:\n{meter.log_tail()}")
        return completed

    def export(self, meter, login=None, user=None):
        out = self.tmp / f"export-{random.randrange(1 << 30)}.yaml"
        self.meterctl(meter, "config", "export", "--file", str(out), login=login, user=user)
        return out.read_text()


def value_of(line):
    """The value of a `key: value` YAML line, without its comment or quotes."""
    return line.split(":", 1)[1].split("#", 1)[0].strip().strip("'\"")


def prepare_example(tmp, name):
    """Copies an example with its directory and creates the password files it names.

    Ports below 1024 need root; without it they become free ephemeral ports."""
    site = tmp / "site"
    if not site.exists():
        shutil.copytree(EXAMPLES, site)
    profile = site / name
    if os.geteuid() != 0:
        text = profile.read_text()
        for low in sorted(set(int(p) for p in re.findall(r"port: (\d+)", text))):
            if low < 1024:
                with socket_free_port() as free:
                    text = re.sub(rf"port: {low}\b", f"port: {free}", text)
        profile.write_text(text)
    for line in profile.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("password_file:"):
            secret(profile.parent / value_of(stripped), ADMIN_PASSWORD if "legacy" not in name else "123456")
    return profile


def model_args(profile_text):
    """meterd options for the model and firmware an example profile expects."""
    args = []
    meter_section = False
    for line in profile_text.splitlines():
        if line.startswith("meter:"):
            meter_section = True
            continue
        if meter_section and not line.startswith(" "):
            meter_section = False
        if meter_section:
            key = line.strip().partition(":")[0]
            value = value_of(line)
            if key == "model":
                args += ["--model", value]
            elif key == "min_firmware":
                args += ["--firmware", value]
            elif key == "feature_set":
                args += ["--feature-set", value]
    return args


class ExampleRoundTrip(ConfigTestCase):
    def test_every_example_round_trips(self):
        examples = sorted(p.name for p in EXAMPLES.glob("*.yaml"))
        self.assertGreaterEqual(len(examples), 3, examples)
        for name in examples:
            with self.subTest(example=name):
                profile = prepare_example(self.tmp, name)
                # Pins are kept per address, and the examples move meters onto the same ports.
                self.cli = Cli(self.tmp / f"home-{name}")
                meter = self.start(*model_args(profile.read_text()))
                try:
                    applied = self.meterctl(meter, "config", "apply", "-f", str(profile), "--detailed-exitcode", expect=2)
                    self.assertIn("Applied", applied.stdout)
                    # The profile's own users now hold the login: the first one it lists.
                    user, login = self.login_after(profile)
                    again = self.meterctl(meter, "config", "apply", "-f", str(profile), "--detailed-exitcode", login=login, user=user)
                    self.assertIn("No changes", again.stdout)
                    exported = self.tmp / f"{name}.exported.yaml"
                    exported.write_text(self.export(meter, login=login, user=user))
                    self.assertNotIn("$scrypt$", exported.read_text())
                    self.assertNotIn(ADMIN_PASSWORD, exported.read_text())
                    plan = self.meterctl(meter, "config", "plan", "-f", str(exported), login=login, user=user)
                    self.assertIn("No changes", plan.stdout)
                    drift = self.meterctl(meter, "-o", "json", "config", "drift", "-f", str(profile), login=login, user=user)
                    self.assertEqual(json.loads(drift.stdout)["changes"], [])
                finally:
                    # The next example may ask for the same ports.
                    meter.close()
                    self.meters.remove(meter)

    def login_after(self, profile):
        """The first account the profile lists, and its password file."""
        user = None
        for line in profile.read_text().splitlines():
            stripped = line.strip().lstrip("- ")
            if stripped.startswith("name:") and "users:" in profile.read_text():
                user = value_of(stripped)
            if stripped.startswith("password_file:") and user:
                return user, profile.parent / value_of(stripped)
        return "User1", self.factory_pw


class ApplyBehaviour(ConfigTestCase):
    def profile(self, body, name="site.yaml"):
        path = self.tmp / name
        path.write_text("apiVersion: meterctl/v1\nkind: MeterProfile\n" + body)
        return path

    def test_idempotent_and_passwords_compared_on_the_meter(self):
        meter = self.start()
        secret(self.tmp / "ops.pw", "Op3rator-Pass")
        profile = self.profile(
            "metering:\n  pt: {primary: 11000, secondary: 110}\n  demand: {interval_minutes: 15, subintervals: 3}\n"
            "security:\n  mode: advanced\n  users:\n    - {name: User1, permissions: [all]}\n"
            "    - {name: ops, permissions: [read], password_file: ops.pw}\n")
        first = self.meterctl(meter, "-o", "json", "config", "apply", "-f", str(profile))
        report = json.loads(first.stdout)
        paths = {change["path"] for change in report["changes"]}
        self.assertIn("metering.pt.primary", paths)
        self.assertTrue(any(p.startswith("security.users[ops]") for p in paths), paths)
        for change in report["changes"]:
            self.assertNotIn("Op3rator-Pass", json.dumps(change))
        second = self.meterctl(meter, "config", "apply", "-f", str(profile), "--detailed-exitcode")
        self.assertIn("No changes", second.stdout)
        plan = self.meterctl(meter, "config", "plan", "-f", str(profile))
        self.assertIn("No changes", plan.stdout)
        # A new password in the same file is a change, shown without its value.
        secret(self.tmp / "ops.pw", "Op3rator-Pass2")
        changed = self.meterctl(meter, "config", "plan", "-f", str(profile), expect=2)
        self.assertIn("security.users[ops].password", changed.stdout)
        self.assertNotIn("Op3rator-Pass2", changed.stdout + changed.stderr)

    def test_broken_profile_touches_nothing(self):
        meter = self.start()
        state = meter.state_dir / "meter-state.json"
        before = state.read_bytes()
        broken = self.profile("metering:\n  pt: {primary: 11000, secondary: lots}\n", "broken.yaml")
        for command in ("plan", "apply", "drift"):
            completed = self.meterctl(meter, "config", command, "-f", str(broken), expect=65)
            self.assertIn(f"{broken}:4:", completed.stderr, completed.stderr)
        unknown = self.profile("metering:\n  wirring: wye\n", "unknown.yaml")
        completed = self.meterctl(meter, "config", "apply", "-f", str(unknown), expect=65)
        self.assertIn(f"{unknown}:4:3", completed.stderr)
        self.assertEqual(state.read_bytes(), before)

    def test_model_limits_named_with_the_firmware_that_lifts_them(self):
        meter = self.start("--firmware", "4.0.0")
        points = ("current_a current_b current_c current_n current_avg voltage_ab voltage_bc voltage_ca "
                  "voltage_an voltage_bn voltage_cn active_power_a active_power_b active_power_c "
                  "active_power_total reactive_power_total apparent_power_total power_factor_total frequency "
                  "active_energy_delivered").split()
        self.assertEqual(len(points), 20)
        sources = ", ".join(points)
        profile = self.profile(f"recorders:\n  - name: wide\n    sources: [{sources}]\n    interval_s: 60\n")
        # The profile names no model: the meter is the one that knows its limits.
        completed = self.meterctl(meter, "config", "plan", "-f", str(profile), expect=65)
        self.assertIn("4.6.0", completed.stderr)
        self.assertIn("recorder", completed.stderr)
        # A password longer than the firmware allows: the meter reads it and names the
        # firmware that lifts the limit (16 characters from 4.0.0).
        old = self.start("--firmware", "3.0.0")
        secret(self.tmp / "twelve.pw", "Abcdefgh-123")
        passwords = self.profile("security:\n  mode: advanced\n  users:\n    - {name: User1, permissions: [all]}\n"
                                 "    - {name: bob, permissions: [read], password_file: twelve.pw}\n", "long.yaml")
        completed = self.meterctl(old, "config", "apply", "-f", str(passwords), expect=65)
        self.assertIn("maximum length of 6", completed.stderr)
        self.assertIn("4.0.0 allows 16", completed.stderr)
        self.assertNotIn("Abcdefgh-123", completed.stderr)
        too_long = self.profile("meter: {model: ION7400, min_firmware: 3.0.0}\n"
                                "security:\n  policy: {complexity: nerc-cip-007-5}\n", "complexity.yaml")
        offline = self.cli.run("config", "validate", str(too_long))
        self.assertEqual(offline.returncode, 65, offline.stdout + offline.stderr)
        self.assertIn(f"{too_long}:5:", offline.stdout + offline.stderr)
        self.assertIn("4.6.0", offline.stdout + offline.stderr)

    def test_commit_confirm_rolls_back_without_confirm(self):
        meter = self.start()
        profile = self.profile("communications:\n  modbus_tcp: {unit_id: 9}\n")
        applied = self.meterctl(meter, "config", "apply", "-f", str(profile), "--confirm-timeout", "10")
        self.assertIn("confirm", applied.stdout)
        plan = self.meterctl(meter, "config", "plan", "-f", str(profile))
        self.assertIn("No changes", plan.stdout)
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            plan = self.meterctl(meter, "config", "plan", "-f", str(profile), expect=None)
            if plan.returncode == 2:
                break
            time.sleep(0.5)
        self.assertEqual(plan.returncode, 2, "the unconfirmed apply was not rolled back")
        # Confirmed in time, it stays.
        self.meterctl(meter, "config", "apply", "-f", str(profile), "--confirm-timeout", "10")
        self.meterctl(meter, "config", "confirm")
        time.sleep(11)
        plan = self.meterctl(meter, "config", "plan", "-f", str(profile))
        self.assertIn("No changes", plan.stdout)

    def test_port_moves_without_losing_the_operator(self):
        meter = self.start()
        with socket_free_port() as free:
            port = free
        profile = self.profile(f"communications:\n  modbus_tcp: {{port: {port}}}\n")
        self.meterctl(meter, "config", "apply", "-f", str(profile))
        ready = json.loads(meter.ready_file.read_text())
        self.assertEqual(ready["modbus"], port)
        completed = self.cli.run("--meter", f"127.0.0.1:{port}", "modbus", "id")
        self.assertEqual(completed.returncode, 0, completed.stderr)

    def test_two_concurrent_applies_conflict(self):
        meter = self.start()
        a = self.profile("metering:\n  ct: {primary: 200, secondary: 5}\n", "a.yaml")
        b = self.profile("metering:\n  ct: {primary: 400, secondary: 1}\n", "b.yaml")
        client = nc.NativeClient(meter.ready["native"])
        client.hello()
        client.login(nc.FACTORY_USER, nc.FACTORY_PASSWORD)
        plans = [client.request("config.plan", {"document": p.read_text(), "source": p.name, "passwords": {}},
                                auth=client.session_auth())
                 for p in (a, b)]
        versions = [plan.body["result"]["config_version"] for plan in plans]
        self.assertEqual(versions[0], versions[1])
        first = client.request("config.apply", {"document": a.read_text(), "source": "a.yaml", "passwords": {},
                                                "expected_version": versions[0]},
                               auth=client.session_auth())
        self.assertEqual(first.type, nc.RESPONSE, first)
        second = client.request("config.apply", {"document": b.read_text(), "source": "b.yaml", "passwords": {},
                                                 "expected_version": versions[1]},
                                auth=client.session_auth())
        self.assertEqual(second.type, nc.ERROR, second)
        self.assertEqual(second.body["code"], CONFLICT)
        client.close()
        # Through meterctl, racing: each process ends applied or refused with the conflict,
        # and the meter ends with one profile whole, never a mix.
        for _ in range(5):
            results = {}

            def apply(path):
                results[path.name] = self.meterctl(meter, "config", "apply", "-f", str(path), expect=None)

            threads = [threading.Thread(target=apply, args=(p,)) for p in (a, b)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            for completed in results.values():
                self.assertIn(completed.returncode, (0, 1), completed.stderr)
                if completed.returncode == 1:
                    self.assertIn("changed since", completed.stderr)
            ends = [self.meterctl(meter, "config", "plan", "-f", str(p), expect=None).returncode for p in (a, b)]
            self.assertIn(0, ends, "the meter matches neither profile")
        forced = self.meterctl(meter, "config", "apply", "-f", str(b), "--force")
        self.assertEqual(forced.returncode, 0)


class socket_free_port:
    def __enter__(self):
        import socket
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        return self.sock.getsockname()[1]

    def __exit__(self, *exc):
        self.sock.close()


class CrashMidApply(ConfigTestCase):
    def test_kill_during_apply_never_mixes(self):
        state_dir = self.tmp / "state"
        meter = self.start(state_dir=state_dir)
        profiles = []
        for index, (ct, interval, tz) in enumerate(((200, 15, "Europe/Paris"), (400, 30, "America/New_York"))):
            path = self.tmp / f"p{index}.yaml"
            path.write_text("apiVersion: meterctl/v1\nkind: MeterProfile\n"
                            f"metering:\n  ct: {{primary: {ct}, secondary: 5}}\n"
                            f"  demand: {{interval_minutes: {interval}, subintervals: 1}}\n"
                            f"clock: {{time_zone: {tz}}}\n"
                            "security:\n  session_timeout_s: " + str(600 + index) + "\n")
            profiles.append(path)
        self.meterctl(meter, "config", "apply", "-f", str(profiles[0]))
        rng = random.Random(7)
        for round_number in range(12):
            target = profiles[(round_number + 1) % 2]
            process = subprocess.Popen(
                [METERCTL, "--timeout", TIMEOUT, "--meter", f"127.0.0.1:{meter.ready['secure']}", "config", "apply",
                 "-f", str(target), "--login-password-file", str(self.factory_pw), "--accept-new"],
                env=self.cli.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.0, 0.25))
            meter.kill()
            process.wait(timeout=60)
            self.meters.remove(meter)
            meter = self.start(state_dir=state_dir)
            matches = [self.meterctl(meter, "config", "plan", "-f", str(p), expect=None).returncode for p in profiles]
            self.assertIn(0, matches, f"round {round_number}: the meter matches neither profile: {matches}")
        self.assertTrue((state_dir / "meter-state.json").exists())


class Fleet(ConfigTestCase):
    def test_fleet_of_50_applied_then_drift_finds_the_one_changed(self):
        meter = self.start("--fleet", "50")
        base = self.tmp / "base.yaml"
        base.write_text("apiVersion: meterctl/v1\nkind: MeterProfile\n"
                        "metering:\n  pt: {primary: 20000, secondary: 100}\n  ct: {primary: 600, secondary: 5}\n"
                        "clock: {time_zone: Europe/Berlin}\nsecurity:\n  session_timeout_s: 900\n")
        inventory = self.tmp / "inventory.yaml"
        lines = ["apiVersion: meterctl/v1", "kind: Inventory", "defaults:", "  profile: base.yaml", "  tls: false",
                 f"  credentials: {{user: User1, password_file: {self.factory_pw}}}", "meters:"]
        for index, entry in enumerate(meter.ready["meters"]):
            lines += [f"  - name: meter-{index + 1:03d}", "    address: 127.0.0.1", f"    port: {entry['native']}",
                      f"    tags: {{rack: r{index % 5}}}"]
        inventory.write_text("\n".join(lines) + "\n")
        run = lambda *args: self.cli.run(*args, timeout=600)  # noqa: E731
        applied = run("-o", "json", "config", "apply", "--inventory", str(inventory), "--parallel", "16")
        self.assertEqual(applied.returncode, 0, applied.stderr[-2000:])
        report = json.loads(applied.stdout)
        self.assertEqual(len(report["meters"]), 50)
        self.assertTrue(all(m["outcome"] == "applied" for m in report["meters"]), report["summary"])
        drift = run("config", "drift", "--inventory", str(inventory), "--parallel", "16")
        self.assertEqual(drift.returncode, 0, drift.stdout + drift.stderr)
        # One meter changed by hand.
        hand = nc.NativeClient(meter.ready["meters"][16]["native"])
        hand.hello()
        hand.login(nc.FACTORY_USER, nc.FACTORY_PASSWORD)
        answer = hand.request("security.session_timeout", {"seconds": 1200}, auth=hand.session_auth())
        self.assertEqual(answer.type, nc.RESPONSE, answer)
        hand.close()
        drift = run("-o", "json", "config", "drift", "--inventory", str(inventory), "--parallel", "16")
        self.assertEqual(drift.returncode, 2, drift.stderr[-2000:])
        drifted = [m["name"] for m in json.loads(drift.stdout)["meters"] if m["outcome"] != "no_changes"]
        self.assertEqual(drifted, ["meter-017"])
        # A shard sees only its part; the shards together see every meter once.
        seen = []
        for k in (1, 2, 3):
            part = run("-o", "json", "config", "drift", "--inventory", str(inventory), "--shard", f"{k}/3")
            self.assertIn(part.returncode, (0, 2), part.stderr[-2000:])
            seen += [m["name"] for m in json.loads(part.stdout)["meters"]]
        self.assertEqual(sorted(seen), sorted(f"meter-{i:03d}" for i in range(1, 51)))
        selected = run("-o", "json", "config", "drift", "--inventory", str(inventory), "--select", "rack=r1")
        self.assertEqual(sorted(m["name"] for m in json.loads(selected.stdout)["meters"]),
                         [f"meter-{i:03d}" for i in range(2, 51, 5)])


if __name__ == "__main__":
    unittest.main(verbosity=2)
