#!/usr/bin/python3
"""meterd's native management protocol, end to end, over the plain port and over TLS.

Run with /usr/bin/python3. The client is native_client.py, written from
man/meter-native-protocol.7.scd and sharing no code with meterd. Every check runs against
a real meterd started on 127.0.0.1 with port 0 everywhere (meterd_harness.Meterd); the TLS
client trusts only the meter's own certificate (<state_dir>/tls/device-cert.pem) and checks
the name "localhost".

Covered: hello, anonymous identity, read and time.get, login (token, default credential), time.get,
time.set, demand.reset, test_mode.set, logout, a token replayed on another connection,
the error codes of the catalogue that a client can provoke (1, 2, 3, 4, 6, 7, 9, 10, 11,
12, 13, 19), what each refusal does to the connection, a stalled client not holding up
others, pipelining, and the greeting deadline.
"""

import os
import select
import socket
import ssl
import sys
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import native_client as nc  # noqa: E402
from meterd_harness import Meterd  # noqa: E402

# A refusal that ends the connection must end it at once: well below the 10 s greeting
# deadline, so a server that merely waits for its deadline fails these checks.
CLOSE_TIMEOUT_S = 5.0
# A client not held up by another must be answered within this.
PROMPT_S = 2.0
GREETING_TIMEOUT_S = 10.0
ENERGY_POINTS = ("active_energy_delivered", "active_energy_received", "reactive_energy_delivered",
                 "reactive_energy_received", "apparent_energy_delivered", "apparent_energy_received")
# Wall time over which a 26 kW load (the default scenario) integrates visible energy: the
# meter integrates in steps of one second.
ENERGY_WAIT_S = 2.5


