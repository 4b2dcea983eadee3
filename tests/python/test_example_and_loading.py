"""Our example program in the original's style, lazy loading, and the no-loader case (in child
processes, since the library choice is per process)."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path

import pyzes
from conftest import REAL_LOADER, sim

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
    else:
        assert info["kind"] == "driver" and info["path"] == pyzes.native_path()


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
