"""Starts and stops real meterd processes for the Python integration tests.

The Python counterpart of lib.sh: meterd on 127.0.0.1 with --modbus-port 0 and a fresh
state directory, readiness taken from the ready file (polled against a deadline, never a
fixed sleep), and the process stopped by its PID.

Run the tests with /usr/bin/python3: Debian's python3-pymodbus belongs to it.

Environment: METERD names the binary (ctest sets it; by hand it defaults to build/ beside
the sources); READY_DEADLINE_S bounds start-up (default 30 s, room for AddressSanitizer).
"""

import json
import os
import pathlib
import signal
import subprocess
import tempfile
import time

SOURCE_DIR = pathlib.Path(__file__).resolve().parents[2]
METERD = os.environ.get("METERD", str(SOURCE_DIR / "build" / "firmware" / "meterd"))
READY_DEADLINE_S = float(os.environ.get("READY_DEADLINE_S", "30"))
STOP_DEADLINE_S = 30.0
POLL_INTERVAL_S = 0.05


class MeterdError(RuntimeError):
    pass


class Meterd:
    """One meterd process. Use as a context manager, or call start() and stop()."""

    def __init__(self, *extra_args, state_dir=None, work_dir=None):
        self._own_work_dir = None
        if work_dir is None:
            self._own_work_dir = tempfile.TemporaryDirectory(prefix="meterctl-py-")
            work_dir = self._own_work_dir.name
        self.work_dir = pathlib.Path(work_dir)
        self.state_dir = pathlib.Path(state_dir) if state_dir else pathlib.Path(tempfile.mkdtemp(dir=self.work_dir))
        self.extra_args = list(extra_args)
        self.ready_file = self.work_dir / f"ready-{os.getpid()}-{id(self)}.json"
        self.log_path = self.work_dir / f"meterd-{id(self)}.log"
        self.process = None
        self.ready = None

    @property
    def port(self):
        return self.ready["modbus"]

    @property
    def pid(self):
        return self.process.pid

    def log_tail(self, lines=20):
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def launch(self):
        """Starts the process without waiting for it (see wait_ready and start_all)."""
        if self.ready_file.exists():
            self.ready_file.unlink()
        command = [METERD, "--bind", "127.0.0.1", "--modbus-port", "0", "--native-port", "0", "--secure-port", "0",
                   "--state-dir", str(self.state_dir), "--ready-file", str(self.ready_file), *self.extra_args]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.ready = None
        return self

    def wait_ready(self, deadline_s=None):
        deadline = time.monotonic() + (READY_DEADLINE_S if deadline_s is None else deadline_s)
        while True:
            if self.ready_file.exists() and self.ready_file.stat().st_size > 0:
                # Written atomically by meterd: present means complete.
                self.ready = json.loads(self.ready_file.read_text())
                break
            status = self.process.poll()
            if status is not None:
                raise MeterdError(f"meterd exited with status {status} before its ready file:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.kill()
                raise MeterdError(f"meterd wrote no ready file within {READY_DEADLINE_S} s:\n{self.log_tail()}")
            time.sleep(POLL_INTERVAL_S)
        if self.ready.get("pid") != self.process.pid:
            raise MeterdError(f"ready file names PID {self.ready.get('pid')}, meterd is PID {self.process.pid}")
        return self

    def start(self):
        return self.launch().wait_ready()

    def stop(self):
        """SIGTERM, then SIGKILL after a deadline; returns the exit status."""
        if self.process is None or self.process.returncode is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=STOP_DEADLINE_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise MeterdError(f"meterd (PID {self.process.pid}) ignored SIGTERM for {STOP_DEADLINE_S} s")

    def kill(self):
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            self.process.wait()

    def close(self):
        try:
            self.stop()
        finally:
            if self._own_work_dir is not None and os.environ.get("KEEP_TEST_TMP") != "1":
                self._own_work_dir.cleanup()

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc):
        self.close()
        return False


def start_all(meters, deadline_s=None):
    """Launches every meterd at once, then waits for each: a fleet of separate processes
    starts in the time of the slowest, not the sum. On failure every one is stopped."""
    try:
        for meter in meters:
            meter.launch()
        for meter in meters:
            meter.wait_ready(deadline_s)
    except BaseException:
        for meter in meters:
            meter.kill()
        raise
    return meters


def secret(path, text):
    """A password file as meterctl wants one: the text on one line, owner-only."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")
    path.chmod(0o600)
    return path


def meterctl_environment(config_home, state_home):
    """meterctl's environment with a private home, so pins, trusted keys, backups and
    history stay inside the test, and without what would point it at another configuration
    or meter, or give it a shard of an inventory."""
    env = dict(os.environ, XDG_CONFIG_HOME=str(config_home), XDG_STATE_HOME=str(state_home), NO_COLOR="1")
    for name in ("METERCTL_CONFIG", "METERCTL_METER", "CI_NODE_INDEX", "CI_NODE_TOTAL", "JOB_COMPLETION_INDEX"):
        env.pop(name, None)
    return env
