"""Every function, every pointer parameter given each kind of wrong object: a result code or
ctypes.ArgumentError, never a crash (run in a child process so that a crash is a failure)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

CHILD = textwrap.dedent(
    """
    import ctypes, sys
    sys.path.insert(0, {tests!r})
    import conftest, pyzes
    from pyzes import byref, c_uint32

    handles = conftest.handles_by_type()
    drv, devs = handles["zes_driver_handle_t"], [handles["zes_device_handle_t"]]

    skip = {{"zesInit", "zesDeviceReset", "zesDeviceResetExt", "zesFirmwareFlash", "zesFirmwareFlashExt"}}
    wrong = [
        lambda: None,
        lambda: ctypes.create_string_buffer(1),
        lambda: ctypes.c_uint8(),
        lambda: pyzes.zes_pci_properties_t(),
        lambda: (ctypes.c_uint32 * 0)(),
        lambda: ctypes.cast(0x30, ctypes.POINTER(ctypes.c_uint32)),
    ]
    calls = codes = errors = 0
    for name, (_, params) in pyzes._FUNCTIONS.items():
        if name in skip or not name.startswith("zes"):
            continue
        fn = getattr(pyzes, name)
        for target in range(len(params)):
            if not params[target][2]:
                continue
            for make in wrong:
                args = []
                for i, (pname, ctype, ptr, _d, _o, _r) in enumerate(params):
                    if ptr:
                        args.append(make() if i == target else None)
                    elif ctype in handles:
                        args.append(handles[ctype])
                    elif ctype.endswith("handle_t"):
                        args.append(None)
                    elif ctype == "zes_uuid_t":
                        args.append(pyzes.zes_uuid_t())
                    elif ctype in ("double", "float"):
                        args.append(0.0)
                    else:
                        args.append(0)
                calls += 1
                try:
                    rc = fn(*args)
                    assert isinstance(rc, int)
                    codes += 1
                except ctypes.ArgumentError:
                    errors += 1
    print(calls, codes, errors)
    """
)


def test_every_function_with_wrong_pointers_never_crashes():
    tests = str(Path(__file__).resolve().parent)
    env = dict(os.environ)
    r = subprocess.run(
        [sys.executable, "-c", CHILD.format(tests=tests)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    calls, codes, errors = map(int, r.stdout.split())
    assert calls > 1000 and codes + errors == calls
