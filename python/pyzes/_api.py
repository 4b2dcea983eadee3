"""The Pythonic API, built over the C-mirror functions of this package.

    import pyzes
    for dev in pyzes.devices():
        print(dev.name, dev.uuid, dev.memory_total)
        print(dev.power_watts(interval=0.1), dev.temperature(), dev.utilization(interval=0.1))
        print(dev.snapshot())            # one call, a plain dict (JSON-ready)

Every call that fails raises a `pyzes.ZesError` subclass (`InsufficientPermissionsError` is also a
`PermissionError`); telemetry is in SI-style units: watts, joules, MHz, degrees Celsius, bytes,
percent. Objects are safe to share between threads (the native calls release the GIL).
"""

from __future__ import annotations

import dataclasses
import enum
import json
import threading
import time
from ctypes import byref, c_double, c_int32, c_uint32

from . import _abi as A
from .enums import (
    DeviceType,
    EngineGroup,
    EngineTypeFlag,
    FreqDomain,
    MemHealth,
    MemLoc,
    MemType,
    PowerDomain,
    PowerLevel,
    TempSensors,
    to_enum,
)
from .errors import InvalidSizeError, ZesError, check  # type: ignore[attr-defined]

__all__ = ["Device", "Driver", "Sysman", "devices", "init", "snapshot"]

_lock = threading.RLock()
_sysman: Sysman | None = None


def _interval(interval: float) -> float:
    """A sampling window in seconds: a finite number from 0 to `MAX_SNAPSHOT_WINDOW_S` (one hour),
    else `ValueError` (never an `OverflowError` from `time.sleep` or a hang of days)."""
    limit = A._native.MAX_SNAPSHOT_WINDOW_S
    value = float(interval)
    if not 0.0 <= value <= limit:  # also refuses NaN
        raise ValueError(f"interval: expected a number of seconds from 0 to {limit:g}, got {interval!r}")
    return value


def _call(fn, *args) -> None:
    check(fn(*args), fn.__name__)


def _enum_handles(fn, parent, handle_type) -> list:
    count = c_uint32(0)
    _call(fn, parent, byref(count), None)
    if count.value == 0:
        return []
    array = (handle_type * count.value)()
    _call(fn, parent, byref(count), array)
    return [array[i] for i in range(count.value)]


def _get(fn, handle, struct_type):
    s = struct_type()
    _call(fn, handle, byref(s))
    return s


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace").strip()


def _uuid_hex(uuid) -> str:
    h = bytes(uuid.id).hex()
    return f"{h[0:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


_SCALARS = (int, float, str, bool, type(None), bytes)


def _plain(value):
    """A value as JSON-ready data (enums by name)."""
    t = type(value)
    if t in _SCALARS:
        return value
    if isinstance(value, enum.Enum):
        return value.name if value.name else int(value)
    if isinstance(value, _Record):
        return value.to_dict()
    if t is dict:
        return {k: _plain(v) for k, v in value.items()}
    if t in (list, tuple):
        return [_plain(v) for v in value]
    return value


class _Record:
    """Mixin for the dataclasses of this module: `.to_dict()` and `.to_json()`."""

    __slots__ = ()

    def to_dict(self) -> dict:
        return {name: _plain(getattr(self, name)) for name in self.__dataclass_fields__}

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), **kwargs)


# ------------------------------------------------------------------------------------------------
# Records


@dataclasses.dataclass(frozen=True)
class DeviceProperties(_Record):
    name: str
    vendor: str
    brand: str
    serial_number: str
    board_number: str
    driver_version: str
    type: DeviceType | int
    vendor_id: int
    device_id: int
    uuid: str
    core_clock_mhz: int
    num_subdevices: int
    max_mem_alloc_size: int
    flags: int


