"""The C-mirror API: argument forms of the original, bad arguments (result codes, never a crash)."""

from __future__ import annotations

import ctypes
import os

import pytest
import pyzes
from pyzes import (
    POINTER,
    ZE_RESULT_ERROR_INVALID_ARGUMENT,
    ZE_RESULT_ERROR_INVALID_NULL_HANDLE,
    ZE_RESULT_ERROR_INVALID_NULL_POINTER,
    ZE_RESULT_ERROR_INVALID_SIZE,
    ZE_RESULT_SUCCESS,
    byref,
    c_double,
    c_uint32,
    c_uint64,
    cast,
    pointer,
    zes_device_properties_t,
    zes_mem_handle_t,
    zes_mem_state_t,
    zes_pci_properties_t,
    zesDeviceEnumMemoryModules,
    zesDeviceGetProperties,
    zesMemoryGetState,
)


def mem_handles(dev):
    n = c_uint32(0)
    assert zesDeviceEnumMemoryModules(dev, byref(n), None) == 0
    arr = (zes_mem_handle_t * n.value)()
    assert zesDeviceEnumMemoryModules(dev, byref(n), arr) == 0
    return arr


def test_argument_forms(cdev):
    _, devs = cdev
    dev = devs[0]
    for form in (lambda p: byref(p), lambda p: pointer(p), lambda p: p):
        p = zes_device_properties_t()
        assert zesDeviceGetProperties(dev, form(p)) == ZE_RESULT_SUCCESS
        assert p.numSubdevices == 2
    # handles as ints, as handle instances of another class, as array elements
    p = zes_device_properties_t()
    assert zesDeviceGetProperties(dev.value, byref(p)) == 0
    assert zesDeviceGetProperties(ctypes.c_void_p(dev.value), byref(p)) == 0
    # arrays passed as pointers, cast to POINTER
    arr = mem_handles(dev)
    n = c_uint32(len(arr))
    arr2 = (zes_mem_handle_t * len(arr))()
    assert zesDeviceEnumMemoryModules(dev, byref(n), cast(arr2, POINTER(zes_mem_handle_t))) == 0
    assert [h.value for h in arr2] == [h.value for h in arr]
    # an array of states for one handle each, bare struct
    s = zes_mem_state_t()
    assert zesMemoryGetState(arr[0], s) == 0 and s.size > 0


def test_every_function_returns_a_code_on_null_handles():
    """All 157 zes functions with all-None arguments: a result code, no crash."""
    for name, (_, params) in pyzes._FUNCTIONS.items():
        if not name.startswith("zes") or name == "zesInit":
            continue
        args = []
        for _pname, ctype, ptr, _dir, _opt, _rng in params:
            if ptr:
                args.append(None)
            elif ctype == "zes_uuid_t":
                args.append(pyzes.zes_uuid_t())
            elif ctype in ("double", "float"):
                args.append(0.0)
            elif ctype.endswith("handle_t"):
                args.append(None)
            else:
                args.append(0)
        rc = getattr(pyzes, name)(*args)
        assert isinstance(rc, int) and rc != 0 or name in ("zesDriverGet",), (name, hex(rc))


def test_wrong_struct_type(cdev):
    _, devs = cdev
    wrong = zes_pci_properties_t()
    before = bytes(wrong)
    assert zesDeviceGetProperties(devs[0], byref(wrong)) == ZE_RESULT_ERROR_INVALID_ARGUMENT
    assert bytes(wrong) == before


def test_short_raw_buffer(cdev):
    _, devs = cdev
    buf = ctypes.create_string_buffer(16)
    assert zesDeviceGetProperties(devs[0], buf) == ZE_RESULT_ERROR_INVALID_SIZE
    assert bytes(buf) == b"\0" * 16
    big = ctypes.create_string_buffer(ctypes.sizeof(zes_device_properties_t))
    assert zesDeviceGetProperties(devs[0], big) == ZE_RESULT_SUCCESS


