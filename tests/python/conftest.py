"""Tests run against the simulated driver built into pyzes._native: opened directly (default) or,
with PYZES_TEST_REAL_LOADER=1, through the installed Level Zero loader, which loads the same file
as a driver (ZE_ENABLE_ALT_DRIVERS) and is then driven on its legacy or zesInit path."""

from __future__ import annotations

import os

import pytest
import pyzes

REAL_LOADER = os.environ.get("PYZES_TEST_REAL_LOADER") == "1"

if REAL_LOADER:
    os.environ["ZE_ENABLE_ALT_DRIVERS"] = pyzes.native_path()
    os.environ.pop("ZES_LIBRARY", None)
else:
    pyzes.simulate()


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


@pytest.fixture
def cdev():
    return c_devices()
