"""The C-mirror API's argument checks as an attacker meets them (issue 8): required pointers,
counts from raw pointers, races with other threads, `from_address` views, the raw-memory check,
size links of the firmware functions and byref offsets. Whatever could crash runs in a child
process, so that a signal is a failure and not the end of the test run."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import pyzes
from conftest import c_devices, handles_by_type, sim

NULL_POINTER = pyzes.ZE_RESULT_ERROR_INVALID_NULL_POINTER
NULL_HANDLE = pyzes.ZE_RESULT_ERROR_INVALID_NULL_HANDLE
INVALID_SIZE = pyzes.ZE_RESULT_ERROR_INVALID_SIZE
INVALID_ARGUMENT = pyzes.ZE_RESULT_ERROR_INVALID_ARGUMENT
TESTS = str(Path(__file__).resolve().parent)

# Shared by the child processes: devices and one handle of every component kind the simulated
# machine has, by C handle type.
PRELUDE = textwrap.dedent(
    """
    import ctypes, sys, threading
    sys.path.insert(0, {tests!r})
    import conftest, pyzes
    from ctypes import addressof, byref, cast, c_double, c_size_t, c_uint32, POINTER, sizeof

    handles = conftest.handles_by_type()
    drv, devs = handles["zes_driver_handle_t"], [handles["zes_device_handle_t"]]
    """
)


def run_child(body: str, **env_extra: str) -> str:
    """Runs PRELUDE + body in a child Python; fails on a signal or a non-zero exit."""
    env = dict(os.environ)
    env.update(env_extra)
    code = PRELUDE.format(tests=TESTS) + textwrap.dedent(body)
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600, check=False)
    assert r.returncode == 0, f"child exited {r.returncode}\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    return r.stdout


def loader_available() -> bool:
    try:
        ctypes.CDLL("libze_loader.so.1")
    except OSError:
        return False
    return True


def total_calls() -> int:
    return sum(sim({"op": "calls"}).values())


# --- case 1: required pointers are checked by the binding, before any call ---------------------


def test_required_null_pointers_are_answered_without_a_driver_call():
    handles = handles_by_type()
    before = total_calls()
    checked = 0
    for name, (_, params) in pyzes._FUNCTIONS.items():
        required = [p for p in params if p[2] and not p[4]]
        if not required:
            continue
        args, handle_missing = [], False
        for pname, ctype, ptr, *_ in params:
            if ptr:
                args.append(None)
            elif ctype.endswith("handle_t"):
                handle_missing |= ctype not in handles
                args.append(handles.get(ctype))
            elif ctype == "zes_uuid_t":
                args.append(pyzes.zes_uuid_t())
            elif ctype in ("double", "float"):
                args.append(0.0)
            else:
                args.append(0)
        rc = getattr(pyzes, name)(*args)
        assert rc == (NULL_HANDLE if handle_missing else NULL_POINTER), (name, hex(rc))
        checked += not handle_missing
    # Most functions are reached with all their handles (the preset lacks a few component kinds).
    assert checked > 100
    assert total_calls() == before, "a driver call was made for a null required pointer"


def test_optional_output_array_may_be_null():
    _, devs = c_devices()
    n = ctypes.c_uint32(0)
    assert pyzes.zesDeviceEnumMemoryModules(devs[0], ctypes.byref(n), None) == 0
    assert n.value == len(sim({"op": "truth", "device": 0})["memory"])


def test_null_count_through_the_loaders_intercept_layer_is_a_code():
    if not loader_available():
        pytest.skip("no Level Zero loader installed")
    out = run_child(
        """
        print(pyzes.zesDriverGet(None, None), pyzes.zesDeviceGet(drv, None, None))
        """,
        PYZES_TEST_REAL_LOADER="1",
        ZE_ENABLE_LOADER_INTERCEPT="1",
    )
    assert out.split() == [str(NULL_POINTER), str(NULL_POINTER)]


# --- the sweep: every function, NULL for every parameter (one at a time, then all) -------------

SWEEP = """
import ctypes as C
SIMPLE = {"uint8_t": C.c_uint8, "int8_t": C.c_int8, "uint16_t": C.c_uint16, "int16_t": C.c_int16,
          "uint32_t": C.c_uint32, "int32_t": C.c_int32, "uint64_t": C.c_uint64, "int64_t": C.c_int64,
          "double": C.c_double, "float": C.c_float, "size_t": C.c_size_t, "ze_bool_t": C.c_uint8}

