"""Our example program in the original's style, lazy loading, and the no-loader case (in child
processes, since the library choice is per process)."""

from __future__ import annotations

import ctypes
import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
import pyzes
from conftest import EXPECT_LOADER_VERSION, REAL_LOADER, loader_spec, sim, version_meets

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "python" / "examples" / "pyzes_example.py"


def test_example_program_reports_the_machine(capsys):
    sim({"op": "clock", "mode": "frozen"})
    main = runpy.run_path(str(EXAMPLE), run_name="example")["main"]
    report = main()
    out = capsys.readouterr().out
    assert "Driver Count: 1" in out
    devices = report["devices"]
    assert len(devices) == 3
    for i, dev in enumerate(devices):
        t = sim({"op": "truth", "device": i})
        assert dev["name"] == t["name"]
        assert dev["uuid_lookup"] is True
        assert sum(m["size"] for m in dev["memory"]) == t["memory_size_bytes"]
        assert dev["frequency_restored"] is True
        assert dev["temperatures"] and all(20 < x < 110 for x in dev["temperatures"])
        assert dev["ecc_available"] in (True, False)
        assert [p[0] for p in dev["processes"]] == [p["pid"] for p in t["processes"]]
        assert dev["pci"].startswith("0000:")
    # the clock is frozen: no energy accrues between the two samples
    assert all(w == 0 for dev in devices for w in dev["power_w"])


def run_child(code: str, **env) -> subprocess.CompletedProcess:
    full = dict(os.environ)
    for k in ("PYZES_SIMULATE", "ZE_ENABLE_ALT_DRIVERS", "ZES_LIBRARY"):
        full.pop(k, None)
    full.update(env)
    return subprocess.run(
        [sys.executable, "-c", code], env=full, capture_output=True, text=True, timeout=120, check=False
    )


