#!/usr/bin/python3
"""meterd seen by an independent Modbus TCP client: pymodbus 3.0 (Debian's python3-pymodbus).

Run with /usr/bin/python3 (the interpreter that owns python3-pymodbus). Checks the values
and encodings of the ION7400 map, function 4 against function 3, device identification
(function 43 / MEI 14), writes under each Modbus access setting, exception codes, and that
many concurrent clients are served while one client sits on half a frame.

Addresses below are zero-based PDU addresses: register N of the map is address N - 1.
"""

import os
import socket
import struct
import sys
import threading
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from meterd_harness import Meterd  # noqa: E402
from pymodbus.client import ModbusTcpClient  # noqa: E402
from pymodbus.constants import DeviceInformation  # noqa: E402
from pymodbus.mei_message import ReadDeviceInformationRequest  # noqa: E402
from pymodbus.pdu import ExceptionResponse  # noqa: E402

UNIT = 1
# meterd answers in milliseconds; this only bounds a hung server. pymodbus 3.0 wants an int.
CLIENT_TIMEOUT_S = 10

ENERGY_KWH = 2699             # register 2700, float32 active_energy_delivered
CURRENT_A = 2999              # register 3000, float32
VOLTAGE_AN = 3027             # register 3028, float32
ACTIVE_POWER_A = 3053         # register 3054: phases a, b, c then total at 3059 (register 3060)
ACTIVE_POWER_TOTAL = 3059
ENERGY_WH = 3203              # register 3204, int64 active_energy_delivered_wh
UNIX_TIME = 7999              # register 8000, u32
CONFIG_BLOCK = 8099           # registers 8100..8106: demand and transformer settings
DEMAND_SUBINTERVALS = 8100    # register 8101, u16, 1..60, must divide the demand window
PT_PRIMARY = 8101             # register 8102, u32, 1..1000000
PT_SECONDARY = 8103           # register 8104, u16, 1..690
UNMAPPED = 4999               # register 5000: in no block of the map

# Modbus Application Protocol v1.1b3, 7: exception codes.
ILLEGAL_FUNCTION = 0x01
ILLEGAL_DATA_ADDRESS = 0x02
ILLEGAL_DATA_VALUE = 0x03
GATEWAY_TARGET_FAILED = 0x0B

# 6.21: object ids of the basic category.
VENDOR_NAME, PRODUCT_CODE, MAJOR_MINOR_REVISION = 0x00, 0x01, 0x02


def to_float32(words):
    return struct.unpack(">f", struct.pack(">HH", *words))[0]


def to_u32(words):
    return struct.unpack(">I", struct.pack(">HH", *words))[0]


def to_i64(words):
    return struct.unpack(">q", struct.pack(">HHHH", *words))[0]


def connect(port):
    client = ModbusTcpClient("127.0.0.1", port=port, timeout=CLIENT_TIMEOUT_S, retries=0)
    if not client.connect():
        raise AssertionError(f"cannot connect to meterd on 127.0.0.1:{port}")
    return client


class MeterTestCase(unittest.TestCase):
    """Starts one meterd for the class with METERD_ARGS, and one client on it."""

    METERD_ARGS = ()

    @classmethod
    def setUpClass(cls):
        cls.meter = Meterd(*cls.METERD_ARGS).start()
        cls.addClassCleanup(cls.meter.close)
        cls.client = connect(cls.meter.port)
        cls.addClassCleanup(cls.client.close)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        status = cls.meter.stop()
        if status != 0:
            raise AssertionError(f"meterd exited with status {status} on SIGTERM:\n{cls.meter.log_tail()}")

    def read(self, address, count, function=3, unit=UNIT, client=None):
        client = client or self.client
        reader = client.read_holding_registers if function == 3 else client.read_input_registers
        response = reader(address, count, slave=unit)
        self.assertFalse(response.isError(), f"function {function} at address {address} x{count}: {response}")
        self.assertEqual(len(response.registers), count)
        return response.registers

    def assert_exception(self, response, code, what):
        self.assertIsInstance(response, ExceptionResponse, f"{what}: expected exception {code}, got {response}")
        self.assertEqual(response.exception_code, code, f"{what}: {response}")

    def device_information(self, read_code):
        request = ReadDeviceInformationRequest(read_code=read_code, object_id=0x00, unit=UNIT)
        response = self.client.execute(request)
        self.assertFalse(response.isError(), f"device identification: {response}")
        return {object_id: value.decode() for object_id, value in response.information.items()}


