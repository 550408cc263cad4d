from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from dashboard.settings import Settings


def test_production_refuses_a_default_secret() -> None:
    for secret in ("", "change-me"):
        with pytest.raises(ValidationError, match="DASHBOARD_SECRET_KEY"):
            Settings(_env_file=None, environment="production", secret_key=secret)
    Settings(_env_file=None, environment="production", secret_key="x" * 40)


def test_development_generates_a_secret_once_and_keeps_it(tmp_path: Path) -> None:
    path = tmp_path / "var" / "secret"
    first = Settings(_env_file=None, dev_secret_file=path).session_secret()
    second = Settings(_env_file=None, dev_secret_file=path).session_secret()
    assert first == second and len(first) >= 40
    assert path.stat().st_mode & 0o777 == 0o600


def test_settings_come_from_dashboard_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASHBOARD_DATABASE_URL", "sqlite:///elsewhere.db")
    monkeypatch.setenv("DASHBOARD_FEED_ENABLED", "false")
    monkeypatch.setenv("DASHBOARD_PRICE_POLL_INTERVAL", "0.5")
    settings = Settings(_env_file=None)
    assert settings.database_url == "sqlite:///elsewhere.db"
    assert settings.feed_enabled is False
    assert settings.price_poll_interval == 0.5
    assert Settings(_env_file=None, database_url="sqlite://").database_url == "sqlite://"


def test_the_default_store_is_a_sqlite_file_under_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DASHBOARD_DATABASE_URL", raising=False)
    assert Settings(_env_file=None).database_url == "sqlite:///./var/dashboard.db"
