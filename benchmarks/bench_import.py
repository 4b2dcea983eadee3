"""Start-up cost: `import pyzes` (and `from pyzes import *`) against the original ctypes pyzes,
each measured as a fresh interpreter's wall time minus that of `python -c pass`. Not a test:
prints figures.

    python3 benchmarks/bench_import.py [--rounds N] [--original DIR]

DIR (or the environment variable PYZES_ORIGINAL_DIR) is a folder holding the original's
`pyzes.py` (bindings/sysman/python/source/pyzes.py of oneapi-src/level-zero); without it the
comparison is skipped with a message. Rounds are interleaved (pass, ours, original, ...) so that
load on the machine hits every command alike; figures are medians. The original opens the Level
Zero loader at import; pyzes opens nothing until the first call.

With `--cli`, also times `zes-smi list` (the one on PATH, normally pip's) against a native
binary (`--native PATH`, default target/release/zes-smi), both on the built-in simulator.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_ms(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU user+system) milliseconds of one run of `argv`. CPU time is the steadier
    figure on a loaded machine: waiting for a core does not count."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = (time.perf_counter() - t0) * 1e3
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, argv)
    return wall, (usage.ru_utime + usage.ru_stime) * 1e3


def interleaved(commands: dict[str, tuple[list[str], dict[str, str]]], rounds: int) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) ms of each command, the commands run in turn `rounds` times."""
    for argv, env in commands.values():  # warm the page cache
        run_ms(argv, env)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, (argv, env) in commands.items():
            times[name].append(run_ms(argv, env))
    return {name: (statistics.median(w for w, _ in t), statistics.median(c for _, c in t)) for name, t in times.items()}


def importtime_top(code: str, env: dict[str, str], top: int) -> list[tuple[int, int, str]]:
    """The `-X importtime` entries of `code` with the largest cumulative time (us), best of 3
    runs per module (self, cumulative, name), excluding what `python -c pass` imports too."""

    def entries(src: str) -> dict[str, tuple[int, int]]:
        best: dict[str, tuple[int, int]] = {}
        for _ in range(3):
            err = subprocess.run(
                [sys.executable, "-X", "importtime", "-c", src], env=env, capture_output=True, text=True, check=True
            ).stderr
            for line in err.splitlines():
                if not line.startswith("import time:") or "self [us]" in line:
                    continue
                self_us, cum_us, name = (part.strip() for part in line[len("import time:") :].split("|"))
                key = name.strip()
                value = (int(self_us), int(cum_us))
                if key not in best or value[1] < best[key][1]:
                    best[key] = value
        return best

    base = entries("pass")
    ours = entries(code)
    rows = [(s, c, name) for name, (s, c) in ours.items() if name not in base]
    return sorted(rows, key=lambda r: -r[1])[:top]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=21)
    ap.add_argument("--original", default=os.environ.get("PYZES_ORIGINAL_DIR"))
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--cli", action="store_true", help="also time zes-smi list (pip's vs native)")
    ap.add_argument("--native", default=str(ROOT / "target" / "release" / "zes-smi"))
    args = ap.parse_args()

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYZES_", "ZES_SIM"))}
    py = sys.executable
    commands = {
        "python -c pass": ([py, "-c", "pass"], env),
        "import pyzes": ([py, "-c", "import pyzes"], env),
        "from pyzes import *": ([py, "-c", "from pyzes import *"], env),
    }
    original = Path(args.original) if args.original else None
    if original is not None and not (original / "pyzes.py").is_file():
        print(f"no pyzes.py in {original}: the original's figures are skipped")
        original = None
    if original is None and args.original is None:
        print("original pyzes not given (--original DIR or PYZES_ORIGINAL_DIR): its figures are skipped")
    if original is not None:
        orig_env = dict(env, PYTHONPATH=str(original))
        commands["import pyzes (original)"] = ([py, "-c", "import pyzes"], orig_env)
        commands["from pyzes import * (original)"] = ([py, "-c", "from pyzes import *"], orig_env)

    # Both sides from their bytecode caches, as after `pip install` (which compiles them); this
    # matters when PYTHONDONTWRITEBYTECODE is set or the sources were touched since.
    ours_dir = subprocess.run(
        [py, "-c", "import os, pyzes; print(os.path.dirname(pyzes.__file__))"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    for folder in [ours_dir] + ([str(original)] if original is not None else []):
        subprocess.run([py, "-m", "compileall", "-q", folder], env=env, check=True)

    print(f"{args.rounds} interleaved rounds, medians, {py} ({sys.version.split()[0]})")
    med = interleaved(commands, args.rounds)
    base_wall, base_cpu = med["python -c pass"]
    print(f"  {'':34s} {'wall':>8s} {'CPU':>8s}   beyond `python -c pass`: wall, CPU")
    for name, (wall, cpu) in med.items():
        extra = "" if name == "python -c pass" else f"   {wall - base_wall:6.1f} {cpu - base_cpu:6.1f} ms"
        print(f"  {name:34s} {wall:6.1f}ms {cpu:6.1f}ms{extra}")
    if original is not None:
        for what in ("import pyzes", "from pyzes import *"):
            (ow, oc), (tw, tc) = med[what], med[f"{what} (original)"]
            ours_w, ours_c, theirs_w, theirs_c = ow - base_wall, oc - base_cpu, tw - base_wall, tc - base_cpu
            print(
                f"  {what}: {ours_c / theirs_c:.2f} x the original's in CPU ({ours_c:.1f} vs {theirs_c:.1f} ms),"
                f" {ours_w / theirs_w:.2f} x in wall time ({ours_w:.1f} vs {theirs_w:.1f} ms)"
            )

    for code in ("import pyzes", "from pyzes import *"):
        print(f"\n-X importtime of `{code}` (largest cumulative, us; modules `python -c pass` loads excluded)")
        print(f"  {'self':>7s} {'cumul.':>7s}  module")
        for s, c, name in importtime_top(code, env, args.top):
            print(f"  {s:7d} {c:7d}  {name}")

    if args.cli:
        pip_cli = shutil.which("zes-smi")
        native = Path(args.native)
        if pip_cli is None or not native.is_file():
            print(
                f"\nzes-smi list: skipped (zes-smi on PATH: {pip_cli}, native binary {native} present: {native.is_file()})"
            )
            return 0
        cli = {
            f"zes-smi list ({pip_cli})": ([pip_cli, "--simulate", "list"], env),
            f"zes-smi list ({native})": ([str(native), "--simulate", "list"], env),
        }
        med = interleaved(cli, args.rounds)
        (a, (aw, ac)), (b, (bw, bc)) = med.items()
        print(f"\n{args.rounds} interleaved rounds, medians (wall, CPU)")
        print(f"  {a}: {aw:.1f} ms, {ac:.1f} ms\n  {b}: {bw:.1f} ms, {bc:.1f} ms")
        print(f"  ratio {aw / bw:.2f} x in wall time, {ac / bc:.2f} x in CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
