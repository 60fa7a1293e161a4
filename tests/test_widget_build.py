"""The served widget.js is exactly what its source builds to, within its size budget, and
its source passes its strict type check."""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WIDGET = ROOT / "widget"
SERVED = ROOT / "src" / "flask_urgentaction" / "static" / "widget.js"
BUDGET = 6144  # bytes gzipped, as bench/widget_size.py


def build_into(out: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: the widget build needs Node.js 18 or later")
    if not (WIDGET / "node_modules" / "esbuild").is_dir():
        pytest.fail("esbuild is missing: run `npm ci` in widget/ (scripts/test.sh does)")
    result = subprocess.run(
        [node, "build.mjs", "--out", str(out)],
        cwd=WIDGET, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_served_widget_is_the_build_of_its_source(tmp_path: Path) -> None:
    built = tmp_path / "widget.js"
    build_into(built)
    assert built.read_bytes() == SERVED.read_bytes(), (
        "src/flask_urgentaction/static/widget.js is stale: run `npm run build` in widget/"
    )


def test_served_widget_is_under_six_kilobytes_gzipped() -> None:
    size = len(gzip.compress(SERVED.read_bytes(), compresslevel=9, mtime=0))
    assert size <= BUDGET, f"widget.js is {size} bytes gzipped, over the {BUDGET} budget"


def test_widget_source_passes_its_strict_type_check() -> None:
    # The same check as `npm run typecheck` (scripts/test.sh runs it too).
    node = shutil.which("node")
    tsc = WIDGET / "node_modules" / "typescript" / "bin" / "tsc"
    if node is None or not tsc.exists():
        pytest.fail("TypeScript is missing: run `npm ci` in widget/ (scripts/test.sh does)")
    assert "// @ts-check" in (WIDGET / "src" / "widget.js").read_text(encoding="utf-8")
    assert '"strict": true' in (WIDGET / "tsconfig.json").read_text(encoding="utf-8")
    result = subprocess.run(
        [node, str(tsc), "-p", "."], cwd=WIDGET, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
