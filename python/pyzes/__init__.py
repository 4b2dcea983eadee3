"""pyzes: Intel GPU management and telemetry through Level Zero Sysman (`zes*`).

Two APIs in one package:

* the C-mirror API, a drop-in for the original ctypes pyzes: every `zes*` function under its C
  name and parameter order, every struct, handle type, enum value and constant, plus the ctypes
  names its users rely on (`from pyzes import *`, then `zesInit(0)`, `byref(count)`...). Calls
  return the `ze_result_t` as an int and write into the caller's ctypes objects; the native
  module makes them with the GIL released.
* the Pythonic API: `pyzes.devices()`, `Device` objects with decoded properties, telemetry in SI
  units, `ZesError` exceptions, snapshots as dicts (see `pyzes.Sysman`).

The Level Zero library is opened on first use, never at import. `pyzes.simulate()` (or the
environment variable `PYZES_SIMULATE=1|<preset>|<machine.toml>`) uses the simulated driver built
into the package instead of the installed loader.
"""

from __future__ import annotations

import os as _os
import sys as _sys

from . import _abi
from .errors import *
from .errors import ZesError, check, error_for, result_name  # noqa: F401

# Type checkers see the whole C-mirror API; at run time the ctypes classes and the native
# functions are created on first use (module `__getattr__` below), which keeps `import pyzes`
# to a few milliseconds. `TYPE_CHECKING = False` is the idiom that avoids importing `typing`.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from . import enums as enums
    from ._abi import *
    from ._abi import _STRUCTS as _STRUCTS
    from ._abi import _STYPE_STRUCTS as _STYPE_STRUCTS
    from ._api import Device as Device
    from ._api import Driver as Driver
    from ._api import Sysman as Sysman
    from ._api import devices as devices
    from ._api import init as init
    from ._api import native_snapshot as native_snapshot
    from ._api import snapshot as snapshot

# The ABI's plain values (constants, enum values, tables) are bound here at once; the rest
# comes through `__getattr__`.
globals().update({k: v for k, v in vars(_abi).items() if not k.startswith("_") or k in ("_FUNCTIONS", "_ENUMS")})
del TYPE_CHECKING

__version__ = "0.1.0"

# Code written for the original often says `pyzes.zesX(...)` after `from pyzes import *`.
pyzes = _sys.modules[__name__]

# The Pythonic API lives in `_api` (imported on first use of one of these names).
_API_NAMES = ("Device", "Driver", "Sysman", "devices", "init", "native_snapshot", "snapshot")


_SUBMODULES = ("enums", "_native", "_api")


def _import_module(name: str):
    # importlib on first use only: Python 3.13 no longer has it loaded at start-up.
    from importlib import import_module

    return import_module(name)


_LAZY_TABLES = ("_STRUCTS", "_HANDLES", "_STYPE_STRUCTS")


def __getattr__(name: str):
    # Submodules through importlib: `from . import x` would ask this hook again.
    if name in _API_NAMES:
        value = getattr(_import_module(f"{__name__}._api"), name)
    elif name in _SUBMODULES:
        return _import_module(f"{__name__}.{name}")
    elif name == "__all__":
        # A star-import is coming: create everything once and bind it here, so that the
        # import finds each name in this module's dict instead of calling this hook 1000 times.
        _abi._load_native()
        names = _public_names()
        g = globals()
        for n in names:
            if n not in g:
                g[n] = getattr(_abi, n)
        g["__all__"] = names
        return names
    elif name.startswith("_") and name not in _LAZY_TABLES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    else:
        try:
            value = getattr(_abi, name)
        except AttributeError:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    globals()[name] = value
    return value


def _public_names() -> list[str]:
    """What `from pyzes import *` binds: what the original's binds (the whole C-mirror API,
    the ctypes names included), plus the exceptions and this module's helpers. The Pythonic
    API is used as `pyzes.devices()`...; leaving it out spares a star-import its start-up cost
    (dataclasses, json, enum classes)."""
    own = {n for n in globals() if not n.startswith("_") and n not in _API_NAMES and n != "enums"}
    return sorted(own | set(_abi.__all__))


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_public_names()) | set(_API_NAMES) | {"enums"})


