#!/usr/bin/python3
"""Reads meterd over Modbus RTU with pymodbus's serial client; run by rtu_test.sh.

Usage: pymodbus_rtu_client.py DEVICE BAUD PARITY
Exits 0 when the checks pass, 1 when one fails, and 77 (ctest's skip) when pyserial,
which the serial client needs and Debian's python3-pymodbus does not pull in, is missing.
"""

import os
import struct
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

UNIT = 1
VOLTAGE_AN = 3027  # register 3028, float32
PT_PRIMARY = 8101  # register 8102, u32, 230 on a new meter


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 64
    device, baud, parity = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    from pymodbus.client import ModbusSerialClient
    from pymodbus.framer.rtu_framer import ModbusRtuFramer

    failures = []
    client = ModbusSerialClient(port=device, framer=ModbusRtuFramer, baudrate=baud, parity=parity, timeout=5,
                                retries=0)
    if not client.connect():
        print(f"FAIL: pymodbus cannot open {device}")
        return 1
    try:
        response = client.read_holding_registers(VOLTAGE_AN, 2, slave=UNIT)
        if response.isError():
            failures.append(f"voltage_an over RTU: {response}")
        else:
            voltage = struct.unpack(">f", struct.pack(">HH", *response.registers))[0]
            print(f"voltage_an over RTU: {voltage:.2f} V")
            if not 200 < voltage < 260:
                failures.append(f"voltage_an over RTU is {voltage}")
        response = client.read_holding_registers(PT_PRIMARY, 2, slave=UNIT)
        if response.isError() or response.registers != [0, 230]:
            failures.append(f"pt_primary over RTU: {response} {getattr(response, 'registers', None)}")
    finally:
        client.close()
    for failure in failures:
        print(f"FAIL: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