def test_count_larger_than_array(cdev):
    _, devs = cdev
    n = c_uint32(0)
    assert zesDeviceEnumMemoryModules(devs[0], byref(n), None) == 0
    arr = (zes_mem_handle_t * 1)()
    n.value = 5
    assert zesDeviceEnumMemoryModules(devs[0], byref(n), arr) == ZE_RESULT_ERROR_INVALID_SIZE
    assert arr[0].value is None
    empty = (zes_mem_handle_t * 0)()
    n.value = 1
    assert zesDeviceEnumMemoryModules(devs[0], byref(n), empty) == ZE_RESULT_ERROR_INVALID_SIZE
    clocks = (c_double * 1)()
    n.value = 100
    assert pyzes.zesFrequencyGetAvailableClocks(None, byref(n), clocks) == ZE_RESULT_ERROR_INVALID_NULL_HANDLE


def test_null_and_unknown_handles(cdev):
    p = zes_device_properties_t()
    assert zesDeviceGetProperties(None, byref(p)) == ZE_RESULT_ERROR_INVALID_NULL_HANDLE
    assert zesDeviceGetProperties(0, byref(p)) == ZE_RESULT_ERROR_INVALID_NULL_HANDLE
    assert zesDeviceGetProperties(0xDEAD0000, byref(p)) == ZE_RESULT_ERROR_INVALID_NULL_HANDLE
    assert zesDeviceGetProperties(pyzes.zes_device_handle_t(0x1234), byref(p)) == ZE_RESULT_ERROR_INVALID_NULL_HANDLE
    s = zes_mem_state_t()
    assert zesMemoryGetState(pyzes.zes_mem_handle_t(12345678), byref(s)) == ZE_RESULT_ERROR_INVALID_NULL_HANDLE


def test_null_pointer_is_answered_by_the_binding(cdev):
    _, devs = cdev
    assert zesDeviceGetProperties(devs[0], None) == ZE_RESULT_ERROR_INVALID_NULL_POINTER


@pytest.mark.parametrize(
    "bad",
    ["text", 3.5, 7, [1, 2], object(), b"bytes"],
)
def test_wrong_python_types_raise_argument_error(cdev, bad):
    _, devs = cdev
    with pytest.raises(ctypes.ArgumentError):
        zesDeviceGetProperties(devs[0], bad)


def test_wrong_scalar_types(cdev):
    _, devs = cdev
    with pytest.raises(ctypes.ArgumentError):
        zesDeviceEnumMemoryModules(devs[0], byref(c_uint64(0)), None)
    with pytest.raises(ctypes.ArgumentError):
        zesDeviceEnumMemoryModules(devs[0], 0, None)
    with pytest.raises(ctypes.ArgumentError):
        zesDeviceGetProperties("device", byref(zes_device_properties_t()))
    with pytest.raises(ctypes.ArgumentError):
        pyzes.zesInit("zero")
    with pytest.raises(TypeError):
        zesDeviceGetProperties(devs[0])


def test_keyword_arguments(cdev):
    _, devs = cdev
    p = zes_device_properties_t()
    assert zesDeviceGetProperties(hDevice=devs[0], pProperties=byref(p)) == 0


def test_uuid_lookup_by_value(cdev):
    drv, devs = cdev
    for dev in devs:
        p, ext = zes_device_properties_t(), pyzes.zes_device_ext_properties_t()
        p.pNext = cast(pointer(ext), pyzes.c_void_p)
        assert zesDeviceGetProperties(dev, byref(p)) == 0
        found, sub, sid = pyzes.zes_device_handle_t(), pyzes.ze_bool_t(0), c_uint32(0)
        rc = pyzes.zesDriverGetDeviceByUuidExp(drv, ext.uuid, byref(found), byref(sub), byref(sid))
        assert rc == 0 and found.value == dev.value
    with pytest.raises(ctypes.ArgumentError):
        pyzes.zesDriverGetDeviceByUuidExp(drv, b"x" * 16, None, None, None)


def test_load_error_is_reported():
    # The library is open in this process; the error text is empty then.
    assert pyzes.last_load_error() is None
    info = pyzes.library_info()
    assert info["kind"] in ("driver", "loader")


