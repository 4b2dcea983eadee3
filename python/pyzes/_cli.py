"""The `zes-smi` console script: the Rust command line of this project, run from the native
module (so `pip install pyzes` puts `zes-smi` on PATH, simulator included)."""

from __future__ import annotations

import signal
import sys

from . import _native


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if argv is None:
        # Behave like a native program: Ctrl-C ends it (the command line runs without the GIL,
        # so Python's own KeyboardInterrupt handling could not interrupt a `watch` loop).
        signal.signal(signal.SIGINT, signal.SIG_DFL)
    return _native.zes_smi(["zes-smi", *args])


if __name__ == "__main__":
    sys.exit(main())
