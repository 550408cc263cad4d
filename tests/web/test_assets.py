"""Static assets: versioned URLs kept for a year, revalidated without a version, gzipped."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dashboard.resources import resource_dir
from dashboard.web.assets import IMMUTABLE, AssetVersions


def test_a_versioned_url_names_the_files_content_and_follows_an_edit(tmp_path: Path) -> None:
    (tmp_path / "app.css").write_text("body { color: red }")
    versions = AssetVersions(tmp_path)
    first = versions.url("app.css")
    digest = hashlib.sha256(b"body { color: red }").hexdigest()[:12]
    assert first == f"/static/app.css?v={digest}"
    (tmp_path / "app.css").write_text("body { color: blue }")
    os.utime(tmp_path / "app.css", ns=(1, 1))  # a new mtime, whatever the clock's grain
    assert versions.url("app.css") != first


@pytest.mark.parametrize("path", ["missing.css", "../pyproject.toml", "."])
def test_a_path_that_is_not_a_static_file_is_refused(tmp_path: Path, path: str) -> None:
    with pytest.raises(ValueError, match="no static file"):
        AssetVersions(tmp_path).url(path)


def test_regression_pages_link_versioned_assets_that_are_kept_for_a_year_and_gzipped(
    client: TestClient,
) -> None:
    # Was: /static/app.css and the rest had no cache lifetime (every page load revalidated
    # or refetched them) and went out uncompressed.
    page = client.get("/").text
    linked = re.findall(r'(?:href|src)="(/static/[^"]+)"', page)
    assert linked and all("?v=" in url for url in linked), linked
    css = next(url for url in linked if url.startswith("/static/app.css"))
    kept = client.get(css, headers={"Accept-Encoding": "gzip"})
    assert kept.status_code == 200
    assert kept.headers["cache-control"] == IMMUTABLE
    assert kept.headers["content-encoding"] == "gzip"
    assert kept.content == (resource_dir("static") / "app.css").read_bytes()  # decoded
    plain = client.get("/static/app.css")
    assert plain.headers["cache-control"] == "no-cache" and "etag" in plain.headers
