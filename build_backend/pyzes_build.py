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
"""

from __future__ import annotations

import json
import os
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


def _cargo_options(config_settings) -> list[str]:
    """The profile and target of the build maturin will make (release unless told otherwise)."""
    args = maturin.get_maturin_pep517_args(config_settings)
    options = ["--release"]
    for i, arg in enumerate(args):
        value = args[i + 1] if i + 1 < len(args) else None
        if arg == "--profile" and value:
            options = ["--profile", value]
        elif arg.startswith("--profile="):
            options = ["--profile", arg.split("=", 1)[1]]
        elif arg == "--target" and value:
            options += ["--target", value]
        elif arg.startswith("--target="):
            options += ["--target", arg.split("=", 1)[1]]
        elif arg in ("--locked", "--frozen", "--offline"):
            options.append(arg)
    return options


def stage_native_files(config_settings=None) -> list[Path]:
    """Builds every entry of ARTIFACTS and copies it into STAGE; returns the staged files."""
    cargo = os.environ.get("CARGO", "cargo")
    packages = [arg for package, _, _ in ARTIFACTS for arg in ("-p", package)]
    packages += [arg for package in GRAPH for arg in ("-p", package)]
    targets = ["--lib"] + [arg for _, name, kind in ARTIFACTS if kind == "bin" for arg in ("--bin", name)]
    command = [cargo, "build", *targets, *packages, *_cargo_options(config_settings)]
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