@dataclasses.dataclass(frozen=True)
class MemoryInfo(_Record):
    type: MemType | int
    location: MemLoc | int
    on_subdevice: bool
    subdevice_id: int
    physical_size: int
    bus_width: int
    num_channels: int
    health: MemHealth | int
    free: int
    size: int

    @property
    def used(self) -> int:
        return self.size - self.free

    @property
    def used_percent(self) -> float:
        return 100.0 * self.used / self.size if self.size else 0.0


@dataclasses.dataclass(frozen=True)
class PowerLimit(_Record):
    level: PowerLevel | int
    enabled: bool
    limit_mw: int
    interval_ms: int
    source: int
    unit: int


@dataclasses.dataclass(frozen=True)
class FrequencyInfo(_Record):
    domain: FreqDomain | int
    on_subdevice: bool
    subdevice_id: int
    can_control: bool
    hw_min_mhz: float
    hw_max_mhz: float
    range_min_mhz: float
    range_max_mhz: float
    request_mhz: float
    actual_mhz: float
    efficient_mhz: float
    tdp_mhz: float
    throttle_reasons: int


@dataclasses.dataclass(frozen=True)
class Process(_Record):
    pid: int
    memory: int
    shared_memory: int
    engines: EngineTypeFlag | int
    command: str | None


# ------------------------------------------------------------------------------------------------
# Components


class _Component:
    """A handle of one Sysman component of a device."""

    __slots__ = ("_props", "device", "handle")

    _props_fn = None
    _props_type = None

    def __init__(self, device: Device, handle):
        self.device = device
        self.handle = handle
        self._props = None

    @property
    def properties(self):
        """The raw properties struct (cached)."""
        if self._props is None:
            self._props = _get(type(self)._props_fn, self.handle, type(self)._props_type)
        return self._props

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self.device.name}>"


class MemoryModule(_Component):
    __slots__ = ()
    _props_fn = staticmethod(A.zesMemoryGetProperties)
    _props_type = A.zes_mem_properties_t

    def state(self):
        return _get(A.zesMemoryGetState, self.handle, A.zes_mem_state_t)

    def bandwidth(self):
        return _get(A.zesMemoryGetBandwidth, self.handle, A.zes_mem_bandwidth_t)

    def info(self) -> MemoryInfo:
        p, s = self.properties, self.state()
        return MemoryInfo(
            to_enum(MemType, p.type),
            to_enum(MemLoc, p.location),
            bool(p.onSubdevice),
            p.subdeviceId,
            p.physicalSize,
            p.busWidth,
            p.numChannels,
            to_enum(MemHealth, s.health),
            s.free,
            s.size,
        )

    def bandwidth_bytes_per_s(self, interval: float = 0.1) -> tuple[float, float] | None:
        """Read and write bandwidth (bytes/s) over `interval` seconds; None when the two samples
        give no rate (identical timestamps, a counter that went backwards) or an implausible one
        (read + write above the module's `maxBandwidth` by more than 5 %)."""
        interval = _interval(interval)
        a = self.bandwidth()
        time.sleep(interval)
        b = self.bandwidth()
        return A._native.memory_bandwidth(
            (a.readCounter, a.writeCounter, a.timestamp),
            (b.readCounter, b.writeCounter, b.timestamp),
            b.maxBandwidth,
        )


