#!/usr/bin/python3
"""Backups end to end: `meterctl backup` and `meterctl restore` against real meterd processes.

Run with /usr/bin/python3. Sections (each registered as integration.backup.<Section>):

RoundTrip   backup, change the users' password and the configuration, restore: the
            configuration and the password hashes are back (the old password logs in,
            the new one no longer does); the archive is mode 0600, holds hashes and no
            clear password, and its digest is the one meterctl printed.
Tampered    an archive changed after it was written is refused with status 65 before
            anything reaches the meter, which keeps its configuration.
OtherModel  a backup of an ION9000 is refused on an ION7400 with status 65, naming both.
"""

import json
import os
import pathlib
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from meterd_harness import METERD, SOURCE_DIR, Meterd, meterctl_environment, secret  # noqa: E402

METERCTL = os.environ.get("METERCTL", str(SOURCE_DIR / "build" / "cli" / "meterctl"))
TIMEOUT = "10"
# Legacy security support takes numeric passwords (0 to 99999999).
OLD_PASSWORD = "24681357"
NEW_PASSWORD = "13572468"
EXIT_DATA = 65
EXIT_DENIED = 77



def meterd_options():
    """Fleet hashing keeps logins fast; the firmware runs without its boot supervisor
    where meterd has one, so the PID the test stops is the one serving."""
    options = ["--password-hashing", "fleet"]
    help_text = subprocess.run([METERD, "--help"], capture_output=True, text=True).stdout
    if "--no-supervisor" in help_text:
        options.append("--no-supervisor")
    return options


class BackupTestCase(unittest.TestCase):
    def setUp(self):
        self.tmp = pathlib.Path(tempfile.mkdtemp(prefix="meterctl-backup-"))
        self.env = meterctl_environment(self.tmp / "config", self.tmp / "state")
        self.factory_pw = secret(self.tmp / "factory.pw", "0")
        self.old_pw = secret(self.tmp / "old.pw", OLD_PASSWORD)
        self.new_pw = secret(self.tmp / "new.pw", NEW_PASSWORD)
        self.meters = []

    def tearDown(self):
        for meter in self.meters:
            meter.close()
        if os.environ.get("KEEP_TEST_TMP") != "1":
            shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self, *args):
        meter = Meterd(*meterd_options(), *args, work_dir=self.tmp)
        meter.start()
        self.meters.append(meter)
        return meter

    def meterctl(self, meter, command, *args, login, expect=0, login_option="--password-file", output=None):
        """meterctl COMMAND ARGS on `meter` (TLS where it has it), logged in as User1 with the `login` file."""
        ready = json.loads(meter.ready_file.read_text())
        # A firmware without Secure ION has only the plain native port.
        secure = "secure" in ready
        head = [METERCTL, "--timeout", TIMEOUT, "--meter", f"127.0.0.1:{ready['secure' if secure else 'native']}"]
        if output:
            head += ["-o", output]
        connection = ["--accept-new"] if secure else ["--plain"]
        completed = subprocess.run([*head, *command, *args, login_option, str(login), *connection],
                                   env=self.env, capture_output=True, text=True, timeout=120)
        if expect is not None and completed.returncode != expect:
            self.fail(f"meterctl {' '.join(command)} {' '.join(args)} exited {completed.returncode}, expected {expect}\n"
                      f"stdout:\n{completed.stdout}\nstderr:\n{completed.stderr}\nmeterd log:\n{meter.log_tail()}")
        return completed

    def set_password(self, meter, login, new):
        self.meterctl(meter, ["users", "passwd", "User1"], "--password-file", str(new), login=login,
                      login_option="--login-password-file")

    def backup(self, meter, login):
        completed = self.meterctl(meter, ["backup"], "--dir", str(self.tmp / "backups"), login=login, output="json")
        report = json.loads(completed.stdout)
        return pathlib.Path(report["file"]), report

    def stored(self, meter):
        """The configuration part of meter-state.json (energy and clock move on their own)."""
        state = json.loads((meter.state_dir / "meter-state.json").read_text())
        for moving in ("energy", "clock_offset_s"):
            state.pop(moving, None)
        return state

    def export(self, meter, login):
        """`config export` without its header comment, which names the time and version."""
        text = self.meterctl(meter, ["config", "export"], login=login, login_option="--login-password-file").stdout
        return [line for line in text.splitlines() if not line.startswith("#")]

    def change_configuration(self, meter, login):
        profile = self.tmp / "changed.yaml"
        profile.write_text("apiVersion: meterctl/v1\nkind: MeterProfile\n"
                           "metering:\n  ct: {primary: 400}\nclock: {time_zone: Europe/Paris}\n")
        self.meterctl(meter, ["config", "apply"], "-f", str(profile), login=login,
                      login_option="--login-password-file")