def last_load_error() -> str | None:
    """Why the Level Zero library could not be opened (every candidate tried), or None."""
    from . import _native

    return _native.last_load_error()


def library_info() -> dict | None:
    """The library in use: `path`, `kind` (loader/driver), `loader_version`, `legacy` (True when
    Sysman was reached through `ZES_ENABLE_SYSMAN=1` + `zeInit`, on loaders before spec 1.5)."""
    from . import _native

    return _native.library_info()


def use_library(path: str | None) -> None:
    """Open this loader or driver file instead of searching (before the first call)."""
    from . import _native

    _native.use_library(path)


def native_path() -> str:
    """The file of the native module. It is also a simulated driver file, but one that loads only
    inside a Python process (it needs libpython); other programs use `simulator_driver_path()`."""
    from . import _native

    return _native.__file__


_DRIVER_FILE = {"win32": "zes_sim.dll", "darwin": "libzes_sim.dylib"}.get(_sys.platform, "libzes_sim.so")


def simulator_driver_path() -> str:
    """The simulated driver as a standalone Level Zero driver file shipped in this package (no
    Python inside): point any C/C++/Rust Level Zero program at it with
    `ZE_ENABLE_ALT_DRIVERS=<this path>` (plus `ZES_ENABLE_SYSMAN=1` on spec 1.4 loaders).
    `zes-smi simulator-driver` prints the same path. Raises FileNotFoundError when the package
    was built without it (a `maturin develop` build; `pip install` always builds it)."""
    path = _os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "_sim", _DRIVER_FILE)
    if not _os.path.isfile(path):
        raise FileNotFoundError(
            f"the standalone simulated driver {path} is missing: this pyzes was built without it "
            "(build with `pip install .`, whose build backend makes it)"
        )
    return path


_PRESETS = ("max1550", "a770", "igpu")


def simulate(
    preset: str | None = None,
    config: str | None = None,
    *,
    unprivileged: bool | None = None,
    faults: str | None = None,
    latency_us: int | None = None,
) -> None:
    """Use the simulated driver built into this package instead of the installed loader.

    `preset`: one or a comma list of `max1550`, `a770`, `igpu` (default machine: 2 x max1550 and
    1 x a770); `config`: a TOML machine file. Called before the first Level Zero call it selects
    the simulator; called again while the simulator is in use it rebuilds the simulated machine
    with the new settings (device objects obtained before are then stale).
    """
    env = {
        "ZES_SIM_PRESET": preset,
        "ZES_SIM_CONFIG": config,
        "ZES_SIM_UNPRIVILEGED": None if unprivileged is None else ("1" if unprivileged else "0"),
        "ZES_SIM_FAULTS": faults,
        "ZES_SIM_LATENCY_US": None if latency_us is None else str(latency_us),
    }
    from . import _native

    for key, value in env.items():
        if value is not None:
            _os.environ[key] = value
    if preset is not None and config is None:
        _os.environ.pop("ZES_SIM_CONFIG", None)
    if config is not None and preset is None:
        _os.environ.pop("ZES_SIM_PRESET", None)
    info = _native.library_info()
    if info is None:
        _native.use_library(_native.__file__)
        return
    if info["path"] != _native.__file__ and _os.environ.get("ZE_ENABLE_ALT_DRIVERS") != _native.__file__:
        raise RuntimeError(f"the Level Zero library {info['path']} is already in use in this process")
    sim_control({"op": "reset"})
    from . import _api

    _api._forget_session()


def sim_control(request: dict | str) -> dict:
    """Send one request to the simulated driver (`{"op": "advance", "seconds": 1}`...)."""
    import json

    from . import _native

    text = request if isinstance(request, str) else json.dumps(request)
    reply = _native.sim_control(text)
    return json.loads(reply) if reply else {}


def _simulate_from_env() -> None:
    value = _os.environ.get("PYZES_SIMULATE", "").strip()
    if not value or value == "0":
        return
    if value in ("1", "true", "yes"):
        simulate()
    elif value.endswith(".toml") or _os.sep in value:
        simulate(config=value)
    else:
        simulate(preset=value)


_simulate_from_env()

__all_pythonic__ = [
    "Sysman",
    "Driver",
    "Device",
    "devices",
    "init",
    "snapshot",
    "enums",
    "simulate",
    "simulator_driver_path",
]
