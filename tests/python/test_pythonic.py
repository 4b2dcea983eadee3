"""The Pythonic API against the simulator's modeled truth (read through its control API)."""

from __future__ import annotations

import enum
import json

import pytest
import pyzes
from conftest import sim
from pyzes import enums


@pytest.fixture
def frozen():
    sim({"op": "clock", "mode": "frozen"})
    yield


def truth(i: int) -> dict:
    return sim({"op": "truth", "device": i})


def test_devices_and_properties():
    devs = pyzes.devices()
    assert [d.name for d in devs] == [truth(i)["name"] for i in range(len(devs))]
    assert len(devs) == 3
    d = devs[0]
    p = d.properties
    assert p.type == enums.DeviceType.GPU and isinstance(p.type, enum.IntEnum)
    assert p.num_subdevices == 2 and p.vendor_id == 0x8086
    assert len(p.uuid) == 36
    assert pyzes.Sysman() is pyzes.Sysman()
    assert pyzes.Sysman().device_by_uuid(d.uuid) is d


def test_memory_matches_truth(frozen):
    for i, d in enumerate(pyzes.devices()):
        t = truth(i)
        assert d.memory_total == t["memory_size_bytes"]
        assert d.memory_used() == t["memory_used_bytes"]
        assert all(m.health == enums.MemHealth.OK for m in d.memory())


def test_power_matches_truth(frozen):
    d = pyzes.devices()[0]
    dom = d.card_power_domain()
    assert dom.domain == enums.PowerDomain.CARD
    e0, t0 = dom.energy()
    sim({"op": "advance", "seconds": 2})
    e1, t1 = dom.energy()
    card = next(p for p in truth(0)["power_w"] if p["where"] == "device")
    assert (e1 - e0) / (t1 - t0) == pytest.approx(card["watts"], rel=1e-3)
    limits = d.power_limits()
    sustained = next(lim for lim in limits if lim.level == enums.PowerLevel.SUSTAINED)
    assert sustained.limit_mw == card["sustained_limit_mw"]


def test_power_limit_set_and_restore():
    dom = pyzes.devices()[2].card_power_domain()
    old = next(lim for lim in dom.limits() if lim.level == enums.PowerLevel.SUSTAINED).limit_mw
    dom.set_limit(enums.PowerLevel.SUSTAINED, old - 10_000)
    assert next(lim for lim in dom.limits() if lim.level == enums.PowerLevel.SUSTAINED).limit_mw == old - 10_000
    dom.set_limit(enums.PowerLevel.SUSTAINED, old)
    assert next(lim for lim in dom.limits() if lim.level == enums.PowerLevel.SUSTAINED).limit_mw == old


def test_utilization_matches_truth(frozen):
    d = pyzes.devices()[0]
    engines = d.engines()
    first = [e.activity() for e in engines]
    sim({"op": "advance", "seconds": 1})
    u = truth(0)["utilization"]
    for e, a in zip(engines, first):
        pct = pyzes._api.utilization_percent(a, e.activity())
        if e.group == enums.EngineGroup.COMPUTE_ALL:
            assert pct == pytest.approx(100 * u["compute"], abs=0.5)
        if e.group == enums.EngineGroup.COPY_ALL:
            assert pct == pytest.approx(100 * u["copy"], abs=0.5)


def test_temperature_frequency_processes(frozen):
    d = pyzes.devices()[0]
    t = truth(0)
    assert d.temperature() == pytest.approx(max(s["celsius"] for s in t["temperatures_c"]), abs=1.0)
    gpu = [f for f in d.frequencies() if f.domain == enums.FreqDomain.GPU]
    truth_gpu = [f for f in t["frequencies_mhz"] if f["domain"] == "ZES_FREQ_DOMAIN_GPU"]
    assert [f.actual_mhz for f in gpu] == pytest.approx([f["actual"] for f in truth_gpu])
    procs = d.processes()
    assert sorted(p.pid for p in procs) == sorted(p["pid"] for p in t["processes"])
    assert all(isinstance(p.engines, enum.IntFlag) for p in procs)


def test_frequency_range_set_and_restore():
    dom = next(f for f in pyzes.devices()[0].frequency_domains() if f.properties.canControl)
    lo, hi = dom.range()
    dom.set_range(lo, (lo + hi) / 2)
    assert dom.range() == (lo, (lo + hi) / 2)
    dom.set_range(lo, hi)
    assert dom.range() == (lo, hi)


def test_pci_ecc_firmware_ras():
    d = pyzes.devices()[0]
    pci = d.pci()
    assert pci["bdf"].count(":") == 2 and pci["max_gen"] >= 4
    ecc = d.ecc()
    assert ecc["available"] is True
    for fw in d.firmwares():
        assert fw.name
    for ras in d.ras_error_sets():
        assert len(ras.counts()) == pyzes.ZES_MAX_RAS_ERROR_CATEGORY_COUNT


