"""The wheel's standalone simulated driver file (`pyzes.simulator_driver_path()`): loaded by plain
C programs through Debian's loader, and several copies of it as several drivers with their own
machines, listed by the Pythonic API with their driver's index. Every run is a child process (a
loader reads its settings once per process); Debian's libze1 and libze-dev and a C compiler are
needed (scripts/setup.sh installs them): their absence fails these tests. Where the program was
built elsewhere (a root without a compiler), PYZES_TEST_C_PROGRAM names it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import pyzes

C_PROGRAM = Path(__file__).resolve().parent.parent / "c" / "sysman_list.c"
SETTINGS = ("PYZES_SIMULATE", "ZES_LIBRARY", "ZE_ENABLE_ALT_DRIVERS", "ZES_ENABLE_SYSMAN")


def child_env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZES_SIM_") and k not in SETTINGS}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def c_program(tmp_path_factory) -> Path:
    prebuilt = os.environ.get("PYZES_TEST_C_PROGRAM")
    if prebuilt:
        # Built outside a root that has no compiler (scripts/test.sh, the trixie root).
        assert Path(prebuilt).is_file(), prebuilt
        return Path(prebuilt)
    cc = shutil.which("cc") or shutil.which("gcc")
    assert cc, "a C compiler is needed (apt-get install gcc)"
    assert Path("/usr/include/level_zero/zes_api.h").exists(), "Level Zero headers needed (apt-get install libze-dev)"
    exe = tmp_path_factory.mktemp("c") / "sysman_list"
    subprocess.run(
        [cc, "-Wall", "-Wextra", "-Werror", "-o", str(exe), str(C_PROGRAM), "-lze_loader", "-ldl"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return exe


def records(output: str) -> dict:
    """The C program's records: {(kind, driver, device): value}."""
    out = {}
    for line in output.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "drivers":
            out["drivers"] = int(rest)
            continue
        driver, device, value = rest.split(" ", 2)
        out[(kind, int(driver), int(device))] = json.loads(value) if kind == "truth" else value
    return out


def test_the_driver_file_ships_in_the_package_and_zes_smi_names_it():
    path = pyzes.simulator_driver_path()
    assert Path(path).is_file()
    assert Path(path).parent == Path(pyzes.__file__).parent / "_sim"
    assert path != pyzes.native_path()
    r = subprocess.run(
        [sys.executable, "-m", "pyzes._cli", "simulator-driver"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == path


def test_a_c_program_reads_the_modeled_truth_through_the_loader(c_program):
    env = child_env(
        ZE_ENABLE_ALT_DRIVERS=pyzes.simulator_driver_path(),
        ZES_ENABLE_SYSMAN="1",
        ZES_SIM_PRESET="a770,igpu",
        ZES_SIM_CLOCK="frozen",
    )
    r = subprocess.run([str(c_program)], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    got = records(r.stdout)
    assert got["drivers"] == 1
    for device, name in enumerate(["Intel(R) Arc(TM) A770 Graphics", "Intel(R) UHD Graphics 770"]):
        truth = got[("truth", 0, device)]
        assert got[("device", 0, device)] == name == truth["name"]
        assert int(got[("memory_used", 0, device)]) == truth["memory_used_bytes"]
        # The clock is frozen and stepped by 2 s before the reads: the counter is the model's.
        assert truth["time_s"] == 2.0
        assert int(got[("energy_uj", 0, device)]) == truth["power_w"][0]["energy_uj"] > 0


def two_copies(tmp_path: Path) -> str:
    a, b = tmp_path / "sim_a.so", tmp_path / "sim_b.so"
    shutil.copy(pyzes.simulator_driver_path(), a)
    shutil.copy(pyzes.simulator_driver_path(), b)
    return f"{a},{b}"


MACHINES = {"ZES_SIM_PRESET_sim_a": "a770", "ZES_SIM_PRESET_sim_b": "igpu,max1550", "ZES_SIM_CLOCK": "frozen"}
NAMES = ["Intel(R) Arc(TM) A770 Graphics", "Intel(R) UHD Graphics 770", "Intel(R) Data Center GPU Max 1550"]


def test_a_c_program_sees_two_copies_as_two_drivers(c_program, tmp_path):
    env = child_env(ZE_ENABLE_ALT_DRIVERS=two_copies(tmp_path), ZES_ENABLE_SYSMAN="1", **MACHINES)
    r = subprocess.run([str(c_program)], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    got = records(r.stdout)
    assert got["drivers"] == 2
    for driver, device, name in [(0, 0, NAMES[0]), (1, 0, NAMES[1]), (1, 1, NAMES[2])]:
        truth = got[("truth", driver, device)]
        assert got[("device", driver, device)] == name == truth["name"]
        assert int(got[("memory_used", driver, device)]) == truth["memory_used_bytes"]
        assert int(got[("energy_uj", driver, device)]) == truth["power_w"][0]["energy_uj"] > 0


PYTHON_CHILD = """
import ctypes, json, os, pyzes
pyzes.use_library("libze_loader.so.1")
files = os.environ["ZE_ENABLE_ALT_DRIVERS"].split(",")

def truth(file, device):
    control = ctypes.CDLL(file).zesSimControl   # the instance the loader loaded (same path)
    reply = ctypes.create_string_buffer(1 << 20)
    request = json.dumps({"op": "truth", "device": device}).encode()
    assert control(request, reply, len(reply)) == 0
    return json.loads(reply.value)

# Before pyzes.devices() is ever called: a driver's own list numbers its devices already.
out = {"per_driver": [[d.index for d in drv.devices] for drv in pyzes.Sysman().drivers]}
out["drivers"] = [d.index for d in pyzes.Sysman().drivers]
out["devices"] = []
devices = pyzes.devices()
local = {}
for dev in devices:
    n = local.get(dev.driver_index, 0)
    local[dev.driver_index] = n + 1
    t = truth(files[dev.driver_index], n)
    used = sum(m.used for m in dev.memory())  # every module: the iGPU's memory is the system's
    out["devices"].append([dev.index, dev.driver_index, dev.name, t["name"], used, t["memory_used_bytes"]])
print(json.dumps(out))
"""


def test_the_pythonic_api_lists_the_devices_of_every_driver(tmp_path):
    env = child_env(ZE_ENABLE_ALT_DRIVERS=two_copies(tmp_path), **MACHINES)
    r = subprocess.run(
        [sys.executable, "-c", PYTHON_CHILD], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert r.returncode == 0, r.stdout + r.stderr
    got = json.loads(r.stdout)
    assert got["drivers"] == [0, 1]
    assert [d[:3] for d in got["devices"]] == [[0, 0, NAMES[0]], [1, 1, NAMES[1]], [2, 1, NAMES[2]]]
    for _, _, name, truth_name, used, truth_used in got["devices"]:
        assert name == truth_name
        assert used == truth_used
    # A device's index is the same in its driver's list and in pyzes.devices().
    assert got["per_driver"] == [[0], [1, 2]]
