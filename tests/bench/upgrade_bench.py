#!/usr/bin/python3
"""Firmware upgrade benchmark: one meter upgraded with a 16 MiB package (transfer, verify,
activate, healthy), then fleets of separate supervised meters upgraded with `meterctl
upgrade apply --inventory` at several degrees of parallelism.

References, measured in the same run on the same machine:
  - loopback: one TCP stream on 127.0.0.1 moving the package's bytes with large writes,
    the most any transfer to a local meter can reach;
  - SHA-256 and SHA-512 over the package in memory (OpenSSL through hashlib): the meter
    hashes the whole file (SHA-256 against the digest announced at the start), the signed
    part (SHA-512, Ed25519ph-style message) and the payload (SHA-256 against the manifest).
The transfer rate is reported as a fraction of the loopback rate, and the verify stage as
a multiple of the time the three hashes take on their own.

Run by scripts/bench-upgrade, which builds a Release tree; see tests/bench/README.md.
Environment: METERD, METERCTL (binaries), BENCH_PACKAGE_MIB (default 16), BENCH_FLEET
(meters, default 200), BENCH_PARALLEL (default "1 16 64"), BENCH_ROUNDS (single-meter
repetitions, default 3).
"""

import hashlib
import json
import os
import pathlib
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "integration"))

from meterd_harness import Meterd, start_all  # noqa: E402

METERD = os.environ["METERD"]
METERCTL = os.environ["METERCTL"]
PACKAGE_MIB = int(os.environ.get("BENCH_PACKAGE_MIB", "16"))
FLEET = int(os.environ.get("BENCH_FLEET", "200"))
PARALLEL = [int(n) for n in os.environ.get("BENCH_PARALLEL", "1 16 64").split()]
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
MIB = 1024 * 1024


