"""A minimal, independent client of meterd's native management protocol, for the tests.

Written from man/meter-native-protocol.7.scd alone (no code shared with libproto), so the
integration tests check the server against the specification rather than against its own
codec: a CBOR (RFC 8949) encoder and decoder for the subset the protocol allows, the
12-byte frame header, and plain or TLS sockets.

TLS verification: the meter's self-signed certificate (<state_dir>/tls/device-cert.pem)
is the only trust anchor, and the name checked is "localhost" (the certificate's
subjectAltName holds DNS:localhost and IP:127.0.0.1).
"""

import math
import socket
import ssl
import struct

MAGIC = b"MC"
PROTOCOL_VERSION = 1
HEADER = struct.Struct(">2sBBII")  # magic, version, type, request id, body length
HEADER_SIZE = HEADER.size  # 12
MAX_BODY = 262144

# MESSAGE CATALOGUE
HELLO, HELLO_OK, ERROR = 0x01, 0x02, 0x03
LOGIN, LOGIN_OK, LOGOUT, LOGOUT_OK = 0x10, 0x11, 0x12, 0x13
REQUEST, RESPONSE = 0x20, 0x21
STREAM_OPEN, STREAM_CHUNK, STREAM_ACK, STREAM_CANCEL = 0x30, 0x31, 0x32, 0x33
MESSAGE_NAMES = {
    HELLO: "hello", HELLO_OK: "hello_ok", ERROR: "error", LOGIN: "login", LOGIN_OK: "login_ok",
    LOGOUT: "logout", LOGOUT_OK: "logout_ok", REQUEST: "request", RESPONSE: "response",
    STREAM_OPEN: "stream_open", STREAM_CHUNK: "stream_chunk", STREAM_ACK: "stream_ack",
    STREAM_CANCEL: "stream_cancel",
}

# ERROR CODES
MALFORMED_FRAME = 1
UNSUPPORTED_VERSION = 2
UNKNOWN_MESSAGE_TYPE = 3
BODY_TOO_LARGE = 4
MALFORMED_BODY = 5
AUTHENTICATION_REQUIRED = 6
AUTHENTICATION_FAILED = 7
PERMISSION_DENIED = 8
SESSION_EXPIRED = 9
SESSION_WRONG_CONNECTION = 10
PASSWORD_NEEDS_SESSION = 11
UNKNOWN_OPERATION = 12
INVALID_ARGUMENT = 13
NOT_AVAILABLE = 14
BUSY = 15
INTERNAL_ERROR = 16
TIME_SYNC_DISABLED = 17
LOCKED_OUT = 18
UNEXPECTED_MESSAGE = 19

FACTORY_USER = "User1"
FACTORY_PASSWORD = "0"
DEFAULT_TIMEOUT_S = 10.0


class CborError(ValueError):
    pass


class ConnectionClosed(ConnectionError):
    """The server closed the connection (EOF, or a reset)."""


class ProtocolError(AssertionError):
    """The server sent something the specification does not allow."""


# ---------------------------------------------------------------- CBOR (RFC 8949 subset)

def _head(major, argument):
    if argument < 24:
        return bytes([(major << 5) | argument])
    if argument < 0x100:
        return bytes([(major << 5) | 24, argument])
    if argument < 0x10000:
        return bytes([(major << 5) | 25]) + struct.pack(">H", argument)
    if argument < 0x100000000:
        return bytes([(major << 5) | 26]) + struct.pack(">I", argument)
    if argument < 0x10000000000000000:
        return bytes([(major << 5) | 27]) + struct.pack(">Q", argument)
    raise CborError(f"integer {argument} does not fit 64 bits")


