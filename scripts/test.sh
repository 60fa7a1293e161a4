#!/usr/bin/env bash
# Set up everything the tests need on a fresh Debian or Ubuntu machine, then run
# every check and test:
#   - Debian packages: chromium, postgresql (any major version), nodejs and npm,
#     and the Noto fonts (fonts-noto-core, fonts-noto-cjk: every script the pages
#     are tested in), installed with apt when missing (as root, or through sudo);
#   - .venv with the package and its test extras, pinned by constraints.txt;
#   - the widget's build tools, TypeScript (its type check) and axe-core from npm
#     (widget/package-lock.json).
# Extra arguments go to pytest:  scripts/test.sh -k api -x
#
# Environment:
#   APT_WAIT_SECONDS  how long to wait for another apt or dpkg to finish (600)
#   UA_CHROMIUM       a Chromium binary to use instead of Debian's /usr/bin/chromium
#   UA_PG_BINDIR      PostgreSQL's bin folder, when it is not under /usr/lib/postgresql
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
die() { printf 'scripts/test.sh: %s\n' "$*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        die "need root or sudo to run: $*"
    fi
}

# apt refuses at once while another apt or dpkg holds its lock (an unattended
# upgrade on a new machine, say): wait for it, up to APT_WAIT_SECONDS.
apt_get() {
    local deadline=$((SECONDS + ${APT_WAIT_SECONDS:-600})) log
    log=$(mktemp)
    while true; do
        if as_root env DEBIAN_FRONTEND=noninteractive apt-get -q "$@" >"$log" 2>&1; then
            rm -f "$log"
            return 0
        fi
        if ! grep -qiE 'could not get lock|unable to lock|is another process using it' "$log"; then
            cat "$log" >&2
            rm -f "$log"
            die "apt-get $* failed (output above)"
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            cat "$log" >&2
            rm -f "$log"
            die "another apt or dpkg still holds the package lock after ${APT_WAIT_SECONDS:-600} s; let it finish (or raise APT_WAIT_SECONDS) and run this again"
        fi
        echo "    another apt or dpkg is running; waiting for its lock..."
        sleep 5
    done
}

pg_bindir() {
    if [ -n "${UA_PG_BINDIR:-}" ]; then
        echo "$UA_PG_BINDIR"
        return
    fi
    # Debian and Ubuntu keep each major version apart; take the newest.
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [ -n "$dir" ] && [ -x "$dir/initdb" ]; then
        echo "$dir"
    fi
}

chromium_path() {
    local candidate
    for candidate in "${UA_CHROMIUM:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
        if [ -n "$candidate" ] && [ -x "$candidate" ]; then
            echo "$candidate"
            return
        fi
    done
}

# The browser tests check each script is drawn in its own font (tests/browser/test_scripts.py):
# asked through fontconfig, as Chromium finds them.
has_font() {
    command -v fc-list >/dev/null && [ -n "$(fc-list "$1" family)" ]
}

step "Checking system packages"
need=()
[ -n "$(chromium_path)" ] || need+=(chromium)
[ -n "$(pg_bindir)" ] || need+=(postgresql)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
has_font "Noto Sans Devanagari" || need+=(fonts-noto-core)
has_font "Noto Sans CJK JP" || need+=(fonts-noto-cjk)
if [ ${#need[@]} -gt 0 ]; then
    echo "    installing with apt: ${need[*]}"
    apt_get update
    apt_get install -y --no-install-recommends "${need[@]}"
else
    echo "    chromium, postgresql, node, npm and the Noto fonts are installed"
fi

UA_CHROMIUM=$(chromium_path)
UA_PG_BINDIR=$(pg_bindir)
[ -n "$UA_CHROMIUM" ] || die "no Chromium found; install one and set UA_CHROMIUM=/path/to/chromium"
[ -n "$UA_PG_BINDIR" ] || die "no PostgreSQL initdb found; set UA_PG_BINDIR to PostgreSQL's bin folder"
export UA_CHROMIUM UA_PG_BINDIR
echo "    chromium: $UA_CHROMIUM"
echo "    postgresql: $UA_PG_BINDIR"

step "Python environment (.venv, pinned by constraints.txt)"
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "Python 3.11 or newer is needed as python3"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e ".[test]"

step "Widget build tools (npm ci in widget/)"
(cd widget && npm ci --silent --no-audit --no-fund)

step "Widget type check (tsc --checkJs, widget/tsconfig.json)"
(cd widget && npm run --silent typecheck)

step "ruff"
.venv/bin/ruff check src tests examples bench scripts
.venv/bin/ruff format --check src tests examples bench scripts

step "mypy"
.venv/bin/mypy

step "pytest"
# One worker per core, a test file each at a time (its fixtures stay together);
# every worker starts its own PostgreSQL server and Chromium.
.venv/bin/python -m pytest -n auto --dist loadfile "$@"