class ReadOnlyMeterTest(MeterTestCase):
    """A new meter: default access, which is read-only."""

    def test_voltage(self):
        self.assertTrue(200 < to_float32(self.read(VOLTAGE_AN, 2)) < 260)

    def test_current(self):
        self.assertTrue(1 < to_float32(self.read(CURRENT_A, 2)) < 1000)

    def test_active_power_total_is_the_sum_of_phases(self):
        words = self.read(ACTIVE_POWER_A, 8)  # a, b, c, total in one request: one snapshot
        phases = [to_float32(words[i:i + 2]) for i in (0, 2, 4)]
        total = to_float32(words[6:8])
        self.assertGreater(total, 0)
        self.assertAlmostEqual(total, sum(phases), delta=0.01 * abs(total) + 0.01)
        self.assertAlmostEqual(to_float32(self.read(ACTIVE_POWER_TOTAL, 2)), total, delta=0.1 * total)

    def test_energy_float32_and_int64_agree_and_grow(self):
        kwh = to_float32(self.read(ENERGY_KWH, 2))
        wh = to_i64(self.read(ENERGY_WH, 4))
        self.assertGreaterEqual(kwh, 0)
        self.assertGreaterEqual(wh, 0)
        # Two requests: up to a few integration steps (seconds) of ~30 kW apart, plus float32 rounding.
        self.assertAlmostEqual(wh, kwh * 1000, delta=100 + 1e-6 * wh)
        # Energy integrates once per meter second; it must grow well within the deadline.
        deadline = time.monotonic() + 15
        while True:
            later = to_i64(self.read(ENERGY_WH, 4))
            self.assertGreaterEqual(later, wh, "energy went backwards")
            if later > wh:
                break
            self.assertLess(time.monotonic(), deadline, f"energy stuck at {wh} Wh")
            time.sleep(0.1)

    def test_unix_time(self):
        before = time.time()
        meter_time = to_u32(self.read(UNIX_TIME, 2))
        after = time.time()
        self.assertLessEqual(abs(meter_time - (before + after) / 2), 2)

    def test_function_4_reads_what_function_3_reads(self):
        # The configuration block does not move, so both functions must agree exactly.
        self.assertEqual(self.read(CONFIG_BLOCK, 7, function=4), self.read(CONFIG_BLOCK, 7, function=3))
        self.assertAlmostEqual(to_float32(self.read(VOLTAGE_AN, 2, function=4)),
                               to_float32(self.read(VOLTAGE_AN, 2, function=3)), delta=5)
        self.assertLessEqual(abs(to_u32(self.read(UNIX_TIME, 2, function=4)) - time.time()), 2)

    def test_config_defaults(self):
        words = self.read(CONFIG_BLOCK, 7)
        self.assertEqual(words[0], 15)                 # demand_interval_minutes
        self.assertEqual(words[1], 15)                 # demand_subintervals
        self.assertEqual(to_u32(words[2:4]), 230)      # pt_primary
        self.assertEqual(words[4], 230)                # pt_secondary

    def test_device_identification_basic(self):
        objects = self.device_information(DeviceInformation.Basic)
        self.assertEqual(objects, {VENDOR_NAME: "Schneider Electric", PRODUCT_CODE: "METSEION7400",
                                   MAJOR_MINOR_REVISION: "4.6.0"})

    def test_device_identification_regular(self):
        objects = self.device_information(DeviceInformation.Regular)
        self.assertEqual(objects.get(VENDOR_NAME), "Schneider Electric")
        self.assertEqual(objects.get(PRODUCT_CODE), "METSEION7400")
        self.assertEqual(objects.get(MAJOR_MINOR_REVISION), "4.6.0")
        self.assertIn(self.meter.ready["meters"][0]["serial_number"], objects.get(0x06, ""))

    def test_writes_refused(self):
        self.assert_exception(self.client.write_register(PT_SECONDARY, 120, slave=UNIT), ILLEGAL_FUNCTION,
                              "function 6 under read-only")
        self.assert_exception(self.client.write_registers(PT_PRIMARY, [0, 400], slave=UNIT), ILLEGAL_FUNCTION,
                              "function 16 under read-only")
        self.assertEqual(to_u32(self.read(PT_PRIMARY, 2)), 230)

    def test_unmapped_register(self):
        self.assert_exception(self.client.read_holding_registers(UNMAPPED, 1, slave=UNIT), ILLEGAL_DATA_ADDRESS,
                              "read of register 5000")
        # Registers 3000..3011 are mapped, 3012..3019 are not: a read across the gap fails whole.
        self.assert_exception(self.client.read_holding_registers(CURRENT_A, 20, slave=UNIT), ILLEGAL_DATA_ADDRESS,
                              "read of registers 3000..3019")

    def test_other_unit_id_over_tcp(self):
        self.assert_exception(self.client.read_holding_registers(VOLTAGE_AN, 2, slave=7), GATEWAY_TARGET_FAILED,
                              "unit id 7")
        # The connection is still good for the meter's own unit id.
        self.read(VOLTAGE_AN, 2)

    def test_concurrent_clients_with_a_silent_half_frame(self):
        threads_count, reads_each = 50, 20
        # A client that sends the MBAP header of a read and then nothing: the server must
        # keep waiting for it on its own session without holding up anyone else.
        request = struct.pack(">HHHBBHH", 0x4242, 0, 6, UNIT, 3, VOLTAGE_AN, 2)
        silent = socket.create_connection(("127.0.0.1", self.meter.port), timeout=CLIENT_TIMEOUT_S)
        self.addCleanup(silent.close)
        silent.sendall(request[:7])

        failures = []
        lock = threading.Lock()

        def worker(index):
            client = ModbusTcpClient("127.0.0.1", port=self.meter.port, timeout=CLIENT_TIMEOUT_S, retries=0)
            try:
                if not client.connect():
                    raise RuntimeError("cannot connect")
                for _ in range(reads_each):
                    response = client.read_holding_registers(VOLTAGE_AN, 2, slave=UNIT)
                    if response.isError() or not 200 < to_float32(response.registers) < 260:
                        raise RuntimeError(f"bad answer {response}")
            except Exception as error:  # noqa: BLE001 - any failure of a worker fails the test
                with lock:
                    failures.append(f"client {index}: {error!r}")
            finally:
                client.close()

        started = time.monotonic()
        workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads_count)]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join(timeout=60)
        self.assertFalse(any(thread.is_alive() for thread in workers), "clients still running after 60 s")
        self.assertEqual(failures, [])
        # Far below one client timeout: nobody waited on the silent client.
        self.assertLess(time.monotonic() - started, CLIENT_TIMEOUT_S)

        # The silent client's session kept its half frame: the rest completes the request.
        silent.sendall(request[7:])
        answer = b""
        while len(answer) < 13:
            chunk = silent.recv(13 - len(answer))
            self.assertTrue(chunk, "meterd closed the half-frame connection")
            answer += chunk
        transaction, protocol, length, unit, function, byte_count = struct.unpack(">HHHBBB", answer[:9])
        self.assertEqual((transaction, protocol, length, unit, function, byte_count), (0x4242, 0, 7, UNIT, 3, 4))
        self.assertTrue(200 < struct.unpack(">f", answer[9:13])[0] < 260)


