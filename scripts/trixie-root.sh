#!/usr/bin/env bash
# A second real Level Zero stack for the tests: a minimal Debian trixie root (its libze1 1.20.6
# loader takes the zesInit path, where bookworm's 1.8.12 takes the legacy one; Python 3.13),
# made with debootstrap from Debian's own packages and cached where the machine keeps caches.
#
#   scripts/trixie-root.sh make            make the root, or reuse it when present and valid;
#                                          prints its path
#   scripts/trixie-root.sh run CMD...      run CMD inside the root (chroot) in this checkout
#                                          (mounted read-only at /pyzes), with /proc, /dev and /sys
#                                          mounted, all in a private mount namespace, so nothing
#                                          stays mounted
#
# PYZES_TRIXIE_ROOT overrides the cache path (default /var/cache/pyzes/trixie-root). The mirror
# is read at run time from this machine's apt configuration (never stored in the repository);
# PYZES_DEBIAN_MIRROR overrides it. Needs root (debootstrap, chroot) and debootstrap
# (scripts/setup.sh installs it).
set -euo pipefail

ROOT="${PYZES_TRIXIE_ROOT:-/var/cache/pyzes/trixie-root}"
CHECKOUT="$(cd "$(dirname "$0")/.." && pwd)"
# Everything the tests need inside the root: the loader, Python with venv, and pytest.
PACKAGES="libze1,python3,python3-venv,python3-pytest"
# Bumped when PACKAGES or the layout change, so that an older cached root is remade.
FORMAT=1
STAMP="$ROOT/.pyzes-trixie-root"

# The first Debian archive URI of the machine's apt sources that is not the security archive:
# deb822 files (*.sources, "URIs:" lines) first, then one-line "deb URI suite ..." entries.
debian_mirror() {
    if [ -n "${PYZES_DEBIAN_MIRROR:-}" ]; then
        echo "$PYZES_DEBIAN_MIRROR"
        return
    fi
    local uri
    uri="$(
        {
            cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk 'tolower($1) == "uris:" { for (i = 2; i <= NF; i++) print $i }'
            cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
                awk '$1 == "deb" { i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ } print $i }'
        } | grep -v -- '-security' | grep -E '/debian/?$' | head -n 1
    )"
    if [ -z "$uri" ]; then
        echo "no Debian mirror found in /etc/apt/sources.list{,.d}; set PYZES_DEBIAN_MIRROR" >&2
        return 1
    fi
    echo "${uri%/}"
}

# The root is valid when it was completed by this FORMAT and its loader and Python are in place.
valid() {
    [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$FORMAT" ] &&
        chroot "$ROOT" /usr/bin/python3 -c 'import ctypes, venv, pytest; ctypes.CDLL("libze_loader.so.1")' 2>/dev/null
}

make_root() {
    if valid; then
        echo "$ROOT"
        return
    fi
    local mirror tmp
    mirror="$(debian_mirror)"
    tmp="$ROOT.partial"
    rm -rf "$tmp"
    mkdir -p "$(dirname "$ROOT")"
    echo "making a Debian trixie root at $ROOT from $mirror (about 40 s, 280 MB)" >&2
    # Built beside the cache and moved in place only when complete: an interrupted run leaves
    # nothing that looks valid.
    debootstrap --variant=minbase --include="$PACKAGES" trixie "$tmp" "$mirror" >"$tmp.log" 2>&1 || {
        tail -n 20 "$tmp.log" >&2
        echo "debootstrap failed (log: $tmp.log)" >&2
        return 1
    }
    rm -f "$tmp.log"
    # Package caches are not needed to run anything.
    rm -rf "$tmp/var/cache/apt/archives/"*.deb
    echo "$FORMAT" >"$tmp/.pyzes-trixie-root"
    rm -rf "$ROOT"
    mv "$tmp" "$ROOT"
    valid || {
        echo "the trixie root at $ROOT does not run its loader and Python" >&2
        return 1
    }
    echo "$ROOT"
}

# CMD runs as root inside the root; the caller's environment is passed through, with PATH and
# HOME of the root.
run_in_root() {
    [ -f "$STAMP" ] || {
        echo "no trixie root at $ROOT: run scripts/trixie-root.sh make" >&2
        return 1
    }
    mkdir -p "$ROOT/pyzes"
    # shellcheck disable=SC2016 # expanded by the inner shell
    unshare --mount --propagation private -- /bin/sh -c '
        set -e
        root="$1"; checkout="$2"; shift 2
        mount -t proc proc "$root/proc"
        mount --rbind /dev "$root/dev"
        mount --rbind /sys "$root/sys"
        mount --bind "$checkout" "$root/pyzes"
        mount -o remount,bind,ro "$root/pyzes"
        exec env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
            chroot "$root" /usr/bin/env --chdir=/pyzes "$@"
    ' sh "$ROOT" "$CHECKOUT" "$@"
}

case "${1:-}" in
    make) make_root ;;
    run)
        shift
        run_in_root "$@"
        ;;
    path) echo "$ROOT" ;;
    *)
        echo "usage: $0 make | run CMD... | path" >&2
        exit 2
        ;;
esac
