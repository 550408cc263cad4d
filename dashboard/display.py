"""How a viewer reads numbers and times: one rule on the server and in the browser.

Everything the server writes (pages, partials, the fragments every stream shares) is in
the *canonical* form: en-US numbers (``97,663.24``, ``143.25M``, ``+0.41%``) and times in
UTC, 24-hour (``08:05 UTC``, ``Dec 31, 2025``, ``Dec 6, 2026, 08:05 UTC``). A fragment is
rendered once for every open page, so it cannot be in each viewer's language.
``static/format.js`` then renders each such number and time in the viewer's choice (their
browser's language or the locale they chose, UTC or their device's time zone) before it is
painted. The canonical forms are exactly what ``Intl`` gives for en-US and UTC with the
same options, and a browser test holds the two sides to that (tests/browser/test_display.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal, get_args

from sqlmodel import Session

from dashboard.models import User

# Month names of the canonical form, not strftime's %b: that follows the process's C locale.
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# The locales a viewer may choose (BCP 47 tag, name in that language); unset means the
# browser's own language, which Intl knows whatever it is.
LOCALES: dict[str, str] = {
    "en-US": "English (United States): 1,234.56",
    "en-GB": "English (United Kingdom): 1,234.56",
    "en-IN": "English (India): 1,23,456.78",
    "de-DE": "Deutsch (Deutschland): 1.234,56",
    "de-CH": "Deutsch (Schweiz): 1'234.56",
    "fr-FR": "Français (France): 1 234,56",
    "es-ES": "Español (España): 1234,56",
    "it-IT": "Italiano (Italia): 1.234,56",
    "nl-NL": "Nederlands (Nederland): 1.234,56",
    "pl-PL": "Polski (Polska): 1234,56",
    "pt-BR": "Português (Brasil): 1.234,56",
    "sv-SE": "Svenska (Sverige): 1 234,56",
    "ja-JP": "日本語 (日本): 1,234.56",
    "zh-CN": "中文 (中国): 1,234.56",
}

Times = Literal["utc", "local"]
TIMES: tuple[Times, ...] = get_args(Times)


class DisplayError(ValueError):
    """A choice outside :data:`LOCALES` or :data:`TIMES`; the message says which."""


def set_display(*, session: Session, user_id: int, locale: str, times: str) -> None:
    """Keep a user's choice: ``locale`` a key of :data:`LOCALES` or ``""`` (the browser's
    language), ``times`` ``"utc"`` or ``"local"`` (the device's time zone).

    Raises :class:`DisplayError` for anything else, and changes nothing then.
    """
    if locale and locale not in LOCALES:
        raise DisplayError("That number format is not one of the list's.")
    if times not in TIMES:
        raise DisplayError("Times are shown in UTC or in this device's time zone.")
    user = session.get(User, user_id)
    if user is None:
        raise LookupError(f"no user {user_id}")
    user.display_locale = locale or None
    user.display_times = times
    session.add(user)
    session.commit()


def format_date(when: datetime) -> str:
    """``Dec 31, 2025``: the day of ``when`` in UTC (Intl en-US, ``month: "short"``)."""
    when = when.astimezone(UTC)
    return f"{_MONTHS[when.month - 1]} {when.day}, {when.year}"


def format_time_of_day(when: datetime) -> str:
    """``08:05 UTC``: 24-hour, to the minute (Intl en-US, ``hourCycle: "h23"``)."""
    return f"{when.astimezone(UTC):%H:%M} UTC"


def format_date_time(when: datetime | None) -> str:
    """``Dec 6, 2026, 08:05 UTC``; ``""`` for None."""
    if when is None:
        return ""
    return f"{format_date(when)}, {format_time_of_day(when)}"