def test_handle_of_the_wrong_kind(cdev):
    drv, devs = cdev
    mem = mem_handles(devs[0])[0]
    p, s = zes_device_properties_t(), zes_mem_state_t()
    assert zesDeviceGetProperties(mem, byref(p)) == ZE_RESULT_ERROR_INVALID_NULL_HANDLE
    assert zesMemoryGetState(devs[0], byref(s)) == ZE_RESULT_ERROR_INVALID_NULL_HANDLE
    assert zesMemoryGetState(drv, byref(s)) == ZE_RESULT_ERROR_INVALID_NULL_HANDLE
    # zes and ze handles of the same object are the same type; a loader's intercept layer on the
    # zesInit path keeps its own core objects, and the core API (no zeInit) is uninitialized there
    info = pyzes.library_info()
    core_apart = info["kind"] == "loader" and not info["legacy"] and os.environ.get("ZE_ENABLE_LOADER_INTERCEPT") == "1"
    expected = (pyzes.ZE_RESULT_ERROR_UNINITIALIZED,) if core_apart else (0, 0x78000003)
    assert pyzes.zeDeviceGetProperties(devs[0], byref(pyzes.ze_device_properties_t())) in expected


def test_chain_validation(cdev):
    _, devs = cdev
    p = zes_device_properties_t()
    # garbage address: rejected, no crash
    p.pNext = 0x10
    assert zesDeviceGetProperties(devs[0], byref(p)) == ZE_RESULT_ERROR_INVALID_ARGUMENT
    # memory that is not a known extension struct
    junk = ctypes.create_string_buffer(64)
    p.pNext = ctypes.addressof(junk)
    ctypes.memmove(junk, (ctypes.c_uint32 * 1)(0x7FFF0000), 4)
    assert zesDeviceGetProperties(devs[0], byref(p)) == ZE_RESULT_ERROR_INVALID_ARGUMENT
    # a cycle
    ext = pyzes.zes_device_ext_properties_t()
    ext.pNext = ctypes.addressof(ext)
    p.pNext = cast(pointer(ext), pyzes.c_void_p)
    assert zesDeviceGetProperties(devs[0], byref(p)) == ZE_RESULT_ERROR_INVALID_ARGUMENT
    # a known structure type on a read-only page: the driver could not write it
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    page = libc.mmap(None, 4096, 3, 0x22, -1, 0)  # PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS
    ctypes.c_uint32.from_address(page).value = pyzes.ZES_STRUCTURE_TYPE_DEVICE_EXT_PROPERTIES
    assert libc.mprotect(page, 4096, 1) == 0  # PROT_READ
    p.pNext = page
    assert zesDeviceGetProperties(devs[0], byref(p)) == ZE_RESULT_ERROR_INVALID_ARGUMENT
    p.pNext = cast(pointer(ext), pyzes.c_void_p)
    # a proper chain works
    ext.pNext = None
    assert zesDeviceGetProperties(devs[0], byref(p)) == ZE_RESULT_SUCCESS
    assert ext.type == pyzes.ZES_DEVICE_TYPE_GPU


def test_raw_pointers_to_unmapped_memory(cdev):
    _, devs = cdev
    bad_props = cast(0x10, POINTER(zes_device_properties_t))
    assert zesDeviceGetProperties(devs[0], bad_props) == ZE_RESULT_ERROR_INVALID_ARGUMENT
    bad_count = cast(0x20, POINTER(c_uint32))
    assert zesDeviceEnumMemoryModules(devs[0], bad_count, None) == ZE_RESULT_ERROR_INVALID_ARGUMENT
    # a raw pointer to one handle, asked for many
    one = (zes_mem_handle_t * 1)()
    n = c_uint32(1 << 20)
    raw = cast(one, POINTER(zes_mem_handle_t))
    assert zesDeviceEnumMemoryModules(devs[0], byref(n), raw) in (ZE_RESULT_ERROR_INVALID_SIZE, ZE_RESULT_SUCCESS)


def test_handle_arrays_are_checked(cdev):
    drv, devs = cdev
    handles = (pyzes.zes_device_handle_t * 2)(devs[0], pyzes.zes_device_handle_t(0xBAD0))
    events = (pyzes.zes_event_type_flags_t * 2)()
    n = c_uint32(0)
    rc = pyzes.zesDriverEventListen(drv, 0, 2, handles, byref(n), events)
    assert rc == ZE_RESULT_ERROR_INVALID_NULL_HANDLE
