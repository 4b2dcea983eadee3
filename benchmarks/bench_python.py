"""Per-call cost of the C-mirror API against ctypes in the original pyzes's style, and a full
snapshot of 8 simulated devices. Not a test: prints figures.

    python3 benchmarks/bench_python.py

Both sides drive the same simulated driver through the installed Level Zero loader (the loader
loads pyzes._native as a driver via ZE_ENABLE_ALT_DRIVERS), so the driver's own cost is the same.
Without a loader only the pyzes figures are printed (simulated driver opened directly).
"""

from __future__ import annotations

import ctypes
import os
import sys
import time
from ctypes import POINTER, byref, c_double, c_int32, c_uint8, c_uint32, c_void_p

N_DEVICES = 8
os.environ.setdefault("ZES_SIM_PRESET", ",".join(["max1550"] * N_DEVICES))

import pyzes

os.environ["ZE_ENABLE_ALT_DRIVERS"] = pyzes.native_path()
os.environ["ZES_ENABLE_SYSMAN"] = "1"
try:
    LOADER = ctypes.CDLL("libze_loader.so.1")
except OSError:
    LOADER = None
    pyzes.simulate()

from pyzes import _abi as A


def per_call_ns(fn, n: int) -> float:
    fn()  # warm up
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter_ns()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter_ns() - t0) / n)
    return best


def driver_calls(fn) -> int:
    """How many driver calls one run of `fn` makes (the simulator counts them): snapshots differ in
    how much they read, so their times are shown with the work they do."""
    before = sum(pyzes.sim_control({"op": "calls"}).values())
    fn()
    return sum(pyzes.sim_control({"op": "calls"}).values()) - before


def interleaved_ns(cases: dict, n: int, rounds: int = 15) -> dict:
    """Best ns per call of each case, measured in interleaved rounds so that a noisy moment of the
    machine hits every case alike (their ratios are what the figures compare)."""
    best = dict.fromkeys(cases, float("inf"))
    for fn in cases.values():
        fn()  # warm up
    for _ in range(rounds):
        for label, fn in cases.items():
            t0 = time.perf_counter_ns()
            for _ in range(n):
                fn()
            best[label] = min(best[label], (time.perf_counter_ns() - t0) / n)
    return best


# ---- the original's style: argtypes and restype set on every call --------------------------------


class Original:
    """A minimal ctypes binding written the way the original pyzes calls functions."""

    def __init__(self, lib):
        self.lib = lib
        self.cache: dict[str, object] = {}

    def fn(self, name):
        f = self.cache.get(name)
        if f is None:
            f = self.cache[name] = getattr(self.lib, name)
        return f

    def call(self, name, argtypes, *args):
        f = self.fn(name)
        f.argtypes = argtypes
        f.restype = c_int32
        return f(*args)

    def zesDeviceGetProperties(self, h, p):
        return self.call("zesDeviceGetProperties", [A.zes_device_handle_t, POINTER(A.zes_device_properties_t)], h, p)

    def zesMemoryGetState(self, h, p):
        return self.call("zesMemoryGetState", [A.zes_mem_handle_t, POINTER(A.zes_mem_state_t)], h, p)

    def enum(self, name, htype, h, count, arr):
        return self.call(name, [A.zes_device_handle_t, POINTER(c_uint32), POINTER(htype)], h, count, arr)

    def get(self, name, htype, stype, h, p):
        return self.call(name, [htype, POINTER(stype)], h, p)


def original_handles(orig, name, htype, dev):
    n = c_uint32(0)
    orig.enum(name, htype, dev, byref(n), None)
    arr = (htype * n.value)()
    orig.enum(name, htype, dev, byref(n), arr)
    return list(arr)