class NativeChecks:
    """The checks shared by both ports; subclasses set TLS."""

    TLS = False
    meterd = None

    @classmethod
    def setUpClass(cls):
        cls.meterd = Meterd().__enter__()
        cls.serial = cls.meterd.ready["meters"][0]["serial_number"]
        cls.port = cls.meterd.ready["secure" if cls.TLS else "native"]
        cls.cafile = cls.meterd.state_dir / "tls" / "device-cert.pem"

    @classmethod
    def tearDownClass(cls):
        status = cls.meterd.stop()
        cls.meterd.close()
        if status != 0:
            raise AssertionError(f"meterd exited with status {status} on SIGTERM")

    # ------------------------------------------------------------ helpers

    def connect(self, greet=True, timeout=nc.DEFAULT_TIMEOUT_S):
        client = nc.NativeClient(self.port, tls=self.TLS, cafile=self.cafile, timeout=timeout)
        self.addCleanup(client.close)
        if greet:
            frame = client.hello()
            self.assertEqual(frame.type, nc.HELLO_OK, frame)
        return client

    def logged_in(self):
        client = self.connect()
        frame = client.login()
        self.assertEqual(frame.type, nc.LOGIN_OK, frame)
        return client

    def raw_socket(self, timeout=CLOSE_TIMEOUT_S):
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        self.addCleanup(sock.close)
        return sock

    def assertError(self, frame, code, request_id=None):
        self.assertEqual(frame.type, nc.ERROR, f"expected error {code}, got {frame!r}")
        self.assertEqual(frame.body.get("code"), code, frame)
        self.assertIsInstance(frame.body.get("message"), str, frame)
        self.assertTrue(frame.body["message"], f"error {code} has an empty message")
        self.assertLessEqual(len(frame.body["message"].encode()), 1024, frame)
        if request_id is not None:
            self.assertEqual(frame.request_id, request_id, frame)

    def assertResult(self, frame, request_id=None):
        self.assertEqual(frame.type, nc.RESPONSE, f"expected a response, got {frame!r}")
        self.assertIn("result", frame.body, frame)
        if request_id is not None:
            self.assertEqual(frame.request_id, request_id, frame)
        return frame.body["result"]

    def assertClosesAfterError(self, client, code):
        """The next frame is error `code` (request id 0 allowed), then the server closes."""
        start = time.monotonic()
        frame = client.recv_frame()
        self.assertError(frame, code)
        self.assertEqual(frame.version, nc.PROTOCOL_VERSION, f"error frame not in version 1: {frame!r}")
        rest = client.expect_closed()
        self.assertEqual(rest, b"", f"bytes after the closing error: {rest!r}")
        self.assertLess(time.monotonic() - start, CLOSE_TIMEOUT_S)
        return frame

    def read(self, client, points=None, auth=None):
        arguments = {} if points is None else {"points": list(points)}
        return self.assertResult(client.request("read", arguments, auth=auth))

    def set_time(self, client, unix_time):
        return self.assertResult(client.request("time.set", {"unix_time": float(unix_time)}, auth=client.session_auth()))

    # ------------------------------------------------------------ hello

    def test_hello_answers_with_version_and_serial_number(self):
        client = self.connect(greet=False)
        frame = client.hello()
        self.assertEqual(frame.type, nc.HELLO_OK, frame)
        self.assertEqual(frame.version, 1, frame)
        self.assertEqual(frame.request_id, 1, frame)
        self.assertEqual(frame.body.get("version"), 1, frame)
        self.assertEqual(frame.body.get("serial_number"), self.serial, frame)
        self.assertIsInstance(frame.body.get("server"), str, frame)

    def test_hello_offering_only_version_2_is_refused(self):
        client = self.connect(greet=False, timeout=CLOSE_TIMEOUT_S)
        client.send(nc.HELLO, {"client": "future-client", "versions": [2]}, request_id=5)
        frame = self.assertClosesAfterError(client, nc.UNSUPPORTED_VERSION)
        self.assertEqual(frame.body.get("supported_versions"), [1], frame)

    # ------------------------------------------------------------ anonymous operations

    def test_identity_anonymously(self):
        result = self.assertResult(self.connect().request("identity"))
        self.assertEqual(result.get("model"), "ION7400", result)
        self.assertEqual(result.get("firmware"), "4.6.0", result)
        self.assertEqual(result.get("serial_number"), self.serial, result)
        self.assertIsInstance(result.get("features"), list, result)
        self.assertIn("bacnet", result["features"], result)
        self.assertNotIn("default_credential", result, "an anonymous caller used no credential")

    def test_read_all_points_anonymously(self):
        result = self.read(self.connect())
        values = result.get("values")
        self.assertIsInstance(values, dict, result)
        for name in ("voltage_an", "current_a", "frequency", "active_power_total", *ENERGY_POINTS):
            self.assertIn(name, values, f"read without points lacks {name}: {sorted(values)}")
        self.assertGreaterEqual(len(values), 40, sorted(values))
        for name, entry in values.items():
            self.assertEqual(set(entry), {"value", "unit"}, f"{name}: {entry}")
            self.assertTrue(entry["value"] is None or nc.is_finite_number(entry["value"]), f"{name}: {entry}")
        self.assertEqual(values["voltage_an"]["unit"], "V")
        self.assertAlmostEqual(values["voltage_an"]["value"], 230, delta=23)  # steady-state scenario
        self.assertAlmostEqual(values["frequency"]["value"], 50, delta=0.5)
        self.assertEqual(values["active_energy_delivered"]["unit"], "kWh")
        self.assertIs(result.get("test_mode"), False, result)
        self.assertTrue(nc.is_finite_number(result.get("meter_time")), result)
        self.assertAlmostEqual(result["meter_time"], time.time(), delta=5)

    def test_read_one_point(self):
        result = self.read(self.connect(), ["voltage_an"])
        self.assertEqual(list(result.get("values", {})), ["voltage_an"], result)
        self.assertEqual(result["values"]["voltage_an"]["unit"], "V")
        self.assertAlmostEqual(result["values"]["voltage_an"]["value"], 230, delta=23)

    def test_read_unknown_point_is_invalid_argument(self):
        client = self.connect()
        self.assertError(client.request("read", {"points": ["voltage_xyz"]}), nc.INVALID_ARGUMENT)
        self.read(client, ["voltage_an"])  # the connection goes on

    # ------------------------------------------------------------ sessions

    def test_login_gives_a_token_and_flags_the_default_credential(self):
        client = self.connect()
        frame = client.login()
        self.assertEqual(frame.type, nc.LOGIN_OK, frame)
        token = frame.body.get("token")
        self.assertIsInstance(token, str, frame)
        self.assertRegex(token, r"^[0-9a-f]{64}$")
        self.assertIs(frame.body.get("default_credential"), True, frame)
        self.assertEqual(frame.body.get("idle_timeout_s"), 300, frame)
        other = self.connect().login()
        self.assertNotEqual(other.body.get("token"), token, "two logins got the same token")

    def test_time_get_with_token(self):
        client = self.logged_in()
        result = self.assertResult(client.request("time.get", auth=client.session_auth()))
        self.assertTrue(nc.is_finite_number(result.get("unix_time")), result)
        self.assertAlmostEqual(result["unix_time"], time.time(), delta=5)
        self.assertRegex(result.get("utc", ""), r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertIs(result.get("time_sync_enabled"), True, result)

    def test_time_set_then_get_then_back_to_now(self):
        client = self.logged_in()
        target = float(int(time.time()) - 86400)  # a day back: a jump a clock check notices
        try:
            answer = self.set_time(client, target)
            self.assertAlmostEqual(answer.get("unix_time"), target, delta=PROMPT_S)
            got = self.assertResult(client.request("time.get", auth=client.session_auth()))
            self.assertAlmostEqual(got["unix_time"], target, delta=PROMPT_S,
                                   msg=f"time.get after time.set({target}) says {got}")
            self.assertEqual(got["utc"], time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(got["unix_time"]))))
            # Anonymous identity sees the same clock.
            identity = self.assertResult(self.connect().request("identity"))
            self.assertAlmostEqual(identity["meter_time"], target, delta=PROMPT_S)
        finally:
            self.set_time(client, time.time())
        got = self.assertResult(client.request("time.get", auth=client.session_auth()))
        self.assertAlmostEqual(got["unix_time"], time.time(), delta=PROMPT_S)

    def test_time_set_needs_a_valid_unix_time(self):
        client = self.logged_in()
        for arguments in ({}, {"unix_time": "now"}, {"unix_time": -1}, {"unix_time": 2.0 ** 33}):
            with self.subTest(arguments=arguments):
                self.assertError(client.request("time.set", arguments, auth=client.session_auth()), nc.INVALID_ARGUMENT)
        got = self.assertResult(client.request("time.get", auth=client.session_auth()))
        self.assertAlmostEqual(got["unix_time"], time.time(), delta=PROMPT_S)

    def test_demand_reset(self):
        client = self.logged_in()
        result = self.assertResult(client.request("demand.reset", auth=client.session_auth()))
        self.assertTrue(nc.is_finite_number(result.get("peak_demand_kw")), result)
        peak = self.read(client, ["active_power_peak_demand"])["values"]["active_power_peak_demand"]
        self.assertEqual(peak["unit"], "kW")
        # Right after a reset the peak is at most the present demand (about 26 kW).
        self.assertLessEqual(peak["value"], 40, peak)

    def test_test_mode_freezes_energies_and_counts_test_energy(self):
        client = self.logged_in()
        auth = client.session_auth()
        try:
            self.assertEqual(self.assertResult(client.request("test_mode.set", {"enabled": True}, auth=auth)),
                             {"test_mode": True})
            first = self.read(client)
            self.assertIs(first.get("test_mode"), True, first)
            self.assertIn("test_energy", first, "read in test mode lacks test_energy")
            time.sleep(ENERGY_WAIT_S)
            second = self.read(client)
            self.assertIs(second.get("test_mode"), True, second)
            for name in ENERGY_POINTS:
                self.assertEqual(second["values"][name]["value"], first["values"][name]["value"],
                                 f"{name} moved in test mode")
            self.assertGreater(second["test_energy"]["active_energy_delivered_kwh"],
                               first["test_energy"]["active_energy_delivered_kwh"],
                               f"test energy did not grow in {ENERGY_WAIT_S} s: {first['test_energy']} then "
                               f"{second['test_energy']}")
            self.assertIs(self.assertResult(self.connect().request("identity")).get("test_mode"), True)
        finally:
            leaving = time.monotonic()
            off = self.assertResult(client.request("test_mode.set", {"enabled": False}, auth=auth))
        self.assertEqual(off, {"test_mode": False})
        after = self.read(client)
        since_leaving = time.monotonic() - leaving
        self.assertIs(after.get("test_mode"), False, after)
        self.assertNotIn("test_energy", after, after)
        # Billing energy continues from where it was frozen, not from what test mode counted.
        # What the load delivers from leaving test mode to the read, plus the one-second
        # integration step, is all the billing registers may have gained: a slow machine
        # stretches that time, so it is measured rather than assumed.
        frozen = first["values"]["active_energy_delivered"]["value"]
        power_kw = max(abs(after["values"]["active_power_total"]["value"]), 1.0)
        allowed_kwh = power_kw * (since_leaving + 1.0) / 3600.0 * 1.5
        gained = after["values"]["active_energy_delivered"]["value"] - frozen
        self.assertLess(gained, allowed_kwh, f"energy jumped on leaving test mode: {frozen} -> {after['values']} "
                        f"({since_leaving:.2f} s after leaving it)")
        time.sleep(ENERGY_WAIT_S)
        later = self.read(client, ["active_energy_delivered"])
        self.assertGreater(later["values"]["active_energy_delivered"]["value"],
                           after["values"]["active_energy_delivered"]["value"], "energy stopped after test mode")

    def test_test_mode_needs_a_boolean(self):
        client = self.logged_in()
        self.assertError(client.request("test_mode.set", {"enabled": 1}, auth=client.session_auth()),
                         nc.INVALID_ARGUMENT)
        self.assertIs(self.read(client, ["voltage_an"]).get("test_mode"), False)

    def test_logout_then_the_token_is_refused(self):
        client = self.logged_in()
        token = client.token
        self.assertResult(client.request("time.get", auth={"token": token}))
        frame = client.logout()
        self.assertEqual(frame.type, nc.LOGOUT_OK, frame)
        self.assertEqual(frame.body, {}, frame)
        self.assertError(client.request("time.get", auth={"token": token}), nc.SESSION_EXPIRED)
        self.assertError(client.logout(token), nc.SESSION_EXPIRED)
        # Still usable: logging in again works.
        self.assertEqual(client.login().type, nc.LOGIN_OK)

    def test_token_replayed_on_another_connection_is_refused(self):
        owner = self.logged_in()
        thief = self.connect()
        self.assertError(thief.request("time.get", auth={"token": owner.token}), nc.SESSION_WRONG_CONNECTION)
        self.assertError(thief.request("demand.reset", auth={"token": owner.token}), nc.SESSION_WRONG_CONNECTION)
        # The owner's session survives the attempt...
        self.assertResult(owner.request("time.get", auth=owner.session_auth()))
        # ... and ends with its connection.
        token = owner.token
        owner.close()
        deadline = time.monotonic() + PROMPT_S
        while True:
            frame = thief.request("time.get", auth={"token": token})
            if frame.body.get("code") == nc.SESSION_EXPIRED or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertError(frame, nc.SESSION_EXPIRED)

    def test_logout_with_another_connections_token(self):
        owner = self.logged_in()
        thief = self.connect()
        # The spec's code for "the token belongs to another connection" is 10, whatever the message.
        self.assertError(thief.logout(owner.token), nc.SESSION_WRONG_CONNECTION)
        self.assertResult(owner.request("time.set", {"unix_time": time.time()}, auth=owner.session_auth()))

    def test_unknown_token_is_session_expired(self):
        client = self.connect()
        self.assertError(client.request("time.get", auth={"token": "0" * 64}), nc.SESSION_EXPIRED)
        self.assertError(client.request("time.get", auth={"token": "not-a-token"}), nc.SESSION_EXPIRED)

    # ------------------------------------------------------------ authentication errors

    def test_time_get_anonymously(self):
        # Reading the clock is a read: meterd serves time.get without auth (as identity and read),
        # and `meterctl time get` relies on it.
        result = self.assertResult(self.connect().request("time.get"))
        self.assertAlmostEqual(result["unix_time"], time.time(), delta=5)
        self.assertNotIn("default_credential", result)

    def test_operations_needing_auth_refused_without_it(self):
        client = self.connect()
        for operation, arguments in (("time.set", {"unix_time": 0.0}), ("demand.reset", {}),
                                     ("test_mode.set", {"enabled": True})):
            with self.subTest(operation=operation):
                self.assertError(client.request(operation, arguments), nc.AUTHENTICATION_REQUIRED)
        # Nothing happened: the clock was not set to 1970, test mode is off.
        identity = self.assertResult(client.request("identity"))
        self.assertAlmostEqual(identity["meter_time"], time.time(), delta=5)
        self.assertIs(identity["test_mode"], False)

    def test_unknown_operation(self):
        client = self.logged_in()
        self.assertError(client.request("firmware.explode", auth=client.session_auth()), nc.UNKNOWN_OPERATION)
        self.assertError(client.request("firmware.explode", auth={"user": nc.FACTORY_USER, "password": "0"}),
                         nc.UNKNOWN_OPERATION)
        self.assertResult(client.request("identity"))

    def test_wrong_password(self):
        client = self.connect()
        self.assertError(client.login(nc.FACTORY_USER, "1"), nc.AUTHENTICATION_FAILED)
        self.assertError(client.login("User2", "0"), nc.AUTHENTICATION_FAILED)
        self.assertError(client.login("user1", "0"), nc.AUTHENTICATION_FAILED)
        self.assertError(client.request("time.get", auth={"user": nc.FACTORY_USER, "password": "1"}),
                         nc.AUTHENTICATION_FAILED)
        self.assertIsNone(client.token)
        self.assertEqual(client.login().type, nc.LOGIN_OK)

    def test_legacy_auth_with_the_factory_password(self):
        client = self.connect()
        result = self.assertResult(client.request("time.get", auth={"user": nc.FACTORY_USER, "password": "0"}))
        self.assertAlmostEqual(result["unix_time"], time.time(), delta=5)
        self.assertIs(result.get("default_credential"), True, result)

    def test_seven_character_password_needs_a_session(self):
        client = self.connect()
        # Through login a 7-character password is judged on its merits: wrong, not too long.
        self.assertError(client.login(nc.FACTORY_USER, "1234567"), nc.AUTHENTICATION_FAILED)
        # Per request it is refused for its length, before it is checked.
        self.assertError(client.request("time.get", auth={"user": nc.FACTORY_USER, "password": "1234567"}),
                         nc.PASSWORD_NEEDS_SESSION)
        self.assertError(client.request("read", auth={"user": nc.FACTORY_USER, "password": "abcdefgh"}),
                         nc.PASSWORD_NEEDS_SESSION)
        # Six characters is still legacy territory: wrong, not too long.
        self.assertError(client.request("time.get", auth={"user": nc.FACTORY_USER, "password": "123456"}),
                         nc.AUTHENTICATION_FAILED)

    # ------------------------------------------------------------ framing errors

    def test_request_before_hello(self):
        client = self.connect(greet=False, timeout=CLOSE_TIMEOUT_S)
        client.send(nc.REQUEST, nc.NativeClient.request_body("identity"), request_id=9)
        frame = self.assertClosesAfterError(client, nc.UNEXPECTED_MESSAGE)
        self.assertIn(frame.request_id, (0, 9), frame)

    def test_login_before_hello(self):
        client = self.connect(greet=False, timeout=CLOSE_TIMEOUT_S)
        client.send(nc.LOGIN, {"user": nc.FACTORY_USER, "password": "0"})
        self.assertClosesAfterError(client, nc.UNEXPECTED_MESSAGE)

    def test_frame_of_version_2(self):
        client = self.connect(greet=False, timeout=CLOSE_TIMEOUT_S)
        client.send(nc.HELLO, {"client": "future-client", "versions": [2]}, request_id=3, version=2)
        frame = self.assertClosesAfterError(client, nc.UNSUPPORTED_VERSION)
        self.assertEqual(frame.body.get("supported_versions"), [1], frame)

    def test_version_byte_alone_is_enough_to_refuse(self):
        # "It never waits for more bytes": magic and version, nothing else.
        client = self.connect(greet=False, timeout=CLOSE_TIMEOUT_S)
        client.send_bytes(b"MC\x02")
        frame = self.assertClosesAfterError(client, nc.UNSUPPORTED_VERSION)
        self.assertEqual(frame.body.get("supported_versions"), [1], frame)

    def test_frame_of_version_2_after_hello(self):
        client = self.connect(timeout=CLOSE_TIMEOUT_S)
        client.send(nc.REQUEST, nc.NativeClient.request_body("identity"), version=2)
        frame = self.assertClosesAfterError(client, nc.UNSUPPORTED_VERSION)
        self.assertEqual(frame.body.get("supported_versions"), [1], frame)

    def test_unknown_message_type(self):
        client = self.connect(timeout=CLOSE_TIMEOUT_S)
        client.send_bytes(nc.HEADER.pack(b"MC", 1, 0x7F, 4, 1) + b"\xa0")
        self.assertClosesAfterError(client, nc.UNKNOWN_MESSAGE_TYPE)

    def test_body_too_large_refused_without_waiting_for_the_body(self):
        client = self.connect(timeout=CLOSE_TIMEOUT_S)
        client.send_bytes(nc.HEADER.pack(b"MC", 1, nc.REQUEST, 4, nc.MAX_BODY + 1))
        self.assertClosesAfterError(client, nc.BODY_TOO_LARGE)

    def test_body_outside_the_cbor_subset(self):
        client = self.connect(timeout=CLOSE_TIMEOUT_S)
        # Tag 1 (epoch time) wrapping the map: tags are excluded.
        body = b"\xc1" + nc.cbor_encode(nc.NativeClient.request_body("identity"))
        client.send_bytes(nc.encode_frame(nc.REQUEST, 8, body))
        frame = client.recv_frame()
        self.assertError(frame, nc.MALFORMED_BODY, request_id=8)

    # ------------------------------------------------------------ concurrency

    def test_half_a_frame_does_not_hold_up_other_clients(self):
        stalled = self.connect()
        whole = nc.encode_frame(nc.REQUEST, 77, nc.NativeClient.request_body("read", {"points": ["voltage_an"]}))
        stalled.send_bytes(whole[:nc.HEADER_SIZE + 5])
        silent = self.connect(greet=False)
        silent.send_bytes(whole[:5])  # half a header, no hello
        for attempt in range(3):
            start = time.monotonic()
            other = self.connect()
            self.assertResult(other.request("identity"))
            elapsed = time.monotonic() - start
            self.assertLess(elapsed, PROMPT_S, f"client {attempt} waited {elapsed:.2f} s behind a stalled one")
            other.close()
        # The stalled client finishes its frame and gets its answer.
        stalled.send_bytes(whole[nc.HEADER_SIZE + 5:])
        frame = stalled.recv_frame()
        self.assertEqual(list(self.assertResult(frame, request_id=77)["values"]), ["voltage_an"])

    def test_pipelined_requests_answered_in_order(self):
        client = self.connect(greet=False)
        requests = [
            (1, nc.HELLO, {"client": "pipeline", "versions": [1]}, nc.HELLO_OK, None),
            (100, nc.REQUEST, nc.NativeClient.request_body("identity"), nc.RESPONSE, None),
            (7, nc.REQUEST, nc.NativeClient.request_body("demand.reset"), nc.ERROR, nc.AUTHENTICATION_REQUIRED),
            (0xFFFFFFFF, nc.REQUEST, nc.NativeClient.request_body("read", {"points": ["voltage_an"]}), nc.RESPONSE,
             None),
            (3, nc.LOGIN, {"user": nc.FACTORY_USER, "password": "0"}, nc.LOGIN_OK, None),
            (55, nc.REQUEST, nc.NativeClient.request_body("read", {"points": ["nope"]}), nc.ERROR,
             nc.INVALID_ARGUMENT),
            (2, nc.REQUEST, nc.NativeClient.request_body("read", {"points": ["frequency"]}), nc.RESPONSE, None),
        ]
        # Plus a long run of reads, each naming its own id.
        requests += [(1000 + i, nc.REQUEST, nc.NativeClient.request_body("read", {"points": ["current_a"]}),
                      nc.RESPONSE, None) for i in range(50)]
        client.send_bytes(b"".join(nc.encode_frame(kind, rid, body) for rid, kind, body, _, _ in requests))
        token = None
        for rid, _, _, expected, code in requests:
            frame = client.recv_frame()
            self.assertEqual((frame.request_id, frame.type), (rid, expected), frame)
            if code is not None:
                self.assertError(frame, code)
            if frame.type == nc.LOGIN_OK:
                token = frame.body["token"]
        self.assertEqual(client.buffer, b"", "more answers than requests")
        # The login in the middle of the pipeline produced a usable token.
        self.assertResult(client.request("time.get", auth={"token": token}, request_id=9))


