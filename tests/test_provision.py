"""tests/provision.sh, the step of `make test` that provides Chromium (and PostgreSQL)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).with_name("provision.sh")


def provision(chromium: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    bash = shutil.which("bash")
    assert bash is not None
    # An empty PATH: no apt-get (so no install, whoever runs this) and no pg_isready.
    return subprocess.run(
        [bash, str(SCRIPT)],
        env={"PATH": str(tmp_path), "DASHBOARD_CHROMIUM": chromium},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_a_present_browser_needs_nothing(tmp_path: Path) -> None:
    done = provision(sys.executable, tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_a_missing_browser_that_cannot_be_installed_is_one_line_saying_what_to_run(
    tmp_path: Path,
) -> None:
    missing = str(tmp_path / "chromium")
    done = provision(missing, tmp_path)
    assert done.returncode != 0
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert missing in line and "sudo apt-get install chromium" in line
