#!/usr/bin/python3
"""meterd's plain native port under a crowd of idle connections.

Run with /usr/bin/python3. Two parts, each against its own meterd (127.0.0.1, port 0):

1. 1,000 idle TCP connections that never send a byte stay open on the server (checked in
   /proc/<pid>/fd), and meanwhile a new client completes hello and identity within 2 s.
   meterd's VmRSS with the 1,000 connections open is printed (no figure is asserted).
   The server allows 256 connections per source address, so the 1,000 come from four
   loopback source addresses, 127.0.0.1 to 127.0.0.4, 250 each (all to 127.0.0.1);
   otherwise eviction would leave only 256 of them open on the server.

2. 300 idle connections from 127.0.0.1 alone, beyond the per-address cap of 256: none
   of them greeted, so each connection over the cap pushes out the oldest un-greeted one.
   A client greeted before the crowd keeps working, a new client still gets in within
   2 s, and the server holds no more than 256 connections from the address.

Everything happens well inside the 10 s greeting deadline, after which the server would
close the idle connections anyway (the test checks its own timing). Exit status 77 (skip)
when the hard RLIMIT_NOFILE is below 1100.
"""

import os
import resource
import socket
import sys
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import native_client as nc  # noqa: E402
from meterd_harness import Meterd  # noqa: E402

IDLE_CONNECTIONS = 1000
SOURCES = ("127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4")
PER_ADDRESS_CAP = 256
CROWD_FROM_ONE_ADDRESS = 300
PROMPT_S = 2.0
# The server closes un-greeted connections after 10 s; every check must be done before.
GREETING_TIMEOUT_S = 10.0
TIME_BUDGET_S = 8.0
NEEDED_DESCRIPTORS = 1100
SKIP = 77


