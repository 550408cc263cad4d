"""One settings object, read from ``DASHBOARD_*`` variables (and a ``.env`` file)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# A value people copy from examples; production refuses it as firmly as an empty one.
INSECURE_SECRET_KEYS = frozenset({"", "change-me", "changeme", "secret", "dev"})


class Settings(BaseSettings):
    """Everything the app can be told from outside; tests build their own instance."""

    model_config = SettingsConfigDict(env_prefix="DASHBOARD_", env_file=".env", extra="ignore")

    environment: Literal["development", "production"] = "development"
    database_url: str = "sqlite:///./var/dashboard.db"
    secret_key: str = ""
    # Where a development secret is kept so sessions survive restarts and workers agree.
    dev_secret_file: Path = Path("var/dev-secret-key")
    https_only_cookies: bool = False

    feed_enabled: bool = True
    feed_interval: float = Field(0.25, gt=0, description="Seconds between simulated feed steps.")
    feed_ticks_per_second: float = Field(
        2.0, gt=0, description="Average ticks per second per instrument."
    )

    price_poll_interval: float = Field(0.1, gt=0)
    # As far apart as the poll interval: under a fast feed, ten fan-outs a second. At 0.05,
    # twenty: 20,000 ticks/s over WS /ws/ingest with 1,000 streams cost the server 5-18 %
    # more CPU a tick and a higher p99 in each of three pairs of runs.
    price_poll_min_spacing: float = Field(
        0.1,
        ge=0,
        description="Seconds at least between price polls when local writes wake the poller "
        "(each poll is a fan-out to every stream).",
    )
    notification_poll_interval: float = Field(0.1, gt=0)
    schedule_poll_interval: float = Field(
        0.5, gt=0, description="Seconds between looks for scheduled notifications that are due."
    )
    poll_batch_size: int = Field(500, ge=1)
    price_poll_batch_size: int = Field(
        5_000,
        ge=1,
        description="Ticks read per price poll at most. Each poll is one fan-out to every "
        "stream: at 500, a feed of 20,000 ticks/s made two a poll.",
    )
    keepalive_interval: float = Field(15.0, gt=0)
    sse_send_timeout: float = Field(
        30.0,
        gt=0,
        description="A /events client that has not taken a message for this long is cut off "
        "(checked every half of it, by one watchdog for all streams).",
    )
    mailbox_size: int = Field(256, ge=1, description="Queued notifications per connection.")
    reference_window_hours: float = Field(
        24.0,
        gt=0,
        description="Change and % change are against the price this long ago; tiles' "
        "sparklines span it too.",
    )
    feed_lease_seconds: float = Field(5.0, gt=0)
    max_body_bytes: int = Field(1_048_576, ge=1024, description="Largest request body.")
    max_ingest_bytes: int = Field(
        32 * 1_048_576, ge=1024, description="Largest body for POST /api/ticks."
    )
    max_request_head_bytes: int = Field(
        16_384,
        ge=1024,
        description="Largest request line and headers; a larger head gets 431 and is closed.",
    )
    request_head_timeout: float = Field(
        10.0,
        gt=0,
        description="Seconds a request's line and headers may take to arrive (408 after).",
    )
    login_limit_per_account_and_address: str = Field(
        "5/minute;10/15minutes;20/hour",
        description="Failed logins allowed per account from one address; windows separated "
        "by ';' grow the wait (limits syntax).",
    )
    login_limit_per_address: str = Field(
        "50/15minutes", description="Failed logins allowed per client address."
    )
    rate_limit_storage: str = Field(
        "memory://", description="Where login counts live: memory:// or redis://host:port."
    )
    session_idle_hours: float = Field(
        168.0,
        gt=0,
        description="A login not used for this long ends (an open page counts as use).",
    )
    session_absolute_hours: float = Field(
        720.0, gt=0, description="A login ends this long after sign-in, however much it is used."
    )
    credential_poll_interval: float = Field(
        0.5,
        gt=0,
        description="Seconds between looks at the credential end log: how soon a sign-out or "
        "a revoked token elsewhere ends this process's streams.",
    )
    max_alerts_per_user: int = Field(100, ge=1, description="Price alerts one user may keep.")
    max_tokens_per_user: int = Field(20, ge=1, description="Live API tokens one user may hold.")
    max_streams_per_user: int = Field(
        50, ge=1, description="Open streams (pages, NDJSON, WebSockets) one user may hold."
    )
    max_streams_per_address: int = Field(
        200, ge=1, description="Open streams one client address may hold, signed in or not."
    )
    wal_checkpoint_interval: float = Field(
        60.0, gt=0, description="Seconds between SQLite WAL checkpoints (TRUNCATE)."
    )
    wal_warn_bytes: int = Field(
        64 * 1_048_576, ge=0, description="A WAL larger than this is named by /readyz."
    )
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    pg_listen: bool = Field(
        True,
        description="On PostgreSQL, LISTEN for other processes' writes (turn off behind a "
        "pooler in transaction mode, where LISTEN does not work; polling still delivers).",
    )
    tick_retention_hours: float = Field(
        48.0, gt=0, description="Ticks older than this are pruned (each symbol keeps its newest)."
    )
    retention_interval: float = Field(60.0, gt=0, description="Seconds between pruning runs.")
    minute_bar_retention_days: float = Field(
        30.0, gt=0, description="1-minute bars older than this are pruned (hour and day bars stay)."
    )
    bar_interval: float = Field(1.0, gt=0, description="Seconds between folding ticks into bars.")

    @model_validator(mode="after")
    def _keep_ticks_for_the_reference_window(self) -> Settings:
        if self.tick_retention_hours < self.reference_window_hours:
            raise ValueError(
                "DASHBOARD_TICK_RETENTION_HOURS must be at least the reference window "
                "(DASHBOARD_REFERENCE_WINDOW_HOURS), or change figures would be wrong"
            )
        return self

    @model_validator(mode="after")
    def _require_real_secret_in_production(self) -> Settings:
        if self.environment == "production" and self.secret_key in INSECURE_SECRET_KEYS:
            raise ValueError(
                "DASHBOARD_SECRET_KEY must be set to a long random value in production"
            )
        return self

    def session_secret(self) -> str:
        """The key that signs session cookies.

        In development with no key configured, one is generated once and kept in
        ``dev_secret_file`` so logins survive a restart and every worker signs alike.
        """
        if self.secret_key:
            return self.secret_key
        path = self.dev_secret_file
        if path.exists():
            return path.read_text().strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.write_text(key)
        path.chmod(0o600)
        return key