def pointee(ctype, ptr, const):
    if ptr > 1:
        return C.c_void_p()
    if ctype == "char":
        return b"zesInit" if const else C.create_string_buffer(256)
    if ctype == "void":
        return C.create_string_buffer(256)
    if ctype in SIMPLE:
        return SIMPLE[ctype]()
    t = getattr(pyzes, ctype, None)
    if isinstance(t, type) and issubclass(t, (C.Structure, C._SimpleCData)):
        return t()
    return C.c_uint32()

def value(ctype):
    if ctype.endswith("handle_t"):
        return handles.get(ctype)
    if ctype == "zes_uuid_t":
        return pyzes.zes_uuid_t()
    if ctype in ("double", "float"):
        return 0.0
    return 0

calls = wrong = 0
for name, (_, params) in pyzes._FUNCTIONS.items():
    if name in ("zesInit", "zeInit"):
        continue
    fn = getattr(pyzes, name)
    nullable = [i for i, p in enumerate(params) if p[2] or p[1].endswith("handle_t")]
    for target in nullable + ["all"]:
        args = []
        for i, (pname, ctype, ptr, d, optional, rng) in enumerate(params):
            if target == "all" and i in nullable or i == target:
                args.append(None)
            elif ptr:
                args.append(pointee(ctype, ptr, pname == "name"))
            else:
                args.append(value(ctype))
        rc = fn(*args)
        calls += 1
        assert isinstance(rc, int), (name, target)
        p = params[target] if target != "all" else None
        missing = any(params[i][1] not in handles for i in nullable if not params[i][2])
        if p is not None and p[2] and not p[4] and not missing:
            if rc != pyzes.ZE_RESULT_ERROR_INVALID_NULL_POINTER:
                wrong += 1
                print("wrong", name, p[0], hex(rc), file=sys.stderr)
        if p is not None and not p[2] and rc != pyzes.ZE_RESULT_ERROR_INVALID_NULL_HANDLE:
            wrong += 1
            print("wrong", name, p[0], hex(rc), file=sys.stderr)
