"""The ABI's enums as `IntEnum` and its flag sets as `IntFlag`, built from the generated tables.

Names drop the C prefix: `EngineGroup.COMPUTE_ALL` is `ZES_ENGINE_GROUP_COMPUTE_ALL`; names that
would start with a digit get a `V` (`EngineGroup.V3D_ALL`). Values a newer driver returns that this
ABI description does not know stay plain ints (see `to_enum`).
"""

from __future__ import annotations

from . import _abi

# The classes are created on first use (module `__getattr__`): building all of them costs more
# than the rest of `import pyzes` together. `from pyzes.enums import *` and `by_c_name` build all.


def _class_name(c_name: str) -> str:
    stem = c_name.removesuffix("_t")
    stem = stem.removeprefix("zes_") if stem.startswith("zes_") else stem.removeprefix("ze_")
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


# class name -> C enum name, for every enum with values
_C_NAMES = {_class_name(c): c for c, (_, values) in _abi._ENUMS.items() if values}

# `by_c_name` and the classes come from `__getattr__`.
__all__ = ["by_c_name", "to_enum", "to_flags"]  # noqa: F822
__all__ += list(_C_NAMES)


def _make(name: str, c_name: str):
    import enum

    flags, values = _abi._ENUMS[c_name]
    cls = (enum.IntFlag if flags else enum.IntEnum)(name, _short_names(values), module=__name__)
    cls.__doc__ = f"C `{c_name}`" + (f" (bits of `{flags}`)" if flags else "")
    return cls


def _build(name: str):
    cls = globals()[name] = _make(name, _C_NAMES[name])
    return cls


def _by_c_name() -> dict[str, type]:
    """C enum name (and flags typedef name) -> class, for every enum (all are built). A `ze_` and
    a `zes_` enum of the same short name each keep their own class; the module names the latter."""
    table: dict[str, type] = {}
    for c_name, (flags, values) in _abi._ENUMS.items():
        if not values:
            continue
        name = _class_name(c_name)
        if _C_NAMES[name] == c_name:
            cls = globals().get(name) or _build(name)
        else:
            cls = _make(name, c_name)
        table[c_name] = cls
        if flags:
            table[flags] = cls
    return table


def __getattr__(name: str):
    if name in _C_NAMES:
        return _build(name)
    if name == "by_c_name":
        table = globals()["by_c_name"] = _by_c_name()
        return table
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def to_enum(cls, value: int):
    """`cls(value)`, or the plain int when the value is not one this ABI knows."""
    try:
        return cls(value)
    except ValueError:
        return int(value)


def to_flags(cls, value: int):
    """The flag set (unknown bits are kept by IntFlag)."""
    return cls(value)