class PlainPortTest(NativeChecks, unittest.TestCase):
    TLS = False

    def test_http_request_on_the_plain_port(self):
        sock = self.raw_socket()
        sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
        client = nc.NativeClient.__new__(nc.NativeClient)
        client.sock, client.buffer, client.tls = sock, b"", False
        frame = self.assertClosesAfterError(client, nc.MALFORMED_FRAME)
        self.assertEqual(frame.request_id, 0, frame)

    def test_tls_client_hello_on_the_plain_port(self):
        # A TLS client pointed at the plain port: its ClientHello is not a native frame.
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = nc.tls_context(self.cafile).wrap_bio(incoming, outgoing, server_hostname="localhost")
        with self.assertRaises(ssl.SSLWantReadError):
            tls.do_handshake()
        client_hello = outgoing.read()
        self.assertEqual(client_hello[:1], b"\x16")
        sock = self.raw_socket()
        sock.sendall(client_hello)
        client = nc.NativeClient.__new__(nc.NativeClient)
        client.sock, client.buffer, client.tls = sock, b"", False
        self.assertClosesAfterError(client, nc.MALFORMED_FRAME)


class TlsPortTest(NativeChecks, unittest.TestCase):
    TLS = True

    def test_plain_text_on_the_tls_port_is_dropped(self):
        for garbage in (b"GET / HTTP/1.1\r\n\r\n",
                        nc.encode_frame(nc.HELLO, 1, {"client": "plain", "versions": [1]})):
            with self.subTest(garbage=garbage[:16]):
                sock = self.raw_socket()
                sock.sendall(garbage)
                received = b""
                start = time.monotonic()
                try:
                    while True:
                        chunk = sock.recv(4096)
                        if not chunk:
                            break
                        received += chunk
                except ConnectionResetError:
                    pass
                except socket.timeout:
                    self.fail(f"the TLS port kept a plain-text connection open ({received!r})")
                self.assertLess(time.monotonic() - start, CLOSE_TIMEOUT_S)
                self.assertFalse(received.startswith(b"MC"), f"the TLS port answered in plain text: {received!r}")

    def test_certificate_names_the_meter(self):
        client = self.connect()
        certificate = client.sock.getpeercert()
        subject = dict(item for rdn in certificate["subject"] for item in rdn)
        self.assertEqual(subject.get("commonName"), self.serial, certificate)
        self.assertIn(client.sock.version(), ("TLSv1.2", "TLSv1.3"))