class RoundTrip(BackupTestCase):
    def test_restore_brings_back_configuration_and_password_hashes(self):
        meter = self.start("--model", "ION7400")
        self.set_password(meter, self.factory_pw, self.old_pw)
        archive_path, report = self.backup(meter, self.old_pw)

        self.assertEqual(archive_path.parent, self.tmp / "backups")
        self.assertRegex(archive_path.name, r"^VM\d{10}-\d{8}T\d{6}Z\.mbak$")
        self.assertEqual(stat.S_IMODE(archive_path.stat().st_mode), 0o600)
        text = archive_path.read_text()
        archive = json.loads(text)
        self.assertEqual(report["digest"], archive["digest"])
        self.assertRegex(report["digest"], r"^sha256:[0-9a-f]{64}$")
        self.assertEqual(archive["format"], "meterctl-backup")
        self.assertEqual(archive["meter"]["serial_number"], report["identity"]["serial_number"])
        users = archive["backup"]["configuration"]["security"]["users"]
        self.assertTrue(users[0]["password_hash"].startswith("$scrypt$"))
        self.assertNotIn(OLD_PASSWORD, text)
        self.assertNotIn('"password"', text)
        self.assertGreater(len(archive["backup"]["events"]), 0)
        # The table form prints the path and the digest too.
        table = self.meterctl(meter, ["backup"], "--dir", str(self.tmp / "backups"), login=self.old_pw).stdout
        self.assertIn(str(self.tmp / "backups"), table)
        self.assertIn("sha256:", table)

        before = self.stored(meter)
        exported_before = self.export(meter, self.old_pw)
        self.set_password(meter, self.old_pw, self.new_pw)
        self.change_configuration(meter, self.new_pw)
        self.assertNotEqual(self.stored(meter)["security"], before["security"])
        self.assertNotEqual(self.stored(meter)["time_zone"], before["time_zone"])

        restored = self.meterctl(meter, ["restore", str(archive_path)], login=self.new_pw)
        self.assertIn("security.users[User1].password", restored.stdout)
        self.assertIn("clock.time_zone", restored.stdout)
        self.assertIn("Restored", restored.stdout)

        after = self.stored(meter)
        self.assertEqual(after["security"], before["security"])
        for key in ("settings", "time_zone", "metering", "communications", "modbus", "recorders"):
            self.assertEqual(after[key], before[key], key)
        self.assertGreater(after["config_version"], before["config_version"])
        self.assertEqual(self.export(meter, self.old_pw), exported_before)
        # The old password logs in again; the one set after the backup no longer does.
        self.meterctl(meter, ["security", "show"], login=self.old_pw, login_option="--login-password-file")
        self.meterctl(meter, ["security", "show"], login=self.new_pw, login_option="--login-password-file",
                      expect=EXIT_DENIED)
        # A second restore finds nothing to do.
        again = self.meterctl(meter, ["restore", str(archive_path)], login=self.old_pw)
        self.assertIn("No changes", again.stdout)


class Tampered(BackupTestCase):
    def test_changed_archive_is_refused_and_meter_untouched(self):
        meter = self.start("--model", "ION7400")
        archive_path, _ = self.backup(meter, self.factory_pw)
        self.change_configuration(meter, self.factory_pw)
        before = self.stored(meter)

        archive = json.loads(archive_path.read_text())
        archive["backup"]["configuration"]["security"]["session_timeout_s"] = 86400
        tampered = self.tmp / "tampered.mbak"
        tampered.write_text(json.dumps(archive, indent=2))
        refused = self.meterctl(meter, ["restore", str(tampered)], login=self.factory_pw, expect=EXIT_DATA)
        self.assertIn("digest", refused.stderr)
        # One byte changed anywhere in the text, here in a value.
        text = archive_path.read_text()
        position = text.index('"time_zone": "UTC"') + len('"time_zone": "U')
        flipped = self.tmp / "flipped.mbak"
        flipped.write_text(text[:position] + "S" + text[position + 1:])
        self.meterctl(meter, ["restore", str(flipped), "--force"], login=self.factory_pw, expect=EXIT_DATA)
        self.assertEqual(self.stored(meter), before)


class OtherModel(BackupTestCase):
    def test_backup_of_another_model_is_refused(self):
        ion9000 = self.start("--model", "ION9000")
        ion7400 = self.start("--model", "ION7400")
        archive_path, _ = self.backup(ion9000, self.factory_pw)
        before = self.stored(ion7400)
        refused = self.meterctl(ion7400, ["restore", str(archive_path)], login=self.factory_pw, expect=EXIT_DATA)
        self.assertIn("ION9000", refused.stderr)
        self.assertIn("ION7400", refused.stderr)
        self.assertEqual(self.stored(ion7400), before)


if __name__ == "__main__":
    unittest.main(verbosity=2)