class PowerDomainHandle(_Component):
    __slots__ = ()
    _props_fn = staticmethod(A.zesPowerGetProperties)
    _props_type = A.zes_power_properties_t

    @property
    def domain(self) -> PowerDomain | int:
        ext = A.zes_power_ext_properties_t()
        props = A.zes_power_properties_t()
        props.pNext = A.cast(A.pointer(ext), A.c_void_p)
        _call(A.zesPowerGetProperties, self.handle, byref(props))
        return to_enum(PowerDomain, ext.domain)

    def energy(self) -> tuple[float, float]:
        """(joules, timestamp in seconds) of the energy counter."""
        e = _get(A.zesPowerGetEnergyCounter, self.handle, A.zes_power_energy_counter_t)
        return e.energy / 1e6, e.timestamp / 1e6

    def watts(self, interval: float = 0.1) -> float | None:
        """Average power over `interval` seconds, from two energy samples; None when they give no
        rate (identical timestamps, or a counter that wrapped or reset) or an implausible one
        (above 4 x the domain's max power limit, at most 10 kW: a counter glitch). Never a bogus
        value."""
        interval = _interval(interval)
        try:
            limits = (self.properties.maxLimit, self.properties.defaultLimit)
        except ZesError:
            limits = (None, None)  # the bound is then the physical cap
        a = _get(A.zesPowerGetEnergyCounter, self.handle, A.zes_power_energy_counter_t)
        time.sleep(interval)
        b = _get(A.zesPowerGetEnergyCounter, self.handle, A.zes_power_energy_counter_t)
        return A._native.power_watts((a.energy, a.timestamp), (b.energy, b.timestamp), *limits)

    def limits(self) -> list[PowerLimit]:
        count = c_uint32(0)
        _call(A.zesPowerGetLimitsExt, self.handle, byref(count), None)
        descs = (A.zes_power_limit_ext_desc_t * max(count.value, 1))()
        _call(A.zesPowerGetLimitsExt, self.handle, byref(count), descs)
        return [
            PowerLimit(to_enum(PowerLevel, d.level), bool(d.enabled), d.limit, d.interval, d.source, d.limitUnit)
            for d in descs[: count.value]
        ]

    def set_limit(self, level: int, limit_mw: int) -> None:
        """Change the limit of one level (in milliwatts), keeping the others."""
        count = c_uint32(0)
        _call(A.zesPowerGetLimitsExt, self.handle, byref(count), None)
        descs = (A.zes_power_limit_ext_desc_t * max(count.value, 1))()
        _call(A.zesPowerGetLimitsExt, self.handle, byref(count), descs)
        for d in descs[: count.value]:
            if d.level == level:
                d.limit = int(limit_mw)
        _call(A.zesPowerSetLimitsExt, self.handle, byref(count), descs)


class FrequencyDomainHandle(_Component):
    __slots__ = ()
    _props_fn = staticmethod(A.zesFrequencyGetProperties)
    _props_type = A.zes_freq_properties_t

    def state(self):
        return _get(A.zesFrequencyGetState, self.handle, A.zes_freq_state_t)

    def range(self) -> tuple[float, float]:
        r = _get(A.zesFrequencyGetRange, self.handle, A.zes_freq_range_t)
        return r.min, r.max

    def set_range(self, min_mhz: float, max_mhz: float) -> None:
        r = A.zes_freq_range_t(min=min_mhz, max=max_mhz)
        _call(A.zesFrequencySetRange, self.handle, byref(r))

    def available_clocks(self) -> list[float]:
        count = c_uint32(0)
        _call(A.zesFrequencyGetAvailableClocks, self.handle, byref(count), None)
        clocks = (c_double * max(count.value, 1))()
        _call(A.zesFrequencyGetAvailableClocks, self.handle, byref(count), clocks)
        return list(clocks[: count.value])

    def info(self) -> FrequencyInfo:
        p, s = self.properties, self.state()
        lo, hi = self.range()
        return FrequencyInfo(
            to_enum(FreqDomain, p.type),
            bool(p.onSubdevice),
            p.subdeviceId,
            bool(p.canControl),
            p.min,
            p.max,
            lo,
            hi,
            s.request,
            s.actual,
            s.efficient,
            s.tdp,
            s.throttleReasons,
        )


class TemperatureSensor(_Component):
    __slots__ = ()
    _props_fn = staticmethod(A.zesTemperatureGetProperties)
    _props_type = A.zes_temp_properties_t

    @property
    def sensor(self) -> TempSensors | int:
        return to_enum(TempSensors, self.properties.type)

    def read(self) -> float:
        """Degrees Celsius."""
        t = c_double(0)
        _call(A.zesTemperatureGetState, self.handle, byref(t))
        return t.value


