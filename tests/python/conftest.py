"""Tests run against the simulated driver built into pyzes._native: opened directly (default) or,
with PYZES_TEST_REAL_LOADER=1, through the installed Level Zero loader, which loads the same file
as a driver (ZE_ENABLE_ALT_DRIVERS) and is then driven on its legacy or zesInit path: which one is
read from the loader itself (`loader_spec`), never assumed. ZES_TEST_EXPECT_LOADER_VERSION (set by
scripts/test.sh) names the loader version (or major.minor) the run is meant to meet."""

from __future__ import annotations

import ctypes
import os

import pytest
import pyzes

REAL_LOADER = os.environ.get("PYZES_TEST_REAL_LOADER") == "1"

if REAL_LOADER:
    os.environ["ZE_ENABLE_ALT_DRIVERS"] = pyzes.native_path()
    os.environ.pop("ZES_LIBRARY", None)
else:
    pyzes.simulate()


EXPECT_LOADER_VERSION = os.environ.get("ZES_TEST_EXPECT_LOADER_VERSION")


class _ZelVersion(ctypes.Structure):
    _fields_ = [("major", ctypes.c_int), ("minor", ctypes.c_int), ("patch", ctypes.c_int)]


class _ZelComponentVersion(ctypes.Structure):
    _fields_ = [
        ("component_name", ctypes.c_char * 64),
        ("spec_version", ctypes.c_uint32),
        ("component_lib_version", _ZelVersion),
    ]


def loader_spec(path: str) -> tuple[int, int] | None:
    """The API version (major, minor) the loader at `path` was built for, from its own
    `zelLoaderGetVersions` (it knows it once initialized), or None when it reports none."""
    get = getattr(ctypes.CDLL(path), "zelLoaderGetVersions", None)
    if get is None:
        return None
    count = ctypes.c_size_t(0)
    if get(ctypes.byref(count), None) != 0 or not 0 < count.value <= 64:
        return None
    versions = (_ZelComponentVersion * count.value)()
    if get(ctypes.byref(count), versions) != 0:
        return None
    for v in versions[: count.value]:
        if v.component_name == b"loader":
            return v.spec_version >> 16, v.spec_version & 0xFFFF
    return None


def version_meets(version: str, expected: str) -> bool:
    """`1.20.6` meets `1.20.6` and `1.20` (Debian's 1.8.12 reports itself as 1.8.0)."""
    return version == expected or version.startswith(expected + ".")


def sim(request: dict) -> dict:
    return pyzes.sim_control(request)


def restore_sim() -> None:
    sim({"op": "clear_faults"})
    sim({"op": "fault", "latency_us": 0, "unprivileged": False})
    # Rebuilds the machine and drops the cached session, whose handles the rebuild made stale.
    pyzes.simulate()
    sim({"op": "clock", "mode": "real"})


@pytest.fixture(autouse=True)
def _fresh_simulator():
    yield
    restore_sim()


def c_devices() -> tuple[object, list]:
    """(driver handle, device handles) through the C-mirror API."""
    from pyzes import byref, c_uint32, zes_device_handle_t, zes_driver_handle_t, zesDeviceGet, zesDriverGet, zesInit

    assert zesInit(0) == 0, pyzes.last_load_error()
    count = c_uint32(0)
    assert zesDriverGet(byref(count), None) == 0
    drivers = (zes_driver_handle_t * count.value)()
    assert zesDriverGet(byref(count), drivers) == 0
    n = c_uint32(0)
    assert zesDeviceGet(drivers[0], byref(n), None) == 0
    devices = (zes_device_handle_t * n.value)()
    assert zesDeviceGet(drivers[0], byref(n), devices) == 0
    return drivers[0], [devices[i] for i in range(n.value)]


def handles_by_type() -> dict:
    """A handle of every kind the simulated machine has, by C handle type name: the driver, the
    first device and the first component of each `zesDeviceEnum*` kind (child-process sweeps)."""
    from pyzes import byref, c_uint32

    drv, devs = c_devices()
    handles = {
        "zes_driver_handle_t": drv,
        "ze_driver_handle_t": drv,
        "zes_device_handle_t": devs[0],
        "ze_device_handle_t": devs[0],
    }
    for name, (_, params) in pyzes._FUNCTIONS.items():
        if name.startswith("zesDeviceEnum") and len(params) == 3:
            htype = params[2][1]
            n = c_uint32(0)
            if getattr(pyzes, name)(devs[0], byref(n), None) == 0 and n.value:
                arr = (getattr(pyzes, htype) * n.value)()
                if getattr(pyzes, name)(devs[0], byref(n), arr) == 0:
                    handles[htype] = arr[0]
    return handles


@pytest.fixture
def cdev():
    return c_devices()
