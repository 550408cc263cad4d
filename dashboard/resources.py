"""Where templates, static files and migrations are, installed or in a checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """Return the directory ``name`` (templates, static, migrations).

    A wheel carries them inside the package; a checkout (or an editable install) keeps
    them at the repository's top level, next to the package.
    """
    for candidate in (_PACKAGE_DIR / name, _PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"cannot find the {name!r} directory next to {_PACKAGE_DIR}")
