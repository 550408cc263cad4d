"""Static assets: URLs that name their content, kept by browsers for a year, compressed.

Pages link ``/static/app.css?v=<first 12 hex digits of its SHA-256>`` (the template global
``asset``). A request carrying ``v`` may be cached for a year (``immutable``): when the
file changes, so does its URL. Without ``v`` a browser revalidates (ETag). Text assets go
out gzip-compressed to clients that accept it; only under ``/static``, as the streams must
not be buffered by a compressor.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Scope

MOUNT = "/static"
# A year: the longest a cache is asked to keep anything (RFC 9111 leaves it to the cache).
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


class AssetVersions:
    """The versioned URL of each file under ``directory``; a file's digest is read again
    when its size or modification time changes (an edit during ``make run``)."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._digests: dict[str, tuple[tuple[int, int], str]] = {}

    def url(self, path: str) -> str:
        """``/static/<path>?v=<digest>``; ValueError for a path that is not a file here."""
        file = (self._directory / path).resolve()
        if not file.is_relative_to(self._directory.resolve()) or not file.is_file():
            raise ValueError(f"no static file {path!r}")
        stat = os.stat(file)
        key = (stat.st_size, stat.st_mtime_ns)
        known = self._digests.get(path)
        if known is None or known[0] != key:
            digest = hashlib.sha256(file.read_bytes()).hexdigest()[:12]
            known = self._digests[path] = (key, digest)
        return f"{MOUNT}/{path}?v={known[1]}"


class VersionedStaticFiles(StaticFiles):
    """StaticFiles whose answers say how long they may be kept (see the module's text)."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        versioned = b"v=" in scope.get("query_string", b"")
        response.headers["Cache-Control"] = IMMUTABLE if versioned else REVALIDATE
        return response


def static_app(directory: Path) -> ASGIApp:
    """The ``/static`` app: versioned caching, and gzip for what is worth compressing."""
    return GZipMiddleware(VersionedStaticFiles(directory=directory), minimum_size=512)
