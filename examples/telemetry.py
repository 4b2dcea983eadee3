"""Print the telemetry of every GPU, the Pythonic way.

PYZES_SIMULATE=1 python3 examples/telemetry.py      # the built-in simulated GPUs
python3 examples/telemetry.py                       # the real GPUs of this machine
"""

import pyzes


def show(reading, unit, fmt="{:.1f}"):
    return "n/a" if reading is None else (fmt.format(reading) + " " + unit)


def main() -> None:
    devices = pyzes.devices()
    info = pyzes.library_info() or {}
    path = "legacy (ZES_ENABLE_SYSMAN + zeInit)" if info.get("legacy") else "zesInit"
    print(f"{len(devices)} GPU(s) through {info.get('path')}, {path} path")
    for index, dev in enumerate(devices):
        p = dev.properties
        print(f"\n[{index}] {dev.name}  uuid {p.uuid}")
        try:
            watts = dev.power_watts(interval=0.2)
        except pyzes.ZesError as e:  # e.g. InsufficientPermissionsError without root
            watts = None
            print(f"    power: {e.name}")
        print(f"    power        {show(watts, 'W')}")
        print(f"    temperature  {show(dev.temperature(), 'C', '{:.0f}')}")
        used, total = dev.memory_used(), dev.memory_total
        print(f"    memory       {used / 2**30:.1f} / {total / 2**30:.1f} GiB")
        # Engine groups per tile ("COMPUTE_ALL/1" is tile 1); the *_ALL groups sum up each kind.
        busy = {g: pct for g, pct in dev.utilization(interval=0.2).items() if "_ALL" in g}
        print("    utilization  " + ", ".join(f"{g} {pct:.0f}%" for g, pct in sorted(busy.items())))
        for proc in dev.processes():
            print(f"    process      pid {proc.pid} ({proc.command or '-'}), {proc.memory / 2**30:.1f} GiB")


if __name__ == "__main__":
    main()
