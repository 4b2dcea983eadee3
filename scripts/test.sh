#!/usr/bin/env bash
# Runs every check and test of pyzes: generated files, formatting, lints, docs, the Rust tests
# (simulator, safe API, CLI and exporter, also through Debian's real loader) and the Python tests
# (against the simulator directly and through the real loader).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export CARGO_TERM_COLOR=never

step() { printf '\n== %s\n' "$*"; }

step "generated files are up to date"
python3 abi/codegen.py --check

step "rustfmt and clippy"
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "rustdoc"
RUSTDOCFLAGS="-D warnings" cargo doc --quiet --no-deps -p zes-sys -p zes

step "Rust tests"
cargo test --workspace --quiet

step "Python package"
python3 -m pip install --quiet --disable-pip-version-check --no-build-isolation --force-reinstall .
ruff check python tests/python benchmarks examples
ruff format --check python tests/python benchmarks examples

step "Python tests through Debian's real loader (legacy path)"
PYZES_TEST_REAL_LOADER=1 python3 -m pytest tests/python -q -p no:cacheprovider

step "Python tests against the simulated driver"
python3 -m pytest tests/python -q -p no:cacheprovider