def cbor_encode(value):
    """Definite lengths, text map keys, floats as float64."""
    if value is None:
        return b"\xf6"
    if value is False:
        return b"\xf4"
    if value is True:
        return b"\xf5"
    if isinstance(value, int):
        return _head(0, value) if value >= 0 else _head(1, -1 - value)
    if isinstance(value, float):
        return b"\xfb" + struct.pack(">d", value)
    if isinstance(value, str):
        data = value.encode("utf-8")
        return _head(3, len(data)) + data
    if isinstance(value, (bytes, bytearray)):
        return _head(2, len(value)) + bytes(value)
    if isinstance(value, (list, tuple)):
        return _head(4, len(value)) + b"".join(cbor_encode(item) for item in value)
    if isinstance(value, dict):
        out = [_head(5, len(value))]
        for key, item in value.items():
            if not isinstance(key, str):
                raise CborError(f"map key {key!r} is not text")
            out.append(cbor_encode(key))
            out.append(cbor_encode(item))
        return b"".join(out)
    raise CborError(f"cannot encode {type(value).__name__}")


class _Reader:
    def __init__(self, data):
        self.data = bytes(data)
        self.at = 0
        self.depth = 0

    def take(self, count):
        if count > len(self.data) - self.at:
            raise CborError("truncated CBOR")
        chunk = self.data[self.at:self.at + count]
        self.at += count
        return chunk

    def item(self):
        initial = self.take(1)[0]
        major, info = initial >> 5, initial & 0x1F
        if major == 7:
            if info == 20:
                return False
            if info == 21:
                return True
            if info == 22:
                return None
            if info == 25:
                return struct.unpack(">e", self.take(2))[0]
            if info == 26:
                return struct.unpack(">f", self.take(4))[0]
            if info == 27:
                return struct.unpack(">d", self.take(8))[0]
            raise CborError(f"simple value {info} is outside the protocol's CBOR subset")
        if info < 24:
            argument = info
        elif info <= 27:
            argument = int.from_bytes(self.take(1 << (info - 24)), "big")
        elif info == 31:
            raise CborError("indefinite length is outside the protocol's CBOR subset")
        else:
            raise CborError(f"reserved additional information {info}")
        if major == 0:
            return argument
        if major == 1:
            return -1 - argument
        if major == 2:
            return self.take(argument)
        if major == 3:
            try:
                return self.take(argument).decode("utf-8", errors="strict")
            except UnicodeDecodeError as error:
                raise CborError(f"invalid UTF-8: {error}") from None
        if major == 6:
            raise CborError("tags are outside the protocol's CBOR subset")
        self.depth += 1
        if self.depth > 16:
            raise CborError("nested deeper than 16 levels")
        try:
            if major == 4:
                return [self.item() for _ in range(argument)]
            result = {}
            for _ in range(argument):
                key = self.item()
                if not isinstance(key, str):
                    raise CborError(f"map key {key!r} is not text")
                result[key] = self.item()
            return result
        finally:
            self.depth -= 1


def cbor_decode(data):
    """Decodes exactly one item; anything after it is an error."""
    reader = _Reader(data)
    value = reader.item()
    if reader.at != len(reader.data):
        raise CborError(f"{len(reader.data) - reader.at} bytes after the CBOR item")
    return value


# ---------------------------------------------------------------- frames

def encode_frame(message_type, request_id, body, version=PROTOCOL_VERSION):
    payload = body if isinstance(body, (bytes, bytearray)) else cbor_encode(body)
    return HEADER.pack(MAGIC, version, message_type, request_id, len(payload)) + bytes(payload)


class Frame:
    def __init__(self, version, message_type, request_id, body):
        self.version = version
        self.type = message_type
        self.request_id = request_id
        self.body = body

    @property
    def name(self):
        return MESSAGE_NAMES.get(self.type, f"0x{self.type:02x}")

    def __repr__(self):
        return f"Frame({self.name}, id={self.request_id}, v{self.version}, {self.body!r})"


def decode_header(data):
    magic, version, message_type, request_id, length = HEADER.unpack(data[:HEADER_SIZE])
    if magic != MAGIC:
        raise ProtocolError(f"server frame has magic {magic!r}, not {MAGIC!r}")
    if length > MAX_BODY:
        raise ProtocolError(f"server frame announces a {length}-byte body")
    return version, message_type, request_id, length


