"""Threads: concurrent sampling is consistent, a slow driver call does not block other threads,
and many calls leave memory flat."""

from __future__ import annotations

import threading
import time

import pyzes
from conftest import sim
from pyzes import (
    byref,
    c_double,
    c_uint32,
    zes_device_properties_t,
    zes_mem_handle_t,
    zes_mem_state_t,
    zes_temp_handle_t,
    zesDeviceEnumMemoryModules,
    zesDeviceEnumTemperatureSensors,
    zesDeviceGetProperties,
    zesMemoryGetState,
    zesTemperatureGetState,
)


def handles(fn, dev, htype):
    n = c_uint32(0)
    assert fn(dev, byref(n), None) == 0
    arr = (htype * n.value)()
    assert fn(dev, byref(n), arr) == 0
    return list(arr)


def sample(devs):
    out = []
    for dev in devs:
        p = zes_device_properties_t()
        assert zesDeviceGetProperties(dev, byref(p)) == 0
        mems = handles(zesDeviceEnumMemoryModules, dev, zes_mem_handle_t)
        s = zes_mem_state_t()
        assert zesMemoryGetState(mems[0], byref(s)) == 0
        temps = handles(zesDeviceEnumTemperatureSensors, dev, zes_temp_handle_t)
        t = c_double()
        assert zesTemperatureGetState(temps[0], byref(t)) == 0
        out.append((p.serialNumber, p.numSubdevices, s.size, len(mems), len(temps), t.value))
    return out


def test_eight_threads_sample_consistently(cdev):
    _, devs = cdev
    sim({"op": "clock", "mode": "frozen"})
    expected = sample(devs)
    results, errors = [], []

    def worker():
        try:
            for _ in range(200):
                results.append(sample(devs))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 1600
    assert all(r == expected for r in results)


def test_slow_call_does_not_block_other_threads(cdev):
    _, devs = cdev
    sim({"op": "fault", "latency_us": 300_000})
    done = {}

    def slow():
        p = zes_device_properties_t()
        t0 = time.perf_counter()
        done["rc"] = zesDeviceGetProperties(devs[0], byref(p))
        done["took"] = time.perf_counter() - t0

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.02)
    spins = 0
    t0 = time.perf_counter()
    while t.is_alive():
        spins += 1
        sum(range(100))
    main_time = time.perf_counter() - t0
    t.join()
    assert done["rc"] == 0
    assert done["took"] >= 0.25
    # The main thread kept running Python code while the call waited in the driver.
    assert main_time > 0.15 and spins > 1000


def rss_kib() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4


def test_100k_calls_leave_memory_flat(cdev):
    _, devs = cdev
    mems = handles(zesDeviceEnumMemoryModules, devs[0], zes_mem_handle_t)
    s = zes_mem_state_t()
    p = zes_device_properties_t()
    for _ in range(10_000):
        zesMemoryGetState(mems[0], byref(s))
    before = rss_kib()
    for i in range(100_000):
        zesMemoryGetState(mems[0], byref(s))
        if i % 10 == 0:
            zesDeviceGetProperties(devs[0], p)
    growth = rss_kib() - before
    assert growth < 2048, f"RSS grew by {growth} KiB"
    assert pyzes._native.tracked_handles() < 10_000