class ReadWriteMeterTest(MeterTestCase):
    METERD_ARGS = ("--modbus-access", "read-write")

    def test_write_single_register(self):
        response = self.client.write_register(PT_SECONDARY, 120, slave=UNIT)
        self.assertFalse(response.isError(), response)
        self.assertEqual(self.read(PT_SECONDARY, 1), [120])

    def test_write_multiple_registers(self):
        response = self.client.write_registers(PT_PRIMARY, [0x0001, 0x86A0], slave=UNIT)  # 100000
        self.assertFalse(response.isError(), response)
        self.assertEqual(to_u32(self.read(PT_PRIMARY, 2)), 100000)

    def test_out_of_range_value(self):
        before = self.read(CONFIG_BLOCK, 7)
        self.assert_exception(self.client.write_register(PT_SECONDARY, 5000, slave=UNIT), ILLEGAL_DATA_VALUE,
                              "pt_secondary 5000 (range 1..690)")
        self.assert_exception(self.client.write_register(PT_SECONDARY, 0, slave=UNIT), ILLEGAL_DATA_VALUE,
                              "pt_secondary 0 (range 1..690)")
        # 7 subintervals do not divide a 15-minute window into whole seconds.
        self.assert_exception(self.client.write_register(DEMAND_SUBINTERVALS, 7, slave=UNIT), ILLEGAL_DATA_VALUE,
                              "demand_subintervals 7")
        self.assertEqual(self.read(CONFIG_BLOCK, 7), before, "a refused write changed the configuration")

    def test_write_to_a_measurement(self):
        self.assert_exception(self.client.write_register(VOLTAGE_AN, 1, slave=UNIT), ILLEGAL_DATA_ADDRESS,
                              "write to voltage_an")

    def test_write_half_of_a_u32(self):
        self.assert_exception(self.client.write_register(PT_PRIMARY, 1, slave=UNIT), ILLEGAL_DATA_ADDRESS,
                              "write of one register of the u32 pt_primary")


class NoAccessMeterTest(MeterTestCase):
    METERD_ARGS = ("--modbus-access", "none")

    def test_reads_refused(self):
        self.assert_exception(self.client.read_holding_registers(VOLTAGE_AN, 2, slave=UNIT), ILLEGAL_FUNCTION,
                              "function 3 under none")
        self.assert_exception(self.client.read_input_registers(VOLTAGE_AN, 2, slave=UNIT), ILLEGAL_FUNCTION,
                              "function 4 under none")

    def test_writes_refused(self):
        self.assert_exception(self.client.write_register(PT_SECONDARY, 120, slave=UNIT), ILLEGAL_FUNCTION,
                              "function 6 under none")
        self.assert_exception(self.client.write_registers(PT_PRIMARY, [0, 400], slave=UNIT), ILLEGAL_FUNCTION,
                              "function 16 under none")


if __name__ == "__main__":
    unittest.main(verbosity=2)
