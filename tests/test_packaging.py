"""A non-editable install must find templates, static files and migrations."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import sys
from pathlib import Path
import dashboard
from dashboard.resources import resource_dir
from dashboard.store import schema
from dashboard.web.app import create_app
from dashboard.settings import Settings
from fastapi.testclient import TestClient

installed = Path(sys.argv[1])
assert Path(dashboard.__file__).is_relative_to(installed), dashboard.__file__
for name in ("templates", "static", "migrations"):
    assert resource_dir(name).is_relative_to(installed), resource_dir(name)
url = "sqlite:///" + sys.argv[2]
schema.upgrade(url)
settings = Settings(_env_file=None, database_url=url, secret_key="k" * 40, feed_enabled=False)
with TestClient(create_app(settings)) as client:
    assert client.get("/").status_code == 200
    assert "htmx" in client.get("/static/vendor/htmx-4.0.1/htmx.min.js").text
print("ok")
"""


def test_the_wheel_carries_templates_static_and_migrations(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
    )
    wheel = next(tmp_path.glob("dashboard-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for expected in (
        "dashboard/templates/pages/dashboard.html",
        "dashboard/templates/partials/tile.html",
        "dashboard/static/app.css",
        "dashboard/static/vendor/htmx-4.0.1/ext/hx-sse.min.js",
        "dashboard/migrations/env.py",
        "dashboard/migrations/versions/0001_initial_tables.py",
    ):
        assert expected in names

    installed = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(installed)
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(installed), str(tmp_path / "probe.db")],
        env={"PYTHONPATH": str(installed), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
