"""Imports Debian's pymodbus 3.0 even where its serial dependencies are missing.

pymodbus/client/__init__.py imports the serial clients unconditionally, and they import
pyserial (`serial`) and `serial_asyncio` at module level. python3-pymodbus only
recommends python3-serial-asyncio, and scripts/install-deps installs without
recommends, so a machine can have pymodbus whose TCP client works but whose package does
not import. Import this module before `pymodbus.client`: it puts placeholders in
sys.modules for whichever of the two is missing, which raise if anything actually uses
them, and says in PYSERIAL_AVAILABLE whether the serial client can work.
"""

import importlib.util
import sys
import types

MISSING = [name for name in ("serial", "serial_asyncio") if importlib.util.find_spec(name) is None]
PYSERIAL_AVAILABLE = "serial" not in MISSING


def _placeholder(name):
    module = types.ModuleType(name)

    def __getattr__(attribute):
        if attribute.startswith("__"):
            raise AttributeError(attribute)

        def unavailable(*args, **kwargs):
            raise ImportError(f"{name} is not installed (Debian: python3-serial, python3-serial-asyncio)")

        return unavailable

    module.__getattr__ = __getattr__
    module.PLACEHOLDER = True
    return module


for _name in MISSING:
    sys.modules.setdefault(_name, _placeholder(_name))