def test_import_never_loads_and_missing_library_is_reported():
    code = """
import pyzes
from pyzes import *
assert pyzes.library_info() is None          # nothing opened by the import
rc = zesInit(0)
assert rc == ZE_RESULT_ERROR_UNINITIALIZED, hex(rc)
err = pyzes.last_load_error()
assert "/nonexistent/libze_loader.so.1" in err, err
c = c_uint32(0)
assert zesDriverGet(byref(c), None) == ZE_RESULT_ERROR_UNINITIALIZED
try:
    pyzes.devices()
except pyzes.LibraryNotFoundError as e:
    assert "tried" in str(e) and isinstance(e, OSError)
    print("ok")
"""
    r = run_child(code, ZES_LIBRARY="/nonexistent/libze_loader.so.1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"


def test_simulate_from_environment_with_preset():
    code = """
import pyzes
print(",".join(d.name for d in pyzes.devices()))
print(pyzes.library_info()["kind"])
"""
    r = run_child(code, PYZES_SIMULATE="a770")
    assert r.returncode == 0, r.stderr
    names, kind = r.stdout.strip().splitlines()
    assert names == "Intel(R) Arc(TM) A770 Graphics" and kind == "driver"


def test_example_as_a_script():
    r = subprocess.run(
        [sys.executable, str(EXAMPLE)],
        env=dict(os.environ, PYZES_SIMULATE="1"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("Device ") == 3


def test_library_in_use():
    info = pyzes.library_info()
    if REAL_LOADER:
        assert info["kind"] == "loader"
        # The path this loader must take, from what it says of itself: spec 1.5 brought zesInit.
        spec = loader_spec(info["path"])
        assert spec is not None, "an initialized loader reports its spec version"
        exports_zes_init = hasattr(ctypes.CDLL(info["path"]), "zesInit")
        assert info["has_zesInit"] == exports_zes_init == (spec >= (1, 5)), (spec, info)
        assert info["legacy"] == (not exports_zes_init), info
        if EXPECT_LOADER_VERSION:
            assert version_meets(info["loader_version"], EXPECT_LOADER_VERSION), info
    else:
        assert info["kind"] == "driver" and info["path"] == pyzes.native_path()


# The situation of a user pointing at a oneAPI or conda loader: an explicit loader in its own
# directory, while the dynamic linker's search finds layers of another loader version first.
# scripts/test.sh sets both inside its Debian trixie root (trixie's 1.20.6 loader copied into a
# directory of its own; bookworm's 1.8.12 layers first on the search path).
EXPLICIT_LOADER = os.environ.get("PYZES_TEST_EXPLICIT_LOADER")
OTHER_LAYERS = os.environ.get("PYZES_TEST_OTHER_LAYERS")


@pytest.mark.skipif(not (EXPLICIT_LOADER and OTHER_LAYERS), reason="needs the two loaders scripts/test.sh sets up")
def test_an_explicit_loader_uses_its_own_layers_beside_another_version():
    base = _child_env()
    for key in ("ZEL_LIBRARY_PATH", "ZE_ENABLE_VALIDATION_LAYER", "ZE_ENABLE_PARAMETER_VALIDATION"):
        base.pop(key, None)
    base.update(LD_LIBRARY_PATH=OTHER_LAYERS, ZE_ENABLE_ALT_DRIVERS=pyzes.native_path(), ZES_LIBRARY=EXPLICIT_LOADER)

    def child(code: str, *args: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-c", code, *args],
            env={**base, **env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    # The trap, shown with the loader alone: it loads the other version's tracing layer.
    bare = "import ctypes, os; print(hex(ctypes.CDLL(os.environ['ZES_LIBRARY']).zesInit(0)))"
    r = child(bare, ZES_ENABLE_SYSMAN="1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == hex(pyzes.ZE_RESULT_ERROR_UNSUPPORTED_VERSION)
    # pyzes gives the explicit loader its own directory for its layers, by ZES_LIBRARY and by
    # use_library, plainly and with the validation layer.
    code = """
import ctypes, os, sys, pyzes
from pyzes import *
if sys.argv[1] == "use_library":
    pyzes.use_library(os.environ.pop("ZES_LIBRARY"))
assert zesInit(0) == ZE_RESULT_SUCCESS, pyzes.library_info()
info = pyzes.library_info()
getenv = ctypes.CDLL(None).getenv
getenv.restype = ctypes.c_char_p
print(info["path"], info["loader_version"], info["legacy"], getenv(b"ZEL_LIBRARY_PATH").decode(), len(pyzes.devices()))
"""
    directory = os.path.dirname(EXPLICIT_LOADER)
    for how in ("ZES_LIBRARY", "use_library"):
        for mode in ({}, {"ZE_ENABLE_VALIDATION_LAYER": "1", "ZE_ENABLE_PARAMETER_VALIDATION": "1"}):
            r = child(code, how, **mode)
            assert r.returncode == 0, (how, mode, r.stderr)
            path, version, legacy, layers, devices = r.stdout.split()
            assert (path, legacy, layers, devices) == (EXPLICIT_LOADER, "False", directory, "3"), r.stdout
            assert len(version.split(".")) == 3, version


def _child_env() -> dict:
    full = dict(os.environ)
    for k in ("PYZES_SIMULATE", "ZE_ENABLE_ALT_DRIVERS", "ZES_LIBRARY"):
        full.pop(k, None)
    return full


def test_simulate_again_rebuilds_the_machine():
    code = """
import pyzes
pyzes.simulate()
assert len(pyzes.devices()) == 3
pyzes.simulate(preset="a770,igpu")
names = [d.name for d in pyzes.devices()]
assert len(names) == 2 and "A770" in names[0], names
print("ok")
"""
    r = run_child(code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"


def test_latency_from_environment_does_not_block_python_threads():
    code = """
import threading, time, pyzes
devs = pyzes.devices()            # every call now takes 100 ms in the simulated driver
done = {}
def slow():
    t0 = time.perf_counter()
    devs[0].state()
    done["took"] = time.perf_counter() - t0
t = threading.Thread(target=slow)
t.start()
ticks = 0
while t.is_alive():
    ticks += 1
    time.sleep(0.001)
t.join()
assert done["took"] >= 0.09, done
assert ticks >= 30, ticks
print("ok")
"""
    r = run_child(code, PYZES_SIMULATE="1", ZES_SIM_LATENCY_US="100000")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"


def test_zes_smi_console_script():
    r = subprocess.run(
        [sys.executable, "-m", "pyzes._cli", "--simulate", "a770", "list"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert "A770" in r.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "pyzes._cli", "--no-such-option"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2


@pytest.mark.skipif(not REAL_LOADER, reason="two drivers are a loader's business")
def test_two_drivers_through_the_loader(tmp_path):
    """The simulator loaded twice by the loader (its file and a copy: one instance per file), as
    on a machine with two GPU drivers: the loader then wraps every handle. Each driver lists the
    devices of its own instance's machine, and finds each of them by UUID."""
    second = tmp_path / "second-driver.so"
    second.write_bytes(Path(pyzes.native_path()).read_bytes())
    code = """
import ctypes, json, sys
import pyzes
from pyzes import *

def truth_names(path):
    control = ctypes.CDLL(path).zesSimControl
    reply, names = ctypes.create_string_buffer(1 << 16), []
    for i in range(64):
        request = json.dumps({"op": "truth", "device": i}).encode()
        if control(request, reply, len(reply)) != 0:
            return names
        names.append(json.loads(reply.value)["name"])

assert zesInit(0) == ZE_RESULT_SUCCESS
count = c_uint32(0)
assert zesDriverGet(byref(count), None) == ZE_RESULT_SUCCESS
drivers = (zes_driver_handle_t * count.value)()
assert zesDriverGet(byref(count), drivers) == ZE_RESULT_SUCCESS
listed, seen = [], set()
for drv in drivers:
    n = c_uint32(0)
    assert zesDeviceGet(drv, byref(n), None) == ZE_RESULT_SUCCESS
    devs = (zes_device_handle_t * n.value)()
    assert zesDeviceGet(drv, byref(n), devs) == ZE_RESULT_SUCCESS
    names = []
    for dev in devs:
        assert dev.value not in seen
        seen.add(dev.value)
        p, ext = zes_device_properties_t(), zes_device_ext_properties_t()
        p.pNext = cast(pointer(ext), c_void_p)
        assert zesDeviceGetProperties(dev, byref(p)) == ZE_RESULT_SUCCESS
        names.append(p.core.name.decode())
        found, sub, sid = zes_device_handle_t(), ze_bool_t(0), c_uint32(0)
        rc = zesDriverGetDeviceByUuidExp(drv, ext.uuid, byref(found), byref(sub), byref(sid))
        assert rc == ZE_RESULT_SUCCESS and found.value == dev.value and sub.value == 0, hex(rc)
    listed.append(names)
print(json.dumps({"listed": listed, "truth": [truth_names(p) for p in sys.argv[1:]]}))
"""
    r = subprocess.run(
        [sys.executable, "-c", code, pyzes.native_path(), str(second)],
        env={**_child_env(), "ZE_ENABLE_ALT_DRIVERS": f"{pyzes.native_path()},{second}"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert len(out["listed"]) == 2
    assert sorted(out["listed"]) == sorted(out["truth"]), out
    assert all(out["truth"]), out
