"""The snippets of the original pyzes README run as written (the chaining one with its
`base.pNext` read as `props.pNext`)."""

from __future__ import annotations

import contextlib
import io
import textwrap

import pyzes

USAGE = """
from pyzes import *
rc = zesInit(0)
driver_count = c_uint32(0)
rc = pyzes.zesDriverGet(byref(driver_count), None)
print(f"Driver Count: {driver_count.value}")
"""

GET_PROPERTIES = """
props = zes_device_properties_t()
props.stype = ZES_STRUCTURE_TYPE_DEVICE_PROPERTIES
props.pNext = None
pyzes.zesDeviceGetProperties(devices[i], byref(props))
"""

PRINT_PROPERTIES = """
print(f"numSubdevices: {props.numSubdevices}")
print(f"serialNumber:  {props.serialNumber}")
print(f"boardNumber:   {props.boardNumber}")
print(f"brandName: {props.brandName}")
print(f"modelName: {props.modelName}")
print(f"driverVersion: {props.driverVersion}")
print(f"coreClockMHz: {props.core.coreClockRate}")
"""

CHAINING = """
props = zes_device_properties_t()
props.stype = ZES_STRUCTURE_TYPE_DEVICE_PROPERTIES
ext = zes_device_ext_properties_t()
ext.stype = ZES_STRUCTURE_TYPE_DEVICE_EXT_PROPERTIES
ext.pNext = None
props.pNext = cast(pointer(ext), c_void_p)
pyzes.zesDeviceGetProperties(devices[i], byref(props))
print(f"Extension properties flags: {ext.flags}")
"""

SETUP_DEVICES = """
drivers = (zes_driver_handle_t * driver_count.value)()
pyzes.zesDriverGet(byref(driver_count), drivers)
device_count = c_uint32(0)
pyzes.zesDeviceGet(drivers[0], byref(device_count), None)
devices = (zes_device_handle_t * device_count.value)()
pyzes.zesDeviceGet(drivers[0], byref(device_count), devices)
i = 0
"""


def run(ns: dict, code: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(textwrap.dedent(code), "<readme>", "exec"), ns)  # noqa: S102 - the snippets are the test
    return out.getvalue()


def test_readme_snippets_run_as_written():
    ns: dict = {}
    assert run(ns, USAGE) == "Driver Count: 1\n"
    assert ns["rc"] == 0
    run(ns, SETUP_DEVICES)
    assert ns["device_count"].value >= 1
    run(ns, GET_PROPERTIES)
    text = run(ns, PRINT_PROPERTIES)
    assert "numSubdevices: 2" in text  # device 0 of the default machine is a Max 1550
    assert "modelName: b'Intel(R) Data Center GPU Max 1550'" in text
    assert "coreClockMHz: 1600" in text
    text = run(ns, CHAINING)
    assert ns["ext"].type == pyzes.ZES_DEVICE_TYPE_GPU
    assert text == f"Extension properties flags: {ns['ext'].flags}\n"
    assert any(ns["ext"].uuid.id)


def test_result_names_found_by_scanning_the_module():
    names = [k for k, v in vars(pyzes).items() if k.startswith("ZE_RESULT_") and v == 0x78000004]
    assert "ZE_RESULT_ERROR_INVALID_ARGUMENT" in names