def original_snapshot(orig, devices):
    out = []
    for dev in devices:
        d = {}
        p = A.zes_device_properties_t()
        orig.zesDeviceGetProperties(dev, byref(p))
        d["name"] = p.modelName.decode()
        d["mem"] = []
        for m in original_handles(orig, "zesDeviceEnumMemoryModules", A.zes_mem_handle_t, dev):
            mp, ms = A.zes_mem_properties_t(), A.zes_mem_state_t()
            orig.get("zesMemoryGetProperties", A.zes_mem_handle_t, A.zes_mem_properties_t, m, byref(mp))
            orig.zesMemoryGetState(m, byref(ms))
            d["mem"].append((mp.location, ms.free, ms.size))
        d["freq"] = []
        for f in original_handles(orig, "zesDeviceEnumFrequencyDomains", A.zes_freq_handle_t, dev):
            fp, fs, fr = A.zes_freq_properties_t(), A.zes_freq_state_t(), A.zes_freq_range_t()
            orig.get("zesFrequencyGetProperties", A.zes_freq_handle_t, A.zes_freq_properties_t, f, byref(fp))
            orig.get("zesFrequencyGetState", A.zes_freq_handle_t, A.zes_freq_state_t, f, byref(fs))
            orig.get("zesFrequencyGetRange", A.zes_freq_handle_t, A.zes_freq_range_t, f, byref(fr))
            d["freq"].append((fp.type, fs.actual, fr.min, fr.max))
        d["temp"] = []
        for t in original_handles(orig, "zesDeviceEnumTemperatureSensors", A.zes_temp_handle_t, dev):
            tp, v = A.zes_temp_properties_t(), c_double()
            orig.get("zesTemperatureGetProperties", A.zes_temp_handle_t, A.zes_temp_properties_t, t, byref(tp))
            orig.call("zesTemperatureGetState", [A.zes_temp_handle_t, POINTER(c_double)], t, byref(v))
            d["temp"].append((tp.type, v.value))
        for pw in original_handles(orig, "zesDeviceEnumPowerDomains", A.zes_pwr_handle_t, dev)[:1]:
            e = A.zes_power_energy_counter_t()
            orig.get("zesPowerGetEnergyCounter", A.zes_pwr_handle_t, A.zes_power_energy_counter_t, pw, byref(e))
            n = c_uint32(0)
            types = [A.zes_pwr_handle_t, POINTER(c_uint32), POINTER(A.zes_power_limit_ext_desc_t)]
            orig.call("zesPowerGetLimitsExt", types, pw, byref(n), None)
            lims = (A.zes_power_limit_ext_desc_t * n.value)()
            orig.call("zesPowerGetLimitsExt", types, pw, byref(n), lims)
            d["energy"] = e.energy
        pp, ps = A.zes_pci_properties_t(), A.zes_pci_state_t()
        orig.get("zesDevicePciGetProperties", A.zes_device_handle_t, A.zes_pci_properties_t, dev, byref(pp))
        orig.get("zesDevicePciGetState", A.zes_device_handle_t, A.zes_pci_state_t, dev, byref(ps))
        av, cf, ecc = c_uint8(), c_uint8(), A.zes_device_ecc_properties_t()
        orig.call("zesDeviceEccAvailable", [A.zes_device_handle_t, POINTER(c_uint8)], dev, byref(av))
        orig.call("zesDeviceEccConfigurable", [A.zes_device_handle_t, POINTER(c_uint8)], dev, byref(cf))
        orig.get("zesDeviceGetEccState", A.zes_device_handle_t, A.zes_device_ecc_properties_t, dev, byref(ecc))
        n = c_uint32(0)
        types = [A.zes_device_handle_t, POINTER(c_uint32), POINTER(A.zes_process_state_t)]
        orig.call("zesDeviceProcessesGetState", types, dev, byref(n), None)
        procs = (A.zes_process_state_t * max(n.value, 1))()
        orig.call("zesDeviceProcessesGetState", types, dev, byref(n), procs)
        d["engines"] = []
        for e in original_handles(orig, "zesDeviceEnumEngineGroups", A.zes_engine_handle_t, dev):
            ep = A.zes_engine_properties_t()
            orig.get("zesEngineGetProperties", A.zes_engine_handle_t, A.zes_engine_properties_t, e, byref(ep))
            d["engines"].append(ep.type)
        out.append(d)
    return out


