"""Exceptions of the Pythonic API: `ZesError` and one subclass per `ze_result_t` value.

try:
    dev.power_domains()[0].energy()
except pyzes.InsufficientPermissionsError:   # also a PermissionError
    ...
except pyzes.ZesError as e:
    print(e.code, e.name)
"""

from __future__ import annotations

from . import _abi

__all__ = ["LibraryNotFoundError", "ZesError", "check", "error_for", "result_name"]

RESULT_NAMES: dict[int, str] = {}
for _name, _value in _abi._ENUMS["ze_result_t"][1]:
    RESULT_NAMES.setdefault(_value, _name)


def result_name(code: int) -> str:
    """`ZE_RESULT_ERROR_UNKNOWN` style name of a result code (hex when unknown)."""
    return RESULT_NAMES.get(code, f"0x{code:08x}")


class ZesError(Exception):
    """A Level Zero call returned something other than `ZE_RESULT_SUCCESS`."""

    code: int = -1

    def __init__(self, code: int | None = None, function: str | None = None, detail: str | None = None):
        if code is None:
            code = type(self).code
        self.code = code
        self.name = result_name(code)
        self.function = function
        msg = self.name + (f" from {function}" if function else "") + (f": {detail}" if detail else "")
        super().__init__(msg)


class LibraryNotFoundError(ZesError, OSError):
    """No Level Zero loader or driver could be opened; the message lists every candidate tried."""

    code = _abi.ZE_RESULT_ERROR_UNINITIALIZED

    def __init__(self, detail: str | None = None, function: str | None = None):
        ZesError.__init__(self, self.code, function, detail)


def _class_name(c_name: str) -> str:
    stem = c_name.removeprefix("ZE_RESULT_").removeprefix("ERROR_")
    return "".join(p.capitalize() for p in stem.split("_")) + ("Error" if "ERROR" in c_name else "Result")


_BY_CODE: dict[int, type[ZesError]] = {}
for _name, _value in _abi._ENUMS["ze_result_t"][1]:
    if _value == 0 or _value in _BY_CODE or _name.endswith("FORCE_UINT32"):
        continue
    _bases: tuple[type, ...] = (ZesError,)
    if _name == "ZE_RESULT_ERROR_INSUFFICIENT_PERMISSIONS":
        _bases = (ZesError, PermissionError)
    _cls = type(_class_name(_name), _bases, {"code": _value, "__doc__": f"`{_name}`", "__module__": __name__})
    _BY_CODE[_value] = _cls
    globals()[_cls.__name__] = _cls
    __all__.append(_cls.__name__)


def error_for(code: int, function: str | None = None, detail: str | None = None) -> ZesError:
    """The exception instance for a result code."""
    cls = _BY_CODE.get(code, ZesError)
    return cls(code, function, detail)


def check(code: int, function: str | None = None) -> None:
    """Raise the matching `ZesError` unless `code` is `ZE_RESULT_SUCCESS`."""
    if code != 0:
        if code == _abi.ZE_RESULT_ERROR_UNINITIALIZED:
            from . import _native

            reason = _native.last_load_error()
            if reason:
                raise LibraryNotFoundError(reason, function)
            info = _native.library_info()
            if info is not None and function in ("zesInit", "zeInit"):
                path = "legacy zeInit with ZES_ENABLE_SYSMAN=1" if info.get("legacy") else "zesInit"
                raise error_for(code, function, f"{info['path']} found no Level Zero Sysman driver ({path})")
        raise error_for(code, function)