class Engine(_Component):
    __slots__ = ()
    _props_fn = staticmethod(A.zesEngineGetProperties)
    _props_type = A.zes_engine_properties_t

    @property
    def group(self) -> EngineGroup | int:
        return to_enum(EngineGroup, self.properties.type)

    def activity(self) -> tuple[int, int]:
        """(activeTime, timestamp) raw counters, in microseconds."""
        s = _get(A.zesEngineGetActivity, self.handle, A.zes_engine_stats_t)
        return s.activeTime, s.timestamp

    def utilization(self, interval: float = 0.1) -> float | None:
        """Percent of `interval` the engine group was busy (None: the samples give no rate, or
        one above 105 %)."""
        interval = _interval(interval)
        a = self.activity()
        time.sleep(interval)
        b = self.activity()
        return utilization_percent(a, b)


def utilization_percent(a: tuple[int, int], b: tuple[int, int]) -> float | None:
    """Busy percentage (0..100) between two (activeTime, timestamp) samples, computed by the Rust
    core's metrics; None when the samples give no rate."""
    return A._native.engine_utilization(a, b)


class Fan(_Component):
    __slots__ = ()
    _props_fn = staticmethod(A.zesFanGetProperties)
    _props_type = A.zes_fan_properties_t

    def rpm(self) -> int:
        speed = c_int32(0)
        _call(A.zesFanGetState, self.handle, A.ZES_FAN_SPEED_UNITS_RPM, byref(speed))
        return speed.value


class Firmware(_Component):
    __slots__ = ()
    _props_fn = staticmethod(A.zesFirmwareGetProperties)
    _props_type = A.zes_firmware_properties_t

    @property
    def name(self) -> str:
        return _text(self.properties.name)

    @property
    def version(self) -> str:
        return _text(self.properties.version)


class RasErrorSet(_Component):
    __slots__ = ()
    _props_fn = staticmethod(A.zesRasGetProperties)
    _props_type = A.zes_ras_properties_t

    def counts(self, clear: bool = False) -> list[int]:
        s = A.zes_ras_state_t()
        _call(A.zesRasGetState, self.handle, 1 if clear else 0, byref(s))
        return list(s.category)


# ------------------------------------------------------------------------------------------------
# Devices


