"""`import pyzes` does only what it must; the rest is created on first use, the same objects
whichever way it is reached, and `from pyzes import *` still binds the whole C-mirror API.
Each check runs in a fresh interpreter (what is imported is the point)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

# What `import pyzes` may load beyond what the interpreter loads on its own.
IMPORT_ALLOWED = {"pyzes", "pyzes._abi", "pyzes.errors", "__future__"}


def child(code: str) -> dict:
    """Runs `code` in a fresh interpreter; returns the JSON it prints last."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYZES_", "ZES_SIM"))}
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.splitlines()[-1])


def test_import_loads_no_ctypes_native_module_or_pythonic_api():
    before = set(child("import sys, json; print(json.dumps(sorted(sys.modules)))"))
    after = set(child("import sys, json; import pyzes; print(json.dumps(sorted(sys.modules)))"))
    assert after - before - {"json", "json.decoder", "json.scanner", "json.encoder", "_json"} <= IMPORT_ALLOWED


def test_star_import_binds_the_whole_c_mirror_api():
    got = child(
        """
        import ctypes, json, sys
        ns = {}
        exec("from pyzes import *", ns)
        import pyzes
        from pyzes import _abi
        want = set(pyzes._FUNCTIONS) | set(pyzes._STRUCTS) | set(pyzes._HANDLES) | set(_abi._TYPEDEFS)
        want |= {v for _, (_, values) in pyzes._ENUMS.items() for v, _ in values}
        want |= {n for n in vars(ctypes) if not n.startswith("_")}
        want |= {"ZesError", "InsufficientPermissionsError", "check", "simulate", "ZES_MAX_UUID_SIZE"}
        missing = sorted(want - set(ns))
        same = all(ns[n] is pyzes._STRUCTS[n] for n in pyzes._STRUCTS)
        same = same and all(ns[f] is getattr(pyzes._native, f) for f in pyzes._FUNCTIONS)
        print(json.dumps({"missing": missing, "same": same, "api": "pyzes._api" in sys.modules}))
        """
    )
    assert got["missing"] == []
    assert got["same"]
    assert not got["api"]  # the Pythonic API stays `pyzes.devices()`..., loaded on first use


def test_a_struct_created_before_the_native_module_is_the_registered_one():
    # The class exists before the native module is loaded; the module must accept its instances.
    got = child(
        """
        import json
        import pyzes
        props = pyzes.zes_device_properties_t()
        pyzes.simulate()
        assert pyzes.zesInit(0) == 0
        count = pyzes.c_uint32(0)
        pyzes.zesDriverGet(pyzes.byref(count), None)
        drivers = (pyzes.zes_driver_handle_t * count.value)()
        pyzes.zesDriverGet(pyzes.byref(count), drivers)
        pyzes.zesDeviceGet(drivers[0], pyzes.byref(count), None)
        devices = (pyzes.zes_device_handle_t * count.value)()
        pyzes.zesDeviceGet(drivers[0], pyzes.byref(count), devices)
        rc = pyzes.zesDeviceGetProperties(devices[0], pyzes.byref(props))
        print(json.dumps({"rc": rc, "stype": props.stype, "name": props.modelName.decode(),
                          "same": pyzes._abi.zes_device_properties_t is type(props)}))
        """
    )
    assert got["rc"] == 0
    assert got["stype"] == child("import pyzes, json; print(json.dumps(pyzes.ZES_STRUCTURE_TYPE_DEVICE_PROPERTIES))")
    assert got["name"]
    assert got["same"]


def test_enums_created_on_first_use_cover_the_abi():
    got = child(
        """
        import json, sys
        from pyzes import _abi, enums
        lazy = "enum" not in sys.modules or not any(isinstance(v, type) for v in vars(enums).values())
        ns = {}
        exec("from pyzes.enums import *", ns)
        want = {c for c, (_, values) in _abi._ENUMS.items() if values}
        want |= {f for c, (f, values) in _abi._ENUMS.items() if values and f}
        table = enums.by_c_name
        print(json.dumps({
            "lazy": lazy,
            "missing_all": sorted(set(enums.__all__) - set(ns)),
            "missing_c": sorted(want - set(table)),
            "members": {c: {int(m) for m in cls.__members__.values()} == {v for _, v in _abi._ENUMS[c][1]}
                        for c, cls in table.items() if c in _abi._ENUMS},
            "compute": int(enums.EngineGroup.COMPUTE_ALL) == _abi.ZES_ENGINE_GROUP_COMPUTE_ALL,
        }))
        """
    )
    assert got["lazy"]
    assert got["missing_all"] == []
    assert got["missing_c"] == []
    assert all(got["members"].values()), [c for c, ok in got["members"].items() if not ok]
    assert got["compute"]


def test_unknown_names_raise_attribute_error():
    got = child(
        """
        import json
        import pyzes, pyzes.enums
        print(json.dumps([hasattr(pyzes, "zesNoSuchFunction"), hasattr(pyzes._abi, "no_such_t"),
                          hasattr(pyzes.enums, "NoSuchEnum"), hasattr(pyzes, "_no_such_private"),
                          "zes_mem_state_t" in dir(pyzes), "Sysman" in dir(pyzes)]))
        """
    )
    assert got == [False, False, False, False, True, True]