def run(command, env, expect=(0,)):
    started = time.perf_counter()
    completed = subprocess.run(command, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if completed.returncode not in expect:
        raise SystemExit(f"{' '.join(map(str, command))} exited {completed.returncode}:\n{completed.stderr}")
    return elapsed, completed


def loopback_mib_per_s(data):
    """Best of 5 single-stream transfers of `data` over 127.0.0.1."""
    best = 0.0
    for _ in range(5):
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        received = [0]

        def drain():
            connection, _ = server.accept()
            buffer = bytearray(MIB)
            while True:
                got = connection.recv_into(buffer)
                if not got:
                    break
                received[0] += got
            connection.close()

        reader = threading.Thread(target=drain)
        reader.start()
        client = socket.create_connection(server.getsockname())
        started = time.perf_counter()
        view = memoryview(data)
        for offset in range(0, len(data), MIB):
            client.sendall(view[offset:offset + MIB])
        client.close()
        reader.join()
        elapsed = time.perf_counter() - started
        server.close()
        assert received[0] == len(data)
        best = max(best, len(data) / MIB / elapsed)
    return best


def hash_seconds(data):
    """Best of 5: the three hashes the meter computes over a package of this size."""
    best = None
    for _ in range(5):
        started = time.perf_counter()
        hashlib.sha256(data).digest()
        hashlib.sha512(data).digest()
        hashlib.sha256(data).digest()
        elapsed = time.perf_counter() - started
        best = elapsed if best is None else min(best, elapsed)
    return best


def make_package(work, env):
    """A key, and a package for ION7400 4.6.0 whose payload is the Release meterd padded
    with zeros to the wanted size (an ELF file runs with bytes after its sections)."""
    key = work / "signing"
    run([METERCTL, "upgrade", "keygen", "--out", str(key)], env)
    payload = work / "meterd-payload"
    shutil.copyfile(METERD, payload)
    size = max(PACKAGE_MIB * MIB - 4096, payload.stat().st_size)
    with open(payload, "ab") as out:
        out.truncate(size)
    payload.chmod(0o755)
    package = work / "ion7400-4.6.0.upg"
    run([METERCTL, "upgrade", "pack", "--key", str(key), "--model", "ION7400", "--version", "4.6.0",
         "--payload", str(payload), "--out", str(package)], env)
    return key.with_name(key.name + ".pub"), package


def meter(work, public_key, name):
    return Meterd("--firmware", "4.0.0", "--password-hashing", "fleet", "--trusted-key", str(public_key),
                  work_dir=work, state_dir=work / "meters" / name)


def login(password):
    return ["--plain", "--password-file", str(password)]


def main():
    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-upgrade-"))
    env = dict(os.environ, XDG_CONFIG_HOME=str(work / "config"), XDG_STATE_HOME=str(work / "state"), NO_COLOR="1")
    password = work / "factory.pw"
    password.write_text("0\n")
    password.chmod(0o600)
    public_key, package = make_package(work, env)
    (work / "config" / "meterctl" / "trusted-keys").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(public_key, work / "config" / "meterctl" / "trusted-keys" / public_key.name)
    data = package.read_bytes()
    package_mib = len(data) / MIB
    loopback = loopback_mib_per_s(data)
    hashes_s = hash_seconds(data)
    results = []

    single = []
    for round_index in range(ROUNDS):
        shutil.rmtree(work / "meters", ignore_errors=True)
        with meter(work, public_key, f"single-{round_index}") as one:
            command = [METERCTL, "--meter", f"127.0.0.1:{one.ready['native']}", "-o", "json", "upgrade", "apply",
                       str(package), "--no-backup"] + login(password)
            elapsed, completed = run(command, env)
            record = json.loads(completed.stdout)
            if record.get("outcome") != "upgraded":
                raise SystemExit(f"single upgrade did not upgrade: {completed.stdout}")
            single.append((elapsed, record.get("stages", {})))
    total = statistics.median(s[0] for s in single)
    stages = {name: statistics.median(s[1].get(name, 0) for s in single) / 1000.0
              for name in ("transfer_ms", "verify_ms", "activate_ms", "health_ms")}
    transfer_rate = package_mib / stages["transfer_ms"] if stages["transfer_ms"] else 0.0
    results.append({"measure": f"one meter, {package_mib:.1f} MiB package: total", "seconds": round(total, 3)})
    results.append({"measure": "  transfer", "seconds": round(stages["transfer_ms"], 3),
                    "mib_per_s": round(transfer_rate, 1), "reference": f"loopback {loopback:.0f} MiB/s",
                    "ratio": round(transfer_rate / loopback, 3)})
    results.append({"measure": "  verify", "seconds": round(stages["verify_ms"], 3),
                    "reference": f"3 hashes {hashes_s * 1000:.0f} ms",
                    "ratio": round(stages["verify_ms"] / hashes_s, 2) if hashes_s else None})
    results.append({"measure": "  activate", "seconds": round(stages["activate_ms"], 3)})
    results.append({"measure": "  healthy (reboot into the new slot)", "seconds": round(stages["health_ms"], 3)})

    for parallel in PARALLEL:
        shutil.rmtree(work / "meters", ignore_errors=True)
        meters = [meter(work, public_key, f"m{index:04d}") for index in range(FLEET)]
        start_all(meters, deadline_s=120)
        try:
            inventory = work / f"inventory-{parallel}.yaml"
            lines = ["apiVersion: meterctl/v1", "kind: Inventory", "defaults:", "  tls: false",
                     f"  credentials: {{user: User1, password_file: {password}}}", "meters:"]
            for index, one in enumerate(meters):
                lines += [f"  - name: m{index:04d}", "    address: 127.0.0.1", f"    port: {one.ready['native']}"]
            inventory.write_text("\n".join(lines) + "\n")
            command = [METERCTL, "-o", "json", "upgrade", "apply", str(package), "--inventory", str(inventory),
                       "--parallel", str(parallel), "--no-backup", "--max-failures", "0", "-q"]
            elapsed, completed = run(command, env)
            report = json.loads(completed.stdout)
            records = report["meters"] if isinstance(report, dict) else report
            upgraded = sum(1 for r in records if r.get("outcome") == "upgraded")
            if upgraded != FLEET:
                raise SystemExit(f"--parallel {parallel}: {upgraded} of {FLEET} upgraded")
            moved_mib = package_mib * FLEET
            results.append({"measure": f"{FLEET} meters, --parallel {parallel}", "seconds": round(elapsed, 2),
                            "meters_per_minute": round(FLEET * 60 / elapsed),
                            "mib_per_s": round(moved_mib / elapsed, 1),
                            "reference": f"loopback {loopback:.0f} MiB/s",
                            "ratio": round(moved_mib / elapsed / loopback, 3)})
        finally:
            for one in meters:
                one.close()
    shutil.rmtree(work, ignore_errors=True)

    print(f"package {package_mib:.1f} MiB; loopback {loopback:.0f} MiB/s; SHA-256+SHA-512+SHA-256 "
          f"{hashes_s * 1000:.1f} ms ({3 * package_mib / hashes_s:.0f} MiB/s hashed)")
    for row in results:
        line = f"{row['measure']:44} {row['seconds']:>9.3f} s"
        if "mib_per_s" in row:
            line += f" {row['mib_per_s']:>8.1f} MiB/s"
        if "meters_per_minute" in row:
            line += f" {row['meters_per_minute']:>6} meters/min"
        if "reference" in row:
            line += f"  vs {row['reference']}: {row['ratio']}x"
        print(line)
    for row in results:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
