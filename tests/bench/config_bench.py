#!/usr/bin/python3
"""Configuration-as-code benchmark: plan and apply latency on one meter, and a fleet apply
of many virtual meters at several degrees of parallelism.

Reference, measured in the same run: `meterctl info` against the same meter, the cheapest
command that connects, negotiates, logs in and asks one question. A plan or an apply costs
that plus reading the profile, the meter's work and the answer; the ratio says how much
the configuration machinery adds. For the fleet, the reference is the same `info`
multiplied by the number of meters and divided by the parallelism (perfect scaling).

Run by scripts/bench-config, which builds a Release tree; see tests/bench/README.md.
Environment: METERD, METERCTL (binaries), BENCH_ROUNDS (single-meter repetitions,
default 20), BENCH_FLEET (meters, default 200), BENCH_PARALLEL (default "1 16 64").
"""

import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "integration"))

from meterd_harness import Meterd  # noqa: E402

METERCTL = os.environ["METERCTL"]
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "20"))
FLEET = int(os.environ.get("BENCH_FLEET", "200"))
PARALLEL = [int(n) for n in os.environ.get("BENCH_PARALLEL", "1 16 64").split()]


def profile_text(ct_primary, timeout_s):
    return ("apiVersion: meterctl/v1\nkind: MeterProfile\n"
            f"metering:\n  ct: {{primary: {ct_primary}, secondary: 5}}\n"
            "  demand: {interval_minutes: 15, subintervals: 3}\n"
            f"clock: {{time_zone: Europe/Paris}}\nsecurity:\n  session_timeout_s: {timeout_s}\n")


def timed(command, env, expect=(0,)):
    started = time.perf_counter()
    completed = subprocess.run(command, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if completed.returncode not in expect:
        raise SystemExit(f"{' '.join(command)} exited {completed.returncode}:\n{completed.stderr}")
    return elapsed


def median_ms(samples):
    return statistics.median(samples) * 1000.0


def main():
    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-config-"))
    env = dict(os.environ, XDG_CONFIG_HOME=str(work / "config"), XDG_STATE_HOME=str(work / "state"), NO_COLOR="1")
    password = work / "factory.pw"
    password.write_text("0\n")
    password.chmod(0o600)
    profiles = []
    for index, (ct, timeout) in enumerate(((200, 600), (400, 900))):
        path = work / f"p{index}.yaml"
        path.write_text(profile_text(ct, timeout))
        profiles.append(path)
    results = []

    with Meterd("--password-hashing", "fleet", work_dir=work) as meter:
        base = [METERCTL, "--meter", f"127.0.0.1:{meter.ready['native']}"]
        login = ["--plain", "--login-password-file", str(password)]
        info = [timed(base + ["info", "--plain"], env) for _ in range(ROUNDS)]
        plan = [timed(base + ["config", "plan", "-f", str(profiles[0])] + login, env, (0, 2)) for _ in range(ROUNDS)]
        apply = [timed(base + ["config", "apply", "-f", str(profiles[i % 2])] + login, env) for i in range(ROUNDS)]
        noop = [timed(base + ["config", "apply", "-f", str(profiles[1 - ROUNDS % 2])] + login, env)
                for _ in range(ROUNDS)]
        reference = median_ms(info)
        for name, samples in (("plan", plan), ("apply (changes)", apply), ("apply (no changes)", noop)):
            results.append({"measure": f"one meter: {name}", "median_ms": round(median_ms(samples), 1),
                            "reference_ms": round(reference, 1),
                            "ratio": round(median_ms(samples) / reference, 2)})

    with Meterd("--password-hashing", "fleet", "--fleet", str(FLEET), work_dir=work) as fleet:
        inventory = work / "inventory.yaml"
        lines = ["apiVersion: meterctl/v1", "kind: Inventory", "defaults:", "  tls: false",
                 f"  credentials: {{user: User1, password_file: {password}}}", "meters:"]
        for index, entry in enumerate(fleet.ready["meters"]):
            lines += [f"  - name: m{index:04d}", "    address: 127.0.0.1", f"    port: {entry['native']}"]
        inventory.write_text("\n".join(lines) + "\n")
        info_one = [timed([METERCTL, "--meter", f"127.0.0.1:{fleet.ready['meters'][0]['native']}", "info", "--plain"],
                          env) for _ in range(5)]
        per_meter = statistics.median(info_one)
        for round_index, parallel in enumerate(PARALLEL):
            profile = profiles[round_index % 2]
            command = [METERCTL, "-o", "json", "config", "apply", "--inventory", str(inventory), "-f", str(profile),
                       "--parallel", str(parallel), "-q"]
            elapsed = timed(command, env)
            ideal = per_meter * FLEET / min(parallel, 2 * os.cpu_count())
            results.append({"measure": f"fleet apply: {FLEET} meters, --parallel {parallel}",
                            "seconds": round(elapsed, 2), "meters_per_minute": round(FLEET * 60 / elapsed),
                            "reference_s": round(ideal, 2), "ratio": round(elapsed / ideal, 2)})

    print(f"{'measure':45} {'value':>12} {'reference':>12} {'ratio':>7}")
    for row in results:
        if "median_ms" in row:
            print(f"{row['measure']:45} {row['median_ms']:>9.1f} ms {row['reference_ms']:>9.1f} ms {row['ratio']:>6.2f}x")
        else:
            print(f"{row['measure']:45} {row['seconds']:>10.2f} s {row['reference_s']:>10.2f} s {row['ratio']:>6.2f}x"
                  f"  ({row['meters_per_minute']} meters/min)")
    for row in results:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
