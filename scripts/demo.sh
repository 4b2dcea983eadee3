#!/usr/bin/env bash
# The main job: installs pyzes (Python package + zes-smi) and runs the tools against the built-in
# simulated GPUs. With --real, the same tools run against this machine's Level Zero loader.
set -euo pipefail
cd "$(dirname "$0")/.."

simulate=(--simulate)
if [ "${1:-}" = "--real" ]; then
    simulate=()
else
    export PYZES_SIMULATE=1
fi

echo "== installing pyzes (builds the Rust extension once; needs a Rust toolchain)"
python3 -m pip uninstall --quiet --disable-pip-version-check --yes pyzes 2>/dev/null || true
python3 -m pip install --quiet --disable-pip-version-check .
bin=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
smi="$bin/zes-smi"

run() { printf '\n$ %s\n' "$*"; "$@"; }

run "$smi" "${simulate[@]}" list
run "$smi" "${simulate[@]}" stats -d 2
run "$smi" "${simulate[@]}" processes
run "$smi" "${simulate[@]}" watch -n 3 -i 500ms -m power,util,temp,mem
run python3 examples/telemetry.py

echo
echo "== the exporter, scraped once"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$smi" "${simulate[@]}" exporter --listen "127.0.0.1:$port" --interval 1s &
exporter=$!
trap 'kill $exporter 2>/dev/null || true' EXIT
python3 - "$port" <<'PY'
import sys, time, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/metrics"
# Rates (power, utilization) need two samples: wait for the exporter's second round.
for _ in range(100):
    try:
        body = urllib.request.urlopen(url, timeout=2).read().decode()
        if "hw_gpu_power_watts{" in body:
            break
    except OSError:
        pass
    time.sleep(0.1)
else:
    raise SystemExit("the exporter served no power readings within 10 s")
print(f"$ curl {url}   ({len(body.splitlines())} lines; a few of them:)")
for family in ("hw_gpu_power_watts{", "hw_gpu_utilization_ratio{", "hw_gpu_temperature_celsius{"):
    print("\n".join([l for l in body.splitlines() if l.startswith(family)][:3]))
PY
