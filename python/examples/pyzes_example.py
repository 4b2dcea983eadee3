"""A tour of the C-mirror API in the style of code written for the original ctypes pyzes.

    python3 python/examples/pyzes_example.py             # the installed Level Zero stack
    PYZES_SIMULATE=1 python3 python/examples/pyzes_example.py   # the built-in simulated GPUs

Prints what it finds and returns it from main() as a dict (the tests check it).
"""

from __future__ import annotations

import sys
import time

import pyzes
from pyzes import *


def rc_name(rc: int) -> str:
    for name, value in vars(pyzes).items():
        if name.startswith("ZE_RESULT_") and value == rc:
            return name
    return hex(rc)


def ok(rc: int, what: str) -> bool:
    if rc != ZE_RESULT_SUCCESS:
        print(f"  {what}: {rc_name(rc)}")
        return False
    return True


def enum_handles(fn, parent, handle_type):
    count = c_uint32(0)
    if not ok(fn(parent, byref(count), None), fn.__name__) or count.value == 0:
        return []
    handles = (handle_type * count.value)()
    if not ok(fn(parent, byref(count), handles), fn.__name__):
        return []
    return [handles[i] for i in range(count.value)]


def device_report(driver, device) -> dict:
    out: dict = {}
    props = zes_device_properties_t()
    props.stype = ZES_STRUCTURE_TYPE_DEVICE_PROPERTIES
    ext = zes_device_ext_properties_t()
    ext.stype = ZES_STRUCTURE_TYPE_DEVICE_EXT_PROPERTIES
    ext.pNext = None
    props.pNext = cast(pointer(ext), c_void_p)
    if not ok(zesDeviceGetProperties(device, byref(props)), "zesDeviceGetProperties"):
        return out
    out["name"] = props.modelName.decode()
    out["subdevices"] = props.numSubdevices
    out["core_clock_mhz"] = props.core.coreClockRate
    out["uuid"] = bytes(ext.uuid.id).hex()
    print(f"  {out['name']}  serial {props.serialNumber.decode()}  uuid {out['uuid']}")

    # Look the device up again by its UUID (zes_uuid_t passed by value).
    found, on_sub, sub_id = zes_device_handle_t(), ze_bool_t(0), c_uint32(0)
    rc = zesDriverGetDeviceByUuidExp(driver, ext.uuid, byref(found), byref(on_sub), byref(sub_id))
    out["uuid_lookup"] = rc == ZE_RESULT_SUCCESS and found.value == device.value

    out["memory"] = []
    for mem in enum_handles(zesDeviceEnumMemoryModules, device, zes_mem_handle_t):
        mp, ms = zes_mem_properties_t(), zes_mem_state_t()
        if ok(zesMemoryGetProperties(mem, byref(mp)), "zesMemoryGetProperties") and ok(
            zesMemoryGetState(mem, byref(ms)), "zesMemoryGetState"
        ):
            out["memory"].append({"size": ms.size, "free": ms.free, "location": mp.location})
            print(f"  memory: {ms.size >> 20} MiB, {ms.free >> 20} MiB free")

    out["power_w"] = []
    for pwr in enum_handles(zesDeviceEnumPowerDomains, device, zes_pwr_handle_t):
        a, b = zes_power_energy_counter_t(), zes_power_energy_counter_t()
        if not ok(zesPowerGetEnergyCounter(pwr, byref(a)), "zesPowerGetEnergyCounter"):
            continue
        time.sleep(0.05)
        zesPowerGetEnergyCounter(pwr, byref(b))
        watts = (b.energy - a.energy) / max(b.timestamp - a.timestamp, 1)
        out["power_w"].append(watts)
        count = c_uint32(0)
        zesPowerGetLimitsExt(pwr, byref(count), None)
        limits = (zes_power_limit_ext_desc_t * max(count.value, 1))()
        if count.value and ok(zesPowerGetLimitsExt(pwr, byref(count), limits), "zesPowerGetLimitsExt"):
            print(f"  power: {watts:.1f} W, limits (mW): {[limits[i].limit for i in range(count.value)]}")

    out["frequency_restored"] = None
    for freq in enum_handles(zesDeviceEnumFrequencyDomains, device, zes_freq_handle_t):
        fp = zes_freq_properties_t()
        zesFrequencyGetProperties(freq, byref(fp))
        if fp.type != ZES_FREQ_DOMAIN_GPU or not fp.canControl:
            continue
        old, new, now = zes_freq_range_t(), zes_freq_range_t(), zes_freq_range_t()
        zesFrequencyGetRange(freq, byref(old))
        new.min, new.max = fp.min, (fp.min + fp.max) / 2
        ok(zesFrequencySetRange(freq, byref(new)), "zesFrequencySetRange")
        zesFrequencyGetRange(freq, byref(now))
        changed = now.max == new.max
        ok(zesFrequencySetRange(freq, byref(old)), "zesFrequencySetRange")
        zesFrequencyGetRange(freq, byref(now))
        out["frequency_restored"] = changed and now.max == old.max
        st = zes_freq_state_t()
        zesFrequencyGetState(freq, byref(st))
        print(f"  gpu frequency {st.actual:.0f} MHz (range {old.min:.0f}-{old.max:.0f})")
        break

    out["temperatures"] = []
    for temp in enum_handles(zesDeviceEnumTemperatureSensors, device, zes_temp_handle_t):
        value = c_double(0)
        if ok(zesTemperatureGetState(temp, byref(value)), "zesTemperatureGetState"):
            out["temperatures"].append(value.value)
    if out["temperatures"]:
        print(f"  temperature: max {max(out['temperatures']):.1f} C")

    out["engines"] = {}
    for eng in enum_handles(zesDeviceEnumEngineGroups, device, zes_engine_handle_t):
        ep, s1, s2 = zes_engine_properties_t(), zes_engine_stats_t(), zes_engine_stats_t()
        zesEngineGetProperties(eng, byref(ep))
        zesEngineGetActivity(eng, byref(s1))
        time.sleep(0.01)
        zesEngineGetActivity(eng, byref(s2))
        dt = s2.timestamp - s1.timestamp
        out["engines"][ep.type] = 100.0 * (s2.activeTime - s1.activeTime) / dt if dt else 0.0

    pci = zes_pci_properties_t()
    if ok(zesDevicePciGetProperties(device, byref(pci)), "zesDevicePciGetProperties"):
        a = pci.address
        out["pci"] = f"{a.domain:04x}:{a.bus:02x}:{a.device:02x}.{a.function:x}"
        print(f"  pci {out['pci']} gen{pci.maxSpeed.gen} x{pci.maxSpeed.width}")

    available = ze_bool_t(0)
    if ok(zesDeviceEccAvailable(device, byref(available)), "zesDeviceEccAvailable"):
        out["ecc_available"] = bool(available.value)
        if available.value:
            ecc = zes_device_ecc_properties_t()
            zesDeviceGetEccState(device, byref(ecc))
            out["ecc_state"] = ecc.currentState

    count = c_uint32(0)
    out["processes"] = []
    if ok(zesDeviceProcessesGetState(device, byref(count), None), "zesDeviceProcessesGetState") and count.value:
        procs = (zes_process_state_t * count.value)()
        zesDeviceProcessesGetState(device, byref(count), procs)
        out["processes"] = [(p.processId, p.memSize) for p in procs[: count.value]]
        print(f"  processes: {out['processes']}")
    return out


def main() -> dict:
    report: dict = {"devices": []}
    rc = zesInit(0)
    if rc != ZE_RESULT_SUCCESS:
        print(f"zesInit: {rc_name(rc)}; {pyzes.last_load_error() or 'no Level Zero driver found'}")
        report["error"] = rc
        return report
    driver_count = c_uint32(0)
    zesDriverGet(byref(driver_count), None)
    drivers = (zes_driver_handle_t * driver_count.value)()
    zesDriverGet(byref(driver_count), drivers)
    print(f"Driver Count: {driver_count.value}")
    for driver in drivers:
        for i, device in enumerate(enum_handles(zesDeviceGet, driver, zes_device_handle_t)):
            print(f"Device {i}:")
            report["devices"].append(device_report(driver, device))
    return report


if __name__ == "__main__":
    sys.exit(0 if "error" not in main() else 1)
