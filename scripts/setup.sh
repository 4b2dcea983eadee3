#!/usr/bin/env bash
# Installs what pyzes needs on a Debian/Ubuntu machine (idempotent): Debian's real Level Zero
# loader and headers (for the layout check and the real-loader tests), debootstrap (for the
# second real loader, in a Debian trixie root: scripts/trixie-root.sh), Prometheus (promtool and
# a server for the exporter's end-to-end test), and the Python build/test tools.
set -euo pipefail

need_apt=()
for pkg in libze1 libze-dev debootstrap prometheus pkg-config; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
    # The Debian package starts a Prometheus service where systemd runs; tests start their own.
fi

python3 -m pip install --quiet --disable-pip-version-check "maturin>=1.5,<2" "pytest>=7" "ruff>=0.5"
