"""PEP 517 build backend of pyzes: maturin, plus the native files the wheel ships beside the
extension module.

maturin packs one cargo artifact, the extension module. The wheel also carries the simulated
driver as a standalone library file (`pyzes/_sim/libzes_sim.so`), which C/C++/Rust programs load
through their Level Zero loader: the extension module cannot serve them, it needs libpython's
symbols. Before maturin runs, this backend builds that file with cargo, in the profile and target
maturin is asked for, and copies it into the package's source folder (`python/pyzes/_sim/`,
ignored by git), where maturin picks it up like any other package file. The cargo packages are
built as one feature graph with the extension's own dependencies (`zes-cli`), so maturin's build
that follows reuses every crate compiled here. A native file that does not build fails the build:
a wheel never ships a stale or missing driver.

Further native files (the native `zes-smi` executable, for instance) are one more entry in
`ARTIFACTS`.

A manylinux build (`--zig` with `--compatibility manylinux2014` or `manylinux_2_X`, passed in
`MATURIN_PEP517_ARGS` or the `build-args` config setting) builds the native files with
`cargo zigbuild` (the `cargo-zigbuild` package) for the same glibc version, so that every ELF file
of the wheel, not only the extension module, runs on that glibc.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import maturin

# The hooks this module does not change are maturin's own.
from maturin import (  # noqa: F401
    build_sdist,
    get_requires_for_build_editable,
    get_requires_for_build_sdist,
    get_requires_for_build_wheel,
    prepare_metadata_for_build_editable,
    prepare_metadata_for_build_wheel,
)

ROOT = Path(__file__).resolve().parent.parent
STAGE = ROOT / "python" / "pyzes" / "_sim"

# (cargo package, target name, target kind) of each native file the wheel carries in STAGE;
# a kind is a library kind ("cdylib") or "bin" (an executable, e.g. ("zes-cli", "zes-smi", "bin")).
ARTIFACTS = [("zes-sim", "zes_sim", "cdylib")]
# Packages built together with the artifacts so that the feature graph is the extension's.
GRAPH = ["zes-cli"]


def _option_value(args: list[str], i: int, name: str) -> str | None:
    """The value of option `name` at args[i] (`name value` or `name=value`), else None."""
    if args[i] == name:
        return args[i + 1] if i + 1 < len(args) else None
    if args[i].startswith(name + "="):
        return args[i].split("=", 1)[1]
    return None


def _glibc_of(compatibility: str) -> str | None:
    """The glibc version of a manylinux policy name (`manylinux2014` -> `2.17`), else None."""
    legacy = {"manylinux2010": "2.12", "manylinux2014": "2.17"}
    if compatibility in legacy:
        return legacy[compatibility]
    match = re.fullmatch(r"manylinux_(\d+)_(\d+)", compatibility)
    return f"{match.group(1)}.{match.group(2)}" if match else None


def _host_triple(cargo: str) -> str:
    rustc = os.environ.get("RUSTC", "rustc")
    output = subprocess.run([rustc, "-vV"], stdout=subprocess.PIPE, check=True, text=True).stdout
    for line in output.splitlines():
        if line.startswith("host: "):
            return line.split(": ", 1)[1].strip()
    raise RuntimeError(f"`{rustc} -vV` names no host triple")


def _cargo_options(config_settings) -> tuple[list[str], bool, str | None]:
    """The profile and target of the build maturin will make (release unless told otherwise),
    whether it links with zig, and the glibc version its manylinux policy asks for."""
    args = maturin.get_maturin_pep517_args(config_settings)
    options = ["--release"]
    target = None
    zig = False
    glibc = None
    for i, arg in enumerate(args):
        if (value := _option_value(args, i, "--profile")) is not None:
            options = ["--profile", value] + options[1:]
        elif (value := _option_value(args, i, "--target")) is not None:
            target = value
        elif (value := _option_value(args, i, "--compatibility") or _option_value(args, i, "--manylinux")) is not None:
            glibc = _glibc_of(value) or glibc
        elif arg == "--zig":
            zig = True
        elif arg in ("--locked", "--frozen", "--offline"):
            options.append(arg)
    if target:
        options += ["--target", target]
    return options, zig, glibc


def _cargo_command(config_settings) -> list[str]:
    """`cargo build` with maturin's profile and target, or `cargo zigbuild` for a zig build (its
    target carries the glibc version: `x86_64-unknown-linux-gnu.2.17`)."""
    cargo = os.environ.get("CARGO", "cargo")
    options, zig, glibc = _cargo_options(config_settings)
    if not zig:
        return [cargo, "build", *options]
    zigbuild = shutil.which("cargo-zigbuild") or shutil.which("cargo-zigbuild", path=str(Path(sys.executable).parent))
    if zigbuild is None:
        raise RuntimeError("a --zig build needs cargo-zigbuild (pip install cargo-zigbuild ziglang)")
    if "--target" in options:
        at = options.index("--target")
        target = options.pop(at + 1)
        options.pop(at)
    else:
        target = _host_triple(cargo)
    if glibc and target.endswith("-linux-gnu"):
        target += f".{glibc}"
    return [zigbuild, "zigbuild", *options, "--target", target]


def stage_native_files(config_settings=None) -> list[Path]:
    """Builds every entry of ARTIFACTS and copies it into STAGE; returns the staged files."""
    packages = [arg for package, _, _ in ARTIFACTS for arg in ("-p", package)]
    packages += [arg for package in GRAPH for arg in ("-p", package)]
    targets = ["--lib"] + [arg for _, name, kind in ARTIFACTS if kind == "bin" for arg in ("--bin", name)]
    command = [*_cargo_command(config_settings), *targets, *packages]
    command += ["--message-format=json-render-diagnostics"]
    print("Running `{}`".format(" ".join(command)), file=sys.stderr)
    result = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"building the native files failed: {' '.join(command)}")
    wanted = {(name, kind) for _, name, kind in ARTIFACTS}
    found: dict[tuple[str, str], Path] = {}
    for line in result.stdout.decode(errors="replace").splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if message.get("reason") != "compiler-artifact":
            continue
        target = message.get("target", {})
        for kind in target.get("kind", []):
            key = (target.get("name"), kind)
            if key not in wanted:
                continue
            if kind == "bin":
                files = [Path(message["executable"])] if message.get("executable") else []
            else:
                # A cdylib's message lists one file (plus a .lib/.pdb on Windows, a .dwp with
                # split debuginfo): the loadable library is the one with the platform's suffix.
                suffix = {"win32": ".dll", "darwin": ".dylib"}.get(sys.platform, ".so")
                files = [Path(f) for f in message.get("filenames", []) if f.endswith(suffix)]
            if files:
                found[key] = files[0]
    missing = wanted - found.keys()
    if missing:
        raise RuntimeError(f"cargo built no file for {sorted(missing)}")
    shutil.rmtree(STAGE, ignore_errors=True)
    STAGE.mkdir(parents=True)
    staged = []
    for source in found.values():
        destination = STAGE / source.name
        shutil.copy2(source, destination)
        staged.append(destination)
    return staged


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    stage_native_files(config_settings)
    return maturin.build_wheel(wheel_directory, config_settings, metadata_directory)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    stage_native_files(config_settings)
    return maturin.build_editable(wheel_directory, config_settings, metadata_directory)
