#!/usr/bin/env bash
# Builds and checks what pyzes publishes:
#   1. the sdist (`maturin sdist`), then a wheel built from that sdist alone in a fresh venv
#      (build isolation: its build requirements come from the package index), installed there;
#   2. the manylinux wheel (`--zig --compatibility manylinux2014`, through the project's build
#      backend, which builds the standalone simulated driver for the same glibc), checked by
#      `auditwheel show` and by the glibc symbol versions of every ELF file in it, installed in
#      a fresh venv;
#   3. each installed package imported from outside the source tree and driven against the
#      simulator (the built-in one, and the standalone driver file through the system's Level
#      Zero loader when one is installed), with LICENSE inside wheel and sdist;
#   4. `cargo package` of the publishable crates (zes-sys, zes-sim, zes, zes-cli), verified:
#      each packaged crate builds from its .crate file alone against the others.
#
# Needs: python3 with venv (Debian: python3-venv), a Rust toolchain, binutils (objdump), network
# access to the package index and crates.io. Installs maturin, ziglang, cargo-zigbuild and
# auditwheel into its own venv ($PACKAGE_VENV, default target/package-venv). Output: target/dist/.
# PACKAGE_VERIFY_CRATES=0 skips the build of the packaged crates (`cargo package --no-verify`).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CARGO_TERM_COLOR=never

MANYLINUX=manylinux2014
MAX_GLIBC=2.17
TOOLS=${PACKAGE_VENV:-$ROOT/target/package-venv}
DIST=$ROOT/target/dist
CHECK=$ROOT/target/package-check
VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)

step() { printf '\n== %s\n' "$*"; }
fail() {
    echo "package.sh: $*" >&2
    exit 1
}

step "build tools ($TOOLS)"
[ -x "$TOOLS/bin/python" ] || python3 -m venv "$TOOLS"
"$TOOLS/bin/python" -m pip install --quiet --disable-pip-version-check \
    "maturin>=1.5,<2" ziglang cargo-zigbuild auditwheel
export PATH="$TOOLS/bin:$PATH"

rm -rf "$DIST" "$CHECK"
mkdir -p "$DIST" "$CHECK"

# A fresh venv with one distribution installed; its package imported from $CHECK (not the tree).
fresh_venv() { # name
    rm -rf "$CHECK/$1"
    python3 -m venv "$CHECK/$1"
}

smoke_test() { # venv
    local python="$CHECK/$1/bin/python"
    (cd "$CHECK" && "$python" - "$ROOT") <<'EOF'
import os
import sys

import pyzes

root = sys.argv[1]
here = os.path.dirname(os.path.abspath(pyzes.__file__))
assert not here.startswith(root + os.sep + "python"), f"imported from the source tree: {here}"
pyzes.simulate()
names = sorted(d.name for d in pyzes.devices())
print("installed at", here, "- simulated devices:", names)
assert len(names) == 3, names
driver = pyzes.simulator_driver_path()
assert os.path.isfile(driver), driver
EOF
    "$CHECK/$1/bin/zes-smi" --simulate max1550 list >/dev/null
    # The standalone driver file, loaded by the system's loader (skipped where none is installed).
    if "$python" -c 'import ctypes; ctypes.CDLL("libze_loader.so.1")' 2>/dev/null; then
        local driver
        driver=$("$python" -c 'import pyzes; print(pyzes.simulator_driver_path())')
        (cd "$CHECK" && env -u ZES_LIBRARY ZE_ENABLE_ALT_DRIVERS="$driver" ZES_ENABLE_SYSMAN=1 \
            "$python" -c 'import pyzes; n = len(pyzes.devices()); assert n == 3, n; print("standalone driver through the system loader:", n, "devices")')
    else
        echo "no system Level Zero loader: the standalone driver file was not loaded"
    fi
}

has_license() { # listing file, what
    grep -Eq '(^|/)LICENSE$' "$1" || fail "no LICENSE in $2"
}

step "sdist"
maturin sdist --out "$DIST"
SDIST=$(ls "$DIST"/*.tar.gz)
tar tzf "$SDIST" >"$CHECK/sdist.list"
has_license "$CHECK/sdist.list" "$SDIST"
echo "$(basename "$SDIST"): $(du -k "$SDIST" | cut -f1) KiB"

step "wheel built from the sdist alone, installed in a fresh venv"
fresh_venv from-sdist
# Its own target dir: the sdist's sources are a copy, kept apart from the tree's build.
CARGO_TARGET_DIR=$ROOT/target/package-sdist "$CHECK/from-sdist/bin/pip" install --quiet \
    --disable-pip-version-check "$SDIST"
smoke_test from-sdist

step "manylinux wheel ($MANYLINUX, zig)"
MATURIN_PEP517_ARGS="--zig --compatibility $MANYLINUX" "$TOOLS/bin/pip" wheel --quiet \
    --disable-pip-version-check --no-build-isolation --no-deps --wheel-dir "$DIST" .
WHEEL=$(ls "$DIST"/*.whl)
echo "$(basename "$WHEEL"): $(du -k "$WHEEL" | cut -f1) KiB"
case "$(basename "$WHEEL")" in
*manylinux2014_x86_64.manylinux_2_17_x86_64* | *manylinux_2_17_x86_64.manylinux2014_x86_64*) ;;
*) fail "the wheel is not tagged $MANYLINUX: $WHEEL" ;;
esac
auditwheel show "$WHEEL" | tee "$CHECK/auditwheel.txt"
grep -q "manylinux_2_17_x86_64" "$CHECK/auditwheel.txt" || fail "auditwheel does not confirm manylinux_2_17"
"$TOOLS/bin/python" -m zipfile -l "$WHEEL" | awk 'NR > 1 { print $1 }' >"$CHECK/wheel.list"
has_license "$CHECK/wheel.list" "$WHEEL"
# Every ELF file of the wheel (extension module and standalone driver) within the policy's glibc.
mkdir "$CHECK/wheel"
"$TOOLS/bin/python" -m zipfile -e "$WHEEL" "$CHECK/wheel"
find "$CHECK/wheel" -name '*.so*' -type f | sort | while read -r elf; do
    newest=$(objdump -T "$elf" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)
    echo "${elf#"$CHECK"/wheel/}: newest glibc symbol version $newest"
    [ "$(printf '%s\n%s\n' "$newest" "$MAX_GLIBC" | sort -V | tail -1)" = "$MAX_GLIBC" ] ||
        fail "$elf needs glibc $newest (> $MAX_GLIBC)"
done

step "manylinux wheel installed in a fresh venv"
fresh_venv from-wheel
"$CHECK/from-wheel/bin/pip" install --quiet --disable-pip-version-check "$WHEEL"
smoke_test from-wheel

step "cargo package (zes-sys, zes-sim, zes, zes-cli)"
verify=()
[ "${PACKAGE_VERIFY_CRATES:-1}" = 0 ] && verify=(--no-verify)
# --allow-dirty: the check runs on a work tree; publishing itself runs on a clean one.
cargo package --workspace --exclude pyzes --locked --allow-dirty "${verify[@]}"
for crate in zes-sys zes-sim zes zes-cli; do
    file=$ROOT/target/package/$crate-$VERSION.crate
    tar tzf "$file" >"$CHECK/$crate.list"
    has_license "$CHECK/$crate.list" "$file"
    grep -q "^$crate-$VERSION/README.md$" "$CHECK/$crate.list" || fail "no README.md in $file"
done

step "done"
ls -l "$DIST"