def main() -> None:
    assert pyzes.zesInit(0) == 0, pyzes.last_load_error()
    _, devices = legacy_devices()
    dev = devices[0]
    mem = pyzes_handles(dev)
    props, state = A.zes_device_properties_t(), A.zes_mem_state_t()
    n = 200_000
    print(f"library: {pyzes.library_info()}")
    print(f"devices: {len(devices)} simulated ({os.environ['ZES_SIM_PRESET']})\n")
    chained = A.zes_device_properties_t()
    ext = A.zes_device_ext_properties_t()
    chained.pNext = A.cast(A.pointer(ext), c_void_p)
    cases = {
        "pyzes C-mirror  zesMemoryGetState(h, byref(s))": lambda: A.zesMemoryGetState(mem, byref(state)),
        "pyzes C-mirror  zesMemoryGetState(h, s)": lambda: A.zesMemoryGetState(mem, state),
        "pyzes C-mirror  zesDeviceGetProperties(h, byref(p))": lambda: A.zesDeviceGetProperties(dev, byref(props)),
        "pyzes C-mirror  zesDeviceGetProperties, ext chained": lambda: A.zesDeviceGetProperties(dev, byref(chained)),
    }
    if LOADER is not None:
        orig = Original(LOADER)
        pre = LOADER.zesMemoryGetState
        pre.argtypes = [A.zes_mem_handle_t, POINTER(A.zes_mem_state_t)]
        pre.restype = c_int32
        cases.update(
            {
                "original style  zesMemoryGetState (argtypes per call)": lambda: orig.zesMemoryGetState(
                    mem, byref(state)
                ),
                "original style  zesDeviceGetProperties": lambda: orig.zesDeviceGetProperties(dev, byref(props)),
                "original style  zesDeviceGetProperties, ext chained": lambda: orig.zesDeviceGetProperties(
                    dev, byref(chained)
                ),
                "ctypes pre-configured  zesMemoryGetState": lambda: pre(mem, byref(state)),
            }
        )
    rows = list(interleaved_ns(cases, n // 5).items())
    floor = min(A._native._driver_floor_ns(mem.value, n) for _ in range(3))
    rows.append(("driver + loader alone (loop in Rust, no Python)", floor))
    for label, ns in rows:
        extra = f"   binding overhead {ns - floor:6.0f} ns" if "MemoryGetState" in label else ""
        print(f"{label:58s} {ns:8.0f} ns/call{extra}")
    timings = dict(rows)
    original = timings.get("original style  zesMemoryGetState (argtypes per call)")
    if original:
        for form in ("zesMemoryGetState(h, byref(s))", "zesMemoryGetState(h, s)"):
            ratio = timings[f"pyzes C-mirror  {form}"] / original
            print(f"ratio to the original style, {form:34s} {ratio:5.2f}  (target <= 0.25)")

    print()
    snapshots = {
        f"pyzes Pythonic  Sysman().snapshot() of {len(devices)} devices (Rust core)": lambda: pyzes.Sysman().snapshot(
            0.0
        )
    }
    if LOADER is not None:
        snapshots[f"original style  loop, {len(devices)} devices (one sample, fewer parts)"] = lambda: (
            original_snapshot(orig, devices)
        )
    for label, ns in interleaved_ns(snapshots, 5, rounds=10).items():
        print(f"{label:58s} {ns / 1e3:8.0f} us   {driver_calls(snapshots[label]):5d} driver calls")


def legacy_devices():
    count = c_uint32(0)
    A.zesDriverGet(byref(count), None)
    drivers = (A.zes_driver_handle_t * count.value)()
    A.zesDriverGet(byref(count), drivers)
    n = c_uint32(0)
    A.zesDeviceGet(drivers[0], byref(n), None)
    devs = (A.zes_device_handle_t * n.value)()
    A.zesDeviceGet(drivers[0], byref(n), devs)
    return drivers[0], list(devs)


def pyzes_handles(dev):
    n = c_uint32(0)
    A.zesDeviceEnumMemoryModules(dev, byref(n), None)
    arr = (A.zes_mem_handle_t * n.value)()
    A.zesDeviceEnumMemoryModules(dev, byref(n), arr)
    return arr[0]


if __name__ == "__main__":
    sys.exit(main())
