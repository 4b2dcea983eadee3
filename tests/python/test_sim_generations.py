"""Issue 8 case 18: a device object or handle obtained before `pyzes.simulate()` rebuilt the
simulated machine read whatever device the new machine had at that index. The simulator tags its
handles with the machine's generation: handles of an older machine are refused with
ZE_RESULT_ERROR_INVALID_NULL_HANDLE (the validation layer's code for a handle that is no longer
valid), never aliased."""

from __future__ import annotations

import os

import pytest
import pyzes
from conftest import c_devices, sim
from pyzes import ZE_RESULT_ERROR_INVALID_NULL_HANDLE, ZE_RESULT_SUCCESS, ZesError, byref


@pytest.fixture
def own_machine_settings():
    """`simulate(preset=...)` writes the simulator's settings into the environment: put them back
    (the common teardown then rebuilds the default machine from them)."""
    saved = {k: os.environ.get(k) for k in ("ZES_SIM_PRESET", "ZES_SIM_CONFIG")}
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def test_a_device_from_before_simulate_is_refused(own_machine_settings):
    old = pyzes.devices()
    assert len(old) == 3 and "Max 1550" in old[0].name
    old_used = old[0].memory_used()  # its memory modules' handles are now cached
    assert old_used == sim({"op": "truth", "device": 0})["memory_used_bytes"]

    pyzes.simulate(preset="a770")
    new = pyzes.devices()
    assert len(new) == 1 and "A770" in new[0].name
    assert new[0].memory_used() == sim({"op": "truth", "device": 0})["memory_used_bytes"] != old_used

    # Cached component handles and the device handle itself: refused, not read from the a770.
    with pytest.raises(ZesError) as err:
        old[0].memory_used()
    assert err.value.code == ZE_RESULT_ERROR_INVALID_NULL_HANDLE
    with pytest.raises(ZesError) as err:
        old[0].card_power_domain()
    assert err.value.code == ZE_RESULT_ERROR_INVALID_NULL_HANDLE
    with pytest.raises(ZesError) as err:
        old[2].state()
    assert err.value.code == ZE_RESULT_ERROR_INVALID_NULL_HANDLE


def test_a_c_handle_from_before_simulate_returns_the_code(own_machine_settings):
    _, first = c_devices()
    pyzes.simulate(preset="a770,igpu")
    _, second = c_devices()
    pyzes.simulate(preset="a770,igpu")  # the same machine again: still a new generation
    _, third = c_devices()
    for stale, current in ((first, third), (second, third)):
        assert not {h.value for h in stale} & {h.value for h in current}, "never the same values"
        props = pyzes.zes_device_properties_t()
        assert pyzes.zesDeviceGetProperties(stale[0], byref(props)) == ZE_RESULT_ERROR_INVALID_NULL_HANDLE
        assert bytes(props.core.name).rstrip(b"\0") == b"", "nothing written"
        assert pyzes.zesDeviceGetProperties(current[0], byref(props)) == ZE_RESULT_SUCCESS
        assert b"A770" in bytes(props.core.name)