# ---------------------------------------------------------------- connections

def tls_context(cafile):
    """Trusts only the meter's own certificate and checks the name "localhost"."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_verify_locations(cafile=str(cafile))
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def open_socket(port, *, tls=False, cafile=None, timeout=DEFAULT_TIMEOUT_S, source=None):
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                    source_address=(source, 0) if source else None)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if not tls:
        return sock
    try:
        return tls_context(cafile).wrap_socket(sock, server_hostname="localhost")
    except BaseException:
        sock.close()
        raise


class NativeClient:
    """One connection. Requests get increasing ids unless the caller gives one."""

    def __init__(self, port, *, tls=False, cafile=None, timeout=DEFAULT_TIMEOUT_S, source=None):
        self.sock = open_socket(port, tls=tls, cafile=cafile, timeout=timeout, source=source)
        self.tls = tls
        self.next_id = 1
        self.buffer = b""
        self.token = None

    # -- raw bytes
    def send_bytes(self, data):
        self.sock.sendall(data)

    def _fill(self, count):
        while len(self.buffer) < count:
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, BrokenPipeError, ssl.SSLEOFError) as error:
                raise ConnectionClosed(f"connection reset: {error}") from None
            if not chunk:
                raise ConnectionClosed(f"connection closed with {len(self.buffer)} bytes of a frame pending")
            self.buffer += chunk

    def recv_frame(self):
        self._fill(HEADER_SIZE)
        version, message_type, request_id, length = decode_header(self.buffer)
        self._fill(HEADER_SIZE + length)
        payload = self.buffer[HEADER_SIZE:HEADER_SIZE + length]
        self.buffer = self.buffer[HEADER_SIZE + length:]
        body = cbor_decode(payload)
        if not isinstance(body, dict):
            raise ProtocolError(f"server body is not a map: {body!r}")
        return Frame(version, message_type, request_id, body)

    def expect_closed(self):
        """Reads until EOF (within the socket timeout); returns what arrived before it."""
        received = self.buffer
        self.buffer = b""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, ssl.SSLEOFError, ssl.SSLZeroReturnError):
                return received
            except socket.timeout:
                raise AssertionError(f"the server kept the connection open (received {received!r})") from None
            if not chunk:
                return received
            received += chunk

    # -- frames
    def take_id(self, request_id=None):
        if request_id is None:
            request_id = self.next_id
            self.next_id += 1
        return request_id

    def send(self, message_type, body, request_id=None, version=PROTOCOL_VERSION):
        request_id = self.take_id(request_id)
        self.send_bytes(encode_frame(message_type, request_id, body, version))
        return request_id

    def exchange(self, message_type, body, request_id=None):
        request_id = self.send(message_type, body, request_id)
        frame = self.recv_frame()
        if frame.request_id != request_id:
            raise ProtocolError(f"answer to request {request_id} carries id {frame.request_id}: {frame!r}")
        return frame

    # -- messages
    def hello(self, versions=(PROTOCOL_VERSION,)):
        frame = self.exchange(HELLO, {"client": "meterctl-integration-test", "versions": list(versions)})
        return frame

    def login(self, user=FACTORY_USER, password=FACTORY_PASSWORD):
        frame = self.exchange(LOGIN, {"user": user, "password": password})
        if frame.type == LOGIN_OK:
            self.token = frame.body["token"]
        return frame

    def logout(self, token=None):
        return self.exchange(LOGOUT, {"token": token or self.token})

    @staticmethod
    def request_body(operation, arguments=None, auth=None):
        body = {"operation": operation, "arguments": arguments or {}}
        if auth is not None:
            body["auth"] = auth
        return body

    def request(self, operation, arguments=None, auth=None, request_id=None):
        return self.exchange(REQUEST, self.request_body(operation, arguments, auth), request_id)

    def session_auth(self):
        return {"token": self.token}

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def is_finite_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
