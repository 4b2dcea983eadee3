#!/usr/bin/env bash
# Benchmark of zes-smi with 8 simulated devices (loopback only, bounded in time):
#   * exporter scrapes/s and p50/p99 latency under load (wrk: `apt-get install -y wrk`),
#     Prometheus text format and OpenMetrics;
#   * the exporter's RSS before and after the load;
#   * the wall time of `zes-smi stats` for 8 devices.
# Usage: crates/zes-cli/benches/exporter.sh [DURATION_S=10] [CONNECTIONS=16]
set -euo pipefail
cd "$(dirname "$0")/../../.."
DURATION=${1:-10}
CONNECTIONS=${2:-16}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p zes-cli
BIN="$CARGO_TARGET_DIR/release/zes-smi"
PRESET=max1550,max1550,max1550,max1550,a770,a770,a770,a770
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 1; }

LOG=$(mktemp)
ZES_SIM_PRESET=$PRESET "$BIN" --simulate exporter --listen 127.0.0.1:0 --interval 1s 2>"$LOG" &
PID=$!
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true; rm -f "$LOG"' EXIT
for _ in $(seq 100); do grep -q serving "$LOG" && break; sleep 0.1; done
URL=$(grep -o 'http://[0-9.:]*/metrics' "$LOG")
sleep 2.5  # two samples: derived values present
rss() { awk '/VmRSS/ {print $2 " kB"}' "/proc/$PID/status"; }
SERIES=$(curl -s "$URL" | grep -vc '^#')
BYTES=$(curl -s "$URL" | wc -c)
echo "exporter: 8 devices, $SERIES series, $BYTES bytes per page (Prometheus text)"
echo "RSS after start: $(rss)"
echo
echo "== Prometheus text format, $CONNECTIONS connections, ${DURATION}s =="
wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$URL" | grep -E 'Requests/sec|Transfer/sec| 50%| 99%|Non-2xx|Socket errors'
echo
echo "== OpenMetrics, $CONNECTIONS connections, ${DURATION}s =="
wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -H 'Accept: application/openmetrics-text; version=1.0.0' "$URL" \
  | grep -E 'Requests/sec|Transfer/sec| 50%| 99%|Non-2xx|Socket errors'
echo
echo "RSS after load: $(rss)"
echo
echo "== zes-smi stats (8 devices, default 200ms window), 5 runs =="
for i in 1 2 3 4 5; do
  start=$(date +%s%N)
  ZES_SIM_PRESET=$PRESET "$BIN" --simulate stats --json >/dev/null
  end=$(date +%s%N)
  echo "run $i: $(( (end - start) / 1000000 )) ms"
done
