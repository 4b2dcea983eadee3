"""The ABI description (abi/sysman.json) as Python objects, with the derived facts every emitter needs."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ABI_JSON = ROOT / "abi" / "sysman.json"

# C scalar -> Rust type, ctypes name, struct-module format char (for sizes), size in bytes.
SCALARS = {
    "uint8_t": ("u8", "c_uint8", 1),
    "uint16_t": ("u16", "c_uint16", 2),
    "uint32_t": ("u32", "c_uint32", 4),
    "uint64_t": ("u64", "c_uint64", 8),
    "int8_t": ("i8", "c_int8", 1),
    "int16_t": ("i16", "c_int16", 2),
    "int32_t": ("i32", "c_int32", 4),
    "int64_t": ("i64", "c_int64", 8),
    "char": ("c_char", "c_char", 1),
    "double": ("f64", "c_double", 8),
    "float": ("f32", "c_float", 4),
    "size_t": ("usize", "c_size_t", 8),
}


def version_tuple(v: str) -> tuple[int, int]:
    major, minor = v.split(".")
    return int(major), int(minor)


@dataclass(frozen=True)
class Abi:
    raw: dict

    @classmethod
    def load(cls, path: Path = ABI_JSON) -> "Abi":
        return cls(json.loads(path.read_text()))

    @property
    def spec_version(self) -> str:
        return self.raw["spec_version"]

    @property
    def constants(self) -> list[dict]:
        return self.raw["constants"]

    @property
    def scalars(self) -> list[dict]:
        return self.raw["scalars"]

    @property
    def handles(self) -> list[dict]:
        return self.raw["handles"]

    @property
    def enums(self) -> list[dict]:
        return self.raw["enums"]

    @property
    def structs(self) -> list[dict]:
        return self.raw["structs"]

    @property
    def functions(self) -> list[dict]:
        return self.raw["functions"]

    @property
    def zes_functions(self) -> list[dict]:
        return [f for f in self.functions if f["name"].startswith("zes")]

    @property
    def core_functions(self) -> list[dict]:
        return [f for f in self.functions if not f["name"].startswith("zes")]

    @property
    def ddi_tables(self) -> list[dict]:
        return self.raw["ddi_tables"]

    @property
    def getters(self) -> list[dict]:
        return self.raw["getters"]

    @cached_property
    def struct_by_name(self) -> dict[str, dict]:
        return {s["name"]: s for s in self.structs}

    @cached_property
    def enum_by_name(self) -> dict[str, dict]:
        return {e["name"]: e for e in self.enums}

    @cached_property
    def flags_types(self) -> dict[str, dict]:
        """flags typedef name (zes_x_flags_t) -> its flag enum."""
        return {e["flags"]: e for e in self.enums if "flags" in e}

    @cached_property
    def handle_names(self) -> set[str]:
        return {h["name"] for h in self.handles}

    @cached_property
    def scalar_typedefs(self) -> dict[str, str]:
        return {s["name"]: s["c"] for s in self.scalars}

    @cached_property
    def table_of_function(self) -> dict[str, tuple[dict, dict]]:
        """function name -> (dispatch table, entry) that carries it."""
        out = {}
        for t in self.ddi_tables:
            for e in t["entries"]:
                out.setdefault(e["function"], (t, e))
        return out

    @cached_property
    def getter_of_table(self) -> dict[str, str]:
        """dispatch table name -> the exported getter that fills it."""
        return {t["name"]: t["getter"] for t in self.ddi_tables}

    def constant_value(self, name: str) -> int:
        for c in self.constants:
            if c["name"] == name:
                return c["value"]
        raise KeyError(name)

    def array_len(self, field: dict) -> int | None:
        a = field.get("array")
        if a is None:
            return None
        return a if isinstance(a, int) else self.constant_value(a)

    def type_kind(self, c_type: str) -> str:
        if c_type in SCALARS or c_type in self.scalar_typedefs:
            return "scalar"
        if c_type == "void":
            return "void"
        if c_type in self.handle_names:
            return "handle"
        if c_type in self.flags_types:
            return "flags"
        if c_type in self.enum_by_name:
            return "enum"
        if c_type in self.struct_by_name:
            return "struct"
        raise KeyError(f"unknown C type {c_type}")


def is_experimental(name: str) -> bool:
    return bool(re.search(r"Exp\d*$", name))


def short_enum_names(enum: dict) -> dict[str, str]:
    """C value names without the enum's common prefix (ZES_ENGINE_GROUP_COMPUTE_ALL -> COMPUTE_ALL)."""
    names = [v["name"] for v in enum["values"]]
    stem = re.sub(r"_t$", "", enum["name"]).upper() + "_"
    if enum.get("flags"):
        stem = re.sub(r"_t$", "", enum["name"]).upper() + "_"  # ZES_ENGINE_TYPE_FLAG_
    if not all(n.startswith(stem) for n in names):
        prefix = names[0]
        for n in names[1:]:
            while not n.startswith(prefix):
                prefix = prefix[:-1]
        stem = prefix[: prefix.rfind("_") + 1] if len(names) > 1 else names[0][: names[0].rfind("_") + 1]
    out = {}
    for n in names:
        short = n[len(stem):]
        if not short or short[0].isdigit():
            short = "V" + short if short else n
        out[n] = short
    return out


POINTER_SIZE = 8  # the layouts are those of LP64 targets (Linux x86_64/aarch64) and Win64


def size_align(abi: Abi, rec: dict) -> tuple[int, int]:
    """Size and alignment of a field or parameter type under the C rules."""
    if rec.get("ptr", 0):
        size, align = POINTER_SIZE, POINTER_SIZE
    else:
        c_type = rec["type"]
        kind = abi.type_kind(c_type)
        if kind == "scalar":
            base = abi.scalar_typedefs.get(c_type, c_type)
            size = align = SCALARS[base][2]
        elif kind == "handle":
            size = align = POINTER_SIZE
        elif kind in ("enum", "flags"):
            size = align = 4
        elif kind == "struct":
            layout = struct_layout(abi, c_type)
            size, align = layout["size"], layout["align"]
        else:
            raise KeyError(c_type)
    n = abi.array_len(rec)
    return (size * n if n is not None else size), align


def struct_layout(abi: Abi, name: str) -> dict:
    """{'size', 'align', 'offsets': {field: offset}} of a struct, by the C layout rules."""
    offset, max_align, offsets = 0, 1, {}
    for f in abi.struct_by_name[name]["fields"]:
        size, align = size_align(abi, f)
        offset = (offset + align - 1) // align * align
        offsets[f["name"]] = offset
        offset += size
        max_align = max(max_align, align)
    size = (offset + max_align - 1) // max_align * max_align
    return {"size": size, "align": max_align, "offsets": offsets}
