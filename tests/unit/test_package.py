"""A wheel carries what the package reads at run time, so an install works outside the checkout."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from tests.support.paths import REPO

CHECK = """
import iotmon, sys
from eventing.wiring import load_wiring
from iotmon.adapters.postgres.db import migrations
from iotmon.service.app import DASHBOARD_DIR
assert iotmon.__file__.startswith(sys.argv[1]), iotmon.__file__
wiring = load_wiring()
print(len(migrations()), len(wiring.subscriptions), len(wiring.schedules), (DASHBOARD_DIR / "index.html").is_file())
"""


def test_a_wheel_installed_elsewhere_finds_its_migrations_wiring_and_dashboard(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", tmp_path, REPO],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("*.whl")
    installed = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(installed)
    found = subprocess.run(
        [sys.executable, "-c", CHECK, str(installed)],
        cwd=tmp_path,  # outside the checkout
        env={"PYTHONPATH": str(installed), "PATH": "/usr/bin:/bin"},
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    migrations = len(list((REPO / "schema").glob("[0-9]*.sql")))
    assert found == [str(migrations), "4", "1", str((REPO / "frontend" / "dist" / "index.html").is_file())]
