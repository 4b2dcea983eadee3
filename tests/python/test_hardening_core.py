"""Issue 8 regressions of the native module's own functions and the Rust core's rates: sampling
windows that cannot be slept (case 9), panics never crossing into Python (case 9), implausible
rates (case 17)."""

from __future__ import annotations

import math

import pytest
import pyzes
from conftest import sim

BAD_INTERVALS = [math.inf, -math.inf, math.nan, 1e300, -1.0, -1e-9, 3600.5]
MESSAGE = "interval: expected a number of seconds from 0 to 3600, got "


@pytest.fixture
def frozen():
    sim({"op": "clock", "mode": "frozen"})
    yield


@pytest.mark.parametrize("interval", BAD_INTERVALS, ids=repr)
def test_snapshots_refuse_an_interval_they_cannot_sleep(interval, frozen):
    device = pyzes.devices()[2]
    for take in (pyzes.snapshot, device.snapshot, pyzes.native_snapshot, pyzes._native.snapshot_json):
        # A ValueError (an Exception), never pyo3's PanicException (a BaseException).
        with pytest.raises(ValueError) as info:
            take(interval)
        assert str(info.value).startswith(MESSAGE), (take, info.value)


@pytest.mark.parametrize("interval", BAD_INTERVALS, ids=repr)
def test_sampling_methods_refuse_an_interval_they_cannot_sleep(interval):
    device = pyzes.devices()[2]
    calls = [
        device.card_power_domain().watts,
        device.power_watts,
        device.engines()[0].utilization,
        device.utilization,
        device.memory_modules()[0].bandwidth_bytes_per_s,
    ]
    for call in calls:
        with pytest.raises(ValueError) as info:
            call(interval)
        assert str(info.value) == MESSAGE + repr(interval), call


def test_the_window_bound_is_the_native_one():
    assert pyzes._native.MAX_SNAPSHOT_WINDOW_S == 3600.0


def test_a_zero_window_still_answers(frozen):
    assert pyzes.devices()[2].snapshot(0.0)["properties"]["name"] == sim({"op": "truth", "device": 2})["name"]
    assert pyzes.devices()[2].snapshot(0)["index"] == 2


def test_a_panic_arrives_as_a_zes_error_not_a_panic_exception():
    with pytest.raises(pyzes.ZesError) as info:
        pyzes._native._panic_for_tests("boom")
    err = info.value
    assert type(err).__name__ == "UnknownError" and isinstance(err, Exception)
    assert err.code == pyzes.ZE_RESULT_ERROR_UNKNOWN and err.function == "_panic_for_tests"
    text = str(err)
    assert text.startswith("ZE_RESULT_ERROR_UNKNOWN from _panic_for_tests: internal error (a bug in pyzes): "), text
    assert text.endswith(":\nboom") and "crates/pyzes/src/lib.rs" in text, text
    # The module keeps working afterwards.
    assert pyzes._native.power_watts((0, 0), (1_000_000, 1_000_000)) == 1.0


def test_panics_do_not_write_to_stderr(capfd):
    with pytest.raises(pyzes.ZesError):
        pyzes._native._panic_for_tests("quiet")
    assert capfd.readouterr().err == ""


def test_a_near_zero_read_then_recovery_gives_no_megawatts():
    # Issue 8, case 17: the counter read ~0 once, then its true value: 214,772,961 J in 1 s.
    native = pyzes._native
    glitch, recovered, nxt = (0, 5_000_000), (214_772_961_000_000, 6_000_000), (214_773_210_000_000, 7_000_000)
    assert native.power_watts(glitch, recovered) is None  # above the 10 kW physical cap
    # With the A770's limits (228 W max, 225 W default): bound 912 W.
    assert native.power_watts(glitch, recovered, 228_000, 225_000) is None
    assert native.power_watts(recovered, nxt, 228_000, 225_000) == 249.0
    assert native.power_watts((0, 0), (912_000_000, 1_000_000), 228_000, 225_000) == 912.0
    assert native.power_watts((0, 0), (912_000_001, 1_000_000), 228_000, 225_000) is None
    # No max limit: the default one (400 W bound); none (-1: unknown): the physical cap.
    assert native.power_watts((0, 0), (400_000_001, 1_000_000), -1, 100_000) is None
    assert native.power_watts((0, 0), (9_999_000_000, 1_000_000), -1, -1) == 9999.0


def test_ratios_and_bandwidths_have_plausibility_bounds():
    native = pyzes._native
    assert native.engine_utilization((0, 0), (1_040, 1_000)) == 100.0  # clamped within 5 %
    assert native.engine_utilization((0, 0), (1_500, 1_000)) is None
    assert native.throttle_ratio((0, 0), (1_050, 1_000)) == 1.0
    assert native.throttle_ratio((0, 0), (2_000, 1_000)) is None
    # A 1 MB/s module: read + write up to 1.05 MB/s.
    assert native.memory_bandwidth((0, 0, 0), (600_000, 450_000, 1_000_000), 1_000_000) == (600_000.0, 450_000.0)
    assert native.memory_bandwidth((0, 0, 0), (600_000, 460_000, 1_000_000), 1_000_000) is None
    assert native.memory_bandwidth((0, 0, 0), (101 * 10**12, 0, 1_000_000)) is None  # 100 TB/s cap
    # A 32 GB/s link: each direction up to 33.6 GB/s.
    link = 32_000_000_000
    assert native.pci_throughput((0, 0, 0), (33_000_000_000, 1, 1_000_000), link) == (33e9, 1.0)
    assert native.pci_throughput((0, 0, 0), (1, 34_000_000_000, 1_000_000), link) is None
    assert native.pci_throughput((0, 0, 0), (2 * 10**12, 0, 1_000_000), -1) is None  # 1 TB/s cap
