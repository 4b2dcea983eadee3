"""The .pyi stubs name exactly what the runtime modules provide."""

from __future__ import annotations

import ast
from pathlib import Path

import pyzes
from pyzes import _abi, _native

PKG = Path(pyzes.__file__).parent


def stub_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


# The machinery of the ABI module's creation on first use, not part of its API.
LAZY_MACHINERY = {
    "_CTYPES_NAMES",
    "_HANDLE_ALIASES",
    "_LOADED_BY_NATIVE",
    "_NATIVE_NAMES",
    "_STRUCT_BUILDERS",
    "_STYPE_NAMES",
    "_TYPEDEFS",
    "_ctypes_layer",
    "_load_native",
    "_public_names",
    "_struct",
}


def test_abi_stub_matches_runtime():
    _abi._load_native()  # everything the module creates on first use, created
    runtime = {n for n in vars(_abi) if not n.startswith("__") and not n.startswith("_build_")}
    import ctypes

    runtime -= set(vars(ctypes))  # ctypes names come from `from ctypes import *` in both
    runtime -= {"annotations", "_Structure", "_native"} | LAZY_MACHINERY
    stubbed = stub_names(PKG / "_abi.pyi") - {"_Handle", "_Pointer", "__getattr__"}
    assert runtime - stubbed == set()
    assert stubbed - runtime == set()


def test_native_stub_matches_runtime():
    runtime = {n for n in vars(_native) if not n.startswith("__")}
    stubbed = stub_names(PKG / "_native.pyi") | stub_names(PKG / "_abi.pyi")
    assert runtime - stubbed == set()


def test_py_typed_present():
    assert (PKG / "py.typed").exists()