def test_snapshot_is_json_and_matches_truth(frozen):
    snap = pyzes.snapshot(interval=0.0)
    snap = json.loads(json.dumps(snap))
    assert len(snap["devices"]) == 3
    for i, dev in enumerate(snap["devices"]):
        t = truth(i)
        assert dev["index"] == i and dev["properties"]["name"] == t["name"]
        assert sum(m["used_bytes"] for m in dev["memory"]) == t["memory_used_bytes"]
        # A frozen clock: the two samples share their timestamps, so no rate is made up.
        assert dev["power_w"] == {"error": "NO_SAMPLE", "reason": "other"}
    one = pyzes.devices()[2].snapshot(interval=0.0)
    assert one["index"] == 2 and one["properties"]["name"] == truth(2)["name"]


def test_unprivileged_mode():
    d = pyzes.devices()[0]
    dom = d.card_power_domain()
    sim({"op": "fault", "unprivileged": True})
    with pytest.raises(pyzes.InsufficientPermissionsError) as info:
        dom.energy()
    assert isinstance(info.value, PermissionError)
    assert info.value.code == pyzes.ZE_RESULT_ERROR_INSUFFICIENT_PERMISSIONS
    assert info.value.name == "ZE_RESULT_ERROR_INSUFFICIENT_PERMISSIONS"
    n = pyzes.c_uint32(0)
    assert pyzes.zesDeviceEnumEngineGroups(d.handle, pyzes.byref(n), None) == 0
    assert n.value == 0
    snap = d.snapshot(interval=0.01)
    refused = {"error": "ZE_RESULT_ERROR_INSUFFICIENT_PERMISSIONS", "reason": "permission"}
    assert snap["power_w"] == refused
    assert all(t["celsius"] == refused for t in snap["temperatures"])
    # No engine group without privileges (as real drivers do): a permission reading, not "other".
    assert snap["engines"] == []
    assert snap["engine_utilization_pct"] == refused
    assert snap["frequencies"] and all(isinstance(f["actual_mhz"], float) for f in snap["frequencies"])


def test_device_lost():
    d = pyzes.devices()[1]
    sim({"op": "fault", "device_lost": {"device": 1}})
    with pytest.raises(pyzes.DeviceLostError):
        d.temperature()
    assert pyzes.devices()[0].temperature() is not None


def test_errors_hierarchy():
    err = pyzes.error_for(pyzes.ZE_RESULT_ERROR_NOT_AVAILABLE, "zesX")
    assert isinstance(err, pyzes.ZesError) and err.name == "ZE_RESULT_ERROR_NOT_AVAILABLE"
    assert "zesX" in str(err)
    assert pyzes.result_name(0x12345) == "0x00012345"


def test_native_snapshot_matches_truth(frozen):
    snaps = pyzes.native_snapshot(0.0)
    assert len(snaps) == 3
    for i, s in enumerate(snaps):
        t = truth(i)
        assert s["properties"]["value"]["name"] == t["name"]
        used = sum(m["used_bytes"]["value"] for m in s["memory"]["value"])
        assert used == t["memory_used_bytes"]
        assert [p["pid"] for p in s["processes"]["value"]] == [p["pid"] for p in t["processes"]]
    json.dumps(snaps)


def test_rates_refuse_identical_timestamps(frozen):
    # A frozen clock gives two samples with the same timestamp: no rate, rather than 0 or inf.
    d = pyzes.devices()[2]
    assert d.power_watts(interval=0.01) is None
    assert set(d.utilization(interval=0.01).values()) == {None}
    mem = d.memory_modules()[0]
    assert mem.bandwidth_bytes_per_s(interval=0.01) is None


def test_repeated_samples_give_no_rate():
    sim({"op": "fault", "repeat_timestamps": True})
    dom = pyzes.devices()[2].card_power_domain()
    assert dom.watts(interval=0.02) is None


def test_energy_counter_wrap_never_gives_absurd_watts():
    # Counters wrap every 20 J (about every 80 ms at the A770's 250 W): many samples straddle a wrap.
    sim({"op": "fault", "energy_wrap_uj": 20_000_000})
    dom = pyzes.devices()[2].card_power_domain()
    readings = [dom.watts(interval=0.05) for _ in range(12)]
    assert None in readings, readings
    assert all(w is None or 0 <= w <= 300 for w in readings), readings
    tdp = next(lim for lim in dom.limits() if lim.level == enums.PowerLevel.SUSTAINED).limit_mw / 1000
    assert any(w is not None and 0 < w <= tdp for w in readings), readings


def test_rates_match_the_rust_core():
    # One implementation serves both APIs: the Pythonic rates are the Rust core's metrics.
    native = pyzes._native
    assert native.power_watts((1_000_000, 10), (3_000_000, 10_010)) == pytest.approx(200.0)
    assert native.power_watts((5_000_000, 10), (1_000, 20)) is None  # counter reset
    assert native.power_watts((1, 10), (2, 10)) is None  # same timestamp
    assert native.engine_utilization((0, 0), (250, 1000)) == pytest.approx(25.0)
    assert native.memory_bandwidth((0, 0, 0), (2_000, 1_000, 1_000_000)) == pytest.approx((2000.0, 1000.0))
    assert native.pci_throughput((10, 10, 0), (5, 20, 1_000_000)) is None
    assert native.throttle_ratio((0, 0), (500, 1000)) == pytest.approx(0.5)
