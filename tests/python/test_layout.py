"""Every generated ctypes struct has the C layout of abi/gen/model.py (size, alignment, offsets)."""

from __future__ import annotations

import ctypes
import sys
from pathlib import Path

import pytest
import pyzes
from pyzes import _abi

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "abi"))
from gen.model import Abi, struct_layout

ABI = Abi.load()


@pytest.mark.parametrize("name", [s["name"] for s in ABI.structs])
def test_struct_layout(name):
    cls = getattr(_abi, name)
    layout = struct_layout(ABI, name)
    assert ctypes.sizeof(cls) == layout["size"]
    assert ctypes.alignment(cls) == layout["align"]
    for field, offset in layout["offsets"].items():
        assert getattr(cls, field).offset == offset, field


def test_every_constant_and_enum_value_is_exported():
    for c in ABI.constants:
        assert getattr(pyzes, c["name"]) == c["value"]
    for e in ABI.enums:
        for v in e["values"]:
            assert getattr(pyzes, v["name"]) == v["value"], v["name"]


def test_all_functions_exported():
    names = [f["name"] for f in ABI.functions if f["name"].startswith("zes")]
    assert len(names) == 157
    for n in names:
        assert callable(getattr(pyzes, n))


def test_typedefs_like_the_original():
    assert pyzes.zes_mem_type_t is ctypes.c_int32
    assert pyzes.zes_engine_type_flags_t is ctypes.c_uint32
    assert pyzes.ze_bool_t is ctypes.c_uint8
    assert issubclass(pyzes.zes_device_handle_t, ctypes.c_void_p)


def test_printable_structure():
    p = pyzes.zes_mem_state_t()
    p.free, p.size = 5, 10
    text = str(p)
    assert text.startswith("zes_mem_state_t(") and "free: 5" in text and "size: 10" in text


def test_star_import_brings_the_ctypes_names():
    ns: dict = {}
    exec("from pyzes import *", ns)  # noqa: S102 - what user code does
    for name in (
        "c_uint32",
        "byref",
        "pointer",
        "cast",
        "c_void_p",
        "c_double",
        "POINTER",
        "Structure",
        "c_char",
        "c_int32",
        "c_uint64",
        "c_uint8",
        "sizeof",
        "addressof",
        "create_string_buffer",
        "zesInit",
        "zesDeviceGetProperties",
        "zes_device_properties_t",
        "zes_device_handle_t",
        "ZE_RESULT_SUCCESS",
        "ZES_STRUCTURE_TYPE_DEVICE_PROPERTIES",
        "pyzes",
    ):
        assert name in ns, name
    assert sum(1 for n in ns if n.startswith("zes") and callable(ns[n]) and not isinstance(ns[n], type)) == 157
