#!/usr/bin/env python3
"""Generate every file that follows from abi/sysman.json, or check that they are up to date.

    python3 abi/codegen.py           # write the generated files
    python3 abi/codegen.py --check   # exit 1 and name the stale files if any differ

Each emitter in abi/gen/ owns its outputs; nothing generated is edited by hand.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gen.model import ROOT, Abi  # noqa: E402

# (emitter module in abi/gen, output path relative to the repository root)
OUTPUTS = [
    ("rust_sys", "crates/zes-sys/src/generated.rs"),
    ("c_layout", "crates/zes-sys/layout-check/layout_check.c"),
]
# Emitters that other parts add register here when present.
OPTIONAL_OUTPUTS = [
    ("rust_sim", "crates/zes-sim/src/generated.rs"),
    ("python_abi", "python/pyzes/_abi.py"),
    ("python_stubs", "python/pyzes/_abi.pyi"),
    ("rust_pyzes", "crates/pyzes/src/generated.rs"),
]


def outputs() -> list[tuple[str, str]]:
    found = list(OUTPUTS)
    for module, path in OPTIONAL_OUTPUTS:
        if (Path(__file__).resolve().parent / "gen" / f"{module}.py").exists():
            found.append((module, path))
    return found


def main() -> int:
    check = "--check" in sys.argv[1:]
    abi = Abi.load()
    stale = []
    for module, rel in outputs():
        text = importlib.import_module(f"gen.{module}").emit(abi)
        path = ROOT / rel
        current = path.read_text() if path.exists() else None
        if current == text:
            continue
        if check:
            stale.append(rel)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {rel}")
    if stale:
        print("generated files are stale (run python3 abi/codegen.py):", *stale, sep="\n  ", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
