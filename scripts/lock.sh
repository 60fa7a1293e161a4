#!/usr/bin/env bash
# Refresh constraints.txt: the exact versions scripts/test.sh installs, so that
# every test run (and CI) gets the same packages until this is run again.
#
#   scripts/lock.sh        # newest versions that pyproject.toml's bounds allow
#
# Then run scripts/test.sh and commit constraints.txt with whatever the new
# versions needed.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=$(mktemp -d)
trap 'rm -rf "$venv"' EXIT
python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
"$venv/bin/python" -m pip install -q --disable-pip-version-check ".[test,postgresql,redis]"
{
    echo "# The versions scripts/test.sh installs. Made by scripts/lock.sh; refresh with it."
    "$venv/bin/python" -m pip freeze --disable-pip-version-check --all \
        | grep -viE '^(flask-urgentaction|pip)( |=|@)' | LC_ALL=C sort -f
} >constraints.txt
echo "constraints.txt: $(grep -vc '^#' constraints.txt) packages"