class Device:
    """One Sysman device. Properties are read once; telemetry methods read the driver each call."""

    def __init__(self, driver: Driver, handle, index: int):
        self.driver = driver
        self.handle = handle
        self.index = index
        self._props: DeviceProperties | None = None
        self._components: dict[str, list] = {}
        self._lock = threading.Lock()

    # -- identity ----------------------------------------------------------------------------
    @property
    def properties(self) -> DeviceProperties:
        if self._props is None:
            p = A.zes_device_properties_t()
            ext = A.zes_device_ext_properties_t()
            p.pNext = A.cast(A.pointer(ext), A.c_void_p)
            _call(A.zesDeviceGetProperties, self.handle, byref(p))
            c = p.core
            self._props = DeviceProperties(
                name=_text(p.modelName) or _text(c.name),
                vendor=_text(p.vendorName),
                brand=_text(p.brandName),
                serial_number=_text(p.serialNumber),
                board_number=_text(p.boardNumber),
                driver_version=_text(p.driverVersion),
                type=to_enum(DeviceType, ext.type or c.type),
                vendor_id=c.vendorId,
                device_id=c.deviceId,
                uuid=_uuid_hex(ext.uuid),
                core_clock_mhz=c.coreClockRate,
                num_subdevices=p.numSubdevices,
                max_mem_alloc_size=c.maxMemAllocSize,
                flags=ext.flags,
            )
        return self._props

    @property
    def name(self) -> str:
        return self.properties.name

    @property
    def uuid(self) -> str:
        return self.properties.uuid

    @property
    def driver_index(self) -> int:
        """The position of this device's driver in `Sysman().drivers` (`self.index` is the
        device's position among the devices of all drivers)."""
        return self.driver.index

    def __repr__(self) -> str:
        return f"<pyzes.Device {self.index}: {self.name} {self.uuid}>"

    # -- components --------------------------------------------------------------------------
    def _list(self, key: str, fn, handle_type, cls):
        with self._lock:
            if key not in self._components:
                self._components[key] = [cls(self, h) for h in _enum_handles(fn, self.handle, handle_type)]
            return list(self._components[key])

    def memory_modules(self) -> list[MemoryModule]:
        return self._list("mem", A.zesDeviceEnumMemoryModules, A.zes_mem_handle_t, MemoryModule)

    def power_domains(self) -> list[PowerDomainHandle]:
        return self._list("pwr", A.zesDeviceEnumPowerDomains, A.zes_pwr_handle_t, PowerDomainHandle)

    def frequency_domains(self) -> list[FrequencyDomainHandle]:
        return self._list("freq", A.zesDeviceEnumFrequencyDomains, A.zes_freq_handle_t, FrequencyDomainHandle)

    def temperature_sensors(self) -> list[TemperatureSensor]:
        return self._list("temp", A.zesDeviceEnumTemperatureSensors, A.zes_temp_handle_t, TemperatureSensor)

    def engines(self) -> list[Engine]:
        return self._list("engine", A.zesDeviceEnumEngineGroups, A.zes_engine_handle_t, Engine)

    def fans(self) -> list[Fan]:
        return self._list("fan", A.zesDeviceEnumFans, A.zes_fan_handle_t, Fan)

    def firmwares(self) -> list[Firmware]:
        return self._list("fw", A.zesDeviceEnumFirmwares, A.zes_firmware_handle_t, Firmware)

    def ras_error_sets(self) -> list[RasErrorSet]:
        return self._list("ras", A.zesDeviceEnumRasErrorSets, A.zes_ras_handle_t, RasErrorSet)

    # -- telemetry ---------------------------------------------------------------------------
    def memory(self) -> list[MemoryInfo]:
        return [m.info() for m in self.memory_modules()]

    @property
    def memory_total(self) -> int:
        return sum(m.size for m in self.memory() if m.location == MemLoc.DEVICE)

    def memory_used(self) -> int:
        return sum(m.used for m in self.memory() if m.location == MemLoc.DEVICE)

    def card_power_domain(self) -> PowerDomainHandle | None:
        """The whole-card power domain (or the first one not on a subdevice)."""
        domains = self.power_domains()
        for d in domains:
            if not d.properties.onSubdevice:
                return d
        return domains[0] if domains else None

    def energy_joules(self) -> float:
        d = self.card_power_domain()
        if d is None:
            raise ZesError(A.ZE_RESULT_ERROR_UNSUPPORTED_FEATURE, "energy_joules", "no power domain")
        return d.energy()[0]

    def power_watts(self, interval: float = 0.1) -> float | None:
        d = self.card_power_domain()
        if d is None:
            raise ZesError(A.ZE_RESULT_ERROR_UNSUPPORTED_FEATURE, "power_watts", "no power domain")
        return d.watts(interval)

    def power_limits(self) -> list[PowerLimit]:
        d = self.card_power_domain()
        return d.limits() if d else []

    def frequencies(self) -> list[FrequencyInfo]:
        return [f.info() for f in self.frequency_domains()]

    def temperature(self, sensor: int | None = None) -> float | None:
        """Highest reading of the sensors (of one sensor type when given), Celsius."""
        values = [s.read() for s in self.temperature_sensors() if sensor is None or s.properties.type == sensor]
        return max(values) if values else None

    def temperatures(self) -> dict[str, float]:
        out = {}
        for s in self.temperature_sensors():
            key = getattr(s.sensor, "name", str(s.sensor))
            if s.properties.onSubdevice:
                key += f"/{s.properties.subdeviceId}"
            out[key] = s.read()
        return out

    def utilization(self, interval: float = 0.1, group: int | None = None) -> dict[str, float | None]:
        """Busy percent per engine group over one shared `interval` (None where the two samples
        give no rate); several engines of one group and tile report their busiest."""
        interval = _interval(interval)
        engines = [e for e in self.engines() if group is None or e.properties.type == group]
        first = [e.activity() for e in engines]
        time.sleep(interval)
        out: dict[str, float | None] = {}
        for e, a in zip(engines, first):
            key = getattr(e.group, "name", str(e.group))
            if e.properties.onSubdevice:
                key += f"/{e.properties.subdeviceId}"
            pct = utilization_percent(a, e.activity())
            known = [v for v in (out.get(key), pct) if v is not None]
            out[key] = max(known) if known else None
        return out

    def processes(self) -> list[Process]:
        count = c_uint32(0)
        _call(A.zesDeviceProcessesGetState, self.handle, byref(count), None)
        # Processes come and go between the two calls: a list that grew answers INVALID_SIZE,
        # so ask again with room to spare (bounded, like the Rust API).
        for _attempt in range(8):
            if count.value == 0:
                return []
            capacity = count.value + 4
            states = (A.zes_process_state_t * capacity)()
            count = c_uint32(capacity)
            try:
                _call(A.zesDeviceProcessesGetState, self.handle, byref(count), states)
                break
            except InvalidSizeError:
                _call(A.zesDeviceProcessesGetState, self.handle, byref(count), None)
        else:
            raise InvalidSizeError(None, "zesDeviceProcessesGetState")
        return [
            Process(s.processId, s.memSize, s.sharedSize, EngineTypeFlag(s.engines), _command(s.processId))
            for s in states[: count.value]
        ]

    def pci(self) -> dict:
        p = _get(A.zesDevicePciGetProperties, self.handle, A.zes_pci_properties_t)
        a = p.address
        out = {
            "bdf": f"{a.domain:04x}:{a.bus:02x}:{a.device:02x}.{a.function:x}",
            "max_gen": p.maxSpeed.gen,
            "max_width": p.maxSpeed.width,
            "max_bandwidth": p.maxSpeed.maxBandwidth,
        }
        try:
            s = _get(A.zesDevicePciGetState, self.handle, A.zes_pci_state_t)
            out.update(status=s.status, gen=s.speed.gen, width=s.speed.width, bandwidth=s.speed.maxBandwidth)
        except ZesError:
            pass
        return out

    def ecc(self) -> dict:
        available, configurable = A.ze_bool_t(0), A.ze_bool_t(0)
        _call(A.zesDeviceEccAvailable, self.handle, byref(available))
        _call(A.zesDeviceEccConfigurable, self.handle, byref(configurable))
        out = {"available": bool(available.value), "configurable": bool(configurable.value)}
        if available.value:
            s = _get(A.zesDeviceGetEccState, self.handle, A.zes_device_ecc_properties_t)
            out.update(current=s.currentState, pending=s.pendingState, pending_action=s.pendingAction)
        return out

    def state(self) -> dict:
        s = _get(A.zesDeviceGetState, self.handle, A.zes_device_state_t)
        return {"reset_reasons": s.reset, "repaired": s.repaired}

    def snapshot(self, interval: float = 0.1) -> dict:
        """Every live metric of the device in one JSON-ready dict, read by the Rust core twice over
        one `interval` (GIL released): properties, power (W, per domain), engine utilization (%),
        frequencies, temperatures, memory (used, bandwidth), PCI throughput, processes. A reading
        the driver refuses stands as `{"error": "ZE_RESULT_...", "reason": "permission" |
        "unsupported" | "device_lost" | "implausible" | "other"}` instead of failing the whole
        snapshot (`implausible`: a rate beyond what the device can do, a counter glitch).
        `interval`: seconds, finite, from 0 to 3600 (`ValueError` otherwise)."""
        return _plain(json.loads(A._native.snapshot_json(interval, self.index))[0])


