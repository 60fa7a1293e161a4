#!/usr/bin/env bash
# Set up everything the tests need on a fresh Debian machine, then run them:
# Debian's chromium and postgresql, a virtual environment with the package and
# its test extras, the widget's build tools and axe-core from npm.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e ".[test]"

# esbuild (to check the served widget.js against its source) and axe-core.
(cd widget && npm ci --silent --no-audit --no-fund)

.venv/bin/ruff check src tests examples bench scripts
.venv/bin/ruff format --check src tests examples bench scripts
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
