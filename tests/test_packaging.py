"""The sdist and the wheel: built as a release would be, installed, and serving pages.

An editable install reads templates and catalogs from the source tree, so a file
missing from the package data would only show after a real install.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import tarfile
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SAMPLE

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "flask_urgentaction"
LANGUAGES = sorted(p.parent.parent.name for p in PACKAGE.glob("translations/*/LC_MESSAGES/*.po"))


def package_files() -> set[str]:
    """What every install must hold, relative to the import package."""
    wanted = {"py.typed", "static/widget.js", "static/urgentaction.css", "static/embed.js"}
    wanted |= {f"translations/{lang}/LC_MESSAGES/urgentaction.mo" for lang in LANGUAGES}
    for folder in ("templates", "migrations"):
        wanted |= {
            str(p.relative_to(PACKAGE))
            for p in (PACKAGE / folder).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        }
    return wanted


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``python -m build``: the sdist, then the wheel built from that sdist."""
    out = tmp_path_factory.mktemp("dist")
    # Without isolation: the build backend comes from the test environment, so
    # this needs no download.
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    yield out


def only(folder: Path, pattern: str) -> Path:
    found = list(folder.glob(pattern))
    assert len(found) == 1, found
    return found[0]


def test_the_wheel_holds_catalogs_templates_static_files_and_migrations(dist: Path) -> None:
    with zipfile.ZipFile(only(dist, "*.whl")) as wheel:
        names = {n.removeprefix("flask_urgentaction/") for n in wheel.namelist()}
    missing = sorted(package_files() - names)
    assert missing == []
    assert LANGUAGES, "no catalogs found in the source tree"


def test_the_sdist_holds_the_same_and_the_catalog_sources(dist: Path) -> None:
    with tarfile.open(only(dist, "*.tar.gz")) as sdist:
        names = {n.split("/src/flask_urgentaction/", 1)[-1] for n in sdist.getnames()}
    wanted = package_files() | {
        f"translations/{lang}/LC_MESSAGES/urgentaction.po" for lang in LANGUAGES
    }
    assert sorted(wanted - names) == []


HOST_APP = """\
from flask import Flask
from flask_urgentaction import UrgentAction

app = Flask(__name__, instance_path={instance!r})
app.config.update(SECRET_KEY="packaging test", MAIL_DEFAULT_SENDER="a@example.org",
                  SERVER_NAME="localhost")
UrgentAction(app)
"""

CHECK = """\
import sys
import flask_urgentaction
from hostapp import app

assert flask_urgentaction.__file__.startswith(sys.prefix), flask_urgentaction.__file__
client = app.test_client()
page = client.get("/actions/example-mine-strike?lang=de")
assert page.status_code == 200, page.status_code
html = page.get_data(as_text=True)
# Served from the installed templates, in German from the installed catalog.
assert "Stellt die entlassenen Gewerkschafter wieder ein" in html
assert "Dein Name" in html, "the German catalog did not load"
assert client.get("/actions/widget.js").status_code == 200
assert client.get("/actions/static/urgentaction.css").status_code == 200
print("served from", flask_urgentaction.__file__)
"""


def test_the_wheel_installed_in_a_fresh_venv_serves_a_campaign(dist: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
         "--disable-pip-version-check", str(only(dist, "*.whl"))],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    # The dependencies come from the test environment (a path, not its .pth
    # files, so the editable install of the source tree stays out of sight).
    site = Path(
        subprocess.check_output(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            text=True,
        ).strip()
    )
    (site / "test_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")

    app_dir = tmp_path / "host"
    app_dir.mkdir()
    (app_dir / "hostapp.py").write_text(HOST_APP.format(instance=str(tmp_path / "instance")))
    (app_dir / "campaign.toml").write_text(SAMPLE)
    (app_dir / "check.py").write_text(CHECK)
    run = {"cwd": app_dir, "capture_output": True, "text": True, "timeout": 120}
    load = subprocess.run(
        [str(python), "-m", "flask", "--app", "hostapp", "urgentaction", "campaigns", "load",
         "campaign.toml"], **run,
    )  # fmt: skip
    assert load.returncode == 0, load.stderr
    served = subprocess.run([str(python), "check.py"], **run)  # type: ignore[call-overload]
    assert served.returncode == 0, served.stderr
    assert str(env_dir) in served.stdout