def _plain(node):
    """A native snapshot without its reading wrappers: a value stands as itself, a refused
    reading as `{"error": code name, "reason": class}`."""
    if isinstance(node, dict):
        if node.keys() == {"value"}:
            return _plain(node["value"])
        if node.keys() == {"error"} and isinstance(node["error"], dict):
            return {"error": node["error"].get("code"), "reason": node["error"].get("reason")}
        return {key: _plain(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_plain(value) for value in node]
    return node


def _command(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as f:
            return f.read().strip() or None
    except OSError:
        return None


class Driver:
    """One Level Zero driver: `index` is its position in `Sysman().drivers`; its `devices` are
    numbered from `first_device` on, so that a device's `index` is the same in its driver's list and
    in `pyzes.devices()` (the devices of all drivers, in driver order)."""

    def __init__(self, handle, index: int, first_device: int = 0):
        self.handle = handle
        self.index = index
        handles = _enum_handles(A.zesDeviceGet, handle, A.zes_device_handle_t)
        self.devices = [Device(self, h, first_device + i) for i, h in enumerate(handles)]

    def device_by_uuid(self, uuid: bytes | str) -> Device | None:
        raw = bytes.fromhex(uuid.replace("-", "")) if isinstance(uuid, str) else bytes(uuid)
        u = A.zes_uuid_t()
        for i, b in enumerate(raw[:16]):
            u.id[i] = b
        h, on_sub, sub_id = A.zes_device_handle_t(), A.ze_bool_t(0), c_uint32(0)
        rc = A.zesDriverGetDeviceByUuidExp(self.handle, u, byref(h), byref(on_sub), byref(sub_id))
        if rc != 0:
            return None
        return next((d for d in self.devices if d.handle.value == h.value), None)


class Sysman:
    """The initialized Sysman session: drivers and their devices (one per process)."""

    def __new__(cls, flags: int = 0):
        global _sysman
        with _lock:
            if _sysman is None:
                self = super().__new__(cls)
                check(A.zesInit(flags), "zesInit")
                self.drivers = []
                for i, h in enumerate(_enum_handles_root()):
                    first = sum(len(d.devices) for d in self.drivers)
                    self.drivers.append(Driver(h, i, first))
                _sysman = self
            return _sysman

    @property
    def devices(self) -> list[Device]:
        out = []
        for d in self.drivers:
            out.extend(d.devices)
        return out

    def device_by_uuid(self, uuid: str) -> Device | None:
        for d in self.drivers:
            dev = d.device_by_uuid(uuid)
            if dev is not None:
                return dev
        return None

    def snapshot(self, interval: float = 0.1) -> dict:
        """Every device's live metrics (see `Device.snapshot`), read concurrently over one window."""
        devices = [_plain(d) for d in json.loads(A._native.snapshot_json(interval))]
        return {"devices": devices, "library": A._native.library_info()}


def _enum_handles_root() -> list:
    count = c_uint32(0)
    _call(A.zesDriverGet, byref(count), None)
    array = (A.zes_driver_handle_t * max(count.value, 1))()
    _call(A.zesDriverGet, byref(count), array)
    return [array[i] for i in range(count.value)]


def native_snapshot(interval: float = 0.0) -> list[dict]:
    """Every device sampled by the native Rust API (`zes` crate): one thread per device, one
    `interval`-second window for all, derived rates included (power_w, engine_utilization_pct...).
    Each reading is `{"value": ...}` or `{"error": {...}}`. The fastest way to sample many devices."""
    return json.loads(A._native.snapshot_json(interval))


def _forget_session() -> None:
    """Drop the cached session (after the simulated machine was rebuilt)."""
    global _sysman
    with _lock:
        _sysman = None


def init(flags: int = 0) -> Sysman:
    """Initialize Sysman (once) and return the session."""
    return Sysman(flags)


def devices() -> list[Device]:
    """All Sysman devices of all drivers."""
    return Sysman().devices


def snapshot(interval: float = 0.1) -> dict:
    """`Sysman().snapshot()`: every device's live metrics in one JSON-ready dict."""
    return Sysman().snapshot(interval)