print(calls, wrong)
"""


@pytest.mark.parametrize("mode", ["direct", "loader-intercept"])
def test_null_sweep_of_every_function_and_parameter_gets_codes(mode):
    env = {}
    if mode == "loader-intercept":
        if not loader_available():
            pytest.skip("no Level Zero loader installed")
        env = {"PYZES_TEST_REAL_LOADER": "1", "ZE_ENABLE_LOADER_INTERCEPT": "1"}
    calls, wrong = map(int, run_child(SWEEP, **env).split())
    assert calls > 500 and wrong == 0


# --- case 2: a raw pointer with a huge count ---------------------------------------------------


def test_raw_pointer_with_huge_count_is_refused_without_allocating():
    out = run_child(
        """
        mem = pyzes.zes_mem_handle_t
        buf = (ctypes.c_uint8 * 64)()
        raw = cast(addressof(buf), POINTER(mem))
        codes = []
        for count in (0xFFFFFFFF, 0x80000000, (pyzes.MAX_RAW_BYTES // 8) + 1):
            n = c_uint32(count)
            codes.append(pyzes.zesDeviceEnumMemoryModules(devs[0], byref(n), raw))
            codes.append(n.value == count)
        print(*codes)
        """
    )
    assert out.split() == [str(INVALID_SIZE), "True"] * 3


# --- case 5: another thread changes pNext or the count while the call runs ---------------------


def test_pnext_changed_by_another_thread_during_the_call_is_not_followed():
    out = run_child(
        """
        conftest.sim({"op": "fault", "latency_us": 300})
        p, ext = pyzes.zes_device_properties_t(), pyzes.zes_device_ext_properties_t()
        good, bad = addressof(ext), 0xDEAD0000
        stop = False
        def flip():
            while not stop:
                p.pNext = bad
                p.pNext = good
        t = threading.Thread(target=flip)
        t.start()
        codes = {}
        try:
            for _ in range(400):
                rc = pyzes.zesDeviceGetProperties(devs[0], byref(p))
                codes[rc] = codes.get(rc, 0) + 1
                # the binding's copies never leak into the caller's struct
                assert p.pNext in (good, bad), hex(p.pNext or 0)
        finally:
            stop = True
            t.join()
        # the last successful call filled the extension as a clean call does
        p2, ref = pyzes.zes_device_properties_t(), pyzes.zes_device_ext_properties_t()
        p2.pNext = addressof(ref)
        assert pyzes.zesDeviceGetProperties(devs[0], byref(p2)) == 0
        print(sorted(codes), bytes(ext.uuid.id) == bytes(ref.uuid.id) != bytes(16))
        """
    )
    codes = out.split("]")[0]
    assert set(map(int, codes.strip("[ ").split(","))) <= {0, INVALID_ARGUMENT}
    assert out.split()[-1] == "True"


def test_count_changed_by_another_thread_during_the_call_cannot_overflow_the_array():
    out = run_child(
        """
        class Guarded(ctypes.Structure):
            _fields_ = [("clocks", c_double * 1), ("guard", c_double * 256)]
        g = Guarded()
        freq = handles["zes_freq_handle_t"]
        n = c_uint32(0)
        assert pyzes.zesFrequencyGetAvailableClocks(freq, byref(n), None) == 0 and n.value > 8
        conftest.sim({"op": "fault", "latency_us": 300})
        stop = False
        def grow():
            while not stop:
                n.value = 200
                n.value = 1
        t = threading.Thread(target=grow)
        t.start()
        ok = 0
        try:
            for _ in range(400):
                n.value = 1
                rc = pyzes.zesFrequencyGetAvailableClocks(freq, byref(n), g.clocks)
                ok += rc == 0
                assert all(v == 0.0 for v in g.guard), "the driver wrote past the array"
        finally:
            stop = True
            t.join()
        print(ok)
        """
    )
    assert int(out) >= 0


# --- case 6: from_address views are checked like raw pointers ----------------------------------


def test_from_address_struct_at_unmapped_address_is_refused():
    out = run_child(
        """
        T = pyzes.zes_device_properties_t
        view = T.from_address(0xDEAD0000)
        a = pyzes.zesDeviceGetProperties(devs[0], view)
        b = pyzes.zesDeviceGetProperties(devs[0], byref(view))
        real = T()
        alias = T.from_address(addressof(real))
        c = pyzes.zesDeviceGetProperties(devs[0], byref(alias))
        print(a, b, c, real.numSubdevices == alias.numSubdevices, bytes(real.core.name).strip(b"\\0") != b"")
        """
    )
    assert out.split() == [str(INVALID_ARGUMENT), str(INVALID_ARGUMENT), "0", "True", "True"]


# --- case 7: the raw-memory check never writes to the memory it checks -------------------------


def test_raw_memory_check_loses_no_concurrent_write():
    out = run_child(
        """
        size = 16 << 20
        buf = (ctypes.c_uint8 * size)()
        base = addressof(buf)
        raw = cast(base, POINTER(pyzes.zes_mem_handle_t))
        # The driver writes the first handles; the writer fills everything after the first 4 KiB.
        start, length = base + 4096, size - 4096
        done = threading.Event()
        lost = []
        def writer():
            for k in range(1, 101):
                ctypes.memset(start, k, length)  # releases the GIL while it runs
                if ctypes.string_at(start, length).count(k) != length:
                    lost.append(k)
            done.set()
        t = threading.Thread(target=writer)
        t.start()
        calls = 0
        while not done.is_set():
            n = c_uint32(length // 8)
            assert pyzes.zesDeviceEnumMemoryModules(devs[0], byref(n), raw) == 0
            calls += 1
        t.join()
        print(calls, len(lost))
        """
    )
    calls, lost = map(int, out.split())
    assert calls > 0 and lost == 0


def test_raw_memory_unmapped_after_a_check_or_read_only_is_refused():
    out = run_child(
        """
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = [ctypes.c_void_p, c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
        libc.munmap.argtypes = [ctypes.c_void_p, c_size_t]
        PROT_READ, PROT_WRITE, MAP_PRIVATE_ANON = 1, 2, 0x22
        T = pyzes.zes_mem_state_t
        mem = handles["zes_mem_handle_t"]
        codes = []
        for prot in (PROT_READ | PROT_WRITE, PROT_READ):
            page = libc.mmap(None, 4096, prot, MAP_PRIVATE_ANON, -1, 0)
            if prot & PROT_WRITE:
                T.from_address(page).stype = pyzes.ZES_STRUCTURE_TYPE_MEM_STATE
            raw = cast(page, POINTER(T))
            codes.append(pyzes.zesMemoryGetState(mem, raw))
            codes.append(pyzes.zesMemoryGetState(mem, T.from_address(page)))
            assert libc.munmap(page, 4096) == 0
            # the memory map was cached by the first check; the page is gone now
            codes.append(pyzes.zesMemoryGetState(mem, raw))
        print(*codes)
        """
    )
    ok, bad = "0", str(INVALID_ARGUMENT)
    assert out.split() == [ok, ok, bad, bad, bad, bad]


# --- case 8: the firmware functions' buffers are bounded by their sizes ------------------------


def test_firmware_buffers_shorter_than_their_sizes_are_refused_before_the_call():
    fw = handles_by_type()["zes_firmware_handle_t"]
    names = ("zesFirmwareGetSecurityVersionExp", "zesFirmwareGetConsoleLogs", "zesFirmwareFlash")

    def calls() -> list[int]:
        return [sim({"op": "calls", "function": n})["calls"] for n in names]

    small = ctypes.create_string_buffer(8)
    before = calls()
    assert pyzes.zesFirmwareGetSecurityVersionExp(fw, small) == INVALID_SIZE
    assert pyzes.zesFirmwareGetConsoleLogs(fw, ctypes.byref(ctypes.c_size_t(64)), small) == INVALID_SIZE
    assert pyzes.zesFirmwareFlash(fw, small, 64) == INVALID_SIZE
    assert pyzes.zesFirmwareFlash(fw, b"12345678", 9) == INVALID_SIZE
    assert calls() == before
    # Buffers as long as the sizes reach the driver.
    version = ctypes.create_string_buffer(pyzes.ZES_STRING_PROPERTY_SIZE)
    pyzes.zesFirmwareGetSecurityVersionExp(fw, version)
    pyzes.zesFirmwareGetConsoleLogs(fw, ctypes.byref(ctypes.c_size_t(8)), small)
    pyzes.zesFirmwareGetConsoleLogs(fw, ctypes.byref(ctypes.c_size_t(64)), None)
    assert calls() == [before[0] + 1, before[1] + 2, before[2]]


def test_event_array_shorter_than_the_device_count_is_refused_before_the_call():
    # "This array must be at least as big as count" (zesDriverEventListen's pEvents).
    drv, devs = c_devices()
    listened = (pyzes.zes_device_handle_t * 2)(devs[0], devs[-1])
    events, n = (ctypes.c_uint32 * 1)(), ctypes.c_uint32(0)
    names = ("zesDriverEventListen", "zesDriverEventListenEx")
    before = [sim({"op": "calls", "function": f})["calls"] for f in names]
    assert pyzes.zesDriverEventListen(drv, 0, 2, listened, ctypes.byref(n), events) == INVALID_SIZE
    assert pyzes.zesDriverEventListenEx(drv, 0, 2, listened, ctypes.byref(n), events) == INVALID_SIZE
    assert [sim({"op": "calls", "function": f})["calls"] for f in names] == before
    enough = (ctypes.c_uint32 * 2)()
    assert pyzes.zesDriverEventListen(drv, 0, 2, listened, ctypes.byref(n), enough) == 0


# --- case 16: byref's offset is honoured -------------------------------------------------------


def test_byref_offset_is_honoured_and_bounded():
    mem = handles_by_type()["zes_mem_handle_t"]
    sim({"op": "clock", "mode": "frozen"})
    T = pyzes.zes_mem_state_t
    states, direct = (T * 2)(), T()
    assert pyzes.zesMemoryGetState(mem, ctypes.byref(direct)) == 0
    assert pyzes.zesMemoryGetState(mem, ctypes.byref(states, ctypes.sizeof(T))) == 0
    assert direct.size == sim({"op": "truth", "device": 0})["memory"][0]["size_bytes"] > 0
    assert (states[1].size, states[1].free, states[1].health) == (direct.size, direct.free, direct.health)
    assert (states[0].size, states[0].free) == (0, 0)
    # An offset that leaves less than one struct, or lies past the end: a size error.
    assert pyzes.zesMemoryGetState(mem, ctypes.byref(states, ctypes.sizeof(T) + 8)) == INVALID_SIZE
    assert pyzes.zesMemoryGetState(mem, ctypes.byref(states, 4 * ctypes.sizeof(T))) == INVALID_SIZE