def raise_descriptor_limit():
    """Soft limit up to the hard one; returns the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    elif hard == resource.RLIM_INFINITY and soft < 65536:
        resource.setrlimit(resource.RLIMIT_NOFILE, (65536, hard))
    return hard


def socket_count(pid):
    """How many sockets process `pid` holds (listeners included)."""
    count = 0
    for entry in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{entry}").startswith("socket:"):
                count += 1
        except OSError:
            pass  # closed meanwhile
    return count


def vm_rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"/proc/{pid}/status has no VmRSS")


def wait_for_socket_count(pid, predicate, deadline_s=3.0):
    deadline = time.monotonic() + deadline_s
    while True:
        count = socket_count(pid)
        if predicate(count) or time.monotonic() > deadline:
            return count
        time.sleep(0.02)


def open_idle(port, source):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((source, 0))
        sock.settimeout(5)
        sock.connect(("127.0.0.1", port))
    except BaseException:
        sock.close()
        raise
    return sock


def is_closed_by_peer(sock):
    """True when the server closed `sock` (EOF or reset); never blocks."""
    sock.setblocking(False)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


def greeted_client_works(port, timeout=PROMPT_S):
    """Opens a client and does hello + identity; returns the seconds it took."""
    start = time.monotonic()
    with nc.NativeClient(port, timeout=timeout) as client:
        hello = client.hello()
        if hello.type != nc.HELLO_OK:
            raise AssertionError(f"hello answered with {hello!r}")
        identity = client.request("identity")
        if identity.type != nc.RESPONSE or identity.body["result"].get("model") != "ION7400":
            raise AssertionError(f"identity answered with {identity!r}")
    return time.monotonic() - start


class IdleConnectionsTest(unittest.TestCase):
    def setUp(self):
        self.sockets = []
        self.addCleanup(self.close_all)

    def close_all(self):
        for sock in self.sockets:
            sock.close()
        self.sockets = []

    def test_thousand_idle_connections_leave_room_for_a_client(self):
        with Meterd() as meterd:
            # The serving process: the firmware under the boot supervisor, when there is one.
            port, pid = meterd.ready["native"], meterd.ready.get("firmware_pid", meterd.pid)
            baseline_sockets = socket_count(pid)
            baseline_rss = vm_rss_kib(pid)
            start = time.monotonic()
            for i in range(IDLE_CONNECTIONS):
                self.sockets.append(open_idle(port, SOURCES[i % len(SOURCES)]))
            opened_in = time.monotonic() - start
            held = wait_for_socket_count(pid, lambda n: n >= baseline_sockets + IDLE_CONNECTIONS)
            self.assertGreaterEqual(held - baseline_sockets, IDLE_CONNECTIONS,
                                    f"meterd holds {held - baseline_sockets} of the {IDLE_CONNECTIONS} connections")
            rss = vm_rss_kib(pid)
            elapsed = greeted_client_works(port)
            self.assertLess(elapsed, PROMPT_S, f"hello + identity took {elapsed:.2f} s beside 1,000 idle connections")
            closed = [i for i, sock in enumerate(self.sockets) if is_closed_by_peer(sock)]
            self.assertEqual(closed, [], f"the server dropped {len(closed)} idle connections early: {closed[:10]}")
            self.assertLess(time.monotonic() - start, TIME_BUDGET_S,
                            "too slow: the greeting deadline may have interfered; the result is not meaningful")
            print(f"\nmeterd PID {pid}: VmRSS {rss} kB with {IDLE_CONNECTIONS} idle native connections open "
                  f"({held - baseline_sockets} sockets held; baseline {baseline_rss} kB, "
                  f"{(rss - baseline_rss) / IDLE_CONNECTIONS:.1f} kB per connection); "
                  f"opened in {opened_in:.2f} s; hello + identity beside them in {elapsed * 1000:.0f} ms",
                  file=sys.stderr)
            self.close_all()

    def test_crowd_beyond_the_per_address_cap_cannot_lock_out_a_client(self):
        with Meterd() as meterd:
            # The serving process: the firmware under the boot supervisor, when there is one.
            port, pid = meterd.ready["native"], meterd.ready.get("firmware_pid", meterd.pid)
            baseline_sockets = socket_count(pid)
            # A working client, greeted before the crowd arrives.
            operator = nc.NativeClient(port, timeout=PROMPT_S)
            self.addCleanup(operator.close)
            self.assertEqual(operator.hello().type, nc.HELLO_OK)
            start = time.monotonic()
            for _ in range(CROWD_FROM_ONE_ADDRESS):
                self.sockets.append(open_idle(port, "127.0.0.1"))
            # 1 greeted + 300 un-greeted from one address: the 45 oldest un-greeted are pushed out.
            expected_evicted = 1 + CROWD_FROM_ONE_ADDRESS - PER_ADDRESS_CAP
            deadline = time.monotonic() + PROMPT_S
            while True:
                closed = [i for i, sock in enumerate(self.sockets) if is_closed_by_peer(sock)]
                if len(closed) >= expected_evicted or time.monotonic() > deadline:
                    break
                time.sleep(0.02)
            self.assertEqual(closed, list(range(expected_evicted)),
                             "eviction should push out exactly the oldest un-greeted connections")
            # Every connection accepted by now: the address holds exactly its cap.
            held = wait_for_socket_count(pid, lambda n: n - baseline_sockets == PER_ADDRESS_CAP) - baseline_sockets
            self.assertEqual(held, PER_ADDRESS_CAP, f"meterd holds {held} connections from 127.0.0.1")
            # The greeted client was not pushed out and still works.
            frame = operator.request("identity")
            self.assertEqual(frame.type, nc.RESPONSE, frame)
            # A new client from the same full address gets in, several times over.
            for attempt in range(3):
                elapsed = greeted_client_works(port)
                self.assertLess(elapsed, PROMPT_S, f"new client {attempt} took {elapsed:.2f} s")
            self.assertEqual(operator.request("identity").type, nc.RESPONSE)
            self.assertLess(time.monotonic() - start, TIME_BUDGET_S,
                            "too slow: the greeting deadline may have interfered; the result is not meaningful")
            print(f"\n{CROWD_FROM_ONE_ADDRESS} idle connections from 127.0.0.1: meterd held "
                  f"{held} (cap {PER_ADDRESS_CAP}, the greeted client included), "
                  f"pushed out the {len(closed)} oldest; new clients served", file=sys.stderr)
            self.close_all()


def main():
    hard = raise_descriptor_limit()
    if hard != resource.RLIM_INFINITY and hard < NEEDED_DESCRIPTORS:
        print(f"SKIP: the hard RLIMIT_NOFILE is {hard}, below the {NEEDED_DESCRIPTORS} this test needs")
        return SKIP
    for source in SOURCES[1:]:
        try:
            with socket.socket() as probe:
                probe.bind((source, 0))
        except OSError as error:
            print(f"SKIP: cannot use {source} as a loopback source address: {error}")
            return SKIP
    program = unittest.main(verbosity=2, exit=False)
    return 0 if program.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
