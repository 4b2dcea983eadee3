"""The ABI's enums as `IntEnum` and its flag sets as `IntFlag`, built from the generated tables.

Names drop the C prefix: `EngineGroup.COMPUTE_ALL` is `ZES_ENGINE_GROUP_COMPUTE_ALL`; names that
would start with a digit get a `V` (`EngineGroup.V3D_ALL`). Values a newer driver returns that this
ABI description does not know stay plain ints (see `to_enum`).
"""

from __future__ import annotations

import enum
import re

from . import _abi

__all__ = ["by_c_name", "to_enum", "to_flags"]


def _class_name(c_name: str) -> str:
    stem = re.sub(r"_t$", "", c_name)
    stem = re.sub(r"^zes?_", "", stem)
    return "".join(part.capitalize() for part in stem.split("_"))


def _short_names(values: tuple[tuple[str, int], ...]) -> dict[str, int]:
    names = [n for n, _ in values]
    prefix = names[0]
    for n in names[1:]:
        while not n.startswith(prefix):
            prefix = prefix[:-1]
    prefix = prefix[: prefix.rfind("_") + 1] if len(names) > 1 else names[0][: names[0].rfind("_") + 1]
    out: dict[str, int] = {}
    for n, v in values:
        short = n[len(prefix) :] or n
        if short[0].isdigit():
            short = "V" + short
        if short not in out:
            out[short] = v
    return out


by_c_name: dict[str, type[enum.IntEnum | enum.IntFlag]] = {}
for _c_name, (_flags, _values) in _abi._ENUMS.items():
    if not _values:
        continue
    _name = _class_name(_c_name)
    _base = enum.IntFlag if _flags else enum.IntEnum
    _cls = _base(_name, _short_names(_values), module=__name__)
    _cls.__doc__ = f"C `{_c_name}`" + (f" (bits of `{_flags}`)" if _flags else "")
    globals()[_name] = _cls
    by_c_name[_c_name] = _cls
    if _flags:
        by_c_name[_flags] = _cls
    __all__.append(_name)


def to_enum(cls, value: int):
    """`cls(value)`, or the plain int when the value is not one this ABI knows."""
    try:
        return cls(value)
    except ValueError:
        return int(value)


def to_flags(cls, value: int):
    """The flag set (unknown bits are kept by IntFlag)."""
    return cls(value)