class GreetingDeadlineTest(unittest.TestCase):
    """A connection that does not finish its TLS handshake and hello within 10 s is closed;
    a greeted one is not."""

    def test_greeting_deadline(self):
        with Meterd() as meterd:
            plain, secure = meterd.ready["native"], meterd.ready["secure"]
            cafile = meterd.state_dir / "tls" / "device-cert.pem"
            silent_plain = socket.create_connection(("127.0.0.1", plain), timeout=1)
            silent_tls = socket.create_connection(("127.0.0.1", secure), timeout=1)  # no handshake
            handshaken = nc.open_socket(secure, tls=True, cafile=cafile, timeout=1)  # handshake, no hello
            greeted = nc.NativeClient(plain)
            self.assertEqual(greeted.hello().type, nc.HELLO_OK)
            start = time.monotonic()
            waiting = {"plain, silent": silent_plain, "TLS, no handshake": silent_tls,
                       "TLS, no hello": handshaken}
            closed_at = {}
            try:
                while waiting and time.monotonic() - start < GREETING_TIMEOUT_S + 5:
                    ready, _, _ = select.select(list(waiting.values()), [], [], 0.2)
                    for name, sock in list(waiting.items()):
                        if sock not in ready:
                            continue
                        try:
                            data = sock.recv(4096)
                        except (ssl.SSLWantReadError, socket.timeout):
                            continue
                        except (ConnectionResetError, ssl.SSLError):
                            data = b""
                        if not data:
                            closed_at[name] = time.monotonic() - start
                            del waiting[name]
                self.assertFalse(waiting, f"still open {GREETING_TIMEOUT_S + 5:.0f} s later: {sorted(waiting)}")
                for name, when in closed_at.items():
                    self.assertGreater(when, GREETING_TIMEOUT_S - 2, f"{name} closed after {when:.1f} s")
                # The greeted connection outlived the deadline.
                frame = greeted.request("identity")
                self.assertEqual(frame.type, nc.RESPONSE, frame)
                print(f"greeting deadline: closed after {closed_at}", file=sys.stderr)
            finally:
                for sock in (silent_plain, silent_tls, handshaken):
                    sock.close()
                greeted.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
